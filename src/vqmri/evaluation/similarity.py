"""Memorisation and diversity of a sample set: how near samples sit to training slices (in pixels and in codes),
how alike they are to each other, which slice positions they cover, and precision / recall against real slices."""
from __future__ import annotations

import numpy as np
import torch

from . import metrics


def nearest_ssim(queries: torch.Tensor, reference: torch.Tensor, candidates: int = 10, chunk: int = 32) -> torch.Tensor:
    """For each query, the highest SSIM to any reference slice. Candidates are pre-screened by L2 distance (the
    `candidates` nearest), then scored exactly with SSIM, `chunk` queries' candidates in one batched call."""
    q = queries.flatten(1).float()
    r = reference.flatten(1).float()
    d = torch.cdist(q, r)
    idx = d.topk(min(candidates, len(r)), largest=False).indices
    k = idx.shape[1]
    best = []
    for i in range(0, len(queries), chunk):
        part = idx[i:i + chunk]
        s = metrics.ssim(queries[i:i + chunk].repeat_interleave(k, 0), reference[part.flatten()])
        best.append(s.view(len(part), k).max(1).values)
    return torch.cat(best)


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


def position_coverage(samples: torch.Tensor, real: torch.Tensor, real_positions: torch.Tensor,
                      buckets: int = 8, size: int = 32) -> dict:
    """Which slice positions (0 = first, 1 = last slice of a subject's stack) the samples look like: each sample takes
    the position of its nearest real slice (L2 at `size` px, where a slice's gross anatomy decides), counted in
    `buckets` equal buckets and set beside the real slices' own counts. A generator that draws one kind of slice
    fills few buckets. Returns the share of buckets holding at least half their real share (`coverage`), the total
    variation distance of the two histograms (`tv`, 0 = same spread) and both histograms."""
    def small(x):
        return torch.nn.functional.interpolate(x.float(), size=(size, size), mode="area").flatten(1)

    nearest = torch.cdist(small(samples), small(real)).argmin(1)
    bucket = (real_positions.float() * buckets).long().clamp(0, buckets - 1)
    real_hist = torch.bincount(bucket, minlength=buckets).float() / len(bucket)
    sample_hist = torch.bincount(bucket[nearest], minlength=buckets).float() / len(nearest)
    covered = (sample_hist >= 0.5 * real_hist)[real_hist > 0]
    return {"coverage": float(covered.float().mean()), "tv": float(0.5 * (sample_hist - real_hist).abs().sum()),
            "samples": [round(float(v), 4) for v in sample_hist], "real": [round(float(v), 4) for v in real_hist]}


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = 3) -> dict:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of feature vectors (N, D): precision = share of
    samples inside the real set's k-NN manifold (realism), recall = share of real vectors inside the samples' manifold
    (coverage). A set that passes a classifier by drawing one kind of slice keeps its precision and loses recall."""
    def inside(queries, ref):
        radius = torch.cdist(ref, ref).kthvalue(k + 1, dim=1).values  # k-th neighbour, itself excluded
        return (torch.cdist(queries, ref) <= radius[None]).any(1).float().mean()

    fake, real = fake.float(), real.float()
    return {"precision": float(inside(fake, real)), "recall": float(inside(real, fake)), "k": k}
