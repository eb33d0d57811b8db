"""New slices from a run's prior, with the ways of choosing among draws: none, decode-encode consistency
(`candidates`) or a realism classifier (`filter_candidates`, pipelines/selection.py)."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..codes import reconstruct_pick
from ..data.datamodule import discover_from_config
from ..data.writers import save_png, to_uint8, write_sample_nifti
from ..errors import VqmriError
from ..evaluation.figures import montage
from ..inference.guided import check_redraw, sample_guided
from ..inference.sampling import check_sampling, keep_top, masked_sampling, sample_codes
from ..vqmodel import VQModel, load
from .selection import filter_tops, realism_filter


@dataclass
class Generated:
    """What `generate` returns: the decoded slices (N, 1, S, S) in [0, 1], their code maps (one (N, h, w) a level)
    and slice-position labels (N,) (None for an unconditioned prior), with the model that decoded them."""
    model: VQModel
    codes: list[torch.Tensor]
    images: torch.Tensor
    labels: torch.Tensor | None


def sample_labels(k: int, label: int | None, size: int) -> torch.Tensor | None:
    """The slice-position bucket of each of `size` draws: all `label`, else cycling through the k buckets (None for
    an unconditioned prior)."""
    return None if not k else (torch.full((size,), label) if label is not None else torch.arange(size) % k)


def generate(run_dir: str | Path | VQModel, n: int, seed: int = 0, temperature: float | list[float] = 1.0,
             top_k: int | None = None, label: int | None = None, candidates: int = 1, filter_candidates: int = 1,
             filter_fit: int = 1024, top_p: float | None = None, bottom_redraw: float | None = None,
             bottom_choice: str | None = None, steps: int | list[int] | None = None,
             refine: int | list[int] | None = None, refine_share: float | None = None,
             guidance: float | list[float] | None = None,
             choice_temperature: float | list[float] | None = None) -> Generated:
    """n new slices from the run's prior; the same seed gives the same samples. A class-conditioned prior
    (`prior.classes` slice-position buckets) draws every sample at `label`, or, without one, cycles through the
    buckets so the samples cover the stack as real slices do.
    `candidates` > 1 draws that many maps for each sample (same label) and keeps the most self-consistent one
    (`VQModel.consistency`): rejection sampling that trades some diversity for fewer broken samples.
    `filter_candidates` M > 1 draws `filter_fit` more maps (at most one a training slice) to fit a classifier against
    reconstructions of the training slices, then n * M candidates, and keeps the n it finds most real
    (`selection.realism_filter`); needs the run's training data. On a two-level run the filter draws and judges
    tops alone (`selection.filter_tops`) and draws bottoms for the kept tops only. `steps`, `refine`,
    `refine_share`, `guidance`, `choice_temperature`: how the masked-code levels draw (`sampling.masked_sampling`;
    default the run's `prior.*`)."""
    model = run_dir if isinstance(run_dir, VQModel) else load(run_dir)
    prior = model.prior()
    k = prior.num_classes
    if label is not None and not (k and 0 <= label < k):
        raise VqmriError(f"--label {label}: this prior has {k or 'no'} slice-position classes"
                         + (f"; choose 0..{k - 1}" if k else "; train it with prior.classes=N to use labels"))
    check_sampling(len(model.code_shapes()), temperature, top_k, top_p)  # before any candidate or filter work
    if candidates < 1:
        raise VqmriError(f"--candidates {candidates}: give 1 (no selection) or more")
    if filter_candidates < 1:
        raise VqmriError(f"--filter {filter_candidates}: give 1 (no selection) or more")
    if candidates > 1 and filter_candidates > 1:
        raise VqmriError("--candidates and --filter are two ways to select samples: use one of them")

    # checked on entry, before any drawing
    with masked_sampling(prior, steps, refine, refine_share, guidance, choice_temperature):
        redraw = check_redraw(model.config.prior.bottom_redraw if bottom_redraw is None else bottom_redraw)
        if redraw < 1 and len(model.code_shapes()) != 2:
            if bottom_redraw is not None:
                raise VqmriError(f"--bottom-redraw {bottom_redraw}: applies to two-level (model.arch=vqvae2) runs only")
            redraw = 1.0

        def draw(size: int, labels: torch.Tensor | None, top: torch.Tensor | None = None) -> list[torch.Tensor]:
            """`size` code maps; with `top` (two levels), bottoms drawn under those tops."""
            if redraw < 1:
                return sample_guided(model, prior, size, seed, temperature, top_k, top_p, labels, redraw,
                                     choice=bottom_choice or model.config.prior.bottom_choice, top=top)
            shapes = model.code_shapes()
            fixed = None if top is None else keep_top(top, shapes[1])
            return sample_codes(prior, size, shapes, seed, temperature, top_k, label=labels, top_p=top_p, fixed=fixed)

        if filter_candidates > 1 and len(model.code_shapes()) == 2:  # the filter judges tops; kept ones get bottoms
            model.require_run("sample --filter")
            kept, tops, labels, _ = filter_tops(model, prior, n, filter_candidates, filter_fit, seed, temperature,
                                                top_k, top_p, lambda size: sample_labels(k, label, size))
            labels = None if labels is None else labels[kept]
            codes = draw(n, labels, tops[kept])
            return Generated(model, codes, model.decode_batched(codes), labels)

        if filter_candidates > 1:  # one pool of maps: its first part fits the filter, the rest are candidates
            run = model.require_run("sample --filter")
            train_recon, _ = reconstruct_pick(model, discover_from_config(model.config, run.root), "train", None)
            n_fit = min(filter_fit, len(train_recon))
            size = n_fit + n * filter_candidates
            labels = sample_labels(k, label, size)
            drawn = draw(size, labels)
            pool = model.decode_batched(drawn)
            kept, _ = realism_filter(pool, train_recon, n_fit, n, seed)
            return Generated(model, [c[kept] for c in drawn], pool[kept], None if labels is None else labels[kept])
        labels = sample_labels(k, label, n)
        drawn = draw(n * candidates, None if labels is None else labels.repeat(candidates))
        if candidates == 1:
            codes = drawn
        else:  # candidate j of sample i is row j * n + i
            best = model.consistency(drawn).view(candidates, n).argmax(0)
            codes = [c.view(candidates, n, *c.shape[1:])[best, torch.arange(n)] for c in drawn]
        return Generated(model, codes, model.decode_batched(codes), labels)


def write_samples(gen: Generated, out: Path, nifti: bool = False) -> list[str]:
    """sample_XXXX.png (and .nii.gz), grid.png, codes.npy (codes_top / codes_bottom for two levels) and labels.npy
    into `out`, replacing the sample set of an earlier call there (a folder never mixes two sample sets). The set is
    written into a hidden folder beside `out` and moved in by renames: an interrupted call leaves `out` as it was.
    Returns the names of the .npy files written."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.tmp-*"):  # left by a killed call
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    tmp.mkdir()
    try:
        for i, im in enumerate(gen.images):
            save_png(to_uint8(im), tmp / f"sample_{i:04d}.png")
            if nifti:
                write_sample_nifti(im, tmp / f"sample_{i:04d}.nii.gz")
        names = ["codes"] if len(gen.codes) == 1 else ["codes_top", "codes_bottom"]
        for name, c in zip(names, gen.codes):
            np.save(tmp / f"{name}.npy", c.numpy().astype(np.int16))
        if gen.labels is not None:
            np.save(tmp / "labels.npy", gen.labels.numpy().astype(np.int16))
            names.append("labels")
        montage(list(gen.images[:64].numpy()), tmp / "grid.png")
        for old in [*out.glob("sample_*.png"), *out.glob("sample_*.nii.gz"), out / "sample_metrics.json",
                    out / "labels.npy", out / "codes.npy", out / "codes_top.npy", out / "codes_bottom.npy"]:
            old.unlink(missing_ok=True)
        for f in sorted(tmp.iterdir(), key=lambda f: f.name.startswith("codes")):  # code maps last: they mark a
            os.replace(f, out / f.name)                                           # complete set
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return names
