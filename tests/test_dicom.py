"""DICOM as clinics send it, built from the built-in PROSTATEx series (a copy of ../shared/data/prostatex's two
patients): a study folder of several series under any file names, a damaged file, echoes at one position, an
enhanced multi-frame file assembled with pydicom, compressed pixels without a decoder."""
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless

from vqmri.cli import main
from vqmri.data import readers
from vqmri.data.cache import load_split
from vqmri.data.layouts import discover
from vqmri.errors import BadFileError, VqmriError

PELVIS = Path(__file__).resolve().parents[1] / "src/vqmri/data/samples/pelvis"
SERIES = sorted(PELVIS.glob("*/ProstateX-0001/*"))  # two series of one patient (train and validate)


def _study(tmp_path: Path) -> Path:
    """Both series in one folder, as a PACS export writes them: .IMA, no suffix, numbered names, a text file."""
    study = tmp_path / "study"
    study.mkdir()
    for s, series in enumerate(SERIES):
        for i, f in enumerate(sorted(series.glob("*.dcm"))):
            name = [f"IM{s}_{i:04d}.IMA", f"IM{s}{i:04d}", f"1.3.12.2.{s}.{i}"][i % 3]
            shutil.copy(f, study / name)
    (study / "DICOMDIR.txt").write_text("index")
    return study


def _series_slices(folder: Path) -> list[np.ndarray]:
    return [s.array for s in readers.read_dicom_series(folder, 0.0)]


def test_a_study_folder_is_one_volume_a_series_whatever_the_file_names(tmp_path, capsys):
    study = _study(tmp_path)
    found = discover(str(study))
    sources = [s for v in found.splits.values() for s in v]
    assert found.layout == "dicom" and len(sources) == 2 and {s.subject for s in sources} == {"ProstateX-0001"}
    expected = sorted(len(_series_slices(s)) for s in SERIES)
    assert sorted(len(readers.read_any(s.path, min_tissue=0.0)) for s in sources) == expected
    for s in sources:  # the same pixels, in the same order, as the series read from its own folder
        got = readers.read_any(s.path, min_tissue=0.0)
        uid = s.path.rsplit("::", 1)[1]
        ref = next(_series_slices(d) for d in SERIES if pydicom.dcmread(next(d.glob("*.dcm"))).SeriesInstanceUID == uid)
        assert all(np.array_equal(a.array, b) for a, b in zip(got, ref))
    # one file of the series stands for its series
    one = readers.read_any(next(study.glob("*.IMA")), min_tissue=0.0)
    assert len(one) in expected
    # reconstruct names each series by its number and description
    from vqmri.data.dicom import series_in

    names = sorted(v["description"] for v in series_in(study)[0].values())
    assert all("t2_tse_tra" in n for n in names) and len(set(names)) == 2
    assert "holds 2 series" in str(pytest.raises(BadFileError, readers.load_dicom_volume, study).value)


def test_a_damaged_file_is_named_and_skip_bad_keeps_the_rest_of_its_series(tmp_path, capsys):
    series = tmp_path / "series"
    shutil.copytree(SERIES[0], series)
    n = len(_series_slices(series))
    bad = series / "zz_broken"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage" * 20)
    sources = [s for v in discover(str(series)).splits.values() for s in v]
    with pytest.raises(VqmriError, match="zz_broken"):
        load_split(sources, 32, min_tissue=0.0, use_cache=False)
    split = load_split(sources, 32, min_tissue=0.0, skip_bad=True, use_cache=False)
    assert len(split.images) == n and len(split.skipped) == 1 and "zz_broken" in split.skipped[0]


