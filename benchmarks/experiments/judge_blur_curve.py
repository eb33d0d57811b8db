"""Probe (issue 20): how little blur the two-sample judge needs. Real held-out slices (128 px) against the same
slices blurred by a Gaussian of each sigma (px), paired, subject-grouped folds, the evaluate-samples judge, 128 a
side; with each set's SSIM to the real slices, so a decoder's SSIM can be read against the judge's threshold.
No model involved. Session 16 measured sigma 0.5 (0.996) and 1 (1.00).

Usage: python benchmarks/experiments/judge_blur_curve.py DATA OUT.json SIGMA [SIGMA ...]
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vqmri.config import resolve
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.evaluation.metrics import ssim
from vqmri.evaluation.two_sample import two_sample_test
from vqmri.inference.healing import gaussian_blur


def main():
    data, out, sigmas = sys.argv[1], Path(sys.argv[2]), [float(s) for s in sys.argv[3:]]
    t0 = time.perf_counter()
    cfg = resolve("oasis", None, [f"data.path={data}"])
    test = load_cached(discover_from_config(cfg), "test", cfg)
    x = torch.from_numpy(np.array(test.images, np.float32))[:, None]
    subjects = [m["subject"] for m in test.meta]
    res = {"data": data, "split": "test", "n": 128, "seed": 0}
    for sigma in sigmas:
        b = gaussian_blur(x, sigma).clamp(0, 1)
        r = two_sample_test(b, x, 0, groups=(subjects, subjects), paired=True, limit=128)
        res[f"sigma_{sigma}"] = {"acc": float(np.mean(r.folds)), "folds": r.folds, "auc": float(np.mean(r.auc)),
                                 "ssim": float(ssim(b, x).mean()), "seconds": round(time.perf_counter() - t0, 1)}
        print(sigma, res[f"sigma_{sigma}"], flush=True)
        out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
