"""`vqmri` command line: parses, calls one pipeline or training entry point, prints. User mistakes end in one line,
exit 2; an interrupt ends in one line, exit 130."""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from .arguments import build_parser
from .errors import Interrupted, VqmriError
from .hugepages import huge_page_env
from .progress import quiet_library_warnings


def entry() -> None:
    """The `vqmri` console command: `main`, in a process whose malloc uses huge pages where it can (hugepages.py).
    Python callers of `main` are never restarted."""
    env = huge_page_env()
    if env is not None:
        try:
            os.execve(sys.executable, sys.orig_argv, env)
        except OSError:
            pass  # run as we are: slower, not wrong
    sys.exit(main())


def _is_rank_zero() -> bool:
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))
    return rank == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def _report(run) -> None:
    from .pipelines.report import write_report

    print(f"report: {write_report(run.root)}")


def cmd_data_inspect(a) -> int:
    from .evaluation.figures import montage
    from .pipelines.inspect import format_inspect, inspect_data, inspect_warnings

    report, shown = inspect_data(a.path, a.image_size, a.axis, a.split_seed, a.skip_bad)
    if a.montage:
        montage([s[0] for s in shown], Path(a.montage), titles=[s[1] for s in shown])
        report["montage"] = a.montage
    for line in inspect_warnings(report):
        print(line, file=sys.stderr)
    print(json.dumps(report) if a.json else format_inspect(report))
    return 0


def _train_config(a):
    from . import config

    cfg = config.resolve(a.preset, a.config, a.overrides)
    flags: dict = {"data": {}, "train": {}}  # flags are settings too: checked with the rest, in one place
    for flag, (section, key) in {"data": ("data", "path"), "image_size": ("data", "image_size"),
                                 "max_minutes": ("train", "max_minutes"), "max_epochs": ("train", "max_epochs"),
                                 "devices": ("train", "devices"), "accelerator": ("train", "accelerator"),
                                 "num_nodes": ("train", "num_nodes"), "init": ("train", "init")}.items():
        if getattr(a, flag, None) not in (None, ""):
            flags[section][key] = getattr(a, flag)
    if a.skip_bad:
        flags["data"]["skip_bad"] = True
    cfg = config.validate(cfg, **flags)
    if not cfg.data.path:
        raise VqmriError("no data given; pass --data PATH (a folder of slices, NIfTI volumes, DICOM series) or "
                         "--data sample:brain")
    return cfg


def cmd_train(a) -> int:
    from . import config
    from .runs import Run, clear_for_new_run
    from .training.autoencoder import train_autoencoder

    if a.resume:
        run = Run.open(a.resume)
        more = {flag: getattr(a, flag) for flag in ("max_minutes", "max_epochs") if getattr(a, flag) is not None}
        cfg = config.validate(run.config, train=more)
        config.save(cfg, run.config_path)
        out = run.root
    else:
        if not a.out:
            raise VqmriError("give --out RUN_DIR for a new run (or --resume RUN_DIR to continue one)")
        cfg = _train_config(a)
        out = Path(a.out)
        clear_for_new_run(out, a.force, _is_rank_zero())
    run = train_autoencoder(cfg, out, resume=bool(a.resume))
    if _is_rank_zero():
        print(f"run: {run.root}  best checkpoint: {run.checkpoint('best')}")
        _report(run)
    return 0


def _at_asked_size(model, a) -> None:
    """`--image-size N`: the loaded autoencoder runs at N px instead of its trained size."""
    if a.image_size is not None:
        model.at_image_size(a.image_size)


def cmd_evaluate(a) -> int:
    from .evaluation.evaluate import evaluate, format_summary
    from .vqmodel import load

    if a.max_images is not None and a.max_images < 1:
        raise VqmriError(f"--max-images {a.max_images}: give at least 1 (or leave it out for the whole split)")
    model = load(a.run_dir)
    trained = model.image_size
    _at_asked_size(model, a)
    data = a.data or model.config.data.path
    own = data == model.config.data.path
    if not a.out:
        name = a.split if own else f"{a.split}_{Path(data).name}"
        out = model.require_run("evaluate (without --out)").eval / (
            name if model.image_size == trained else f"{name}_{model.image_size}px")
    else:
        out = Path(a.out)
    res = evaluate(model, data, a.split, out, skip_bad=a.skip_bad, max_images=a.max_images)
    print(json.dumps(res) if a.json else format_summary(res, out))
    return 0


def cmd_reconstruct(a) -> int:
    from .pipelines.reconstruct import reconstruct_files
    from .vqmodel import load

    out = Path(a.out)
    model = load(a.run_dir)
    _at_asked_size(model, a)
    n = reconstruct_files(model, a.files, out, a.native, a.skip_bad)
    print(f"wrote {n} reconstruction(s) and code maps to {out}")
    return 0


def cmd_train_prior(a) -> int:
    from .training.prior import train_prior

    run = train_prior(a.run_dir, a.max_minutes, a.max_epochs, a.resume, a.overrides)
    if _is_rank_zero():
        print(f"prior: {run.prior / 'checkpoints' / 'best.ckpt'}")
        _report(run)
    return 0


