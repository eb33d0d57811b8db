"""Issue 20's headline, read by more than one judge and seed: samples vs real held-out slices, reconstructions of those
slices vs the slices (the decoder's floor) and real slices of other new subjects vs them (the 0.5 reference), with
the CNN of `evaluate-samples` (60k weights) and a larger residual net it was never tuned against (`judges.ResJudge`,
434k weights), every fold keeping each subject whole and both sides compared as 8-bit files.

Usage: python benchmarks/sample_judges.py RUN_DIR SAMPLES_DIR OUT.json [JUDGES] [SEEDS] [SIZES]
       (JUDGES default cnn,resnet; SEEDS default 0,1,2,3 for cnn, the first one for resnet; SIZES: judge at these
       sizes in px too, e.g. 32,64, as `evaluate-samples` does; default the model's size only)
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vqmri import api
from vqmri.codes import reconstruct_pick
from vqmri.data.datamodule import discover_from_config
from vqmri.evaluation.two_sample import at_size, two_sample_test
from vqmri.pipelines.score_samples import read_samples

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judges import JUDGES  # noqa: E402


def main():
    run_dir, samples_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    judges = sys.argv[4].split(",") if len(sys.argv) > 4 else ["cnn", "resnet"]
    seeds = [int(s) for s in sys.argv[5].split(",")] if len(sys.argv) > 5 else [0, 1, 2, 3]
    sizes = [int(s) for s in sys.argv[6].split(",")] if len(sys.argv) > 6 else []
    model = api.load(run_dir, device="cpu")
    found = discover_from_config(model.config, model.run.root)
    samples, _ = read_samples(samples_dir, run_dir)
    real, recon, subjects = reconstruct_pick(model, found, "test", None, with_real=True)
    other_real, _, other_subjects = reconstruct_pick(model, found, "validate", None, with_real=True)
    n = len(samples)
    res = {"run": run_dir, "samples": str(samples_dir), "n_a_side": n, "judges": {}}
    full = (samples, real, recon, other_real)
    for px in sizes or [model.image_size]:
        samples, real, recon, other_real = (at_size(x, px) for x in full)
        judge_all(res, f"{px}px" if sizes else None, judges, seeds, samples, real, recon, other_real, subjects,
                  other_subjects, out)


def judge_all(res, size, judges, seeds, samples, real, recon, other_real, subjects, other_subjects, out):
    """Each judge (and seed) on the three tests; into res["judges"][JUDGE] or, at a size, [JUDGE@SIZE]."""
    n = len(samples)
    for judge in judges:
        rows = {"vs_real": [], "recon_vs_real": [], "real_null": []}
        for seed in seeds if judge == "cnn" else seeds[:1]:
            g = torch.Generator().manual_seed(1000 + seed)
            pick = torch.randperm(len(real), generator=g)[:n]
            pick_null = torch.randperm(len(other_real), generator=g)[:n]
            subj = [subjects[i] for i in pick.tolist()]
            t = time.time()
            tests = {"vs_real": two_sample_test(samples, real[pick], seed, groups=(None, subj), judge=JUDGES[judge]),
                     "recon_vs_real": two_sample_test(recon[pick], real[pick], seed, groups=(subj, subj),
                                                      judge=JUDGES[judge], paired=True),
                     "real_null": two_sample_test(other_real[pick_null], real[pick], seed, judge=JUDGES[judge],
                                                  groups=([other_subjects[i] for i in pick_null.tolist()], subj))}
            for k, r in tests.items():
                rows[k].append({"seed": seed, "acc": float(np.mean(r.folds)), "auc": float(np.mean(r.auc)),
                                "recall_generated": r.recall_generated, "recall_other": r.recall_other})
            print(judge, size or "", seed, {k: round(v[-1]["acc"], 3) for k, v in rows.items()},
                  f"{time.time() - t:.0f} s", flush=True)
        name = judge if size is None else f"{judge}@{size}"
        res["judges"][name] = {k: {"runs": v, "acc_mean": float(np.mean([r["acc"] for r in v])),
                                    "acc_sd": float(np.std([r["acc"] for r in v])),
                                    "auc_mean": float(np.mean([r["auc"] for r in v]))} for k, v in rows.items()}
        out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
