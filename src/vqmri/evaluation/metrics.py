"""Per-image image-quality metrics on [0, 1] images (data_range 1), all from torchmetrics.

SSIM is Wang et al. 2004: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, computed per image and averaged over
the valid (unpadded) region, the same convention as scikit-image's `structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1)`. MS-SSIM uses the 5 standard scales and needs a side of at
least 161 pixels; below that it is reported as not applicable (None). MS-SSIM is torchmetrics' as it stands
(its per-scale maps include the padded border), so it reads slightly higher than a cropped computation would.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from torchmetrics.functional.image import (
    multiscale_structural_similarity_index_measure as _ms_ssim,
)
from torchmetrics.functional.image import (
    peak_signal_noise_ratio as _psnr,
)
from torchmetrics.functional.image import (
    structural_similarity_index_measure as _ssim,
)

MS_SSIM_MIN_SIDE = 161


def in_float32(fn):
    """Run a metric or loss in float32 even inside a mixed-precision (autocast) region: autocast runs convolutions,
    the SSIM window's too, in bf16 / fp16, where a variance E[x^2] - E[x]^2 cancels to noise (on a GPU, training
    with such an SSIM loss stalled near SSIM 0.5)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        tensor = next(a for a in args if isinstance(a, torch.Tensor))
        with torch.autocast(device_type=tensor.device.type, enabled=False):
            return fn(*(a.float() if isinstance(a, torch.Tensor) else a for a in args), **kwargs)
    return wrapper


def gaussian_1d(sigma: float, radius: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The normalised Gaussian of `sigma` on -radius..radius, (2 * radius + 1,): one kernel for the SSIM window of
    the training loss and the smoothing of anomaly maps."""
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    return g / g.sum()


@in_float32
def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) x2 -> (B,) SSIM per image, the mean of the SSIM map over the valid region.

    torchmetrics (1.9) reflect-pads the images and averages the whole map, padding included, which inflates SSIM
    (0.47 instead of 0.40 on a noisy 64x64 test pair); we take its full SSIM map and crop the 5-pixel border that
    the 11-pixel window cannot see, as Wang et al. and scikit-image do. tests/test_metrics.py checks this."""
    _, full = _ssim(pred.float(), target.float(), gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0,
                    k1=0.01, k2=0.03, reduction="none", return_full_image=True)
    return full[..., 5:-5, 5:-5].mean(dim=(1, 2, 3))


@in_float32
def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) x2 -> (B,) PSNR in dB; an exact reconstruction is capped at 100 dB."""
    return _psnr(pred.float(), target.float(), data_range=1.0, reduction="none", dim=(1, 2, 3)).clamp(max=100.0)


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred.float() - target.float()) ** 2).mean(dim=(1, 2, 3))


@in_float32
def ms_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """(B,) MS-SSIM, or None when the image is smaller than MS_SSIM_MIN_SIDE."""
    if min(pred.shape[-2:]) < MS_SSIM_MIN_SIDE:
        return None
    return torch.stack([_ms_ssim(p[None].float(), t[None].float(), gaussian_kernel=True, sigma=1.5, kernel_size=11,
                                 data_range=1.0, k1=0.01, k2=0.03) for p, t in zip(pred, target)])


def summarize(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "median": float(np.median(v)),
            "max": float(v.max())}


def perplexity(counts: np.ndarray) -> float:
    p = counts / max(counts.sum(), 1)
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))
