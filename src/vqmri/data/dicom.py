"""DICOM as it arrives: files recognised by content (the 'DICM' marker), not by suffix (`.dcm`, `.IMA`, none,
numbered); a folder's files grouped into series by SeriesInstanceUID and, where one series holds several images at
one position (echoes, b-values), into one volume per echo / b-value; enhanced multi-frame files read as a volume.

A series is addressed by a locator: the folder itself where it holds one series, else `FOLDER::KEY`
(`locator`, `split_locator`), so a study folder of several series is several volumes everywhere a path is used."""
from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import BadFileError

SEP = "::"
# suffixes that are never DICOM: no need to open them (a folder of PNGs is not read byte by byte)
NOT_DICOM = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".nii", ".gz", ".json", ".txt", ".csv", ".md",
             ".yaml", ".yml", ".npy", ".npz", ".html", ".xml", ".zip", ".pdf", ".py", ".log", ".ckpt", ".tsv"}
DECODERS_HINT = ("install the optional decoders for compressed DICOM: pip install 'vqmri[dicom]' (pylibjpeg, "
                 "pylibjpeg-libjpeg, pylibjpeg-openjpeg), or convert the series to uncompressed DICOM or NIfTI")


def is_dicom(path: Path) -> bool:
    """A DICOM file by its content (the 'DICM' marker at byte 128); `.dcm` files always count, so that a damaged
    one is reported as a damaged DICOM rather than ignored."""
    path = Path(path)
    if path.suffix.lower() == ".dcm":
        return True
    if path.suffix.lower() in NOT_DICOM or path.name.lower().endswith(".nii.gz"):
        return False
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def locator(folder: Path, key: str | None) -> str:
    return str(folder) if key is None else f"{folder}{SEP}{key}"


def split_locator(text: str | Path) -> tuple[Path, str | None]:
    text = str(text)
    if SEP in text:
        folder, key = text.rsplit(SEP, 1)
        return Path(folder), key
    return Path(text), None


def _pydicom():
    """pydicom, its validation chatter about odd headers (which we report ourselves, per file) kept off the screen."""
    import pydicom

    logging.getLogger("pydicom").setLevel(logging.ERROR)
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    return pydicom


def _header(f: Path):
    pydicom = _pydicom()

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(str(f), stop_before_pixels=True)
    except Exception as e:
        raise BadFileError(f, f"not a readable DICOM file ({type(e).__name__}: {str(e)[:80]})") from None


def _position(ds) -> float:
    ipp = np.array(getattr(ds, "ImagePositionPatient", [0, 0, 0]), dtype=float)
    iop = np.array(getattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), dtype=float)
    return float(ipp @ np.cross(iop[:3], iop[3:]))


def _variant(ds) -> str:
    """What tells apart images at one position inside one series: echo, b-value, or temporal position."""
    parts = []
    for tag, name in (("EchoNumbers", "echo"), ("EchoTime", "te"), ("DiffusionBValue", "b"),
                      ("TemporalPositionIdentifier", "t")):
        v = getattr(ds, tag, None)
        if v not in (None, ""):
            parts.append(f"{name}{v}")
    return "-".join(parts)


def series_in(folder: Path, skip_bad: bool = False) -> tuple[dict[str | None, dict], list[str]]:
    """The volumes of a folder's DICOM files, {key: {"files": [...], "description": str, "patient": str}} (the key
    is None when the folder holds a single volume), and the unreadable files left out with `skip_bad` (without it,
    the first is a BadFileError)."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".") and is_dicom(p))
    if not files:
        raise BadFileError(folder, "no DICOM files in this folder", "point vqmri at a folder holding DICOM series")
    groups: dict[str, list] = defaultdict(list)
    skipped = []
    for f in files:
        try:
            ds = _header(f)
        except BadFileError:
            if not skip_bad:
                raise
            skipped.append(str(f))
            continue
        groups[str(getattr(ds, "SeriesInstanceUID", "") or "series")].append((f, ds))
    volumes: dict[str | None, dict] = {}
    for uid, items in groups.items():
        positions = [_position(ds) for _, ds in items]
        split = len(set(positions)) < len(positions) and int(getattr(items[0][1], "NumberOfFrames", 1) or 1) == 1
        by_variant: dict[str, list] = defaultdict(list)
        for f, ds in items:
            by_variant[_variant(ds) if split else ""].append((f, ds))
        for variant, part in by_variant.items():
            ds0 = part[0][1]
            number = str(getattr(ds0, "SeriesNumber", "") or "")
            desc = "-".join(t for t in (number, str(getattr(ds0, "SeriesDescription", "") or "")) if t) or "series"
            volumes[f"{uid}/{variant}" if variant else uid] = {
                "files": [f for f, _ in part], "description": desc + (f"_{variant}" if variant else ""),
                "patient": str(getattr(ds0, "PatientID", "") or Path(folder).parent.name)}
    if not volumes:
        raise BadFileError(folder, "no readable DICOM file in this folder", "check the files, or drop --skip-bad")
    if len(volumes) == 1:
        volumes = {None: next(iter(volumes.values()))}
    return volumes, skipped


def series_of_file(path: Path) -> tuple[str, dict]:
    """The locator of the series a single DICOM file belongs to, and that series' record (see `series_in`)."""
    path = Path(path)
    found, _ = series_in(path.parent, skip_bad=True)
    for key, v in found.items():
        if path in v["files"]:
            return locator(path.parent, key), v
    raise BadFileError(path, "not a readable DICOM file", "check the file")


