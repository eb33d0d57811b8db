"""End to end on the built-in sample with tiny budgets: train, resume (also after a kill), evaluate, reconstruct,
prior, sampling, sample evaluation, report, VQ-VAE-2, and a 2-process run."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import yaml
from conftest import TINY, one_line_error
from PIL import Image

from vqmri import api
from vqmri.cli import main
from vqmri.config import resolve
from vqmri.data.datamodule import discover_from_config
from vqmri.errors import VqmriError
from vqmri.inference.sampling import sample_codes
from vqmri.pipelines import generate as generate_mod
from vqmri.pipelines import selection
from vqmri.runs import load_prior, read_checkpoint

VQ = [sys.executable, "-m", "vqmri.cli"]


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_train_writes_a_complete_run(run):
    for rel in ("config.yaml", "splits.json", "checkpoints/best.ckpt", "checkpoints/last.ckpt", "logs/metrics.csv",
                "figures/curves.png", "figures/recon_epoch002.png", "train_summary.json", "report.html"):
        assert (run / rel).exists(), rel
    splits = json.loads((run / "splits.json").read_text())["splits"]
    subjects = {k: {s["subject"] for s in v} for k, v in splits.items()}
    assert not (subjects["train"] & subjects["test"])
    rows = list(csv.DictReader((run / "logs/metrics.csv").open()))
    minutes = [float(r["val/minutes"]) for r in rows if r.get("val/minutes")]
    assert len(minutes) == 3 and 0 < minutes[0] < minutes[1] < minutes[2]  # one a validation, the clock of training


def test_evaluate_json_contract_and_files(run, capsys):
    r = _json(capsys, ["evaluate", str(run), "--split", "test", "--json"])
    for key in ("n_images", "ssim_mean", "ssim_std", "ssim_min", "ssim_max", "psnr_mean", "ms_ssim_mean",
                "bits_per_pixel", "compression_ratio", "codebook_usage", "perplexity", "image_size"):
        assert key in r, key
    assert r["image_size"] == 32 and r["n_images"] == 217 and r["ms_ssim_mean"] is None
    # bounds between the tiny model trained for the fixture's 3 epochs and untrained (benchmarks/e2e_bounds.py:
    # trained 0.47-0.53, min 0.25-0.34; untrained 0.02-0.07, min <= 0.004, seeds 0-2)
    assert 0.3 < r["ssim_mean"] < 1 and 0.1 < r["ssim_min"] <= r["ssim_mean"] <= r["ssim_max"]
    assert r["bits_per_pixel"] == pytest.approx(8 * 8 * 6 / 32 ** 2)
    assert r["compression_ratio"] == pytest.approx(8 / r["bits_per_pixel"])
    assert r["native"] is not None and r["native"]["shapes"] == ["120x90"]  # IXI axial slices are 120x90
    rows = (run / "eval/test/per_image.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 217 and (run / "eval/test/worst.png").exists()


def test_evaluate_at_another_image_size(run, capsys, tmp_path):
    """A 32 px model run at 64 px on the same split (the convolutions read any multiple of their downsampling):
    twice the code map a side, its own folder beside eval/test, the prior refused at the new size, and an export's
    model card that names data, split and size of each row."""
    r = _json(capsys, ["evaluate", str(run), "--split", "test", "--json", "--image-size", "64", "--max-images", "8"])
    assert r["image_size"] == 64 and r["code_shapes"] == [[16, 16]] and r["n_images"] == 8
    assert r["native"]["shapes"] == ["120x90"] and 0.3 < r["ssim_mean"] < 1  # trained 0.37-0.40, untrained <= 0.25
    assert json.loads((run / "eval/test_64px/metrics.json").read_text())["image_size"] == 64
    model = api.load(run).at_image_size(64)
    assert model.encode(torch.rand(1, 1, 64, 64))[0].shape == (1, 16, 16)
    with pytest.raises(VqmriError, match="trained size"):
        model.prior()
    for size in (30, 4, 66):
        line = one_line_error(capsys, ["evaluate", str(run), "--image-size", str(size)])
        assert f"image size {size}" in line and "multiple of 4 of at least 8" in line, line
    with pytest.raises(SystemExit):  # argparse: a size below 1 is not a size
        main(["evaluate", str(run), "--image-size", "0"])
    assert main(["export", str(run), "--out", str(tmp_path / "exp")]) == 0
    card = (tmp_path / "exp/README.md").read_text()
    assert "| data | split | px |" in card and "| sample:brain | test | 64 | 8 |" in card


def test_api_round_trip(run):
    import vqmri

    m = vqmri.load(run)
    x = torch.rand(2, 1, 32, 32)
    codes = m.encode(x)
    assert codes[0].shape == (2, 8, 8) and m.decode(codes).shape == (2, 1, 32, 32)
    assert torch.allclose(m.reconstruct(x), m.decode(codes))


def test_reconstruct_png_and_nifti(run, tmp_path, capsys):
    from conftest import write_nifti, write_png
    from PIL import Image

    png = tmp_path / "in" / "case_001_slice_3.nii.png"
    write_png(png, (48, 40))
    nii2d = write_nifti(tmp_path / "in" / "case_004_week_0_slice_1.nii.gz",
                        np.random.rand(48, 40, 1).astype(np.float32))
    vol = next((Path(__file__).parents[1] / "src/vqmri/data/samples/brain/test").glob("*.nii.gz"))
    out = tmp_path / "out"
    assert main(["reconstruct", str(run), str(png), str(nii2d), str(vol), "--out", str(out), "--native"]) == 0
    assert Image.open(out / png.name).size == (40, 48) and (out / "case_001_slice_3.nii_codes.png").exists()
    import nibabel as nib

    r2 = nib.load(str(out / nii2d.name))
    assert r2.shape == (48, 40, 1) and np.allclose(r2.affine, nib.load(str(nii2d)).affine)
    rv = nib.load(str(out / vol.name))
    canon = nib.as_closest_canonical(nib.load(str(vol)))
    assert rv.shape == canon.shape and np.allclose(rv.affine, canon.affine) and rv.get_fdata().max() > 0.2
    assert main(["reconstruct", str(run), str(png), "--out", str(tmp_path / "o2")]) == 0
    assert Image.open(tmp_path / "o2" / png.name).size == (32, 32)
    assert main(["reconstruct", str(run), str(png), "--out", str(tmp_path / "o3"), "--image-size", "64"]) == 0
    assert Image.open(tmp_path / "o3" / png.name).size == (64, 64)  # the model run at 64 px


def test_resume_continues_from_last_epoch(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert main(["train", "--resume", str(copy), "--max-epochs", "4"]) == 0
    assert "Resuming from epoch 3" in capsys.readouterr().out
    # Lightning's "logs will be deleted" / "directory is not empty" are false alarms here: the history is kept
    assert not [w for w in seen if "exists and is not empty" in str(w.message)], [str(w.message) for w in seen]
    assert len((copy / "logs/metrics.csv").read_text().splitlines()) > 4  # the earlier epochs' rows are still there
    assert torch.load(copy / "checkpoints/last.ckpt", weights_only=False)["epoch"] == 4
    assert main(["train", "--data", "sample:brain", "--out", str(copy)]) == 2
    assert "--resume" in capsys.readouterr().err


def _training_until_first_checkpoint(out: Path, **popen):
    """A long `vqmri train` in a subprocess, returned once its first last.ckpt exists (with its path and env)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([*VQ, "train", "--data", "sample:brain", "--out", str(out), "--max-epochs", "200", *TINY],
                            stdout=subprocess.DEVNULL, env=env, **popen)
    last = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.exists() and time.time() < deadline:
        time.sleep(0.5)
    return proc, last, env


