"""Find the images under a path and split them by subject: OASIS, HipMRI, folder splits, or any folder.

Split policy: folder splits (`keras_png_slices_train`, `train/` ...) when present; otherwise a deterministic, seeded
subject-level split (no subject in two splits). The result is saved as `splits.json` in every run.
"""
from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadFileError, VqmriError
from . import dicom
from .readers import is_dicom, is_image, is_nifti, subject_of

SPLITS = ("train", "validate", "test")
SPLIT_ALIASES = {"train": "train", "training": "train", "validate": "validate", "validation": "validate",
                 "val": "validate", "valid": "validate", "test": "test", "testing": "test"}
SAMPLES_DIR = Path(__file__).parent / "samples"
SAMPLES = ("brain", "pelvis")


@dataclass(frozen=True)
class Source:
    """One readable input: an image file, a NIfTI file (2D or 3D) or a DICOM series folder."""

    path: str
    subject: str
    kind: str  # "image" | "nifti" | "dicom"


@dataclass
class Discovery:
    layout: str
    root: str
    splits: dict[str, list[Source]]
    split_policy: str
    ignored: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"layout": self.layout, "root": self.root, "split_policy": self.split_policy,
                "splits": {k: [s.__dict__ for s in v] for k, v in self.splits.items()}}

    @classmethod
    def from_json(cls, d: dict) -> Discovery:
        return cls(d["layout"], d["root"], {k: [Source(**s) for s in v] for k, v in d["splits"].items()},
                   d["split_policy"])

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1))

    def subjects(self, split: str) -> set[str]:
        return {s.subject for s in self.splits.get(split, [])}


def resolve_path(data: str) -> Path:
    """`sample:brain` / `sample:pelvis` name the built-in data; anything else is a filesystem path."""
    if data.startswith("sample:"):
        name = data.split(":", 1)[1]
        if name not in SAMPLES:
            raise VqmriError(f"unknown sample '{data}'; choose one of: " + ", ".join(f"sample:{s}" for s in SAMPLES))
        return SAMPLES_DIR / name
    p = Path(data).expanduser()
    if not p.exists():
        raise VqmriError(f"data path {p} does not exist; give a folder or file of MRI slices, or sample:brain")
    return p


def _dicom_sources(folder: Path, skip_bad: bool = True) -> list[Source]:
    """One source per volume of a folder's DICOM files (several series, or echoes / b-values of one, are several)."""
    try:
        found, _ = dicom.series_in(folder, skip_bad)
    except BadFileError:
        return [Source(str(folder), folder.parent.name, "dicom")]  # read (and reported) when its slices are read
    return [Source(dicom.locator(folder, key), v["patient"], "dicom") for key, v in found.items()]


LABEL_FOLDERS = {"labelstr", "labelsts", "labels", "masks", "segmentations"}  # never read as images


def _msd(root: Path, ratios, seed: int) -> Discovery | None:
    """Medical Segmentation Decathlon / nnU-Net: imagesTr/ (+ imagesTs/) of CASE_XXXX.nii.gz, XXXX the channel.
    One channel is read (the first of dataset.json's channel names / modalities, file suffix _0000); labels never.
    imagesTs is the test split; imagesTr is split by subject into train / validate (and test when there is no
    imagesTs)."""
    tr = root / "imagesTr"
    if not tr.is_dir():
        return None
    channel_name = ""
    try:
        meta = json.loads((root / "dataset.json").read_text())
        names = meta.get("channel_names") or meta.get("modality") or {}
        channel_name = str(names.get("0", "")) if isinstance(names, dict) else ""
    except (OSError, ValueError, AttributeError):
        pass

    def sources(folder: Path) -> tuple[list[Source], list[str]]:
        found, other = [], []
        for p in sorted(folder.glob("*")):
            m = re.match(r"(.+?)(?:_(\d{4}))?\.nii(\.gz)?$", p.name)
            if not m or (m.group(2) not in (None, "0000")):
                other.append(str(p))
                continue
            found.append(Source(str(p), m.group(1), "nifti"))
        return found, other

    train, ignored = sources(tr)
    if not train:
        raise VqmriError(f"{tr} holds no CASE_0000.nii.gz images; expected the Medical Segmentation Decathlon / "
                         "nnU-Net layout")
    test, more = sources(root / "imagesTs") if (root / "imagesTs").is_dir() else ([], [])
    if test:
        t, v = ratios[0], ratios[1]
        splits = seeded_split(train, (t / (t + v), v / (t + v), 0.0), seed)
        splits["train"] += splits.pop("test")
        splits["test"] = test
    else:
        splits = seeded_split(train, ratios, seed)
    policy = "msd: imagesTs is test; imagesTr split by subject" + (f"; channel 0000 ({channel_name})"
                                                                     if channel_name else "; channel 0000")
    return Discovery("msd", str(root), splits, policy, ignored + more)


