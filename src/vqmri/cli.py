"""`vqmri` command line: each subcommand is a thin call into the modules. User mistakes end in one line, exit 2."""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from .errors import VqmriError


def _quiet():
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*predict_dataloader.*")
    os.environ.setdefault("POSSIBLE_USER_WARNING", "off")


def _print_ignored(ignored: list[str]) -> None:
    if ignored:
        shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        print(f"warning: ignored {len(ignored)} non-image file(s): {shown}", file=sys.stderr)


# ---------------------------------------------------------------- data inspect
def cmd_data_inspect(a) -> int:
    import numpy as np

    from .data.cache import load_split
    from .data.layouts import discover
    from .evaluation.figures import montage

    found = discover(a.path, seed=a.split_seed)
    _print_ignored(found.ignored)
    report = {"layout": found.layout, "root": found.root, "split_policy": found.split_policy, "splits": {},
              "total": {}, "shapes": {}, "intensity": {}, "skipped": []}
    shown, subjects, total = [], set(), 0
    for name, sources in found.splits.items():
        if not sources:
            continue
        c = load_split(sources, a.image_size, a.axis, skip_bad=a.skip_bad)
        subj = {m["subject"] for m in c.meta}
        report["splits"][name] = {"subjects": len(subj), "slices": len(c.meta)}
        subjects |= subj
        total += len(c.meta)
        for m in c.meta:
            key = "x".join(map(str, m["stored_shape"]))  # as in the files, e.g. 256x128
            report["shapes"][key] = report["shapes"].get(key, 0) + 1
        report["skipped"] += c.skipped
        if len(c.images):
            im = np.asarray(c.images)
            report["intensity"][name] = {"mean": float(im.mean()), "std": float(im.std()),
                                         "p1": float(np.percentile(im, 1)), "p99": float(np.percentile(im, 99)),
                                         "foreground_fraction": float((im > 0.1).mean())}
            idx = np.linspace(0, len(im) - 1, min(8, len(im))).astype(int)
            shown += [(im[i], f"{name}: {c.meta[i]['subject']}") for i in idx]
    report["total"] = {"subjects": len(subjects), "slices": total}
    if a.montage:
        montage([s[0] for s in shown], Path(a.montage), titles=[s[1] for s in shown])
        report["montage"] = a.montage
    if report["skipped"]:
        print(f"skipped {len(report['skipped'])} unreadable file(s): " + "; ".join(report["skipped"][:5]), file=sys.stderr)
    if a.json:
        print(json.dumps(report))
    else:
        print(f"layout: {report['layout']} ({found.root}), splits by {found.split_policy}")
        for name, v in report["splits"].items():
            print(f"  {name:9s} {v['subjects']:5d} subjects {v['slices']:7d} slices")
        print(f"  {'total':9s} {subjects.__len__():5d} subjects {total:7d} slices")
        print("shapes: " + ", ".join(f"{k} ({v})" for k, v in sorted(report["shapes"].items())))
        if a.montage:
            print(f"montage: {a.montage}")
    return 0


# ---------------------------------------------------------------- train / evaluate / reconstruct
def _train_config(a) -> dict:
    from . import config

    cfg = config.resolve(a.preset, a.config, a.overrides)
    if a.data:
        cfg["data"]["path"] = a.data
    for flag, key in (("image_size", ("data", "image_size")), ("max_minutes", ("train", "max_minutes")),
                      ("max_epochs", ("train", "max_epochs")), ("devices", ("train", "devices")),
                      ("accelerator", ("train", "accelerator")), ("num_nodes", ("train", "num_nodes"))):
        v = getattr(a, flag, None)
        if v is not None:
            cfg[key[0]][key[1]] = v
    if a.skip_bad:
        cfg["data"]["skip_bad"] = True
    if not cfg["data"]["path"]:
        raise VqmriError("no data given; pass --data PATH (a folder of slices, NIfTI volumes, DICOM series) or --data sample:brain")
    return cfg


def _devices(v: str):
    return v if v == "auto" else int(v)


