"""RUN_DIR/report.html: one self-contained page (images embedded as data URIs, no JavaScript, no network)."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from ..config import Config
from ..data.datamodule import discover_from_config, load_cached
from ..evaluation.evaluate import evaluate
from ..evaluation.figures import code_colours, montage, to_uint8, training_curves
from ..evaluation.prior import prior_metrics
from ..runs import Run, checkpoint_id, load_prior
from ..vqmodel import load
from .generate import generate


def _img(path: Path, alt: str, width: int | None = None) -> str:
    if not path.exists():
        return ""
    mime = "image/gif" if path.suffix == ".gif" else "image/png"
    data = base64.b64encode(path.read_bytes()).decode()
    w = f' width="{width}"' if width else ""
    return (f'<figure><img src="data:{mime};base64,{data}" alt="{html.escape(alt)}"{w}>'
            f'<figcaption>{html.escape(alt)}</figcaption></figure>')


def _table(rows: list[tuple[str, object]]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4f}"
        return html.escape(str(v))
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{fmt(v)}</td></tr>" for k, v in rows if v is not None)
    return f"<table>{cells}</table>"


STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222} table{border-collapse:collapse} "
         "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left} figure{display:inline-block;margin:6px} "
         "figcaption{font-size:12px;color:#555} img{max-width:100%} "
         "pre{background:#f6f6f6;padding:8px;font-size:11px}")


def _sample_scores(path: Path) -> str:
    """The last `vqmri evaluate-samples` figures of this run, headline first: can a classifier tell the samples from
    real held-out slices?"""
    if not path.exists():
        return "<p>Score a sample set with <code>vqmri evaluate-samples RUN_DIR SAMPLES_DIR</code>.</p>"
    r = json.loads(path.read_text())
    dv = r["diversity"]
    rows = [("samples scored", f"{r['n_samples']} from {r.get('samples_dir', '?')}"),
            ("two-sample accuracy, samples vs real held-out slices (0.5 = indistinguishable)",
             r["two_sample_acc_vs_real"]),
            ("reconstructions of those slices vs the slices (the decoder's floor)", r["two_sample_acc_recon_vs_real"]),
            ("real slices of other new subjects vs the slices (reference)", r.get("two_sample_acc_real_null")),
            ("samples vs reconstructions", r["two_sample_acc_vs_reconstructions"]),
            *[(f"judged at {px} px: samples / reconstructions / real of other subjects, vs real",
               " / ".join(f"{t[k]:.3f}" if k in t else "-" for k in ("vs_real", "recon_vs_real", "real_null")))
              for px, t in r.get("two_sample_by_size", {}).items()],
            ("slice positions covered", dv.get("slice_positions", {}).get("coverage")),
            ("precision / recall (two-sample CNN features)",
             f"{dv['precision_recall']['precision']:.3f} / {dv['precision_recall']['recall']:.3f}"
             if "precision_recall" in dv else None),
            ("mean pairwise SSIM samples / real", f"{dv['samples_mean_pairwise_ssim']:.3f} / "
                                                  f"{dv['test_mean_pairwise_ssim']:.3f}"),
            ("samples above the reconstructions' p95 of nearest-train SSIM",
             r["memorisation"]["samples_above_recon_p95"])]
    return f"<h3>Do the samples pass for real slices?</h3>{_table(rows)}"


def _held_out_split(run: Run) -> str:
    splits = json.loads((run.root / "splits.json").read_text())["splits"]
    return "test" if splits.get("test") else "validate" if splits.get("validate") else "train"


def _ensure_eval(run: Run, split: str) -> dict:
    path = run.eval / split / "metrics.json"
    stale = path.exists() and json.loads(path.read_text()).get("checkpoint") != checkpoint_id(run.checkpoint("best"))
    if not path.exists() or stale:

        model = load(run.root)
        evaluate(model, model.config.data.path, split, run.eval / split)
    return json.loads(path.read_text())


def _code_usage_figure(run: Run, out: Path) -> Path | None:
    """Codebook usage over the run's training codes (how many codes, how often), sorted by frequency."""
    codes_path = run.codes / "train.npz"
    if not codes_path.exists():
        return None
    z = np.load(codes_path)
    names = sorted(f for f in z.files if f.startswith("level"))  # the file also holds slice positions
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 2.8), squeeze=False)
    m = run.config.model
    sizes = [m.top_codebook_size or m.codebook_size] * (len(names) - 1) + [m.codebook_size]  # top first
    for ax, name, k in zip(axes.flat, names, sizes):
        counts = np.sort(np.bincount(z[name].flatten(), minlength=k))[::-1]
        ax.bar(np.arange(k), counts / counts.sum(), width=1.0, color="#4477aa")
        ax.set_title(f"{name}: {int((counts > 0).sum())}/{k} codes used", fontsize=9)
        ax.set_xlabel("code rank")
        ax.set_ylabel("frequency")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _gif(run: Run, split: str, out: Path, n: int = 4) -> Path | None:
    """Animated GIF cycling input -> code map -> reconstruction for a few held-out slices."""

    model = load(run.root)
    cached = load_cached(discover_from_config(model.config, run.root), split, model.config)
    idx = np.linspace(0, len(cached.images) - 1, n + 2).astype(int)[1:-1]
    x = torch.from_numpy(np.stack([cached.images[i] for i in idx]))[:, None]
    codes = model.encode(x)
    recon = model.decode(codes)
    s = model.image_size
    frames = []
    for stage in range(3):
        row = []
        for j in range(len(idx)):
            if stage == 0:
                a = np.repeat(to_uint8(x[j])[..., None], 3, -1)
            elif stage == 1:
                colours = Image.fromarray(code_colours(codes[-1][j], model.codebook_size))
                a = np.asarray(colours.resize((s, s), Image.NEAREST))
            else:
                a = np.repeat(to_uint8(recon[j])[..., None], 3, -1)
            row.append(a)
        frames.append(Image.fromarray(np.concatenate(row, 1)))
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=[900, 900, 1400], loop=0)
    return out


