"""Is the two-sample test fooled by 8-bit rounding? Samples are read back from 8-bit PNGs; reconstructions used to
stay in floating point. Reconstructions of validation subjects against those of test subjects (new real subjects on
both sides, so 0.5 is the truth), 128 a side, folds keeping subjects whole, seeds 0 and 1: both in floating point,
the validation side rounded to 8 bits, both rounded.

Since 9a1bd74 `two_sample_test` rounds every set itself, so on today's code all three read the same; the figures in
benchmarks/RESULTS.md were taken on the code before it (108b1ba with the `judge` argument of 9a1bd74), e.g.
`git worktree add /tmp/old 108b1ba` with that argument added, then `PYTHONPATH=/tmp/old/src`.

Usage: python benchmarks/experiments/rounding_check.py RUN_DIR [cnn|features] [only]   (only: the rounded-against-float row)"""
import sys
import time

import numpy as np
import torch

from vqmri import api
from vqmri.data.datamodule import discover_from_config
from vqmri.evaluation.two_sample import two_sample_test


def as_written(images):  # as vqmri sample writes them (here, so that it runs on the code before the fix too)
    return (images.clamp(0, 1) * 255).round() / 255


model = api.load(sys.argv[1], device="cpu")
judge = sys.argv[2] if len(sys.argv) > 2 else "features"
found = discover_from_config(model.config, model.run.root)
test_rec, test_subj = api.reconstruct_pick(model, found, "test", None)
val_rec, val_subj = api.reconstruct_pick(model, found, "validate", None)
print("reconstructions in [%.3f, %.3f]" % (float(test_rec.min()), float(test_rec.max())), flush=True)
rows = [("8bit vs float", as_written(val_rec), test_rec)]
if len(sys.argv) <= 3:
    rows = [("float vs float", val_rec, test_rec)] + rows + [("8bit vs 8bit", as_written(val_rec), as_written(test_rec))]
extra = {}
if judge == "features":
    sys.path.insert(0, "benchmarks")
    from second_judge import fit_statistics_judge
    extra = {"judge": fit_statistics_judge}
for name, a, b in rows:
    for seed in (0, 1):
        gs = torch.Generator().manual_seed(1000 + seed)
        pa, pb = torch.randperm(len(a), generator=gs)[:128], torch.randperm(len(b), generator=gs)[:128]
        t = time.time()
        r = two_sample_test(a[pa], b[pb], seed, groups=([val_subj[i] for i in pa.tolist()],
                                                         [test_subj[i] for i in pb.tolist()]), **extra)
        print(judge, name, seed, "acc %.3f auc %.3f" % (np.mean(r.folds), np.mean(r.auc)), "%.0fs" % (time.time() - t),
              flush=True)
