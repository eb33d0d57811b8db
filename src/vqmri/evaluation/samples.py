"""How good are generated samples: classifier two-sample test, memorisation and diversity (all SSIM-based where
a similarity is needed; SSIM from `metrics.ssim`)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import metrics


def _classifier() -> nn.Module:
    """A small CNN that answers 'generated or not' from one slice."""
    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))
    return nn.Sequential(block(1, 16), block(16, 32), block(32, 64), block(64, 64), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(64, 1))


def two_sample_accuracy(generated: torch.Tensor, other: torch.Tensor, seed: int = 0, epochs: int = 30) -> float:
    """Held-out accuracy of a CNN trained to tell `generated` from `other` (balanced; 0.5 = indistinguishable).
    Half of each set trains the classifier, the other half measures it."""
    g = torch.Generator().manual_seed(seed)
    n = min(len(generated), len(other))
    a = generated[torch.randperm(len(generated), generator=g)[:n]]
    b = other[torch.randperm(len(other), generator=g)[:n]]
    half = n // 2
    xtr = torch.cat([a[:half], b[:half]]).float()
    ytr = torch.cat([torch.ones(half), torch.zeros(half)])
    xte = torch.cat([a[half:], b[half:]]).float()
    yte = torch.cat([torch.ones(n - half), torch.zeros(n - half)])
    torch.manual_seed(seed)
    net = _classifier()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(perm), 32):
            idx = perm[i:i + 32]
            if len(idx) < 2:
                continue
            loss = F.binary_cross_entropy_with_logits(net(xtr[idx]).squeeze(1), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(xte[i:i + 64]).squeeze(1) for i in range(0, len(xte), 64)]) > 0
    return float((pred.float() == yte).float().mean())


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
                     train: torch.Tensor, seed: int = 0) -> dict:
    """All tensors (N, 1, S, S) in [0, 1]."""
    mem_s = nearest_ssim(samples, train)
    mem_r = nearest_ssim(real_test, train)
    n = min(len(samples), len(real_test))
    return {
        "n_samples": len(samples), "n_test": len(real_test),
        # the classifier trains on n // 2 images a class and is scored on the rest: below ~50 a class its
        # accuracy says little (a constant guess scores 0.5)
        "two_sample_heldout_per_class": n - n // 2,
        "two_sample_acc_vs_reconstructions": two_sample_accuracy(samples, recon_test, seed),
        "two_sample_acc_vs_real": two_sample_accuracy(samples, real_test, seed),
        "memorisation": {"samples_nearest_train_ssim_mean": float(mem_s.mean()),
                         "samples_nearest_train_ssim_max": float(mem_s.max()),
                         "test_nearest_train_ssim_mean": float(mem_r.mean()),
                         "test_nearest_train_ssim_p95": float(mem_r.quantile(0.95)),
                         "samples_above_test_p95": int((mem_s > mem_r.quantile(0.95)).sum())},
        "diversity": {"samples_mean_pairwise_ssim": mean_pairwise_ssim(samples[:n], seed=seed),
                      "test_mean_pairwise_ssim": mean_pairwise_ssim(real_test[:n], seed=seed)},
    }
