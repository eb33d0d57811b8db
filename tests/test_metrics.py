import numpy as np
import torch
from skimage.metrics import structural_similarity

from vqmri.evaluation import metrics
from vqmri.training.losses import ssim_for_loss


def _pair(n=4, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g)
    x = torch.nn.functional.avg_pool2d(x, 5, 1, 2)
    return x, (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_ssim_matches_scikit_image_within_1e3():
    x, y = _pair()
    ours = metrics.ssim(y, x)
    ref = [structural_similarity(x[i, 0].numpy(), y[i, 0].numpy(), gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0) for i in range(len(x))]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-3)
    assert ours.min() < 0.95  # the pairs really differ


def test_identical_images_and_psnr():
    x, y = _pair()
    assert torch.allclose(metrics.ssim(x, x), torch.ones(len(x)), atol=1e-5)
    mse = ((x - y) ** 2).mean(dim=(1, 2, 3))
    np.testing.assert_allclose(metrics.psnr(y, x).numpy(), (10 * torch.log10(1 / mse)).numpy(), rtol=1e-4)


def test_ms_ssim_only_when_large_enough():
    x, y = _pair(2, 64)
    assert metrics.ms_ssim(y, x) is None
    x, y = _pair(2, 192)
    v = metrics.ms_ssim(y, x)
    assert v.shape == (2,) and 0 < float(v.min()) < 1


def test_training_ssim_equals_metric():
    x, y = _pair()
    assert abs(float(ssim_for_loss(y, x)) - float(metrics.ssim(y, x).mean())) < 1e-3


def test_ssim_loss_and_metrics_stay_float32_under_mixed_precision():
    """Inside an autocast region (how Lightning runs bf16 / fp16 training) the SSIM loss and the metrics must give
    their float32 values: in bf16 the window's variance E[x^2] - E[x]^2 is noise, and GPU training stalled."""
    from vqmri.training.losses import reconstruction_loss

    x, y = _pair(size=96)
    want = [float(ssim_for_loss(y, x)), float(reconstruction_loss(y, x, "l1+ssim", 0.5)),
            metrics.ssim(y, x), metrics.psnr(y, x)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.nn.functional.conv2d(x, torch.ones(1, 1, 3, 3)).dtype == torch.bfloat16  # autocast is on
        got = [float(ssim_for_loss(y, x)), float(reconstruction_loss(y, x, "l1+ssim", 0.5)),
               metrics.ssim(y, x), metrics.psnr(y, x)]
    assert abs(got[0] - want[0]) < 1e-6 and abs(got[1] - want[1]) < 1e-6
    assert torch.allclose(got[2], want[2], atol=1e-6) and torch.allclose(got[3], want[3], atol=1e-4)
