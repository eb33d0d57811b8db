"""The `vqmri` command line's grammar: every command, flag and default in one place (cli.py runs them)."""
from __future__ import annotations

import argparse

from .config import ANOMALY_RESAMPLES as RESAMPLES
from .config import ANOMALY_THRESHOLD as THRESHOLD
from .config import PRESETS


def _numbers(zero: bool, what: str):
    """A parser of one finite number above 0 (at least 0 if `zero`), or a comma-separated list of them (one a
    level)."""
    def parse(text: str) -> float | list[float]:
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number or a comma-separated list of numbers"
                                             ) from None
        if any(not (0 <= v if zero else 0 < v) or v == float("inf") or v != v for v in values):
            raise argparse.ArgumentTypeError(f"{what} must be finite numbers {'of at least' if zero else 'above'} 0")
        return values[0] if len(values) == 1 else values
    return parse


def _counts(least: int, what: str):
    """A parser of one whole number of at least `least`, or a comma-separated list of them (one a level)."""
    def parse(text: str) -> int | list[int]:
        try:
            values = [int(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or a comma-separated list of them"
                                             ) from None
        if any(v < least for v in values):
            raise argparse.ArgumentTypeError(f"{what} must be at least {least}")
        return values[0] if len(values) == 1 else values
    return parse




def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v}: give at least 1")
    return v


def _devices(v: str):
    return v if v == "auto" else _positive_int(v)


def _add(p: argparse.ArgumentParser, *specs: tuple) -> None:
    for flags, kwargs in specs:
        p.add_argument(*flags, **kwargs)


# (help, argument specs) of each command; a two-word name is a sub-command of its first word's group
Commands = dict[str, tuple[str, list]]
GROUPS = {"data": "look at a dataset", "config": "the settings"}


def _training_commands() -> Commands:
    """Reading data and fitting: data inspect, train, evaluate, reconstruct, train-prior, evaluate-prior."""
    js, data, split = ((("--json",), {"action": "store_true"}), (("--data",), {"help": "default: the run's data"}),
                       (("--split",), {"default": "test"}))
    skip = (("--skip-bad",), {"action": "store_true"})
    size = (("--image-size",), {"type": _positive_int, "help": "run the autoencoder at this size, not the trained "
                                                             "one (e.g. 256 for 256 px data: no halving first)"})
    return {
        "data inspect": ("layout, splits, subjects, shapes, intensities, montage", [
            (("path",), {}), js, (("--montage",), {"metavar": "FILE"}), skip,
            (("--image-size",), {"type": _positive_int, "default": 128}),
            (("--axis",), {"default": "axial", "choices": ["axial", "coronal", "sagittal"]}),
            (("--split-seed",), {"type": int, "default": 0})]),
        "train": ("train a VQ-VAE (or VQ-VAE-2) into a run folder", [
            (("--data",), {"help": "folder, file or sample:brain / sample:pelvis"}),
            (("--preset",), {"help": ", ".join(PRESETS) + " (default: oasis)"}),
            (("--config",), {"help": "YAML file with any of the config sections"}),
            (("--out",), {"help": "new run folder"}),
            (("--resume",), {"metavar": "RUN_DIR", "help": "continue a run from its last checkpoint"}),
            (("--image-size",), {"type": int}), (("--max-minutes",), {"type": float}),
            (("--max-epochs",), {"type": int}),
            (("--devices",), {"type": _devices, "help": "processes/GPUs per node (e.g. 2), default auto"}),
            (("--accelerator",), {"help": "auto, cpu, gpu"}), (("--num-nodes",), {"type": int}), skip,
            (("--force",), {"action": "store_true", "help": "replace the run already in --out"}),
            (("--init",), {"metavar": "MODEL", "help": "start from the weights (and model settings) of a run folder, "
                                                       "an export or pretrained:NAME (fine-tuning)"}),
            (("overrides",), {"nargs": "*", "help": "section.key=value, e.g. train.lr=1e-3 model.codebook_size=256"})]),
        "evaluate": ("SSIM / PSNR / MS-SSIM / rate of a run on a split", [
            (("run_dir",), {}), data, split, js, skip, (("--max-images",), {"type": int}),
            size,
            (("--out",), {"help": "folder for per_image.csv, metrics.json and grids (default RUN_DIR/eval/SPLIT)"})]),
        "reconstruct": ("reconstruct files; PNG (and NIfTI for NIfTI input) plus code maps", [
            (("run_dir",), {}), (("files",), {"nargs": "+"}), (("--out",), {"required": True}),
            (("--native",), {"action": "store_true", "help": "write at each input's native size"}), skip, size]),
        "train-prior": ("train the prior (PixelCNN or transformer) on a run's code maps", [
            (("run_dir",), {}), (("--max-minutes",), {"type": float}), (("--max-epochs",), {"type": int}),
            (("--resume",), {"action": "store_true"}),
            (("overrides",), {"nargs": "*", "help": "prior.key=value, e.g. prior.arch=transformer prior.layers=6"})]),
        "evaluate-prior": ("prior NLL of a split's code maps in bits per code", [
            (("run_dir",), {}), data, split, js]),
    }


