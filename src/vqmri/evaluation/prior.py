"""How well the prior predicts a split's code maps, beside the uniform and unigram baselines."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..codes import cached_codes, position_labels


def prior_metrics(model, prior, data: str | None, split: str) -> dict:
    """NLL of a split's code maps in bits per code, beside log2 K and the unigram entropy of train code frequencies
    (each level's, and their mean weighted by codes: the levels may have codebooks of their own sizes)."""
    codes, positions = cached_codes(model, split, data)
    labels = position_labels(positions, prior.num_classes) if prior.num_classes else None
    train, _ = cached_codes(model, "train")
    totals, counts = [0.0] * len(codes), [0] * len(codes)
    with torch.no_grad():  # every level's NLL from one pass over the split
        for i in range(0, len(codes[0]), 64):
            batch = [c[i:i + 64] for c in codes]
            for lvl, nats in enumerate(prior.nll(batch, None if labels is None else labels[i:i + 64])):
                totals[lvl] += float(nats) * batch[lvl].numel()
                counts[lvl] += batch[lvl].numel()
    levels = []
    for lvl, (total, n) in enumerate(zip(totals, counts)):
        k = model.codebook_sizes[lvl]
        freq = np.bincount(train[lvl].flatten().numpy(), minlength=k).astype(float)
        p = freq[freq > 0] / freq.sum()
        levels.append({"bits_per_code": total / n / math.log(2), "codes": n, "codebook_size": k,
                       "log2_codebook_size": math.log2(k), "unigram_bits": float(-(p * np.log2(p)).sum())})
    n_all = sum(lv["codes"] for lv in levels)
    return {"n_images": len(codes[0]), "split": split, "codebook_size": model.codebook_size,
            "codebook_sizes": model.codebook_sizes,
            "log2_codebook_size": sum(lv["log2_codebook_size"] * lv["codes"] for lv in levels) / n_all,
            "bits_per_code": sum(lv["bits_per_code"] * lv["codes"] for lv in levels) / n_all,
            "unigram_bits_per_code": sum(lv["unigram_bits"] * lv["codes"] for lv in levels) / n_all,
            "levels": levels}


def format_prior(res: dict) -> str:
    """What `vqmri evaluate-prior` prints: bits per code beside the baselines, and per level for two levels."""
    text = (f"{res['n_images']} {res['split']} code maps: {res['bits_per_code']:.3f} bits per code (uniform "
            f"{res['log2_codebook_size']:.2f}, unigram {res['unigram_bits_per_code']:.3f})")
    if len(res["levels"]) == 2:
        top, bottom = res["levels"]
        text += (f"; top {top['bits_per_code']:.3f} (unigram {top['unigram_bits']:.3f}), bottom "
                 f"{bottom['bits_per_code']:.3f} (unigram {bottom['unigram_bits']:.3f})")
    return text
