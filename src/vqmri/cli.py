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
            key = "x".join(map(str, m["shape"]))
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
    import torch

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
        try:
            slices = readers.read_any(p, cfg["axis"], cfg["min_tissue"])
        except VqmriError:
            if a.skip_bad:
                print(f"skipped {p}", file=sys.stderr)
                continue
            raise
        x = model.prepare([s.array for s in slices])
        codes = model.encode(x)
        recon = model.decode(codes)
        stem = p.name[: -len(".nii.gz")] if p.name.endswith(".nii.gz") else (p.stem if not p.is_dir() else p.name)
        if readers.is_nifti(p) and len(slices) == 1:
            import nibabel as nib

            src = nib.load(str(p))
            r = recon[0, 0]
            arr = geometry.to_native(r, slices[0].shape).numpy() if a.native else r.numpy()
            arr = arr.reshape(src.shape) if a.native and len(src.shape) == 3 else arr
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
    return p


def _train_args(tr: argparse.ArgumentParser) -> None:
    tr.add_argument("--data", help="folder, file or sample:brain / sample:pelvis")
    tr.add_argument("--preset", help="oasis (default), hipmri, sample, seed-oord, vqvae2")
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
    args = build_parser().parse_args(argv)
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
