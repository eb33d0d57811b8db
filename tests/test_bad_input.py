"""Every user mistake ends in one line naming the file and the fix, exit code 2, no traceback."""
from pathlib import Path

import numpy as np
import pytest
from conftest import brain_volume, write_nifti, write_png

from vqmri.cli import main


def _err(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_missing_path(capsys, tmp_path):
    line = _err(capsys, ["data", "inspect", str(tmp_path / "nope")])
    assert "nope does not exist" in line and "sample:brain" in line


def test_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "is empty" in _err(capsys, ["data", "inspect", str(tmp_path / "empty")])


def test_folder_without_images(capsys, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("hi")
    line = _err(capsys, ["data", "inspect", str(tmp_path / "docs")])
    assert "no recognised images" in line and "notes.txt" in line


def test_corrupt_png_names_file_and_skip_bad_reports_it(capsys, corrupt_png):
    write_png(corrupt_png.parent / "case_002_slice_0.nii.png", (16, 16))
    line = _err(capsys, ["data", "inspect", str(corrupt_png.parent), "--image-size", "16"])
    assert str(corrupt_png) in line and "--skip-bad" in line
    assert main(["data", "inspect", str(corrupt_png.parent), "--image-size", "16", "--skip-bad", "--json"]) == 0
    cap = capsys.readouterr()
    assert "skipped 1 unreadable file" in cap.err and corrupt_png.name in cap.err
    assert '"slices": 1' in cap.out


def test_truncated_nifti(capsys, truncated_nifti):
    line = _err(capsys, ["data", "inspect", str(truncated_nifti.parent), "--image-size", "16"])
    assert str(truncated_nifti) in line and "NIfTI" in line


def test_4d_nifti(capsys, tmp_path):
    write_nifti(tmp_path / "d" / "fmri.nii.gz", np.zeros((8, 8, 8, 4), np.float32))
    line = _err(capsys, ["data", "inspect", str(tmp_path / "d"), "--image-size", "16"])
    assert "fmri.nii.gz" in line and "4D" in line and "3D volumes" in line


def test_nan_voxels(capsys, tmp_path):
    v = brain_volume().astype(np.float32)
    v[0, 0, 0] = np.nan
    write_nifti(tmp_path / "d" / "nan.nii.gz", v)
    line = _err(capsys, ["data", "inspect", str(tmp_path / "d"), "--image-size", "16"])
    assert "nan.nii.gz" in line and "NaN" in line


def test_non_image_files_mixed_in_are_named_and_ignored(capsys, tmp_path):
    write_png(tmp_path / "d" / "case_001_slice_0.nii.png", (16, 16))
    (tmp_path / "d" / "README.md").write_text("x")
    assert main(["data", "inspect", str(tmp_path / "d"), "--image-size", "16", "--json"]) == 0
    cap = capsys.readouterr()
    assert "ignored 1 non-image file(s)" in cap.err and "README.md" in cap.err
    assert '"slices": 1' in cap.out


@pytest.mark.parametrize("argv, expect", [
    (["train", "--data", "sample:nothing", "--out", "x"], "unknown sample"),
    (["train", "--data", "sample:brain", "--out", "x", "model.downsample=3"], "invalid model settings"),
    (["train", "--data", "sample:brain", "--out", "x", "train.nonsense=1"], "unknown setting 'train.nonsense'"),
    (["train", "--data", "sample:brain", "--preset", "huge", "--out", "x"], "unknown preset 'huge'"),
    (["evaluate", "not_a_run"], "not a vqmri run folder"),
    (["sample", "not_a_run", "-n", "2", "--out", "x"], "not a vqmri run folder"),
])
def test_command_mistakes(capsys, tmp_path, monkeypatch, argv, expect):
    monkeypatch.chdir(tmp_path)
    assert expect in _err(capsys, argv)
    assert not (tmp_path / "x").exists()  # a mistake leaves no half-made run folder behind


def test_unknown_flag_is_a_usage_error_not_an_override(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train-prior", "some_run", "--max-minutes", "1", "--bogus"])
    assert e.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_run_whose_data_has_moved(capsys, run, tmp_path):
    """A run remembers its files in splits.json; if they are gone, commands that read them say which and how to
    fix it, rather than failing deep in the cache."""
    import json
    import shutil

    moved = tmp_path / "moved_run"
    shutil.copytree(run, moved)
    splits = json.loads((moved / "splits.json").read_text())
    first = splits["splits"]["test"][0]["path"]
    folder = str(Path(first).parent)
    (moved / "splits.json").write_text((moved / "splits.json").read_text().replace(folder, str(tmp_path / "gone")))
    line = _err(capsys, ["evaluate", str(moved), "--split", "test"])
    assert str(tmp_path / "gone") in line and "no longer exists" in line and "put the data back" in line