def _echoes(tmp_path: Path, tag_echo: bool) -> Path:
    folder = tmp_path / ("echoes" if tag_echo else "twins")
    folder.mkdir()
    for f in sorted(SERIES[0].glob("*.dcm"))[:5]:
        for echo in (1, 2):
            ds = pydicom.dcmread(f)
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            if tag_echo:
                ds.EchoNumbers, ds.EchoTime = echo, 50 * echo
            else:
                for tag in ("EchoNumbers", "EchoTime"):
                    if tag in ds:
                        delattr(ds, tag)
            ds.PixelData = (ds.pixel_array // echo).astype(ds.pixel_array.dtype).tobytes()
            ds.save_as(folder / f"{f.stem}_e{echo}.dcm")
    return folder


def test_echoes_at_one_position_are_kept_apart_or_refused(tmp_path, capsys):
    sources = [s for v in discover(str(_echoes(tmp_path, True))).splits.values() for s in v]
    assert len(sources) == 2
    vols = [readers.load_dicom_volume(s.path)[0] for s in sources]
    assert all(v.shape[0] == 5 for v in vols) and not np.array_equal(vols[0], vols[1])
    twins = _echoes(tmp_path, False)
    with pytest.raises(BadFileError, match="several images at one slice position"):
        readers.load_dicom_volume(twins)
    capsys.readouterr()
    assert main(["data", "inspect", str(twins)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "several images" in err[0] and "Traceback" not in err[0]


def test_an_enhanced_multi_frame_file_is_read_as_a_volume(tmp_path):
    files = sorted(SERIES[0].glob("*.dcm"))[:6]
    frames = [pydicom.dcmread(f) for f in files]
    order = [3, 0, 5, 1, 4, 2]  # stored out of order: the per-frame positions put them back
    ds = pydicom.dcmread(files[0])
    ds.NumberOfFrames = len(order)
    ds.PixelData = b"".join(frames[i].PixelData for i in order)
    for tag in ("ImagePositionPatient", "ImageOrientationPatient", "RescaleSlope", "RescaleIntercept"):
        if tag in ds:
            delattr(ds, tag)
    shared = Dataset()
    orient = Dataset()
    orient.ImageOrientationPatient = frames[0].ImageOrientationPatient
    shared.PlaneOrientationSequence = Sequence([orient])
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept = 2, -10
    shared.PixelValueTransformationSequence = Sequence([transform])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    for i in order:
        g, pos = Dataset(), Dataset()
        pos.ImagePositionPatient = frames[i].ImagePositionPatient
        g.PlanePositionSequence = Sequence([pos])
        per.append(g)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    (tmp_path / "mf").mkdir()
    ds.save_as(tmp_path / "mf" / "enhanced")
    vol, _, subject = readers.load_dicom_volume(tmp_path / "mf")
    ref, _, _ = readers.load_dicom_volume(_copy(files, tmp_path / "single"))
    assert subject == "ProstateX-0001" and np.array_equal(vol, ref * 2 - 10)


def _copy(files, folder: Path) -> Path:
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder


def test_compressed_pixels_without_a_decoder_name_the_extra(tmp_path):
    folder = tmp_path / "jp2"
    folder.mkdir()
    ds = pydicom.dcmread(sorted(SERIES[0].glob("*.dcm"))[0])
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\x4f\xff\x51" + b"\0" * 64])
    ds["PixelData"].is_undefined_length = True
    ds.save_as(folder / "x.dcm", enforce_file_format=True)
    with pytest.raises(BadFileError) as e:
        readers.load_dicom_volume(folder)
    assert "vqmri[dicom]" in str(e.value) and "x.dcm" in str(e.value)


def test_data_axis_cuts_a_series_in_the_plane_asked_for():
    """An axial series: axial slices as stored; coronal and sagittal ones resliced in the canonical orientation
    (anterior / superior up, like NIfTI volumes), each voxel where the orientation tags put it."""
    series = SERIES[0]
    vol = readers.robust_normalise(readers.load_dicom_volume(series)[0])  # (19 slices, 192 rows, 192 columns)
    axial = readers.read_dicom_series(series, 0.0)
    assert len(axial) == 19 and np.array_equal(axial[7].array, vol[7])
    coronal = readers.read_any(series, "coronal", 0.0)
    sagittal = readers.read_any(series, "sagittal", 0.0)
    assert len(coronal) == len(sagittal) == 192 and coronal[0].shape == sagittal[0].shape == (19, 192)
    # rows run posterior -> down, columns to the patient's left, slices (z) upwards: RAS flips rows and columns,
    # and shown superior-up the slice axis runs downwards
    assert np.array_equal(coronal[50].array, vol[::-1, 191 - 50, ::-1])
    assert np.array_equal(sagittal[60].array, vol[::-1, ::-1, 191 - 60])
    assert coronal[50].spacing[0] > 2.5 and coronal[50].spacing[1] == 1.0  # the 3 mm slice step runs down
