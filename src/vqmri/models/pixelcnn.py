"""Gated PixelCNN prior over code maps (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
Decoders"): vertical and horizontal stacks, gated tanh x sigmoid units, no blind spot.

codes (B, H, W) int -> logits (B, K, H, W); position (i, j) sees only positions before it in raster order.
- Vertical stack: (k//2+1) x k convs padded so row i sees rows <= i; it feeds the horizontal stack shifted down one
  row, so the horizontal stack at row i only receives rows < i (this shift is what removes the blind spot).
- Horizontal stack: 1 x (k//2+1) convs on the current row, left of and including j; the first layer is masked
  ("A": excludes j), later layers include j ("B") and are residual.
- Conditioning: an optional class label (learned embedding) and/or a spatial map (B, C, H, W), e.g. the upsampled
  top codes of VQ-VAE-2, each added to the gates of every layer.
`vertical_link` and `horizontal` expose the two stacks separately so the sampler can compute the vertical stack
once per row and only the current row of the horizontal stack per pixel (see sampling.py).
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

    @property
    def vertical_reach(self) -> int:
        """Rows above the current one that the vertical stack can see, all layers together."""
        return self.layers * (self.kernel_size // 2) + 1

    def forward(self, codes: torch.Tensor, cond: torch.Tensor | None = None, label: torch.Tensor | None = None):
        x = self.embed(codes).permute(0, 3, 1, 2)
        v, h = x, x
        for b in self.blocks:
            v_new, pre = b.vertical(v, cond, label)
            h = b.horizontal(h, b.link(pre), cond, label)
            v = v_new
        return self.head(h)

    # ---- the two stacks apart, for row-wise sampling
    def vertical_links(self, codes_above: torch.Tensor, width: int, cond_above=None, label=None) -> list[torch.Tensor]:
        """Vertical links for the row just below `codes_above` (B, r, W), r >= 0 rows -> per block (B, 2C, 1, W)."""
        b0 = codes_above.shape[0]
        if codes_above.shape[1] == 0:
            dev = self.embed.weight.device
            return [blk.v_to_h.bias.view(1, -1, 1, 1).expand(b0, -1, 1, width).to(dev) for blk in self.blocks]
        v = self.embed(codes_above).permute(0, 3, 1, 2)
        links = []
        for blk in self.blocks:
            v, pre = blk.vertical(v, cond_above, label)
            links.append(blk.v_to_h(pre[..., -1:, :]))
        return links

    def row_logits(self, codes_row: torch.Tensor, links: list[torch.Tensor], cond_row=None, label=None) -> torch.Tensor:
        """codes_row (B, 1, W) with that row's vertical links -> logits (B, K, 1, W)."""
        h = self.embed(codes_row).permute(0, 3, 1, 2)
        for blk, link in zip(self.blocks, links):
            h = blk.horizontal(h, link, cond_row, label)
        return self.head(h)