def scan(root: Path) -> tuple[list[Source], list[str]]:
    """All sources below `root` (a file or a folder), plus the non-image files that were ignored."""
    if root.is_file():
        if is_nifti(root):
            return [Source(str(root), subject_of(root), "nifti")], []
        if is_image(root):
            return [Source(str(root), subject_of(root), "image")], []
        if is_dicom(root):
            where, series = dicom.series_of_file(root)  # the folder's headers read once
            return [Source(where, series["patient"], "dicom")], []
        raise VqmriError(f"{root} is not a recognised image; give PNG/JPEG/TIFF, NIfTI (.nii/.nii.gz) or DICOM")
    sources, ignored = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and "_seg" not in d
                             and d.lower() not in LABEL_FOLDERS)
        d = Path(dirpath)
        has_dicom = False
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = d / name
            if is_nifti(p):
                sources.append(Source(str(p), subject_of(p), "nifti"))
            elif is_image(p):
                sources.append(Source(str(p), subject_of(p), "image"))
            elif is_dicom(p):
                has_dicom = True
            else:
                ignored.append(str(p))
        if has_dicom:
            sources += _dicom_sources(d)
    return sources, ignored


def seeded_split(sources: list[Source], ratios=(0.8, 0.1, 0.1), seed: int = 0) -> dict[str, list[Source]]:
    """Deterministic subject-level split: subjects sorted, shuffled with `seed`, cut by `ratios`."""
    subjects = sorted({s.subject for s in sources})
    random.Random(seed).shuffle(subjects)
    n = len(subjects)
    n_val = int(round(ratios[1] * n)) if n >= 3 else 0
    n_test = int(round(ratios[2] * n)) if n >= 2 else 0
    n_val, n_test = max(n_val, 1 if n >= 3 else 0), max(n_test, 1 if n >= 2 else 0)
    which = {}
    for i, s in enumerate(subjects):
        which[s] = "validate" if i < n_val else "test" if i < n_val + n_test else "train"
    out = {k: [] for k in SPLITS}
    for s in sources:
        out[which[s.subject]].append(s)
    return out


def _named_splits(root: Path, prefix: str) -> dict[str, Path]:
    found = {}
    for d in root.iterdir() if root.is_dir() else []:
        if not d.is_dir():
            continue
        name = d.name.lower()
        if prefix:
            if not name.startswith(prefix) or "_seg" in name:
                continue
            name = name[len(prefix):]
        if name in SPLIT_ALIASES:
            found[SPLIT_ALIASES[name]] = d
    return found


def discover(data: str, ratios=(0.8, 0.1, 0.1), seed: int = 0) -> Discovery:
    """Detect the layout under `data` and return its sources, split by subject."""
    root = resolve_path(data)
    msd = _msd(root, ratios, seed) if root.is_dir() else None
    if msd is not None:
        return msd
    for layout, prefix in (("oasis", "keras_png_slices_"), ("hipmri", "keras_slices_"), ("folder", "")):
        named = _named_splits(root, prefix)
        if named:
            splits, ignored = {}, []
            for split, d in named.items():
                splits[split], ign = scan(d)
                ignored += ign
            all_sources = [s for v in splits.values() for s in v]
            if not all_sources:
                raise VqmriError(f"no recognised images in the split folders under {root}; expected PNG, NIfTI or "
                                 "DICOM files")
            if layout == "folder":
                layout = "sample" if data.startswith("sample:") else _kind_layout(all_sources)
            for k in SPLITS:
                splits.setdefault(k, [])
            return Discovery(layout, str(root), splits, "folder", ignored)
    if root.is_dir() and not any(root.iterdir()):
        raise VqmriError(f"folder {root} is empty; put PNG, NIfTI or DICOM files in it")
    sources, ignored = scan(root)
    if not sources:
        shown = ", ".join(Path(p).name for p in ignored[:3]) + (" ..." if len(ignored) > 3 else "")
        raise VqmriError(f"no recognised images in {root} (found only: {shown or 'nothing'}); "
                         "vqmri reads PNG/JPEG/TIFF, NIfTI (.nii/.nii.gz) and DICOM series")
    return Discovery(_kind_layout(sources), str(root), seeded_split(sources, ratios, seed), "seeded", ignored)


def _kind_layout(sources: list[Source]) -> str:
    kinds = {s.kind for s in sources}
    return {"nifti": "nifti", "dicom": "dicom"}.get(kinds.pop(), "folder") if len(kinds) == 1 else "folder"
