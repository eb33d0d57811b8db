"""Classifier two-sample test (Lopez-Paz & Oquab 2017): can a CNN trained on part of two sets tell the rest apart?
0.5 = indistinguishable. Folds keep subjects whole; both sets are compared as written 8-bit files."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.classification import binary_auroc

from .classifier import as_written, classifier_logits, fit_classifier


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
    # per fold: whether every fit of its judge collapsed (answered one class for nearly all of its own training
    # images, see COLLAPSE); such a fold's accuracy reads 0.5 whatever the sets, and proves nothing
    collapsed: list[bool] = field(default_factory=list)
    refits: int = 0

    @property
    def any_collapsed(self) -> bool:
        return any(self.collapsed)

    def recalls(self) -> dict:
        return {"generated": self.recall_generated, "other": self.recall_other}


# a judge that calls more than this share of its own training images one class has not learnt (a fit that stuck at
# the class prior); it is refitted with other seeds, up to REFITS times
COLLAPSE, REFITS = 0.95, 3


def has_collapsed(net: nn.Module, x: torch.Tensor) -> bool:
    """Whether a fitted judge answers one class for more than COLLAPSE of the images `x` it was trained on."""
    called = float((classifier_logits(net, x) > 0).float().mean())
    return max(called, 1 - called) > COLLAPSE


def at_size(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images (N, 1, S, S) as 8-bit slices of `size` px (antialiased): what a judge at a coarser scale sees."""
    x = as_written(images.float())
    if x.shape[-1] == size:
        return x
    return as_written(F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False))


def two_sample_fold_accuracies(generated: torch.Tensor, other: torch.Tensor, seed: int = 0, epochs: int = 30,
                               folds: int = 4, groups: tuple[list | None, list | None] = (None, None)) -> list[float]:
    """The per-fold accuracies of `two_sample_test`."""
    return two_sample_test(generated, other, seed, epochs, folds, groups).folds


# a judge: fits a net to tell label 1 from label 0 (x, y, batch generator) and returns it in eval mode; the net
# maps (B, 1, S, S) to (B, 1) logits, positive for label 1
Judge = Callable[[torch.Tensor, torch.Tensor, torch.Generator], nn.Module]


def two_sample_test(generated: torch.Tensor, other: torch.Tensor, seed: int = 0, epochs: int = 30,
                    folds: int = 4, groups: tuple[list | None, list | None] = (None, None),
                    judge: Judge | None = None, paired: bool = False, limit: int | None = None) -> TwoSampleResult:
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
    some procedure was tuned against can be checked by a judge it never saw (benchmarks/second_judge.py).
    `paired`: item i of `other` is item i of `generated` in another form (a slice and its reconstruction): both sides
    take the same pick and the same folds, so a subject is never on the training side in one form and held out in
    the other. `limit`: at most this many a side, so that tests of one report train judges on equal numbers of
    images (a judge fitted on more images is a stronger one)."""
    g = torch.Generator().manual_seed(seed)
    n = min(len(generated), len(other), limit or len(generated))
    if n < 2:
        raise ValueError(f"a two-sample test needs at least 2 images a set, got {n}")
    if paired and len(generated) != len(other):
        raise ValueError(f"paired sets must be the same size, got {len(generated)} and {len(other)}")
    pick_g = torch.randperm(len(generated), generator=g)[:n]
    pick_o = pick_g if paired else torch.randperm(len(other), generator=g)[:n]
    x = as_written(torch.cat([generated[pick_g], other[pick_o]]).float())
    y = torch.cat([torch.ones(n), torch.zeros(n)])
    sides = [None if grp is None else [grp[i] for i in pick.tolist()] for grp, pick in zip(groups, (pick_g, pick_o))]
    # a side whose picked slices are all one subject (only at a handful of slices) cannot be grouped: index folds
    sides = [None if s is None or len(set(s)) < 2 else s for s in sides]
    folds = min([folds, n] + [len(set(s)) for s in sides if s is not None])
    part = (fold_of(n, folds, sides[0], g).repeat(2) if paired
            else torch.cat([fold_of(n, folds, s, g) for s in sides]))
    accuracies, aucs, hits, stuck, refits = [], [], torch.zeros(2 * n), [], 0
    for f in range(folds):
        train, held = part != f, part == f
        for attempt in range(REFITS + 1):
            torch.manual_seed(seed * folds + f + 7919 * attempt)
            net = judge(x[train], y[train], g) if judge is not None else fit_classifier(x[train], y[train], epochs, g)
            bad = has_collapsed(net, x[train])
            if not bad:
                break
            refits += attempt < REFITS
        stuck.append(bad)
        logit = classifier_logits(net, x[held])
        pred = logit > 0
        aucs.append(float(binary_auroc(logit, y[held].long())))
        # balanced accuracy: grouped folds hold unequal numbers of each class
        hit = (pred.float() == y[held]).float()
        hits[held] = hit
        accuracies.append(float((hit[y[held] == 1].mean() + hit[y[held] == 0].mean()) / 2))
    return TwoSampleResult(accuracies, float(hits[:n].mean()), float(hits[n:].mean()), aucs, stuck, refits)


def two_sample_accuracy(generated: torch.Tensor, other: torch.Tensor, seed: int = 0, epochs: int = 30,
                        folds: int = 4, groups: tuple[list | None, list | None] = (None, None)) -> float:
    """Mean over folds of `two_sample_fold_accuracies` (without groups each image is held out once in equal folds,
    so the mean is the accuracy over all 2n held-out predictions)."""
    return float(np.mean(two_sample_fold_accuracies(generated, other, seed, epochs, folds, groups)))
