"""Keep the samples a classifier finds most like real reconstructions (discriminator rejection sampling, Azadi et
al. 2019; Razavi et al. 2019 reject VQ-VAE-2 samples with a classifier too). Does it move the two-sample figure,
and at what cost in diversity and closeness to training slices?

Only the run's training split is seen before the score: a pool of samples is drawn (seed 0); the two-sample test's
CNN is trained (`rejection.realism_filter`, what `vqmri sample --filter` runs) on the first FIT of them against reconstructions of FIT training slices; the rest
of the pool (candidates it never saw) is ranked by its logit and the KEEP most real-looking are kept. Then, side by
side: the kept set and a random set of the same candidates, each scored against test reconstructions at 128 a side
(the same picks and folds keeping subjects whole as `decoder_tuning.py`), with the memorisation figures of
`evaluate-samples` (nearest-train SSIM against the reconstructions' 95th percentile; nearest-train code match
against the test maps' 95th percentile) and the diversity (mean pairwise SSIM). A filter that works by keeping
samples that copy training slices shows up in the memorisation columns.

Usage: python benchmarks/experiments/classifier_rejection.py RUN_DIR OUT.json [POOL] [FIT] [KEEP] [SEEDS] [RANDOM_SEEDS] [EPOCHS]
       (defaults 3072 drawn, 1024 to fit the filter, 512 kept of the other 2048, seeds 0,1,2,3 for the kept set,
       0,1,2,3 for the random set, 10 epochs; empty SEEDS: the filter and the memorisation figures only)"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vqmri import api
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.evaluation.classifier import as_written
from vqmri.evaluation.similarity import mean_pairwise_ssim, nearest_code_match, nearest_ssim
from vqmri.evaluation.two_sample import two_sample_test
from vqmri.inference.sampling import sample_codes
from vqmri.pipelines.selection import realism_filter
from vqmri.runs import load_prior

run_dir, out = sys.argv[1], Path(sys.argv[2])
n_pool, n_fit, n_keep = (int(sys.argv[i]) if len(sys.argv) > i else d for i, d in ((3, 3072), (4, 1024), (5, 512)))
seeds = [int(s) for s in sys.argv[6].split(",") if s] if len(sys.argv) > 6 else [0, 1, 2, 3]
random_seeds = [int(s) for s in sys.argv[7].split(",") if s] if len(sys.argv) > 7 else [0, 1, 2, 3]
epochs = int(sys.argv[8]) if len(sys.argv) > 8 else 10
started = time.time()
model = api.load(run_dir, device="cpu")
prior = load_prior(model.run)
found = discover_from_config(model.config, model.run.root)
train_real = torch.from_numpy(np.array(load_cached(found, "train", model.config).images, np.float32))[:, None]
train_rec, _ = api.reconstruct_pick(model, found, "train", None)
test_rec, test_subj = api.reconstruct_pick(model, found, "test", None)
train_codes = model.encode_batched(train_real)
test_codes = model.encode_batched(torch.from_numpy(np.array(load_cached(found, "test", model.config).images,
                                                                np.float32))[:, None])
res = {"run": run_dir, "pool": n_pool, "fit": n_fit, "keep": n_keep, "epochs": epochs}

drawn = sample_codes(prior, n_pool, model.code_shapes(), 0, 1.0, None,
                     label=torch.arange(n_pool) % prior.num_classes if prior.num_classes else None)
pool = as_written(model.decode_batched(drawn))
print(f"{n_pool} samples drawn and decoded, {time.time() - started:.0f} s", flush=True)

# --- the filter (what `vqmri sample --filter 4` runs, from the same pool): samples against training reconstructions
t0 = time.time()
kept, res["filter"] = realism_filter(pool, train_rec, n_fit, n_keep, 0, epochs)
res["filter"]["seconds"] = round(time.time() - t0, 1)
cand = torch.arange(n_fit, n_pool)
rand = cand[torch.randperm(len(cand), generator=torch.Generator().manual_seed(1))[:n_keep]]
if prior.num_classes:  # slice-position buckets: does the filter favour some?
    labels = torch.arange(n_pool) % prior.num_classes
    res["filter"]["kept_per_bucket"] = torch.bincount(labels[kept], minlength=prior.num_classes).tolist()
print("filter", json.dumps(res["filter"]), flush=True)

# --- side by side: kept and random, the same figures
mem_rec = nearest_ssim(test_rec, train_real)
match_test = nearest_code_match(test_codes, train_codes)
res["baselines"] = {"recon_nearest_train_ssim_p95": float(mem_rec.quantile(0.95)),
                    "test_code_match_p95": float(match_test.quantile(0.95)),
                    "recon_mean_pairwise_ssim": mean_pairwise_ssim(test_rec[torch.randperm(len(test_rec), generator=torch.Generator().manual_seed(0))[:n_keep]])}
res["sets"] = {}
for name, idx, set_seeds in (("kept", kept, seeds), ("random", rand, random_seeds)):
    s = pool[idx]
    mem = nearest_ssim(s, train_real)
    match = nearest_code_match([c[idx] for c in drawn], train_codes)
    row = {"nearest_train_ssim_mean": float(mem.mean()),
           "above_recon_p95": int((mem > res["baselines"]["recon_nearest_train_ssim_p95"]).sum()),
           "nearest_train_code_match_mean": float(match.mean()),
           "above_test_code_match_p95": int((match > res["baselines"]["test_code_match_p95"]).sum()),
           "mean_pairwise_ssim": mean_pairwise_ssim(s), "runs": []}
    res["sets"][name] = row
    print(name, json.dumps(row), flush=True)
    for seed in set_seeds:
        gs = torch.Generator().manual_seed(1000 + seed)
        pick_s = torch.randperm(len(s), generator=gs)[:128]
        pick_t = torch.randperm(len(test_rec), generator=gs)[:128]
        t0 = time.time()
        r = two_sample_test(s[pick_s], test_rec[pick_t], seed, groups=(None, [test_subj[i] for i in pick_t.tolist()]))
        row["runs"].append({"seed": seed, "acc": float(np.mean(r.folds)), "folds": r.folds,
                            "recall_generated": r.recall_generated, "recall_other": r.recall_other,
                            "auc": float(np.mean(r.auc)), "auc_folds": r.auc, "seconds": round(time.time() - t0, 1)})
        print(name, json.dumps(row["runs"][-1]), flush=True)
        accs = [q["acc"] for q in row["runs"]]
        row["acc_mean_sd"] = [float(np.mean(accs)), float(np.std(accs))]
        row["recall_generated_mean"] = float(np.mean([q["recall_generated"] for q in row["runs"]]))
        row["recall_other_mean"] = float(np.mean([q["recall_other"] for q in row["runs"]]))
        row["auc_mean_sd"] = [float(np.mean([q["auc"] for q in row["runs"]])), float(np.std([q["auc"] for q in row["runs"]]))]
        out.write_text(json.dumps(res, indent=1))
res["kept_index"] = kept.tolist()  # into the pool drawn with seed 0: `vqmri sample --filter` keeps the same maps
res["seconds"] = round(time.time() - started, 1)
out.write_text(json.dumps(res, indent=1))
print(json.dumps({k: v.get("acc_mean_sd") for k, v in res["sets"].items()}))
