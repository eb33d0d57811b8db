"""Issue 20, diagnosis: what tells a run's reconstructions from the real slices they reconstruct?

Single image statistics first (each one's AUROC at telling reconstruction from real, paired slices of held-out
subjects, both as 8-bit files), then the `evaluate-samples` judge (recon vs real, paired subject-grouped folds,
`limit` a side) on the reconstructions as they are and after simple post-hoc changes, and on real slices blurred
(a control: how little blur the judge needs). Which cue the judge reads says what the decoder has to fix.

Usage: python benchmarks/experiments/judge_cues.py RUN_DIR OUT.json [SPLIT] [N]
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import binary_auroc

from vqmri import api
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.evaluation.classifier import as_written
from vqmri.evaluation.two_sample import two_sample_test


def _gauss(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1).float() ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))


def features(x: torch.Tensor) -> dict:
    """Per-image statistics of 8-bit images x (B, 1, S, S)."""
    tissue = x > 0.1
    lap = (x - _gauss(x, 1.0)).abs()
    spec = torch.fft.fftshift(torch.fft.fft2(x[:, 0]).abs() ** 2, dim=(-2, -1))
    s = x.shape[-1]
    yy, xx = torch.meshgrid(torch.arange(s) - s // 2, torch.arange(s) - s // 2, indexing="ij")
    rad = (yy ** 2 + xx ** 2).float().sqrt()
    hf = spec[:, rad > s / 4].sum(1) / spec.flatten(1).sum(1)
    levels = torch.tensor([len(torch.unique(v)) for v in x])
    background = ~tissue
    return {
        "highpass_abs_mean_in_tissue": (lap * tissue).flatten(1).sum(1) / tissue.flatten(1).sum(1).clamp(min=1),
        "power_above_half_nyquist": hf,
        "distinct_grey_levels": levels.float(),
        "background_nonzero_share": ((x > 0) & background).flatten(1).sum(1) / background.flatten(1).sum(1).clamp(min=1),
        "background_mean": (x * background).flatten(1).sum(1) / background.flatten(1).sum(1).clamp(min=1),
        "tissue_std": torch.stack([v[t].std() if t.sum() > 1 else v.sum() * 0 for v, t in zip(x, tissue)]),
        "tissue_mean": (x * tissue).flatten(1).sum(1) / tissue.flatten(1).sum(1).clamp(min=1),
    }


def main():
    run_dir, out = sys.argv[1], Path(sys.argv[2])
    split = sys.argv[3] if len(sys.argv) > 3 else "test"
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    model = api.load(run_dir, device="cpu")
    held = load_cached(discover_from_config(model.config, model.run.root), split, model.config)
    real = torch.from_numpy(np.array(held.images, np.float32))[:, None]
    subjects = [m["subject"] for m in held.meta]
    recon = model.reconstruct(real)
    r8, x8 = as_written(real), as_written(recon)
    res = {"run": run_dir, "split": split, "n_per_side": n, "feature_auroc_recon_vs_real": {}, "judge": {}}
    fr, fx = features(r8), features(x8)
    y = torch.cat([torch.zeros(len(r8)), torch.ones(len(x8))]).long()
    for k in fr:
        auc = float(binary_auroc(torch.cat([fr[k], fx[k]]).float(), y))
        res["feature_auroc_recon_vs_real"][k] = {"auroc": round(max(auc, 1 - auc), 3),
                                                 "real_mean": float(fr[k].float().mean()),
                                                 "recon_mean": float(fx[k].float().mean())}
        print(k, res["feature_auroc_recon_vs_real"][k], flush=True)
    variants = {
        "recon": recon,
        "recon_background_snapped": torch.where(recon < 0.02, torch.zeros_like(recon), recon),
        "recon_unsharp_1.0": (recon + 1.0 * (recon - _gauss(recon, 1.0))).clamp(0, 1),
        "real_blurred_0.5": _gauss(real, 0.5),
        "real_blurred_1.0": _gauss(real, 1.0),
    }
    for name, a in variants.items():
        t0 = time.perf_counter()
        r = two_sample_test(a, real, 0, groups=(subjects, subjects), paired=True, limit=n)
        res["judge"][name] = {"acc": round(float(np.mean(r.folds)), 3), "folds": r.folds,
                              "auc": round(float(np.mean(r.auc)), 3), "seconds": round(time.perf_counter() - t0, 1)}
        print(name, res["judge"][name], flush=True)
        out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