def cmd_train(a) -> int:
    from .training.autoencoder import train_autoencoder
    from .training.run import Run

    if a.resume:
        run = Run.open(a.resume)
        cfg = run.config
        for flag, sec, key in (("max_minutes", "train", "max_minutes"), ("max_epochs", "train", "max_epochs")):
            if getattr(a, flag) is not None:
                cfg[sec][key] = getattr(a, flag)
        from . import config as config_mod

        config_mod.save(cfg, run.config_path)
        out = run.root
    else:
        if not a.out:
            raise VqmriError("give --out RUN_DIR for a new run (or --resume RUN_DIR to continue one)")
        cfg = _train_config(a)
        out = Path(a.out)
        if (out / "checkpoints" / "last.ckpt").exists():
            raise VqmriError(f"{out} already holds a run; continue it with --resume {out} or choose another --out")
    run = train_autoencoder(cfg, out, resume=bool(a.resume))
    if _is_rank_zero():
        print(f"run: {run.root}  best checkpoint: {run.checkpoint('best')}")
        _maybe_report(run)
    return 0


def _is_rank_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0))) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def _maybe_report(run) -> None:
    try:
        from .evaluation.report import write_report
    except ImportError:
        return
    path = write_report(run.root)
    print(f"report: {path}")


def cmd_evaluate(a) -> int:
    from . import api
    from .evaluation.evaluate import evaluate

    model = api.load(a.run_dir)
    data = a.data or model.config["data"]["path"]
    out = Path(a.out) if a.out else model.run.eval / a.split
    res = evaluate(model, data, a.split, out, skip_bad=a.skip_bad, max_images=a.max_images)
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{res['n_images']} {a.split} slices at {res['image_size']} px: SSIM {res['ssim_mean']:.4f} "
              f"(std {res['ssim_std']:.4f}, min {res['ssim_min']:.4f}, max {res['ssim_max']:.4f}), "
              f"PSNR {res['psnr_mean']:.2f} dB, MS-SSIM {res['ms_ssim_mean'] if res['ms_ssim_mean'] is not None else 'n/a'}")
        if res["native"]:
            print(f"at native size ({', '.join(res['native']['shapes'])}): SSIM {res['native']['ssim_mean']:.4f}, "
                  f"PSNR {res['native']['psnr_mean']:.2f} dB")
        print(f"rate: {res['bits_per_pixel']:.4f} bits/pixel (compression {res['compression_ratio']:.1f}x vs 8-bit); "
              f"codebook usage {res['codebook_usage']:.2f}, perplexity {res['perplexity']:.1f}")
        print(f"per-image CSV and figures: {out}")
    return 0


