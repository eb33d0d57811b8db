"""The two headline sample figures of `vqmri evaluate-samples` alone, when the whole command (five two-sample tests,
memorisation, diversity) costs too much CPU: samples vs real held-out slices, and reconstructions of those slices vs
the slices (the decoder's floor). Same judge, folds (subjects kept whole), 8-bit comparison and n as the command.
With --four, also samples vs the reconstructions and the real-vs-real null (real slices of the other held-out
split's subjects vs the real test slices): the four figures issue 20 asks of the 256 px route.

An OUT.json of the same run, samples, split, seed and n left by a stopped run is continued: each test is written as
it ends, and the tests already in it are not run again (at 256 px on 2 cores each test takes tens of minutes).

Usage: python benchmarks/sample_headline.py RUN_DIR SAMPLES_DIR OUT.json [SPLIT] [SEED] [--four]
       SAMPLES_DIR "-": reconstructions vs real alone (a run without a prior; 128 a side, as with 128 samples)
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vqmri import api
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.evaluation.two_sample import two_sample_test
from vqmri.pipelines.score_samples import read_samples


def main():
    four = "--four" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--four"]
    run_dir, samples_dir, out = args[0], Path(args[1]), Path(args[2])
    split = args[3] if len(args) > 3 else "test"
    seed = int(args[4]) if len(args) > 4 else 0
    t0 = time.perf_counter()
    model = api.load(run_dir, device="cpu")
    recon_only = str(samples_dir) == "-"
    samples = None if recon_only else read_samples(samples_dir, run_dir)[0]
    found = discover_from_config(model.config, model.run.root)
    held = load_cached(found, split, model.config)
    test = torch.from_numpy(np.array(held.images, np.float32))[:, None]
    subjects = [m["subject"] for m in held.meta]
    recon = model.reconstruct(test)
    n = 128 if recon_only else len(samples)
    res = {"run": run_dir, "samples_dir": str(samples_dir), "split": split, "seed": seed, "n_samples": n}
    tests = {} if recon_only else {"vs_real": (samples, test, (None, subjects), False)}
    tests["recon_vs_real"] = (recon, test, (subjects, subjects), True)
    if four and not recon_only:
        other = "validate" if split != "validate" else "test"
        ref = load_cached(found, other, model.config)
        real_other = torch.from_numpy(np.array(ref.images, np.float32))[:, None]
        tests["vs_reconstructions"] = (samples, recon, (None, subjects), False)
        tests["real_null"] = (real_other, test, ([m["subject"] for m in ref.meta], subjects), False)
        res["two_sample_null_reference"] = other
    done = json.loads(out.read_text()) if out.exists() else {}
    if all(done.get(k) == res[k] for k in res):  # the same measurement, stopped part way: keep what it measured
        res.update(done)
    before = res.get("seconds", 0.0)  # a continued run adds its time to the stopped one's
    for name, (a, b, groups, paired) in tests.items():
        if f"two_sample_acc_{name}" in res:
            print(name, res[f"two_sample_acc_{name}"], "(measured before)", flush=True)
            continue
        r = two_sample_test(a, b, seed, groups=groups, paired=paired, limit=n)
        res[f"two_sample_acc_{name}"] = float(np.mean(r.folds))
        res[f"folds_{name}"] = r.folds
        res[f"auc_{name}"] = float(np.mean(r.auc))
        print(name, res[f"two_sample_acc_{name}"], r.folds, flush=True)
        res["seconds"] = round(before + time.perf_counter() - t0, 1)
        out.write_text(json.dumps(res, indent=1))  # after each test: a long run stopped early keeps what it measured


if __name__ == "__main__":
    main()
