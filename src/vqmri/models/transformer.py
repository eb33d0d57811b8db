"""A decoder-only transformer prior over a code map (the prior of VQGAN, Esser et al. 2021), beside the gated
PixelCNN: every code attends to every earlier code in raster order, so a sample's far corners agree, which a
PixelCNN's local receptive field only reaches through depth.

codes (B, h, w) int -> logits (B, K, h, w); position t sees codes 0..t-1 only.
- Input at position t: the embedding of code t-1 (a start token at t = 0) plus a learned 2D position embedding of t
  (row + column), plus the slice-position class embedding and a spatial conditioning map (the upsampled top codes
  of VQ-VAE-2) at t. Position t therefore knows where it is and what it conditions on, never its own code.
- Pre-norm blocks with causal scaled-dot-product attention; `step` runs one position with a key/value cache so a
  sample costs one pass over the sequence.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        return tuple(z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D), causal."""
        q, k, v = self._split(x)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(x.shape))

    def step(self, x: torch.Tensor, cache: dict, t: int) -> torch.Tensor:
        """x (B, 1, D) at position t; `cache` holds keys and values (B, H, T, D/H) of positions < t and gains t's."""
        q, k, v = self._split(x)
        if "k" not in cache:
            cache["k"] = k.new_zeros(k.shape[0], k.shape[1], cache["length"], k.shape[3])
            cache["v"] = torch.zeros_like(cache["k"])
        cache["k"][:, :, t:t + 1], cache["v"][:, :, t:t + 1] = k, v
        y = F.scaled_dot_product_attention(q, cache["k"][:, :, :t + 1], cache["v"][:, :, :t + 1])
        return self.proj(y.transpose(1, 2).reshape(x.shape))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))

    def step(self, x: torch.Tensor, cache: dict, t: int) -> torch.Tensor:
        x = x + self.attn.step(self.ln1(x), cache, t)
        return x + self.mlp(self.ln2(x))


class CodeTransformer(nn.Module):
    """Same interface as `GatedPixelCNN`: forward(codes, cond, label) -> logits (B, K, h, w)."""

    def __init__(self, codebook_size: int, shape: tuple[int, int], dim: int = 128, layers: int = 4, heads: int = 4,
                 cond_channels: int = 0, num_classes: int = 0, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"prior.channels ({dim}) must be a multiple of prior.heads ({heads})")
        self.codebook_size, self.shape = codebook_size, tuple(shape)
        self.embed = nn.Embedding(codebook_size + 1, dim)  # the last id is the start token
        self.row = nn.Parameter(torch.zeros(shape[0], 1, dim))
        self.col = nn.Parameter(torch.zeros(1, shape[1], dim))
        nn.init.normal_(self.row, std=0.02)
        nn.init.normal_(self.col, std=0.02)
        self.cond = nn.Conv2d(cond_channels, dim, 1) if cond_channels else None
        self.label = nn.Embedding(num_classes, dim) if num_classes else None
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, codebook_size)

    def _context(self, n: int, cond: torch.Tensor | None, label: torch.Tensor | None) -> torch.Tensor:
        """What each position is told besides the codes before it: (n or 1, T, D)."""
        ctx = (self.row + self.col).flatten(0, 1)[None]
        if self.cond is not None and cond is not None:
            ctx = ctx + self.cond(cond).flatten(2).transpose(1, 2)
        if self.label is not None and label is not None:
            ctx = ctx + self.label(label)[:, None]
        return ctx.expand(n, -1, -1) if ctx.shape[0] == 1 else ctx

    def forward(self, codes: torch.Tensor, cond: torch.Tensor | None = None,
                label: torch.Tensor | None = None) -> torch.Tensor:
        b, h, w = codes.shape
        flat = codes.flatten(1)
        start = torch.full((b, 1), self.codebook_size, dtype=flat.dtype, device=flat.device)
        x = self.drop(self.embed(torch.cat([start, flat[:, :-1]], 1)) + self._context(b, cond, label))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x)).transpose(1, 2).reshape(b, self.codebook_size, h, w)

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, int], draw, cond: torch.Tensor | None = None,
               label: torch.Tensor | None = None, fixed: tuple[torch.Tensor, torch.Tensor] | None = None,
               gen: torch.Generator | None = None, given: torch.Tensor | None = None) -> torch.Tensor:
        """n code maps (n, h, w), one position at a time with a key/value cache; `draw(logits (n, K)) -> (n,)`
        samples codes (`gen`: the priors' common argument, unused here). `fixed` = (codes, redraw) (n, h, w): only
        positions where `redraw` is true are drawn, the others keep `codes`. With `given` codes nothing is drawn and
        the logits (n, K, h, w) are returned (teacher forcing through the cached path; tests compare it with
        `forward`)."""
        if tuple(shape) != tuple(self.shape):
            raise ValueError(f"this transformer draws {tuple(self.shape)} code maps, not {tuple(shape)}")
        h, w = self.shape
        length = h * w
        ctx = self._context(n, cond, label)
        keep = None if fixed is None else tuple(f.flatten(1).to(ctx.device) for f in fixed)
        caches = [{"length": length} for _ in self.blocks]
        codes = torch.zeros(n, length, dtype=torch.long, device=ctx.device)
        logits_all = []
        prev = torch.full((n,), self.codebook_size, dtype=torch.long, device=ctx.device)
        for t in range(length):
            x = self.embed(prev)[:, None] + ctx[:, t:t + 1]
            for blk, cache in zip(self.blocks, caches):
                x = blk.step(x, cache, t)
            logits = self.head(self.ln(x))[:, 0]
            if given is not None:
                logits_all.append(logits)
                prev = given.flatten(1)[:, t]
                continue
            drawn = draw(logits).to(ctx.device)
            prev = codes[:, t] = drawn if keep is None else torch.where(keep[1][:, t], drawn, keep[0][:, t])
        if given is not None:
            return torch.stack(logits_all, 2).view(n, self.codebook_size, h, w)
        return codes.view(n, h, w)
