"""`vqmri demo`: the whole pipeline on the built-in brain sample, within a few minutes on a laptop CPU."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from .. import config
from ..evaluation.evaluate import evaluate
from ..runs import load
from ..training.autoencoder import train_autoencoder
from ..training.prior import train_prior
from .report import write_report


def run_demo(out: Path, minutes: float = 7.0) -> int:
    t0 = time.monotonic()
    if (out / "config.yaml").exists():
        shutil.rmtree(out)
    cfg = config.resolve("sample")
    cfg["data"]["path"] = "sample:brain"
    cfg["train"]["max_minutes"] = 0.65 * minutes
    cfg["train"]["max_epochs"] = 1000
    # the `realistic` recipe at the demo's size: a code map 8x smaller than the slice (8 x 8 at 64 px), so the prior's
    # receptive field spans the slice (on a 16 x 16 map its samples were head-shaped blobs); the last 40 % of the
    # budget trains the decoder alone against a patch discriminator on half-size crops (codes fixed); the realistic
    # prior, which knows each slice's position in the stack. Six training subjects are few, so the prior also learns
    # from jittered copies of each slice (the `generate` preset's augmentation).
    realistic = config.PRESETS["realistic"]
    cfg["model"]["downsample"] = realistic["model"]["downsample"]
    cfg["gan"].update(realistic["gan"], crop=cfg["data"]["image_size"] // 2)
    for key in ("arch", "channels", "layers", "dropout", "classes", "lr"):
        cfg["prior"][key] = realistic["prior"][key]
    jitter = config.PRESETS["generate"]["prior"]
    cfg["prior"].update(augment=jitter["augment"], augment_degrees=jitter["augment_degrees"])
    print(f"[1/4] training the VQ-VAE on sample:brain for up to {cfg['train']['max_minutes']:.1f} min -> {out}")
    run = train_autoencoder(cfg, out)
    res = evaluate(load(run.root), "sample:brain", "test", run.eval / "test")
    print(f"[2/4] held-out test subjects: SSIM {res['ssim_mean']:.4f} over {res['n_images']} slices "
          f"({res['bits_per_pixel']:.3f} bits/pixel, {res['codes_used']}/{res['codebook_size']} codes used)")
    print(f"[3/4] training the PixelCNN prior for up to {0.3 * minutes:.1f} min")
    train_prior(run.root, max_minutes=0.3 * minutes, max_epochs=1000)
    print("[4/4] sampling and writing the report")
    report = write_report(run.root)
    print(f"held-out SSIM {res['ssim_mean']:.4f}; report: {report.resolve()} ({(time.monotonic() - t0) / 60:.1f} min)")
    return 0
