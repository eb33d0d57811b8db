"""Figures: montages, original | reconstruction | error grids, colour code maps, training curves (matplotlib, Agg)."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402

from ..data.writers import save_png, to_uint8  # noqa: E402,F401


def code_colours(codes, k: int) -> np.ndarray:
    """(H, W) integer codes -> (H, W, 3) uint8 through a fixed qualitative-ish colour map."""
    c = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    rgba = plt.get_cmap("nipy_spectral")((c.astype(np.float64) * 2654435761 % k) / max(k - 1, 1))
    return (rgba[..., :3] * 255).astype(np.uint8)


def montage(images, path: Path, ncols: int = 8, titles: list[str] | None = None, cmap: str = "gray") -> Path:
    n = len(images)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.6 * nrows + (0.2 if titles else 0)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, im in enumerate(images):
        ax = axes.flat[i]
        ax.imshow(np.squeeze(np.asarray(im)), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        if titles:
            ax.set_title(titles[i], fontsize=7)
    fig.tight_layout(pad=0.2)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def recon_grid(x, x_hat, path: Path, ssims=None, codes=None, k: int = 512, title: str | None = None) -> Path:
    """Rows: original, reconstruction, |error| (x4), and code map when given; one column per image."""
    x, x_hat = x.detach().cpu().float(), x_hat.detach().cpu().float().clamp(0, 1)
    n = len(x)
    rows = 3 + (codes is not None)
    fig, axes = plt.subplots(rows, n, figsize=(1.5 * n, 1.55 * rows + 0.3), squeeze=False)
    for j in range(n):
        err = (x_hat[j] - x[j]).abs()
        panels = [(x[j], "gray", 0, 1), (x_hat[j], "gray", 0, 1), (err, "magma", 0, 0.25)]
        for i, (im, cm, lo, hi) in enumerate(panels):
            axes[i, j].imshow(np.squeeze(im.numpy()), cmap=cm, vmin=lo, vmax=hi, interpolation="nearest")
        if codes is not None:
            axes[3, j].imshow(code_colours(codes[j], k), interpolation="nearest")
        if ssims is not None:
            axes[1, j].set_title(f"SSIM {float(ssims[j]):.3f}", fontsize=7)
        for i in range(rows):
            axes[i, j].axis("off")
    for i, name in enumerate(["original", "reconstruction", "|error|", "codes"][:rows]):
        axes[i, 0].text(-0.08, 0.5, name, transform=axes[i, 0].transAxes, rotation=90, va="center", ha="right",
                        fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.2)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def read_metrics_csv(path: Path) -> dict[str, list[tuple[float, float]]]:
    """logs/metrics.csv -> {metric: [(epoch, value), ...]} (the Lightning CSVLogger format)."""
    series: dict[str, list[tuple[float, float]]] = {}
    if not path.exists():
        return series
    with open(path) as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                if k in ("epoch", "step") or v in ("", None):
                    continue
                x = float(row["epoch"]) if row.get("epoch") else 0.0
                series.setdefault(k, []).append((float(row.get("step") or 0), x, float(v)))
    return series


def training_curves(metrics_csv: Path, path: Path, panels: dict[str, list[str]] | None = None) -> Path | None:
    """One panel per quantity (loss, SSIM, perplexity), per-epoch values against epoch."""
    series = read_metrics_csv(metrics_csv)
    if not series:
        return None
    panels = panels or {"loss": ["train/loss_epoch", "val/loss"], "validation SSIM": ["val/ssim"],
                        "perplexity": ["train/perplexity_epoch", "train/perplexity_top_epoch",
                                       "train/perplexity_bottom_epoch", "val/perplexity"]}
    panels = {t: [k for k in ks if k in series] for t, ks in panels.items()}
    panels = {t: ks for t, ks in panels.items() if ks}
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3), squeeze=False)
    for ax, (title, keys) in zip(axes.flat, panels.items()):
        for k in keys:
            pts = series[k]
            ax.plot([p[0] for p in pts], [p[2] for p in pts], marker="o", ms=3, label=k)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class FiguresCallback(Callback):
    """After each validation: a reconstruction grid of fixed validation slices and the training curves."""

    def __init__(self, run, datamodule, n: int = 8):
        self.run, self.dm, self.n = run, datamodule, n

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.state.fn != "fit":
            return
        from .metrics import ssim

        split = self.dm.split("validate" if self.dm.has("validate") else "train")
        idx = np.linspace(0, len(split.images) - 1, min(self.n, len(split.images))).astype(int)
        x = torch.from_numpy(np.stack([split.images[i] for i in idx]))[:, None].to(pl_module.device)
        model = pl_module.model
        was_training = model.training
        model.eval()
        with torch.no_grad():
            codes = model.encode(x)
            x_hat = model.decode(codes)
        model.train(was_training)
        self.run.figures.mkdir(parents=True, exist_ok=True)
        recon_grid(x, x_hat, self.run.figures / f"recon_epoch{trainer.current_epoch:03d}.png", ssim(x_hat, x).cpu(),
                   codes[-1], model.codebook_size, title=f"epoch {trainer.current_epoch}, step {trainer.global_step}")
        training_curves(self.run.logs / "metrics.csv", self.run.figures / "curves.png")
