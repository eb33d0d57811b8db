"""The prior used on real slices (Pinaya et al. 2022, "Unsupervised brain imaging 3D anomaly detection and
segmentation with transformers"): how likely each code of a slice is, "healing" (the unlikely codes redrawn from
the prior given the rest), anomaly maps, per-slice scores, and inpainting of a masked region.

Definitions (x: a slice at model size, in [0, 1]):
- code NLL: -log2 p(code | the codes before it in raster order[, the top codes][, the slice-position class]) under the
  prior, one map a level (bits). A class-conditioned prior is read at the class under which the whole slice is most
  likely: an input's place in its stack is rarely known.
- replaced: the codes whose probability is below `threshold` (NLL above -log2 threshold).
- healed: the mean of `resamples` decodings of the code map with the replaced codes redrawn from the prior (raster
  order, every other code kept).
- anomaly map: |x - healed| inside the replaced codes' footprint grown by one code on every side (each code covers
  its downsample x downsample block of pixels, and a redrawn code changes the decoding of its neighbours' blocks too;
  for VQ-VAE-2 the union of both levels' footprints), zero elsewhere, then smoothed by a Gaussian of SMOOTH px (at
  128 px, scaled with the model size): a lesion is a blob, while the healing noise of single pixels is not.
- score: the largest mean of the anomaly map over a square window of about a small lesion's size (7 px at 128 px,
  scaled with the model size), the map counted only on tissue (pixels of x above 0.1); higher = more anomalous. A
  lesion is local: a slice-wide mean dilutes it by the whole slice's healing noise (`slice_score`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import ANOMALY_RESAMPLES as RESAMPLES
from ..config import ANOMALY_THRESHOLD as THRESHOLD
from ..errors import VqmriError
from ..evaluation import metrics
from ..models.prior import CodePrior
from ..vqmodel import VQModel
from .sampling import sample_codes


@dataclass
class Anomaly:
    """What `anomaly` returns for B slices: healed (B, 1, S, S), anomaly map (B, 1, S, S) (higher = more anomalous),
    code NLL in bits (one (B, h, w) map a level), replaced codes (one (B, h, w) bool map a level), and per slice:
    score, replaced_fraction, ssim (input vs healed) and bits_per_code (mean code NLL)."""
    healed: torch.Tensor
    anomaly: torch.Tensor
    nll: list[torch.Tensor]
    replaced: list[torch.Tensor]
    score: torch.Tensor
    replaced_fraction: torch.Tensor
    ssim: torch.Tensor
    bits_per_code: torch.Tensor
    labels: torch.Tensor | None

    @classmethod
    def cat(cls, parts: list[Anomaly]) -> Anomaly:
        """Batches joined in order."""
        def join(values):
            if values[0] is None:
                return None
            if isinstance(values[0], list):  # one map a level
                return [torch.cat(level) for level in zip(*values)]
            return torch.cat(values)
        return cls(**{k: join([getattr(p, k) for p in parts]) for k in cls.__dataclass_fields__})


@torch.no_grad()
def code_nll(prior: CodePrior, codes: list[torch.Tensor], label: torch.Tensor | None = None,
             levels: list[int] | None = None) -> list[torch.Tensor]:
    """Per-code NLL in bits, one (B, h, w) map a level (or for `levels` only), each code given the codes before it
    (a masked-code level: around it) and the top level."""
    out = []
    for lvl in range(prior.levels) if levels is None else levels:
        logits = prior.code_logits(lvl, codes, label)
        out.append(F.cross_entropy(logits, codes[lvl], reduction="none") / math.log(2))
    return out


@torch.no_grad()
def likeliest_labels(prior: CodePrior, codes: list[torch.Tensor]) -> torch.Tensor | None:
    """For a class-conditioned prior, the slice-position class under which each slice's codes are most likely."""
    if not prior.num_classes:
        return None
    n, dev = len(codes[0]), codes[0].device
    totals = torch.stack([sum(m.flatten(1).sum(1) for m in code_nll(prior, codes, torch.full((n,), k, device=dev)))
                          for k in range(prior.num_classes)])
    return totals.argmin(0)


def footprint(masks: list[torch.Tensor], size: int, grow: int = 0) -> torch.Tensor:
    """Code masks (one (B, h, w) a level) -> the pixels they cover (B, 1, S, S), union over levels; `grow`: each
    mask first dilated by this many codes on every side."""
    if grow:
        masks = [F.max_pool2d(m[:, None].float(), 2 * grow + 1, 1, grow)[:, 0] for m in masks]
    return torch.stack([F.interpolate(m[:, None].float(), size=(size, size), mode="nearest") for m in masks]).amax(0)


