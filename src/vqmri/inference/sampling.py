"""Sampling from the prior, batched over all N samples: ancestral for the PixelCNN and the transformer (KV cache),
parallel steps for the masked-code model (`MaskedCodeModel.sample`).

Cached path: every activation is computed exactly once. When a row is complete, each block's vertical stack
advances by that one row (its inputs, the rows above, never change again); for each pixel, each block's horizontal
stack computes only that pixel's column from cached neighbours. Sampling N maps therefore costs about one forward
pass of the network instead of H x W of them. The result is identical to the naive loop (one full forward per
pixel), which `naive=True` keeps for benchmarks and tests.
"""
from __future__ import annotations

import torch

from ..errors import VqmriError
from ..models.maskgit import MaskedCodeModel
from ..models.pixelcnn import GatedPixelCNN
from ..models.prior import CodePrior
from ..models.transformer import CodeTransformer
from ..progress import bar


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


@torch.no_grad()
def sample_level(net: GatedPixelCNN, n: int, shape: tuple[int, int], gen: torch.Generator | None, cond=None,
                 label=None, temperature: float = 1.0, top_k: int | None = None, naive: bool = False,
                 given: torch.Tensor | None = None, top_p: float | None = None,
                 fixed: tuple[torch.Tensor, torch.Tensor] | None = None):
    """Sample n code maps of `shape` (B, H, W). With `given` codes (teacher forcing) nothing is drawn and the
    logits (B, K, H, W) are returned instead, which tests compare with the full forward pass. `fixed` = (codes,
    redraw), both (B, H, W): only positions where `redraw` is true are drawn, the others keep `codes` (healing and
    inpainting); drawn positions see the kept codes before them in raster order."""
    h, w = shape
    dev = net.embed.weight.device
    if naive:
        codes = torch.zeros(n, h, w, dtype=torch.long, device=dev)
        for i in range(h):
            for j in range(w):
                codes[:, i, j] = _draw(net(codes, cond, label)[:, :, i, j], temperature, top_k, gen, top_p)
                if fixed is not None:
                    codes[:, i, j] = torch.where(fixed[1][:, i, j], codes[:, i, j], fixed[0][:, i, j])
        return codes
    p, blocks = net.kernel_size // 2, net.blocks
    ch = net.embed.embedding_dim
    codes = given.clone() if given is not None else torch.zeros(n, h, w, dtype=torch.long, device=dev)
    all_logits = torch.zeros(n, net.codebook_size, h, w, device=dev) if given is not None else None
    # vin[k]: input of block k's vertical stack for every row so far, with p zero rows on top.
    vin = [torch.zeros(n, ch, h + p, w, device=dev) for _ in blocks]
    prev_pre = [torch.zeros(n, 2 * ch, 1, w, device=dev) for _ in blocks]  # row i-1 pre-activations (0 above row 0)
    for i in bar(range(h), f"sampling {n} maps, rows", h, "row"):
        links = [blk.v_to_h(prev_pre[k]) for k, blk in enumerate(blocks)]
        crow = None if cond is None else cond[..., i:i + 1, :]
        # hin[k]: input of block k's horizontal stack on row i, with p zero columns on the left.
        hin = [torch.zeros(n, ch, 1, w + p, device=dev) for _ in blocks]
        for j in range(w):
            ccol = None if crow is None else crow[..., j:j + 1]
            out = None
            for k, blk in enumerate(blocks):
                slab = hin[0][..., j:j + p] if blk.first else hin[k][..., j:j + p + 1]
                out = blk.horizontal_column(slab, links[k][..., j:j + 1], ccol, label)
                if k + 1 < len(blocks):
                    hin[k + 1][..., j + p:j + p + 1] = out
            logits = net.head(out)[:, :, 0, 0]
            if given is None:
                codes[:, i, j] = _draw(logits, temperature, top_k, gen, top_p)
                if fixed is not None:
                    codes[:, i, j] = torch.where(fixed[1][:, i, j], codes[:, i, j], fixed[0][:, i, j])
            else:
                all_logits[:, :, i, j] = logits
            hin[0][:, :, 0, j + p] = net.embed(codes[:, i, j])
        # row i is complete: one row of the vertical stack per block
        vin[0][:, :, i + p] = net.embed(codes[:, i]).permute(0, 2, 1)
        for k, blk in enumerate(blocks):
            v_out, prev_pre[k] = blk.vertical_row(vin[k][:, :, i:i + p + 1], crow, label)
            if k + 1 < len(blocks):
                vin[k + 1][:, :, i + p:i + p + 1] = v_out
    return all_logits if given is not None else codes


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
    (a level with nothing to redraw is kept as it is). `levels`: draw only the first this many levels."""
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
            elif isinstance(net, MaskedCodeModel):
                def draw_all(logits, temp=temps[lvl]):
                    return _draw(logits, temp, top_k, gen, top_p)
                level_codes.append(net.sample(b, shape, draw_all, cond, lab, keep, gen))
            elif isinstance(net, CodeTransformer):
                def draw(logits, t, temp=temps[lvl], keep=keep):
                    drawn = _draw(logits, temp, top_k, gen, top_p)
                    return drawn if keep is None else torch.where(keep[1].flatten(1)[:, t], drawn,
                                                                  keep[0].flatten(1)[:, t])
                level_codes.append(net.sample(b, draw, cond, lab))
            else:
                level_codes.append(sample_level(net, b, shape, gen, cond, lab, temps[lvl], top_k, naive, top_p=top_p,
                                                fixed=keep))
        for lvl, c in enumerate(level_codes):
            out[lvl].append(c.cpu())
    return [torch.cat(o) for o in out]
