"""Issue 40: is a top code with fewer codes easier to draw? A probe without retraining the autoencoder: a copy of a
two-level run has its top codes merged into K (usage-weighted k-means of the top codebook's vectors; each cluster is
decoded as its most used code), its cached code maps rewritten through that merge and a new top prior fitted on them
for MINUTES; then true and drawn tops, merged and not, are decoded alone and judged at 32 / 64 px against the
validate subjects' real slices (sample_gap's CNN, pick and seeds; its `top_only` and `drawn_top_only` rows).
The copy's bottom prior is not fitted (its tops are the only thing judged).

Usage: python benchmarks/merged_top.py RUN_DIR COPY_DIR K MINUTES OUT.json   (COPY_DIR is replaced). Run it alone.
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

import vqmri
from vqmri.codes import cached_codes, position_labels, reconstruct_pick
from vqmri.data.datamodule import discover_from_config
from vqmri.evaluation.two_sample import at_size, two_sample_test
from vqmri.inference.sampling import sample_codes
from vqmri.training.prior import train_prior


def merge_map(codebook: torch.Tensor, freq: torch.Tensor, k: int, iters: int = 50) -> torch.Tensor:
    """codebook (K, D), usage counts (K,) -> each code's representative (K,): k clusters of the used codes."""
    used = (freq > 0).nonzero()[:, 0]
    x, w = codebook[used], freq[used]
    centres = x[torch.multinomial(w, k, generator=torch.Generator().manual_seed(0))]
    for _ in range(iters):
        a = torch.cdist(x, centres).argmin(1)
        for j in range(k):
            if (a == j).any():
                centres[j] = (x[a == j] * w[a == j, None]).sum(0) / w[a == j].sum()
    mapping = torch.arange(len(codebook))
    for j in range(k):
        members = (a == j).nonzero()[:, 0]
        if len(members):
            mapping[used[members]] = used[members[w[members].argmax()]]
    reps, unused = mapping[used].unique(), (freq == 0).nonzero()[:, 0]
    if len(unused):
        mapping[unused] = reps[torch.cdist(codebook[unused], codebook[reps]).argmin(1)]
    return mapping


def judge_tops(run: str, name: str, with_real: bool) -> dict:
    model = vqmri.load(run, device="cpu")
    prior = model.prior()
    data = discover_from_config(model.config, model.run.root)
    real, _, subjects = reconstruct_pick(model, data, "test", None, with_real=True)
    other, _, subj = reconstruct_pick(model, data, "validate", None, with_real=True)
    codes, pos = cached_codes(model, "test")
    n = min(256, len(real), len(other))
    pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:n]
    label = position_labels(pos[pick], prior.num_classes) if prior.num_classes else None
    made_from = [subjects[i] for i in pick.tolist()]

    def alone(t):
        return torch.cat([model.net.decode_top(t[i:i + 64]) for i in range(0, len(t), 64)])
    with torch.no_grad():
        drawn = sample_codes(prior, n, model.code_shapes(), 5, [1.0, 1.0], label=label, levels=1)[0]
        sets = {f"{name}_true_top": (alone(codes[0][pick]), made_from), f"{name}_drawn_top": (alone(drawn), None)}
    if with_real:
        sets["real"] = (real[pick], made_from)
    res = {f"{name}_distinct_drawn_codes": int(drawn.unique().numel())}
    for key, (images, groups) in sets.items():
        res[key] = {}
        for px in (32, 64):
            r = two_sample_test(at_size(images.clamp(0, 1), px), at_size(other, px), 0, groups=(groups, subj))
            res[key][f"{px}px"] = round(sum(r.folds) / len(r.folds), 3)
            res[key][f"{px}px_collapsed"] = r.any_collapsed
        print(key, res[key], flush=True)
    return res


def main():
    run, copy, k, minutes, out = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run, copy)
    model = vqmri.load(str(copy), device="cpu")
    train = np.load(copy / "codes" / "train.npz")["level0"].astype(np.int64)
    freq = torch.bincount(torch.from_numpy(train).flatten(), minlength=model.codebook_size).float()
    p = freq[freq > 0] / freq.sum()
    mapping = merge_map(model.net.quant_t.codebook().detach().float(), freq, k)
    for f in sorted((copy / "codes").glob("*.npz")):
        d = dict(np.load(f))
        d["level0"] = mapping[torch.from_numpy(d["level0"].astype(np.int64))].numpy().astype(d["level0"].dtype)
        tmp = f.with_suffix(".tmp.npz")
        np.savez(tmp, **d)
        tmp.replace(f)
    train_prior(copy, overrides=["prior.level=top", f"prior.max_minutes={minutes}"], fresh=True)
    res = {"run": run, "k": k, "top_minutes": minutes, "top_codes_used": int((freq > 0).sum()),
           "top_perplexity": float(torch.exp(-(p * p.log()).sum())), "judge": "evaluate-samples CNN, seed 0",
           **judge_tops(run, "base", True), **judge_tops(str(copy), "merged", False)}
    Path(out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
