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
    (["train", "--data", "sample:brain", "--out", "x", "model.downsample=3"], "model.downsample=3"),
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


def _bad_values(schema: dict) -> list[str]:
    """Values a setting must refuse, from its JSON schema: a wrong type and, where it has one, out of range."""
    options = schema.get("anyOf", [schema])
    kinds = {o.get("type") for o in options}
    kinds |= {"enum"} if any("enum" in o or "const" in o for o in options) else set()
    if "enum" in kinds:
        return ["not_a_choice"]
    if kinds & {"integer", "number"}:
        s = next(o for o in options if o.get("type") in ("integer", "number"))
        lo = next((s[k] for k in ("minimum", "exclusiveMinimum", "ge", "gt") if k in s), None)
        hi = next((s[k] for k in ("maximum", "exclusiveMaximum", "le", "lt") if k in s), None)
        return ["abc", "[1,2]", "true"] + ([str(lo - 1)] if lo is not None else []) + (
            [str(hi * 2 + 1)] if hi is not None else []) + (["nan"] if "number" in kinds else ["1.5"])
    if "boolean" in kinds:
        return ["maybe", "3"]
    if "array" in kinds:
        return ["abc", "[]", "[-1,8]"]
    if "string" in kinds:
        return ["[1]"]
    return ["abc"]  # free-form settings with a checker of their own (train.devices)


def _schema_cases():
    from vqmri.config import Config

    cases = []
    for section, cls in Config.sections().items():
        props = cls.model_json_schema()["properties"]
        for key in props:
            if (section, key) != ("data", "path"):
                cases += [(f"{section}.{key}", bad) for bad in _bad_values(props[key])]
    return cases


def test_the_schema_cases_cover_every_setting():
    from vqmri.config import Config

    covered = {key for key, _ in _schema_cases()}
    every = {f"{s}.{k}" for s, cls in Config.sections().items() for k in cls.model_fields} - {"data.path"}
    assert covered == every and len(_schema_cases()) > 3 * len(every)


@pytest.mark.parametrize("key, bad", _schema_cases())
def test_every_setting_refuses_bad_values_before_anything_is_written(capsys, tmp_path, key, bad):
    out = tmp_path / "run"
    line = _err(capsys, ["train", "--data", "sample:brain", "--out", str(out), f"{key}={bad}"])
    assert key in line
    assert not out.exists()


@pytest.mark.parametrize("text, expect", [
    ("train:\n  lr: 0.001\n  batchsize: 8\n", "unknown setting 'train.batchsize'"),
    ("train:\n  lr: fast\n", "train.lr='fast'"),
    ("trainer:\n  lr: 0.1\n", "unknown section 'trainer'"),
    ("- train\n- model\n", "must be a mapping"),
    ("model: 3\n", "section 'model' must be a mapping"),
    ("train: {lr: [\n", "not valid YAML"),
])
def test_yaml_config_mistakes_end_in_one_line_and_no_run_folder(capsys, tmp_path, text, expect):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    out = tmp_path / "run"
    assert expect in _err(capsys, ["train", "--data", "sample:brain", "--config", str(cfg), "--out", str(out)])
    assert not out.exists()


@pytest.mark.parametrize("flags, expect", [(["--max-epochs", "0"], "train.max_epochs=0"),
                                           (["--max-minutes", "-1"], "train.max_minutes=-1"),
                                           (["--image-size", "7"], "data.image_size=7"),
                                           (["--image-size", "102"], "data.image_size=102"),
                                           (["--image-size", "-32"], "data.image_size=-32")])
def test_bad_flags_are_checked_like_settings(capsys, tmp_path, flags, expect):
    out = tmp_path / "run"
    assert expect in _err(capsys, ["train", "--data", "sample:brain", "--out", str(out), *flags])
    assert not out.exists()


def test_presets_are_valid_and_config_show_prints_them(capsys):
    from vqmri.config import PRESETS

    for name in PRESETS:
        assert main(["config", "show", "--preset", name]) == 0
        assert f"preset: {name}" in capsys.readouterr().out
    assert "unknown setting 'gan.wieght'" in _err(capsys, ["config", "show", "gan.wieght=1"])