def cmd_evaluate_prior(a) -> int:
    from .evaluation.prior import format_prior, prior_metrics
    from .runs import checkpoint_id, load_prior
    from .vqmodel import load

    model = load(a.run_dir)
    run = model.require_run("evaluate-prior")
    res = {**prior_metrics(model, load_prior(run), a.data, a.split),
           "prior_checkpoint": checkpoint_id(run.prior_checkpoint())}
    out = run.eval / a.split
    out.mkdir(parents=True, exist_ok=True)
    (out / "prior.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res) if a.json else format_prior(res))
    return 0


def cmd_sample(a) -> int:
    from .pipelines.generate import generate, write_samples

    if a.n < 1:
        raise VqmriError("-n must be at least 1")
    t = time.monotonic()
    if a.filter_fit < 2:
        raise VqmriError(f"--filter-fit {a.filter_fit}: the filter's classifier needs at least 2 draws (default 1024)")
    gen = generate(a.run_dir, a.n, a.seed, a.temperature, a.top_k, a.label, a.candidates, a.filter, a.filter_fit,
                   top_p=a.top_p, bottom_redraw=a.bottom_redraw, bottom_choice=a.bottom_choice, steps=a.steps,
                   refine=a.refine, refine_share=a.refine_share, guidance=a.guidance,
                   choice_temperature=a.choice_temperature)
    out = Path(a.out)
    names = write_samples(gen, out, a.format == "nii")
    print(f"wrote {a.n} samples, grid.png and {', '.join(n + '.npy' for n in names)} to {out} "
          f"in {time.monotonic() - t:.1f} s")
    return 0


def cmd_evaluate_samples(a) -> int:
    from .evaluation.samples import format_summary
    from .pipelines.score_samples import score_sample_dir
    from .vqmodel import load

    res = score_sample_dir(load(a.run_dir), a.samples_dir, a.data, a.split, a.seed)
    print(json.dumps(res) if a.json else format_summary(res))
    return 0


def cmd_anomaly(a) -> int:
    from .pipelines.heal import anomaly_files, format_anomaly
    from .vqmodel import load

    model = load(a.run_dir)
    rows = anomaly_files(model, a.inputs, Path(a.out), a.threshold, a.resamples, a.seed)
    if model.run is not None and not a.json:
        _report(model.run)
    print(json.dumps(rows) if a.json else format_anomaly(rows, a.out))
    return 0


def cmd_inpaint(a) -> int:
    from .pipelines.heal import inpaint_file
    from .vqmodel import load

    if a.n < 1:
        raise VqmriError("-n must be at least 1")
    paths = inpaint_file(load(a.run_dir), a.file, a.mask, Path(a.out), a.n, a.seed)
    print(f"wrote {len(paths)} completion(s) to {a.out}")
    return 0


def cmd_report(a) -> int:
    from .runs import Run

    _report(Run.open(a.run_dir))
    return 0


def cmd_demo(a) -> int:
    from .pipelines.demo import run_demo

    return run_demo(Path(a.out), a.minutes)


def cmd_export(a) -> int:
    from .pipelines.export import export_run

    out = export_run(a.run_dir, a.out, a.force, a.command)
    print(f"exported to {out}: config.json, model.safetensors, README.md (model card); load it with "
          f"vqmri.load('{out}') or pass {out} where a run folder is asked for")
    return 0


def cmd_config_show(a) -> int:
    import yaml

    from . import config

    print(yaml.safe_dump(config.resolve(a.preset, a.config, a.overrides).to_dict(), sort_keys=False), end="")
    return 0


COMMANDS = {"data inspect": cmd_data_inspect, "train": cmd_train, "evaluate": cmd_evaluate,
            "reconstruct": cmd_reconstruct, "train-prior": cmd_train_prior, "evaluate-prior": cmd_evaluate_prior,
            "sample": cmd_sample, "evaluate-samples": cmd_evaluate_samples, "anomaly": cmd_anomaly,
            "inpaint": cmd_inpaint, "report": cmd_report, "demo": cmd_demo, "config show": cmd_config_show,
            "export": cmd_export}


def main(argv: list[str] | None = None) -> int:
    quiet_library_warnings()
    parser = build_parser(COMMANDS)
    args, extra = parser.parse_known_args(argv)
    # argparse binds a nargs="*" positional next to the one before it, so overrides given after options
    # (`vqmri train-prior RUN --max-minutes 5 prior.layers=12`) come back unmatched: they are still overrides.
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = list(args.overrides or []) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    was_quiet = os.environ.get("VQMRI_QUIET")
    if getattr(args, "json", False):
        from .progress import quiet

        quiet()

    def interrupt(signum, frame):
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return args.func(args)
    except VqmriError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (Interrupted, KeyboardInterrupt) as e:
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        print(f"interrupted by {signal.Signals(signum).name}; checkpoints are written whole, so a training run "
              "continues with `vqmri train --resume RUN_DIR` (a prior with `vqmri train-prior RUN_DIR --resume`)",
              file=sys.stderr)
        return 128 + signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if was_quiet is None:  # --json quiets this call, not the next one made in the same process
            os.environ.pop("VQMRI_QUIET", None)


if __name__ == "__main__":
    entry()
