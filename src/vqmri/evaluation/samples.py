"""How good are generated samples: classifier two-sample test, memorisation and diversity (all SSIM-based where
a similarity is needed; SSIM from `metrics.ssim`)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.classification import binary_auroc

from . import metrics


def as_written(images: torch.Tensor) -> torch.Tensor:
    """Images as `vqmri sample` writes them (8-bit PNG). Samples are read back from those files, so a set kept in
    floating point differs from them in the last bits alone; a logistic regression on image statistics told 8-bit
    from floating-point reconstructions of the same subjects perfectly (benchmarks/RESULTS.md). Every set a
    two-sample classifier sees goes through this first."""
    return (images.clamp(0, 1) * 255).round() / 255


def _classifier() -> nn.Module:
    """A small CNN that answers 'generated or not' from one slice."""
    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))
    return nn.Sequential(block(1, 16), block(16, 32), block(32, 64), block(64, 64), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(64, 1))


def fold_of(n: int, folds: int, groups: list | None, generator: torch.Generator) -> torch.Tensor:
    """The fold (0..folds-1) of each of n items. Without groups, item i goes to fold i % folds. With groups (e.g. the
    subject of each slice) every group lands whole in one fold, largest groups first into the emptiest fold, so a
    classifier is never scored on a subject it was trained on."""
    if groups is None:
        return torch.arange(n) % folds
    size = Counter(groups)
    names = sorted(size, key=str)
    order = torch.randperm(len(names), generator=generator).tolist()  # ties broken by the seed, not by name
    fill, where = [0] * folds, {}
    for name in sorted((names[i] for i in order), key=lambda m: -size[m]):
        f = fill.index(min(fill))
        where[name], fill[f] = f, fill[f] + size[name]
    return torch.tensor([where[x] for x in groups])


@dataclass
class TwoSampleResult:
    """Per-fold balanced accuracies and, over all held-out images, the share of each set the classifier called right.
    The two recalls say which way it errs: a classifier that learnt the training subjects' heads rather than what
    generated slices share calls new real subjects generated (recall_other low, recall_generated high)."""
    folds: list[float]
    recall_generated: float
    recall_other: float
    # per-fold area under the ROC curve of the held-out logits: how well the two sets separate at any threshold.
    # The accuracy reads the classifier at logit 0; where it learns the training subjects, new subjects' slices
    # all shift towards 'generated' and the accuracy falls although the ranking of the two sets may not
    auc: list[float] = field(default_factory=list)

    def recalls(self) -> dict:
        return {"generated": self.recall_generated, "other": self.recall_other}


def fit_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int, generator: torch.Generator,
                   make: Callable[[], nn.Module] = _classifier, lr: float = 1e-3) -> nn.Module:
    """The two-sample test's CNN (or another net `make` builds) trained to tell label 1 from label 0 (batches of 32,
    learning rate annealed to zero by one-cycle so the returned weights are where training settled); in eval mode.
    Seed torch first: the weights are drawn from torch's global generator, the batches from `generator`."""
    net = make()
    steps_per_epoch = -(-len(x) // 32)
    opt = torch.optim.Adam(net.parameters(), lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps_per_epoch)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=generator)
        for i in range(0, len(perm), 32):
            idx = perm[i:i + 32]
            if len(idx) >= 2:  # batch norm needs two
                loss = F.binary_cross_entropy_with_logits(net(x[idx]).squeeze(1), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            schedule.step()
    return net.eval()


def classifier_logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits of a `fit_classifier` net (positive: label 1), in batches of 64."""
    with torch.no_grad():
        return torch.cat([net(c).squeeze(1) for c in x.split(64)])


def two_sample_fold_accuracies(generated: torch.Tensor, other: torch.Tensor, seed: int = 0, epochs: int = 30,
                               folds: int = 4, groups: tuple[list | None, list | None] = (None, None)) -> list[float]:
    """The per-fold accuracies of `two_sample_test`."""
    return two_sample_test(generated, other, seed, epochs, folds, groups).folds


# a judge: fits a net to tell label 1 from label 0 (x, y, batch generator) and returns it in eval mode; the net
# maps (B, 1, S, S) to (B, 1) logits, positive for label 1
Judge = Callable[[torch.Tensor, torch.Tensor, torch.Generator], nn.Module]


def two_sample_test(generated: torch.Tensor, other: torch.Tensor, seed: int = 0, epochs: int = 30,
                    folds: int = 4, groups: tuple[list | None, list | None] = (None, None),
                    judge: Judge | None = None) -> TwoSampleResult:
    """Held-out accuracy of a CNN trained to tell `generated` from `other`, one figure per fold (0.5 =
    indistinguishable). Both sets are cut to the same size n and split into `folds` parts; each part is scored by a
    classifier trained on the others, so every image is held out exactly once. The learning rate is annealed to
    zero (one-cycle) so the scored weights are where training settled: with a constant rate, the accuracy of one
    train/test split swung from 0.52 to 0.94 with the seed on the same samples (benchmarks/RESULTS.md).
    `groups`: the subject of each slice of `generated` and of `other` (None: every slice its own). Slices of one
    subject then stay in one fold; split across folds, the classifier learns the test subjects' heads and tells
    slices of any other subject from them (reconstructions of validation subjects against those of test subjects:
    0.81 with ungrouped folds, benchmarks/RESULTS.md). Both sets are compared as 8-bit images (`as_written`).
    `judge`: another classifier in place of the CNN (`epochs` is then the judge's own business), so that a figure
    some procedure was tuned against can be checked by a judge it never saw (benchmarks/second_judge.py)."""
    g = torch.Generator().manual_seed(seed)
    n = min(len(generated), len(other))
    if n < 2:
        raise ValueError(f"a two-sample test needs at least 2 images a set, got {n}")
    pick_g = torch.randperm(len(generated), generator=g)[:n]
    pick_o = torch.randperm(len(other), generator=g)[:n]
    x = as_written(torch.cat([generated[pick_g], other[pick_o]]).float())
    y = torch.cat([torch.ones(n), torch.zeros(n)])
    sides = [None if grp is None else [grp[i] for i in pick.tolist()] for grp, pick in zip(groups, (pick_g, pick_o))]
    # a side whose picked slices are all one subject (only at a handful of slices) cannot be grouped: index folds
    sides = [None if s is None or len(set(s)) < 2 else s for s in sides]
    folds = min([folds, n] + [len(set(s)) for s in sides if s is not None])
    part = torch.cat([fold_of(n, folds, s, g) for s in sides])
    accuracies, aucs, hits = [], [], torch.zeros(2 * n)
    for f in range(folds):
        train, held = part != f, part == f
        torch.manual_seed(seed * folds + f)
        net = judge(x[train], y[train], g) if judge is not None else fit_classifier(x[train], y[train], epochs, g)
        logit = classifier_logits(net, x[held])
        pred = logit > 0
        aucs.append(float(binary_auroc(logit, y[held].long())))
        # balanced accuracy: grouped folds hold unequal numbers of each class
        hit = (pred.float() == y[held]).float()
        hits[held] = hit
        accuracies.append(float((hit[y[held] == 1].mean() + hit[y[held] == 0].mean()) / 2))
    return TwoSampleResult(accuracies, float(hits[:n].mean()), float(hits[n:].mean()), aucs)


def two_sample_accuracy(generated: torch.Tensor, other: torch.Tensor, seed: int = 0, epochs: int = 30,
                        folds: int = 4, groups: tuple[list | None, list | None] = (None, None)) -> float:
    """Mean over folds of `two_sample_fold_accuracies` (without groups each image is held out once in equal folds,
    so the mean is the accuracy over all 2n held-out predictions)."""
    return float(np.mean(two_sample_fold_accuracies(generated, other, seed, epochs, folds, groups)))


def nearest_ssim(queries: torch.Tensor, reference: torch.Tensor, candidates: int = 10) -> torch.Tensor:
    """For each query, the highest SSIM to any reference slice. Candidates are pre-screened by L2 distance (the
    `candidates` nearest), then scored exactly with SSIM."""
    q = queries.flatten(1).float()
    r = reference.flatten(1).float()
    d = torch.cdist(q, r)
    idx = d.topk(min(candidates, len(r)), largest=False).indices
    best = []
    for i in range(len(queries)):
        s = metrics.ssim(queries[i:i + 1].expand(len(idx[i]), -1, -1, -1), reference[idx[i]])
        best.append(s.max())
    return torch.stack(best)


def nearest_code_match(queries: list[torch.Tensor], reference: list[torch.Tensor], chunk: int = 32) -> torch.Tensor:
    """For each query code map, the largest share of positions whose code equals that of one reference map (all
    levels together). A sample that copies a training slice's code scores near 1 whatever the decoder's blur does to
    pixel similarity, which is why this sits beside the SSIM figures."""
    q = torch.cat([c.flatten(1) for c in queries], 1)
    r = torch.cat([c.flatten(1) for c in reference], 1)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"code maps of {q.shape[1]} and {r.shape[1]} positions cannot be compared")
    return torch.cat([(q[i:i + chunk, None] == r[None]).float().mean(2).max(1).values for i in range(0, len(q), chunk)])


def mean_pairwise_ssim(x: torch.Tensor, max_pairs: int = 2000, seed: int = 0) -> float:
    n = len(x)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if len(pairs) > max_pairs:
        g = np.random.default_rng(seed)
        pairs = [pairs[k] for k in g.choice(len(pairs), max_pairs, replace=False)]
    a = torch.stack([x[i] for i, _ in pairs])
    b = torch.stack([x[j] for _, j in pairs])
    return float(torch.cat([metrics.ssim(a[k:k + 256], b[k:k + 256]) for k in range(0, len(a), 256)]).mean())


def evaluate_samples(samples: torch.Tensor, real_test: torch.Tensor, recon_test: torch.Tensor,
                     train: torch.Tensor, seed: int = 0, codes: dict | None = None,
                     test_subjects: list | None = None, null: tuple[torch.Tensor, list] | None = None) -> dict:
    """All image tensors (N, 1, S, S) in [0, 1]. `codes`, when the samples' code maps are known: lists of (B, h, w)
    maps, one a level, under "samples", "test" and "train"; adds the code-space memorisation figures.
    `test_subjects`: the subject of each test slice, so the two-sample folds keep subjects whole. `null`:
    reconstructions of slices of other held-out subjects and their subjects; scored against the test
    reconstructions like the samples are, they give what a generator of perfect new subjects would score."""
    mem_s = nearest_ssim(samples, train)
    mem_r = nearest_ssim(real_test, train)
    # the same figure for reconstructions: decoded slices share the decoder's blur, and blur alone raises SSIM to
    # the nearest training slice (by 0.08 for an 8x8 code map), so this is the baseline that separates the two
    mem_rec = nearest_ssim(recon_test, train)
    n = min(len(samples), len(real_test))
    vs_recon = two_sample_test(samples, recon_test, seed, groups=(None, test_subjects))
    vs_real = two_sample_test(samples, real_test, seed, groups=(None, test_subjects))
    res = {
        "n_samples": len(samples), "n_test": len(real_test),
        # 4-fold: every image of both sets is held out once, so n a class are scored; below ~50 a class the
        # accuracy says little (a constant guess scores 0.5; its standard error is about 0.5 / sqrt(2 n))
        "two_sample_heldout_per_class": n,
        "two_sample_acc_vs_reconstructions": float(np.mean(vs_recon.folds)),
        "two_sample_acc_vs_real": float(np.mean(vs_real.folds)),
        "two_sample_folds": {"vs_reconstructions": vs_recon.folds, "vs_real": vs_real.folds},
        # share of each set called right over all held-out images: which way the classifier errs
        "two_sample_recall": {"vs_reconstructions": vs_recon.recalls(), "vs_real": vs_real.recalls()},
        # mean over folds of the area under the ROC curve (0.5 = indistinguishable at any threshold)
        "two_sample_auc": {"vs_reconstructions": float(np.mean(vs_recon.auc)), "vs_real": float(np.mean(vs_real.auc))},
        # subjects given; at a handful of slices a pick of one subject falls back to index folds (see above)
        "two_sample_folds_by_subject": test_subjects is not None,
        # test slices a subject in the classifier's pick (about): above ~8 it learns the subjects' heads and calls
        # new subjects generated, pulling the accuracy towards 0.5 (OASIS, benchmarks/RESULTS.md): less power
        "two_sample_slices_per_subject": (round(n / len(set(test_subjects)), 1)
                                          if test_subjects is not None else None),
        "memorisation": {"samples_nearest_train_ssim_mean": float(mem_s.mean()),
                         "samples_nearest_train_ssim_max": float(mem_s.max()),
                         "test_nearest_train_ssim_mean": float(mem_r.mean()),
                         "test_nearest_train_ssim_p95": float(mem_r.quantile(0.95)),
                         "samples_above_test_p95": int((mem_s > mem_r.quantile(0.95)).sum()),
                         "recon_nearest_train_ssim_mean": float(mem_rec.mean()),
                         "recon_nearest_train_ssim_p95": float(mem_rec.quantile(0.95)),
                         "samples_above_recon_p95": int((mem_s > mem_rec.quantile(0.95)).sum())},
        "diversity": {"samples_mean_pairwise_ssim": mean_pairwise_ssim(samples[:n], seed=seed),
                      "test_mean_pairwise_ssim": mean_pairwise_ssim(real_test[:n], seed=seed),
                      "recon_mean_pairwise_ssim": mean_pairwise_ssim(recon_test[:n], seed=seed)},
    }
    if null is not None:
        recon_null, subjects_null = null
        null_test = two_sample_test(recon_null, recon_test, seed, groups=(subjects_null, test_subjects))
        res["two_sample_acc_null"] = float(np.mean(null_test.folds))
        res["two_sample_folds"]["null"] = null_test.folds
        res["two_sample_recall"]["null"] = null_test.recalls()
        res["two_sample_auc"]["null"] = float(np.mean(null_test.auc))
    if codes is not None:
        match_s = nearest_code_match(codes["samples"], codes["train"])
        match_t = nearest_code_match(codes["test"], codes["train"])
        res["memorisation"].update({
            "samples_nearest_train_code_match_mean": float(match_s.mean()),
            "samples_nearest_train_code_match_max": float(match_s.max()),
            "test_nearest_train_code_match_mean": float(match_t.mean()),
            "test_nearest_train_code_match_p95": float(match_t.quantile(0.95)),
            "samples_above_test_code_match_p95": int((match_s > match_t.quantile(0.95)).sum())})
    return res
