"""The per-slice anomaly score: a small bright spot on tissue outranks a faint change spread over the whole slice,
air does not count, and the window grows with the model size. The map's footprint (grown by whole codes, levels
joined) and its smoothing (a blob keeps its mass and peak place; one hot pixel fades)."""
import pytest
import torch

from vqmri.inference.healing import TISSUE, WINDOW, footprint, gaussian_blur, slice_score


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


@pytest.mark.parametrize("grow", [0, 1, 2])
def test_footprint_covers_the_replaced_codes_grown_by_whole_codes_on_every_side(grow):
    top = torch.zeros(2, 4, 4, dtype=torch.bool)
    top[0, 1, 2] = True
    bottom = torch.zeros(2, 8, 8, dtype=torch.bool)
    bottom[1, 7, 0] = True  # the other slice, the other level, in a corner
    area = footprint([top, bottom], 32, grow)
    assert area.shape == (2, 1, 32, 32)
    rows, cols = area[0, 0].any(1).nonzero()[:, 0], area[0, 0].any(0).nonzero()[:, 0]
    assert (int(rows.min()), int(rows.max()) + 1) == (8 * max(0, 1 - grow), 8 * min(4, 2 + grow))
    assert (int(cols.min()), int(cols.max()) + 1) == (8 * max(0, 2 - grow), 8 * min(4, 3 + grow))
    assert int(area[1, 0].sum()) == (4 * (1 + grow)) ** 2  # 4 px codes; the corner clips the growth to one side


def test_smoothing_keeps_a_blob_and_fades_a_single_pixel():
    m = torch.zeros(2, 1, 64, 64)
    m[0, 0, 20:30, 30:40] = 1.0  # a lesion-sized blob
    m[1, 0, 40, 10] = 1.0  # one hot pixel of healing noise
    s = gaussian_blur(m, 2.0)
    assert torch.allclose(s.sum((1, 2, 3)), m.sum((1, 2, 3)), rtol=1e-4)  # mass kept away from the edges
    assert s[0, 0, 24:26, 34:36].min() > 0.8 and s[1].max() < 0.05
    assert int(s[0, 0].argmax()) // 64 in range(20, 30)
    assert torch.equal(gaussian_blur(m, 0), m)
