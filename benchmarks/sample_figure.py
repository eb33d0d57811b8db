"""The committed sample figures: the first N samples of a `vqmri sample` folder as a montage (samples only: OASIS
slices may not be redistributed, so no real slice goes into a committed figure).
Usage: python benchmarks/sample_figure.py SAMPLES_DIR OUT.png [N]"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from vqmri.evaluation.figures import montage

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 16
files = sorted(folder.glob("sample_*.png"))[:n]
montage([np.asarray(Image.open(f), np.float32) / 255 for f in files], out, ncols=8)
print(f"wrote {out}")
