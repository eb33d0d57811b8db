"""One vector quantizer (van den Oord et al. 2017) whose features are keyword flags.

- `ema=True`: codebook follows exponential moving averages of assigned encoder outputs (no codebook loss);
  `ema=False`: codebook is a parameter trained by the codebook loss ||sg[z] - e||^2.
- `init`: "kmeans" (k-means on the first training batch), "random" (random encoder outputs), "uniform" U(-1/K, 1/K)
  or "normal".
- `dead_code_threshold`: a code whose recent usage (assignments per batch, EMA with decay 0.9, so it reacts within
  a few tens of steps) falls below it is restarted at a random encoder output of the current batch.
- `l2_norm`: quantize l2-normalised vectors (cosine similarity codebook).
Distances and EMA statistics are float32 even under autocast, and are all-reduced across processes when
torch.distributed is initialised, so every rank holds the same codebook. Shapes: z (B, D, H, W) -> codes (B, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.all_reduce(t)
    return t


def _broadcast(t: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.broadcast(t, src=0)
    return t


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (B, D, H, W), straight-through gradient to the encoder
    codes: torch.Tensor  # (B, H, W) int64
    loss: torch.Tensor  # codebook loss + beta * commitment
    commitment: torch.Tensor
    perplexity: torch.Tensor  # exp(entropy of code frequencies in the batch)
    usage: torch.Tensor  # fraction of the codebook used in the batch


def kmeans(x: torch.Tensor, k: int, iters: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
    """Lloyd k-means on (N, D) -> (k, D) with k-means++ seeding; empty clusters keep their previous centre."""
    n = x.shape[0]
    centres = torch.empty(k, x.shape[1], dtype=x.dtype, device=x.device)
    centres[0] = x[torch.randint(n, (1,), generator=generator)]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for i in range(1, k):  # each new centre drawn with probability proportional to squared distance
        total = d2.sum()
        j = (torch.multinomial((d2 / total).cpu(), 1, generator=generator) if total > 0
             else torch.randint(n, (1,), generator=generator))
        centres[i] = x[j]
        d2 = torch.minimum(d2, ((x - centres[i]) ** 2).sum(1))
    for _ in range(iters):
        assign = torch.cdist(x, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).float()
        nonempty = counts > 0
        centres[nonempty] = sums[nonempty] / counts[nonempty, None]
    return centres


class VectorQuantizer(nn.Module):
    def __init__(self, codebook_size: int = 512, dim: int = 64, beta: float = 0.25, ema: bool = True,
                 decay: float = 0.99, eps: float = 1e-5, init: str = "kmeans", kmeans_iters: int = 10,
                 dead_code_threshold: float = 0.0, l2_norm: bool = False):
        super().__init__()
        if init not in ("kmeans", "random", "uniform", "normal"):
            raise ValueError(f"quantizer init must be kmeans, random, uniform or normal, not {init!r}")
        self.codebook_size, self.dim, self.beta = codebook_size, dim, beta
        self.ema, self.decay, self.eps = ema, decay, eps
        self.init_mode, self.kmeans_iters = init, kmeans_iters
        self.dead_code_threshold, self.l2_norm = dead_code_threshold, l2_norm
        embed = torch.empty(codebook_size, dim)
        if init == "uniform":
            embed.uniform_(-1.0 / codebook_size, 1.0 / codebook_size)
        else:
            embed.normal_()
        if ema:
            self.register_buffer("embed", embed)
            self.register_buffer("embed_avg", embed.clone())
        else:
            self.embed = nn.Parameter(embed)
        self.register_buffer("cluster_size", torch.ones(codebook_size))  # EMA of assignments per code (decay)
        self.register_buffer("recent_usage", torch.ones(codebook_size))  # fast EMA (0.9) for dead-code detection
        self.register_buffer("initted", torch.tensor(init in ("uniform", "normal")))

    def codebook(self) -> torch.Tensor:
        e = self.embed.float()
        return F.normalize(e, dim=-1) if self.l2_norm else e

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, H, W) -> quantized vectors (B, D, H, W)."""
        return F.embedding(codes, self.codebook()).permute(0, 3, 1, 2).contiguous()

    @torch.no_grad()
    def _init_from_data(self, flat: torch.Tensor) -> None:
        if self.init_mode == "kmeans":
            centres = kmeans(flat, self.codebook_size, self.kmeans_iters)
        else:
            centres = flat[torch.randint(flat.shape[0], (self.codebook_size,))].clone()
        centres = _broadcast(centres.contiguous())
        self.embed.data.copy_(centres)
        if self.ema:
            self.embed_avg.copy_(centres)
        expected = flat.shape[0] * (dist.get_world_size() if _distributed() else 1) / self.codebook_size
        self.cluster_size.fill_(expected)
        self.recent_usage.fill_(expected)
        if self.ema:
            self.embed_avg.mul_(expected)
        self.initted.fill_(True)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        counts = _all_reduce(torch.bincount(codes, minlength=self.codebook_size).float())
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.recent_usage.mul_(0.9).add_(counts, alpha=0.1)
        if self.ema:
            sums = torch.zeros(self.codebook_size, self.dim, device=flat.device).index_add_(0, codes, flat)
            embed_sum = _all_reduce(sums)
            self.embed_avg.mul_(self.decay).add_(embed_sum, alpha=1 - self.decay)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n
            self.embed.copy_(self.embed_avg / smoothed[:, None])
        if self.dead_code_threshold > 0:
            dead = self.recent_usage < self.dead_code_threshold
            if dead.any():
                pick = torch.randint(flat.shape[0], (self.codebook_size,), device=flat.device)
                fresh = _broadcast(flat[pick].contiguous())
                expected = self.cluster_size.sum() / self.codebook_size
                self.embed.data[dead] = fresh[dead]
                self.cluster_size[dead] = expected
                self.recent_usage[dead] = expected
                if self.ema:
                    self.embed_avg[dead] = fresh[dead] * expected

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        b, d, h, w = z.shape
        with torch.autocast(device_type=z.device.type, enabled=False):
            flat = z.float().permute(0, 2, 3, 1).reshape(-1, d)
            if self.l2_norm:
                flat = F.normalize(flat, dim=-1)
            if self.training and not bool(self.initted):
                self._init_from_data(flat.detach())
            embed = self.codebook()
            dist_ = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ embed.t() + embed.pow(2).sum(1)[None]
            codes = dist_.argmin(1)
            q = F.embedding(codes, embed)
            commitment = F.mse_loss(flat, q.detach())
            loss = self.beta * commitment
            if not self.ema:
                loss = loss + F.mse_loss(q, flat.detach())
            if self.training:
                self._update(flat.detach(), codes)
            counts = torch.bincount(codes, minlength=self.codebook_size).float()
            probs = counts / counts.sum()
            perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
            usage = (counts > 0).float().mean()
            q = flat + (q - flat).detach()
        quantized = q.view(b, h, w, d).permute(0, 3, 1, 2).contiguous()
        return QuantizerOutput(quantized, codes.view(b, h, w), loss, commitment, perplexity, usage)
