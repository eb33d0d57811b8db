import json

import numpy as np
from conftest import SHARED, brain_volume, needs_shared, write_nifti, write_png

from vqmri.cli import main
from vqmri.data.layouts import discover, seeded_split


def _oasis(root, cases=((1, "train"), (2, "train"), (5, "validate"), (9, "test")), n=3):
    for case, split in cases:
        for z in range(n):
            write_png(root / f"keras_png_slices_{split}" / f"case_{case:03d}_slice_{z}.nii.png", (64, 64),
                      seed=case * 10 + z)
            write_png(root / f"keras_png_slices_seg_{split}" / f"case_{case:03d}_slice_{z}.nii.png", (64, 64))
    return root


def test_oasis_layout_folder_splits_and_seg_ignored(tmp_path, capsys):
    root = _oasis(tmp_path / "oasis")
    assert main(["data", "inspect", str(root), "--json", "--image-size", "32"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["layout"] == "oasis"
    assert rep["splits"] == {"train": {"subjects": 2, "slices": 6}, "validate": {"subjects": 1, "slices": 3},
                             "test": {"subjects": 1, "slices": 3}}
    assert rep["total"] == {"subjects": 4, "slices": 12} and rep["shapes"] == {"64x64": 12}


def test_hipmri_layout_mixed_sizes_and_weeks_in_one_subject(tmp_path, capsys):
    rng = np.random.default_rng(0)
    root = tmp_path / "hip"
    for split, case in (("train", 4), ("validate", 7), ("test", 9)):
        for week, shape in ((0, (256, 128)), (1, (256, 144, 1))):
            for z in range(2):
                write_nifti(root / f"keras_slices_{split}" / f"case_{case:03d}_week_{week}_slice_{z}.nii.gz",
                            (rng.random(shape) * 200).astype(np.float32))
    assert main(["data", "inspect", str(root), "--json", "--image-size", "32", "--montage",
                 str(tmp_path / "m.png")]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["layout"] == "hipmri"
    assert rep["splits"]["train"] == {"subjects": 1, "slices": 4}
    assert rep["shapes"] == {"256x128": 6, "256x144": 6}
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_seeded_subject_split_is_deterministic_and_disjoint(tmp_path):
    for s in range(10):
        write_nifti(tmp_path / "vols" / f"sub{s:02d}.nii.gz", brain_volume((24, 24, 12), seed=s))
    a, b = discover(str(tmp_path / "vols"), seed=3), discover(str(tmp_path / "vols"), seed=3)
    assert a.layout == "nifti" and a.split_policy == "seeded"
    assert a.to_json() == b.to_json()
    subj = [a.subjects(k) for k in ("train", "validate", "test")]
    assert [len(s) for s in subj] == [8, 1, 1] and not (subj[0] & subj[1] or subj[0] & subj[2] or subj[1] & subj[2])
    assert discover(str(tmp_path / "vols"), seed=4).to_json() != a.to_json()


def test_split_never_puts_one_subject_in_two_splits():
    from vqmri.data.layouts import Source

    sources = [Source(f"/x/case_{c:03d}_slice_{z}.png", f"case_{c:03d}", "image") for c in range(20) for z in range(5)]
    splits = seeded_split(sources, seed=1)
    owners = {}
    for name, items in splits.items():
        for s in items:
            assert owners.setdefault(s.subject, name) == name


def test_builtin_samples_have_fixed_subject_splits(capsys):
    assert main(["data", "inspect", "sample:brain", "--json", "--image-size", "32"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["layout"] == "sample" and rep["total"]["subjects"] == 10
    assert {k: v["subjects"] for k, v in rep["splits"].items()} == {"train": 6, "validate": 2, "test": 2}


@needs_shared
def test_real_oasis_counts(capsys):
    assert main(["data", "inspect", str(SHARED / "oasis"), "--json", "--image-size", "32"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["layout"] == "oasis"
    assert {k: (v["subjects"], v["slices"]) for k, v in rep["splits"].items()} == {
        "train": (171, 5472), "validate": (19, 608), "test": (23, 736)}
    assert rep["shapes"] == {"256x256": 6816}


@needs_shared
def test_real_prostatex_dicom_layout(capsys):
    assert main(["data", "inspect", str(SHARED / "prostatex"), "--json", "--image-size", "32"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["layout"] == "dicom" and rep["total"]["subjects"] == 2
    assert list(rep["shapes"]) == ["384x384"]


def test_medical_segmentation_decathlon_layout(tmp_path, capsys):
    root = tmp_path / "Task05_Prostate"
    for i in range(6):
        for ch in ("0000", "0001"):
            write_nifti(root / "imagesTr" / f"prostate_{i:02d}_{ch}.nii.gz", brain_volume(seed=i))
        write_nifti(root / "labelsTr" / f"prostate_{i:02d}.nii.gz", (brain_volume(seed=i) > 0).astype(np.uint8))
    write_nifti(root / "imagesTs" / "prostate_90_0000.nii.gz", brain_volume(seed=9))
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "T2", "1": "ADC"}}))
    found = discover(str(root))
    every = [s for v in found.splits.values() for s in v]
    assert found.layout == "msd" and "T2" in found.split_policy
    assert [s.subject for s in found.splits["test"]] == ["prostate_90"]
    assert sorted(s.subject for s in every) == sorted({f"prostate_{i:02d}" for i in range(6)} | {"prostate_90"})
    assert all(s.path.endswith("_0000.nii.gz") and "labels" not in s.path for s in every)
    assert found.splits["train"] and found.splits["validate"]
    assert sum(p.endswith("_0001.nii.gz") for p in found.ignored) == 6
    # a plain folder scan never takes label folders for images either
    for i in range(3):
        write_nifti(tmp_path / "plain/images" / f"s{i}.nii.gz", brain_volume(seed=i))
        write_nifti(tmp_path / "plain/labels" / f"s{i}.nii.gz", (brain_volume(seed=i) > 0).astype(np.uint8))
    plain = [s.path for v in discover(str(tmp_path / "plain")).splits.values() for s in v]
    assert len(plain) == 3 and all("/images/" in p for p in plain)
    capsys.readouterr()
    assert main(["data", "inspect", str(root)]) == 0
    assert "msd" in capsys.readouterr().out
