"""PatchGAN discriminator (Isola et al. 2017), as VQGAN uses it (Esser et al. 2021) to make a short code decode
sharply: it scores overlapping patches of a slice as real or decoded, so the decoder is pushed towards real texture
where L1 + SSIM alone settle for the blurry mean of what a code could hold.

x (B, 1, S, S) -> patch logits (B, 1, S/2^layers - 2, S/2^layers - 2), positive for "real".
"""
from __future__ import annotations

import torch
from torch import nn

NORMS = ("spectral", "none", "batch")


class PatchDiscriminator(nn.Module):
    """`layers` strided 4x4 convs (channels doubling, at most 8x), then two stride-1 4x4 convs to one logit map.

    `norm`: "spectral" (spectral normalisation of every conv: bounds the Lipschitz constant, the usual way to keep
    the game stable without a tuned schedule), "batch" (pix2pix's choice) or "none"."""

    def __init__(self, in_channels: int = 1, channels: int = 32, layers: int = 3, norm: str = "spectral"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"gan.norm must be one of {', '.join(NORMS)}, not {norm!r}")
        if layers < 1:
            raise ValueError(f"gan.layers must be at least 1, not {layers}")

        def conv(i: int, o: int, stride: int) -> nn.Module:
            c = nn.Conv2d(i, o, 4, stride=stride, padding=1, bias=norm != "batch")
            return nn.utils.parametrizations.spectral_norm(c) if norm == "spectral" else c

        def act(o: int) -> list[nn.Module]:
            return ([nn.BatchNorm2d(o)] if norm == "batch" else []) + [nn.LeakyReLU(0.2)]

        mods: list[nn.Module] = [conv(in_channels, channels, 2), nn.LeakyReLU(0.2)]
        ch = channels
        for i in range(1, layers):
            nxt = channels * min(2 ** i, 8)
            mods += [conv(ch, nxt, 2), *act(nxt)]
            ch = nxt
        nxt = channels * min(2 ** layers, 8)
        mods += [conv(ch, nxt, 1), *act(nxt), conv(nxt, 1, 1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def score_together(discriminator: nn.Module, real: torch.Tensor,
                   fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch logits of real (B, 1, S, S) and decoded (B', 1, S, S) crops from one pass over both: with batch
    normalisation the statistics are shared, so a difference between the sides (a contrast, a missing texture) is
    seen instead of normalised away within each side, as two separate passes would do."""
    logits = discriminator(torch.cat([real, fake]))
    return logits[:len(real)], logits[len(real):]
