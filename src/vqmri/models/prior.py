"""The prior over a run's code maps: one gated PixelCNN (or causal transformer) per level. For VQ-VAE-2, the bottom
network is conditioned on the top codes through a conditioning stack (embed -> 2x upsample -> residual convs), so
bottom detail is drawn inside a globally coherent top-level shape.

Every level also gets a learned position map (C, h, w) as spatial conditioning when the code-map shapes are known.
A PixelCNN otherwise knows where it is only near the zero-padded borders, and its receptive field cannot reach a
brain's far edge: without it, samples start an outline correctly and then fill the map with tissue.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .pixelcnn import GatedPixelCNN
from .transformer import CodeTransformer
from .vqvae import ResBlock


class TopConditioner(nn.Module):
    """top codes (B, h, w) -> conditioning map (B, C, 2h, 2w) for the bottom PixelCNN."""

    def __init__(self, codebook_size: int, channels: int):
        super().__init__()
        self.embed = nn.Embedding(codebook_size, channels)
        self.net = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), ResBlock(channels, channels // 2),
                                 nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1),
                                 ResBlock(channels, channels // 2))

    def forward(self, top: torch.Tensor) -> torch.Tensor:
        return self.net(self.embed(top).permute(0, 3, 1, 2))


ARCHS = ("pixelcnn", "transformer")


class CodePrior(nn.Module):
    """One network a level: a gated PixelCNN (`arch="pixelcnn"`) or a causal transformer (`arch="transformer"`, which
    needs `shapes` and holds its own position embeddings; `channels` is its width)."""

    def __init__(self, codebook_size: int, levels: int = 1, channels: int = 64, layers: int = 10,
                 kernel_size: int = 5, num_classes: int = 0, dropout: float = 0.0,
                 shapes: list[tuple[int, int]] | None = None, arch: str = "pixelcnn", heads: int = 4):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"prior.arch must be one of {', '.join(ARCHS)}, not {arch!r}")
        if arch == "transformer" and not shapes:
            raise ValueError("a transformer prior needs the code-map shapes")
        self.levels, self.codebook_size, self.num_classes, self.arch = levels, codebook_size, num_classes, arch
        pixel = arch == "pixelcnn"
        self.positions = nn.ParameterList([nn.Parameter(torch.zeros(1, channels, h, w))
                                           for h, w in (shapes or [] if pixel else [])])
        self.nets = nn.ModuleList()
        for level in range(levels):
            cond = channels if ((shapes and pixel) or level == 1) else 0
            self.nets.append(GatedPixelCNN(codebook_size, channels, layers, kernel_size, cond, num_classes, dropout)
                             if pixel else
                             CodeTransformer(codebook_size, shapes[level], channels, layers, heads, cond, num_classes,
                                             dropout))
        if levels == 2:
            self.conditioner = TopConditioner(codebook_size, channels)

    def condition(self, level: int, codes: list[torch.Tensor], n: int | None = None) -> torch.Tensor | None:
        """Spatial conditioning of `level`: its position map, plus the upsampled top codes for the bottom level."""
        n = n if n is not None else codes[0].shape[0]
        cond = self.positions[level].expand(n, -1, -1, -1) if len(self.positions) else None
        if level == 1:
            top = self.conditioner(codes[0])
            cond = top if cond is None else cond + top
        return cond

    def nll(self, codes: list[torch.Tensor], label=None, levels: list[int] | None = None) -> list[torch.Tensor]:
        """Mean negative log-likelihood per code, in nats, for each level (or only for `levels`)."""
        levels = range(self.levels) if levels is None else levels
        return [F.cross_entropy(self.nets[i](codes[i], self.condition(i, codes), label), codes[i]) for i in levels]

    def level_parameters(self, level: int) -> list[nn.Parameter]:
        """What fitting one level changes: its PixelCNN, its position map, and for the bottom the top conditioner."""
        params = list(self.nets[level].parameters())
        if len(self.positions):
            params.append(self.positions[level])
        if level == 1:
            params += list(self.conditioner.parameters())
        return params

    @staticmethod
    def bits(nats: torch.Tensor) -> torch.Tensor:
        return nats / math.log(2)
