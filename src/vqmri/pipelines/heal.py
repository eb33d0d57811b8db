"""`vqmri anomaly` and `vqmri inpaint` on files: read the inputs (files, folders, any layout `data inspect` reads),
run inference/healing.py at model size, and write each slice's maps back at its native size."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data import geometry, readers
from ..data.layouts import discover
from ..data.writers import heat_overlay, save_png, to_uint8, write_nifti_map
from ..errors import VqmriError
from ..evaluation.figures import montage
from ..inference.healing import RESAMPLES, THRESHOLD, anomaly, inpaint
from ..runs import checkpoint_id
from ..vqmodel import VQModel
from .reconstruct import output_stem


def read_inputs(inputs: list[str], axis: str, min_tissue: float) -> list[readers.Slice]:
    """Every slice of the inputs: a file is read as it is, a folder through `discover` (every split)."""
    slices = []
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise VqmriError(f"{p} does not exist; give slices (PNG, NIfTI, DICOM) or folders of them")
        if p.is_dir():
            found = discover(str(p))
            for source in (s for split in found.splits.values() for s in split):
                slices += readers.read_any(Path(source.path), axis, min_tissue)
        else:
            slices += readers.read_any(p, axis, min_tissue)
    if not slices:
        raise VqmriError(f"no slices with tissue in {', '.join(inputs)}")
    return slices


def _names(slices: list[readers.Slice]) -> list[str]:
    """NAME of each slice's outputs: its file name without image extensions, numbered for slices of a volume, made
    unique by the parent folder where two files share a name."""
    per_source: dict[str, int] = {}
    for s in slices:
        per_source[s.source] = per_source.get(s.source, 0) + 1
    stems = {src: output_stem(Path(src)) for src in per_source}
    clash = {st for st in stems.values() if list(stems.values()).count(st) > 1}
    names = []
    for s in slices:
        stem = stems[s.source]
        if stem in clash:
            stem = f"{Path(s.source).resolve().parent.name}__{stem}"
        names.append(stem if per_source[s.source] == 1 else f"{stem}_slice_{s.index}")
    return names


def anomaly_files(model: VQModel, inputs: list[str], out: Path, threshold: float = THRESHOLD,
                  resamples: int = RESAMPLES, seed: int = 0) -> list[dict]:
    """NAME_anomaly.npy / .png, NAME_healed.png (and NAME_anomaly.nii.gz for NIfTI slices) per slice, and
    scores.csv (worst first). Returns the score rows, worst first."""
    prior = model.prior()
    slices = read_inputs(inputs, model.config.data.axis, model.config.data.min_tissue)
    x = model.prepare([s.array for s in slices])
    res = anomaly(model, prior, x, threshold, resamples, seed)
    out.mkdir(parents=True, exist_ok=True)
    vmax = float(res.anomaly.max()) or 1.0  # one colour scale for the whole set, so heat maps compare
    rows = []
    for j, (s, name) in enumerate(zip(slices, _names(slices))):
        amap = geometry.to_native(res.anomaly[j, 0], s.shape).numpy()
        healed = geometry.to_native(res.healed[j, 0], s.shape)
        np.save(out / f"{name}_anomaly.npy", np.asarray(amap, np.float32))
        save_png(heat_overlay(s.array, np.asarray(amap), vmax), out / f"{name}_anomaly.png")
        save_png(to_uint8(healed), out / f"{name}_healed.png")
        if readers.is_nifti(Path(s.source)) and readers.nifti_ndim(Path(s.source)) == 2:
            write_nifti_map(np.asarray(amap, np.float32), Path(s.source), out / f"{name}_anomaly.nii.gz")
        rows.append({"file": Path(s.source).name if len(slices) == 1 or name == output_stem(Path(s.source))
                     else f"{Path(s.source).name}#{s.index}", "score": float(res.score[j]),
                     "replaced_fraction": float(res.replaced_fraction[j]), "ssim": float(res.ssim[j]),
                     "bits_per_code": float(res.bits_per_code[j]), "name": name})
    rows.sort(key=lambda r: -r["score"])
    with open(out / "scores.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["file", "score", "replaced_fraction", "ssim", "bits_per_code"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    if model.run is not None:
        _record(model, out, rows, threshold, resamples)
    return rows


def _record(model: VQModel, out: Path, rows: list[dict], threshold: float, resamples: int) -> None:
    """RUN_DIR/eval/anomaly.json and figures/anomaly_worst.png: the latest anomaly call, for report.html. Records the
    checkpoints it came from, so the report can say when the run has changed since."""
    run = model.run
    worst = [out / f"{r['name']}_anomaly.png" for r in rows[:8]]
    run.figures.mkdir(parents=True, exist_ok=True)
    montage([np.asarray(Image.open(p).convert("RGB"), np.float32) / 255 for p in worst], run.figures /
            "anomaly_worst.png", titles=[f"{r['file']} {r['score']:.3f}" for r in rows[:8]], ncols=4)
    run.eval.mkdir(parents=True, exist_ok=True)
    (run.eval / "anomaly.json").write_text(json.dumps({
        "out": str(out.resolve()), "n_slices": len(rows), "threshold": threshold, "resamples": resamples,
        "checkpoint": model.checkpoint_id, "prior_checkpoint": checkpoint_id(run.prior_checkpoint()),
        "worst": [{k: r[k] for k in ("file", "score", "replaced_fraction", "ssim", "bits_per_code")}
                  for r in rows[:8]]}, indent=1))


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A mask image or NIfTI of the slice's own size -> bool (H, W), true = fill in."""
    if not path.exists():
        raise VqmriError(f"mask {path} does not exist; give an image of the slice's size, non-zero where to fill in")
    try:
        if readers.is_nifti(path):
            arr = readers.read_any(path, "axial", 0.0)[0].array
        else:
            arr = np.asarray(Image.open(path).convert("L"), np.float32)
    except (OSError, VqmriError) as e:
        raise VqmriError(f"cannot read mask {path} ({str(e).splitlines()[0]}); give a PNG or NIfTI mask") from None
    if arr.shape != tuple(shape):
        raise VqmriError(f"mask {path} is {arr.shape[0]}x{arr.shape[1]} but the slice is {shape[0]}x{shape[1]}; give "
                         "a mask of the slice's own size")
    if not (arr > 0).any():
        raise VqmriError(f"mask {path} is empty: mark the region to fill in with non-zero pixels")
    return arr > 0


