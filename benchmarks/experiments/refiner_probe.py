"""Probe (issue 20): can a small conditional refiner, trained adversarially on the decoder's own outputs, give a
trained decoder's reconstructions the fine texture the two-sample judge reads, faster than the whole decoder's game?

The decoder-only game of sessions 15-23 spends every step on the whole decoder at 64 px and sees 1-2 thousand steps
on 2 cores; the judge still tells its reconstructions from real slices (1.00). Here the autoencoder is frozen and
run once over the training split; a small residual CNN R (full resolution, a noise channel for the texture it must
invent) maps a reconstruction r to r + R(r, z), judged by a conditional patch discriminator that sees (r, candidate)
pairs (pix2pix: the texture must agree with the structure beneath; borrowed unconditioned detail moved the judge
only 3-5 points, session 20). Losses: L1 to the real slice + hinge game, VQGAN's adaptive weight at R's last layer.
Then the run's test reconstructions, refined, against the real test slices: the `evaluate-samples` judge, paired,
subject-grouped folds, 128 a side (as `benchmarks/sample_headline.py RUN -`).

Usage: python benchmarks/experiments/refiner_probe.py RUN_DIR OUT.json [MINUTES] [ADV_WEIGHT] [NORM] [CROP]
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from vqmri import api
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.evaluation.metrics import ssim
from vqmri.evaluation.two_sample import two_sample_test
from vqmri.training.losses import adaptive_weight, generator_loss, hinge_d_loss


class Refiner(nn.Module):
    """r (B, 1, S, S) -> r + residual; a noise channel lets it draw texture that r does not determine."""

    def __init__(self, ch: int = 32, blocks: int = 4):
        super().__init__()
        self.inp = nn.Conv2d(2, ch, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ch, ch, 3, padding=1),
                                                  nn.LeakyReLU(0.2), nn.Conv2d(ch, ch, 3, padding=1))
                                    for _ in range(blocks))
        self.out = nn.Conv2d(ch, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, r, z=None):
        z = torch.randn_like(r) if z is None else z
        h = self.inp(torch.cat([r, z], 1))
        for b in self.blocks:
            h = h + b(h)
        return r + self.out(F.leaky_relu(h, 0.2))


def discriminator(norm: str, ch: int = 32) -> nn.Module:
    """Conditional PatchGAN over (r, candidate) pairs: 2 strided convs, 2 unstrided, 70-ish px receptive field."""
    sn = spectral_norm if norm == "spectral" else (lambda m: m)
    bn = (lambda c: nn.BatchNorm2d(c)) if norm == "batch" else (lambda c: nn.Identity())
    return nn.Sequential(sn(nn.Conv2d(2, ch, 4, 2, 1)), nn.LeakyReLU(0.2),
                         sn(nn.Conv2d(ch, 2 * ch, 4, 2, 1)), bn(2 * ch), nn.LeakyReLU(0.2),
                         sn(nn.Conv2d(2 * ch, 4 * ch, 3, 1, 1)), bn(4 * ch), nn.LeakyReLU(0.2),
                         sn(nn.Conv2d(4 * ch, 1, 3, 1, 1)))


def high_band(x):
    """Mean spectral power above half the Nyquist frequency, absolute (judge_cues.py reports the same band as a share
    of each slice's total power)."""
    f = torch.fft.fftshift(torch.fft.fft2(x[:, 0]), dim=(-2, -1)).abs().pow(2) / x[0, 0].numel()
    S = x.shape[-1]
    yy, xx = torch.meshgrid(torch.arange(S) - S // 2, torch.arange(S) - S // 2, indexing="ij")
    return float(f[:, (yy.pow(2) + xx.pow(2)).float().sqrt() > S // 4].mean())


def main():
    run_dir, out = sys.argv[1], Path(sys.argv[2])
    minutes = float(sys.argv[3]) if len(sys.argv) > 3 else 20
    w_adv = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    norm = sys.argv[5] if len(sys.argv) > 5 else "spectral"
    crop = int(sys.argv[6]) if len(sys.argv) > 6 else 64
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = api.load(run_dir, device="cpu")
    found = discover_from_config(model.config, model.run.root)
    tr = load_cached(found, "train", model.config)
    real = torch.from_numpy(np.array(tr.images, np.float32))[:, None]
    with torch.no_grad():
        rec = model.reconstruct(real)
    print("train reconstructions", tuple(rec.shape), round(time.perf_counter() - t0), "s", flush=True)
    G, D = Refiner(), discriminator(norm)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.9))
    S, B, n = real.shape[-1], 32, len(real)
    log, step, t1 = [], 0, time.perf_counter()
    while time.perf_counter() - t1 < minutes * 60:
        i = torch.randint(n, (B,))
        y0, x0 = torch.randint(S - crop + 1, (2,)).tolist()
        x, r = real[i, :, y0:y0 + crop, x0:x0 + crop], rec[i, :, y0:y0 + crop, x0:x0 + crop]
        fake = G(r)
        logits = D(torch.cat([torch.cat([r, x], 1), torch.cat([r, fake.detach()], 1)]))
        d_loss = hinge_d_loss(logits[:B], logits[B:])
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        l1 = (fake - x).abs().mean()
        lf = D(torch.cat([torch.cat([r, x], 1), torch.cat([r, fake], 1)]))[B:] if norm == "batch" \
            else D(torch.cat([r, fake], 1))
        g = generator_loss(lf)
        lam = adaptive_weight(l1, g, G.out.weight) if step > 0 else torch.tensor(0.0)
        opt_g.zero_grad()
        (l1 + w_adv * lam * g).backward()
        opt_g.step()
        if step % 100 == 0:
            log.append({"step": step, "s": round(time.perf_counter() - t1), "d": round(float(d_loss.detach()), 4),
                        "l1": round(float(l1.detach()), 5), "lam": round(float(lam), 4)})
            print(log[-1], flush=True)
        step += 1
    te = load_cached(found, "test", model.config)
    x = torch.from_numpy(np.array(te.images, np.float32))[:, None]
    subjects = [m["subject"] for m in te.meta]
    G.eval()
    with torch.no_grad():
        r = model.reconstruct(x)
        torch.manual_seed(1)
        refined = torch.cat([G(r[k:k + 64]) for k in range(0, len(r), 64)]).clamp(0, 1)
    res = {"run": run_dir, "minutes": minutes, "adv_weight": w_adv, "norm": norm, "crop": crop, "steps": step,
           "log": log, "ssim_recon": float(ssim(r, x).mean()), "ssim_refined": float(ssim(refined, x).mean()),
           "high_band": {"real": high_band(x[:128]), "recon": high_band(r[:128]), "refined": high_band(refined[:128])}}
    print({k: v for k, v in res.items() if k != "log"}, flush=True)
    out.write_text(json.dumps(res, indent=1))
    t = two_sample_test(refined, x, 0, groups=(subjects, subjects), paired=True, limit=128)
    res.update(two_sample_acc_refined_vs_real=float(np.mean(t.folds)), folds=t.folds, auc=float(np.mean(t.auc)),
               seconds=round(time.perf_counter() - t0))
    print("refined vs real", res["two_sample_acc_refined_vs_real"], t.folds, flush=True)
    out.write_text(json.dumps(res, indent=1))
    torch.save(G.state_dict(), out.with_suffix(".refiner.pt"))


if __name__ == "__main__":
    main()
