"""Does drawing the decoder's residual texture make reconstructions pass for real slices? The `sample_headline` judge on
the same test slices: reconstructions as decoded (the mean), with a white residual of the fitted spread, and with
the fitted spectrum; the noise model is fitted on training slices only.

The model: x = clamp(mean + sigma(mean) * f), f a stationary Gaussian field with the residual's power spectrum,
sigma the residual's RMS per decoded intensity. Measured on OASIS (benchmarks/RESULTS.md, issue 20, session 15): the
residual of a 16x16-code decoder is lost anatomy (sigma 0.06-0.09 in tissue), not acquisition noise, so the drawn
texture covers the slice in speckle; the idea was dropped from the package.

Usage: python benchmarks/experiments/decoder_noise.py RUN_DIR OUT.json [VARIANTS (comma list: mean,white,shaped)]
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vqmri import api
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.evaluation.metrics import ssim
from vqmri.evaluation.two_sample import two_sample_test


class DecoderNoise(nn.Module):
    """Residual texture model for one image size. Empty (unfitted) until `fit`; `fitted` says which."""

    def __init__(self, size: int, bins: int = 64):
        super().__init__()
        if size < 2 or bins < 2:
            raise ValueError(f"DecoderNoise needs size >= 2 and bins >= 2, got {size} and {bins}")
        self.size, self.bins = size, bins
        self.register_buffer("psd", torch.zeros(size, size // 2 + 1))
        self.register_buffer("sigma", torch.zeros(bins))

    @property
    def fitted(self) -> bool:
        return bool(self.psd.abs().sum() > 0)

    def _bin(self, mean: torch.Tensor) -> torch.Tensor:
        return (mean.clamp(0, 1) * (self.bins - 1)).round().long()

    @torch.no_grad()
    def fit(self, real: torch.Tensor, mean: torch.Tensor) -> DecoderNoise:
        """real, mean (B, 1, S, S): training slices and their reconstructions. sigma[b] = RMS residual where the
        reconstruction falls in bin b (empty bins take the nearest filled one); psd = mean power spectrum of the
        residual divided by sigma, scaled to unit variance."""
        if real.shape != mean.shape or real.shape[-2:] != (self.size, self.size):
            raise ValueError(f"DecoderNoise.fit needs two (B, 1, {self.size}, {self.size}) tensors, got "
                             f"{tuple(real.shape)} and {tuple(mean.shape)}")
        r, b = (real - mean).double().flatten(), self._bin(mean).flatten()
        count = torch.bincount(b, minlength=self.bins).double()
        power = torch.bincount(b, weights=r * r, minlength=self.bins)
        filled = count > 0
        if not filled.any():
            raise ValueError("DecoderNoise.fit needs at least one image")
        sigma = torch.zeros(self.bins, dtype=torch.float64)
        sigma[filled] = (power[filled] / count[filled]).sqrt()
        idx = torch.arange(self.bins)
        near = filled.nonzero().flatten()
        sigma = sigma[near[(idx[:, None] - near[None]).abs().argmin(1)]]
        self.sigma.copy_(sigma.float())
        s = self.sigma[self._bin(mean)]
        u = torch.where(s > 1e-4, (real - mean) / s.clamp_min(1e-4), torch.zeros_like(real))
        psd = (torch.fft.rfft2(u.double()).abs() ** 2).mean(dim=(0, 1))
        # the half-plane holds the inner columns once for two (k and -k): weight them twice in the field's variance
        twice = torch.full((psd.shape[1],), 2.0, dtype=torch.float64)
        twice[0] = 1.0
        if self.size % 2 == 0:
            twice[-1] = 1.0
        variance = (psd * twice).sum() / self.size ** 2
        self.psd.copy_((psd / variance.clamp_min(1e-12)).float())
        return self

    @torch.no_grad()
    def field(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n unit-variance Gaussian fields (n, 1, S, S) with the fitted spectrum."""
        white = torch.randn(n, 1, self.size, self.size, generator=generator).to(self.psd.device)
        return torch.fft.irfft2(torch.fft.rfft2(white) * self.psd.sqrt(), s=(self.size, self.size))

    @torch.no_grad()
    def sample(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """mean (B, 1, S, S) decoded slices -> (B, 1, S, S) draws of p(x | z) in [0, 1]."""
        if not self.fitted:
            raise ValueError("DecoderNoise.sample before fit")
        if mean.shape[-2:] != (self.size, self.size):
            raise ValueError(f"DecoderNoise for {self.size} px got images of {tuple(mean.shape[-2:])}")
        return (mean + self.sigma[self._bin(mean)] * self.field(len(mean), generator)).clamp(0, 1)


def images(model, split, limit=None):
    held = load_cached(discover_from_config(model.config, model.run.root), split, model.config)
    x = torch.from_numpy(np.array(held.images[:limit] if limit else held.images, np.float32))[:, None]
    return x, [m["subject"] for m in held.meta][:len(x)]


def main():
    run_dir, out = sys.argv[1], Path(sys.argv[2])
    variants = sys.argv[3].split(",") if len(sys.argv) > 3 else ["mean", "shaped", "white"]
    t0 = time.perf_counter()
    model = api.load(run_dir, device="cpu")
    train, _ = images(model, "train")
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:512]
    noise = DecoderNoise(train.shape[-1]).fit(train[pick], model.reconstruct(train[pick]))
    test, subjects = images(model, "test")
    recon = model.reconstruct(test)
    g = torch.Generator().manual_seed(1)
    white = DecoderNoise(noise.size)
    white.sigma.copy_(noise.sigma)
    white.psd.fill_(1.0)
    sets = {"mean": recon, "shaped": noise.sample(recon, g), "white": white.sample(recon, g)}
    res = {"run": run_dir, "sigma": noise.sigma.tolist(), "fit_seconds": round(time.perf_counter() - t0, 1)}
    for name in variants:
        r = two_sample_test(sets[name], test, 0, groups=(subjects, subjects), paired=True, limit=128)
        res[name] = {"two_sample_acc_recon_vs_real": float(np.mean(r.folds)), "folds": r.folds,
                     "auc": float(np.mean(r.auc)), "ssim": float(ssim(sets[name], test).mean())}
        print(name, res[name], flush=True)
        out.write_text(json.dumps(res, indent=1))
    res["seconds"] = round(time.perf_counter() - t0, 1)
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