def cmd_reconstruct(a) -> int:
    import numpy as np

    from . import api
    from .data import geometry, readers
    from .evaluation.figures import code_colours, save_png, to_uint8

    model = api.load(a.run_dir)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.config["data"]
    n_written = 0
    for f in a.files:
        p = Path(f)
        if not p.exists():
            raise VqmriError(f"{p} does not exist; give image, NIfTI or DICOM files to reconstruct")
        volume = readers.is_nifti(p) and readers.nifti_ndim(p) == 3
        try:  # a volume is reconstructed whole (every slice) so it can be written back as a volume
            slices = readers.read_any(p, cfg["axis"], 0.0 if volume else cfg["min_tissue"])
        except VqmriError:
            if a.skip_bad:
                print(f"skipped {p}", file=sys.stderr)
                continue
            raise
        x = model.prepare([s.array for s in slices])
        codes = model.encode_batched(x)
        recon = model.decode_batched(codes)
        stem = p.name[: -len(".nii.gz")] if p.name.endswith(".nii.gz") else (p.stem if not p.is_dir() else p.name)
        if readers.is_nifti(p):
            import nibabel as nib

            src = nib.load(str(p))
            if volume:  # native size, canonical (RAS) orientation and its affine
                canon = nib.as_closest_canonical(src)
                vol = np.zeros(canon.shape, np.float32)
                ax = readers.AXES[cfg["axis"]]
                for j, s in enumerate(slices):
                    index = [slice(None)] * 3
                    index[ax] = s.index
                    vol[tuple(index)] = np.rot90(geometry.to_native(recon[j, 0], s.shape).numpy(), -1)
                nib.save(nib.Nifti1Image(vol, canon.affine), str(out / p.name))
            else:
                r = recon[0, 0]
                arr = np.rot90(geometry.to_native(r, slices[0].shape).numpy() if a.native else r.numpy(), -1)
                arr = arr.reshape(src.shape) if a.native and len(src.shape) == 3 else arr  # back as stored
                nib.save(nib.Nifti1Image(arr.astype(np.float32), src.affine), str(out / p.name))
        for j, s in enumerate(slices):
            name = p.name if len(slices) == 1 and not readers.is_nifti(p) else f"{stem}_slice_{s.index}.png"
            if not name.lower().endswith(".png"):
                name = f"{stem}.png"
            r = recon[j, 0]
            img = geometry.to_native(r, s.shape) if a.native else r
            save_png(to_uint8(img), out / name)
            codes_img = code_colours(codes[-1][j], model.codebook_size)
            save_png(codes_img, out / (name[:-4] + "_codes.png"), size=None)
            n_written += 1
    print(f"wrote {n_written} reconstruction(s) and code maps to {out}")
    return 0


# ---------------------------------------------------------------- prior, sampling
def cmd_train_prior(a) -> int:
    from .training.prior import train_prior

    run = train_prior(a.run_dir, a.max_minutes, a.max_epochs, a.resume, a.overrides)
    if _is_rank_zero():
        print(f"prior: {run.prior / 'checkpoints' / 'best.ckpt'}")
        _maybe_report(run)
    return 0


def cmd_evaluate_prior(a) -> int:
    from . import api
    from .evaluation.prior import prior_metrics
    from .training.prior import load_prior

    model = api.load(a.run_dir)
    res = prior_metrics(model, load_prior(model.run), a.data, a.split)
    out = model.run.eval / a.split
    out.mkdir(parents=True, exist_ok=True)
    (out / "prior.json").write_text(json.dumps(res, indent=1))
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{res['n_images']} {a.split} code maps: {res['bits_per_code']:.3f} bits per code "
              f"(uniform {res['log2_codebook_size']:.2f}, unigram {res['unigram_bits_per_code']:.3f})")
    return 0


def _temperatures(text: str) -> float | list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or a comma-separated list of numbers") from None
    if any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("temperatures must be above 0")
    return values[0] if len(values) == 1 else values


def cmd_sample(a) -> int:
    import time

    import numpy as np

    from .api import generate
    from .evaluation.figures import montage, save_png, to_uint8

    if a.n < 1:
        raise VqmriError("-n must be at least 1")
    t = time.monotonic()
    model, codes, images, labels = generate(a.run_dir, a.n, a.seed, a.temperature, a.top_k, a.label,
                                            a.candidates, a.filter)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        save_png(to_uint8(im), out / f"sample_{i:04d}.png")
        if a.format == "nii":
            import nibabel as nib

            nib.save(nib.Nifti1Image(np.rot90(im[0].numpy(), -1).astype(np.float32), np.eye(4)), str(out / f"sample_{i:04d}.nii.gz"))
    names = ["codes"] if len(codes) == 1 else ["codes_top", "codes_bottom"]
    for name, c in zip(names, codes):
        np.save(out / f"{name}.npy", c.numpy().astype(np.int16))
    if labels is not None:
        np.save(out / "labels.npy", labels.numpy().astype(np.int16))
        names.append("labels")
    montage(list(images[:64].numpy()), out / "grid.png")
    print(f"wrote {a.n} samples, grid.png and {', '.join(n + '.npy' for n in names)} to {out} "
          f"in {time.monotonic() - t:.1f} s")
    return 0