def test_killed_run_resumes(tmp_path):
    proc, last, env = _training_until_first_checkpoint(tmp_path / "killed", stderr=subprocess.DEVNULL,
                                                       start_new_session=True)
    out = tmp_path / "killed"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert last.exists()
    epoch = torch.load(last, weights_only=False)["epoch"]
    res = subprocess.run([*VQ, "train", "--resume", str(out), "--max-epochs", str(epoch + 1)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"Resuming from epoch {epoch}" in res.stdout
    assert torch.load(last, weights_only=False)["epoch"] == epoch + 1


def test_two_processes_keep_codebooks_identical(tmp_path):
    """One run through both phases: plain training for the first half of the budget, the adversarial game (whole
    autoencoder, codebook still learning) for the second; the ranks' codebooks must end identical."""
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([*VQ, "train", "--data", "sample:brain", "--out", str(out), "--max-epochs", "2",
                          "--devices", "2", "--accelerator", "cpu", *TINY, "gan.weight=0.5", "gan.start=0.5"],
                         capture_output=True, text=True, env=env, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["sessions"][0]["world_size"] == 2
    assert summary["sessions"][0]["codebooks_in_sync"] is True, res.stdout[-2000:]
    log = (out / "logs/metrics.csv").read_text()
    assert "train/d_loss_step" in log  # the game did run


def test_adversarial_run_resumes_the_same_game_and_feeds_a_transformer_prior(tmp_path, capsys):
    out = tmp_path / "gan"
    assert main(["train", "--data", "sample:brain", "--out", str(out), "--max-epochs", "2", *TINY,
                 "gan.weight=0.5", "gan.start=0.4", "gan.channels=8"]) == 0
    ckpt = torch.load(out / "checkpoints/last.ckpt", weights_only=False)
    assert any(k.startswith("discriminator.") for k in ckpt["state_dict"]) and len(ckpt["optimizer_states"]) == 2
    log = (out / "logs/metrics.csv").read_text()
    assert "train/d_loss_step" in log and "train/adv_weight_step" in log
    steps = json.loads((out / "train_summary.json").read_text())["sessions"][0]["steps"]
    batches = ckpt["loops"]["fit_loop"]["epoch_loop.state_dict"]["_batches_that_stepped"]
    assert steps == batches < ckpt["global_step"]  # the summary counts batches; the game steps twice a batch
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--max-epochs", "3"]) == 0
    assert "Resuming from epoch 2" in capsys.readouterr().out
    again = torch.load(out / "checkpoints/last.ckpt", weights_only=False)
    disc = [k for k in ckpt["state_dict"] if k.startswith("discriminator.") and k.endswith("weight.original")]
    assert again["epoch"] == 3 and disc and any(not torch.equal(ckpt["state_dict"][k], again["state_dict"][k])
                                                for k in disc)
    best = torch.load(out / "checkpoints/best.ckpt", weights_only=False)
    assert best["global_step"] == again["global_step"]  # an adversarial run keeps its latest model as best
    summary = json.loads((out / "train_summary.json").read_text())
    assert len(summary["sessions"]) == 2 and summary["total"]["steps"] == steps + summary["sessions"][1]["steps"]
    assert main(["train-prior", str(out), "--max-epochs", "1", "prior.arch=transformer", "prior.channels=16",
                 "prior.layers=1", "prior.heads=2"]) == 0
    prior = torch.load(out / "prior/checkpoints/best.ckpt", weights_only=False)
    assert any(".blocks.0.attn.qkv." in k for k in prior["state_dict"])
    capsys.readouterr()
    p = _json(capsys, ["evaluate-prior", str(out), "--split", "test", "--json"])
    assert 0 < p["bits_per_code"] < 6  # below log2 K = 6: the prior learnt something beyond uniform
    assert main(["sample", str(out), "-n", "3", "--out", str(tmp_path / "s"), "--top-p", "0.9"]) == 0
    assert np.load(tmp_path / "s/codes.npy").shape == (3, 8, 8)
    assert main(["sample", str(out), "-n", "2", "--out", str(tmp_path / "s")]) == 0
    assert sorted(p.name for p in (tmp_path / "s").glob("sample_*.png")) == ["sample_0000.png", "sample_0001.png"]


def test_decoder_only_game_keeps_the_codes_and_sharpens_the_decoder(run, tmp_path, capsys):
    """gan.decoder_only: from gan.start on, the encoder and codebook stay as they were (the codes keep their meaning,
    so a prior fitted to them stays right) and only the decoder learns, against a discriminator on random crops."""
    out = tmp_path / "dec"
    game = ["gan.weight=0.5", "gan.start=0", "gan.decoder_only=true", "gan.layers=2", "gan.channels=8",
            "gan.norm=batch"]
    line = one_line_error(capsys, ["train", "--init", str(run), "--data", "sample:brain", "--out", str(out),
                                   "--max-epochs", "1", *game, "gan.crop=8"])
    assert "gan.crop=8" in line and "at least 12 px" in line and not out.exists()
    assert main(["train", "--init", str(run), "--data", "sample:brain", "--out", str(out), "--max-epochs", "1",
                 *game, "gan.crop=16"]) == 0
    before = read_checkpoint(run / "checkpoints/best.ckpt")["state_dict"]
    after = read_checkpoint(out / "checkpoints/last.ckpt")["state_dict"]
    fixed = [k for k in before if k.startswith(("model.encoder.", "model.quantizer."))]
    assert fixed and all(torch.equal(before[k], after[k]) for k in fixed)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("model.decoder."))
    assert "train/d_loss_step" in (out / "logs/metrics.csv").read_text()


def test_two_processes_fit_one_prior_level(tmp_path):
    """prior.level=top under DDP: the frozen bottom must not trip DDP's unused-parameter check, and stays as it was."""
    out = tmp_path / "v2ddp"
    assert main(["train", "--data", "sample:brain", "--out", str(out), "--max-epochs", "1", *TINY,
                 "model.arch=vqvae2"]) == 0
    assert main(["train-prior", str(out), "--max-epochs", "1"]) == 0
    before = torch.load(out / "prior/checkpoints/best.ckpt", weights_only=False)["state_dict"]
    res = subprocess.run([*VQ, "train-prior", str(out), "--max-epochs", "1", "prior.level=top", "train.devices=2",
                          "train.accelerator=cpu"], capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    after = torch.load(out / "prior/checkpoints/best.ckpt", weights_only=False)["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("prior.nets.1."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("prior.nets.0."))


def test_prior_sample_and_sample_evaluation(run, tmp_path, capsys):
    assert main(["train-prior", str(run), "--max-epochs", "2"]) == 0
    capsys.readouterr()
    assert (run / "prior/checkpoints/best.ckpt").exists()
    r = _json(capsys, ["evaluate-prior", str(run), "--split", "test", "--json"])
    assert r["codebook_size"] == 64 and r["n_images"] == 217 and 0 < r["bits_per_code"] < 5.95
    # benchmarks/e2e_bounds.py: one epoch trained 5.80-5.90, untrained 6.00-6.02 (uniform: 6)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["sample", str(run), "-n", "6", "--out", str(a), "--seed", "3", "--format", "nii"]) == 0
    assert main(["sample", str(run), "-n", "6", "--out", str(b), "--seed", "3"]) == 0
    assert np.array_equal(np.load(a / "codes.npy"), np.load(b / "codes.npy"))
    assert len(list(a.glob("sample_*.png"))) == 6 and (a / "grid.png").exists() and (a / "sample_0000.nii.gz").exists()
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "1", "--out", str(tmp_path / "c"), "--bottom-redraw", "0.5"]) == 2
    assert "two-level" in capsys.readouterr().err
    s = _json(capsys, ["evaluate-samples", str(run), str(a), "--split", "test", "--json"])
    assert 0 <= s["two_sample_acc_vs_reconstructions"] <= 1 and 0 <= s["two_sample_acc_vs_real"] <= 1
    assert s["n_samples"] == 6 and s["two_sample_heldout_per_class"] == 6
    # the sample's test split is two subjects (volumes): the folds keep each whole, so there are two
    assert s["two_sample_folds_by_subject"] and len(s["two_sample_folds"]["vs_reconstructions"]) == 2
    assert s["two_sample_null_reference"] == "validate" and 0 <= s["two_sample_acc_null"] <= 1
    tests = {"vs_real", "recon_vs_real", "vs_reconstructions", "real_null", "null"}
    assert set(s["two_sample_recall"]) == tests and set(s["two_sample_folds"]) == tests
    assert all(0 <= s[f"two_sample_acc_{t}"] <= 1 for t in tests)
    assert list(s)[2] == "two_sample_acc_vs_real"  # the headline comes first
    assert s["two_sample_slices_per_subject"] == 3  # 6 a side from two subjects
    assert all(0 <= r[side] <= 1 for r in s["two_sample_recall"].values() for side in ("generated", "other"))
    assert set(s["two_sample_auc"]) == tests
    assert all(0 <= v <= 1 for v in s["two_sample_auc"].values())
    dv = s["diversity"]
    # positions: 8 buckets of the real test slices' stack positions, each sample counted at its nearest real slice
    assert len(dv["slice_positions"]["real"]) == 8 and abs(sum(dv["slice_positions"]["samples"]) - 1) < 1e-3
    assert 0 <= dv["slice_positions"]["coverage"] <= 1 and 0 <= dv["slice_positions"]["tv"] <= 1
    assert "precision_recall" not in dv  # 6 samples: too few for 3-nearest-neighbour manifolds of each half
    assert json.loads((run / "eval/test/samples.json").read_text())["n_samples"] == 6  # for the report
    m = s["memorisation"]
    assert -1 <= m["samples_nearest_train_ssim_mean"] <= 1
    assert -1 <= m["recon_nearest_train_ssim_mean"] <= 1 and 0 <= m["samples_above_recon_p95"] <= 6
    assert 0 < m["test_nearest_train_code_match_mean"] <= 1 and 0 < m["samples_nearest_train_code_match_max"] <= 1
    # samples whose code maps are training maps, re-decoded: the code-space figure must call them copies
    maps = np.load(run / "codes/train.npz")["level0"][:6]
    from vqmri import api
    model = api.load(run)
    c = tmp_path / "copies"
    c.mkdir()
    for i, im in enumerate(model.decode([torch.from_numpy(maps.astype(np.int64))])):
        Image.fromarray((im[0].numpy() * 255).round().astype(np.uint8)).save(c / f"sample_{i:04d}.png")
    np.save(c / "codes.npy", maps.astype(np.int16))
    capsys.readouterr()
    assert main(["evaluate-samples", str(run), str(c), "--split", "test"]) == 0  # the text a person reads
    text = capsys.readouterr().out
    assert "of the samples generated" in text and "warning: only 6 held-out slices a class" in text
    cm = _json(capsys, ["evaluate-samples", str(run), str(c), "--split", "test", "--json"])["memorisation"]
    assert cm["samples_nearest_train_code_match_mean"] == 1 and cm["samples_above_test_code_match_p95"] == 6
    assert cm["test_nearest_train_code_match_mean"] < 1
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "No prior yet" not in page and "top: generated; bottom: real held-out slices" in page
    assert (run / "figures/samples_vs_real.png").exists()
    # the command's judge on visibly broken samples (noise): it must tell them from real slices, or the 0-1
    # figures above could come from a judge that learns nothing (a collapsed judge reads 0.5 on anything)
    noise = tmp_path / "noise"
    noise.mkdir()
    for i, im in enumerate(np.random.default_rng(0).integers(0, 256, (6, 32, 32), dtype=np.uint8)):
        Image.fromarray(im).save(noise / f"sample_{i:04d}.png")
    broken = _json(capsys, ["evaluate-samples", str(run), str(noise), "--split", "test", "--json"])
    # At 6 a side, with the batch-norm statistics of training's moving average, the fit answered one class
    # (accuracy 0.5, AUC 1.0); settled on the final weights it must learn (classifier.settle_batch_norm).
    for test in ("vs_real", "vs_reconstructions"):
        assert broken["two_sample_auc"][test] >= 0.9, test
        assert broken[f"two_sample_acc_{test}"] >= 0.9 and not broken["two_sample_collapsed"][test], test


def test_vqvae2_train_resume_evaluate_sample(tmp_path, capsys):
    out = tmp_path / "v2"
    assert main(["train", "--data", "sample:brain", "--out", str(out), "--max-epochs", "1", *TINY,
                 "model.arch=vqvae2", "model.bottom_dropout=0.25", "model.top_codebook_size=16"]) == 0
    assert main(["train", "--resume", str(out), "--max-epochs", "2"]) == 0
    assert "Resuming from epoch 1" in capsys.readouterr().out
    r = _json(capsys, ["evaluate", str(out), "--split", "test", "--json"])
    assert r["code_shapes"] == [[4, 4], [8, 8]] and r["codebook_sizes"] == [16, 64]  # the top's codebook its own
    assert r["bits_per_pixel"] == pytest.approx((16 * 4 + 64 * 6) / 32 ** 2)
    assert main(["train-prior", str(out), "--max-epochs", "1"]) == 0
    capsys.readouterr()
    p = _json(capsys, ["evaluate-prior", str(out), "--split", "test", "--json"])
    assert [lv["log2_codebook_size"] for lv in p["levels"]] == [4, 6]
    assert 0 < p["levels"][0]["bits_per_code"] < 4.5  # a 16-way top prior: near log2 16 untrained, not log2 64
    assert main(["sample", str(out), "-n", "3", "--out", str(tmp_path / "s")]) == 0
    assert np.load(tmp_path / "s/codes_top.npy").shape == (3, 4, 4)
    assert np.load(tmp_path / "s/codes_top.npy").max() < 16
    assert np.load(tmp_path / "s/codes_bottom.npy").shape == (3, 8, 8)
    # one temperature per level: the same seed draws the same tops, and a cooler bottom
    assert main(["sample", str(out), "-n", "3", "--out", str(tmp_path / "c"), "--temperature", "1,0.05"]) == 0
    assert np.array_equal(np.load(tmp_path / "c/codes_top.npy"), np.load(tmp_path / "s/codes_top.npy"))
    assert not np.array_equal(np.load(tmp_path / "c/codes_bottom.npy"), np.load(tmp_path / "s/codes_bottom.npy"))
    capsys.readouterr()
    assert main(["sample", str(out), "-n", "3", "--out", str(tmp_path / "d"), "--temperature", "1,0.5,0.2"]) == 2
    assert "one per level (2 here" in capsys.readouterr().err
    # fitting the top level alone changes the top PixelCNN and nothing of the bottom
    before = torch.load(out / "prior/checkpoints/best.ckpt", weights_only=False)["state_dict"]
    assert main(["train-prior", str(out), "--max-epochs", "1", "prior.level=top"]) == 0
    after = torch.load(out / "prior/checkpoints/best.ckpt", weights_only=False)["state_dict"]
    assert (out / "prior/checkpoints/before_top.ckpt").exists()
    bottom = [k for k in before if k.startswith(("prior.nets.1.", "prior.conditioner.", "prior.positions.1"))]
    top = [k for k in before if k.startswith("prior.nets.0.")]
    assert bottom and all(torch.equal(before[k], after[k]) for k in bottom)
    assert any(not torch.equal(before[k], after[k]) for k in top)
    # another bottom network over the fitted top: the top is kept as it is, the masked-code bottom starts afresh
    assert main(["train-prior", str(out), "--max-epochs", "1", "prior.level=bottom", "prior.bottom_arch=maskgit",
                 "prior.steps=4"]) == 0
    mg = torch.load(out / "prior/checkpoints/best.ckpt", weights_only=False)["state_dict"]
    assert all(torch.equal(after[k], mg[k]) for k in top)
    assert any(k.startswith("prior.nets.1.blocks.") for k in mg)  # the masked-code model's blocks
    assert main(["sample", str(out), "-n", "3", "--out", str(tmp_path / "m")]) == 0
    assert np.load(tmp_path / "m/codes_bottom.npy").shape == (3, 8, 8)
    # the masked-code bottom in more parallel steps: the same tops (a raster top ignores its count), other bottoms
    assert main(["sample", str(out), "-n", "3", "--out", str(tmp_path / "st"), "--steps", "1,16"]) == 0
    assert np.array_equal(np.load(tmp_path / "st/codes_top.npy"), np.load(tmp_path / "m/codes_top.npy"))
    assert not np.array_equal(np.load(tmp_path / "st/codes_bottom.npy"), np.load(tmp_path / "m/codes_bottom.npy"))
    assert main(["sample", str(out), "-n", "3", "--out", str(tmp_path / "st"), "--steps", "1,2,3"]) == 2
    assert "one a level (2 here" in capsys.readouterr().err
    # a bottom started from the top's own decoding: the same tops; every code but the redrawn share is the one that
    # reproduces the top's decoding
    for share, choice in ((0.25, "unlikely"), (0.25, "random"), (1.0, "unlikely")):
        assert main(["sample", str(out), "-n", "3", "--out", str(tmp_path / "g"), "--bottom-redraw", str(share),
                     "--bottom-choice", choice]) == 0
        top = torch.from_numpy(np.load(tmp_path / "g/codes_top.npy").astype(np.int64))
        assert torch.equal(top, torch.from_numpy(np.load(tmp_path / "m/codes_top.npy").astype(np.int64)))
        net = api.load(out).net
        start = net.encode_bottom(net.decode_top(top), top)
        moved = (torch.from_numpy(np.load(tmp_path / "g/codes_bottom.npy").astype(np.int64)) != start).sum((1, 2))
        assert moved.max() <= share * 64 and (share < 1 or moved.min() > 16)
    # the filter of a two-level run judges tops alone and draws bottoms under the kept ones (selection.filter_tops)
    drawn_tops = []
    real_filter = selection.filter_tops

    def spy(*args, **kwargs):
        kept, tops, labels, info = real_filter(*args, **kwargs)
        drawn_tops.append(tops[kept])
        assert info["judged"] == "tops decoded alone at 32 px" and kept.min() >= info["fit"]
        return kept, tops, labels, info
    for redraw in ("1", "0.25"):
        with mock.patch.object(generate_mod, "filter_tops", spy):
            assert main(["sample", str(out), "-n", "3", "--out", str(tmp_path / "f"), "--filter", "2",
                         "--filter-fit", "8", "--bottom-redraw", redraw]) == 0
        top = torch.from_numpy(np.load(tmp_path / "f/codes_top.npy").astype(np.int64))
        assert torch.equal(top, drawn_tops[-1]) and np.load(tmp_path / "f/codes_bottom.npy").shape == (3, 8, 8)
    capsys.readouterr()
    for bad in ("0", "1.5"):
        assert main(["sample", str(out), "-n", "1", "--out", str(tmp_path / "b"), "--bottom-redraw", bad]) == 2
        assert "--bottom-redraw" in capsys.readouterr().err
    # prior.level=each: a new prior, the top alone then the bottom alone; the run's config says `each` again
    capsys.readouterr()
    assert main(["train-prior", str(out), "--max-epochs", "1", "prior.level=each"]) == 0
    assert capsys.readouterr().out.count("Fitting the bottom level") == 1
    assert yaml.safe_load((out / "config.yaml").read_text())["prior"]["level"] == "each"
    assert main(["train-prior", str(out), "--resume", "prior.level=each"]) == 2
    assert main(["train-prior", str(out), "--max-epochs", "1", "prior.level=top", "prior.layers=2"]) == 2
    assert "settings differ" in capsys.readouterr().err
    # a Gaussian top added to the fitted prior: both networks kept, whole tops drawn from it, every top code one of
    # the top codebook's 16, a sample's codes the same again from the same seed; the export draws the same
    nets = {k: v for k, v in torch.load(out / "prior/checkpoints/best.ckpt", weights_only=False)["state_dict"].items()}
    assert main(["train-prior", str(out), "prior.level=gaussian", "prior.top_components=4"]) == 0
    after = torch.load(out / "prior/checkpoints/best.ckpt", weights_only=False)["state_dict"]
    assert all(torch.equal(v, after[k]) for k, v in nets.items()) and bool(after["prior.gaussian_top.fitted"])
    assert yaml.safe_load((out / "config.yaml").read_text())["prior"]["top_sampler"] == "gaussian"
    assert (out / "prior/checkpoints/before_gaussian.ckpt").exists()
    assert main(["train-prior", str(out), "prior.level=gaussian", "prior.top_components=2"]) == 0  # refitted smaller
    assert main(["train-prior", str(out), "prior.level=gaussian", "prior.top_components=4"]) == 0
    for name, src in (("ga", out), ("gb", out), ("gx", tmp_path / "gexport")):
        if name == "gx":
            assert main(["export", str(out), "--out", str(src)]) == 0
        assert main(["sample", str(src), "-n", "4", "--out", str(tmp_path / name)]) == 0
    tops = [np.load(tmp_path / f"{name}/codes_top.npy") for name in ("ga", "gb", "gx")]
    assert tops[0].max() < 16 and np.array_equal(tops[0], tops[1]) and np.array_equal(tops[0], tops[2])


def _conditioned(run, tmp_path):
    """A copy of the shared run with a prior over 4 slice-position buckets, one epoch."""
    cond = tmp_path / "cond"
    shutil.copytree(run, cond, ignore=shutil.ignore_patterns("prior"))
    assert main(["train-prior", str(cond), "--max-epochs", "1", "prior.classes=4"]) == 0
    return cond


def _sampled_maps(run, tmp_path, *flags):
    """`vqmri sample -n 6` with `flags` from a `_conditioned` run: the run, its model, the maps kept, their labels."""
    cond, out = _conditioned(run, tmp_path), tmp_path / "s"
    assert main(["sample", str(cond), "-n", "6", "--out", str(out), *flags]) == 0
    kept = torch.from_numpy(np.load(out / "codes.npy").astype(np.int64))
    assert kept.shape[0] == 6 and len(list(out.glob("sample_*.png"))) == 6
    return cond, api.load(cond), kept, np.load(out / "labels.npy").tolist()


def test_slice_position_conditioned_prior(run, tmp_path, capsys):
    cond = _conditioned(run, tmp_path)
    capsys.readouterr()
    p = _json(capsys, ["evaluate-prior", str(cond), "--split", "test", "--json"])
    assert 0 < p["bits_per_code"] < 6 and p["n_images"] == 217
    assert main(["sample", str(cond), "-n", "6", "--out", str(tmp_path / "s")]) == 0
    assert np.load(tmp_path / "s/labels.npy").tolist() == [0, 1, 2, 3, 0, 1]  # cycles through the stack
    assert main(["sample", str(cond), "-n", "2", "--out", str(tmp_path / "t"), "--label", "3"]) == 0
    assert np.load(tmp_path / "t/labels.npy").tolist() == [3, 3]
    capsys.readouterr()
    assert main(["sample", str(cond), "-n", "2", "--out", str(tmp_path / "u"), "--label", "4"]) == 2
    assert "choose 0..3" in capsys.readouterr().err


def test_best_of_candidates_keeps_the_most_self_consistent_map(run, tmp_path, capsys):
    cond, model, kept, labels = _sampled_maps(run, tmp_path, "--seed", "5", "--candidates", "3")
    assert labels == [0, 1, 2, 3, 0, 1]  # each sample keeps its bucket
    drawn = sample_codes(load_prior(model.run), 18, model.code_shapes(), 5,
                         label=(torch.arange(6) % 4).repeat(3))[0].view(3, 6, *kept.shape[1:])
    score = model.consistency([drawn.flatten(0, 1)]).view(3, 6)
    for i in range(6):  # sample i is candidate j of its own slot, the one with the highest score
        j = [k for k in range(3) if torch.equal(drawn[k, i], kept[i])]
        assert j and score[j[0], i] == score[:, i].max()
    # the score means something: encoded real slices survive decode -> encode better than random maps
    real = torch.from_numpy(np.load(cond / "codes/train.npz")["level0"][:32].astype(np.int64))  # train-prior wrote it
    noise = torch.randint(0, model.codebook_size, real.shape, generator=torch.Generator().manual_seed(0))
    assert model.consistency([real]).mean() > model.consistency([noise]).mean() + 0.2
    capsys.readouterr()
    assert main(["sample", str(cond), "-n", "2", "--out", str(tmp_path / "u"), "--candidates", "0"]) == 2
    assert "--candidates 0" in capsys.readouterr().err


def test_filter_keeps_unseen_candidates_and_says_what_is_wrong(run, tmp_path, capsys):
    cond, model, kept, labels = _sampled_maps(run, tmp_path, "--seed", "3", "--filter", "2", "--filter-fit", "64")
    n_fit = min(64, len(api.reconstruct_pick(model, discover_from_config(model.config, model.run.root),
                                             "train", None)[1]))
    pool = sample_codes(load_prior(model.run), n_fit + 12, model.code_shapes(), 3,
                        label=torch.arange(n_fit + 12) % 4)[0]
    for i in range(6):  # each kept map is one of the 12 candidates drawn after the fitting part, label and all
        j = [k for k in range(n_fit, n_fit + 12) if torch.equal(pool[k], kept[i])]
        assert j and labels[i] == j[0] % 4
    capsys.readouterr()
    assert main(["sample", str(cond), "-n", "2", "--out", str(tmp_path / "u"), "--filter", "0"]) == 2
    assert "--filter 0" in capsys.readouterr().err
    assert main(["sample", str(cond), "-n", "2", "--out", str(tmp_path / "u"), "--filter", "2",
                 "--filter-fit", "1"]) == 2
    assert "--filter-fit 1" in capsys.readouterr().err
    assert main(["sample", str(cond), "-n", "2", "--out", str(tmp_path / "u"), "--filter", "2",
                 "--candidates", "2"]) == 2
    assert "use one of them" in capsys.readouterr().err


def test_demo_runs_the_whole_pipeline(tmp_path, capsys):
    """What `make demo` runs, on a tiny budget: train, evaluate, prior, samples, report."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--minutes", "0.3"]) == 0
    printed = capsys.readouterr().out
    assert "held-out SSIM" in printed and "report:" in printed
    assert (out / "report.html").exists() and (out / "figures/samples_vs_real.png").exists()
    assert (out / "prior/checkpoints/best.ckpt").exists() and (out / "eval/test/metrics.json").exists()
    # the realistic recipe at 64 px: two levels, an 8 x 8 top (a 16 x 16 code map gave blobs) over a 16 x 16 bottom,
    # the position-aware prior with the realistic bottom network; the top-only decodings in the report
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert (cfg["model"]["arch"], cfg["model"]["top_factor"]) == ("vqvae2", 2)
    assert (cfg["prior"]["classes"], cfg["prior"]["layers"], cfg["prior"]["augment"]) == (8, 10, 8)
    assert cfg["prior"]["top_sampler"] == "gaussian"
    for key in ("arch", "bottom_arch"):
        assert cfg["prior"][key] == resolve("realistic")["prior"][key] == "maskgit"
    assert json.loads((out / "eval/test/metrics.json").read_text())["code_shapes"] == [[8, 8], [16, 16]]
    assert (out / "figures/top_only.png").exists()


def test_mirrored_training_codes(run, tmp_path, capsys):
    """prior.mirror=rows adds the codes of the training slices flipped upside down (their own cache file),
    paired with the same slice positions; an unknown axis is a one-line error that leaves the config alone."""
    from vqmri.api import VQModel
    from vqmri.data.datamodule import discover_from_config, load_cached

    mir = tmp_path / "mir"
    shutil.copytree(run, mir, ignore=shutil.ignore_patterns("prior"))
    assert main(["train-prior", str(mir), "--max-epochs", "1", "prior.mirror=diagonal"]) == 2
    assert "prior.mirror='diagonal'" in capsys.readouterr().err
    assert "diagonal" not in (mir / "config.yaml").read_text()
    assert main(["train-prior", str(mir), "--max-epochs", "1", "prior.level=top"]) == 2
    assert "two-level" in capsys.readouterr().err
    assert main(["train-prior", str(mir), "--max-epochs", "1", "prior.mirror=rows"]) == 0
    plain, flipped = np.load(mir / "codes/train.npz"), np.load(mir / "codes/train_mirror_rows.npz")
    assert flipped["level0"].shape == plain["level0"].shape and not np.array_equal(flipped["level0"], plain["level0"])
    assert np.array_equal(flipped["position"], plain["position"])
    model = VQModel(mir)
    images = load_cached(discover_from_config(model.config, mir), "train", model.config).images[:4]
    x = torch.from_numpy(np.array(images, np.float32))[:, None]
    assert np.array_equal(model.encode(x.flip(-2))[0].numpy(), flipped["level0"][:4])


def test_jittered_training_codes(run, tmp_path, capsys):
    """prior.augment=N adds N jittered copies of the training slices' codes (odd ones mirrored when prior.mirror
    is set), each encoded from the copy made by data.augment.random_affine with its own seed; bad counts are a
    one-line error."""
    from vqmri.api import VQModel
    from vqmri.data.augment import random_affine
    from vqmri.data.datamodule import discover_from_config, load_cached

    aug = tmp_path / "aug"
    shutil.copytree(run, aug, ignore=shutil.ignore_patterns("prior"))
    for bad in ("-1", "two", "1.5"):
        assert main(["train-prior", str(aug), "--max-epochs", "1", f"prior.augment={bad}"]) == 2
        assert "prior.augment=" in capsys.readouterr().err
    assert main(["train-prior", str(aug), "--max-epochs", "1", "prior.augment=2", "prior.mirror=rows"]) == 0
    plain = np.load(aug / "codes/train.npz")
    first, second = np.load(aug / "codes/train_augment_0.npz"), np.load(aug / "codes/train_augment_1_mirror_rows.npz")
    assert first["level0"].shape == plain["level0"].shape and np.array_equal(first["position"], plain["position"])
    assert not np.array_equal(first["level0"], plain["level0"])
    assert not np.array_equal(first["level0"], second["level0"])
    model = VQModel(aug)
    images = load_cached(discover_from_config(model.config, aug), "train", model.config).images
    x = torch.from_numpy(np.array(images, np.float32))[:, None]
    expected = torch.cat([model.encode(random_affine(x[i:i + 128].flip(-2), g))[0]
                          for g in [torch.Generator().manual_seed(1001)] for i in range(0, len(x), 128)])
    assert np.array_equal(expected.numpy(), second["level0"])


def test_jitter_without_rotation(run, tmp_path, capsys):
    """prior.augment_degrees=0 jitters without tilting (registered slices keep their pose): its copies are cached
    under their own name beside the default ones, and are exactly the codes of random_affine(degrees=0)."""
    from vqmri.api import VQModel
    from vqmri.data.augment import random_affine
    from vqmri.data.datamodule import discover_from_config, load_cached

    aug = tmp_path / "aug0"
    shutil.copytree(run, aug, ignore=shutil.ignore_patterns("prior"))
    for bad in ("-3", "90", "tilt", "true"):
        assert main(["train-prior", str(aug), "--max-epochs", "1", "prior.augment=1",
                     f"prior.augment_degrees={bad}"]) == 2
        assert "prior.augment_degrees=" in capsys.readouterr().err
    assert main(["train-prior", str(aug), "--max-epochs", "1", "prior.augment=1", "prior.augment_degrees=0"]) == 0
    assert not (aug / "codes/train_augment_0.npz").exists()
    upright = np.load(aug / "codes/train_augment_0_deg0.npz")["level0"]
    model = VQModel(aug)
    images = load_cached(discover_from_config(model.config, aug), "train", model.config).images
    x = torch.from_numpy(np.array(images, np.float32))[:, None]
    g = torch.Generator().manual_seed(1000)
    expected = torch.cat([model.encode(random_affine(x[i:i + 128], g, degrees=0))[0] for i in range(0, len(x), 128)])
    assert np.array_equal(expected.numpy(), upright)
    g = torch.Generator().manual_seed(1000)
    tilted = torch.cat([model.encode(random_affine(x[i:i + 128], g))[0] for i in range(0, len(x), 128)])
    assert not np.array_equal(tilted.numpy(), upright)


def test_run_written_before_a_setting_existed_still_trains_its_prior(run, tmp_path):
    """A run folder whose config.yaml predates prior.mirror / prior.level reads them with their defaults."""
    import yaml

    old = tmp_path / "old"
    shutil.copytree(run, old, ignore=shutil.ignore_patterns("prior"))
    cfg = yaml.safe_load((old / "config.yaml").read_text())
    del cfg["prior"]["mirror"], cfg["prior"]["level"]
    (old / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train-prior", str(old), "--max-epochs", "1"]) == 0
    assert not (old / "codes/train_mirror_rows.npz").exists()


def test_anomaly_maps_scores_and_inpainting(run, tmp_path, capsys):
    import csv

    import nibabel as nib
    from conftest import write_nifti
    from PIL import Image

    healer = tmp_path / "healer"
    shutil.copytree(run, healer, ignore=shutil.ignore_patterns("prior"))
    assert "train-prior" in one_line_error(capsys, ["anomaly", str(healer), str(run), "--out", str(tmp_path / "x")])
    assert main(["train-prior", str(healer), "--max-epochs", "1", "prior.classes=2"]) == 0
    vol = next((Path(__file__).parents[1] / "src/vqmri/data/samples/brain/test").glob("*.nii.gz"))
    a = np.clip(np.asarray(nib.load(str(vol)).dataobj, np.float32)[:, :, 40] / 800, 0, 1)
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray((a * 255).astype(np.uint8)).save(inputs / "case_201_slice_3.nii.png")
    (inputs / "other").mkdir()
    Image.fromarray((a * 255).astype(np.uint8)).save(inputs / "other" / "case_201_slice_3.nii.png")  # same name
    write_nifti(inputs / "case_004_week_0_slice_1.nii.gz", a[:, :, None])
    out = tmp_path / "maps"
    capsys.readouterr()
    assert main(["anomaly", str(healer), str(inputs / "case_201_slice_3.nii.png"), str(inputs / "other"),
                 str(inputs / "case_004_week_0_slice_1.nii.gz"), "--out", str(out), "--resamples", "2"]) == 0
    with open(out / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and list(rows[0]) == ["file", "score", "replaced_fraction", "ssim", "bits_per_code"]
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0 <= float(r["replaced_fraction"]) <= 1 for r in rows)
    names = sorted(p.name for p in out.glob("*_anomaly.npy"))
    assert names == ["case_004_week_0_slice_1_anomaly.npy", "in__case_201_slice_3_anomaly.npy",
                     "other__case_201_slice_3_anomaly.npy"]
    amap = np.load(out / "in__case_201_slice_3_anomaly.npy")
    assert amap.shape == a.shape and amap.dtype == np.float32 and (amap >= 0).all()
    assert (out / "in__case_201_slice_3_healed.png").exists() and (out / "in__case_201_slice_3_anomaly.png").exists()
    nii = nib.load(str(out / "case_004_week_0_slice_1_anomaly.nii.gz"))
    assert nii.shape == (a.shape[0], a.shape[1], 1) and np.allclose(nii.affine, np.eye(4))
    record = json.loads((healer / "eval/anomaly.json").read_text())  # the report's anomaly section
    assert record["n_slices"] == 3 and record["worst"][0]["file"] == rows[0]["file"]
    page = (healer / "report.html").read_text()
    assert "Anomaly maps" in page and rows[0]["file"] in page and "current checkpoints" in page

    # the definitions at their ends: nothing unlikely enough -> nothing replaced, an all-zero map; everything -> all
    import vqmri

    model = vqmri.load(healer)
    x = model.prepare([a, a[::-1].copy()])
    none, every = vqmri.anomaly(model, x, threshold=1e-12), vqmri.anomaly(model, x, threshold=0.999999)
    assert float(none.replaced_fraction.max()) == 0 and float(none.anomaly.abs().max()) == 0
    assert torch.allclose(none.healed, model.reconstruct(x), atol=1e-5)
    assert float(every.replaced_fraction.min()) == 1 and every.nll[0].shape == (2, 8, 8)

    mask = np.zeros_like(a, np.uint8)
    mask[10:30, 12:40] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    png = inputs / "case_201_slice_3.nii.png"
    assert main(["inpaint", str(healer), str(png), "--mask", str(tmp_path / "mask.png"), "--out",
                 str(tmp_path / "fill"), "-n", "2", "--seed", "1"]) == 0
    fills = [np.asarray(Image.open(tmp_path / "fill" / f"case_201_slice_3_inpaint_{k}.png")) for k in range(2)]
    original = np.asarray(Image.open(png))
    assert all(np.array_equal(f[mask == 0], original[mask == 0]) for f in fills)  # outside the mask: untouched
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros_like(mask)).save(tmp_path / "empty.png")
    for bad, expect in (("small.png", "5x5 but the slice is"), ("empty.png", "is empty"),
                        ("none.png", "does not exist")):
        line = one_line_error(capsys, ["inpaint", str(healer), str(png), "--mask", str(tmp_path / bad), "--out",
                                  str(tmp_path / "f2")])
        assert bad in line and expect in line


def test_derived_files_follow_their_checkpoint(run, tmp_path, capsys):
    """Resume the autoencoder after its prior was fitted: the prior is refused until fitted again, and fitting it
    again encodes the code maps again instead of reusing the old ones."""
    r = tmp_path / "r"
    shutil.copytree(run, r, ignore=shutil.ignore_patterns("prior", "codes"))
    assert main(["train-prior", str(r), "--max-epochs", "1"]) == 0
    old_codes = np.load(r / "codes/train.npz")
    assert main(["train", "--resume", str(r), "--max-epochs", "5"]) == 0
    line = one_line_error(capsys, ["sample", str(r), "-n", "2", "--out", str(tmp_path / "s")])
    assert "earlier autoencoder checkpoint" in line and "train-prior" in line
    assert main(["train-prior", str(r), "--max-epochs", "1"]) == 0
    new_codes = np.load(r / "codes/train.npz")
    assert str(new_codes["checkpoint"]) != str(old_codes["checkpoint"])
    assert str(new_codes["checkpoint"]) == api.load(r).checkpoint_id
    assert main(["sample", str(r), "-n", "2", "--out", str(tmp_path / "s")]) == 0
    rows = (r / "logs/metrics.csv").read_text().splitlines()
    epochs = {int(float(x.split(",")[0])) for x in rows[1:] if x}
    assert epochs >= {0, 1, 2, 3, 4}  # the resume kept the earlier epochs' rows


def test_best_score_survives_a_moved_run():
    from vqmri.training.trainer import RunCheckpoint

    cb = RunCheckpoint(dirpath="/new/place/checkpoints", filename="best", monitor="val/ssim", mode="max")
    cb.load_state_dict({"dirpath": "/old/place/checkpoints", "best_model_score": torch.tensor(0.42),
                        "best_model_path": "/old/place/checkpoints/best.ckpt", "best_k_models": {
                            "/old/place/checkpoints/best.ckpt": torch.tensor(0.42)}})
    assert float(cb.best_model_score) == pytest.approx(0.42)
    assert cb.best_model_path.endswith("new/place/checkpoints/best.ckpt")


def test_out_folder_policy_and_lock(run, tmp_path, capsys):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    line = one_line_error(capsys, ["train", "--data", "sample:brain", "--out", str(other), *TINY, "--max-epochs", "1"])
    assert "not a vqmri run" in line and (other / "notes.txt").read_text() == "keep me"
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    assert "--force" in one_line_error(capsys, ["train", "--data", "sample:brain", "--out", str(copy), *TINY])
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (copy / ".lock").write_text(f"{sleeper.pid} vqmri train")
        line = one_line_error(capsys, ["train-prior", str(copy), "--max-epochs", "1"])
        assert f"process {sleeper.pid}" in line
    finally:
        sleeper.kill()
        sleeper.wait()
    assert main(["train-prior", str(copy), "--max-epochs", "1"]) == 0  # the dead process's lock is taken over
    assert not (copy / ".lock").exists()
    assert main(["train", "--data", "sample:brain", "--out", str(copy), "--force", *TINY, "--max-epochs", "1"]) == 0
    assert not (copy / "prior").exists()  # replaced whole


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_training_ends_in_one_line_and_resumes(tmp_path, sig, code):
    out = tmp_path / "int"
    proc, last, env = _training_until_first_checkpoint(out, stderr=subprocess.PIPE, text=True)
    proc.send_signal(sig)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted by")
    assert not (out / ".lock").exists()
    if sig == signal.SIGTERM:  # the same handler as SIGINT: resuming after it is checked once, below
        return
    epoch = torch.load(last, weights_only=False)["epoch"]
    res = subprocess.run([*VQ, "train", "--resume", str(out), "--max-epochs", str(epoch + 1)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0 and f"Resuming from epoch {epoch}" in res.stdout, res.stderr[-2000:]


def test_inputs_with_one_name_and_evaluations_of_other_data_stay_apart(run, tmp_path, capsys):
    from conftest import write_png

    a, b = tmp_path / "a" / "slice_0.png", tmp_path / "b" / "slice_0.png"
    write_png(a, (40, 40), seed=1)
    write_png(b, (40, 40), seed=2)
    assert main(["reconstruct", str(run), str(a), str(b), "--out", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").glob("*slice_0.png")) == ["a__slice_0.png", "b__slice_0.png"]
    before = (run / "eval/test/metrics.json").read_text() if (run / "eval/test/metrics.json").exists() else None
    other = Path(__file__).parents[1] / "src/vqmri/data/samples/brain"
    assert main(["evaluate", str(run), "--data", str(other), "--split", "test", "--json"]) == 0
    after = (run / "eval/test/metrics.json").read_text() if (run / "eval/test/metrics.json").exists() else None
    assert before == after and (run / "eval/test_brain/metrics.json").exists()


@pytest.mark.parametrize("image, expect", [(np.full((8, 8), np.nan), "NaN"), (np.zeros((2, 8, 8)), "2D slices"),
                                           (np.zeros((0, 8)), "2D slices"), (np.full((8, 8), 3.0), "[0, 1]")])
def test_prepare_refuses_what_it_cannot_scale(run, image, expect):
    model = api.load(run)
    with pytest.raises(VqmriError, match=expect.replace("[", r"\[").replace("]", r"\]")):
        model.prepare([image])
    as_bytes = model.prepare([np.full((40, 30), 255, np.uint8)])
    assert float(as_bytes.max()) == pytest.approx(1.0) and float(as_bytes.min()) == 0  # padding is 0


@pytest.mark.parametrize("environ, libc, thp, want", [
    ({}, "glibc 2.36", "always [madvise] never", "glibc.malloc.hugetlb=1"),
    ({}, "glibc 2.35", "[always] madvise never", "glibc.malloc.hugetlb=1"),
    ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "glibc 2.40", "always [madvise] never",
     "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"),
    ({}, "glibc 2.34", "always [madvise] never", None),              # the tunable is newer
    ({}, "musl 1.2", "always [madvise] never", None),
    ({}, "", "always [madvise] never", None),                          # not glibc at all
    ({}, "glibc 2.36", "always madvise [never]", None),              # THP off on this machine
    ({}, "glibc 2.36", None, None),                                    # THP setting unreadable
    ({"VQMRI_HUGEPAGES": "0"}, "glibc 2.36", "always [madvise] never", None),
    ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, "glibc 2.36", "always [madvise] never", None),  # the user's choice
    ({"_VQMRI_STARTED_AGAIN": "1"}, "glibc 2.36", "always [madvise] never", None),  # never a second restart
])
def test_huge_page_restart_decision(tmp_path, environ, libc, thp, want):
    from vqmri.hugepages import huge_page_env

    path = tmp_path / "enabled"
    if thp is not None:
        path.write_text(thp + "\n")
    env = huge_page_env(dict(environ, KEEP="me"), libc, str(path))
    if want is None or not sys.platform.startswith("linux"):
        assert env is None
    else:
        assert env["GLIBC_TUNABLES"] == want and env["KEEP"] == "me" and env["_VQMRI_STARTED_AGAIN"] == "1"


@pytest.mark.parametrize("switch", ["1", "0"])
def test_console_command_restarts_once_with_huge_pages(switch):
    """The console entry starts its process again with the tunable set (the same interpreter and arguments), once;
    VQMRI_HUGEPAGES=0 runs it as it is."""
    from vqmri.hugepages import huge_page_env

    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "_VQMRI_STARTED_AGAIN")}
    if huge_page_env(env) is None:
        pytest.skip("no glibc >= 2.35 with transparent huge pages here")
    code = ("import os, sys; print('tunables', os.environ.get('GLIBC_TUNABLES'), flush=True); "
            "from vqmri.cli import entry; entry()")
    res = subprocess.run([sys.executable, "-c", code, "config", "show", "--preset", "realistic"], capture_output=True,
                         text=True, env=dict(env, VQMRI_HUGEPAGES=switch), timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    starts = [line for line in res.stdout.splitlines() if line.startswith("tunables")]
    assert starts == (["tunables None", "tunables glibc.malloc.hugetlb=1"] if switch == "1" else ["tunables None"])
    assert "gan:" in res.stdout  # the command itself ran, after the restart
