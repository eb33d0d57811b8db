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
so the sampler computes every activation exactly once (see sampling.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
