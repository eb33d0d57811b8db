"""What does the two-sample test score when the 'generated' side is real? Reconstructions of validation subjects
against reconstructions of test subjects (both new to the autoencoder, drawn from one population), with the folds
cutting through subjects (as before the eighth session) and with each subject kept whole (as now).

Usage: python benchmarks/experiments/two_sample_null.py RUN_DIR OUT.json [N] [SEEDS]   (N slices a side, default 128)"""
import json
import sys

import numpy as np

from vqmri import api
from vqmri.data.datamodule import discover_from_config
from vqmri.evaluation.two_sample import two_sample_fold_accuracies

run, out = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 128
seeds = [int(s) for s in sys.argv[4].split(",")] if len(sys.argv) > 4 else [0, 1]
model = api.load(run)
found = discover_from_config(model.config, model.run.root)
(val, val_subj), (test, test_subj) = (api.reconstruct_pick(model, found, split, n) for split in ("validate", "test"))
res = {"run": run, "n": n, "subjects": {"validate": len(set(val_subj)), "test": len(set(test_subj))}}
for seed in seeds:
    ungrouped = two_sample_fold_accuracies(val, test, seed)
    grouped = two_sample_fold_accuracies(val, test, seed, groups=(val_subj, test_subj))
    res[f"seed{seed}"] = {"folds_split_subjects": {"mean": float(np.mean(ungrouped)), "folds": ungrouped},
                          "folds_keep_subjects": {"mean": float(np.mean(grouped)), "folds": grouped}}
    print(seed, res[f"seed{seed}"], flush=True)
with open(out, "w") as f:
    json.dump(res, f, indent=1)
