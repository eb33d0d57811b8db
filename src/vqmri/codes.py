"""A run's code maps: each split encoded once and cached in RUN_DIR/codes (with mirrored and jittered copies for the
prior), each slice's place in its subject's stack, and reconstructions of a split as the reference for samples."""
from __future__ import annotations

import numpy as np
import torch

from .data.augment import random_affine
from .data.datamodule import discover_from_config, load_cached
from .data.layouts import discover
from .progress import bar
from .vqmodel import VQModel


def slice_positions(meta: list[dict]) -> np.ndarray:
    """Where each slice lies in its subject's stack, 0 (first) to 1 (last), from the slice indices: the label
    behind `prior.classes` (slice-position buckets), so the prior knows which anatomy a slice level holds."""
    by_subject: dict[str, list[int]] = {}
    for m in meta:
        by_subject.setdefault(m["subject"], []).append(m["index"])
    ranks = {s: {v: i / max(len(set(ix)) - 1, 1) for i, v in enumerate(sorted(set(ix)))}
             for s, ix in by_subject.items()}
    return np.array([ranks[m["subject"]][m["index"]] for m in meta], np.float32)


def position_labels(positions: torch.Tensor, classes: int) -> torch.Tensor:
    """Relative slice positions -> bucket labels 0..classes-1."""
    return (torch.as_tensor(positions, dtype=torch.float32) * classes).long().clamp(0, classes - 1)


MIRROR_AXES = {"rows": -2, "columns": -1}
DEFAULT_DEGREES = 6.0  # `prior.augment_degrees`' default; caches jittered with it keep their first names


def cached_codes(model: VQModel, split: str, data: str | None = None, batch_size: int = 128,
                 mirror: str = "", augment_copy: int | None = None,
                 degrees: float = DEFAULT_DEGREES) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Code maps of a split, one tensor per level, and each slice's relative position in its subject's stack;
    the run's own splits are cached in RUN_DIR/codes/SPLIT.npz. Variants, each cached in its own file, give the
    prior more code maps to learn from than the split's slices (a few thousand for OASIS):
    - `mirror` ("rows" or "columns"): the slices flipped along that axis (SPLIT_mirror_AXIS.npz); left-right
      mirrored anatomy is still anatomy (`prior.mirror`).
    - `augment_copy` i: the slices (mirrored first if `mirror`) slightly rotated, scaled, shifted and brightened
      by `data.augment.random_affine`, seeded by i (SPLIT_augment_i[_mirror_AXIS].npz; `prior.augment`); rotated
      by up to `degrees` (`prior.augment_degrees`; a value other than the default is part of the file name)."""
    run = model.require_run("train-prior, evaluate-prior and evaluate-samples")
    own = data is None or data == model.config.data.path
    name = split + (f"_augment_{augment_copy}" if augment_copy is not None else "")
    if augment_copy is not None and degrees != DEFAULT_DEGREES:
        name += f"_deg{degrees:g}"
    path = run.codes / (name + (f"_mirror_{mirror}" if mirror else "") + ".npz")
    if own and path.exists():
        z = np.load(path)
        # caches of another checkpoint, or written before positions and checkpoints were stored, are encoded again
        if "position" in z.files and "checkpoint" in z.files and str(z["checkpoint"]) == model.checkpoint_id:
            levels = sum(f.startswith("level") for f in z.files)
            return [torch.from_numpy(z[f"level{i}"]).long() for i in range(levels)], torch.from_numpy(z["position"])
    cfg = model.config
    if own:
        discovery = discover_from_config(cfg, run.root)
    else:
        discovery = discover(data, tuple(cfg.data.split_ratios), cfg.data.split_seed)
    cached = load_cached(discovery, split, cfg)
    images = cached.images
    jitter = torch.Generator().manual_seed(1000 + augment_copy) if augment_copy is not None else None
    levels: list[list[torch.Tensor]] = []
    starts = range(0, len(images), batch_size)
    for i in bar(starts, f"encoding {split}", len(starts), "batch"):
        x = torch.from_numpy(np.array(images[i: i + batch_size], np.float32))[:, None]
        if mirror:
            x = x.flip(MIRROR_AXES[mirror])
        if jitter is not None:
            x = random_affine(x, jitter, degrees=degrees)
        for lvl, c in enumerate(model.encode(x)):
            if len(levels) <= lvl:
                levels.append([])
            levels[lvl].append(c.to(torch.int16))
    codes = [torch.cat(v) for v in levels]
    positions = slice_positions(cached.meta)
    if own:
        run.codes.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, position=positions, checkpoint=np.array(model.checkpoint_id),
                 **{f"level{i}": c.numpy() for i, c in enumerate(codes)})
        tmp.replace(path)
    return [c.long() for c in codes], torch.from_numpy(positions)


def training_codes(model: VQModel, mirror: str, augment: int,
                   degrees: float = DEFAULT_DEGREES) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The train split's code maps and positions, plus its mirrored copy (`prior.mirror`) and `augment` jittered
    copies (`prior.augment`, rotated by up to `degrees`; half of them mirrored when `prior.mirror` is set)."""
    parts = [cached_codes(model, "train")]
    if mirror:
        parts.append(cached_codes(model, "train", mirror=mirror))
    for i in range(augment):
        parts.append(cached_codes(model, "train", mirror=mirror if i % 2 else "", augment_copy=i, degrees=degrees))
    return [torch.cat(c) for c in zip(*(codes for codes, _ in parts))], torch.cat([pos for _, pos in parts])


def reconstruct_pick(model: VQModel, found, split: str, n: int | None, seed: int = 0,
                     with_real: bool = False) -> tuple:
    """Reconstructions of n slices of a split (a seeded pick; n None: every slice, in stored order) and the subject of
    each: real subjects through the model, the reference a sample set is compared with. `with_real`: the real slices
    too, first: (real, reconstructions, subjects)."""
    data = load_cached(found, split, model.config)
    pick = (torch.arange(len(data.images)) if n is None
            else torch.randperm(len(data.images), generator=torch.Generator().manual_seed(seed))[:n])
    x = torch.from_numpy(np.array(data.images, np.float32)[pick.numpy()])[:, None]
    subjects = [data.meta[i]["subject"] for i in pick.tolist()]
    return (x, model.reconstruct(x), subjects) if with_real else (model.reconstruct(x), subjects)
