"""VQ-VAE-2 (Razavi et al. 2019): a top code map for global shape and a bottom one at 1/4 resolution for detail;
the bottom quantizer and the decoder are conditioned on the top codes. Same quantizer and conv blocks as the
single-level model.

x (B, 1, S, S) -> codes [top (B, S/(4t), S/(4t)), bottom (B, S/4, S/4)] -> x_hat (B, 1, S, S), t = `top_factor`.

`top_factor`: how many bottom codes a side one top code covers (2 in the paper). A prior draws a whole slice only
from a short code (8x8 at 128 px: `top_factor=4`), while a sharp decoding needs a long one (32x32): the top is the
short code the prior draws, the bottom the long one drawn given the top.

`bottom_dropout`: the fraction of training slices decoded from the top codes alone (bottom zeroed). Without it the
bottom level, which sees the image at higher resolution, learns to carry everything and the top is ignored; the
bottom prior then has nothing global to condition on and samples are brain-textured noise inside a brain outline
(benchmarks/RESULTS.md). With it the top must encode the whole slice coarsely.

`top_codebook_size`: the top's own number of codes (default: `codebook_size`). The top is the code a prior draws
whole; with fewer codes each top code stands for more slices and a drawn top map has fewer ways to go wrong.

`bottom`: what the bottom codes hold. "joint" (the paper's): the bottom encoder sees the slice and the decoder reads
both levels, so the bottom codes carry the whole slice again and a bottom code map drawn by a prior that misses its
top's layout decodes as texture without anatomy. "residual": the decoding is the top's own decoding plus a detail
image decoded from both levels, and the bottom encoder sees only what the top's decoding misses, so any bottom draw
adds detail to the top's anatomy instead of replacing it (the top's decoding is trained on its own, every batch).
"""
from __future__ import annotations

import torch
from torch import nn

from ..config.schema import Quantizer
from .quantizer import QuantizerOutput
from .vqvae import Decoder, Encoder, check_padding, make_quantizer, up_conv

TOP_FACTORS = (2, 4, 8)
BOTTOMS = ("joint", "residual")


def upsampler(dim: int, steps: int, padding: str = "zeros") -> nn.Module:
    """The top's quantized vectors to the bottom's size: one transposed conv a doubling (a single one keeps the
    parameter names of runs made before `top_factor` existed)."""
    if steps == 1:
        return up_conv(dim, dim, padding)
    layers: list[nn.Module] = []
    for i in range(steps):
        layers += [up_conv(dim, dim, padding)] + ([nn.ReLU()] if i + 1 < steps else [])
    return nn.Sequential(*layers)