def _top_only_figure(run: Run, split: str, out: Path, n: int = 8) -> Path | None:
    """Two-level runs: held-out slices (top row), their reconstructions (middle) and their top codes decoded alone
    (bottom): what the short code the prior draws carries by itself."""
    model = load(run.root)
    if not hasattr(model.net, "decode_top"):
        return None
    cached = load_cached(discover_from_config(model.config, run.root), split, model.config)
    idx = np.linspace(0, len(cached.images) - 1, n + 2).astype(int)[1:-1]
    x = torch.from_numpy(np.stack([cached.images[i] for i in idx]))[:, None]
    codes = model.encode(x)
    top = model.net.decode_top(codes[0].to(model.device)).cpu()
    montage(list(x.numpy()) + list(model.decode(codes).numpy()) + list(top.numpy()), out, ncols=n)
    return out


def _anomaly_section(run: Run) -> str:
    """The latest `vqmri anomaly` call on this run: its most anomalous slices and their scores."""
    path = run.eval / "anomaly.json"
    if not path.exists():
        return ("<p>Anomaly maps of real slices: <code>vqmri anomaly RUN_DIR SLICES --out DIR</code> (healing: codes "
                "the prior finds unlikely are redrawn; the map is where the healed slice differs).</p>")
    r = json.loads(path.read_text())
    current = r.get("checkpoint") == checkpoint_id(run.checkpoint("best"))
    rows = [("slices", f"{r['n_slices']} (maps and scores.csv in {r['out']})"), ("threshold", r["threshold"]),
            ("redraws a slice", r["resamples"]),
            ("made with", "the run's current checkpoints" if current else "an earlier checkpoint: run it again")]
    worst = "".join(f"<tr><td>{html.escape(w['file'])}</td><td>{w['score']:.4f}</td><td>"
                    f"{w['replaced_fraction']:.0%}</td><td>{w['ssim']:.3f}</td><td>{w['bits_per_code']:.2f}</td></tr>"
                    for w in r["worst"])
    return (_table(rows) + "<table><tr><th>file</th><th>score</th><th>codes replaced</th><th>SSIM healed</th>"
            f"<th>bits per code</th></tr>{worst}</table>"
            + _img(run.figures / "anomaly_worst.png", "most anomalous slices: |input - healed| over the slice"))


