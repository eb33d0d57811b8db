"""Does `vqmri sample --filter` make samples more realistic, or only better at fooling one kind of classifier?

The filter keeps the candidates a two-sample CNN finds most real, and the two-sample test then scores them with a CNN
of the same architecture. A set tuned against a judge may beat that judge alone. Here the kept set and a random set
of the same candidates (`classifier_rejection.py`'s sets, from the pool drawn with seed 0, no refit) are scored
against test reconstructions with judges the filter never saw, side by side, at the protocol of the other
two-sample figures (128 a side, folds keeping subjects whole, seeds 0-3):
- `cnn`: the two-sample test's own CNN (the reference; the random set at seeds 2-3 was not scored before);
- `resnet`: a residual net of another shape (5x5 strided stem, three strided residual stages, group norm, GELU,
  average and max pooling), trained the same way;
- `features`: no convolution learnt at all: logistic regression (L2, LBFGS) on fixed image statistics: the
  radially averaged log power spectrum (blur and ringing show there), the intensity histogram and the histogram of
  log gradient magnitude (edge sharpness).
Every set is compared as the 8-bit files `vqmri sample` writes (`two_sample_test` does it): this judge is what
found that samples read from 8-bit PNGs against reconstructions kept in floating point are told apart by the
rounding alone.

Usage: python benchmarks/experiments/second_judge.py RUN_DIR REJECTION.json OUT.json [JUDGES] [SEEDS] [SETS]
       (defaults cnn,resnet,features; seeds 0,1,2,3; sets kept,random; REJECTION.json: classifier_rejection.py's
       results for the same run, whose kept_index names the kept set)"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vqmri import api
from vqmri.data.datamodule import discover_from_config
from vqmri.evaluation.classifier import as_written
from vqmri.evaluation.two_sample import two_sample_test
from vqmri.inference.sampling import sample_codes
from vqmri.runs import load_prior

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from judges import JUDGES  # noqa: E402

if __name__ == "__main__":
    run_dir, rejection, out = sys.argv[1], json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[3])
    judges = sys.argv[4].split(",") if len(sys.argv) > 4 else list(JUDGES)
    seeds = [int(s) for s in sys.argv[5].split(",")] if len(sys.argv) > 5 else [0, 1, 2, 3]
    set_names = sys.argv[6].split(",") if len(sys.argv) > 6 else ["kept", "random"]
    started = time.time()
    model = api.load(run_dir, device="cpu")
    prior = load_prior(model.run)
    found = discover_from_config(model.config, model.run.root)
    test_rec, test_subj = api.reconstruct_pick(model, found, "test", None)
    n_pool, n_fit, n_keep = rejection["pool"], rejection["fit"], rejection["keep"]
    drawn = sample_codes(prior, n_pool, model.code_shapes(), 0, 1.0, None,
                         label=torch.arange(n_pool) % prior.num_classes if prior.num_classes else None)
    pool = as_written(model.decode_batched(drawn))
    cand = torch.arange(n_fit, n_pool)  # the random set exactly as classifier_rejection.py draws it
    sets = {"kept": torch.tensor(rejection["kept_index"]),
            "random": cand[torch.randperm(len(cand), generator=torch.Generator().manual_seed(1))[:n_keep]]}
    print(f"pool of {n_pool} drawn and decoded, {time.time() - started:.0f} s", flush=True)
    res = {"run": run_dir, "judges": judges, "seeds": seeds, "runs": []}
    for judge in judges:
        for name in set_names:
            s = pool[sets[name]]
            for seed in seeds:
                gs = torch.Generator().manual_seed(1000 + seed)  # the picks of classifier_rejection.py
                pick_s = torch.randperm(len(s), generator=gs)[:128]
                pick_t = torch.randperm(len(test_rec), generator=gs)[:128]
                t0 = time.time()
                r = two_sample_test(s[pick_s], test_rec[pick_t], seed,
                                    groups=(None, [test_subj[i] for i in pick_t.tolist()]), judge=JUDGES[judge])
                row = {"judge": judge, "set": name, "seed": seed, "acc": float(np.mean(r.folds)), "folds": r.folds,
                       "auc": float(np.mean(r.auc)), "auc_folds": r.auc, "recall_generated": r.recall_generated,
                       "recall_other": r.recall_other, "seconds": round(time.time() - t0, 1)}
                res["runs"].append(row)
                print(json.dumps(row), flush=True)
                out.write_text(json.dumps(res, indent=1))
    summary = {}
    for judge in judges:
        for name in set_names:
            rows = [r for r in res["runs"] if r["judge"] == judge and r["set"] == name]
            summary[f"{judge}/{name}"] = {k: [float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows]))]
                                          for k in ("acc", "auc", "recall_generated", "recall_other")}
    res["summary"], res["seconds"] = summary, round(time.time() - started, 1)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(summary, indent=1))
