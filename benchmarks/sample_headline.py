"""The two headline sample figures of `vqmri evaluate-samples` alone, when the whole command (five two-sample tests,
memorisation, diversity) costs too much CPU: samples vs real held-out slices, and reconstructions of those slices vs
the slices (the decoder's floor). Same judge, folds (subjects kept whole), 8-bit comparison and n as the command.

Usage: python benchmarks/sample_headline.py RUN_DIR SAMPLES_DIR OUT.json [SPLIT] [SEED]
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
    run_dir, samples_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    split = sys.argv[4] if len(sys.argv) > 4 else "test"
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    t0 = time.perf_counter()
    model = api.load(run_dir, device="cpu")
    samples, _ = read_samples(samples_dir, run_dir)
    held = load_cached(discover_from_config(model.config, model.run.root), split, model.config)
    test = torch.from_numpy(np.array(held.images, np.float32))[:, None]
    subjects = [m["subject"] for m in held.meta]
    recon = model.reconstruct(test)
    res = {"run": run_dir, "samples_dir": str(samples_dir), "split": split, "seed": seed, "n_samples": len(samples)}
    for name, (a, b, groups, paired) in {"vs_real": (samples, test, (None, subjects), False),
                                         "recon_vs_real": (recon, test, (subjects, subjects), True)}.items():
        r = two_sample_test(a, b, seed, groups=groups, paired=paired, limit=len(samples))
        res[f"two_sample_acc_{name}"] = float(np.mean(r.folds))
        res[f"folds_{name}"] = r.folds
        res[f"auc_{name}"] = float(np.mean(r.auc))
        print(name, res[f"two_sample_acc_{name}"], r.folds, flush=True)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
