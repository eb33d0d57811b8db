"""One resolved config per run: preset, then a YAML file, then `section.key=value` overrides; saved as config.yaml.

The config stays a plain dict of plain values (it travels as YAML and inside checkpoints, where plain values load
without unpickling code), checked against one schema: `BASE` holds every key and its default, `RULES` the type and
range of each. `validate` runs before anything is written, so a typo, a wrong type or an unknown section ends in one
line naming the key."""
from __future__ import annotations

import copy
import math
from pathlib import Path

import yaml

from .errors import VqmriError

# `vqmri anomaly`'s defaults, kept here with the other defaults so that the command line's grammar needs no torch:
# the probability below which a code is replaced and the redraws a slice (chosen on validate: benchmarks/RESULTS.md)
ANOMALY_THRESHOLD = 0.02
ANOMALY_RESAMPLES = 8

BASE: dict = {
    "data": {"path": None, "image_size": 128, "axis": "axial", "min_tissue": 0.05, "split_ratios": [0.8, 0.1, 0.1],
             "split_seed": 0, "skip_bad": False, "num_workers": 0, "augment": False, "zoom": 0.0, "gamma": 0.0},
    "model": {"arch": "vqvae", "channels": [32, 64], "res_blocks": 2, "res_channels": 32, "downsample": 4,
              "embed_dim": 64, "codebook_size": 512, "norm": False, "bottom_dropout": 0.0, "upsample": "transpose",
              "top_factor": 2},
    "quantizer": {"ema": True, "decay": 0.99, "beta": 0.25, "init": "kmeans", "dead_code_threshold": 1.0,
                  "l2_norm": False},
    "train": {"batch_size": 32, "lr": 2e-3, "weight_decay": 0.0, "schedule": "cosine", "warmup": 0.03,
              "max_epochs": 30, "max_minutes": None, "loss": "l1+ssim", "ssim_weight": 0.5, "seed": 0,
              "precision": "auto", "accelerator": "auto", "devices": "auto", "num_nodes": 1,
              "val_every": 1.0, "grad_clip": 1.0, "init": None, "min_batches": 0},
    "prior": {"channels": 48, "layers": 8, "kernel_size": 5, "classes": 0, "lr": 1e-3, "batch_size": 32,
              "max_epochs": 30, "max_minutes": None, "dropout": 0.0, "seed": 0,
              "mirror": "", "augment": 0, "augment_degrees": 6.0, "level": "all",
              "arch": "pixelcnn", "heads": 4, "bottom_arch": "", "steps": 12, "top_share": 0.33},
    # adversarial decoder training (VQGAN); weight 0 = off. start: share of the budget before the discriminator plays
    # decoder_only: once the game is on, the encoder and codebook stay as they are and only the decoder learns (codes
    # keep their meaning); crop: the discriminator judges random crops of this size (0: whole slices)
    "gan": {"weight": 0.0, "start": 0.3, "channels": 32, "layers": 3, "norm": "spectral", "lr": 4e-4,
            "adaptive": True, "decoder_only": False, "crop": 0},
}

