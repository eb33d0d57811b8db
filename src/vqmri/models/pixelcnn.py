"""Gated PixelCNN prior over code maps (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
Decoders"): vertical and horizontal stacks, gated tanh x sigmoid units, no blind spot.

codes (B, H, W) int -> logits (B, K, H, W); position (i, j) sees only positions before it in raster order.
- Vertical stack: (k//2+1) x k convs padded so row i sees rows <= i; it feeds the horizontal stack shifted down one
  row, so the horizontal stack at row i only receives rows < i (this shift is what removes the blind spot).
- Horizontal stack: 1 x (k//2+1) convs on the current row, left of and including j; the first layer is masked
  ("A": excludes j), later layers include j ("B") and are residual.
- Conditioning: an optional class label (learned embedding) and/or a spatial map (B, C, H, W), e.g. the upsampled
  top codes of VQ-VAE-2, each added to the gates of every layer.
`vertical_row` and `horizontal_column` run one row of the vertical stack / one position of the horizontal stack,
so that `GatedPixelCNN.sample` computes every activation exactly once.

Cached sampling: when a row is complete, each block's vertical stack advances by that one row (its inputs, the rows
above, never change again); for each position, each block's horizontal stack computes only that position's column
from cached neighbours. Sampling N maps therefore costs about one forward pass instead of H x W of them, with the
same result as the naive loop (one full forward a position), which `naive=True` keeps for benchmarks and tests.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..progress import bar


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedBlock(nn.Module):
    def __init__(self, ch: int, k: int, first: bool, cond_ch: int = 0, num_classes: int = 0):
        super().__init__()
        self.first, self.k = first, k
        self.v_conv = nn.Conv2d(ch, 2 * ch, (k // 2 + 1, k))
        self.v_to_h = nn.Conv2d(2 * ch, 2 * ch, 1)
        self.h_conv = nn.Conv2d(ch, 2 * ch, (1, k // 2 + (0 if first else 1)))
        self.h_out = nn.Conv2d(ch, ch, 1)
        self.cond = nn.Conv2d(cond_ch, 4 * ch, 1) if cond_ch else None
        self.label = nn.Embedding(num_classes, 4 * ch) if num_classes else None

    def _cond(self, cond, label, like: torch.Tensor):
        """Conditioning terms for (vertical, horizontal) gates, broadcastable to `like` (B, 2C, h, w)."""
        cv = ch = 0
        if self.cond is not None:
            cv, ch = self.cond(cond).chunk(2, dim=1)
        if self.label is not None:
            lv, lh = self.label(label)[:, :, None, None].chunk(2, dim=1)
            cv, ch = cv + lv, ch + lh
        return cv, ch

    def vertical(self, v: torch.Tensor, cond=None, label=None):
        """v (B, C, h, W) -> (gated v_out, pre-activation) for the same rows."""
        k = self.k
        pre = self.v_conv(F.pad(v, (k // 2, k // 2, k // 2, 0)))
        cv, _ = self._cond(cond, label, pre)
        return _gate(pre + cv), pre

    def horizontal(self, h: torch.Tensor, link: torch.Tensor, cond=None, label=None) -> torch.Tensor:
        """h (B, C, h, W) with the vertical link for the same rows -> h_out."""
        k = self.k
        if self.first:  # mask A: columns < j only
            pre = self.h_conv(F.pad(h, (k // 2, 0, 0, 0))[..., :-1])
        else:
            pre = self.h_conv(F.pad(h, (k // 2, 0, 0, 0)))
        _, chh = self._cond(cond, label, link)
        out = self.h_out(_gate(pre + link + chh))
        return out if self.first else h + out

    # ---- one row / one column at a time, for cached sampling (sampling.py); same weights, same results
    def vertical_row(self, slab: torch.Tensor, cond_row=None, label=None):
        """slab: this block's vertical input, rows r-k//2..r (B, C, k//2+1, W) -> (v_out, pre) of row r."""
        pre = self.v_conv(F.pad(slab, (self.k // 2, self.k // 2, 0, 0)))
        cv, _ = self._cond(cond_row, label, pre)
        return _gate(pre + cv), pre

    def horizontal_column(self, slab: torch.Tensor, link_col: torch.Tensor, cond_col=None, label=None) -> torch.Tensor:
        """slab: horizontal input at columns j-k//2..j (j-1 for the first block), (B, C, 1, k//2[+1]) -> h_out at j."""
        _, chh = self._cond(cond_col, label, link_col)
        out = self.h_out(_gate(self.h_conv(slab) + link_col + chh))
        return out if self.first else slab[..., -1:] + out

    def link(self, v_pre: torch.Tensor) -> torch.Tensor:
        """Vertical pre-activations shifted down one row (row i gets row i-1) -> horizontal stack input."""
        return self.v_to_h(F.pad(v_pre, (0, 0, 1, 0))[..., :-1, :])


class GatedPixelCNN(nn.Module):
    def __init__(self, codebook_size: int, channels: int = 64, layers: int = 10, kernel_size: int = 5,
                 cond_channels: int = 0, num_classes: int = 0, dropout: float = 0.0):
        super().__init__()
        if kernel_size % 2 == 0 or kernel_size < 3:
            raise ValueError("kernel_size must be odd and >= 3")
        self.codebook_size, self.kernel_size, self.layers = codebook_size, kernel_size, layers
        self.embed = nn.Embedding(codebook_size, channels)
        self.blocks = nn.ModuleList(GatedBlock(channels, kernel_size, i == 0, cond_channels, num_classes)
                                    for i in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, 4 * channels, 1), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Conv2d(4 * channels, codebook_size, 1))

    def forward(self, codes: torch.Tensor, cond: torch.Tensor | None = None, label: torch.Tensor | None = None):
        x = self.embed(codes).permute(0, 3, 1, 2)
        v, h = x, x
        for b in self.blocks:
            v_new, pre = b.vertical(v, cond, label)
            h = b.horizontal(h, b.link(pre), cond, label)
            v = v_new
        return self.head(h)

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, int], draw, cond=None, label=None,
               fixed: tuple[torch.Tensor, torch.Tensor] | None = None, gen: torch.Generator | None = None,
               given: torch.Tensor | None = None, naive: bool = False) -> torch.Tensor:
        """n code maps (n, h, w) in raster order; `draw(logits (n, K)) -> (n,)` samples codes (temperature, top-k,
        top-p; `gen` is the priors' common argument, unused here: `draw` holds the generator). `fixed` = (codes,
        redraw), both (n, h, w): only positions where `redraw` is true are drawn, the others keep `codes`; drawn
        positions see the kept codes before them. With `given` codes nothing is drawn and the logits (n, K, h, w)
        are returned (teacher forcing through the cached path; tests compare it with `forward`)."""
        h, w = shape
        dev = self.embed.weight.device
        keep = (lambda drawn, i, j: drawn) if fixed is None else (
            lambda drawn, i, j: torch.where(fixed[1][:, i, j].to(dev), drawn, fixed[0][:, i, j].to(dev)))
        codes = given.clone() if given is not None else torch.zeros(n, h, w, dtype=torch.long, device=dev)
        if naive:
            for i in range(h):
                for j in range(w):
                    codes[:, i, j] = keep(draw(self(codes, cond, label)[:, :, i, j]).to(dev), i, j)
            return codes
        p, ch = self.kernel_size // 2, self.embed.embedding_dim
        all_logits = torch.zeros(n, self.codebook_size, h, w, device=dev) if given is not None else None
        # vin[k]: input of block k's vertical stack for every row so far, with p zero rows on top.
        vin = [torch.zeros(n, ch, h + p, w, device=dev) for _ in self.blocks]
        prev_pre = [torch.zeros(n, 2 * ch, 1, w, device=dev) for _ in self.blocks]  # row i-1's (0 above row 0)
        for i in bar(range(h), f"sampling {n} maps, rows", h, "row"):
            links = [blk.v_to_h(prev_pre[k]) for k, blk in enumerate(self.blocks)]
            crow = None if cond is None else cond[..., i:i + 1, :]
            # hin[k]: input of block k's horizontal stack on row i, with p zero columns on the left.
            hin = [torch.zeros(n, ch, 1, w + p, device=dev) for _ in self.blocks]
            for j in range(w):
                ccol = None if crow is None else crow[..., j:j + 1]
                out = None
                for k, blk in enumerate(self.blocks):
                    slab = hin[0][..., j:j + p] if blk.first else hin[k][..., j:j + p + 1]
                    out = blk.horizontal_column(slab, links[k][..., j:j + 1], ccol, label)
                    if k + 1 < len(self.blocks):
                        hin[k + 1][..., j + p:j + p + 1] = out
                logits = self.head(out)[:, :, 0, 0]
                if given is None:
                    codes[:, i, j] = keep(draw(logits).to(dev), i, j)
                else:
                    all_logits[:, :, i, j] = logits
                hin[0][:, :, 0, j + p] = self.embed(codes[:, i, j])
            # row i is complete: one row of the vertical stack per block
            vin[0][:, :, i + p] = self.embed(codes[:, i]).permute(0, 2, 1)
            for k, blk in enumerate(self.blocks):
                v_out, prev_pre[k] = blk.vertical_row(vin[k][:, :, i:i + p + 1], crow, label)
                if k + 1 < len(self.blocks):
                    vin[k + 1][:, :, i + p:i + p + 1] = v_out
        return all_logits if given is not None else codes
