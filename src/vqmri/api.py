"""Python API: `vqmri.load(run_dir)` -> a model with encode / decode / reconstruct (and sample once a prior exists)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .data import geometry
from .models import build_autoencoder
from .training.run import Run


def load_state(path: Path) -> dict:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return {k.split(".", 1)[1]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}


class VQModel:
    """A trained autoencoder from a run folder. Tensors are (B, 1, S, S) in [0, 1]; codes are lists of (B, h, w)."""

    def __init__(self, run_dir: str | Path, checkpoint: str = "best", device: str | None = None):
        self.run = Run.open(run_dir)
        self.config = self.run.config
        self.image_size = int(self.config["data"]["image_size"])
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = build_autoencoder(self.config)
        self.net.load_state_dict(load_state(self.run.checkpoint(checkpoint)))
        self.net.eval().to(self.device)
        self.codebook_size = self.net.codebook_size

    def prepare(self, images) -> torch.Tensor:
        """Native arrays (H, W) in [0, 1] (any sizes) -> model tensor (B, 1, S, S)."""
        return torch.from_numpy(np.stack([geometry.to_model(np.asarray(a, np.float32), self.image_size)
                                          for a in images]))[:, None]

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [c.cpu() for c in self.net.encode(x.to(self.device).float())]

    def encode_batched(self, x: torch.Tensor, batch_size: int = 64) -> list[torch.Tensor]:
        """`encode` a whole set a batch at a time; one (N, h, w) map a level."""
        parts = [self.encode(x[i: i + batch_size]) for i in range(0, len(x), batch_size)]
        return [torch.cat(level) for level in zip(*parts)]

    def decode(self, codes: list[torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            return self.net.decode([c.to(self.device) for c in codes]).cpu()

    def decode_batched(self, codes: list[torch.Tensor], batch_size: int = 64) -> torch.Tensor:
        """`decode` a whole set of maps (one (N, h, w) tensor a level) a batch at a time."""
        return torch.cat([self.decode([c[i: i + batch_size] for c in codes])
                          for i in range(0, len(codes[0]), batch_size)])

    def reconstruct(self, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        return torch.cat([self.decode(self.encode(x[i: i + batch_size])) for i in range(0, len(x), batch_size)])

    def consistency(self, codes: list[torch.Tensor], batch_size: int = 64) -> torch.Tensor:
        """Per map, the share of codes that survive decode -> encode. Encoded real slices are near fixed points
        (0.65 on OASIS at 8x8); sampled maps whose codes do not fit together decode to an image the encoder reads
        differently, so a low share flags an implausible sample without any extra network."""
        same = torch.zeros(len(codes[0]))
        for i in range(0, len(codes[0]), batch_size):
            part = [c[i: i + batch_size] for c in codes]
            again = self.encode(self.decode(part))
            same[i: i + batch_size] = sum((a == c).flatten(1).sum(1) for a, c in zip(again, part)).float()
        return same / sum(c[0].numel() for c in codes)

    def code_shapes(self) -> list[tuple[int, int]]:
        return self.net.code_shapes(self.image_size)

    def bits_per_pixel(self) -> float:
        codes = sum(h * w for h, w in self.code_shapes())
        return codes * float(np.log2(self.codebook_size)) / self.image_size ** 2


def load(run_dir: str | Path, checkpoint: str = "best", device: str | None = None) -> VQModel:
    return VQModel(run_dir, checkpoint, device)


def reconstruct_pick(model: VQModel, found, split: str, n: int | None, seed: int = 0) -> tuple[torch.Tensor, list[str]]:
    """Reconstructions of n slices of a split (a seeded pick; n None: every slice, in stored order) and the subject of
    each: real subjects through the model, the reference a sample set is compared with."""
    from .data.datamodule import load_cached

    data = load_cached(found, split, model.config)
    pick = (torch.arange(len(data.images)) if n is None
            else torch.randperm(len(data.images), generator=torch.Generator().manual_seed(seed))[:n])
    x = torch.from_numpy(np.array(data.images, np.float32)[pick.numpy()])[:, None]
    return model.reconstruct(x), [data.meta[i]["subject"] for i in pick.tolist()]


def _sample_labels(k: int, label: int | None, size: int) -> torch.Tensor | None:
    """The slice-position bucket of each of `size` draws: all `label`, else cycling through the k buckets (None for
    an unconditioned prior)."""
    return None if not k else (torch.full((size,), label) if label is not None else torch.arange(size) % k)


def _generate_filtered(model: VQModel, prior, n: int, seed: int, temperature, top_k, label, m: int, n_fit: int):
    """`generate` with `filter_candidates` = m: one pool of maps, its first part fits the filter (see there)."""
    from .data.datamodule import discover_from_config
    from .rejection import realism_filter
    from .sampling import sample_codes

    train_recon, _ = reconstruct_pick(model, discover_from_config(model.config, model.run.root), "train", None)
    n_fit = min(n_fit, len(train_recon))
    size = n_fit + n * m
    labels = _sample_labels(prior.num_classes, label, size)
    drawn = sample_codes(prior, size, model.code_shapes(), seed, temperature, top_k, label=labels)
    pool = model.decode_batched(drawn)
    kept, _ = realism_filter(pool, train_recon, n_fit, n, seed)
    return model, [c[kept] for c in drawn], pool[kept], None if labels is None else labels[kept]


def generate(run_dir, n: int, seed: int = 0, temperature: float | list[float] = 1.0, top_k: int | None = None,
             label: int | None = None, candidates: int = 1, filter_candidates: int = 1, filter_fit: int = 1024):
    """n new slices (N, 1, S, S), their code maps and their labels, from the run's prior. A class-conditioned prior
    (`prior.classes` slice-position buckets) draws every sample at `label`, or, without one, cycles through the
    buckets so the samples cover the stack as real slices do; labels is None for an unconditioned prior.
    `candidates` > 1 draws that many maps for each sample (same label) and keeps the most self-consistent one
    (`VQModel.consistency`): rejection sampling that trades some diversity for fewer broken samples.
    `filter_candidates` M > 1 draws `filter_fit` more maps (at most one a training slice) to fit a classifier against
    reconstructions of the training slices, then n * M candidates, and keeps the n it finds most real
    (`rejection.realism_filter`); needs the run's training data."""
    from .errors import VqmriError
    from .sampling import sample_codes
    from .training.prior import load_prior

    model = load(run_dir)
    prior = load_prior(model.run)
    k = prior.num_classes
    if label is not None and not (k and 0 <= label < k):
        raise VqmriError(f"--label {label}: this prior has {k or 'no'} slice-position classes"
                         + (f"; choose 0..{k - 1}" if k else "; train it with prior.classes=N to use labels"))
    labels = _sample_labels(k, label, n)
    if isinstance(temperature, (list, tuple)) and len(temperature) != len(model.code_shapes()):
        raise VqmriError(f"--temperature {','.join(map(str, temperature))}: give one temperature, or one per level "
                         f"({len(model.code_shapes())} here, top first)")
    if candidates < 1:
        raise VqmriError(f"--candidates {candidates}: give 1 (no selection) or more")
    if filter_candidates < 1:
        raise VqmriError(f"--filter {filter_candidates}: give 1 (no selection) or more")
    if candidates > 1 and filter_candidates > 1:
        raise VqmriError("--candidates and --filter are two ways to select samples: use one of them")
    if filter_candidates > 1:
        return _generate_filtered(model, prior, n, seed, temperature, top_k, label, filter_candidates, filter_fit)
    drawn = sample_codes(prior, n * candidates, model.code_shapes(), seed, temperature, top_k,
                         label=None if labels is None else labels.repeat(candidates))
    if candidates == 1:
        codes = drawn
    else:  # candidate j of sample i is row j * n + i
        best = model.consistency(drawn).view(candidates, n).argmax(0)
        codes = [c.view(candidates, n, *c.shape[1:])[best, torch.arange(n)] for c in drawn]
    return model, codes, model.decode(codes), labels