def _generation_commands() -> Commands:
    """Using a trained model: sample, evaluate-samples, report, demo, anomaly, inpaint, export, config show."""
    js, data, split = ((("--json",), {"action": "store_true"}), (("--data",), {"help": "default: the run's data"}),
                       (("--split",), {"default": "test"}))
    return {
        "sample": ("generate new slices from the prior", [
            (("run_dir",), {}), (("-n",), {"type": int, "default": 16}), (("--out",), {"required": True}),
            (("--seed",), {"type": int, "default": 0}),
            (("--temperature",), {"type": _numbers(False, "temperatures"), "default": 1.0, "metavar": "T[,T_BOTTOM]",
                                  "help": "sampling temperature; for VQ-VAE-2 one per level, top first "
                                          "(e.g. 1.0,0.5)"}),
            (("--top-k",), {"type": int}),
            (("--steps",), {"type": _counts(1, "steps"), "metavar": "S[,S_BOTTOM]",
                            "help": "parallel steps of a masked-code prior (prior.arch=maskgit), one or one per level, "
                                    "top first: more steps, slower and more coherent draws (default: the run's "
                                    "prior.steps)"}),
            (("--refine",), {"type": _counts(0, "corrector rounds"), "metavar": "R[,R_BOTTOM]",
                             "help": "corrector rounds of a masked-code prior after its parallel steps: each redraws "
                                     "the least likely share of a map given the rest (default: the run's "
                                     "prior.refine)"}),
            (("--refine-share",), {"type": float, "metavar": "SHARE",
                                   "help": "with --refine: the share of each map a round redraws (default: the run's "
                                           "prior.refine_share)"}),
            (("--guidance",), {"type": _numbers(True, "guidance"), "metavar": "W[,W_BOTTOM]",
                               "help": "classifier-free guidance of a masked-code prior towards each sample's "
                                       "slice-position label (0: none; needs prior.label_dropout; default: the "
                                       "run's prior.guidance)"}),
            (("--choice-temperature",), {"type": _numbers(True, "choice temperatures"), "metavar": "C[,C_BOTTOM]",
                                         "help": "a masked-code prior keeps each step's drawn codes by confidence plus "
                                                 "this times noise: 0 most confident first, large a random order "
                                                 "(default: the run's prior.choice_temperature)"}),
            (("--top-p",), {"type": float, "help": "nucleus sampling: draw from the most likely codes holding this "
                                                   "share of the probability (e.g. 0.9)"}),
            (("--bottom-redraw",), {"type": float, "metavar": "SHARE",
                                    "help": "VQ-VAE-2: start each bottom from its top's own decoding and redraw this "
                                            "share of it, least likely first (1: draw the whole bottom; default: the "
                                            "run's prior.bottom_redraw)"}),
            (("--bottom-choice",), {"choices": ["unlikely", "random"],
                                    "help": "with --bottom-redraw below 1: redraw the least likely bottom codes or "
                                            "codes at random (default: the run's prior.bottom_choice)"}),
            (("--label",), {"type": int, "help": "slice-position bucket for a prior trained with prior.classes=N "
                                                 "(default: the samples cycle through all buckets)"}),
            (("--candidates",), {"type": int, "default": 1, "metavar": "M",
                                 "help": "draw M code maps per sample and keep the one whose decoded slice re-encodes "
                                         "to the most of the same codes (default 1: no selection)"}),
            (("--filter",), {"type": int, "default": 1, "metavar": "M",
                             "help": "draw M candidates per sample and keep the N a classifier, fitted on the run's "
                                     "training slices, finds most real (default 1: no selection; needs the data)"}),
            (("--filter-fit",), {"type": int, "default": 1024, "metavar": "K",
                                 "help": "with --filter: draws (at most one a training slice) that fit its classifier "
                                         "against reconstructions of the training slices (default 1024)"}),
            (("--format",), {"choices": ["png", "nii"], "default": "png"})]),
        "evaluate-samples": ("two-sample tests against real slices, memorisation, diversity", [
            (("run_dir",), {}), (("samples_dir",), {}), data, split, js, (("--seed",), {"type": int, "default": 0})]),
        "report": ("(re)write RUN_DIR/report.html", [
            (("run_dir",), {})]),
        "demo": ("train, evaluate, sample and report on the built-in brain data", [
            (("--out",), {"default": "runs/demo"}),
            (("--minutes",), {"type": float, "default": 7.0, "help": "total budget for the two trainings"})]),
        "anomaly": ("anomaly maps by healing: unlikely codes redrawn from the prior", [
            (("run_dir",), {}), (("inputs",), {"nargs": "+", "help": "slices, volumes or folders"}),
            (("--out",), {"required": True}),
            (("--threshold",), {"type": float, "default": THRESHOLD,
                                "help": "codes less likely than this under the prior are redrawn "
                                        f"(default {THRESHOLD})"}),
            (("--resamples",), {"type": int, "default": RESAMPLES,
                                "help": f"healed slice = mean of this many redraws (default {RESAMPLES})"}),
            (("--seed",), {"type": int, "default": 0}), js]),
        "inpaint": ("fill a masked region of a slice from the prior, N ways", [
            (("run_dir",), {}), (("file",), {}), (("--mask",), {"required": True, "help": "non-zero = fill in"}),
            (("--out",), {"required": True}), (("-n",), {"type": int, "default": 4}),
            (("--seed",), {"type": int, "default": 0})]),
        "export": ("a run's weights as safetensors + config.json + model card (safe to share)", [
            (("run_dir",), {}), (("--out",), {"required": True}),
            (("--force",), {"action": "store_true", "help": "replace the export already in --out"}),
            (("--command",), {"metavar": "TEXT", "help": "the command that rebuilds this export, stated in its "
                                                          "model card (e.g. 'tools/train_pretrained.sh brain')"})]),
        "config show": ("print the resolved config of a preset, a YAML file and overrides", [
            (("--preset",), {}), (("--config",), {}), (("overrides",), {"nargs": "*"})]),
    }


def build_parser(commands: dict) -> argparse.ArgumentParser:
    """The whole command line; `commands` maps each command's name to the function that runs it."""
    p = argparse.ArgumentParser(prog="vqmri", description="Learn a discrete code for MRI slices and generate new ones.")
    sub = p.add_subparsers(dest="command", required=True)
    groups: dict = {}
    for name, (help_text, specs) in {**_training_commands(), **_generation_commands()}.items():
        if " " in name:
            group, leaf = name.split()
            if group not in groups:
                groups[group] = sub.add_parser(group, help=GROUPS[group]).add_subparsers(dest=f"{group}_command",
                                                                                       required=True)
            cmd = groups[group].add_parser(leaf, help=help_text)
        else:
            cmd = sub.add_parser(name, help=help_text)
        _add(cmd, *specs)
        cmd.set_defaults(func=commands[name])
    return p
