"""`vqmri reconstruct`: files in, reconstructions and code maps out, named after their inputs and never over each
other; NIfTI in -> NIfTI out with the source affine (3D volumes whole, at native size)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..data import dicom, geometry, readers
from ..data.writers import save_png, to_uint8, write_nifti_slice, write_nifti_volume
from ..errors import VqmriError
from ..evaluation.figures import code_colours
from ..vqmodel import VQModel


def output_stem(path: Path) -> str:
    """A file's name without its image extension(s): `case_201_slice_3.nii.png` -> `case_201_slice_3`."""
    name = path.name
    for ext in (".nii.gz", ".nii.png", ".nii", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".ima"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem if not path.is_dir() and path.suffix.lower() in (".dcm", ".ima") else name


def _safe(text: str) -> str:
    """A series description as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("._") or "series"


def unique_prefixes(paths: list[Path]) -> list[str]:
    """A prefix for each input's outputs: empty, or its parent folder's name where two inputs share a file name (two
    folders' `slice_0.png` would otherwise be written over each other)."""
    names = [p.name for p in paths]
    if len(set(map(str, paths))) < len(paths):
        dup = next(p for p in paths if list(map(str, paths)).count(str(p)) > 1)
        raise VqmriError(f"{dup} is given twice; give each input once")
    prefixes = [f"{p.resolve().parent.name}__" if names.count(p.name) > 1 else "" for p in paths]
    full = [a + n for a, n in zip(prefixes, names)]
    if len(set(full)) < len(full):
        dup = next(n for n in full if full.count(n) > 1)
        raise VqmriError(f"two inputs would both be written as {dup}; rename one, or reconstruct them into two --out "
                         "folders")
    return prefixes


def reconstruct_files(model: VQModel, files: list[str], out: Path, native: bool = False,
                      skip_bad: bool = False) -> int:
    """Reconstruct every file into `out`; returns the number of slices written."""
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.exists():
            raise VqmriError(f"{p} does not exist; give image, NIfTI or DICOM files to reconstruct")
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.config.data
    n_written = 0
    where = {}  # a study folder of several DICOM series: one input a series, named by its description
    for p in list(paths):
        if p.is_dir():
            found, _ = dicom.series_in(p, skip_bad)
            if len(found) > 1:
                i = paths.index(p)
                named = {p / _safe(v["description"]): dicom.locator(p, k) for k, v in found.items()}
                paths[i: i + 1] = list(named)
                where.update(named)
    for p, prefix in zip(paths, unique_prefixes(paths)):
        volume = readers.is_nifti(p) and readers.nifti_ndim(p) == 3
        try:  # a volume is reconstructed whole (every slice) so it can be written back as a volume
            slices = readers.read_any(where.get(p, p), cfg.axis, 0.0 if volume else cfg.min_tissue)
        except VqmriError:
            if skip_bad:
                print(f"skipped {p}", file=sys.stderr)
                continue
            raise
        x = model.prepare([s.array for s in slices])
        codes = model.encode_batched(x)
        recon = model.decode_batched(codes)
        stem = prefix + output_stem(p)
        if volume:
            write_nifti_volume(slices, recon, p, cfg.axis, out / (prefix + p.name))
        elif readers.is_nifti(p):
            r = recon[0, 0]
            arr = geometry.to_native(r, slices[0].shape).numpy() if native else r.numpy()
            write_nifti_slice(arr, p, out / (prefix + p.name), slices[0].shape if native else None)
        for j, s in enumerate(slices):
            # a single image keeps its own name (as PNG); slices of a volume or NIfTI are numbered
            name = prefix + p.name if len(slices) == 1 and not readers.is_nifti(p) else f"{stem}_slice_{s.index}.png"
            if not name.lower().endswith(".png"):
                name = f"{prefix}{p.name if p.is_dir() or p in where else p.stem}.png"
            r = recon[j, 0]
            save_png(to_uint8(geometry.to_native(r, s.shape) if native else r), out / name)
            save_png(code_colours(codes[-1][j], model.codebook_size), out / (name[:-4] + "_codes.png"), size=None)
            n_written += 1
    return n_written
