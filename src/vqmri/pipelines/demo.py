"""`vqmri demo`: the whole pipeline on the built-in brain sample, within a few minutes on a laptop CPU."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from .. import config
from ..evaluation.evaluate import evaluate
from ..training.autoencoder import train_autoencoder
from ..training.prior import train_prior
from ..vqmodel import load
from .report import write_report


def run_demo(out: Path, minutes: float = 7.0) -> int:
    t0 = time.monotonic()
    if (out / "config.yaml").exists():
        shutil.rmtree(out)
    # the `realistic` recipe at the demo's size: two levels with realistic's top factor (at 64 px an 8 x 8 top over a
    # 16 x 16 bottom, which decodes sharply), and realistic's prior (slice-position
    # classes, jittered copies of each slice; the top drawn by a Gaussian over the training tops, the bottom drawn
    # given the top).
    realistic, sample = config.resolve("realistic"), config.resolve("sample")
    prior = realistic.prior.model_dump(include={"arch", "bottom_arch", "channels", "layers", "dropout", "classes",
                                                "lr", "level", "top_share", "augment", "augment_degrees",
                                                "bottom_redraw", "bottom_choice", "label_dropout",
                                                "choice_temperature", "top_sampler", "top_components",
                                                "top_spread"})
    cfg = config.validate(sample, data={"path": "sample:brain"},
                          train={"max_minutes": 0.65 * minutes, "max_epochs": 1000},
                          model=realistic.model.model_dump(include={"arch", "bottom", "bottom_dropout", "padding",
                                                                    "top_factor"}), prior=prior)
    print(f"[1/4] training the VQ-VAE-2 on sample:brain for up to {cfg.train.max_minutes:.1f} min -> {out}")
    run = train_autoencoder(cfg, out)
    res = evaluate(load(run.root), "sample:brain", "test", run.eval / "test")
    print(f"[2/4] held-out test subjects: SSIM {res['ssim_mean']:.4f} over {res['n_images']} slices "
          f"({res['bits_per_pixel']:.3f} bits/pixel, {res['codes_used']}/{res['codebook_size']} codes used)")
    print(f"[3/4] training the prior for up to {0.3 * minutes:.1f} min")
    train_prior(run.root, max_minutes=0.3 * minutes, max_epochs=1000)
    print("[4/4] sampling and writing the report")
    report = write_report(run.root)
    print(f"held-out SSIM {res['ssim_mean']:.4f}; report: {report.resolve()} ({(time.monotonic() - t0) / 60:.1f} min)")
    return 0
