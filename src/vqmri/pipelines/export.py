"""`vqmri export RUN_DIR --out DIR`: a run's best autoencoder and its prior as safetensors + config.json + a model card,
which `vqmri.load(DIR)` and every command that reads a model accept. The card says what a reader of the weights must
know: the data and its licence, the subjects of each split, the recipe and the command that rebuilds it, what was
measured (only figures measured on this very checkpoint), the weights' hash. No path of the exporting machine: data
outside the package is named by its folder's name."""
from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

from .. import config, weights
from ..data.layouts import Discovery
from ..errors import VqmriError
from ..runs import Run, checkpoint_id, config_of, load_prior, read_checkpoint
from ..version import VERSION

# licences of the built-in data carry over to weights trained on it (data/samples/README.md)
LICENCES = {
    "sample:brain": ("IXI brain T1 (built-in sample:brain; IXI dataset, brain-development.org)",
                     "CC BY-SA 3.0 (Creative Commons Attribution-ShareAlike 3.0 Unported), as the IXI data they were "
                     "trained on; credit the IXI dataset"),
    "sample:pelvis": ("PROSTATEx pelvic T2 (built-in sample:pelvis; TCIA, Litjens et al. 2014, "
                      "doi:10.7937/K9TCIA.2017.MURS5CL)",
                      "CC BY 3.0 (Creative Commons Attribution 3.0), as the PROSTATEx data they were trained on; "
                      "credit PROSTATEx and TCIA"),
}


def _measured(run: Run, ae_id: str, prior_id: str | None) -> dict:
    """Figures of eval/SPLIT/*.json that were measured on exactly these checkpoints."""
    out = {}
    for split_dir in sorted(p for p in run.eval.glob("*") if p.is_dir()):
        for name, key, wanted in (("metrics.json", "checkpoint", ae_id), ("prior.json", "prior_checkpoint", prior_id)):
            try:
                res = json.loads((split_dir / name).read_text())
            except (OSError, ValueError):
                continue
            if wanted is None or res.get(key) != wanted:
                continue
            fig = out.setdefault(split_dir.name, {"data": data_name(res.get("data"))} if name == "metrics.json" else {})
            for k in ("split", "image_size", "n_images", "ssim_mean", "psnr_mean", "codes_used", "bits_per_code"):
                if k in res:
                    fig[k] = res[k]
    return out


def data_name(path: str | None) -> str | None:
    """A data path as a card shows it: `sample:NAME` as it is, anything else by its last folder's name only."""
    return path if path is None or path.startswith("sample:") else Path(path).name


def subjects_of(run: Run) -> dict[str, list[str]]:
    """The subject IDs of each split of the run (splits.json), sorted."""
    try:
        found = Discovery.from_json(json.loads((run.root / "splits.json").read_text()))
    except (OSError, ValueError, KeyError):
        return {}
    return {name: sorted(found.subjects(name)) for name in found.splits}


