"""Sampling from the prior, batched over all N samples. Every prior network draws through one interface,
`net.sample(n, shape, draw, cond, label, fixed, gen)`: ancestral for the PixelCNN (cached rows and columns) and the
transformer (KV cache), parallel steps for the masked-code model. This module checks the sampling arguments once
(for the CLI and the API alike) and makes `draw`, the one place where temperature, top-k and top-p act.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import torch

from ..errors import VqmriError
from ..models.maskgit import MaskedCodeModel
from ..models.pixelcnn import GatedPixelCNN
from ..models.prior import CodePrior


def check_sampling(levels: int, temperature: float | list[float] = 1.0, top_k: int | None = None,
                   top_p: float | None = None) -> list[float]:
    """The one check of sampling arguments, for the command line and Python callers alike: one line naming the flag
    for a bad value. Returns one temperature a level."""
    temps = list(temperature) if isinstance(temperature, (list, tuple)) else [temperature]
    if any(isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < float("inf") for t in temps):
        raise VqmriError(f"--temperature {temperature}: give finite numbers above 0 (e.g. 1.0, or 1.0,0.5)")
    if len(temps) == 1:
        temps = temps * levels
    if len(temps) != levels:
        raise VqmriError(f"--temperature {','.join(map(str, temps))}: give one temperature, or one per level "
                         f"({levels} here, top first)")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise VqmriError(f"--top-k {top_k}: give at least 1 (or leave it out to draw from every code)")
    if top_p is not None and not 0 < top_p <= 1:
        raise VqmriError(f"--top-p {top_p}: give a probability mass above 0 and at most 1 (1: no truncation)")
    return [float(t) for t in temps]


def _draw(logits: torch.Tensor, temperature: float, top_k: int | None, gen: torch.Generator,
          top_p: float | None = None) -> torch.Tensor:
    """logits (B, K) -> (B,) samples with temperature and optional top-k and nucleus (top-p, Holtzman et al. 2020)
    truncation: top-p keeps the fewest most likely codes whose probabilities add up to at least p."""
    logits = logits.float() / max(temperature, 1e-6)
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = logits.sort(-1, descending=True)
        before = sorted_logits.softmax(-1).cumsum(-1) - sorted_logits.softmax(-1)  # mass of the more likely codes
        drop = torch.zeros_like(before, dtype=torch.bool).scatter(-1, order, before >= top_p)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = torch.softmax(logits, -1)
    return torch.multinomial(probs.cpu(), 1, generator=gen).squeeze(1).to(logits.device)


def keep_top(top: torch.Tensor, bottom_shape: tuple[int, int], bottom: torch.Tensor | None = None,
             redraw: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`fixed` for `sample_codes` on two levels: the top (N, h, w) kept; the bottom drawn where `redraw` (N, H, W)
    (default: all of it), `bottom` kept elsewhere (default: nothing to keep)."""
    n = len(top)
    bottom = torch.zeros(n, *bottom_shape, dtype=torch.long) if bottom is None else bottom
    redraw = torch.ones(n, *bottom_shape, dtype=torch.bool) if redraw is None else redraw
    return [(top, torch.zeros_like(top, dtype=torch.bool)), (bottom, redraw)]


@contextmanager
def parallel_steps(prior: CodePrior, steps: int | list[int] | None) -> Iterator[None]:
    """Within the block, the masked-code levels draw in `steps` parallel steps (one count, or one a level, top
    first; a raster level's count is not used); None: each level's own (`prior.steps`). More steps commit fewer
    codes at once: slower, and each code sees more of its drawn neighbours."""
    if steps is None:
        yield
        return
    counts = list(steps) if isinstance(steps, (list, tuple)) else [steps]
    if any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in counts) or len(counts) not in (
            1, prior.levels):
        raise VqmriError(f"--steps {','.join(map(str, counts))}: give one whole number of at least 1, or one a level "
                         f"({prior.levels} here, top first)")
    masked = [net for net in prior.nets if isinstance(net, MaskedCodeModel)]
    if not masked:
        raise VqmriError("--steps: this run's prior draws in raster order (prior.arch=pixelcnn or transformer); "
                         "steps apply to masked-code levels (prior.arch=maskgit)")
    counts = counts * prior.levels if len(counts) == 1 else counts
    before = [getattr(net, "steps", None) for net in prior.nets]
    try:
        for net, c in zip(prior.nets, counts):
            if isinstance(net, MaskedCodeModel):
                net.steps = c
        yield
    finally:
        for net, b in zip(prior.nets, before):
            if b is not None:
                net.steps = b


@torch.no_grad()
def sample_codes(prior: CodePrior, n: int, shapes: list[tuple[int, int]], seed: int = 0,
                 temperature: float | list[float] = 1.0,
                 top_k: int | None = None, batch_size: int = 256, naive: bool = False, label=None,
                 top_p: float | None = None,
                 fixed: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                 levels: int | None = None) -> list[torch.Tensor]:
    """N code maps per level (top first); the same seed gives the same samples. `temperature`: one for all levels
    or one per level (a VQ-VAE-2 bottom drawn cooler than its top keeps the top's anatomy with less speckle).
    `fixed`: per level (codes (N, h, w), redraw (N, h, w) bool): draw only where `redraw`, keep `codes` elsewhere
    (a level with nothing to redraw is kept as it is). `levels`: draw only the first this many levels. `naive`: the
    PixelCNN's uncached loop (benchmarks and tests)."""
    temps = check_sampling(len(shapes), temperature, top_k, top_p)
    shapes = shapes[:levels]
    gen = torch.Generator().manual_seed(seed)
    prior.eval()
    out: list[list[torch.Tensor]] = [[] for _ in shapes]
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        lab = None if label is None else label[start:start + b]
        level_codes: list[torch.Tensor] = []
        for lvl, (net, shape) in enumerate(zip(prior.nets, shapes)):
            cond = prior.condition(lvl, level_codes, b)
            keep = None if fixed is None else tuple(f[start:start + b] for f in fixed[lvl])
            if keep is not None and not keep[1].any():
                level_codes.append(keep[0].to(net.embed.weight.device))
                continue
            draw = partial(_draw, temperature=temps[lvl], top_k=top_k, gen=gen, top_p=top_p)
            extra = {"naive": True} if naive and isinstance(net, GatedPixelCNN) else {}
            level_codes.append(net.sample(b, shape, draw, cond, lab, keep, gen, **extra))
        for lvl, c in enumerate(level_codes):
            out[lvl].append(c.cpu())
    return [torch.cat(o) for o in out]
