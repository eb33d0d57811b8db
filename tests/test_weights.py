"""Safe weight files: `vqmri export` round trip (bit-identical, usable by every read-only command), checkpoints that
would run code are refused unexecuted, shipped pretrained models by name, fine-tuning with --init, and the
field-of-view augmentation that pretrained models train with."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED, TINY, needs_shared, one_line_error

from vqmri import api
from vqmri.cli import main
from vqmri.data.augment import field_of_view
from vqmri.weights import pretrained_names

SAMPLES = Path(__file__).resolve().parents[1] / "src/vqmri/data/samples"


def _brain_slice(z: int) -> np.ndarray:
    import nibabel as nib

    vol = next((SAMPLES / "brain/test").glob("*.nii.gz"))
    a = np.asarray(nib.load(str(vol)).dataobj, np.float32)[:, :, z]
    return np.clip(a / np.percentile(a, 99.5), 0, 1)


def test_export_round_trip_is_bit_identical_and_serves_every_reading_command(with_prior, tmp_path, capsys):
    exp = tmp_path / "export"
    assert main(["export", str(with_prior), "--out", str(exp)]) == 0
    assert sorted(p.name for p in exp.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    meta = json.loads((exp / "config.json").read_text())
    assert meta["prior"]["config"]["prior"]["classes"] == 2 and meta["config"]["data"]["image_size"] == 32
    assert "Licence of the weights**: CC BY-SA 3.0" in (exp / "README.md").read_text()  # trained on sample:brain
    run_model, exp_model = api.load(with_prior), api.load(exp)
    assert exp_model.run is None and exp_model.checkpoint_id == run_model.checkpoint_id
    x = torch.rand(3, 1, 32, 32)
    assert torch.equal(run_model.reconstruct(x), exp_model.reconstruct(x))
    p_run, p_exp = run_model.prior(), exp_model.prior()
    assert all(torch.equal(a, b) for a, b in zip(p_run.state_dict().values(), p_exp.state_dict().values()))
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["sample", str(with_prior), "-n", "3", "--out", str(a), "--seed", "5"]) == 0
    assert main(["sample", str(exp), "-n", "3", "--out", str(b), "--seed", "5"]) == 0
    assert np.array_equal(np.load(a / "codes.npy"), np.load(b / "codes.npy"))
    vol = next((SAMPLES / "brain/test").glob("*.nii.gz"))
    assert main(["reconstruct", str(exp), str(vol), "--out", str(tmp_path / "rec")]) == 0
    assert main(["anomaly", str(exp), str(b / "sample_0000.png"), "--out", str(tmp_path / "anom")]) == 0
    # commands that read the run's own data splits say so in one line
    for argv in (["evaluate-prior", str(exp)], ["evaluate", str(exp)], ["sample", str(exp), "-n", "2", "--filter",
                                                                         "2", "--out", str(tmp_path / "f")]):
        assert "run folder" in one_line_error(capsys, argv)
    assert "not empty" in one_line_error(capsys, ["export", str(with_prior), "--out", str(exp)])
    assert main(["export", str(with_prior), "--out", str(exp), "--force"]) == 0
    # a damaged weight file is one line naming the folder, never a traceback
    (exp / "model.safetensors").write_bytes(b"\x00" * 40)
    assert str(exp) in one_line_error(capsys, ["sample", str(exp), "-n", "1", "--out", str(tmp_path / "c")])


class _Payload:
    """Unpickling this object would create a file: proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_a_checkpoint_that_would_run_code_is_refused_unexecuted(run, tmp_path, capsys):
    planted = tmp_path / "planted"
    shutil.copytree(run, planted, ignore=shutil.ignore_patterns("prior", "codes"))
    marker = tmp_path / "code-ran"
    ckpt = torch.load(planted / "checkpoints/best.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["payload"] = _Payload(str(marker))
    torch.save(ckpt, planted / "checkpoints/best.ckpt")
    line = one_line_error(capsys, ["reconstruct", str(planted), str(next((SAMPLES / "brain/test").glob("*.nii.gz"))),
                                    "--out", str(tmp_path / "r")])
    assert "refuses" in line and "best.ckpt" in line and not marker.exists()
    with pytest.raises(Exception, match="refuses"):
        api.load(planted)
    assert not marker.exists()


def test_pretrained_names_are_checked(capsys, tmp_path):
    line = one_line_error(capsys, ["sample", "pretrained:nope", "-n", "1", "--out", str(tmp_path / "s")])
    assert "unknown pretrained model 'nope'" in line
    assert all(f"pretrained:{n}" in line for n in pretrained_names())


@pytest.mark.skipif(not pretrained_names(), reason="no pretrained models in this checkout")
@pytest.mark.parametrize("name", ["brain", "pelvis"])
def test_pretrained_models_reconstruct_their_own_test_subjects(name, tmp_path, capsys):
    assert main(["evaluate", f"pretrained:{name}", "--data", f"sample:{name}", "--split", "test",
                 "--out", str(tmp_path / "e"), "--json", "--max-images", "16"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["ssim_mean"] > {"brain": 0.88, "pelvis": 0.85}[name] and res["n_images"] == 16
    assert vqmri_load_prior_levels(name) == 1


@pytest.mark.skipif(not pretrained_names(), reason="no pretrained models in this checkout")
@pytest.mark.parametrize("name", ["brain", "pelvis"])
def test_shipped_cards_agree_with_their_config_and_weights(name):
    """Issue 42: each shipped card states what its config.json holds (subjects by split, the rebuild command, the
    figures), the hash of the weights actually shipped, no path of the machine that built it, and a test subject
    that neither trained nor chose the checkpoint."""
    import hashlib
    import re

    from vqmri.weights import resolve

    folder = resolve(f"pretrained:{name}")
    meta = json.loads((folder / "config.json").read_text())
    card = (folder / "README.md").read_text()
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert meta["sha256"]["model.safetensors"] == digest and digest in card
    assert meta["command"] == f"tools/train_pretrained.sh {name}" and f"`{meta['command']}`" in card
    subjects = meta["subjects"]
    assert all(f"{split} {', '.join(ids)}" in card for split, ids in subjects.items())
    assert not set(subjects["test"]) & (set(subjects["train"]) | set(subjects["validate"]))
    for where in (card, json.dumps({k: v for k, v in meta.items() if k != "config"})):
        assert not re.search(r"\.\./|/work/|/home/|/tmp/|[A-Za-z]:\\", where), where
    for fig in meta["measured"].values():
        row = [r for r in card.splitlines() if r.startswith(f"| {fig['data']} | {fig['split']} |")]
        assert len(row) == 1 and f"| {fig['ssim_mean']:.3f} |" in row[0], (fig, row)
    assert meta["measured"]["test"]["data"] == f"sample:{name}"


@needs_shared
@pytest.mark.skipif(not pretrained_names(), reason="no pretrained models in this checkout")
@pytest.mark.parametrize("name, data, split", [("brain", "oasis", "test"), ("pelvis", "hipmri/keras_slices_case018",
                                                                            "train")])
def test_pretrained_models_reconstruct_scanners_they_never_saw(name, data, split, tmp_path, capsys):
    """Zero-shot (issue 23): IXI-trained brain weights on OASIS, PROSTATEx-trained pelvis weights on HipMRI, whose
    slices are framed and scaled otherwise (targets 0.90 and 0.85 at 128 px; all slices in benchmarks/RESULTS.md)."""
    assert main(["evaluate", f"pretrained:{name}", "--data", str(SHARED / data), "--split", split,
                 "--out", str(tmp_path / "e"), "--json", "--max-images", "32"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["ssim_mean"] > {"brain": 0.90, "pelvis": 0.85}[name] and res["n_images"] == 32


def vqmri_load_prior_levels(name: str) -> int:
    """The shipped prior loads (sampling its 32x32 map is tested on the tiny export above: here it takes minutes)."""
    return len(api.load(f"pretrained:{name}").prior().nets)


def test_init_starts_from_the_given_weights(run, tmp_path):
    # at a learning rate of ~0, a codebook that barely moves and no dead-code restarts the model stays what --init
    # gave it: its validation SSIM is the source model's, where a fresh network would score near 0
    out = tmp_path / "tuned"
    assert main(["train", "--data", "sample:brain", "--out", str(out), "--max-epochs", "1", "--init", str(run),
                 *TINY, "train.lr=1e-12", "quantizer.decay=0.999999", "quantizer.dead_code_threshold=0"]) == 0
    src = api.load(run)
    tuned = api.load(out)
    assert tuned.config.model == src.config.model and tuned.config.train.init == str(run)
    assert tuned.config.quantizer.decay == 0.999999  # how the codebook learns is this run's own setting
    x = src.prepare([_brain_slice(z) for z in (30, 45, 60)])
    assert float((src.reconstruct(x) - tuned.reconstruct(x)).abs().mean()) < 1e-3  # no dead code is restarted
    csv = (out / "logs/metrics.csv").read_text().splitlines()
    col = csv[0].split(",").index("val/ssim")
    assert float([r for r in csv[1:] if r.split(",")[col]][-1].split(",")[col]) > 0.3


def test_field_of_view_augmentation():
    x = torch.zeros(1, 64, 64)
    x[:, 16:48, 16:48] = 0.5
    assert torch.equal(field_of_view(x, 0.0, 0.0), x)
    torch.manual_seed(0)
    outs = [field_of_view(x, 0.3, 0.3) for _ in range(20)]
    assert all(o.shape == x.shape and 0 <= float(o.min()) and float(o.max()) <= 1 for o in outs)
    areas = [float((o > 0.05).float().mean()) for o in outs]
    assert min(areas) < 0.25 * 0.85 and max(areas) > 0.25 * 1.15  # zoomed out and in: the square shrinks and grows
    levels = {round(float(o[o > 0.05].median()), 2) for o in outs}
    assert len(levels) > 5  # contrast varies too


@pytest.mark.parametrize("slices, min_batches, batches", [(10, 0, 1), (10, 4, 5), (10, 3, 3), (100, 2, 12),
                                                           (7, 1, 1)])
def test_a_small_training_set_fills_an_epoch_of_min_batches(slices, min_batches, batches):
    """train.min_batches: a set smaller than that many batches is repeated to at least that many (each copy augmented
    afresh), so that a 38-slice pretrained recipe is not one step, one validation and one checkpoint after another."""
    from types import SimpleNamespace

    from vqmri.config import resolve
    from vqmri.data.datamodule import SliceDataModule

    cfg = resolve("sample", None, [f"train.min_batches={min_batches}", "data.zoom=0.5"])
    dm = SliceDataModule(cfg, discovery=None, batch_size=8)
    images = np.stack([np.full((16, 16), i / slices, np.float32) for i in range(slices)])
    dm.splits["train"] = dm.splits["validate"] = SimpleNamespace(images=images)
    dm.has = lambda name: True
    assert len(dm.train_dataloader()) == batches
    assert len(dm.val_dataloader().dataset) == slices  # validation sees each slice once
    train = dm.train_dataloader().dataset
    seen = {round(float(x.max()), 4) for x in train}  # iteration ends after the repeats
    assert len(seen) == slices  # every slice is drawn, not one repeated
