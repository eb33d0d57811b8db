"""One resolved config per run: preset, then a YAML file, then `section.key=value` overrides; saved as config.yaml."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from .errors import VqmriError

BASE: dict = {
    "data": {"path": None, "image_size": 128, "axis": "axial", "min_tissue": 0.05, "split_ratios": [0.8, 0.1, 0.1],
             "split_seed": 0, "skip_bad": False, "num_workers": 0, "augment": False},
    "model": {"arch": "vqvae", "channels": [32, 64], "res_blocks": 2, "res_channels": 32, "downsample": 4,
              "embed_dim": 64, "codebook_size": 512, "norm": False, "bottom_dropout": 0.0},
    "quantizer": {"ema": True, "decay": 0.99, "beta": 0.25, "init": "kmeans", "dead_code_threshold": 1.0,
                  "l2_norm": False},
    "train": {"batch_size": 32, "lr": 2e-3, "weight_decay": 0.0, "schedule": "cosine", "warmup": 0.03,
              "max_epochs": 30, "max_minutes": None, "loss": "l1+ssim", "ssim_weight": 0.5, "seed": 0,
              "precision": "auto", "accelerator": "auto", "devices": "auto", "num_nodes": 1,
              "val_every": 1.0, "grad_clip": 1.0},
    "prior": {"channels": 48, "layers": 8, "kernel_size": 5, "classes": 0, "lr": 1e-3, "batch_size": 32,
              "max_epochs": 30, "max_minutes": None, "dropout": 0.0, "seed": 0,
              "mirror": "", "augment": 0, "augment_degrees": 6.0, "level": "all"},
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
}


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def parse_override(item: str) -> dict:
    """`train.lr=1e-3` -> {"train": {"lr": 0.001}}; values are parsed as YAML."""
    if "=" not in item:
        raise VqmriError(f"override '{item}' is not section.key=value (e.g. train.lr=1e-3)")
    key, value = item.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) != 2 or parts[0] not in BASE or parts[1] not in BASE[parts[0]]:
        known = ", ".join(f"{s}.{k}" for s in BASE for k in BASE[s])
        raise VqmriError(f"unknown setting '{key}'; known settings: {known}")
    return {parts[0]: {parts[1]: yaml.safe_load(value)}}


def resolve(preset: str | None = None, config_file: str | None = None, overrides: list[str] = ()) -> dict:
    if preset and preset not in PRESETS:
        raise VqmriError(f"unknown preset '{preset}'; choose one of: {', '.join(PRESETS)}")
    cfg = merge(BASE, PRESETS.get(preset or "oasis", {}))
    if config_file:
        p = Path(config_file)
        if not p.exists():
            raise VqmriError(f"config file {p} does not exist")
        try:
            cfg = merge(cfg, yaml.safe_load(p.read_text()) or {})
        except yaml.YAMLError as e:
            raise VqmriError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    for item in overrides:
        cfg = merge(cfg, parse_override(item))
    cfg["preset"] = preset or "oasis"
    return cfg


def save(cfg: dict, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def load(path: Path) -> dict:
    """A saved config, with today's defaults for settings added since it was written (so old runs still open)."""
    return merge(BASE, yaml.safe_load(Path(path).read_text()))
