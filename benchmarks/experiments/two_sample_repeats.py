"""Does the two-sample accuracy depend on the set size, and why? One prior's samples (pooled from several sample
folders) scored against the test reconstructions at several sizes, each repeated with several seeds (a new pick of
samples and test slices, new folds, new classifiers), beside the new-subjects reference (validation
reconstructions against test reconstructions) at the same sizes and seeds. Condition "dense": the size of the
smallest set but the test slices drawn from half of the test subjects, so each subject has as many slices as at
twice the size: if the accuracy then falls like it does at twice the size, slices per subject (the classifier
learning subjects) is the cause, not the number of images. Condition "wide": the smallest size, the real side drawn
from the test and validation reconstructions together (twice the subjects, half the slices a subject): how much
the test gains in power with more subjects. Every result keeps both recalls (which set it errs on).

Usage: python benchmarks/experiments/two_sample_repeats.py RUN_DIR OUT.json SAMPLES_DIR[,SAMPLES_DIR...] [SIZES] [SEEDS] [KINDS]
       (SIZES default 128,256; SEEDS default 0,1,2,3; KINDS: which of samples,null,dense,wide, default
       samples,null,dense)"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vqmri import api
from vqmri.data.datamodule import discover_from_config
from vqmri.evaluation.two_sample import two_sample_test

run, out, dirs = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
sizes = [int(s) for s in sys.argv[4].split(",")] if len(sys.argv) > 4 else [128, 256]
seeds = [int(s) for s in sys.argv[5].split(",")] if len(sys.argv) > 5 else [0, 1, 2, 3]
kinds = sys.argv[6].split(",") if len(sys.argv) > 6 else ["samples", "null", "dense"]
model = api.load(run)
found = discover_from_config(model.config, model.run.root)
(test, test_subj), (val, val_subj) = (api.reconstruct_pick(model, found, name, None) for name in ("test", "validate"))
wide = torch.cat([test, val]), test_subj + val_subj
files = sorted(f for d in dirs for f in Path(d).glob("sample_*.png"))
pool = torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("L"), np.float32) / 255 for f in files]))[:, None]
res = {"run": run, "samples": dirs, "n_pool": len(pool), "n_test": len(test), "test_subjects": len(set(test_subj)),
       "n_validate": len(val), "validate_subjects": len(set(val_subj)), "runs": []}


def record(kind, n, seed, t, started):
    row = {"kind": kind, "n": n, "seed": seed, "acc": float(np.mean(t.folds)), "folds": t.folds,
           "recall_generated": t.recall_generated, "recall_other": t.recall_other,
           "seconds": round(time.time() - started, 1)}
    res["runs"].append(row)
    print(json.dumps(row), flush=True)
    Path(out).write_text(json.dumps(res, indent=1))


for seed in seeds:
    g = torch.Generator().manual_seed(1000 + seed)
    half = sorted(set(test_subj))
    half = [half[i] for i in torch.randperm(len(half), generator=g)[:len(half) // 2].tolist()]
    dense = [i for i, s in enumerate(test_subj) if s in half]
    m = min(sizes)
    conditions = ([("samples", f"samples_{n}", n, (test, test_subj)) for n in sizes]
                  + [("null", f"null_{n}", n, (test, test_subj)) for n in sizes]
                  + [("dense", f"samples_{m}_dense", m, (test[dense], [test_subj[i] for i in dense])),
                     ("wide", f"samples_{m}_wide", m, wide)])
    for key, kind, n, (other, other_subj) in conditions:
        if key not in kinds:
            continue
        started = time.time()
        if key == "null":
            pick = torch.randperm(len(val), generator=g)[:n]
            gen, gen_groups = val[pick], [val_subj[i] for i in pick.tolist()]
        else:
            gen, gen_groups = pool[torch.randperm(len(pool), generator=g)[:n]], None
        record(kind, n, seed, two_sample_test(gen, other, seed, groups=(gen_groups, other_subj)), started)

summary = {}
for kind in sorted({r["kind"] for r in res["runs"]}):
    rows = [r for r in res["runs"] if r["kind"] == kind]
    summary[kind] = {k: [float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows]))]
                     for k in ("acc", "recall_generated", "recall_other")}
res["summary_mean_sd"] = summary
Path(out).write_text(json.dumps(res, indent=1))
print(json.dumps(summary, indent=1))