def _null_reference(model, found, split: str, n: int):
    """Reconstructions of up to n slices of the other held-out split's subjects, with their subjects: the two-sample
    test's reference, new real subjects through the same autoencoder. None when that split has fewer than 2
    subjects."""
    from .api import reconstruct_pick

    other = "validate" if split != "validate" else "test"
    if len({s.subject for s in found.splits.get(other, [])}) < 2:
        return None
    return reconstruct_pick(model, found, other, n)


def _sample_codes(model, samples_dir: Path, n: int, test, train) -> dict | None:
    """The code maps `vqmri sample` saved beside the PNGs, with the test and train slices encoded, for the
    code-space memorisation figures; None (figures left out) when they are missing or do not fit this model."""
    import numpy as np
    import torch

    names = ["codes"] if len(model.code_shapes()) == 1 else ["codes_top", "codes_bottom"]
    paths = [samples_dir / f"{name}.npy" for name in names]
    if not all(p.exists() for p in paths):
        return None
    maps = [torch.from_numpy(np.load(p).astype(np.int64)) for p in paths]
    if any(tuple(m.shape) != (n, *shape) for m, shape in zip(maps, model.code_shapes())):
        print(f"note: the code maps in {samples_dir} do not fit {n} samples of this model's code shape; "
              f"code-space memorisation figures left out")
        return None
    return {"samples": maps, "test": model.encode_batched(test), "train": model.encode_batched(train)}


def cmd_evaluate_samples(a) -> int:
    import numpy as np
    import torch
    from PIL import Image

    from . import api
    from .data.datamodule import discover_from_config, load_cached
    from .data.layouts import discover
    from .evaluation.samples import evaluate_samples

    model = api.load(a.run_dir)
    files = sorted(Path(a.samples_dir).glob("sample_*.png"))
    if not files:
        raise VqmriError(f"no sample_*.png in {a.samples_dir}; create them with `vqmri sample {a.run_dir} -n 64 --out {a.samples_dir}`")
    if len(files) < 2:
        raise VqmriError(f"only one sample in {a.samples_dir}; the figures compare sets: sample at least 2 "
                         f"(64 or more for a two-sample accuracy worth reading)")
    samples = torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("L"), np.float32) / 255 for f in files]))[:, None]
    cfg = model.config
    d = cfg["data"]
    data = a.data or d["path"]
    own = discover_from_config(cfg, model.run.root)  # the run's saved splits
    found = own if data == d["path"] else discover(data, tuple(d["split_ratios"]), d["split_seed"])
    split = load_cached(found, a.split, cfg)
    test = torch.from_numpy(np.array(split.images, np.float32))[:, None]
    subjects = [m["subject"] for m in split.meta]
    train = torch.from_numpy(np.array(load_cached(own, "train", cfg).images, np.float32))[:, None]
    recon = model.reconstruct(test)
    res = evaluate_samples(samples, test, recon, train, a.seed, _sample_codes(model, Path(a.samples_dir), len(files), test, train),
                           subjects if len(set(subjects)) >= 2 else None, _null_reference(model, found, a.split, len(files)))
    res["split"] = a.split
    if "two_sample_acc_null" in res:
        res["two_sample_null_reference"] = "validate" if a.split != "validate" else "test"
    (Path(a.samples_dir) / "sample_metrics.json").write_text(json.dumps(res, indent=1))
    if a.json:
        print(json.dumps(res))
    else:
        m, dv = res["memorisation"], res["diversity"]
        print(f"two-sample accuracy (0.5 = indistinguishable): vs reconstructions {res['two_sample_acc_vs_reconstructions']:.3f}, "
              f"vs real {res['two_sample_acc_vs_real']:.3f}")
        rc = res["two_sample_recall"]["vs_reconstructions"]
        print(f"  it called {rc['generated']:.0%} of the samples generated and {1 - rc['other']:.0%} of the test "
              f"reconstructions generated; area under the ROC curve {res['two_sample_auc']['vs_reconstructions']:.3f}")
        if "two_sample_acc_null" in res:
            print(f"  reference: reconstructions of {res['two_sample_null_reference']} subjects vs the test "
                  f"reconstructions {res['two_sample_acc_null']:.3f} (what perfect new subjects score)")
        per_subject = res["two_sample_slices_per_subject"]
        if per_subject and per_subject > 8:
            print(f"warning: about {per_subject:g} test slices a subject on the real side; with that many the classifier "
                  f"learns the test subjects and calls new ones generated, so the accuracy reads lower than with fewer "
                  f"slices a subject (OASIS: 0.70 at 11 against 0.77 at 5.6, same samples); compare at fewer "
                  f"samples, and see two_sample_recall")
        if res["two_sample_heldout_per_class"] < 50:
            print(f"warning: only {res['two_sample_heldout_per_class']} held-out slices a class (the split has "
                  f"{res['n_test']}); the two-sample accuracy is not reliable at this size")
        print(f"memorisation: nearest-train SSIM of samples {m['samples_nearest_train_ssim_mean']:.3f} "
              f"(max {m['samples_nearest_train_ssim_max']:.3f}) vs real test {m['test_nearest_train_ssim_mean']:.3f}, "
              f"vs test reconstructions {m['recon_nearest_train_ssim_mean']:.3f}")
        if "samples_nearest_train_code_match_mean" in m:
            print(f"memorisation in codes: share of a sample's codes equal to its nearest training map "
                  f"{m['samples_nearest_train_code_match_mean']:.3f} (max {m['samples_nearest_train_code_match_max']:.3f}) "
                  f"vs test maps {m['test_nearest_train_code_match_mean']:.3f}")
        print(f"diversity: mean pairwise SSIM samples {dv['samples_mean_pairwise_ssim']:.3f} vs real {dv['test_mean_pairwise_ssim']:.3f}")
    return 0


