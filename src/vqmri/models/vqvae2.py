"""VQ-VAE-2 (Razavi et al. 2019): a top code map at 1/8 resolution for global shape and a bottom one at 1/4 for
detail; the bottom quantizer and the decoder are conditioned on the top codes. Same quantizer and conv blocks as
the single-level model.

x (B, 1, S, S) -> codes [top (B, S/8, S/8), bottom (B, S/4, S/4)] -> x_hat (B, 1, S, S).

`bottom_dropout`: the fraction of training slices decoded from the top codes alone (bottom zeroed). Without it the
bottom level, which sees the image at higher resolution, learns to carry everything and the top is ignored; the
bottom prior then has nothing global to condition on and samples are brain-textured noise inside a brain outline
(benchmarks/RESULTS.md). With it the top must encode the whole slice coarsely and the bottom only adds detail.
"""
from __future__ import annotations

import torch
from torch import nn

from .quantizer import QuantizerOutput
from .vqvae import Decoder, Encoder, make_quantizer


class VQVAE2(nn.Module):
    levels = 2
    downsample = 4  # of the bottom level; the top is 8

    def __init__(self, channels=(64, 128), res_blocks=2, res_channels=32, embed_dim=64, codebook_size=512,
                 norm=False, quantizer: dict | None = None, in_channels: int = 1, bottom_dropout: float = 0.0,
                 upsample: str = "transpose"):
        super().__init__()
        c = list(channels)[-1]
        self.codebook_size, self.bottom_dropout = codebook_size, bottom_dropout
        self.enc_b = Encoder(in_channels, list(channels), 2, res_blocks, res_channels, c, norm)
        self.enc_t = Encoder(c, [c], 1, res_blocks, res_channels, embed_dim, norm)
        self.quant_t = make_quantizer(quantizer, codebook_size, embed_dim)
        self.dec_t = Decoder(embed_dim, [c], 1, res_blocks, res_channels, embed_dim, norm)
        self.pre_b = nn.Conv2d(c + embed_dim, embed_dim, 1)
        self.quant_b = make_quantizer(quantizer, codebook_size, embed_dim)
        self.up_t = nn.ConvTranspose2d(embed_dim, embed_dim, 4, stride=2, padding=1)
        self.decoder = Decoder(2 * embed_dim, list(channels), 2, res_blocks, res_channels, in_channels, norm,
                               upsample)

    def _quantize(self, x):
        hb = self.enc_b(x)
        qt = self.quant_t(self.enc_t(hb))
        qb = self.quant_b(self.pre_b(torch.cat([hb, self.dec_t(qt.quantized)], 1)))
        return qt, qb

    def _decode(self, zt: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([self.up_t(zt), zb], 1))

    def forward(self, x) -> tuple[torch.Tensor, list[QuantizerOutput]]:
        qt, qb = self._quantize(x)
        zb = qb.quantized
        if self.training and self.bottom_dropout > 0:
            keep = torch.rand(len(x), 1, 1, 1, device=x.device) >= self.bottom_dropout
            zb = zb * keep.to(zb.dtype)
        return self._decode(qt.quantized, zb), [qt, qb]

    def quantize(self, x: torch.Tensor) -> list[QuantizerOutput]:
        """x (B, 1, S, S) -> the quantizers' outputs, top first."""
        return list(self._quantize(x))

    def decode_latents(self, quantized: list[torch.Tensor]) -> torch.Tensor:
        """Quantized vectors [top, bottom] -> x_hat (B, 1, S, S), unclamped and differentiable."""
        return self._decode(*quantized)

    @torch.no_grad()
    def encode(self, x) -> list[torch.Tensor]:
        qt, qb = self._quantize(x)
        return [qt.codes, qb.codes]

    @torch.no_grad()
    def decode(self, codes: list[torch.Tensor]) -> torch.Tensor:
        return self._decode(self.quant_t.lookup(codes[0]), self.quant_b.lookup(codes[1])).clamp(0, 1)

    def code_shapes(self, image_size: int) -> list[tuple[int, int]]:
        return [(image_size // 8, image_size // 8), (image_size // 4, image_size // 4)]

    def last_layer(self) -> torch.Tensor:
        """The decoder's output weights: where the adversarial weight compares gradient norms."""
        return self.decoder.net[-1].weight