def write_report(run_dir: str | Path, n_samples: int = 16) -> Path:
    run = Run.open(run_dir)
    cfg = run.config
    split = _held_out_split(run)
    ev = _ensure_eval(run, split)
    figs = run.figures
    figs.mkdir(exist_ok=True)
    training_curves(run.logs / "metrics.csv", figs / "curves.png")
    usage = _code_usage_figure(run, figs / "code_usage.png")
    gif = _gif(run, split, figs / "encode_decode.gif")
    top_only = _top_only_figure(run, split, figs / "top_only.png")
    prior_ckpt = run.prior / "checkpoints" / "best.ckpt"
    prior_res, samples_png = None, None
    if prior_ckpt.exists():
        training_curves(run.prior / "logs" / "metrics.csv", figs / "prior_curves.png",
                        {"prior bits per code": ["train/bits_per_code_level0_epoch", "train/bits_per_code_level1_epoch",
                                                 "val/bits_per_code"]})
        prior_path = run.eval / split / "prior.json"
        prior_id = checkpoint_id(prior_ckpt)
        if not prior_path.exists() or json.loads(prior_path.read_text()).get("prior_checkpoint") != prior_id:
            res = prior_metrics(load(run.root), load_prior(run), None, split)
            prior_path.write_text(json.dumps({**res, "prior_checkpoint": prior_id}, indent=1))
        prior_res = json.loads(prior_path.read_text())
        samples_png = figs / "samples_vs_real.png"
        if not samples_png.exists() or samples_png.stat().st_mtime < prior_ckpt.stat().st_mtime:
            _samples_figure(run, split, samples_png, n_samples)
    summary_path = run.root / "train_summary.json"
    summary = json.loads(summary_path.read_text())["total"] if summary_path.exists() else {}
    latest = sorted(figs.glob("recon_epoch*.png"))
    rows = _metric_rows(cfg, ev, split, prior_res, summary)
    settings = html.escape(json.dumps(cfg.model_dump(include={"model", "quantizer", "train"}), indent=1))
    ed = run.eval / split
    no_prior = "<p>No prior yet: run <code>vqmri train-prior RUN_DIR</code>.</p>"
    samples = _img(samples_png, "top: generated; bottom: real held-out slices") if samples_png else no_prior
    head = (f'<!doctype html><html><head><meta charset="utf-8"><title>vqmri report: {html.escape(run.root.name)}'
            f"</title><style>{STYLE}</style></head><body>")
    body = f"""{head}
<h1>vqmri run: {html.escape(str(run.root))}</h1>
<h2>Metrics ({split} split, held-out subjects)</h2>{_table(rows)}
<h2>Worst and best held-out slices (original, reconstruction, |error|, code map)</h2>
{_img(ed / 'worst.png', 'worst 8 by SSIM')}{_img(ed / 'best.png', 'best 8 by SSIM')}
{_img(latest[-1], 'fixed validation slices at the last epoch') if latest else ''}
<h2>SSIM distribution</h2>{_img(ed / 'ssim_hist.png', 'per-slice SSIM on the ' + split + ' split')}
<h2>Codebook</h2>{_img(usage, 'code frequencies, training set') if usage else ''}
{_img(gif, 'input, code map, reconstruction') if gif else ''}
{_img(top_only, 'held-out slices, reconstructions, and the top codes decoded alone') if top_only else ''}
<h2>Training curves</h2>{_img(figs / 'curves.png', 'loss, validation SSIM, perplexity')}
{_img(figs / 'prior_curves.png', 'prior bits per code') if prior_res else ''}
<h2>Generated samples</h2>{samples}
{_sample_scores(ed / 'samples.json')}
<h2>Anomaly maps (the prior on real slices)</h2>{_anomaly_section(run) if prior_res else no_prior}
<h2>Settings</h2><pre>{settings}</pre></body></html>"""
    tmp = run.report.with_suffix(".tmp")
    tmp.write_text(body)
    tmp.replace(run.report)
    return run.report


def _metric_rows(cfg: Config, ev: dict, split: str, prior_res: dict | None, summary: dict) -> list[tuple[str, object]]:
    """The report's first table: data, model, held-out reconstruction figures, prior figures, training speed."""
    return [("data", cfg.data.path), ("preset", cfg.preset), ("architecture", cfg.model.arch),
            ("image size", ev["image_size"]), ("evaluated split", f"{split} ({ev['n_images']} slices)"),
            ("SSIM mean", ev["ssim_mean"]), ("SSIM std", ev["ssim_std"]), ("SSIM min", ev["ssim_min"]),
            ("SSIM max", ev["ssim_max"]), ("PSNR mean (dB)", ev["psnr_mean"]),
            ("MS-SSIM mean", ev["ms_ssim_mean"] if ev["ms_ssim_mean"] is not None else "n/a (image < 161 px)"),
            ("SSIM at native size", ev["native"]["ssim_mean"] if ev.get("native") else None),
            ("bits per pixel", ev["bits_per_pixel"]), ("compression vs 8-bit", f"{ev['compression_ratio']:.1f}x"),
            ("codebook usage", f"{ev['codes_used']}/{ev['codebook_size']}"), ("perplexity", ev["perplexity"]),
            ("code maps", " + ".join("x".join(map(str, s)) for s in ev["code_shapes"])),
            ("prior bits per code", prior_res["bits_per_code"] if prior_res else None),
            ("prior uniform / unigram bits", f"{prior_res['log2_codebook_size']:.2f} / "
                                             f"{prior_res['unigram_bits_per_code']:.3f}" if prior_res else None),
            ("training images seen", summary.get("images")), ("training time (s)", summary.get("seconds")),
            ("training images/s", summary.get("images_per_s"))]


def _samples_figure(run: Run, split: str, out: Path, n: int) -> None:

    gen = generate(run.root, n, seed=0)
    model, images = gen.model, gen.images
    cached = load_cached(discover_from_config(model.config, run.root), split, model.config)
    idx = np.linspace(0, len(cached.images) - 1, n).astype(int)
    real = torch.from_numpy(np.stack([cached.images[i] for i in idx]))[:, None]
    montage(list(images.numpy()) + list(real.numpy()), out, ncols=min(n, 8) if n > 8 else n)
