"""VQ-VAE (van den Oord et al. 2017): conv encoder -> vector quantizer -> conv decoder.

x (B, 1, S, S) -> z (B, D, S/f, S/f) -> codes (B, S/f, S/f) -> x_hat (B, 1, S, S), with f = `downsample` (4 or 8).
The `seed-oord` preset gives the paper's layout: two strided 4x4 convs, two 3x3 residual blocks, 128 hidden units.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config.schema import Quantizer
from .quantizer import QuantizerOutput, VectorQuantizer


def _norm(ch: int, on: bool) -> nn.Module:
    return nn.GroupNorm(min(8, ch), ch) if on else nn.Identity()


PADDINGS = ("zeros", "circular")


def check_padding(padding: str) -> None:
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, not {padding!r}")


class WrapConvTranspose2d(nn.ConvTranspose2d):
    """`nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)` (same parameters, same output inside) on an input
    extended by wrapping it round (circular padding). With zeros each outermost output row and column gets one of its
    two taps, so a uniform background decodes with a constant outer ring, and that ring is what a two-sample judge at
    32 px sees. Wrapped, every conv's output is periodic wherever its input is, edges included: an image whose edge is
    background (as a brain slice's) decodes its edge like any other background."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, 4, stride=2, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (1, 1, 1, 1), mode="circular"))


def up_conv(c_in: int, c_out: int, padding: str = "zeros") -> nn.Module:
    """The 4x4 stride-2 transposed conv that doubles the size, its input padded with zeros or wrapped (`padding`)."""
    check_padding(padding)
    return WrapConvTranspose2d(c_in, c_out) if padding == "circular" else nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)


