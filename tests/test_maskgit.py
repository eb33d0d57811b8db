"""The masked-code prior (MaskGIT): its group likelihood is a distribution, its sampler follows the step schedule and
learns; the two-level model with an 8x8 top over a 32x32 bottom. (Seeding and fixed codes: test_sampling.py.)"""
import itertools
import math

import pytest
import torch

from vqmri.config import resolve
from vqmri.inference.sampling import sample_codes
from vqmri.models.factory import build_autoencoder
from vqmri.models.maskgit import MaskedCodeModel
from vqmri.models.prior import CodePrior


def _net(steps=3, **kw):
    torch.manual_seed(0)
    return MaskedCodeModel(3, channels=8, layers=2, steps=steps, **kw).eval()


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_group_likelihood_sums_to_one_over_every_map(steps):
    """nll scores the process that sample runs; for a fixed order its probabilities over all 3^4 maps add up to 1
    (a broken order or leaked code would not)."""
    net = _net(steps)
    maps = torch.tensor(list(itertools.product(range(3), repeat=4))).view(-1, 2, 2)
    with torch.no_grad():
        nats = torch.cat([net.nll(m[None], seed=3).sum().view(1) for m in maps])
    assert math.isclose(float(torch.exp(-nats).sum()), 1.0, rel_tol=1e-4)


def test_each_step_reveals_the_scheduled_share():
    net = _net(steps=4)
    order = net.reveal_order((2, 8, 8), seed=0, device="cpu")
    per_step = [int((order[0] == s).sum()) for s in range(4)]
    assert sum(per_step) == 64 and per_step[0] < per_step[-1] and (order >= 0).all()


def test_learns_bottom_codes_that_follow_the_top():
    """Bottom codes that copy their top code: conditioned on the top, the model's bits fall far below uniform."""
    torch.manual_seed(0)
    shapes = [(2, 2), (8, 8)]
    top = torch.randint(4, (64, 2, 2))
    bottom = top.repeat_interleave(4, 1).repeat_interleave(4, 2)
    prior = CodePrior(4, levels=2, channels=16, layers=2, shapes=shapes, bottom_arch="maskgit", steps=4,
                      kernel_size=3)
    opt = torch.optim.Adam(prior.parameters(), 3e-3)
    for _ in range(60):
        loss = prior.nll([top, bottom], levels=[1])[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    prior.eval()
    with torch.no_grad():
        bits = float(CodePrior.bits(prior.nll([top, bottom], levels=[1])[0]))
    assert bits < 0.5  # uniform over 4 codes: 2 bits
    drawn = sample_codes(prior, 8, shapes, seed=0, temperature=[1.0, 0.1])
    follows = drawn[1] == drawn[0].repeat_interleave(4, 1).repeat_interleave(4, 2)
    assert follows.float().mean() > 0.9


@pytest.mark.parametrize("factor,top", [(2, 16), (4, 8), (8, 4)])
def test_top_factor_sets_the_top_code_and_decodes_from_the_top_alone(factor, top):
    cfg = resolve("vqvae2", overrides=["model.channels=[8,16]", "model.res_channels=8", f"model.top_factor={factor}"])
    m = build_autoencoder(cfg).eval()
    codes = m.encode(torch.rand(2, 1, 128, 128))
    assert [tuple(c.shape[1:]) for c in codes] == [(top, top), (32, 32)] == m.code_shapes(128)
    assert m.decode(codes).shape == m.decode_top(codes[0]).shape == (2, 1, 128, 128)
    prior = CodePrior(512, levels=2, channels=8, layers=1, shapes=m.code_shapes(128), kernel_size=3)
    assert prior.conditioner(codes[0]).shape[-2:] == (32, 32)


def test_top_factor_is_checked():
    with pytest.raises(Exception, match="top_factor"):
        resolve("vqvae2", overrides=["model.top_factor=3"])
    with pytest.raises(Exception, match="vqvae2 only"):
        build_autoencoder(resolve("oasis", overrides=["model.top_factor=4"]))
