"""Rebuild the built-in sample data (src/vqmri/data/samples) from ../shared/data (IXI and PROSTATEx only).

brain:  the 10 IXI T1 volumes as they are (2 mm, 120x120x90), fixed subject split 6 / 2 / 2.
pelvis: the PROSTATEx T2 axial series, 2x2 mean-pooled to 192x192 (1 mm) DICOM. There are two patients: the first
        series of ProstateX-0001 trains, its second series (the same patient, another acquisition) validates,
        ProstateX-0000 is the test patient, which neither trains nor chooses a checkpoint.
Usage: python tools/build_samples.py [../shared/data]
"""
import shutil
import sys
from pathlib import Path

import numpy as np
import pydicom

src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
out = Path(__file__).resolve().parents[1] / "src/vqmri/data/samples"
brain_split = {"train": ["IXI012", "IXI013", "IXI014", "IXI015", "IXI033", "IXI034"],
               "validate": ["IXI039", "IXI048"], "test": ["IXI049", "IXI051"]}
for split, ids in brain_split.items():
    d = out / "brain" / split
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for i in ids:
        (f,) = (src / "ixi10").glob(f"{i}-*.nii.gz")
        shutil.copy(f, d / f.name)

# (patient, which of its series in sorted order; None: all)
pelvis_split = {"train": [("ProstateX-0001", 0)], "validate": [("ProstateX-0001", 1)],
                "test": [("ProstateX-0000", None)]}
shutil.rmtree(out / "pelvis", ignore_errors=True)
for split, ids in pelvis_split.items():
    for pid, which in ids:
        every = sorted((src / "prostatex" / pid).iterdir())
        for series in every if which is None else [every[which]]:
            d = out / "pelvis" / split / pid / series.name
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            for f in sorted(series.glob("*.dcm")):
                ds = pydicom.dcmread(f)
                a = ds.pixel_array.astype(np.float32)
                a = a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean((1, 3))
                ds.PixelData = np.round(a).astype(np.uint16).tobytes()
                ds.Rows, ds.Columns = a.shape
                ds.PixelSpacing = [float(s) * 2 for s in ds.PixelSpacing]
                ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
                for tag in ("LargestImagePixelValue", "SmallestImagePixelValue", "WindowCenter", "WindowWidth"):
                    if tag in ds:
                        delattr(ds, tag)
                ds.save_as(d / f.name, enforce_file_format=True)
