"""One resolved config per run: preset, then a YAML file, then `section.key=value` overrides; saved as config.yaml.

The config is a typed `Config` (schema.py: one class a section, read as `cfg.gan.weight`), built and checked before
anything is written, so a typo, a wrong type or an unknown section ends in one line naming the key. It travels as a
plain dict (`cfg.to_dict()`) in YAML files and checkpoints; `from_dict` reads one back, old ones included."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml
from pydantic import ValidationError

from ..errors import VqmriError
from .presets import ANOMALY_RESAMPLES, ANOMALY_THRESHOLD, PRESETS
from .schema import Config, downsampling, fits_model, one_line

__all__ = ["ANOMALY_RESAMPLES", "ANOMALY_THRESHOLD", "PRESETS", "Config", "check_keys", "downsampling", "fits_model",
           "from_dict", "load", "merge", "parse_override", "resolve", "save", "validate"]

# settings that runs of earlier versions may hold and that no longer mean anything: dropped when such a run is read
RETIRED = {"prior": {"scan"}}


def _known() -> dict[str, list[str]]:
    return {name: list(cls.model_fields) for name, cls in Config.sections().items()}


def check_keys(over: dict, where: str) -> None:
    """Unknown sections and keys (in a preset, a YAML file or overrides) end in one line naming them."""
    known = _known()
    if not isinstance(over, dict):
        raise VqmriError(f"{where} must be a mapping of sections ({', '.join(known)}), not a {type(over).__name__}")
    for section, values in over.items():
        if section == "preset":
            continue
        if section not in known:
            raise VqmriError(f"{where}: unknown section '{section}'; sections are {', '.join(known)}")
        if not isinstance(values, dict):
            raise VqmriError(f"{where}: section '{section}' must be a mapping of settings, not {values!r}")
        for key in values:
            if key not in known[section]:
                near = [k for k in known[section] if k.startswith(str(key)[:3])]
                raise VqmriError(f"{where}: unknown setting '{section}.{key}'"
                                 + (f" (did you mean {section}.{near[0]}?)" if near else "")
                                 + f"; {section} settings are {', '.join(known[section])}")


def merge(base: dict, over: dict) -> dict:
    """Plain nested dicts: `over`'s values replace `base`'s, section by section."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def _build(plain: dict) -> Config:
    try:
        return Config.model_validate(plain)
    except ValidationError as e:
        raise one_line(e) from None


def validate(cfg: Config | dict, **changes: dict) -> Config:
    """A new config checked whole (every setting and the rules between sections), with `changes` (section -> settings)
    applied first. Raises a one-line VqmriError naming the first bad setting."""
    plain = cfg.to_dict() if isinstance(cfg, Config) else cfg
    check_keys(plain, "config")
    return _build(merge(plain, changes))


def from_dict(saved: dict) -> Config:
    """A config saved by any version (YAML file, checkpoint, export): today's defaults for settings added since, retired
    settings dropped."""
    plain = copy.deepcopy(saved)
    for section, keys in RETIRED.items():
        for key in keys:
            plain.get(section, {}).pop(key, None)
    return validate(plain)


def parse_override(item: str) -> dict:
    """`train.lr=1e-3` -> {"train": {"lr": "1e-3"}} (checked and coerced by `validate`); values are parsed as YAML."""
    if "=" not in item:
        raise VqmriError(f"override '{item}' is not section.key=value (e.g. train.lr=1e-3)")
    key, value = item.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) != 2:
        raise VqmriError(f"override '{item}': name a setting as section.key (e.g. train.lr=1e-3)")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    over = {parts[0]: {parts[1]: parsed}}
    check_keys(over, f"override '{item}'")
    return over


def resolve(preset: str | None = None, config_file: str | None = None, overrides: list[str] = ()) -> Config:
    if preset and preset not in PRESETS:
        raise VqmriError(f"unknown preset '{preset}'; choose one of: {', '.join(PRESETS)}")
    plain = copy.deepcopy(PRESETS.get(preset or "oasis", {}))
    if config_file:
        p = Path(config_file)
        if not p.exists():
            raise VqmriError(f"config file {p} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise VqmriError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
        check_keys({} if loaded is None else loaded, f"config file {p}")
        plain = merge(plain, loaded or {})
    for item in overrides:
        plain = merge(plain, parse_override(item))
    plain["preset"] = preset or "oasis"
    return validate(plain)


def save(cfg: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def load(path: Path) -> Config:
    """A saved config, with today's defaults for settings added since it was written (so old runs still open)."""
    return from_dict(yaml.safe_load(Path(path).read_text()) or {})
