import numpy as np
import torch

from vqmri.data import geometry


def test_pad_keeps_aspect_and_to_native_undoes_it():
    a = np.zeros((256, 128), np.float32)
    a[100:150, 40:90] = 1.0
    m = geometry.to_model(a, 256)
    assert m.shape == (256, 256) and m[:, :64].max() == 0 and m[:, 192:].max() == 0  # centred padding
    np.testing.assert_array_equal(geometry.to_native(torch.from_numpy(m), a.shape).numpy(), a)
    small = geometry.to_model(a, 64)
    back = geometry.to_native(torch.from_numpy(small), a.shape)
    assert back.shape == (256, 128) and abs(float(back.mean()) - float(a.mean())) < 0.01
