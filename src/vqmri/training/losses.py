"""Every loss the autoencoder's fit uses, in one place: reconstruction (MSE, L1, L1 + SSIM) and the adversarial
game's hinge losses with VQGAN's adaptive weight. The quantizer's codebook and commitment losses stay with the
quantizer, which computes them from its own state."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..evaluation import metrics


@metrics.in_float32
def ssim_for_loss(x_hat: torch.Tensor, x: torch.Tensor, c1: float = 1e-4, c2: float = 9e-4) -> torch.Tensor:
    """Mean SSIM with the metric's window (Gaussian 11, sigma 1.5, valid region) as two separable 1D convolutions:
    the same value as `metrics.ssim` (a test checks it) at a fraction of the cost of its 11x11 2D window, which
    matters on CPU where the loss is evaluated every step."""
    g = metrics.gaussian_1d(1.5, 5, device=x.device)  # the metric's window: 11 taps
    maps = torch.cat([x_hat, x, x_hat * x_hat, x * x, x_hat * x], 1)  # (B, 5, H, W)
    c = maps.shape[1]
    maps = F.conv2d(maps, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    mu_p, mu_t, e_pp, e_tt, e_pt = F.conv2d(maps, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c).unbind(1)
    var_p, var_t, cov = e_pp - mu_p ** 2, e_tt - mu_t ** 2, e_pt - mu_p * mu_t
    s = ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / ((mu_p ** 2 + mu_t ** 2 + c1) * (var_p + var_t + c2))
    return s.mean()


@metrics.in_float32
def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, kind: str, ssim_weight: float) -> torch.Tensor:
    """`mse`, `l1`, or `l1+ssim` = (1 - w) * L1 + w * (1 - SSIM) (Zhao et al. 2017's mix for image restoration)."""
    if kind == "mse":
        return F.mse_loss(x_hat, x)
    if kind == "l1":
        return F.l1_loss(x_hat, x)
    if kind == "l1+ssim":
        return (1 - ssim_weight) * F.l1_loss(x_hat, x) + ssim_weight * (1 - ssim_for_loss(x_hat, x))
    raise ValueError(f"train.loss must be mse, l1 or l1+ssim, not {kind!r}")


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss (Lim & Ye 2017): push real patches above +1 and decoded ones below -1."""
    return 0.5 * (F.relu(1 - logits_real).mean() + F.relu(1 + logits_fake).mean())


def generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """The decoder's side of the hinge game: raise the discriminator's score of decoded patches."""
    return -logits_fake.mean()


def adaptive_weight(rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor,
                    max_weight: float = 1e4) -> torch.Tensor:
    """VQGAN's balance: the ratio of the two losses' gradient norms at the decoder's last layer, so the adversarial
    term moves the decoder about as much as the reconstruction term whatever their scales (detached)."""
    g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0, max_weight).detach()
