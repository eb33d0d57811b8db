
import numpy as np
import pydicom
import pytest
from conftest import SHARED, brain_volume, needs_shared, write_nifti, write_png

from vqmri.data import readers
from vqmri.data.layouts import SAMPLES_DIR
from vqmri.errors import BadFileError


def test_png_8bit_and_16bit_scaled_to_unit_range(tmp_path):
    a8 = write_png(tmp_path / "case_007_slice_12.nii.png", (20, 30))
    a16 = write_png(tmp_path / "x16.png", (20, 30), bits=16)
    (s8,) = readers.read_image(tmp_path / "case_007_slice_12.nii.png")
    (s16,) = readers.read_image(tmp_path / "x16.png")
    assert s8.shape == (20, 30) and s8.subject == "case_007" and s8.index == 12
    np.testing.assert_allclose(s8.array, np.floor(a8 * 255) / 255, atol=1e-6)
    np.testing.assert_allclose(s16.array, np.floor(a16 * 65535) / 65535, atol=1e-6)


def test_nifti_2d_hw_and_hwx1_are_single_slices(tmp_path):
    a = np.random.default_rng(0).random((256, 144)).astype(np.float32) * 300
    for name, data in (("case_004_week_0_slice_3.nii.gz", a), ("case_004_week_1_slice_5.nii.gz", a[..., None])):
        (s,) = readers.read_nifti(write_nifti(tmp_path / name, data))
        assert s.shape == (144, 256) and s.subject == "case_004"  # shown like a volume's slice: rot90
        assert 0 <= s.array.min() and s.array.max() <= 1 and s.array.max() == 1
        np.testing.assert_array_equal(s.array, np.rot90(readers.robust_normalise(a)))


def test_volume_sliced_axially_and_empty_slices_dropped(tmp_path):
    vol = brain_volume((40, 40, 30))
    slices = readers.read_nifti(write_nifti(tmp_path / "subj01.nii.gz", vol))
    assert 0 < len(slices) < 30  # the ellipsoid's tips hold too little tissue
    assert all(s.shape == (40, 40) and s.subject == "subj01" for s in slices)
    coronal = readers.read_nifti(tmp_path / "subj01.nii.gz", axis="coronal")
    assert coronal[0].shape == (30, 40)


def test_dicom_series_sorted_by_position_and_rescaled(tmp_path):
    src = next((SAMPLES_DIR / "pelvis" / "train").glob("*/*"))
    files = sorted(src.glob("*.dcm"))[:6]
    for i, f in enumerate(files):  # copy under shuffled names, with slope/intercept
        ds = pydicom.dcmread(f)
        ds.RescaleSlope, ds.RescaleIntercept = 2, -10
        ds.save_as(tmp_path / f"{(i * 7) % 6:02d}.dcm")
    vol, spacing, subject = readers.load_dicom_volume(tmp_path)
    raw = [pydicom.dcmread(f).pixel_array.astype(np.float32) * 2 - 10 for f in files]
    order = np.argsort([float(np.array(pydicom.dcmread(f).ImagePositionPatient, float) @ np.cross(
        np.array(pydicom.dcmread(f).ImageOrientationPatient[:3], float),
        np.array(pydicom.dcmread(f).ImageOrientationPatient[3:], float))) for f in files])
    np.testing.assert_allclose(vol, np.stack([raw[k] for k in order]))
    assert subject == "ProstateX-0001" and spacing == (1.0, 1.0)


def test_nan_voxels_are_a_clear_error(tmp_path):
    v = brain_volume().astype(np.float32)
    v[3, 3, 3] = np.nan
    with pytest.raises(BadFileError, match=r"nan\.nii\.gz.*NaN"):
        readers.read_nifti(write_nifti(tmp_path / "nan.nii.gz", v))


def test_4d_nifti_is_a_clear_error(tmp_path):
    with pytest.raises(BadFileError, match=r"4D\.nii\.gz.*4D"):
        readers.read_nifti(write_nifti(tmp_path / "4D.nii.gz", np.zeros((8, 8, 8, 3), np.float32)))


@needs_shared
def test_real_hipmri_slice_and_volume():
    (s,) = readers.read_nifti(SHARED / "hipmri/keras_slices_case018/case_018_week_7_slice_60.nii.gz")
    assert s.shape == (128, 256) and s.subject == "case_018"
    vol = readers.read_nifti(SHARED / "hipmri/semantic_MRs_anon/Case_018_Week7_LFOV.nii.gz")
    assert len(vol) > 50 and vol[0].shape == (256, 256) and vol[0].subject == "case_018"


@needs_shared
def test_real_prostatex_series():
    series = sorted((SHARED / "prostatex/ProstateX-0000").iterdir())[0]
    slices = readers.read_dicom_series(series)
    assert len(slices) > 10 and slices[0].shape == (384, 384) and slices[0].subject == "ProstateX-0000"
    assert [s.index for s in slices] == sorted(s.index for s in slices)
