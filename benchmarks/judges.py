"""Judges for the two-sample test that `evaluate-samples`' CNN never was: a larger residual net and a logistic
regression on image statistics. A figure some procedure was tuned against should be read again by one of these."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vqmri.evaluation.classifier import fit_classifier


class ResJudge(nn.Module):
    """A residual classifier unlike the two-sample CNN: strided convolutions instead of max pooling, group norm
    instead of batch norm, GELU, a 5x5 stem, and average and max pooling side by side at the head."""

    class Stage(nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(i, o, 3, 2, 1), nn.GroupNorm(8, o), nn.GELU(),
                                      nn.Conv2d(o, o, 3, padding=1), nn.GroupNorm(8, o))
            self.skip = nn.Conv2d(i, o, 1, 2)

        def forward(self, x):
            return F.gelu(self.body(x) + self.skip(x))

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 24, 5, 2, 2), nn.GroupNorm(8, 24), nn.GELU(),
                                 self.Stage(24, 48), self.Stage(48, 96), self.Stage(96, 128))
        self.head = nn.Linear(256, 1)

    def forward(self, x):
        h = self.net(x)
        return self.head(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1))


def image_statistics(x: torch.Tensor, bins: int = 32) -> torch.Tensor:
    """(B, 1, S, S) in [0, 1] -> (B, S/2 + 2 * bins): radial mean of the log power spectrum, intensity histogram,
    histogram of log10 gradient magnitude."""
    img = x[:, 0].float()
    s = img.shape[-1]
    power = torch.fft.fftshift(torch.fft.fft2(img - img.mean((1, 2), keepdim=True)).abs() ** 2, dim=(-2, -1))
    u = torch.arange(s) - s // 2
    radius = (u[:, None] ** 2 + u[None] ** 2).float().sqrt().round().long().flatten()
    ring = F.one_hot(radius.clamp(max=s // 2), s // 2 + 1)[:, 1:].float()  # drop DC and the corners beyond S/2
    spectrum = (power.flatten(1) + 1e-8).log() @ (ring / ring.sum(0))

    def histogram(v, lo, hi):
        idx = ((v.flatten(1) - lo) / (hi - lo) * bins).long().clamp(0, bins - 1)
        return torch.zeros(len(v), bins).scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float)) / idx.shape[1]

    gx, gy = img[:, 1:, 1:] - img[:, 1:, :-1], img[:, 1:, 1:] - img[:, :-1, 1:]
    grad = (gx ** 2 + gy ** 2).sqrt().add(1e-4).log10()
    return torch.cat([spectrum, histogram(img, 0, 1), histogram(grad, -4, 0)], 1)


class StatisticsJudge(nn.Module):
    """Logistic regression on `image_statistics`, standardised by the training set's mean and spread."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(len(mean), 1)

    def forward(self, x):
        return self.linear((image_statistics(x) - self.mean) / self.std)


def fit_statistics_judge(x, y, generator, l2=1e-2):
    f = image_statistics(x)
    net = StatisticsJudge(f.mean(0), f.std(0) + 1e-6)
    z = (f - net.mean) / net.std
    opt = torch.optim.LBFGS(net.linear.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(net.linear(z).squeeze(1), y) + l2 * net.linear.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return net.eval()


JUDGES = {"cnn": None, "resnet": lambda x, y, g: fit_classifier(x, y, 30, g, make=ResJudge),
         "features": fit_statistics_judge}
