"""Weight files that run no code when read: an export folder (config.json + model.safetensors + a model card) and the
pretrained models shipped in the package, addressed as `pretrained:NAME` wherever a run folder is accepted.

A Lightning checkpoint is a pickle; even with `torch.load(weights_only=True)` it is a format for resuming, not for
handing to someone else. An export holds only tensors (safetensors) and JSON, so it can be read from any source."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from .errors import VqmriError

CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
PRETRAINED = Path(__file__).resolve().parent / "pretrained"
FORMAT = 1


def pretrained_names() -> list[str]:
    return sorted(p.name for p in PRETRAINED.iterdir() if (p / WEIGHTS).exists()) if PRETRAINED.is_dir() else []


def resolve(source: str | Path) -> Path:
    """`pretrained:NAME` -> the shipped export's folder; anything else -> that path."""
    text = str(source)
    if text.startswith("pretrained:"):
        name = text.split(":", 1)[1]
        if name not in pretrained_names():
            raise VqmriError(f"unknown pretrained model '{name}'; choose one of: "
                             + (", ".join(f"pretrained:{n}" for n in pretrained_names()) or "(none installed)"))
        return PRETRAINED / name
    return Path(source)


def is_export(path: Path) -> bool:
    return (Path(path) / WEIGHTS).exists()


def tensor_file(autoencoder: dict[str, torch.Tensor], prior: dict[str, torch.Tensor] | None) -> bytes:
    """The bytes of an export's model.safetensors (tensors named autoencoder.* and prior.*): made before writing, so
    that config.json and the card can state their hash (`sha256`)."""
    tensors = {f"autoencoder.{k}": v.detach().cpu().contiguous() for k, v in autoencoder.items()}
    tensors.update({f"prior.{k}": v.detach().cpu().contiguous() for k, v in (prior or {}).items()})
    return save(tensors, metadata={"format": "vqmri", "version": str(FORMAT)})


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def write_export(out: Path, meta: dict, tensors: bytes, card: str) -> None:
    """out/config.json (meta: settings, code shapes, provenance, measured figures), out/model.safetensors
    (`tensor_file`), out/README.md (the model card). Each file is written whole or not at all."""
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / WEIGHTS, lambda p: p.write_bytes(tensors))
    _atomic(out / CONFIG, lambda p: p.write_text(json.dumps({"format": FORMAT, **meta}, indent=1)))
    _atomic(out / CARD, lambda p: p.write_text(card))


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # shared and packaged: readable by all, like any other file of a model
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_export(folder: Path) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """(meta, autoencoder state, prior state or None) of an export folder; a missing or damaged file is one line."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / CONFIG).read_text())
        tensors = load_file(str(folder / WEIGHTS))
    except (OSError, ValueError, SafetensorError) as e:
        raise VqmriError(f"cannot read the exported model in {folder} ({str(e).splitlines()[0][:120]}); export it "
                         "again with `vqmri export RUN_DIR --out DIR`") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "config" not in meta:
        raise VqmriError(f"{folder / CONFIG} is not a vqmri export of format {FORMAT}; export it again with "
                         "`vqmri export RUN_DIR --out DIR`")
    ae = {k[len("autoencoder."):]: v for k, v in tensors.items() if k.startswith("autoencoder.")}
    prior = {k[len("prior."):]: v for k, v in tensors.items() if k.startswith("prior.")}
    return meta, ae, (prior or None)
