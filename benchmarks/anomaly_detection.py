"""Issue 21: how well the prior finds synthetic lesions in held-out slices, three maps side by side in one run.

Lesions: ellipses of radius 3-15 px at 128 px (scaled with the image size), axis ratio 0.6-1, brighter or darker
than the tissue by a contrast of 0.2-0.6 (added, clipped to [0, 1]), only on tissue (pixels above 0.1), centred on
tissue; half of the picked slices get one, half stay clean; all seeded. Maps compared:
- healing: `vqmri anomaly` (inference/healing.py): |x - healed| inside the replaced codes, smoothed;
- reconstruction error: |x - reconstruction| (the issue's baseline), and smoothed as the healing map is (a fair
  second baseline: smoothing alone lifts any map's AUPRC on blob-shaped lesions);
- NLL: each code's NLL under the prior (bits), spread over its pixels.
Figures over tissue pixels of every picked slice: pixel AUROC and AUPRC, the best Dice over thresholds, and
slice-level AUROC (slice scores: the map's mean over tissue, the mean of its top 1 %, the largest 7 px window
mean: `slice_auroc_by_score`); again for the lesions of radius >= 6 px at contrast >= 0.3 (with
all clean slices); the clean slices' false-positive pixel rate at the best-Dice threshold; seconds for 64 slices.

Usage: python benchmarks/anomaly_detection.py RUN_DIR OUT.json [SPLIT] [N] [THRESHOLD] [RESAMPLES] [SEED]
       (defaults test, 128 slices, the package's threshold and resamples, 0)
"""
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import binary_auroc, binary_average_precision

from vqmri import api
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.inference.healing import (
    RESAMPLES,
    SMOOTH,
    THRESHOLD,
    anomaly,
    code_nll,
    gaussian_blur,
    likeliest_labels,
    slice_score,
)


