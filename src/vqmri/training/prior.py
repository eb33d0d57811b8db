"""Fitting the PixelCNN prior on a run's code maps (encoded once, cached in RUN_DIR/codes), best by validation NLL."""
from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .. import config as config_mod
from ..api import VQModel
from ..data.augment import random_affine
from ..data.datamodule import discover_from_config, load_cached
from ..errors import VqmriError
from ..models.prior import CodePrior
from .autoencoder import finalize_best
from .run import BudgetSchedule, Run, make_trainer, resume_checkpoint


def slice_positions(meta: list[dict]) -> np.ndarray:
    """Where each slice lies in its subject's stack, 0 (first) to 1 (last), from the slice indices: the label
    behind `prior.classes` (slice-position buckets), so the prior knows which anatomy a slice level holds."""
    by_subject: dict[str, list[int]] = {}
    for m in meta:
        by_subject.setdefault(m["subject"], []).append(m["index"])
    ranks = {s: {v: i / max(len(set(ix)) - 1, 1) for i, v in enumerate(sorted(set(ix)))} for s, ix in by_subject.items()}
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
    run = model.run
    own = data is None or data == model.config["data"]["path"]
    name = split + (f"_augment_{augment_copy}" if augment_copy is not None else "")
    if augment_copy is not None and degrees != DEFAULT_DEGREES:
        name += f"_deg{degrees:g}"
    path = run.codes / (name + (f"_mirror_{mirror}" if mirror else "") + ".npz")
    if own and path.exists():
        z = np.load(path)
        if "position" in z.files:  # caches written before positions were stored are encoded again below
            levels = sum(f.startswith("level") for f in z.files)
            return [torch.from_numpy(z[f"level{i}"]).long() for i in range(levels)], torch.from_numpy(z["position"])
    cfg = dict(model.config)
    if own:
        discovery = discover_from_config(cfg, run.root)
    else:
        from ..data.layouts import discover

        d = cfg["data"]
        discovery = discover(data, tuple(d["split_ratios"]), d["split_seed"])
    cached = load_cached(discovery, split, cfg)
    images = cached.images
    jitter = torch.Generator().manual_seed(1000 + augment_copy) if augment_copy is not None else None
    levels: list[list[torch.Tensor]] = []
    for i in range(0, len(images), batch_size):
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
        np.savez(tmp, position=positions, **{f"level{i}": c.numpy() for i, c in enumerate(codes)})
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


class CodeDataModule(L.LightningDataModule):
    def __init__(self, train: list[torch.Tensor], val: list[torch.Tensor], batch_size: int):
        super().__init__()
        self.train, self.val, self.batch_size = train, val, batch_size

    def train_dataloader(self):
        return DataLoader(TensorDataset(*self.train), batch_size=self.batch_size, shuffle=True,
                          drop_last=len(self.train[0]) > self.batch_size)

    def val_dataloader(self):
        return DataLoader(TensorDataset(*self.val), batch_size=self.batch_size)


class PriorModule(L.LightningModule):
    def __init__(self, cfg: dict, codebook_size: int, levels: int, shapes: list | None = None):
        super().__init__()
        self.save_hyperparameters({"cfg": cfg, "codebook_size": codebook_size, "levels": levels, "shapes": shapes})
        p = cfg["prior"]
        self.cfg = cfg
        self.prior = CodePrior(codebook_size, levels, p["channels"], p["layers"], p["kernel_size"], p["classes"],
                               p["dropout"], shapes=[tuple(s) for s in shapes] if shapes else None)
        self.fitted = trained_levels(p["level"], levels)
        if len(self.fitted) < levels:  # frozen, not just left out of the optimizer: DDP then ignores them too
            self.prior.requires_grad_(False)
            for q in (q for i in self.fitted for q in self.prior.level_parameters(i)):
                q.requires_grad_(True)

    def _bits(self, batch) -> dict[int, torch.Tensor]:
        """batch: the code maps per level, then the slice-position labels when the prior is class-conditioned."""
        batch = list(batch)
        label = batch.pop() if self.prior.num_classes else None
        return dict(zip(self.fitted, map(CodePrior.bits, self.prior.nll(batch, label, self.fitted))))

    def training_step(self, batch, batch_idx):
        bits = self._bits(batch)
        for i, b in bits.items():
            self.log(f"train/bits_per_code_level{i}", b, prog_bar=True, on_step=True, on_epoch=True)
        return sum(bits.values()) * math.log(2)

    def validation_step(self, batch, batch_idx):
        bits = self._bits(batch)
        n = {i: batch[i][0].numel() for i in bits}
        total = sum(b * n[i] for i, b in bits.items()) / sum(n.values())
        for i, b in bits.items():
            self.log(f"val/bits_per_code_level{i}", b, sync_dist=True, batch_size=len(batch[0]))
        self.log("val/bits_per_code", total, prog_bar=True, sync_dist=True, batch_size=len(batch[0]))
        self.log("val/neg_bits_per_code", -total, sync_dist=True, batch_size=len(batch[0]))

    def configure_optimizers(self):
        return torch.optim.AdamW([q for q in self.parameters() if q.requires_grad], lr=self.cfg["prior"]["lr"])


