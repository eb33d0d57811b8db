"""Issue 2: first pass (decode + cache) against second pass (memory map) over a split; slices/s of each.
The second pass must decode nothing: checked with the readers' decode counter, and the run fails otherwise.
Usage: python benchmarks/data_speed.py [DATA=../shared/data/oasis] [SPLIT=train] [IMAGE_SIZE=128]"""
import json
import os
import sys
import tempfile
import time

os.environ["VQMRI_CACHE_DIR"] = tempfile.mkdtemp(prefix="vqmri-bench-cache-")

from vqmri.data import readers  # noqa: E402
from vqmri.data.cache import load_split  # noqa: E402
from vqmri.data.layouts import discover  # noqa: E402

data = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/oasis"
split = sys.argv[2] if len(sys.argv) > 2 else "train"
size = int(sys.argv[3]) if len(sys.argv) > 3 else 128
sources = discover(data).splits[split]
t = time.perf_counter()
first = load_split(sources, size)
t1 = time.perf_counter() - t
before = readers.DECODE_COUNT
t = time.perf_counter()
second = load_split(sources, size)
_ = float(second.images.sum())  # touch every pixel
t2 = time.perf_counter() - t
assert second.decoded == 0 and readers.DECODE_COUNT == before, "second pass decoded files"
n = len(first.images)
print(json.dumps({"data": data, "split": split, "image_size": size, "slices": n, "first_pass_s": round(t1, 3),
                  "first_slices_per_s": round(n / t1, 1), "second_pass_s": round(t2, 3),
                  "second_slices_per_s": round(n / t2, 1), "speedup": round(t1 / t2, 1),
                  "second_pass_decoded_files": second.decoded}))