def add_lesions(x: torch.Tensor, g: torch.Generator):
    """Half of the slices (B, 1, S, S) get one lesion. Returns the slices, the lesion masks, radius and contrast."""
    b, _, s, _ = x.shape
    scale = s / 128
    out, masks = x.clone(), torch.zeros_like(x, dtype=torch.bool)
    radius, contrast = torch.zeros(b), torch.zeros(b)
    yy, xx = torch.meshgrid(torch.arange(s).float(), torch.arange(s).float(), indexing="ij")
    for i in torch.randperm(b, generator=g)[: b // 2].tolist():
        tissue = x[i, 0] > 0.1
        r = float(torch.randint(3, 16, (1,), generator=g)) * scale
        ratio = 0.6 + 0.4 * float(torch.rand(1, generator=g))
        angle = math.pi * float(torch.rand(1, generator=g))
        c = 0.2 + 0.4 * float(torch.rand(1, generator=g))
        sign = 1.0 if torch.rand(1, generator=g) < 0.5 else -1.0
        centres = tissue.nonzero()
        cy, cx = centres[torch.randint(len(centres), (1,), generator=g)][0].float()
        u = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
        v = -(xx - cx) * math.sin(angle) + (yy - cy) * math.cos(angle)
        m = ((u / r) ** 2 + (v / (r * ratio)) ** 2 <= 1) & tissue
        out[i, 0] = torch.where(m, (x[i, 0] + sign * c).clamp(0, 1), x[i, 0])
        masks[i, 0], radius[i], contrast[i] = m, r / scale, c
    return out, masks, radius, contrast


def lesioned_slices(run_dir: str, split: str, n: int, seed: int):
    """The run's model and prior, n seeded slices of `split` with enough tissue, and those slices with lesions
    (add_lesions). Returns model, prior, clean, x, masks, radius, contrast."""
    model = api.load(run_dir, device="cpu")
    prior = api.load_prior(model.run)
    data = load_cached(discover_from_config(model.config, model.run.root), split, model.config)
    images = torch.from_numpy(np.array(data.images, np.float32))[:, None]
    enough = ((images > 0.1).flatten(1).float().mean(1) > 0.2).nonzero()[:, 0]
    g = torch.Generator().manual_seed(seed)
    clean = images[enough[torch.randperm(len(enough), generator=g)[:n]]]
    return (model, prior, clean, *add_lesions(clean, g))


def slice_scores(m: torch.Tensor, t: torch.Tensor) -> dict:
    """Candidate slice scores of maps m (B, 1, S, S) over tissue t: the mean over tissue (the package's first
    definition), the mean of the top 1 % of tissue pixels, and the largest mean over a window of about a small
    lesion's size inside tissue (`window_max`: the package's score since session 16, chosen on the validate split)."""
    tissue_mean = (m * t).flatten(1).sum(1) / t.flatten(1).sum(1).clamp(min=1)
    top = torch.stack([v[w].flatten().topk(max(1, int(w.sum()) // 100)).values.mean() if w.any() else v.sum() * 0
                       for v, w in zip(m, t)])
    return {"mean": tissue_mean, "top1pct": top, "window_max": slice_score(m, t.float())}


def scores(maps: torch.Tensor, masks: torch.Tensor, tissue: torch.Tensor, keep: torch.Tensor) -> dict:
    """Pixel and slice figures of one kind of map over the slices in `keep`."""
    m, t, y = maps[keep], tissue[keep], masks[keep]
    pix, lab = m[t].float(), y[t].long()
    res = {"pixel_auroc": float(binary_auroc(pix, lab)), "pixel_auprc": float(binary_average_precision(pix, lab)),
           "lesion_pixel_share": float(lab.float().mean())}
    best, best_t = 0.0, None
    for q in torch.linspace(0.5, 0.999, 60):
        thr = torch.quantile(pix[torch.randperm(len(pix))[:200000]], float(q))
        hit = pix > thr
        dice = float(2 * (hit & lab.bool()).sum() / (hit.sum() + lab.sum()).clamp(min=1))
        if dice > best:
            best, best_t = dice, float(thr)
    res["best_dice"], res["best_dice_threshold"] = best, best_t
    has = y.flatten(1).any(1).long()
    res["slice_auroc_by_score"] = {k: float(binary_auroc(v, has)) for k, v in slice_scores(m, t).items()}
    res["slice_auroc"] = res["slice_auroc_by_score"]["window_max"]  # the package's score
    clean = ~has.bool()
    res["clean_fp_pixel_rate_at_best_dice"] = float((m[clean][t[clean]] > best_t).float().mean()) if best_t else None
    return res


def main():
    run_dir, out = sys.argv[1], Path(sys.argv[2])
    split = sys.argv[3] if len(sys.argv) > 3 else "test"
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    threshold = float(sys.argv[5]) if len(sys.argv) > 5 else THRESHOLD
    resamples = int(sys.argv[6]) if len(sys.argv) > 6 else RESAMPLES
    seed = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    torch.set_num_threads(torch.get_num_threads())
    model, prior, clean, x, masks, radius, contrast = lesioned_slices(run_dir, split, n, seed)
    tissue = clean > 0.1

    t0 = time.perf_counter()
    heal = anomaly(model, prior, x[:64], threshold, resamples, seed)
    seconds_64 = time.perf_counter() - t0
    rest = anomaly(model, prior, x[64:], threshold, resamples, seed + 64) if len(x) > 64 else None
    healing = torch.cat([heal.anomaly] + ([rest.anomaly] if rest else []))
    recon_error = (x - model.reconstruct(x)).abs()
    codes = model.encode_batched(x)
    nll = code_nll(prior, codes, likeliest_labels(prior, codes))
    nll_map = torch.stack([F.interpolate(v[:, None], size=x.shape[-2:], mode="nearest") for v in nll]).sum(0)

    has = masks.flatten(1).any(1)
    strong = (~has) | ((radius >= 6) & (contrast >= 0.3))
    every = torch.ones(len(x), dtype=torch.bool)
    res = {"run": run_dir, "split": split, "n_slices": len(x), "with_lesion": int(has.sum()),
           "strong_lesions (radius >= 6, contrast >= 0.3)": int((strong & has).sum()), "threshold": threshold,
           "resamples": resamples, "seed": seed, "seconds_for_64_slices": round(seconds_64, 1),
           "replaced_fraction_mean": float(torch.cat([heal.replaced_fraction] + ([rest.replaced_fraction] if rest
                                                                                else [])).mean()),
           "threads": torch.get_num_threads(), "maps": {}}
    smoothed = gaussian_blur(recon_error, SMOOTH * x.shape[-1] / 128)
    for name, maps in (("healing", healing), ("reconstruction_error", recon_error),
                       ("reconstruction_error_smoothed", smoothed), ("nll", nll_map)):
        res["maps"][name] = {"all": scores(maps, masks, tissue, every), "strong": scores(maps, masks, tissue, strong)}
        print(name, json.dumps(res["maps"][name]), flush=True)
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