LEVELS = {"all": None, "top": [0], "bottom": [1]}


def trained_levels(level: str, levels: int) -> list[int]:
    """`prior.level`: which levels of a VQ-VAE-2 prior a `train-prior` call fits. Razavi et al. fit the top and
    bottom priors separately: the small 16x16 top map trains many times faster alone, and it is what decides
    whether a sample is a whole brain."""
    if level not in LEVELS:
        raise VqmriError(f"prior.level={level!r}: use all, top or bottom")
    if LEVELS[level] is not None and levels != 2:
        raise VqmriError(f"prior.level={level} is for two-level (VQ-VAE-2) runs; this run has one code map: "
                         "leave prior.level=all")
    return LEVELS[level] or list(range(levels))


def train_prior(run_dir: str | Path, max_minutes: float | None = None, max_epochs: int | None = None,
                resume: bool = False, overrides: list[str] = ()) -> Run:
    run = Run.open(run_dir)
    cfg = run.config
    for item in overrides:
        cfg = config_mod.merge(cfg, config_mod.parse_override(item))
    p = cfg["prior"]
    if max_minutes is not None:
        p["max_minutes"] = max_minutes
    if max_epochs is not None:
        p["max_epochs"] = max_epochs
    if p["mirror"] and p["mirror"] not in MIRROR_AXES:
        raise VqmriError(f"prior.mirror={p['mirror']!r}: use rows or columns (the axis that swaps left and right in "
                         "your slices), or leave it empty")
    if not isinstance(p["augment"], int) or isinstance(p["augment"], bool) or p["augment"] < 0:
        raise VqmriError(f"prior.augment={p['augment']!r}: give a whole number of jittered copies of the training "
                         "slices (0 for none)")
    if isinstance(p["augment_degrees"], bool) or not isinstance(p["augment_degrees"], (int, float)) \
            or not 0 <= p["augment_degrees"] <= 45:
        raise VqmriError(f"prior.augment_degrees={p['augment_degrees']!r}: give the largest rotation of a jittered "
                         "copy in degrees, 0 to 45 (0: registered slices, no tilt)")
    model = VQModel(run.root)
    trained_levels(p["level"], len(model.code_shapes()))
    L.seed_everything(p["seed"], workers=True, verbose=False)
    train_codes, train_pos = training_codes(model, p["mirror"], p["augment"], float(p["augment_degrees"]))
    has_val = bool(discover_from_config(cfg, run.root).splits.get("validate"))
    val_codes, val_pos = cached_codes(model, "validate") if has_val else (train_codes, train_pos)
    ckpt_dir, log_dir = run.prior / "checkpoints", run.prior / "logs"
    module = PriorModule(cfg, model.codebook_size, len(train_codes), [list(c.shape[1:]) for c in train_codes])
    if p["classes"]:
        train_codes = train_codes + [position_labels(train_pos, p["classes"])]
        val_codes = val_codes + [position_labels(val_pos, p["classes"])]
    dm = CodeDataModule(train_codes, val_codes, p["batch_size"])
    schedule = BudgetSchedule(p["lr"], "cosine", 0.02, p["max_minutes"])
    tcfg = dict(cfg["train"], grad_clip=1.0)
    trainer = make_trainer(tcfg, ckpt_dir, log_dir, "val/neg_bits_per_code", [schedule],
                           p["max_epochs"], p["max_minutes"])
    ckpt = resume_checkpoint(ckpt_dir) if resume else None
    if ckpt is None and p["level"] != "all" and (ckpt_dir / "best.ckpt").exists():
        start_from_existing(module, ckpt_dir, p["level"])
    config_mod.save(cfg, run.config_path)
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt)
    finalize_best(trainer, module, dm, run, "val/neg_bits_per_code", ckpt_dir)
    return run


def start_from_existing(module: PriorModule, ckpt_dir: Path, level: str) -> None:
    """Fitting one level keeps the other: start from the run's prior (kept as before_LEVEL.ckpt), weights and all."""
    best = ckpt_dir / "best.ckpt"
    state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        raise VqmriError(f"prior.level={level} fits one level of the prior in {best}, but the prior settings differ "
                         f"from that prior's ({str(e).splitlines()[0]}); use its settings, or prior.level=all "
                         "to fit a new prior") from None
    keep = ckpt_dir / f"before_{level}.ckpt"
    keep.write_bytes(best.read_bytes())
    print(f"Fitting the {level} level of the prior in {best}; the other level is kept as it is", flush=True)


def load_prior(run: Run) -> CodePrior:
    ckpt = torch.load(run.checkpoint("best", run.prior / "checkpoints"), map_location="cpu", weights_only=False)
    hp = ckpt["hyper_parameters"]
    cfg = config_mod.merge(config_mod.BASE, hp["cfg"])  # priors saved before a setting existed get its default
    module = PriorModule(cfg, hp["codebook_size"], hp["levels"], hp.get("shapes"))
    module.load_state_dict(ckpt["state_dict"])
    return module.prior.eval()
