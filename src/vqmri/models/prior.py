"""The prior over a run's code maps: one gated PixelCNN per level. For VQ-VAE-2, the bottom PixelCNN is
conditioned on the top codes through a conditioning stack (embed -> 2x upsample -> residual convs), so bottom
detail is drawn inside a globally coherent top-level shape.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .pixelcnn import GatedPixelCNN
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


class CodePrior(nn.Module):
    def __init__(self, codebook_size: int, levels: int = 1, channels: int = 64, layers: int = 10,
                 kernel_size: int = 5, num_classes: int = 0, dropout: float = 0.0):
        super().__init__()
        self.levels, self.codebook_size = levels, codebook_size
        self.nets = nn.ModuleList([GatedPixelCNN(codebook_size, channels, layers, kernel_size, 0, num_classes, dropout)])
        if levels == 2:
            self.conditioner = TopConditioner(codebook_size, channels)
            self.nets.append(GatedPixelCNN(codebook_size, channels, layers, kernel_size, channels, num_classes, dropout))

    def condition(self, level: int, codes: list[torch.Tensor]) -> torch.Tensor | None:
        return self.conditioner(codes[0]) if level == 1 else None

    def nll(self, codes: list[torch.Tensor], label=None) -> list[torch.Tensor]:
        """Mean negative log-likelihood per code, in nats, for each level."""
        return [F.cross_entropy(net(codes[i], self.condition(i, codes), label), codes[i]) for i, net in enumerate(self.nets)]

    @staticmethod
    def bits(nats: torch.Tensor) -> torch.Tensor:
        return nats / math.log(2)
