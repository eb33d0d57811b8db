"""Readers: every supported file becomes one or more `Slice` records with pixels in [0, 1].

Intensity policy (documented in the README):
- 8-bit images are divided by 255, 16-bit images by 65535 (no per-image stretching: OASIS PNGs are already scaled).
- MR data (NIfTI, DICOM) is robust-normalised: clipped to the [0.5, 99.5] percentiles of its volume (a 2D
  NIfTI slice is its own volume) and scaled to [0, 1].
- 3D volumes are sliced along a chosen axis of the canonical (RAS) orientation, axial by default, and a slice is
  kept only if at least `min_tissue` (default 5%) of its pixels are above 0.1 (slices without tissue dropped).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadFileError
from . import dicom
from .dicom import is_dicom  # noqa: F401  (a reader of every kind of file lives here too)

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
NIFTI_EXTS = (".nii", ".nii.gz")
AXES = {"sagittal": 0, "coronal": 1, "axial": 2}

#: number of files decoded since import; benchmarks use it to prove a cached pass decodes nothing.


@dataclass
class Slice:
    """One 2D image in [0, 1] (float32, HxW) and where it came from."""

    array: np.ndarray
    source: str
    subject: str
    index: int
    spacing: tuple[float, float] | None = None  # mm between rows, between columns
    stored_shape: tuple[int, int] | None = None  # as in the file when it differs from `shape` (2D NIfTI)
    shape: tuple[int, int] = field(init=False)

    def __post_init__(self):
        self.shape = tuple(int(s) for s in self.array.shape)
        self.stored_shape = tuple(int(s) for s in (self.stored_shape or self.shape))


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_EXTS)


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS


def subject_of(path: Path) -> str:
    """Subject id from a file name: `case_018` from OASIS/HipMRI names, else the stem before `_slice_`, else the
    stem."""
    name = path.name
    m = re.match(r"(case_\d+)", name, re.IGNORECASE)
    if m:
        return m.group(1).lower()
    stem = name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else path.stem
    return stem.split("_slice_")[0]


def slice_index_of(path: Path) -> int:
    m = re.search(r"slice_(\d+)", path.name)
    return int(m.group(1)) if m else 0


def robust_normalise(a: np.ndarray, lo: float = 0.5, hi: float = 99.5) -> np.ndarray:
    """Clip to the [lo, hi] percentiles and scale to [0, 1]; a constant image becomes all zeros."""
    a = a.astype(np.float32)
    p_lo, p_hi = np.percentile(a, [lo, hi])
    if p_hi <= p_lo:
        return np.zeros_like(a)
    return np.clip((a - p_lo) / (p_hi - p_lo), 0.0, 1.0)


def _check_finite(a: np.ndarray, path: Path) -> None:
    if not np.all(np.isfinite(a)):
        raise BadFileError(path, "it contains NaN or infinite values", "fix the file or pass --skip-bad to skip it")


def read_image(path: Path) -> list[Slice]:
    """A PNG/JPEG/TIFF slice; 8-bit /255, 16-bit /65535, colour converted to grey."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.float32) / 65535.0
            elif im.mode == "F":
                a = np.asarray(im, dtype=np.float32)
            else:
                a = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except Exception as e:  # PIL raises many types for damaged files
        raise BadFileError(path, f"not a readable image ({type(e).__name__}: {e})") from None
    _check_finite(a, path)
    return [Slice(np.clip(a, 0, 1), str(path), subject_of(path), slice_index_of(path))]


def _load_nifti(path: Path):
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as e:
        raise BadFileError(path, f"not a readable NIfTI file ({type(e).__name__}: {e})") from None
    return img, data


def nifti_ndim(path: Path) -> int:
    """2 for a 2D slice (HxW or HxWx1), else the number of dimensions, read from the header only."""
    import nibabel as nib

    try:
        shape = nib.load(str(path)).shape
    except Exception as e:
        raise BadFileError(path, f"not a readable NIfTI file ({type(e).__name__}: {e})") from None
    return 2 if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1) else len(shape)


def read_nifti(path: Path, axis: str = "axial", min_tissue: float = 0.05) -> list[Slice]:
    """A 2D NIfTI slice (HxW or HxWx1) or a 3D volume (canonical orientation, sliced along `axis`).

    A 2D slice is shown the way a slice of a volume is (`volume_slices`): array axes (x, y) with y up, i.e.
    np.rot90 of the stored array. HipMRI's 256 x 128 slices so read as 128 rows x 256 columns, the usual axial
    view and the orientation of the same subjects' 3D volumes and of DICOM; `reconstruct` writes them back as stored."""
    import nibabel as nib

    img, data = _load_nifti(path)
    _check_finite(data, path)
    zooms = tuple(float(z) for z in img.header.get_zooms())
    squeezed = np.squeeze(data)
    if squeezed.ndim == 2 and (data.ndim == 2 or data.shape[2] == 1):
        spacing = (zooms[1], zooms[0]) if len(zooms) >= 2 else None  # shown rotated: rows run along y
        return [Slice(np.ascontiguousarray(np.rot90(robust_normalise(squeezed))), str(path), subject_of(path),
                      slice_index_of(path), spacing, stored_shape=squeezed.shape)]
    if data.ndim != 3:
        raise BadFileError(path, f"it has shape {data.shape}; vqmri reads 2D slices and 3D volumes, not "
                                 f"{data.ndim}D data",
                           "split 4D series into 3D volumes first (e.g. with nibabel or fslsplit)")
    canon = nib.as_closest_canonical(img)
    vol = np.asarray(canon.dataobj, dtype=np.float32)
    vol = robust_normalise(vol)
    ax = AXES[axis]
    zooms = tuple(float(z) for z in canon.header.get_zooms()[:3])
    in_plane = tuple(zooms[i] for i in range(3) if i != ax)
    return volume_slices(vol, ax, str(path), subject_of(path), in_plane, min_tissue)