@pytest.mark.parametrize("override, expect", [("prior.kernel_size=4", "prior.kernel_size=4"),
                                              ("prior.layers=abc", "prior.layers='abc'"),
                                              ("model.codebook_size=128", "belongs to the autoencoder"),
                                              ("prior.arch=rnn", "prior.arch='rnn'")])
def test_train_prior_refuses_bad_settings_and_leaves_the_run_as_it_was(capsys, run, override, expect):
    before = (run / "config.yaml").read_text()
    assert expect in _err(capsys, ["train-prior", str(run), "--max-epochs", "1", override])
    assert (run / "config.yaml").read_text() == before


@pytest.mark.parametrize("make, expect", [
    (lambda d: write_png(d / "tiny.png", (1, 1)), "1x1 px"),
    (lambda d: write_png(d / "strip.png", (4, 90)), "4x90 px"),
    # a 2D slice stored as (1, H, W): along the default axis it is H slices of 1 x W
    (lambda d: write_nifti(d / "flat.nii.gz", np.random.default_rng(0).random((1, 40, 30)).astype(np.float32)),
     "axis"),
], ids=["1x1-png", "thin-png", "1xHxW-nifti"])
def test_slices_smaller_than_the_ssim_window_are_refused_before_any_work(capsys, tmp_path, make, expect):
    d = tmp_path / "in"
    d.mkdir()
    make(d)
    line = _err(capsys, ["train", "--data", str(d), "--out", str(tmp_path / "run"), "--image-size", "16"])
    assert expect in line and "SSIM window" in line
    assert not (tmp_path / "run").exists()
    line = _err(capsys, ["data", "inspect", str(d), "--image-size", "16"])
    assert "SSIM window" in line


def _numeric_flag_cases():
    """Every numeric flag of every command, read from the parser, with values that command must refuse."""
    import argparse

    from vqmri.arguments import build_parser
    from vqmri.cli import COMMANDS

    parser = build_parser(COMMANDS)
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    cases = []
    for name, sub in subs.items():
        if name == "data":
            sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices["inspect"]
            name = "data inspect"
        for action in sub._actions:
            flag = action.option_strings[-1] if action.option_strings else None
            if flag is None or action.type in (None, str) or flag in ("--seed", "--split-seed", "--num-nodes"):
                continue  # every typed flag is numeric; seeds take any integer
            real = action.type is float or action.type.__name__ == "_temperatures"
            for bad in ["abc", "-1"] + (["nan", "inf"] if real else []):
                cases.append(pytest.param(name, flag, bad, id=f"{name}-{flag}={bad}"))
    return cases


@pytest.mark.parametrize("command, flag, bad", _numeric_flag_cases())
def test_every_numeric_flag_of_every_command_refuses_bad_values_and_writes_nothing(capsys, with_prior, tmp_path,
                                                                                  command, flag, bad):
    """Generated from the parser: one wrong value for one flag ends the command with exit 2 and no traceback, and
    neither the run folder nor --out is touched."""
    import hashlib

    def state():
        return {str(p.relative_to(with_prior)): hashlib.md5(p.read_bytes()).hexdigest()
                for p in sorted(with_prior.rglob("*")) if p.is_file() and p.name != ".lock"}

    before = state()
    first = str(with_prior)
    png = tmp_path / "in" / "case_001_slice_0.png"
    write_png(png, (32, 32))
    out = tmp_path / "out"
    positional = {"data inspect": [str(png.parent)], "train": ["--data", "sample:brain"], "demo": [],
                  "reconstruct": [first, str(png)], "anomaly": [first, str(png)],
                  "inpaint": [first, str(png), "--mask", str(png)],
                  "evaluate-samples": [first, str(png.parent)]}.get(command, [first])
    outs = [] if command in ("evaluate", "evaluate-prior", "evaluate-samples", "data inspect", "train-prior",
                             "report") else ["--out", str(out)]
    argv = [*command.split(), *positional, *outs, flag, bad]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: a value of the wrong type is a usage error
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, (argv, err)
    assert not out.exists() and state() == before, argv
