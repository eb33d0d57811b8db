"""Evaluate a run on a split: per-image SSIM / PSNR / MS-SSIM / MSE, rate, codebook usage -> CSV, JSON, grids.

Top-level figures are at the model's resolution (inputs resized to image_size). When that differs from the
data's native resolution, `native` repeats them with reconstructions resized back to each slice's native shape.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch

from .. import config
from ..data import geometry, readers
from ..data.datamodule import discover_from_config, load_cached
from ..data.layouts import discover
from ..vqmodel import VQModel
from . import metrics
from .figures import recon_grid


def _native_arrays(meta: list[dict], axis: str, min_tissue: float) -> list[np.ndarray]:
    """Re-read the native slices behind cached records (evaluation only; training never needs them)."""
    by_source: dict[str, dict[int, np.ndarray]] = {}
    out = []
    for m in meta:
        if m["source"] not in by_source:
            by_source[m["source"]] = {s.index: s.array for s in readers.read_any(Path(m["source"]), axis, min_tissue)}
        out.append(by_source[m["source"]][m["index"]])
    return out


def _block(ssim_v, psnr_v, mse_v, ms_v) -> dict:
    s = metrics.summarize(ssim_v)
    return {"ssim_mean": s["mean"], "ssim_std": s["std"], "ssim_min": s["min"], "ssim_median": s["median"],
            "ssim_max": s["max"], "psnr_mean": float(np.mean(psnr_v)), "mse_mean": float(np.mean(mse_v)),
            "ms_ssim_mean": float(np.mean(ms_v)) if ms_v is not None else None}


def evaluate(model: VQModel, data: str, split: str = "test", out_dir: Path | None = None,
             batch_size: int = 64, skip_bad: bool = False, max_images: int | None = None) -> dict:
    cfg = config.validate(model.config, data={"skip_bad": skip_bad or model.config.data.skip_bad})
    d = cfg.data
    if data == d.path and model.run is not None:  # the run's own data: its saved splits, even if files were added
        discovery = discover_from_config(cfg, model.run.root)
    else:
        discovery = discover(data, tuple(d.split_ratios), d.split_seed)
    cached = load_cached(discovery, split, cfg)
    n = len(cached.images) if max_images is None else min(max_images, len(cached.images))
    recon_all, x_all = [], []
    counts = np.zeros(max(model.codebook_sizes), np.int64)  # every level's codes together
    ssim_v, psnr_v, mse_v, ms_v = [], [], [], []
    for i in range(0, n, batch_size):
        x = torch.from_numpy(np.array(cached.images[i: i + batch_size], np.float32))[:, None]
        codes = model.encode(x)
        x_hat = model.decode(codes)
        for c in codes:
            counts += np.bincount(c.flatten().numpy(), minlength=len(counts))
        ssim_v.append(metrics.ssim(x_hat, x))
        psnr_v.append(metrics.psnr(x_hat, x))
        mse_v.append(metrics.mse(x_hat, x))
        m = metrics.ms_ssim(x_hat, x)
        ms_v.append(m)
        recon_all.append(x_hat)
        x_all.append(x)
    ssim_t, psnr_t, mse_t = torch.cat(ssim_v), torch.cat(psnr_v), torch.cat(mse_v)
    ms_t = torch.cat(ms_v) if ms_v and ms_v[0] is not None else None
    bpp = model.bits_per_pixel()
    result = {"n_images": n, "split": split, "data": data, "image_size": model.image_size,
              "checkpoint": model.checkpoint_id,
              **_block(ssim_t.numpy(), psnr_t.numpy(), mse_t.numpy(), None if ms_t is None else ms_t.numpy()),
              "bits_per_pixel": bpp, "compression_ratio": 8.0 / bpp,
              "codebook_usage": float((counts > 0).mean()), "codes_used": int((counts > 0).sum()),
              "codebook_size": model.codebook_size, "codebook_sizes": model.codebook_sizes,
              "perplexity": metrics.perplexity(counts),
              "code_shapes": [list(s) for s in model.code_shapes()], "native": None,
              "skipped": cached.skipped}
    shapes = [tuple(m["shape"]) for m in cached.meta[:n]]
    native_ssim = None
    if any(s != (model.image_size, model.image_size) for s in shapes):
        natives = _native_arrays(cached.meta[:n], d.axis, d.min_tissue)
        recon = torch.cat(recon_all)
        ns, npn, nm, nms = [], [], [], []
        for j, a in enumerate(natives):
            t = torch.from_numpy(np.asarray(a, np.float32))[None, None]
            r = geometry.to_native(recon[j, 0], a.shape)[None, None]
            ns.append(float(metrics.ssim(r, t)))
            npn.append(float(metrics.psnr(r, t)))
            nm.append(float(metrics.mse(r, t)))
            m = metrics.ms_ssim(r, t)
            nms.append(float(m) if m is not None else None)
        result["native"] = _block(ns, npn, nm, None if any(v is None for v in nms) else nms)
        result["native"]["shapes"] = sorted({f"{h}x{w}" for h, w in shapes})
        native_ssim = ns
    if out_dir is not None:
        _write(out_dir, result, cached.meta[:n], ssim_t, psnr_t, mse_t, ms_t, native_ssim,
               torch.cat(x_all), torch.cat(recon_all), model)
    return result


def _write(out_dir: Path, result, meta, ssim_t, psnr_t, mse_t, ms_t, native_ssim, x, x_hat, model) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "per_image.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "subject", "index", "native_shape", "ssim", "psnr", "mse", "ms_ssim", "ssim_native"])
        for j, m in enumerate(meta):
            w.writerow([m["source"], m["subject"], m["index"], "x".join(map(str, m["shape"])), f"{ssim_t[j]:.6f}",
                        f"{psnr_t[j]:.4f}", f"{mse_t[j]:.8f}", "" if ms_t is None else f"{ms_t[j]:.6f}",
                        "" if native_ssim is None else f"{native_ssim[j]:.6f}"])
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=1))
    order = torch.argsort(ssim_t)
    k = min(8, len(order))
    for name, idx in (("worst", order[:k]), ("best", order.flip(0)[:k])):
        codes = model.encode(x[idx])
        recon_grid(x[idx], x_hat[idx], out_dir / f"{name}.png", ssim_t[idx], codes[-1], model.codebook_size,
                   title=f"{name} {k} by SSIM")
    hist_path = out_dir / "ssim_hist.png"
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.6))
    ax.hist(ssim_t.numpy(), bins=30, color="#4477aa")
    ax.set_xlabel("SSIM")
    ax.set_ylabel("slices")
    ax.set_title(f"{result['split']}: mean {result['ssim_mean']:.3f}, n={result['n_images']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(hist_path, dpi=100)
    plt.close(fig)


def format_summary(res: dict, out) -> str:
    """The lines `vqmri evaluate` prints."""
    ms = res["ms_ssim_mean"] if res["ms_ssim_mean"] is not None else "n/a"
    lines = [f"{res['n_images']} {res['split']} slices at {res['image_size']} px: SSIM {res['ssim_mean']:.4f} "
             f"(std {res['ssim_std']:.4f}, min {res['ssim_min']:.4f}, max {res['ssim_max']:.4f}), "
             f"PSNR {res['psnr_mean']:.2f} dB, MS-SSIM {ms}"]
    if res["native"]:
        lines.append(f"at native size ({', '.join(res['native']['shapes'])}): SSIM {res['native']['ssim_mean']:.4f}, "
                     f"PSNR {res['native']['psnr_mean']:.2f} dB")
    lines.append(f"rate: {res['bits_per_pixel']:.4f} bits/pixel (compression {res['compression_ratio']:.1f}x vs "
                 f"8-bit); codebook usage {res['codebook_usage']:.2f}, perplexity {res['perplexity']:.1f}")
    lines.append(f"per-image CSV and figures: {out}")
    return "\n".join(lines)
