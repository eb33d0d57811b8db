"""Ancestral sampling from the PixelCNN prior, batched over all N samples.

Cached path: every activation is computed exactly once. When a row is complete, each block's vertical stack
advances by that one row (its inputs, the rows above, never change again); for each pixel, each block's horizontal
stack computes only that pixel's column from cached neighbours. Sampling N maps therefore costs about one forward
pass of the network instead of H x W of them. The result is identical to the naive loop (one full forward per
pixel), which `naive=True` keeps for benchmarks and tests.
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
def sample_level(net: GatedPixelCNN, n: int, shape: tuple[int, int], gen: torch.Generator | None, cond=None,
                 label=None, temperature: float = 1.0, top_k: int | None = None, naive: bool = False,
                 given: torch.Tensor | None = None):
    """Sample n code maps of `shape` (B, H, W). With `given` codes (teacher forcing) nothing is drawn and the
    logits (B, K, H, W) are returned instead, which tests compare with the full forward pass."""
    h, w = shape
    dev = net.embed.weight.device
    if naive:
        codes = torch.zeros(n, h, w, dtype=torch.long, device=dev)
        for i in range(h):
            for j in range(w):
                codes[:, i, j] = _draw(net(codes, cond, label)[:, :, i, j], temperature, top_k, gen)
        return codes
    p, blocks = net.kernel_size // 2, net.blocks
    ch = net.embed.embedding_dim
    codes = given.clone() if given is not None else torch.zeros(n, h, w, dtype=torch.long, device=dev)
    all_logits = torch.zeros(n, net.codebook_size, h, w, device=dev) if given is not None else None
    # vin[l]: input of block l's vertical stack for every row so far, with p zero rows on top.
    vin = [torch.zeros(n, ch, h + p, w, device=dev) for _ in blocks]
    prev_pre = [torch.zeros(n, 2 * ch, 1, w, device=dev) for _ in blocks]  # row i-1 pre-activations (0 above row 0)
    for i in range(h):
        links = [blk.v_to_h(prev_pre[l]) for l, blk in enumerate(blocks)]
        crow = None if cond is None else cond[..., i:i + 1, :]
        # hin[l]: input of block l's horizontal stack on row i, with p zero columns on the left.
        hin = [torch.zeros(n, ch, 1, w + p, device=dev) for _ in blocks]
        for j in range(w):
            ccol = None if crow is None else crow[..., j:j + 1]
            out = None
            for l, blk in enumerate(blocks):
                slab = hin[0][..., j:j + p] if blk.first else hin[l][..., j:j + p + 1]
                out = blk.horizontal_column(slab, links[l][..., j:j + 1], ccol, label)
                if l + 1 < len(blocks):
                    hin[l + 1][..., j + p:j + p + 1] = out
            logits = net.head(out)[:, :, 0, 0]
            if given is None:
                codes[:, i, j] = _draw(logits, temperature, top_k, gen)
            else:
                all_logits[:, :, i, j] = logits
            hin[0][:, :, 0, j + p] = net.embed(codes[:, i, j])
        # row i is complete: one row of the vertical stack per block
        vin[0][:, :, i + p] = net.embed(codes[:, i]).permute(0, 2, 1)
        for l, blk in enumerate(blocks):
            v_out, prev_pre[l] = blk.vertical_row(vin[l][:, :, i:i + p + 1], crow, label)
            if l + 1 < len(blocks):
                vin[l + 1][:, :, i + p:i + p + 1] = v_out
    return all_logits if given is not None else codes


@torch.no_grad()
def sample_codes(prior: CodePrior, n: int, shapes: list[tuple[int, int]], seed: int = 0,
                 temperature: float | list[float] = 1.0,
                 top_k: int | None = None, batch_size: int = 256, naive: bool = False, label=None) -> list[torch.Tensor]:
    """N code maps per level (top first); the same seed gives the same samples. `temperature`: one for all levels
    or one per level (a VQ-VAE-2 bottom drawn cooler than its top keeps the top's anatomy with less speckle)."""
    temps = list(temperature) if isinstance(temperature, (list, tuple)) else [temperature] * len(shapes)
    gen = torch.Generator().manual_seed(seed)
    prior.eval()
    out: list[list[torch.Tensor]] = [[] for _ in shapes]
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        lab = None if label is None else label[start:start + b]
        level_codes: list[torch.Tensor] = []
        for lvl, (net, shape) in enumerate(zip(prior.nets, shapes)):
            cond = prior.condition(lvl, level_codes, b)
            level_codes.append(sample_level(net, b, shape, gen, cond, lab, temps[lvl], top_k, naive))
        for lvl, c in enumerate(level_codes):
            out[lvl].append(c.cpu())
    return [torch.cat(o) for o in out]
