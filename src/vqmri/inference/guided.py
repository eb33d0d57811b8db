"""Two-level sampling with the bottom started from the top (issue 40): the top is drawn by the prior; the bottom
starts as the code map that reproduces the top's own decoding beneath it, and the bottom prior redraws the
`redraw` share of it: the codes it finds least likely given the top and the codes kept around them
(`choice="unlikely"`), or codes picked at random (`choice="random"`: the redrawn detail spread evenly instead of
gathered on the edges, where the top's decoding is least likely).

Why: a bottom prior drawing a whole 32x32 map from nothing follows its neighbours far more than its 8x8 top (bits
per bottom code are nearly the same given the true or a shuffled top: benchmarks/RESULTS.md), so its slices are
brain texture without the top's anatomy. Started from the top's decoding, every kept code holds that anatomy in
place and the redrawn ones add the detail the top cannot carry (SDEdit, Meng et al. 2022, in code space).
`redraw=1` draws the whole bottom from the prior as before.
"""
from __future__ import annotations

import torch

from ..errors import VqmriError
from ..models.prior import CodePrior
from ..vqmodel import VQModel
from .healing import code_nll
from .sampling import keep_top, sample_codes

CHOICES = ("unlikely", "random")


def check_redraw(redraw: float) -> float:
    if isinstance(redraw, bool) or not isinstance(redraw, (int, float)) or not 0 < redraw <= 1:
        raise VqmriError(f"--bottom-redraw {redraw}: give the share of bottom codes the prior redraws, above 0 and "
                         "at most 1 (1: the whole bottom drawn by the prior)")
    return float(redraw)


def lowest_share(scores: torch.Tensor, share: float) -> torch.Tensor:
    """(N, h, w) bool: per map, the `share` of positions with the lowest `scores` (N, h, w), at least one."""
    rank = scores.flatten(1).argsort(1).argsort(1).view_as(scores)
    return rank < max(1, round(share * scores[0].numel()))


@torch.no_grad()
def least_likely(prior: CodePrior, codes: list[torch.Tensor], share: float, label=None) -> torch.Tensor:
    """(N, h, w) bool: per map, the `share` of bottom codes with the lowest probability under the bottom prior given
    the top and their surroundings (`healing.code_nll`); every code at `share` 1."""
    return lowest_share(-code_nll(prior, codes, label, levels=[1])[0], share)


@torch.no_grad()
def start_bottom(model: VQModel, top: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """(N, h, w) top codes -> the bottom codes (N, 4h', 4w') that reproduce the top's own decoding beneath it."""
    dev = model.device
    return torch.cat([model.net.encode_bottom(model.net.decode_top(t), t).cpu()
                      for t in top.to(dev).split(batch_size)])


@torch.no_grad()
def sample_guided(model: VQModel, prior: CodePrior, n: int, seed: int = 0, temperature: float | list[float] = 1.0,
                  top_k: int | None = None, top_p: float | None = None, label=None, redraw: float = 0.5,
                  batch_size: int = 64, choice: str = "unlikely", top: torch.Tensor | None = None
                  ) -> list[torch.Tensor]:
    """n two-level code maps [top (n, h, w), bottom (n, 4h', 4w')]: the top drawn by the prior (or `top`, tops
    chosen already), the bottom started from the top's own decoding and a `redraw` share of it redrawn, chosen by
    `choice` (the module's docstring)."""
    shapes = model.code_shapes()
    if len(shapes) != 2 or not hasattr(model.net, "encode_bottom"):
        raise VqmriError("--bottom-redraw applies to two-level (model.arch=vqvae2) runs only")
    if choice not in CHOICES:
        raise VqmriError(f"--bottom-choice {choice}: choose {' or '.join(CHOICES)}")
    redraw = check_redraw(redraw)
    gen = torch.Generator().manual_seed(seed + 2)
    if top is None:
        top = sample_codes(prior, n, shapes, seed, temperature, top_k, label=label, top_p=top_p, levels=1)[0]
    dev, chosen = model.device, []
    bottom = start_bottom(model, top, batch_size)
    for i in range(0, n, batch_size):
        t, b = top[i:i + batch_size].to(dev), bottom[i:i + batch_size].to(dev)
        lab = None if label is None else label[i:i + batch_size].to(dev)
        chosen.append(least_likely(prior, [t, b], redraw, lab).cpu() if choice == "unlikely"
                      else lowest_share(torch.rand(b.shape, generator=gen), redraw))
    fixed = keep_top(top, shapes[1], bottom, torch.cat(chosen))
    return sample_codes(prior, n, shapes, seed + 1, temperature, top_k, label=label, top_p=top_p, fixed=fixed)
