"""Classifier rejection of samples (discriminator rejection sampling, Azadi et al. 2019; Razavi et al. 2019 reject
VQ-VAE-2 samples with a classifier too): the two-sample test's CNN is fitted to tell samples from reconstructions of
*training* slices, and of fresh candidates it never saw, the ones it finds most real are kept. Only the training
split is seen, so every held-out figure stays held out; what it costs in diversity and closeness to training slices
is measured in benchmarks/RESULTS.md."""
from __future__ import annotations

import torch

from ..evaluation.classifier import as_written, classifier_logits, fit_classifier


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
