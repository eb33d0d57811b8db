"""Probe (issue 20): would real high-frequency detail, borrowed from training slices, make a blurred slice pass the
two-sample judge? No model involved: real test slices blurred by a Gaussian (a stand-in for a decoder's output,
which the judge tells at 1.00) get the high-pass band (x - blur(x)) of
  global: the training slice nearest to the blurred slice (L2 between blurred slices), whole;
  patch:  for each 8x8 patch, the training patch at the same place nearest in its blurred form (OASIS is registered).
Each set is judged against the real slices it came from (paired, subject-grouped folds, the evaluate-samples judge).
If even this leaves the judge at ~1.00, transplanted detail is no route; if it falls, it is worth a sampler stage.

Usage: python benchmarks/experiments/detail_transfer_probe.py DATA OUT.json [SIGMA] [N_TRAIN]
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vqmri.config import resolve
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.evaluation.metrics import ssim
from vqmri.evaluation.two_sample import two_sample_test
from vqmri.inference.healing import gaussian_blur


def patch_detail(blurred, train_blur, train_hf, p=8, chunk=32):
    """For each p x p patch of `blurred` (B,1,S,S), the high-pass of the training patch at the same place whose blurred
    form is nearest."""
    B, _, S, _ = blurred.shape
    q = F.unfold(blurred, p, stride=p)                       # (B, p*p, L)
    db = F.unfold(train_blur, p, stride=p)                   # (N, p*p, L)
    hf = F.unfold(train_hf, p, stride=p)
    out = torch.empty_like(q)
    for s in range(0, B, chunk):
        qq = q[s:s + chunk]                                  # (b, d, L)
        d = (qq.pow(2).sum(1)[:, None] - 2 * torch.einsum("bdl,ndl->bnl", qq, db) + db.pow(2).sum(1)[None])
        best = d.argmin(1)                                   # (b, L)
        out[s:s + chunk] = torch.gather(hf.permute(2, 0, 1), 1,
                                        best.T[:, :, None].expand(-1, -1, hf.shape[1])).permute(1, 2, 0)
    return F.fold(out, (S, S), p, stride=p)


def main():
    data, out = sys.argv[1], Path(sys.argv[2])
    sigma = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    n_train = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    t0 = time.perf_counter()
    cfg = resolve("oasis", None, [f"data.path={data}"])
    found = discover_from_config(cfg)
    test = load_cached(found, "test", cfg)
    train = load_cached(found, "train", cfg)
    x = torch.from_numpy(np.array(test.images, np.float32))[:, None]
    subjects = [m["subject"] for m in test.meta]
    g = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(train.images), generator=g)[:n_train].sort().values
    tr = torch.from_numpy(np.array(train.images, np.float32)[pick.numpy()])[:, None]
    blur, tr_blur = gaussian_blur(x, sigma), gaussian_blur(tr, sigma)
    tr_hf = tr - tr_blur
    d = torch.cdist(blur.flatten(1), tr_blur.flatten(1))
    glob = (blur + tr_hf[d.argmin(1)]).clamp(0, 1)
    patch = (blur + patch_detail(blur, tr_blur, tr_hf)).clamp(0, 1)
    res = {"data": data, "sigma": sigma, "n_train": n_train}
    for name, a in (("blurred", blur), ("global", glob), ("patch", patch)):
        r = two_sample_test(a, x, 0, groups=(subjects, subjects), paired=True, limit=128)
        res[name] = {"acc": float(np.mean(r.folds)), "folds": r.folds, "auc": float(np.mean(r.auc)),
                     "ssim": float(ssim(a, x).mean())}
        print(name, res[name], round(time.perf_counter() - t0), flush=True)
        out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
