"""`vqmri evaluate-samples`: read a folder of samples as written, gather the real slices, reconstructions and
references they are judged against, score them (evaluation/samples.py) and keep the figures with the samples and
the run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..codes import reconstruct_pick, slice_positions
from ..data.datamodule import discover_from_config, load_cached
from ..data.layouts import discover
from ..errors import VqmriError
from ..evaluation.samples import evaluate_samples
from ..vqmodel import VQModel


def read_samples(samples_dir: Path, run_dir: str) -> tuple[torch.Tensor, list[Path]]:
    """The sample_*.png files of a folder as (N, 1, S, S) in [0, 1]; one line naming the file for a bad one."""
    files = sorted(samples_dir.glob("sample_*.png"))
    if not files:
        raise VqmriError(f"no sample_*.png in {samples_dir}; create them with "
                         f"`vqmri sample {run_dir} -n 64 --out {samples_dir}`")
    if len(files) < 2:
        raise VqmriError(f"only one sample in {samples_dir}; the figures compare sets: sample at least 2 "
                         f"(64 or more for a two-sample accuracy worth reading)")
    images = []
    for f in files:
        try:
            images.append(np.asarray(Image.open(f).convert("L"), np.float32) / 255)
        except OSError as e:
            raise VqmriError(f"cannot read sample {f} ({e}); remove it or sample the folder again") from None
    if len({a.shape for a in images}) > 1:
        raise VqmriError(f"the samples in {samples_dir} differ in size; sample the folder again into an empty --out")
    return torch.from_numpy(np.stack(images))[:, None], files


def _null_reference(model: VQModel, found, split: str, n: int):
    """Up to n real slices of the other held-out split's subjects, their reconstructions and subjects: new real
    subjects, the references of the two-sample test. None when that split has fewer than 2 subjects."""
    other = "validate" if split != "validate" else "test"
    if len({s.subject for s in found.splits.get(other, [])}) < 2:
        return None
    return reconstruct_pick(model, found, other, n, with_real=True)


def _sample_codes(model: VQModel, samples_dir: Path, n: int, test, train) -> dict | None:
    """The code maps `vqmri sample` saved beside the PNGs, with the test and train slices encoded, for the
    code-space memorisation figures; None (figures left out) when they are missing or do not fit this model."""
    names = ["codes"] if len(model.code_shapes()) == 1 else ["codes_top", "codes_bottom"]
    paths = [samples_dir / f"{name}.npy" for name in names]
    if not all(p.exists() for p in paths):
        return None
    maps = [torch.from_numpy(np.load(p).astype(np.int64)) for p in paths]
    if any(tuple(m.shape) != (n, *shape) for m, shape in zip(maps, model.code_shapes())):
        print(f"note: the code maps in {samples_dir} do not fit {n} samples of this model's code shape; "
              f"code-space memorisation figures left out")
        return None
    return {"samples": maps, "test": model.encode_batched(test), "train": model.encode_batched(train)}


def score_sample_dir(model: VQModel, samples_dir: str | Path, data: str | None = None, split: str = "test",
                     seed: int = 0) -> dict:
    """Every sample figure for a folder written by `vqmri sample`, saved as SAMPLES_DIR/sample_metrics.json and
    RUN_DIR/eval/SPLIT/samples.json (the report shows the latter)."""
    samples_dir = Path(samples_dir)
    run = model.require_run("evaluate-samples")
    samples, files = read_samples(samples_dir, str(run.root))
    if samples.shape[-1] != model.image_size:
        raise VqmriError(f"the samples in {samples_dir} are {samples.shape[-1]} px but {run.root} works at "
                         f"{model.image_size} px; score them with the run that drew them")
    cfg = model.config
    d = cfg.data
    data = data or d.path
    own = discover_from_config(cfg, run.root)  # the run's saved splits
    found = own if data == d.path else discover(data, tuple(d.split_ratios), d.split_seed)
    held = load_cached(found, split, cfg)
    test = torch.from_numpy(np.array(held.images, np.float32))[:, None]
    subjects = [m["subject"] for m in held.meta]
    train = torch.from_numpy(np.array(load_cached(own, "train", cfg).images, np.float32))[:, None]
    recon = model.reconstruct(test)
    res = evaluate_samples(samples, test, recon, train, seed,
                           _sample_codes(model, samples_dir, len(files), test, train),
                           subjects if len(set(subjects)) >= 2 else None,
                           _null_reference(model, found, split, len(files)),
                           torch.from_numpy(slice_positions(held.meta)))
    res["split"] = split
    res["samples_dir"] = str(samples_dir.resolve())
    if "two_sample_acc_null" in res:
        res["two_sample_null_reference"] = "validate" if split != "validate" else "test"
    text = json.dumps(res, indent=1)
    (samples_dir / "sample_metrics.json").write_text(text)
    if data == d.path:
        (run.eval / split).mkdir(parents=True, exist_ok=True)
        (run.eval / split / "samples.json").write_text(text)
    return res
