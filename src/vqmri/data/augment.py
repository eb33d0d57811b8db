"""Seeded small geometric and intensity jitter of slices, for `prior.augment`: the prior learns from the codes of
slightly rotated, scaled and shifted copies of the training slices, anatomy it would otherwise see only once."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, generator: torch.Generator, degrees: float = 6.0, scale: float = 0.06,
                  shift: float = 0.03, intensity: float = 0.08) -> torch.Tensor:
    """x (B, 1, H, W) in [0, 1] -> each slice rotated by up to +-`degrees`, scaled by up to +-`scale`, shifted by up
    to +-`shift` of its size and its intensity scaled by up to +-`intensity` (uniform draws from `generator`).
    Bilinear resampling with zero fill: the background of these slices is black."""
    def u() -> torch.Tensor:  # one uniform draw in [-1, 1] a slice
        return 2 * torch.rand(len(x), generator=generator) - 1

    angle, zoom = u() * math.radians(degrees), 1 + u() * scale
    tx, ty, gain = u() * shift * 2, u() * shift * 2, 1 + u() * intensity
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (out * gain[:, None, None, None].to(x.dtype)).clamp(0, 1)


def field_of_view(x: torch.Tensor, zoom: float, gamma: float) -> torch.Tensor:
    """x (1, S, S) in [0, 1] -> framed as another scanner might frame it: zoomed in (cropped) or out (zero-padded) by
    a factor up to 1 + `zoom` either way, shifted by up to `zoom` / 2 of the size, and its contrast bent by a gamma
    of exp(+-`gamma`) (`data.zoom`, `data.gamma`). Draws come from torch's global generator (seeded per worker)."""
    if zoom > 0:
        s = math.exp((2 * float(torch.rand(())) - 1) * math.log1p(zoom))
        tx, ty = ((2 * torch.rand(2) - 1) * zoom / 2).tolist()
        theta = torch.tensor([[[1 / s, 0.0, tx], [0.0, 1 / s, ty]]], dtype=x.dtype)
        grid = F.affine_grid(theta, [1, *x.shape], align_corners=False)
        x = F.grid_sample(x[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0].clamp(0, 1)
    if gamma > 0:
        x = x.clamp_min(0) ** math.exp((2 * float(torch.rand(())) - 1) * gamma)
    return x
