"""Writers beside the readers: 8-bit PNGs, and NIfTI written back with the source's affine and stored orientation
(the inverse of `readers`' rot90 display convention, kept in one place)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import geometry, readers


def to_uint8(a) -> np.ndarray:
    """[0, 1] array or tensor (any leading singleton axes) -> uint8, rounded half up."""
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return (np.clip(np.squeeze(a), 0, 1) * 255 + 0.5).astype(np.uint8)


def save_png(a: np.ndarray, path: Path, size: int | None = None) -> None:
    """uint8 (H, W) or (H, W, 3) -> PNG; `size`: nearest-neighbour resize to that height (code maps)."""
    im = Image.fromarray(a)
    if size and im.size[0] != size:
        im = im.resize((size, size) if a.ndim == 3 else (size * im.size[0] // im.size[1], size), Image.NEAREST)
    im.save(path)


def as_stored(display: np.ndarray) -> np.ndarray:
    """A slice as displayed (rows anterior-up) -> the array axes NIfTI stores (inverse of readers' rot90)."""
    return np.rot90(display, -1)


def write_nifti_slice(display: np.ndarray, source: Path, out: Path,
                      native_shape: tuple[int, ...] | None = None) -> None:
    """One 2D slice written with the source file's affine; `native_shape`: reshape back to the stored shape
    (e.g. HxWx1) when the slice is at native size."""
    import nibabel as nib

    src = nib.load(str(source))
    arr = as_stored(display)
    if native_shape is not None and len(src.shape) == 3:
        arr = arr.reshape(src.shape)
    nib.save(nib.Nifti1Image(arr.astype(np.float32), src.affine), str(out))


def write_nifti_volume(slices: list, recon: torch.Tensor, source: Path, axis: str, out: Path) -> None:
    """Reconstructed slices of a 3D volume written back as a volume: native size, canonical (RAS) orientation and
    its affine. `slices`: the `readers.Slice` records read from `source`, `recon` (N, 1, S, S) in their order."""
    import nibabel as nib

    canon = nib.as_closest_canonical(nib.load(str(source)))
    vol = np.zeros(canon.shape, np.float32)
    ax = readers.AXES[axis]
    for j, s in enumerate(slices):
        index = [slice(None)] * 3
        index[ax] = s.index
        vol[tuple(index)] = as_stored(geometry.to_native(recon[j, 0], s.shape).numpy())
    nib.save(nib.Nifti1Image(vol, canon.affine), str(out))


def write_sample_nifti(image: torch.Tensor, out: Path) -> None:
    """A generated slice (1, S, S) as a 2D NIfTI with an identity affine."""
    import nibabel as nib

    nib.save(nib.Nifti1Image(as_stored(image[0].numpy()).astype(np.float32), np.eye(4)), str(out))


def heat_overlay(slice_: np.ndarray, heat: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """A slice (H, W) in [0, 1] with a heat map (H, W, >= 0) blended over it -> (H, W, 3) uint8; `vmax`: the heat
    that gets the full colour (default: the map's own maximum)."""
    import matplotlib

    top = vmax if vmax is not None else float(heat.max()) or 1.0
    rgb = matplotlib.colormaps["inferno"](np.clip(heat / top, 0, 1))[..., :3]
    alpha = np.clip(heat / top, 0, 1)[..., None] * 0.8
    grey = np.repeat(np.clip(slice_, 0, 1)[..., None], 3, -1)
    return ((1 - alpha) * grey + alpha * rgb).clip(0, 1).__mul__(255).round().astype(np.uint8)


def write_nifti_map(display: np.ndarray, source: Path, out: Path) -> None:
    """A map at a 2D NIfTI slice's native (display) size, written as stored with the source's affine."""
    write_nifti_slice(display, source, out, native_shape=display.shape)
