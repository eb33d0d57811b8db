"""The judge of the two-sample test and of `--filter`: a small CNN that answers 'generated or not' from one slice,
trained and read the same way everywhere; every set it sees is an 8-bit file first (`as_written`)."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


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


def fit_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int, generator: torch.Generator,
                   make: Callable[[], nn.Module] = _classifier, lr: float = 1e-3) -> nn.Module:
    """The two-sample test's CNN (or another net `make` builds) trained to tell label 1 from label 0 (batches of 32,
    learning rate annealed to zero by one-cycle so the returned weights are where training settled); in eval mode.
    Seed torch first: the weights are drawn from torch's global generator, the batches from `generator`."""
    with torch.enable_grad():  # callers may hold no_grad (sampling); a fit needs gradients whatever they hold
        return _fit(x, y, epochs, generator, make, lr)


def _fit(x, y, epochs, generator, make, lr) -> nn.Module:
    # channels-last: oneDNN's convolutions and max-pooling run in it without reordering (the same sums, in another
    # order); for a one-channel batch it is the same memory, so the input needs no copy
    net = make().to(memory_format=torch.channels_last)
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
    settle_batch_norm(net, x)
    return net.eval()


def settle_batch_norm(net: nn.Module, x: torch.Tensor) -> None:
    """Batch-norm running statistics recomputed over the training images `x` with the final weights: an equal
    average over shuffled batches of 32, as in training, not the moving average of training, so that a judge reads
    held-out slices with the statistics its final weights were trained under. With the moving average, a judge
    fitted on a handful of images called all of its own training images one class (a collapsed fit, accuracy 0.5)
    while ranking them perfectly (AUC 1.0)."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average
    net.train()
    with torch.no_grad():
        for idx in torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).split(32):
            if len(idx) >= 2:
                net(x[idx])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


def classifier_logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits of a `fit_classifier` net (positive: label 1), in batches of 64."""
    with torch.no_grad():
        return torch.cat([net(c).squeeze(1) for c in x.split(64)])


def penultimate(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The 64 features a `_classifier` net reads its verdict from (B, 64), in batches of 64: a space where what
    tells slices apart is spread out (the precision/recall pair of `similarity.py` uses it)."""
    with torch.no_grad():
        return torch.cat([net[:-1](c) for c in x.split(64)])
