"""Classifier rejection of samples (discriminator rejection sampling, Azadi et al. 2019; Razavi et al. 2019 reject
VQ-VAE-2 samples with a classifier too): the two-sample test's CNN is fitted to tell samples from reconstructions of
*training* slices, and of fresh candidates it never saw, the ones it finds most real are kept. Only the training
split is seen, so every held-out figure stays held out; what it costs in diversity and closeness to training slices
is measured in benchmarks/RESULTS.md."""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..codes import cached_codes
from ..evaluation.classifier import as_written, classifier_logits, fit_classifier
from ..evaluation.two_sample import at_size
from ..inference.sampling import sample_codes
from ..models.prior import CodePrior
from ..vqmodel import VQModel

# the size at which the top filter judges a top's decoding: a top decoded alone carries the anatomy of a slice at
# about this size and none of its texture (benchmarks/RESULTS.md, "Which stage fails")
TOP_FILTER_SIZE = 32


def realism_filter(pool: torch.Tensor, train_recon: torch.Tensor, n_fit: int, n_keep: int, seed: int = 0,
                   epochs: int = 10) -> tuple[torch.Tensor, dict]:
    """Indices into `pool` (decoded samples, N x 1 x S x S) of the `n_keep` most real-looking candidates, and what the
    filter did. The first `n_fit` of the pool (label 0) and `n_fit` reconstructions of training slices (label 1)
    fit the classifier; the rest of the pool are the candidates, ranked by its logit. Every image is seen as the
    8-bit file `vqmri sample` writes."""
    n_fit = min(n_fit, len(train_recon))
    if len(pool) - n_fit < n_keep:
        raise ValueError(f"{len(pool) - n_fit} candidates after {n_fit} fitting samples cannot give {n_keep}")
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(train_recon), generator=g)[:n_fit]
    # both sides as written: with the reconstructions in floating point the 8-bit rounding alone told them apart
    x = as_written(torch.cat([pool[:n_fit], train_recon[pick]]))
    y = torch.cat([torch.zeros(n_fit), torch.ones(n_fit)])
    torch.manual_seed(seed)
    net = fit_classifier(x, y, epochs, g)
    candidates = torch.arange(n_fit, len(pool))
    logit = classifier_logits(net, as_written(pool[candidates]))
    order = logit.argsort(descending=True)
    info = {"fit": n_fit, "candidates": len(candidates), "kept": n_keep, "epochs": epochs,
            "fit_accuracy": float(((classifier_logits(net, x) > 0).float() == y).float().mean()),
            "candidates_called_real": float((logit > 0).float().mean()),
            "kept_logit_min": float(logit[order[n_keep - 1]]), "candidate_logit_median": float(logit.median())}
    return candidates[order[:n_keep]], info


def filter_tops(model: VQModel, prior: CodePrior, n: int, m: int, n_fit: int, seed: int = 0,
                temperature: float | list[float] = 1.0, top_k: int | None = None, top_p: float | None = None,
                labels_for: Callable[[int], torch.Tensor | None] = lambda size: None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, dict]:
    """Two-level runs: the realism filter on the top alone. Returns (indices into the pool of the n kept tops, the
    pool of drawn tops (P, h, w) with P = n_fit + n m, their slice-position labels (P,) or None, what the filter
    did). A classifier fitted on whole samples learns the bottom's texture, which tells every decoder apart at full
    size; this one compares the drawn tops decoded alone (`decode_top`) with the training slices' own tops decoded
    alone, at TOP_FILTER_SIZE px, so it learns what the top prior gets wrong and nothing else, and only the kept
    tops need a bottom drawn. `labels_for(P)`: the slice-position buckets of a pool of P draws (None for an
    unconditioned prior)."""
    shapes = model.code_shapes()
    true_tops = cached_codes(model, "train")[0][0]
    n_fit = min(n_fit, len(true_tops))
    size = n_fit + n * m
    labels = labels_for(size)
    tops = sample_codes(prior, size, shapes, seed, temperature, top_k, label=labels, top_p=top_p, levels=1)[0]
    pick = torch.randperm(len(true_tops), generator=torch.Generator().manual_seed(seed))[:n_fit]

    @torch.no_grad()
    def seen(t: torch.Tensor) -> torch.Tensor:
        return at_size(torch.cat([model.net.decode_top(c.to(model.device)).cpu() for c in t.split(64)]),
                       TOP_FILTER_SIZE)

    kept, info = realism_filter(seen(tops), seen(true_tops[pick]), n_fit, n, seed)
    return kept, tops, labels, {**info, "judged": f"tops decoded alone at {TOP_FILTER_SIZE} px"}
