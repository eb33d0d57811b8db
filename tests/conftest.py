"""Shared fixtures: an isolated slice cache per test session, tiny real-format data builders, ../shared paths."""
import gzip
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ["VQMRI_CACHE_DIR"] = tempfile.mkdtemp(prefix="vqmri-cache-")
# Under pytest-xdist (`-n 2`, the Makefile's default) each worker gets one of the two cores: OpenMP threads that
# outnumber the cores spin against each other and make the classifier tests ten times slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
else:
    os.environ.setdefault("OMP_NUM_THREADS", "2")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent (fresh clone)")


def write_png(path: Path, shape=(32, 32), seed=0, bits=8):
    from PIL import Image

    rng = np.random.default_rng(seed)
    a = rng.random(shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    if bits == 16:
        Image.fromarray((a * 65535).astype(np.uint16)).save(path)
    else:
        Image.fromarray((a * 255).astype(np.uint8)).save(path)
    return a


def write_nifti(path: Path, data: np.ndarray, affine=None):
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def brain_volume(shape=(40, 40, 30), seed=0) -> np.ndarray:
    """A synthetic head: an ellipsoid of tissue with texture, empty slices at both ends of the last axis."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    inside = (z ** 2 / 0.8 + y ** 2 / 0.6 + x ** 2 / 0.5) < 1
    return (inside * (100 + 20 * rng.random(shape))).astype(np.int16)


TINY = ["--preset", "sample", "--image-size", "32", "model.channels=[16,32]", "model.codebook_size=64",
        "model.res_channels=16", "train.batch_size=32", "prior.channels=16", "prior.layers=3", "prior.kernel_size=3"]


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    """A tiny VQ-VAE trained for 3 epochs on sample:brain at 32 px, shared by the end-to-end tests."""
    from vqmri.cli import main

    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", "--data", "sample:brain", "--out", str(out), "--max-epochs", "3", *TINY]) == 0
    return out


@pytest.fixture(scope="session")
def with_prior(run, tmp_path_factory):
    """A copy of `run` with a tiny 2-class prior (one epoch); for read-only commands that need a prior."""
    import shutil

    from vqmri.cli import main

    out = tmp_path_factory.mktemp("with_prior") / "run"
    shutil.copytree(run, out, ignore=shutil.ignore_patterns("prior", "codes"))
    assert main(["train-prior", str(out), "--max-epochs", "1", "prior.classes=2"]) == 0
    return out


@pytest.fixture
def corrupt_png(tmp_path):
    p = tmp_path / "bad" / "case_001_slice_0.nii.png"
    p.parent.mkdir()
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    return p


@pytest.fixture
def truncated_nifti(tmp_path):
    good = write_nifti(tmp_path / "ok.nii.gz", brain_volume())
    data = good.read_bytes()
    p = tmp_path / "trunc" / "vol.nii.gz"
    p.parent.mkdir()
    p.write_bytes(data[: len(data) // 3])
    good.unlink()
    return p


def one_line_error(capsys, argv) -> str:
    """Run `vqmri argv` in-process; assert exit 2 and exactly one line on stderr, no traceback; return the line."""
    from vqmri.cli import main

    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


__all__ = ["one_line_error", "SHARED", "needs_shared", "write_png", "write_nifti", "brain_volume", "gzip"]
