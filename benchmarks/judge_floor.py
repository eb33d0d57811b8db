"""The judge's floor for a run: its reconstructions of 256 test slices against those same real slices (paired folds
by subject, both sides as 8-bit values), with `evaluate-samples`' CNN at the given sizes; optionally with the
reconstruction's pixels below each of ZERO_BELOW (of 255) set to 0, as a real OASIS background is, and its outer RING
pixels a side replaced by the real slice's (does the judge see the edge?).
Usage: python benchmarks/judge_floor.py RUN_DIR [SIZES] [ZERO_BELOW] [RING]   (defaults 32,64, 0 and 0; JSON lines)
Per line also: the mean of reconstruction - real (of 255) on the outermost ring and inside it."""
import json
import sys

import numpy as np
import torch

import vqmri
from vqmri.codes import reconstruct_pick
from vqmri.data.datamodule import discover_from_config
from vqmri.evaluation.two_sample import at_size, two_sample_test

run_dir = sys.argv[1]
sizes = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "32,64").split(",")]
zero_below = [int(s) for s in (sys.argv[3] if len(sys.argv) > 3 else "0").split(",")]
ring = int(sys.argv[4]) if len(sys.argv) > 4 else 0
model = vqmri.load(run_dir)
real, recon, subjects = reconstruct_pick(model, discover_from_config(model.config, model.run.root), "test", None,
                                         with_real=True)
pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(1000))[:256]
groups = [subjects[i] for i in pick.tolist()]
real, recon = ((x[pick] * 255).round() / 255 for x in (real, recon))
edge = torch.ones_like(real, dtype=torch.bool)
edge[..., 1:-1, 1:-1] = False
bias = {"edge_bias": round(float((recon - real)[edge].mean()) * 255, 2),
        "inside_bias": round(float((recon - real)[~edge].mean()) * 255, 2)}
if ring:
    outer = torch.ones_like(edge)
    outer[..., ring:-ring, ring:-ring] = False
    recon = torch.where(outer, real, recon)
for level in zero_below:
    dark = recon.masked_fill(recon < level / 255 + 1e-6, 0) if level else recon
    for px in sizes:
        r = two_sample_test(at_size(dark, px), at_size(real, px), 0, groups=(groups, groups), paired=True)
        acc = round(float(np.mean(r.folds)), 3)
        print(json.dumps({"run": run_dir, "px": px, "zero_below": level, "ring_from_real": ring, "recon_vs_real": acc,
                          **bias}), flush=True)
