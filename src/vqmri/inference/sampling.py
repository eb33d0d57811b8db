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


def _per_level(prior: CodePrior, value, flag: str, least: float, whole: bool) -> list:
    """One value a level from one value or one a level (top first), each at least `least` (whole numbers if
    `whole`); rounds or guidance asked of a raster level alone, or guidance without label dropout, are refused
    (a raster level takes no steps either, but a count for it is harmless). One line naming `flag` a bad value."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    said = f"{flag} {','.join(map(str, values))}"
    kinds = int if whole else (int, float)
    if any(isinstance(v, bool) or not isinstance(v, kinds) or not least <= v < float("inf") for v in values) or len(
            values) not in (1, prior.levels):
        raise VqmriError(f"{said}: give one {'whole ' if whole else ''}number of at least {least:g}, or one a level "
                         f"({prior.levels} here, top first)")
    masked = [isinstance(net, MaskedCodeModel) for net in prior.nets]
    if not any(masked):
        raise VqmriError(f"{said}: this run's prior draws in raster order (prior.arch=pixelcnn or transformer); "
                         f"{flag} applies to masked-code levels (prior.arch=maskgit)")
    values = values * prior.levels if len(values) == 1 else values
    for level, (net, v, is_masked) in enumerate(zip(prior.nets, values, masked)):
        if flag in ("--refine", "--guidance") and len(set(values)) > 1 and v != least and not is_masked:
            raise VqmriError(f"{said}: the prior draws level {level} in raster order; give {least:g} for it")
        if v and flag == "--guidance" and is_masked and net.null_label is None:
            raise VqmriError(f"{said}: guidance needs a prior trained with prior.label_dropout above 0 and "
                             f"prior.classes; train one (`vqmri train-prior RUN prior.label_dropout=0.1`) or give 0")
    return values


SETTINGS = {"steps": ("--steps", 1, True, "steps"), "refine": ("--refine", 0, True, "refine_rounds"),
            "refine_share": ("--refine-share", 0, False, "refine_share"),
            "guidance": ("--guidance", 0, False, "guidance"),
            "choice_temperature": ("--choice-temperature", 0, False, "choice_temperature")}


@contextmanager
def masked_sampling(prior: CodePrior, steps: int | list[int] | None = None, refine: int | list[int] | None = None,
                    refine_share: float | None = None, guidance: float | list[float] | None = None,
                    choice_temperature: float | list[float] | None = None) -> Iterator[None]:
    """Within the block, the masked-code levels draw in `steps` parallel steps, then `refine` corrector rounds of
    `refine_share` of each map, with classifier-free `guidance` towards the slice-position label (each one value, or
    one a level, top first; `MaskedCodeModel.sample`), keeping drawn codes by confidence plus `choice_temperature`
    times noise; None: each level's own, from the run's `prior.*`. Checked on
    entry (one line naming the flag); the prior keeps its own settings afterwards."""
    asked = {k: v for k, v in (("steps", steps), ("refine", refine), ("refine_share", refine_share),
                               ("guidance", guidance), ("choice_temperature", choice_temperature))
             if v is not None}
    if "refine_share" in asked and not (isinstance(refine_share, (int, float)) and 0 < refine_share < 1):
        raise VqmriError(f"--refine-share {refine_share}: give a share above 0 and below 1 (0.25: a quarter of each "
                         f"map)")
    values = {k: _per_level(prior, v, *SETTINGS[k][:3]) for k, v in asked.items()}
    nets = [net for net in prior.nets if isinstance(net, MaskedCodeModel)]
    before = [{k: getattr(net, SETTINGS[k][3]) for k in values} for net in nets]
    try:
        for k, per_level in values.items():
            for net, v in zip(prior.nets, per_level):
                if isinstance(net, MaskedCodeModel):
                    setattr(net, SETTINGS[k][3], v)
        yield
    finally:
        for net, b in zip(nets, before):
            for k, v in b.items():
                setattr(net, SETTINGS[k][3], v)


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
    (a level with nothing to redraw is kept as it is). A prior with a Gaussian top (`prior.top_sampler=gaussian`)
    draws a whole top from it, its temperature scaling the draw's deviation from the mean; a top with codes to keep
    is drawn by the top network. `levels`: draw only the first this many levels. `naive`: the
    PixelCNN's uncached loop (benchmarks and tests). How masked-code levels draw: `masked_sampling`."""
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
            if lvl == 0 and keep is None and prior.gaussian_top is not None:  # a whole top from the Gaussian
                level_codes.append(prior.gaussian_top.sample(b, lab, temps[0], gen))
                continue
            draw = partial(_draw, temperature=temps[lvl], top_k=top_k, gen=gen, top_p=top_p)
            extra = {"naive": True} if naive and isinstance(net, GatedPixelCNN) else {}
            level_codes.append(net.sample(b, shape, draw, cond, lab, keep, gen, **extra))
        for lvl, c in enumerate(level_codes):
            out[lvl].append(c.cpu())
    return [torch.cat(o) for o in out]