PRESETS: dict[str, dict] = {
    # Measured default for 128 px brain slices on CPU (see benchmarks/RESULTS.md).
    "oasis": {},
    "hipmri": {"data": {"image_size": 128}},
    # Fast, for the built-in data and the demo: small images and network.
    "sample": {"data": {"image_size": 64}, "model": {"channels": [32, 64], "res_channels": 32, "codebook_size": 256},
               "train": {"batch_size": 16, "max_epochs": 15}, "prior": {"channels": 32, "layers": 6, "max_epochs": 10}},
    # The original layout of van den Oord et al. 2017 with the seeds' settings, to reproduce published student systems.
    "seed-oord": {"model": {"channels": [128, 128], "res_blocks": 2, "res_channels": 32, "embed_dim": 64,
                            "codebook_size": 512, "norm": False},
                  "quantizer": {"ema": False, "init": "uniform", "dead_code_threshold": 0.0, "beta": 0.25},
                  "train": {"lr": 2e-3, "batch_size": 32, "schedule": "constant", "loss": "mse", "warmup": 0.0,
                            "grad_clip": 0.0}},
    # Two levels (Razavi et al. 2019); a quarter of the slices decoded from the top codes alone (models/vqvae2.py).
    "vqvae2": {"model": {"arch": "vqvae2", "downsample": 4, "bottom_dropout": 0.25}},
    # 128 px -> a 16 x 16 code map: lower fidelity than the default's 32 x 32, but a quarter of the positions for the
    # prior to model and a receptive field that spans the slice, so samples are whole brains (benchmarks/RESULTS.md).
    "coarse": {"model": {"downsample": 8}, "prior": {"channels": 64, "layers": 10}},
    # The best measured for generation (128 px -> an 8 x 8 code map, SSIM 0.80): the prior also learns from 8 jittered,
    # unrotated copies of each training slice (registered data), with dropout; benchmarks/RESULTS.md, code8-augment.
    "generate": {"model": {"downsample": 16},
                 "prior": {"channels": 64, "layers": 10, "dropout": 0.1, "augment": 8, "augment_degrees": 0.0}},
    # One code for the prior, one for the decoder (issue 40): at 128 px an 8 x 8 top that the prior draws whole over
    # a 32 x 32 bottom that decodes sharply; a quarter of the slices decoded from the top alone, so that the top
    # carries the anatomy. The prior: a slice-position PixelCNN top (with the `generate` jitter) fitted alone first,
    # then a masked-code (MaskGIT) bottom drawn given the top. `train` then `train-prior` with no other flags take
    # under an hour on 2 cores (benchmarks/RESULTS.md, "Generation").
    "realistic": {"model": {"arch": "vqvae2", "top_factor": 4, "bottom_dropout": 0.25},
                  "train": {"max_minutes": 22.0, "max_epochs": 1000},
                  "prior": {"arch": "pixelcnn", "bottom_arch": "maskgit", "channels": 64, "layers": 10,
                            "dropout": 0.1, "classes": 8, "augment": 8, "augment_degrees": 0.0, "lr": 1e-3,
                            "level": "each", "top_share": 0.33, "max_minutes": 12.0, "max_epochs": 1000}},
}


# ---------------------------------------------------------------- schema: type and range of every setting
def _int(lo=None, hi=None):
    return ("int", lo, hi)


def _float(lo=None, hi=None, open_lo=False):
    return ("float", lo, hi, open_lo)


BOOL, STR, OPT_STR = ("bool",), ("str",), ("str?",)


def _choice(*options):
    return ("choice", options)


