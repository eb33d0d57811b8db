import numpy as np
from conftest import write_png

from vqmri.data import readers
from vqmri.data.cache import load_split
from vqmri.data.layouts import discover


def test_second_pass_reads_the_memory_map_and_decodes_nothing(tmp_path, monkeypatch):
    for i in range(20):
        write_png(tmp_path / "d" / f"case_{i:03d}_slice_0.nii.png", (40, 40), seed=i)
    src = discover(str(tmp_path / "d")).splits["train"]
    first = load_split(src, 32, workers=1)

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cached split was decoded again")

    monkeypatch.setattr(readers, "read_any", no_decoding)  # the one door from the cache to the files
    second = load_split(src, 32, workers=1)
    assert first.decoded == len(src) and second.decoded == 0
    assert isinstance(second.images, np.memmap) and second.images.shape == (len(src), 32, 32)
    np.testing.assert_array_equal(np.asarray(first.images), np.asarray(second.images))
    monkeypatch.undo()
    assert load_split(src, 16, workers=1).decoded == len(src)  # other settings, other entry


def test_changed_file_invalidates_the_entry(tmp_path):
    p = tmp_path / "d" / "case_001_slice_0.nii.png"
    write_png(p, (16, 16), seed=1)
    src = discover(str(tmp_path / "d")).splits["train"]
    load_split(src, 16)
    import os
    write_png(p, (16, 16), seed=2)
    os.utime(p, ns=(1, 10 ** 18))
    assert load_split(src, 16).decoded == 1
