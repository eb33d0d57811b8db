"""A Gaussian over a VQ-VAE-2's top: the quantized vectors of the training slices' top code maps, one Gaussian a
slice-position class (its mean and leading principal components), each draw snapped to the nearest top codes.

Why: a code-level network fitted for minutes on a CPU learns each code given its neighbours but draws tops whose inside
is texture; a linear model of the whole map keeps what every training top shares (the outline, the symmetry, where the
ventricles lie) and varies it along the directions the training tops vary most. It is fitted in closed form in
seconds. It only draws: the prior's top network stays the likelihood of the top (anomaly maps, inpainting, scores).

vectors (N, D, h, w) + labels (N,) -> fit; sample(n, labels) -> top codes (n, h, w).
"""
from __future__ import annotations

import torch
from torch import nn


class GaussianTop(nn.Module):
    """`classes` Gaussians (1 for a prior without slice-position classes) of `components` principal components over
    top maps of `shape` (h, w) of `dim`-dimensional vectors, snapped to a codebook of `codebook_size` codes."""

    def __init__(self, classes: int, components: int, shape: tuple[int, int], dim: int, codebook_size: int):
        super().__init__()
        if classes < 1 or components < 1:
            raise ValueError(f"a Gaussian top needs at least one class and one component, not {classes}, {components}")
        self.shape, self.dim = tuple(shape), dim
        size = dim * shape[0] * shape[1]
        self.register_buffer("mean", torch.zeros(classes, size))
        # each class's principal directions scaled by their standard deviations: a draw is mean + eps @ basis
        self.register_buffer("basis", torch.zeros(classes, components, size))
        self.register_buffer("frequency", torch.full((classes,), 1.0 / classes))  # of each class in training
        self.register_buffer("codebook", torch.zeros(codebook_size, dim))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, vectors: torch.Tensor, labels: torch.Tensor | None, codebook: torch.Tensor,
            spread: float = 1.0) -> GaussianTop:
        """vectors (N, D, h, w): the training tops' quantized vectors; labels (N,) their classes (None: one class);
        codebook (K, D): the top quantizer's codes; `spread`: the fitted standard deviations times this (draws at
        scale 1 then deviate that much more from the mean). A class with fewer maps than components keeps what it
        has."""
        classes, components, _ = self.basis.shape
        if tuple(vectors.shape[1:]) != (self.dim, *self.shape) or codebook.shape != self.codebook.shape:
            raise ValueError(f"vectors {tuple(vectors.shape)} and codebook {tuple(codebook.shape)} do not fit a "
                             f"Gaussian top of {self.dim} x {self.shape} over {self.codebook.shape[0]} codes")
        flat = vectors.flatten(1).float()
        labels = torch.zeros(len(flat), dtype=torch.long) if labels is None else labels.long()
        self.basis.zero_()
        for c in range(classes):
            own = flat[labels == c]
            self.frequency[c] = len(own) / len(flat)
            if len(own) == 0:
                continue
            self.mean[c] = own.mean(0)
            q = min(components, len(own) - 1)
            if q > 0:
                _, s, v = torch.pca_lowrank(own - self.mean[c], q=q, center=False)
                self.basis[c, :q] = (spread * s[:, None] / (len(own) - 1) ** 0.5) * v.T
        self.codebook.copy_(codebook)
        self.fitted.fill_(True)
        return self

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None, scale: float = 1.0,
               gen: torch.Generator | None = None) -> torch.Tensor:
        """n top code maps (n, h, w): each a draw of its label's Gaussian (labels None: classes drawn at their
        training frequency), its deviation from the mean times `scale`, snapped to the nearest codes."""
        if not bool(self.fitted):
            raise ValueError("the Gaussian top has not been fitted")
        components = self.basis.shape[1]
        if labels is None:
            labels = torch.multinomial(self.frequency.cpu(), n, replacement=True, generator=gen)
        labels = labels.to(self.mean.device)
        eps = torch.randn(n, 1, components, generator=gen).to(self.basis.device) * scale
        z = self.mean[labels] + (eps @ self.basis[labels]).squeeze(1)  # (n, D*h*w)
        h, w = self.shape
        z = z.view(n, self.dim, h * w).transpose(1, 2)  # (n, h*w, D)
        codes = torch.cdist(z, self.codebook[None].expand(n, -1, -1)).argmin(-1)
        return codes.view(n, h, w)