RULES: dict = {
    "data": {"path": OPT_STR, "image_size": _int(16, 4096), "axis": _choice("axial", "coronal", "sagittal"),
             "min_tissue": _float(0, 1), "split_ratios": ("ratios",), "split_seed": _int(), "skip_bad": BOOL,
             "num_workers": _int(0, 64), "augment": BOOL, "zoom": _float(0, 1), "gamma": _float(0, 1)},
    "model": {"arch": _choice("vqvae", "vqvae2"), "channels": ("channels",), "res_blocks": _int(0, 16),
              "res_channels": _int(1), "downsample": _choice(2, 4, 8, 16), "embed_dim": _int(1),
              "codebook_size": _int(2, 65536), "norm": BOOL, "bottom_dropout": _float(0, 1),
              "upsample": _choice("transpose", "nearest"), "top_factor": _choice(2, 4, 8)},
    "quantizer": {"ema": BOOL, "decay": _float(0, 1, True), "beta": _float(0), "init":
                  _choice("kmeans", "random", "uniform", "normal"), "dead_code_threshold": _float(0), "l2_norm": BOOL},
    "train": {"batch_size": _int(1), "lr": _float(0, None, True), "weight_decay": _float(0),
              "schedule": _choice("cosine", "constant"), "warmup": _float(0, 1), "max_epochs": _int(1),
              "max_minutes": ("minutes",), "loss": _choice("mse", "l1", "l1+ssim"), "ssim_weight": _float(0, 1),
              "seed": _int(), "precision": _choice("auto", "32-true", "32", "16-mixed", "bf16-mixed", "64-true"),
              "accelerator": _choice("auto", "cpu", "gpu", "cuda", "mps", "tpu"), "devices": ("devices",),
              "num_nodes": _int(1), "val_every": _float(0, None, True), "grad_clip": _float(0), "init": OPT_STR,
              "min_batches": _int(0, 100000)},
    "prior": {"channels": _int(1), "layers": _int(1, 64), "kernel_size": ("odd",), "classes": _int(0, 1000),
              "lr": _float(0, None, True), "batch_size": _int(1), "max_epochs": _int(1), "max_minutes": ("minutes",),
              "dropout": _float(0, 0.99), "seed": _int(), "mirror": _choice("", "rows", "columns"),
              "augment": _int(0, 64), "augment_degrees": _float(0, 45),
              "level": _choice("all", "top", "bottom", "each"), "arch": _choice("pixelcnn", "transformer", "maskgit"),
              "heads": _int(1, 64),
              "bottom_arch": _choice("", "pixelcnn", "transformer", "maskgit"), "steps": _int(1, 64),
              "top_share": _float(0, 1, True)},
    "gan": {"weight": _float(0), "start": _float(0, 1), "channels": _int(1), "layers": _int(1, 6),
            "norm": _choice("spectral", "none", "batch"), "lr": _float(0, None, True), "adaptive": BOOL,
            "decoder_only": BOOL, "crop": _int(0, 4096)},
}


def _check(key: str, v, rule):
    """The value, coerced where harmless (an int where a float is wanted, '1e-3' as written on a command line), or a
    one-line VqmriError naming `key`."""
    kind = rule[0]

    def bad(want: str):
        return VqmriError(f"{key}={v!r}: {want}")

    def number(is_int: bool, lo, hi, open_lo=False):
        x = v
        if isinstance(x, str) and not is_int:
            try:
                x = float(x)
            except ValueError:
                raise bad("give a number") from None
        if isinstance(x, bool) or not isinstance(x, (int, float)) or (is_int and not isinstance(x, int)):
            raise bad("give a whole number" if is_int else "give a number")
        if not math.isfinite(x):
            raise bad("give a finite number")
        if lo is not None and (x < lo or (open_lo and x == lo)):
            upper = f" and at most {hi}" if hi is not None else ""
            raise bad(f"give a number {'above' if open_lo else 'of at least'} {lo}{upper}")
        if hi is not None and x > hi:
            raise bad(f"give a number of at most {hi}" + (f" and at least {lo}" if lo is not None else ""))
        return x if is_int else float(x)

    if kind == "int":
        return number(True, rule[1], rule[2])
    if kind == "float":
        return number(False, rule[1], rule[2], rule[3])
    if kind == "bool":
        if not isinstance(v, bool):
            raise bad("give true or false")
        return v
    if kind in ("str", "str?"):
        if v is None and kind == "str?":
            return v
        if not isinstance(v, str):
            raise bad("give a text value")
        return v
    if kind == "choice":
        if isinstance(v, bool) or v not in rule[1]:
            raise bad("choose one of " + ", ".join(repr(o) if o == "" else str(o) for o in rule[1]))
        return v
    if kind == "minutes":
        return None if v is None else number(False, 0, None, True)
    if kind == "odd":
        x = number(True, 3, 31)
        if x % 2 == 0:
            raise bad("give an odd number (3, 5, 7, ...)")
        return x
    if kind == "channels":
        if not isinstance(v, list) or not v or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1
                                                       for c in v):
            raise bad("give a list of channel counts, e.g. [32,64]")
        return v
    if kind == "ratios":
        if (not isinstance(v, list) or len(v) != 3 or any(isinstance(r, bool) or not isinstance(r, (int, float))
                                                         or r < 0 for r in v) or abs(sum(v) - 1) > 1e-6):
            raise bad("give three shares for train, validate, test that add up to 1, e.g. [0.8,0.1,0.1]")
        return [float(r) for r in v]
    if kind == "devices":
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1) or (
                isinstance(v, list) and v and all(isinstance(d, int) and d >= 0 for d in v)):
            return v
        raise bad("give auto, a number of devices, or a list of device indices")
    raise AssertionError(kind)


