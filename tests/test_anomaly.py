"""The per-slice anomaly score: a small bright spot on tissue outranks a faint change spread over the whole slice,
air does not count, and the window grows with the model size."""
import pytest
import torch

from vqmri.pipelines.anomaly import TISSUE, WINDOW, slice_score


@pytest.mark.parametrize("size", [64, 128, 256])
def test_a_local_lesion_outranks_diffuse_change_and_air_is_ignored(size):
    k = max(3, round(WINDOW * size / 128)) | 1
    x = torch.full((3, 1, size, size), 0.5)
    amap = torch.zeros_like(x)
    amap[0, 0, 10:10 + k, 20:20 + k] = 0.4  # a lesion of the window's size
    amap[1] = 0.1  # healing noise everywhere
    amap[2, 0, 10:10 + k, 20:20 + k] = 0.4
    x[2, 0, 10:10 + k, 20:20 + k] = TISSUE / 2  # ... but in air
    s = slice_score(amap, x)
    assert s.shape == (3,) and s[0] > s[1] > s[2] == 0
    assert torch.isclose(s[0], torch.tensor(0.4))  # the whole window over the spot: its mean
    assert float(amap[0].mean()) < float(amap[1].mean())  # a slice-wide mean would have ranked them the other way