def load_volume(where: str | Path, skip_bad: bool = False
                ) -> tuple[np.ndarray, tuple[float, float], str, list[str], np.ndarray]:
    """One series (a locator) -> (volume (Z, rows, cols) in scanner units, pixel spacing, PatientID, skipped files,
    the array axes in RAS mm: see `_axes`). Slices are sorted by ImagePositionPatient projected on the slice normal;
    rescale slope / intercept applied."""
    pydicom = _pydicom()

    folder, key = split_locator(where)
    found, skipped = series_in(folder, skip_bad)
    if key is None and len(found) > 1:
        names = ", ".join(sorted(v["description"] for v in found.values()))
        raise BadFileError(folder, f"holds {len(found)} series ({names})",
                           "pass the folder to --data (each series is read as its own volume) or one series each")
    if key is not None and key not in found:
        raise BadFileError(folder, f"no DICOM series {key} in it any more", "run the command on the folder again")
    files = found[key if key is not None else next(iter(found))]["files"]
    items, errors = [], []
    for f in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(str(f))
                px = _pixels(ds, f)
        except Exception as e:
            err = e if isinstance(e, BadFileError) else BadFileError(
                f, f"not a readable DICOM image ({type(e).__name__}: {str(e)[:80]})")
            if not skip_bad:
                raise err from None
            skipped.append(str(f))
            errors.append(err)
            continue
        slope, intercept = _rescale(ds)
        px = px * slope + intercept
        if px.ndim == 3:  # enhanced multi-frame: one file, one volume
            items += [(z, frame, ds) for z, frame in zip(_frame_positions(ds, len(px)), px)]
        else:
            items.append((_position(ds), px, ds))
    if not items:
        raise errors[0] if errors else BadFileError(folder, "no readable DICOM image in this series", "check the files")
    if len(files) > 1 and any(it[1].ndim != 2 for it in items):
        raise BadFileError(folder, "mixes multi-frame and single-frame files in one series", "keep them apart")
    shapes = {it[1].shape for it in items}
    if len(shapes) > 1:
        raise BadFileError(folder, f"the series mixes image sizes {sorted(shapes)}", "keep one series per folder")
    zs = [it[0] for it in items]
    if len(set(zs)) < len(zs) and len(files) > 1:
        raise BadFileError(folder, "holds several images at one slice position that no echo number, echo time or "
                           "b-value tells apart", "put each volume in a folder of its own")
    items.sort(key=lambda t: t[0])
    vol = np.stack([it[1] for it in items], axis=0).astype(np.float32)
    ds0 = items[0][2]
    spacing = tuple(float(s) for s in (getattr(ds0, "PixelSpacing", None) or _shared_spacing(ds0) or [1.0, 1.0]))
    steps = np.diff(sorted(zs))
    step = float(np.median(steps)) if len(steps) and np.median(steps) > 0 else float(
        getattr(ds0, "SliceThickness", None) or 1.0)
    return vol, spacing, str(getattr(ds0, "PatientID", "") or folder.parent.name), skipped, _axes(ds0, spacing, step)


def _axes(ds, spacing: tuple[float, float], step: float) -> np.ndarray:
    """The volume's array axes (slice, row, column) in RAS millimetres, as the columns of a 3x3 matrix: the slice
    normal times the slice step, the column direction times the row spacing, the row direction times the column
    spacing (DICOM's LPS flipped to RAS). Without an orientation tag, an axial stack."""
    iop = getattr(ds, "ImageOrientationPatient", None)
    if iop is None:
        try:
            iop = ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
        except (AttributeError, IndexError, KeyError):
            iop = [1, 0, 0, 0, 1, 0]
    iop = np.array(iop, dtype=float)
    row, col = iop[:3], iop[3:]
    lps = np.stack([np.cross(row, col) * step, col * spacing[0], row * spacing[1]], axis=1)
    return lps * np.array([-1.0, -1.0, 1.0])[:, None]


def _pixels(ds, f: Path) -> np.ndarray:
    try:
        px = ds.pixel_array.astype(np.float32)
    except Exception as e:
        text = str(e)
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        missing = any(w in text.lower() for w in ("decod", "plugin", "handler"))
        if syntax is not None and syntax.is_compressed and missing:
            raise BadFileError(f, f"compressed DICOM ({syntax.name}) without a decoder", DECODERS_HINT) from None
        raise
    if px.ndim == 4 or (px.ndim == 3 and int(getattr(ds, "NumberOfFrames", 1) or 1) == 1):
        raise BadFileError(f, f"holds colour or multi-channel pixels {px.shape}", "give greyscale MR images")
    return px


def _rescale(ds) -> tuple[float, float]:
    slope, intercept = getattr(ds, "RescaleSlope", None), getattr(ds, "RescaleIntercept", None)
    if slope is None:
        try:
            t = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
            slope, intercept = t.RescaleSlope, t.RescaleIntercept
        except (AttributeError, IndexError, KeyError):
            pass
    return float(slope or 1), float(intercept or 0)


def _frame_positions(ds, n: int) -> list[float]:
    """Each frame's position along the slice normal (enhanced DICOM's per-frame groups), else the frame order."""
    try:
        iop = np.array(ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient,
                       dtype=float)
        normal = np.cross(iop[:3], iop[3:])
        pos = [float(np.array(g.PlanePositionSequence[0].ImagePositionPatient, dtype=float) @ normal)
               for g in ds.PerFrameFunctionalGroupsSequence]
        if len(pos) == n and len(set(pos)) == n:
            return pos
    except (AttributeError, IndexError, KeyError, ValueError):
        pass
    return [float(i) for i in range(n)]


def _shared_spacing(ds):
    try:
        return ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    except (AttributeError, IndexError, KeyError):
        return None