def gaussian_blur(m: torch.Tensor, sigma: float) -> torch.Tensor:
    """Maps (B, 1, H, W) smoothed by a Gaussian of `sigma` px (separable, edges replicated); sigma <= 0: unchanged."""
    if sigma <= 0:
        return m
    r = math.ceil(3 * sigma)
    k = metrics.gaussian_1d(sigma, r, dtype=m.dtype, device=m.device)
    m = F.conv2d(F.pad(m, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(m, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


SMOOTH = 2.0  # sigma of the map's Gaussian, in px at 128 px (chosen on validate: benchmarks/RESULTS.md)


def anomaly(model: VQModel, prior: CodePrior, x: torch.Tensor, threshold: float = THRESHOLD,
            resamples: int = RESAMPLES, seed: int = 0, batch_size: int = 64) -> Anomaly:
    """Anomaly maps of slices x (B, 1, S, S) in [0, 1] at model size (see the module's definitions)."""
    if not 0 < threshold < 1:
        raise VqmriError(f"--threshold {threshold}: give a probability between 0 and 1 (e.g. 0.02): codes the prior "
                         "finds less likely than that are replaced")
    if resamples < 1:
        raise VqmriError(f"--resamples {resamples}: give at least 1")
    parts = [_anomaly_batch(model, prior, x[i: i + batch_size], threshold, resamples, seed + i)
             for i in range(0, len(x), batch_size)]
    return Anomaly.cat(parts)


TISSUE = 0.1  # intensity above which a pixel counts as tissue rather than air, for the slice score
WINDOW = 7  # the score's window at 128 px: about the smallest lesion worth a flag


def slice_score(amap: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Anomaly maps (B, 1, S, S) of slices x (B, 1, S, S) -> scores (B,): the largest WINDOW-sized window mean of
    the map over tissue (see the module's definitions)."""
    k = max(3, round(WINDOW * x.shape[-1] / 128)) | 1
    return F.avg_pool2d(amap * (x > TISSUE), k, 1, k // 2).flatten(1).amax(1)


@torch.no_grad()
def redraws(model: VQModel, prior: CodePrior, codes: list[torch.Tensor], replaced: list[torch.Tensor],
            labels: torch.Tensor | None, resamples: int, seed: int) -> torch.Tensor:
    """Code maps of B slices (one (B, h, w) a level) with the `replaced` codes (bool, same shapes) redrawn from the
    prior `resamples` times, every other code kept -> the decodings (resamples, B, 1, S, S); healing is their mean."""
    n = len(codes[0])
    # all redraws in one batch: the sampler's cost is mostly per position, not per map
    rep = lambda t: t.repeat(resamples, *[1] * (t.dim() - 1))  # noqa: E731
    drawn = sample_codes(prior, resamples * n, model.code_shapes(), seed,
                         label=None if labels is None else rep(labels),
                         fixed=[(rep(c), rep(m)) for c, m in zip(codes, replaced)], batch_size=resamples * n)
    return model.decode_batched(drawn).view(resamples, n, 1, model.image_size, model.image_size)


def _anomaly_batch(model: VQModel, prior: CodePrior, x: torch.Tensor, threshold: float, resamples: int,
                   seed: int) -> Anomaly:
    codes = model.encode(x)
    labels = likeliest_labels(prior, codes)
    nll = code_nll(prior, codes, labels)
    replaced = [n > -math.log2(threshold) for n in nll]
    healed = redraws(model, prior, codes, replaced, labels, resamples, seed).mean(0)
    area = footprint(replaced, model.image_size, grow=1)
    amap = gaussian_blur((x - healed).abs() * area, SMOOTH * x.shape[-1] / 128)
    n_codes = sum(m[0].numel() for m in replaced)
    return Anomaly(healed, amap, nll, replaced, slice_score(amap, x),
                   sum(m.flatten(1).sum(1) for m in replaced).float() / n_codes,
                   metrics.ssim(healed.clamp(0, 1), x), sum(n.flatten(1).sum(1) for n in nll) / n_codes, labels)


def inpaint(model: VQModel, prior: CodePrior, x: torch.Tensor, mask: torch.Tensor, n: int = 4,
            seed: int = 0) -> torch.Tensor:
    """n completions (n, 1, S, S) of one slice x (1, 1, S, S) inside `mask` (S, S) bool (true = fill in): the codes
    whose footprint touches the mask are redrawn from the prior, every other code kept; outside the mask the input's
    own pixels are kept. Raster-order priors condition each redrawn code on the codes before it (above, and left on
    its row), not on kept codes after it."""
    if mask.shape != x.shape[-2:]:
        raise VqmriError(f"the mask is {tuple(mask.shape)} but the slice is {tuple(x.shape[-2:])} at model size; "
                         "give a mask of the input's own size")
    if not mask.any():
        raise VqmriError("the mask is empty: mark the region to fill in with non-zero pixels")
    codes = [c.expand(n, -1, -1) for c in model.encode(x)]
    redraw = [F.adaptive_max_pool2d(mask[None, None].float(), c.shape[-2:])[0].bool().expand(n, -1, -1)
              for c in codes]
    labels = likeliest_labels(prior, [c[:1] for c in codes])
    drawn = sample_codes(prior, n, model.code_shapes(), seed, label=None if labels is None else labels.expand(n),
                         fixed=list(zip(codes, redraw)))
    return torch.where(mask[None, None], model.decode(drawn), x.expand(n, -1, -1, -1))