class VQVAE2(nn.Module):
    levels = 2
    downsample = 4  # of the bottom level; the top's is 4 * top_factor

    def __init__(self, channels=(64, 128), res_blocks=2, res_channels=32, embed_dim=64, codebook_size=512,
                 norm=False, quantizer: Quantizer | None = None, in_channels: int = 1, bottom_dropout: float = 0.0,
                 upsample: str = "transpose", top_factor: int = 2, bottom: str = "joint", padding: str = "zeros",
                 top_codebook_size: int | None = None):
        super().__init__()
        check_padding(padding)
        if top_factor not in TOP_FACTORS:
            raise ValueError(f"top_factor must be one of {', '.join(map(str, TOP_FACTORS))}, not {top_factor}")
        if bottom not in BOTTOMS:
            raise ValueError(f"bottom must be one of {', '.join(BOTTOMS)}, not {bottom!r}")
        c = list(channels)[-1]
        steps = top_factor.bit_length() - 1
        self.codebook_size, self.bottom_dropout, self.top_factor = codebook_size, bottom_dropout, top_factor
        self.codebook_sizes = [top_codebook_size or codebook_size, codebook_size]  # top first, like the codes
        self.enc_b = Encoder(in_channels, list(channels), 2, res_blocks, res_channels, c, norm, padding)
        self.enc_t = Encoder(c, [c], steps, res_blocks, res_channels, embed_dim, norm, padding)
        self.quant_t = make_quantizer(quantizer, self.codebook_sizes[0], embed_dim)
        self.dec_t = Decoder(embed_dim, [c], steps, res_blocks, res_channels, embed_dim, norm, padding=padding)
        self.pre_b = nn.Conv2d(c + embed_dim, embed_dim, 1)
        self.quant_b = make_quantizer(quantizer, codebook_size, embed_dim)
        self.up_t = upsampler(embed_dim, steps, padding)
        self.decoder = Decoder(2 * embed_dim, list(channels), 2, res_blocks, res_channels, in_channels, norm,
                               upsample, padding)
        self.residual = bottom == "residual"
        if self.residual:  # the top's own decoding, and an encoder of what it misses
            self.dec_base = Decoder(embed_dim, list(channels), 2 + steps, res_blocks, res_channels, in_channels, norm,
                                    upsample, padding)
            self.enc_r = Encoder(in_channels, list(channels), 2, res_blocks, res_channels, c, norm, padding)

    def _quantize(self, x):
        """x -> the top's and the bottom's quantizer outputs, and in residual mode the top's own decoding."""
        hb = self.enc_b(x)
        qt = self.quant_t(self.enc_t(hb))
        base = self.dec_base(qt.quantized) if self.residual else None
        seen = self.enc_r(x - base.detach()) if self.residual else hb
        return qt, self._quantize_bottom(seen, qt.quantized), base

    def _quantize_bottom(self, seen: torch.Tensor, zt: torch.Tensor) -> QuantizerOutput:
        return self.quant_b(self.pre_b(torch.cat([seen, self.dec_t(zt)], 1)))

    @torch.no_grad()
    def encode_bottom(self, x: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
        """x (B, 1, S, S) and top codes (B, h, w) that need not be x's own -> the bottom codes (B, S/4, S/4) that
        reproduce x beneath that top: how a sampler starts a bottom from the top's own decoding."""
        zt = self.quant_t.lookup(top)
        seen = self.enc_r(x - self.dec_base(zt)) if self.residual else self.enc_b(x)
        return self._quantize_bottom(seen, zt).codes

    def _decode(self, zt: torch.Tensor, zb: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        detail = self.decoder(torch.cat([self.up_t(zt), zb], 1))
        if not self.residual:
            return detail
        return (self.dec_base(zt) if base is None else base) + detail

    def reconstructions(self, x) -> tuple[list[torch.Tensor], list[QuantizerOutput]]:
        """x (B, 1, S, S) -> (the decodings the training loss compares with x, the quantizers' outputs): the full
        decoding, and in residual mode also the top's own, which must stand alone."""
        qt, qb, base = self._quantize(x)
        zb = qb.quantized
        if self.training and self.bottom_dropout > 0:
            keep = torch.rand(len(x), 1, 1, 1, device=x.device) >= self.bottom_dropout
            zb = zb * keep.to(zb.dtype)
        x_hat = self._decode(qt.quantized, zb, base)
        return ([x_hat] if base is None else [x_hat, base]), [qt, qb]

    def forward(self, x) -> tuple[torch.Tensor, list[QuantizerOutput]]:
        outs, qs = self.reconstructions(x)
        return outs[0], qs

    def quantize(self, x: torch.Tensor) -> list[QuantizerOutput]:
        """x (B, 1, S, S) -> the quantizers' outputs, top first."""
        return list(self._quantize(x)[:2])

    def decode_latents(self, quantized: list[torch.Tensor]) -> torch.Tensor:
        """Quantized vectors [top, bottom] -> x_hat (B, 1, S, S), unclamped and differentiable."""
        return self._decode(*quantized)

    @torch.no_grad()
    def encode(self, x) -> list[torch.Tensor]:
        qt, qb, _ = self._quantize(x)
        return [qt.codes, qb.codes]

    @torch.no_grad()
    def decode(self, codes: list[torch.Tensor]) -> torch.Tensor:
        return self._decode(self.quant_t.lookup(codes[0]), self.quant_b.lookup(codes[1])).clamp(0, 1)

    def quantizers(self) -> list:
        """One quantizer a level, top first (as the codes)."""
        return [self.quant_t, self.quant_b]

    def code_shapes(self, image_size: int) -> list[tuple[int, int]]:
        top = image_size // (4 * self.top_factor)
        return [(top, top), (image_size // 4, image_size // 4)]

    @torch.no_grad()
    def decode_top(self, top: torch.Tensor) -> torch.Tensor:
        """Top codes (B, h, w) decoded alone (B, 1, S, S): what the top carries; the top's own decoding in residual
        mode, else the decoding with the bottom zeroed (what `bottom_dropout` trains)."""
        zt = self.quant_t.lookup(top)
        if self.residual:
            return self.dec_base(zt).clamp(0, 1)
        zb = zt.new_zeros(zt.shape[0], zt.shape[1], zt.shape[2] * self.top_factor, zt.shape[3] * self.top_factor)
        return self._decode(zt, zb).clamp(0, 1)

    def last_layer(self) -> torch.Tensor:
        """The decoder's output weights: where the adversarial weight compares gradient norms."""
        return self.decoder.net[-1].weight