def inpaint_file(model: VQModel, file: str, mask_path: str, out: Path, n: int = 4, seed: int = 0) -> list[Path]:
    """NAME_inpaint_K.png (K = 0..n-1) at the slice's native size."""
    prior = model.prior()
    slices = read_inputs([file], model.config.data.axis, 0.0)
    if len(slices) != 1:
        raise VqmriError(f"{file} holds {len(slices)} slices; inpaint one 2D slice at a time")
    s = slices[0]
    mask = read_mask(Path(mask_path), s.shape)
    x = model.prepare([s.array])
    scaled = torch.from_numpy(geometry.to_model(mask.astype(np.float32), model.image_size))
    small = scaled > 0.5 if (scaled > 0.5).any() else scaled > 0  # a mask thinner than a model pixel still counts
    filled = inpaint(model, prior, x, small, n, seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        native = geometry.to_native(filled[k, 0], s.shape).numpy()
        native = np.where(mask, native, s.array)  # outside the mask: the input's own pixels, at full resolution
        paths.append(out / f"{output_stem(Path(file))}_inpaint_{k}.png")
        save_png(to_uint8(native), paths[-1])
    return paths


def format_anomaly(rows: list[dict], out: str) -> str:
    """What `vqmri anomaly` prints: where the files went and the five most anomalous slices."""
    lines = [f"wrote anomaly maps, healed slices and scores.csv for {len(rows)} slice(s) to {out}; most anomalous:"]
    lines += [f"  {r['file']}: score {r['score']:.4f}, {r['replaced_fraction']:.0%} of codes replaced, "
              f"{r['bits_per_code']:.2f} bits per code" for r in rows[:5]]
    return "\n".join(lines)
