"""Lightning DataModule over cached splits: tensors (1, S, S) in [0, 1], optional light augmentation."""
from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..config import Config
from ..errors import VqmriError
from .augment import field_of_view
from .cache import CachedSplit, load_split
from .layouts import Discovery, discover


class SliceDataset(Dataset):
    """The slices of a cached split, each `repeat` times an epoch (a small set then fills an epoch of several batches,
    each copy augmented afresh, so that validation and checkpoints do not run after every step)."""

    def __init__(self, split: CachedSplit, augment: bool = False, zoom: float = 0.0, gamma: float = 0.0,
                 repeat: int = 1):
        self.split, self.augment, self.zoom, self.gamma, self.repeat = split, augment, zoom, gamma, max(1, repeat)

    def __len__(self):
        return len(self.split.images) * self.repeat

    def __getitem__(self, i):
        if not 0 <= i < len(self):  # iteration by index ends here (a repeated index would never run out)
            raise IndexError(i)
        x = torch.from_numpy(np.array(self.split.images[i % len(self.split.images)], dtype=np.float32))[None]
        if self.augment:  # light: left-right flip and +-10% intensity scale
            if torch.rand(()) < 0.5:
                x = x.flip(-1)
            x = (x * (0.9 + 0.2 * torch.rand(()))).clamp(0, 1)
        if self.zoom or self.gamma:
            x = field_of_view(x, self.zoom, self.gamma)
        return x


def discover_from_config(cfg: Config, run_dir: Path | None = None) -> Discovery:
    """The run's splits: reloaded from splits.json when the run has one (reproducible), else discovered and saved."""
    if run_dir is not None and (run_dir / "splits.json").exists():
        return Discovery.from_json(json.loads((run_dir / "splits.json").read_text()))
    d = cfg.data
    found = discover(str(d.path), tuple(d.split_ratios), d.split_seed)
    if run_dir is not None:
        found.save(run_dir / "splits.json")
    return found


def load_cached(discovery: Discovery, split: str, cfg: Config) -> CachedSplit:
    d = cfg.data
    sources = discovery.splits.get(split, [])
    if not sources:
        raise VqmriError(f"split '{split}' of {discovery.root} is empty; choose one of: "
                         + ", ".join(k for k, v in discovery.splits.items() if v))
    out = load_split(sources, d.image_size, d.axis, d.min_tissue, d.skip_bad)
    if out.skipped:
        print(f"skipped {len(out.skipped)} unreadable file(s) in {split}: " + "; ".join(out.skipped[:5]))
    if len(out.images) == 0:
        raise VqmriError(f"no slices with tissue in split '{split}' of {discovery.root}")
    return out


class SliceDataModule(L.LightningDataModule):
    def __init__(self, cfg: Config, discovery: Discovery, batch_size: int):
        super().__init__()
        self.cfg, self.discovery, self.batch_size = cfg, discovery, batch_size
        self.splits: dict[str, CachedSplit] = {}

    def split(self, name: str) -> CachedSplit:
        if name not in self.splits:
            self.splits[name] = load_cached(self.discovery, name, self.cfg)
        return self.splits[name]

    def has(self, name: str) -> bool:
        return bool(self.discovery.splits.get(name))

    def _loader(self, name: str, train: bool) -> DataLoader:
        d = self.cfg.data
        workers = d.num_workers
        split = self.split(name)
        # train.min_batches: an epoch of a training set smaller than that many batches repeats it (0: one pass)
        want = self.cfg.train.min_batches * self.batch_size if train else 0
        ds = SliceDataset(split, augment=train and d.augment, zoom=d.zoom if train else 0.0,
                          gamma=d.gamma if train else 0.0, repeat=math.ceil(want / len(split.images)))
        return DataLoader(ds, batch_size=self.batch_size, shuffle=train, drop_last=train and len(ds) > self.batch_size,
                          num_workers=workers, persistent_workers=workers > 0)

    def train_dataloader(self):
        return self._loader("train", True)

    def val_dataloader(self):
        return self._loader("validate" if self.has("validate") else "train", False)
