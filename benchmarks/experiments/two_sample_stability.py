"""How much the two-sample accuracy depends on the seed: the old measurement (one half/half split, constant learning
rate, scored where training stopped) against today's (4 folds, one-cycle schedule), same samples, same classifier.
Usage: python benchmarks/experiments/two_sample_stability.py RUN_DIR SAMPLES_DIR OUT.json [SEEDS]   (reads the run's test split)"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vqmri import api
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.evaluation.classifier import _classifier
from vqmri.evaluation.two_sample import two_sample_fold_accuracies


def single_split_constant_lr(generated, other, seed, epochs=30):
    """The measurement up to commit 9e1849d (evaluation/samples.py), kept here to compare against."""
    g = torch.Generator().manual_seed(seed)
    n = min(len(generated), len(other))
    a = generated[torch.randperm(len(generated), generator=g)[:n]]
    b = other[torch.randperm(len(other), generator=g)[:n]]
    half = n // 2
    xtr, ytr = torch.cat([a[:half], b[:half]]), torch.cat([torch.ones(half), torch.zeros(half)])
    xte, yte = torch.cat([a[half:], b[half:]]), torch.cat([torch.ones(n - half), torch.zeros(n - half)])
    torch.manual_seed(seed)
    net = _classifier()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(perm), 32):
            idx = perm[i:i + 32]
            loss = F.binary_cross_entropy_with_logits(net(xtr[idx]).squeeze(1), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return float(((net(xte).squeeze(1) > 0).float() == yte).float().mean())


def main(run_dir, samples_dir, out, seeds=5):
    model = api.load(run_dir)
    files = sorted(Path(samples_dir).glob("sample_*.png"))
    s = torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("L"), np.float32) / 255 for f in files]))[:, None]
    test = load_cached(discover_from_config(model.config, model.run.root), "test", model.config).images
    recon = model.reconstruct(torch.from_numpy(np.array(test, np.float32))[:, None])
    res = {"run": str(run_dir), "samples": str(samples_dir), "n_samples": len(s), "seeds": list(range(seeds))}
    t = time.time()
    res["single_split_constant_lr"] = [single_split_constant_lr(s, recon, k) for k in range(seeds)]
    res["single_split_seconds"] = round(time.time() - t)
    t = time.time()
    folds = [two_sample_fold_accuracies(s, recon, k) for k in range(seeds)]
    res["four_fold_one_cycle"] = [float(np.mean(f)) for f in folds]
    res["four_fold_per_fold"] = folds
    res["four_fold_seconds"] = round(time.time() - t)
    for k in ("single_split_constant_lr", "four_fold_one_cycle"):
        res[k + "_median_min_max"] = [float(np.median(res[k])), min(res[k]), max(res[k])]
    Path(out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 5)
