"""Between native slices (any HxW) and the model's square `image_size`.

Policy: keep the aspect ratio: pad centrally with zeros to a square of side max(H, W), then resize (bilinear,
antialiased). `to_native` undoes it exactly: resize back to that square, then crop the padding away.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def pad_box(shape: tuple[int, int]) -> tuple[int, int, int]:
    """Side of the padded square and the top/left offsets of the image inside it."""
    h, w = shape
    side = max(h, w)
    return side, (side - h) // 2, (side - w) // 2


def to_model(a: np.ndarray, size: int) -> np.ndarray:
    """(H, W) in [0, 1] -> (size, size) float32."""
    side, top, left = pad_box(a.shape)
    sq = np.zeros((side, side), np.float32)
    sq[top: top + a.shape[0], left: left + a.shape[1]] = a
    if side == size:
        return sq
    t = torch.from_numpy(sq)[None, None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[0, 0].clamp(0, 1).numpy()


def to_native(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(..., size, size) -> (..., H, W): resize to the padded square, crop the padding."""
    side, top, left = pad_box(shape)
    lead = x.shape[:-2]
    t = x.reshape(-1, 1, *x.shape[-2:]).float()
    if t.shape[-1] != side:
        t = F.interpolate(t, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    t = t[..., top: top + shape[0], left: left + shape[1]].clamp(0, 1)
    return t.reshape(*lead, *shape)