class ResBlock(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))), as in the paper; optional GroupNorm before each activation."""

    def __init__(self, ch: int, hidden: int, norm: bool = False, padding: str = "zeros"):
        super().__init__()
        self.body = nn.Sequential(_norm(ch, norm), nn.ReLU(), nn.Conv2d(ch, hidden, 3, padding=1, padding_mode=padding),
                                  _norm(hidden, norm), nn.ReLU(), nn.Conv2d(hidden, ch, 1))

    def forward(self, x):
        return x + self.body(x)


def _stage_channels(channels: list[int], steps: int) -> list[int]:
    return [channels[min(i, len(channels) - 1)] for i in range(steps)]


class Encoder(nn.Module):
    """`steps` strided 4x4 convs (each halves the size), a 3x3 conv, residual blocks, 1x1 to `out_ch`."""

    def __init__(self, in_ch: int, channels: list[int], steps: int, res_blocks: int, res_ch: int, out_ch: int,
                 norm: bool, padding: str = "zeros"):
        super().__init__()
        chs = _stage_channels(channels, steps)
        layers, prev = [], in_ch
        for i, c in enumerate(chs):
            layers += [nn.Conv2d(prev, c, 4, stride=2, padding=1, padding_mode=padding)]
            layers += [_norm(c, norm), nn.ReLU()] if i < steps - 1 else []
            prev = c
        layers += [nn.Conv2d(prev, prev, 3, padding=1, padding_mode=padding)]
        layers += [ResBlock(prev, res_ch, norm, padding) for _ in range(res_blocks)]
        layers += [_norm(prev, norm), nn.ReLU(), nn.Conv2d(prev, out_ch, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


UPSAMPLING = ("transpose", "nearest")


class Decoder(nn.Module):
    """Mirror of the encoder: 3x3 conv, residual blocks, `steps` upsamplings (each doubles the size).

    `upsample="transpose"`: transposed 4x4 convs, the last one writing the output (the paper's). `"nearest"`: nearest
    neighbour doubling then a 3x3 conv (Odena et al. 2016), and a 3x3 output conv at full size: transposed convs
    leave a checkerboard that an adversarial loss amplifies, and the extra conv lets the last layer draw texture.
    `padding`: what every conv sees beyond the edge ("zeros", or "circular": the image wrapped round, see
    `WrapConvTranspose2d`)."""

    def __init__(self, in_ch: int, channels: list[int], steps: int, res_blocks: int, res_ch: int, out_ch: int,
                 norm: bool, upsample: str = "transpose", padding: str = "zeros"):
        super().__init__()
        if upsample not in UPSAMPLING:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLING)}, not {upsample!r}")
        chs = _stage_channels(channels, steps)[::-1]
        layers = [nn.Conv2d(in_ch, chs[0], 3, padding=1, padding_mode=padding)]
        layers += [ResBlock(chs[0], res_ch, norm, padding) for _ in range(res_blocks)]
        layers += [_norm(chs[0], norm), nn.ReLU()]
        for i, c in enumerate(chs):
            if upsample == "nearest":
                nxt = chs[i + 1] if i + 1 < steps else c
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, nxt, 3, padding=1,
                                                                                  padding_mode=padding),
                           _norm(nxt, norm), nn.ReLU()]
                continue
            nxt = chs[i + 1] if i + 1 < steps else out_ch
            layers += [up_conv(c, nxt, padding)]
            if i + 1 < steps:
                layers += [_norm(nxt, norm), nn.ReLU()]
        if upsample == "nearest":
            layers += [nn.Conv2d(chs[-1], out_ch, 3, padding=1, padding_mode=padding)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def make_quantizer(q: Quantizer | None, codebook_size: int, dim: int) -> VectorQuantizer:
    """A quantizer from the config's `quantizer` section (None: the schema's defaults, the one set of them)."""
    q = q or Quantizer()
    return VectorQuantizer(codebook_size, dim, beta=q.beta, ema=q.ema, decay=q.decay, init=q.init,
                           dead_code_threshold=q.dead_code_threshold, l2_norm=q.l2_norm)


class VQVAE(nn.Module):
    """Single-level VQ-VAE; `encode`/`decode` work on integer code maps."""

    levels = 1

    def __init__(self, channels=(64, 128), res_blocks=2, res_channels=32, downsample=4, embed_dim=64,
                 codebook_size=512, norm=True, quantizer: Quantizer | None = None, in_channels: int = 1,
                 upsample: str = "transpose", padding: str = "zeros"):
        super().__init__()
        check_padding(padding)
        if downsample not in (2, 4, 8, 16):
            raise ValueError(f"downsample must be 2, 4, 8 or 16, not {downsample}")
        steps = downsample.bit_length() - 1
        self.downsample, self.codebook_size = downsample, codebook_size
        self.codebook_sizes = [codebook_size]  # one a level, as VQVAE2's
        self.encoder = Encoder(in_channels, list(channels), steps, res_blocks, res_channels, embed_dim, norm, padding)
        self.quantizer = make_quantizer(quantizer, codebook_size, embed_dim)
        self.decoder = Decoder(embed_dim, list(channels), steps, res_blocks, res_channels, in_channels, norm,
                               upsample, padding)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[QuantizerOutput]]:
        q = self.quantizer(self.encoder(x))
        return self.decoder(q.quantized), [q]

    def reconstructions(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[QuantizerOutput]]:
        """x -> ([x_hat], the quantizer's output): the decodings the training loss compares with x (one here)."""
        x_hat, qs = self(x)
        return [x_hat], qs

    def quantize(self, x: torch.Tensor) -> list[QuantizerOutput]:
        """x (B, 1, S, S) -> the quantizer's output a level (codes, quantized vectors, losses)."""
        return [self.quantizer(self.encoder(x))]

    def decode_latents(self, quantized: list[torch.Tensor]) -> torch.Tensor:
        """Quantized vectors a level -> x_hat (B, 1, S, S), unclamped and differentiable (decoder-only training)."""
        return self.decoder(quantized[0])

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B, 1, S, S) -> [codes (B, S/f, S/f)]."""
        return [self.quantizer(self.encoder(x)).codes]

    @torch.no_grad()
    def decode(self, codes: list[torch.Tensor]) -> torch.Tensor:
        return self.decoder(self.quantizer.lookup(codes[0])).clamp(0, 1)

    def quantizers(self) -> list[VectorQuantizer]:
        """One quantizer a level, as VQVAE2's."""
        return [self.quantizer]

    def code_shapes(self, image_size: int) -> list[tuple[int, int]]:
        s = image_size // self.downsample
        return [(s, s)]

    def last_layer(self) -> torch.Tensor:
        """The decoder's output weights: where the adversarial weight compares gradient norms."""
        return self.decoder.net[-1].weight
