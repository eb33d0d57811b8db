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
from ..data.datamodule import discover_from_config, load_cached
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


def cached_codes(model: VQModel, split: str, data: str | None = None,
                 batch_size: int = 128) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Code maps of a split, one tensor per level, and each slice's relative position in its subject's stack;
    the run's own splits are cached in RUN_DIR/codes/SPLIT.npz."""
    run = model.run
    own = data is None or data == model.config["data"]["path"]
    path = run.codes / f"{split}.npz"
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
    levels: list[list[torch.Tensor]] = []
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(np.array(images[i: i + batch_size], np.float32))[:, None]
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

    def _bits(self, batch):
        """batch: the code maps per level, then the slice-position labels when the prior is class-conditioned."""
        batch = list(batch)
        label = batch.pop() if self.prior.num_classes else None
        return [CodePrior.bits(n) for n in self.prior.nll(batch, label)]

    def training_step(self, batch, batch_idx):
        bits = self._bits(batch)
        for i, b in enumerate(bits):
            self.log(f"train/bits_per_code_level{i}", b, prog_bar=True, on_step=True, on_epoch=True)
        return sum(bits) * math.log(2)

    def validation_step(self, batch, batch_idx):
        bits = self._bits(batch)
        n = [c[0].numel() for c in batch[:len(bits)]]
        total = sum(b * k for b, k in zip(bits, n)) / sum(n)
        for i, b in enumerate(bits):
            self.log(f"val/bits_per_code_level{i}", b, sync_dist=True, batch_size=len(batch[0]))
        self.log("val/bits_per_code", total, prog_bar=True, sync_dist=True, batch_size=len(batch[0]))
        self.log("val/neg_bits_per_code", -total, sync_dist=True, batch_size=len(batch[0]))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.cfg["prior"]["lr"])


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
    config_mod.save(cfg, run.config_path)
    L.seed_everything(p["seed"], workers=True, verbose=False)
    model = VQModel(run.root)
    train_codes, train_pos = cached_codes(model, "train")
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
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt)
    finalize_best(trainer, module, dm, run, "val/neg_bits_per_code", ckpt_dir)
    return run


def load_prior(run: Run) -> CodePrior:
    ckpt = torch.load(run.checkpoint("best", run.prior / "checkpoints"), map_location="cpu", weights_only=False)
    hp = ckpt["hyper_parameters"]
    module = PriorModule(hp["cfg"], hp["codebook_size"], hp["levels"], hp.get("shapes"))
    module.load_state_dict(ckpt["state_dict"])
    return module.prior.eval()