def check_keys(over: dict, where: str) -> None:
    """Unknown sections and keys (in a preset, a YAML file or overrides) end in one line naming them."""
    if not isinstance(over, dict):
        raise VqmriError(f"{where} must be a mapping of sections ({', '.join(BASE)}), not a {type(over).__name__}")
    for section, values in over.items():
        if section == "preset":
            continue
        if section not in BASE:
            raise VqmriError(f"{where}: unknown section '{section}'; sections are {', '.join(BASE)}")
        if not isinstance(values, dict):
            raise VqmriError(f"{where}: section '{section}' must be a mapping of settings, not {values!r}")
        for key in values:
            if key not in BASE[section]:
                near = [k for k in BASE[section] if k.startswith(str(key)[:3])]
                raise VqmriError(f"{where}: unknown setting '{section}.{key}'"
                                 + (f" (did you mean {section}.{near[0]}?)" if near else "")
                                 + f"; {section} settings are {', '.join(BASE[section])}")


def downsampling(model: dict) -> int:
    """How many pixels a side one code of the coarsest level covers (VQ-VAE-2: 4 x `top_factor` for the top, whatever
    `downsample` says)."""
    return 4 * int(model.get("top_factor", 2)) if model["arch"] == "vqvae2" else int(model["downsample"])


def fits_model(image_size: int, model: dict) -> bool:
    """Whether a model with these settings reads slices of `image_size`: a multiple of its downsampling with a code
    map of at least 2 a side."""
    factor = downsampling(model)
    return image_size % factor == 0 and image_size // factor >= 2


def validate(cfg: dict) -> dict:
    """Every setting checked (type, range, and the settings that must agree); returns the config with harmless
    coercions applied. Raises a one-line VqmriError naming the first bad setting."""
    check_keys(cfg, "config")
    out = copy.deepcopy(cfg)
    for section, rules in RULES.items():
        for key, rule in rules.items():
            out[section][key] = _check(f"{section}.{key}", out[section][key], rule)
    d, m, p = out["data"], out["model"], out["prior"]
    factor = downsampling(m)
    if not fits_model(d["image_size"], m):
        raise VqmriError(f"data.image_size={d['image_size']}: give a multiple of {factor} of at least {2 * factor} "
                         f"(the code map is image_size / {factor} a side), e.g. 64, 128 or 256")
    if p["arch"] == "transformer" and p["channels"] % p["heads"]:
        raise VqmriError(f"prior.channels={p['channels']}: a transformer prior needs a multiple of prior.heads "
                         f"({p['heads']})")
    return out


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


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


def resolve(preset: str | None = None, config_file: str | None = None, overrides: list[str] = ()) -> dict:
    if preset and preset not in PRESETS:
        raise VqmriError(f"unknown preset '{preset}'; choose one of: {', '.join(PRESETS)}")
    cfg = merge(BASE, PRESETS.get(preset or "oasis", {}))
    if config_file:
        p = Path(config_file)
        if not p.exists():
            raise VqmriError(f"config file {p} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise VqmriError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
        check_keys({} if loaded is None else loaded, f"config file {p}")
        cfg = merge(cfg, loaded or {})
    for item in overrides:
        cfg = merge(cfg, parse_override(item))
    cfg["preset"] = preset or "oasis"
    return validate(cfg)


def save(cfg: dict, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def load(path: Path) -> dict:
    """A saved config, with today's defaults for settings added since it was written (so old runs still open)."""
    return merge(BASE, yaml.safe_load(Path(path).read_text()))