def cmd_report(a) -> int:
    from .evaluation.report import write_report
    from .training.run import Run

    print(f"report: {write_report(Run.open(a.run_dir).root)}")
    return 0


def cmd_demo(a) -> int:
    from .demo import run_demo

    return run_demo(Path(a.out), a.minutes)


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vqmri", description="Learn a discrete code for MRI slices and generate new ones.")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="look at a dataset").add_subparsers(dest="data_command", required=True)
    ins = data.add_parser("inspect", help="layout, splits, subjects, shapes, intensities, montage")
    ins.add_argument("path")
    ins.add_argument("--json", action="store_true")
    ins.add_argument("--montage", metavar="FILE")
    ins.add_argument("--skip-bad", action="store_true")
    ins.add_argument("--image-size", type=int, default=128)
    ins.add_argument("--axis", default="axial", choices=["axial", "coronal", "sagittal"])
    ins.add_argument("--split-seed", type=int, default=0)
    ins.set_defaults(func=cmd_data_inspect)

    tr = sub.add_parser("train", help="train a VQ-VAE (or VQ-VAE-2) into a run folder")
    _train_args(tr)
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="SSIM / PSNR / MS-SSIM / rate of a run on a split")
    ev.add_argument("run_dir")
    ev.add_argument("--data", help="defaults to the run's training data")
    ev.add_argument("--split", default="test")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--out", help="folder for per_image.csv, metrics.json and grids (default RUN_DIR/eval/SPLIT)")
    ev.add_argument("--skip-bad", action="store_true")
    ev.add_argument("--max-images", type=int)
    ev.set_defaults(func=cmd_evaluate)

    rc = sub.add_parser("reconstruct", help="reconstruct files; PNG (and NIfTI for NIfTI input) plus code maps")
    rc.add_argument("run_dir")
    rc.add_argument("files", nargs="+")
    rc.add_argument("--out", required=True)
    rc.add_argument("--native", action="store_true", help="write at each input's native size")
    rc.add_argument("--skip-bad", action="store_true")
    rc.set_defaults(func=cmd_reconstruct)

    tp = sub.add_parser("train-prior", help="train the PixelCNN prior on a run's code maps")
    tp.add_argument("run_dir")
    tp.add_argument("--max-minutes", type=float)
    tp.add_argument("--max-epochs", type=int)
    tp.add_argument("--resume", action="store_true")
    tp.add_argument("overrides", nargs="*", help="prior.key=value, e.g. prior.layers=12")
    tp.set_defaults(func=cmd_train_prior)

    ep = sub.add_parser("evaluate-prior", help="prior NLL of a split's code maps in bits per code")
    ep.add_argument("run_dir")
    ep.add_argument("--data")
    ep.add_argument("--split", default="test")
    ep.add_argument("--json", action="store_true")
    ep.set_defaults(func=cmd_evaluate_prior)

    sp = sub.add_parser("sample", help="generate new slices from the prior")
    sp.add_argument("run_dir")
    sp.add_argument("-n", type=int, default=16)
    sp.add_argument("--out", required=True)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--temperature", type=_temperatures, default=1.0, metavar="T[,T_BOTTOM]",
                    help="sampling temperature; for VQ-VAE-2 one per level, top first (e.g. 1.0,0.5)")
    sp.add_argument("--top-k", type=int)
    sp.add_argument("--label", type=int, help="slice-position bucket for a prior trained with prior.classes=N "
                    "(default: the samples cycle through all buckets)")
    sp.add_argument("--candidates", type=int, default=1, metavar="M",
                    help="draw M code maps per sample and keep the one whose decoded slice re-encodes to the most "
                    "of the same codes (default 1: no selection; on OASIS no gain measured, benchmarks/RESULTS.md)")
    sp.add_argument("--filter", type=int, default=1, metavar="M",
                    help="draw M candidates per sample and keep the N a classifier, fitted on the run's training "
                    "slices, finds most real (default 1: no selection; OASIS figures and costs in "
                    "benchmarks/RESULTS.md)")
    sp.add_argument("--format", choices=["png", "nii"], default="png")
    sp.set_defaults(func=cmd_sample)

    es = sub.add_parser("evaluate-samples", help="two-sample test, memorisation and diversity of samples")
    es.add_argument("run_dir")
    es.add_argument("samples_dir")
    es.add_argument("--data")
    es.add_argument("--split", default="test")
    es.add_argument("--json", action="store_true")
    es.add_argument("--seed", type=int, default=0)
    es.set_defaults(func=cmd_evaluate_samples)

    rp = sub.add_parser("report", help="(re)write RUN_DIR/report.html")
    rp.add_argument("run_dir")
    rp.set_defaults(func=cmd_report)

    dm = sub.add_parser("demo", help="train, evaluate, sample and report on the built-in brain data")
    dm.add_argument("--out", default="runs/demo")
    dm.add_argument("--minutes", type=float, default=7.0, help="total budget for the two trainings")
    dm.set_defaults(func=cmd_demo)
    return p


def _train_args(tr: argparse.ArgumentParser) -> None:
    from .config import PRESETS

    tr.add_argument("--data", help="folder, file or sample:brain / sample:pelvis")
    tr.add_argument("--preset", help=", ".join(PRESETS) + " (default: oasis)")
    tr.add_argument("--config", help="YAML file with any of the config sections")
    tr.add_argument("--out", help="new run folder")
    tr.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    tr.add_argument("--image-size", type=int)
    tr.add_argument("--max-minutes", type=float)
    tr.add_argument("--max-epochs", type=int)
    tr.add_argument("--devices", type=_devices, help="processes/GPUs per node (e.g. 2), default auto")
    tr.add_argument("--accelerator", help="auto, cpu, gpu")
    tr.add_argument("--num-nodes", type=int)
    tr.add_argument("--skip-bad", action="store_true")
    tr.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.lr=1e-3 model.codebook_size=256")


def main(argv: list[str] | None = None) -> int:
    _quiet()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse binds a nargs="*" positional next to the one before it, so overrides given after options
    # (`vqmri train-prior RUN --max-minutes 5 prior.layers=12`) come back unmatched: they are still overrides.
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = list(args.overrides or []) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except VqmriError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a training run continues with --resume RUN_DIR", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