def export_run(run_dir: str | Path, out: str | Path, force: bool = False, command: str | None = None) -> Path:
    """`command`: how to rebuild this export (e.g. `tools/train_pretrained.sh brain`), stated in its card."""
    run, out = Run.open(run_dir), Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise VqmriError(f"{out} is not empty; choose another --out, or pass --force to replace "
                             + ("the export in it" if weights.is_export(out) else "what it holds"))
        if (out / "config.yaml").exists():
            raise VqmriError(f"{out} is a run folder; export to another --out")
        shutil.rmtree(out)
    ae_path = run.checkpoint("best")
    ae_id = checkpoint_id(ae_path)
    ckpt = read_checkpoint(ae_path)
    cfg = config_of(ckpt)
    ae = {k.split(".", 1)[1]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    prior_state, prior_meta, prior_id = None, None, None
    if (run.prior / "checkpoints").is_dir() and any((run.prior / "checkpoints").glob("*.ckpt")):
        prior = load_prior(run)  # refuses a prior fitted to an earlier autoencoder
        p_path = run.prior_checkpoint()
        hp = read_checkpoint(p_path)["hyper_parameters"]
        prior_id = checkpoint_id(p_path)
        prior_state = prior.state_dict()
        prior_meta = {"config": prior_section(config_of({"hyper_parameters": hp})),
                      "codebook_size": hp["codebook_size"], "levels": hp["levels"], "shapes": hp.get("shapes"),
                      "checkpoint": prior_id}
    measured = _measured(run, ae_id, prior_id)
    tensors = weights.tensor_file(ae, prior_state)
    meta = {"config": cfg.to_dict(), "autoencoder": ae_id, "prior": prior_meta, "measured": measured,
            "subjects": subjects_of(run), "command": command, "sha256": {weights.WEIGHTS: weights.sha256(tensors)},
            "exported_from": run.root.name, "exported": datetime.date.today().isoformat(),
            "vqmri": VERSION}
    weights.write_export(out, meta, tensors, model_card(meta))
    return out


def prior_section(cfg: config.Config) -> dict:
    """The prior's settings: its own section plus the data section it reads (image size, axis)."""
    return cfg.model_dump(include={"prior", "data"})


def model_card(meta: dict) -> str:
    cfg = config.from_dict(meta["config"])
    data = str(cfg.data.path)
    source, licence = LICENCES.get(data, (f"`{data}`", "that of the training data: check it before you share "
                                          "these weights (weights can carry what they were trained on)"))
    m = cfg.model
    lines = [
        "# vqmri model card", "",
        f"- **Training data**: {source}; {cfg.data.image_size} px slices, axis {cfg.data.axis}.",
        f"- **Licence of the weights**: {licence}.",
        f"- **Model**: {m.arch}, downsample {m.downsample}, codebook {m.codebook_size} x {m.embed_dim}"
        f"{f' (top: {m.top_codebook_size})' if m.top_codebook_size else ''}; "
        f"prior: {meta['prior']['config']['prior']['arch'] if meta['prior'] else 'none'}.",
        f"- **Autoencoder checkpoint**: {meta['autoencoder']}; exported {meta['exported']} by vqmri {meta['vqmri']}.",
        f"- **Training settings**: `config.json` (key `config`; data.zoom {cfg.data.zoom}, data.gamma "
        f"{cfg.data.gamma}: field-of-view augmentation).",
        *_subject_lines(meta.get("subjects") or {}),
        f"- **Rebuild**: `{meta['command']}`." if meta.get("command") else
        "- **Rebuild**: `vqmri train` with the settings in `config.json`, then `vqmri export`.",
        *([f"- **sha256** of `{weights.WEIGHTS}`: `{meta['sha256'][weights.WEIGHTS]}`."] if meta.get("sha256") else []),
        "", "## Measured (on these checkpoints; `vqmri evaluate`, `vqmri evaluate-prior`)", "",
    ]
    if meta["measured"]:
        lines += ["| data | split | px | slices | SSIM | PSNR | codes used | prior bits/code |",
                  "|---|---|---|---|---|---|---|---|"]
        for folder, f in meta["measured"].items():
            # figures recorded before the split and size were: the evaluation folder's name (SPLIT or SPLIT_DATA)
            cells = [f.get("data", ""), f.get("split", folder), f.get("image_size", cfg.data.image_size),
                     f.get("n_images", ""), _fmt(f.get("ssim_mean")), _fmt(f.get("psnr_mean"), 1),
                     f.get("codes_used", ""), _fmt(f.get("bits_per_code"))]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    else:
        lines.append("Nothing measured on these checkpoints before export.")
    lines += [
        "", "## Intended use", "",
        "Research on MRI slices: compression to discrete codes, reconstruction, sampling, anomaly maps by healing, "
        "inpainting. Not a medical device; not for diagnosis. Quality falls on scanners, contrasts and fields of view "
        "unlike the training data: measure with `vqmri evaluate MODEL --data YOURS --out DIR` first.", "",
        "## Use", "", "```", "vqmri reconstruct MODEL_DIR slice.png --out recon/",
        "vqmri sample MODEL_DIR -n 16 --out samples/",
        "python -c \"import vqmri; m = vqmri.load('MODEL_DIR')\"", "```", "",
        "Files: `config.json` (settings, provenance, figures), `model.safetensors` (tensors only: loading runs no "
        "code).", ""]
    return "\n".join(lines)


def _subject_lines(subjects: dict[str, list[str]]) -> list[str]:
    """The card's subjects a split, and any subject in two splits said plainly (no held-out claim it cannot keep)."""
    if not subjects:
        return []
    lines = ["- **Subjects** by split: " + "; ".join(f"{k} {', '.join(v)}" for k, v in subjects.items()) + "."]
    names = list(subjects)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for shared in sorted(set(subjects[a]) & set(subjects[b])):
                lines.append(f"- **{shared} is in both {a} and {b}**: figures on {b} are not on an unseen subject.")
    return lines


def _fmt(v, digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}f}"
