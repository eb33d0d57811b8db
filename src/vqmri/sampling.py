"""Ancestral sampling from the PixelCNN prior, batched over all N samples.

Fast path: the vertical stack depends only on rows above, so it is computed once per row (on the rows within its
reach only); per pixel only the current row of the horizontal stack is recomputed. The result is identical to the
naive loop (one full forward per pixel), which `naive=True` keeps for benchmarks and tests.
"""
from __future__ import annotations

import torch

from .models.pixelcnn import GatedPixelCNN
from .models.prior import CodePrior


def _draw(logits: torch.Tensor, temperature: float, top_k: int | None, gen: torch.Generator) -> torch.Tensor:
    """logits (B, K) -> (B,) samples with temperature and optional top-k truncation."""
    logits = logits.float() / max(temperature, 1e-6)
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, -1)
    return torch.multinomial(probs.cpu(), 1, generator=gen).squeeze(1).to(logits.device)


@torch.no_grad()
def sample_level(net: GatedPixelCNN, n: int, shape: tuple[int, int], gen: torch.Generator, cond=None, label=None,
                 temperature: float = 1.0, top_k: int | None = None, naive: bool = False) -> torch.Tensor:
    h, w = shape
    dev = net.embed.weight.device
    codes = torch.zeros(n, h, w, dtype=torch.long, device=dev)
    reach = net.vertical_reach
    for i in range(h):
        if not naive:
            lo = max(0, i - reach)
            links = net.vertical_links(codes[:, lo:i], w, None if cond is None else cond[..., lo:i, :], label)
            cond_row = None if cond is None else cond[..., i:i + 1, :]
        for j in range(w):
            if naive:
                logits = net(codes, cond, label)[:, :, i, j]
            else:
                logits = net.row_logits(codes[:, i:i + 1], links, cond_row, label)[:, :, 0, j]
            codes[:, i, j] = _draw(logits, temperature, top_k, gen)
    return codes


@torch.no_grad()
def sample_codes(prior: CodePrior, n: int, shapes: list[tuple[int, int]], seed: int = 0, temperature: float = 1.0,
                 top_k: int | None = None, batch_size: int = 256, naive: bool = False, label=None) -> list[torch.Tensor]:
    """N code maps per level (top first); the same seed gives the same samples."""
    gen = torch.Generator().manual_seed(seed)
    prior.eval()
    out: list[list[torch.Tensor]] = [[] for _ in shapes]
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        lab = None if label is None else label[start:start + b]
        level_codes: list[torch.Tensor] = []
        for lvl, (net, shape) in enumerate(zip(prior.nets, shapes)):
            cond = prior.condition(lvl, level_codes) if lvl > 0 else None
            level_codes.append(sample_level(net, b, shape, gen, cond, lab, temperature, top_k, naive))
        for lvl, c in enumerate(level_codes):
            out[lvl].append(c.cpu())
    return [torch.cat(o) for o in out]