def volume_slices(vol: np.ndarray, ax: int, source: str, subject: str, spacing, min_tissue: float) -> list[Slice]:
    """Cut a normalised RAS volume into display-oriented 2D slices (anterior/superior up), dropping empty ones."""
    out = []
    for k in range(vol.shape[ax]):
        s = np.take(vol, k, axis=ax)
        if (s > 0.1).mean() < min_tissue:
            continue
        out.append(Slice(np.ascontiguousarray(np.rot90(s)), source, subject, k,
                         None if spacing is None else (spacing[1], spacing[0])))
    return out


def load_dicom_volume(where: str | Path) -> tuple[np.ndarray, tuple[float, float], str]:
    """One DICOM series (a folder or a `FOLDER::KEY` locator) -> (volume (Z, rows, cols), pixel spacing, PatientID)."""
    vol, spacing, subject, _, _ = dicom.load_volume(where)
    _check_finite(vol, Path(where))
    return vol, spacing, subject


def read_dicom_series(where: str | Path, min_tissue: float = 0.05, skipped: list | None = None,
                      axis: str = "axial") -> list[Slice]:
    """A DICOM series as robust-normalised 2D slices, empty slices dropped. Cut along `axis`: in the plane the series
    was acquired in (its slice normal closest to that axis) the images are taken as stored, in acquisition order,
    as a viewer shows them; in another plane the volume is resliced in the canonical (RAS) orientation like a NIfTI
    volume (`volume_slices`), with the slice step as the spacing across. With a `skipped` list, unreadable files of
    the series are left out and listed there; without, the first ends the read."""
    vol, spacing, subject, bad, axes = dicom.load_volume(where, skip_bad=skipped is not None)
    if skipped is not None:
        skipped += bad
    _check_finite(vol, Path(where))
    vol = robust_normalise(vol)
    if int(np.abs(axes[:, 0]).argmax()) == AXES[axis]:
        return [Slice(np.ascontiguousarray(vol[k]), str(where), subject, k, spacing)
                for k in range(vol.shape[0]) if (vol[k] > 0.1).mean() >= min_tissue]
    import nibabel as nib

    ornt = nib.orientations.io_orientation(np.pad(axes, ((0, 1), (0, 1))) + np.diag([0, 0, 0, 1.0]))
    canon = nib.orientations.apply_orientation(vol, ornt)
    zooms = np.linalg.norm(axes, axis=0)
    mm = [0.0] * 3
    for source, (target, _) in enumerate(ornt):
        mm[int(target)] = float(zooms[source])
    ax = AXES[axis]
    in_plane = tuple(mm[i] for i in range(3) if i != ax)
    return volume_slices(np.ascontiguousarray(canon), ax, str(where), subject, in_plane, min_tissue)


def read_any(path: str | Path, axis: str = "axial", min_tissue: float = 0.05,
             skipped: list | None = None) -> list[Slice]:
    """Dispatch on the kind of input: image file, NIfTI file, DICOM file, series folder or series locator. `skipped`:
    see `read_dicom_series`. Slices narrower than `MIN_SIDE` are refused here, before any work is done on them."""
    folder, key = dicom.split_locator(path)
    if key is not None or folder.is_dir():
        return _big_enough(read_dicom_series(path, min_tissue, skipped, axis), folder, f" along data.axis={axis}")
    path = Path(path)
    if is_nifti(path):
        return _big_enough(read_nifti(path, axis, min_tissue), path, f" along data.axis={axis}")
    if is_image(path):
        return _big_enough(read_image(path), path, "")
    if is_dicom(path):
        return _big_enough(read_dicom_series(dicom.series_of_file(path)[0], min_tissue, skipped, axis), path,
                           f" along data.axis={axis}")
    raise BadFileError(path, "unknown file type", "give PNG/JPEG/TIFF, NIfTI (.nii/.nii.gz) or a DICOM series folder")


MIN_SIDE = 11  # the SSIM window: smaller slices cannot be scored, and hold no anatomy worth a code


def _big_enough(slices: list[Slice], path: Path, how: str) -> list[Slice]:
    small = next((s for s in slices if min(s.shape) < MIN_SIDE), None)
    if small is not None:
        h, w = small.shape
        hint = ("choose the axis that cuts the volume into images (data.axis=axial|coronal|sagittal)" if how
                else f"give images of at least {MIN_SIDE}x{MIN_SIDE} px")
        raise BadFileError(path, f"its slices{how} are {h}x{w} px, smaller than the {MIN_SIDE}-pixel SSIM window",
                           hint)
    return slices
