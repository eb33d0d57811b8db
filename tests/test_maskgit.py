"""The masked-code prior (MaskGIT): its group likelihood is a distribution, its sampler follows the step schedule and
learns; the two-level model with an 8x8 top over a 32x32 bottom. (Seeding and fixed codes: test_sampling.py.)"""
import itertools
import math
from functools import partial

import pytest
import torch

from vqmri.config import resolve
from vqmri.inference.sampling import _draw, sample_codes
from vqmri.models.factory import build_autoencoder
from vqmri.models.maskgit import MaskedCodeModel
from vqmri.models.prior import CodePrior


def _net(steps=3, mixer="conv", **kw):
    torch.manual_seed(0)
    return MaskedCodeModel(3, channels=8, layers=2, steps=steps, mixer=mixer, heads=2, **kw).eval()


@pytest.mark.parametrize("steps,mixer", list(itertools.product([1, 2, 4], ["conv", "attention"])))
def test_group_likelihood_sums_to_one_over_every_map(steps, mixer):
    """nll scores the process that sample runs; for a fixed order its probabilities over all 3^4 maps add up to 1
    (a broken order or leaked code would not)."""
    net = _net(steps, mixer)
    maps = torch.tensor(list(itertools.product(range(3), repeat=4))).view(-1, 2, 2)
    with torch.no_grad():
        nats = torch.cat([net.nll(m[None], seed=3).sum().view(1) for m in maps])
    assert math.isclose(float(torch.exp(-nats).sum()), 1.0, rel_tol=1e-4)


def test_each_step_reveals_the_scheduled_share():
    net = _net(steps=4)
    order = net.reveal_order((2, 8, 8), seed=0, device="cpu")
    per_step = [int((order[0] == s).sum()) for s in range(4)]
    assert sum(per_step) == 64 and per_step[0] < per_step[-1] and (order >= 0).all()


@pytest.mark.parametrize("bottom_arch", ["maskgit", "maskgit_transformer"])
def test_learns_bottom_codes_that_follow_the_top(bottom_arch):
    """Bottom codes that copy their top code: conditioned on the top, the model's bits fall far below uniform."""
    torch.manual_seed(0)
    shapes = [(2, 2), (8, 8)]
    top = torch.randint(4, (64, 2, 2))
    bottom = top.repeat_interleave(4, 1).repeat_interleave(4, 2)
    prior = CodePrior(4, levels=2, channels=16, layers=2, shapes=shapes, bottom_arch=bottom_arch, steps=4,
                      kernel_size=3, heads=2)
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


def test_corrector_rounds_make_a_parallel_draw_agree_with_itself():
    """Maps of one code each: drawn in one parallel step, every position picks alone and the maps come out mixed;
    corrector rounds redraw the codes that disagree with the rest until nearly every map is one code again, and
    never touch the positions they are told to keep."""
    torch.manual_seed(0)
    maps = torch.randint(4, (512, 1, 1)).expand(512, 4, 4).contiguous()
    net = MaskedCodeModel(4, channels=16, layers=2, steps=1)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(150):
        loss = net.training_loss(maps)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    gen = torch.Generator().manual_seed(0)
    draw = partial(_draw, temperature=1.0, top_k=None, gen=gen)

    def agreement(codes):  # share of each map held by its most common code
        return float(torch.stack([c.flatten().bincount(minlength=4).max() for c in codes]).float().mean() / 16)

    plain = net.sample(64, (4, 4), draw, gen=gen)
    refined = net.refine(plain, draw, rounds=6, share=0.5, gen=gen)
    assert agreement(plain) < 0.6 and agreement(refined) > 0.9, (agreement(plain), agreement(refined))
    keep = torch.zeros(64, 4, 4, dtype=torch.bool)
    keep[:, :, 0] = True
    kept = net.refine(plain, draw, rounds=3, share=0.5, keep=keep, gen=gen)
    assert torch.equal(kept[keep], plain[keep]) and not torch.equal(kept, plain)


def test_attention_codes_see_the_far_side_of_the_map():
    """Maps whose right half mirrors the left: with every left code visible and the right hidden, the attention mixer
    learns to copy across the whole map (one layer, no position it could not see), and the mixer is checked."""
    torch.manual_seed(0)
    left = torch.randint(6, (256, 6, 3))
    maps = torch.cat([left, left.flip(2)], 2)  # (256, 6, 6)
    prior = CodePrior(6, channels=32, layers=2, shapes=[(6, 6)], arch="maskgit_transformer", heads=4)
    opt = torch.optim.Adam(prior.parameters(), 3e-3)
    hide = torch.zeros(6, 6, dtype=torch.bool)
    hide[:, 3:] = True
    net = prior.nets[0]
    for _ in range(150):
        logits = net(maps.masked_fill(hide, net.mask_id), prior.condition(0, [maps]))
        loss = torch.nn.functional.cross_entropy(logits, maps, reduction="none")[:, hide].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        guess = net(maps.masked_fill(hide, net.mask_id), prior.condition(0, [maps])).argmax(1)
    assert (guess == maps)[:, hide].float().mean() > 0.9  # chance: 1/6
    with pytest.raises(ValueError, match="mixer"):
        MaskedCodeModel(3, mixer="dense")


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


def test_guidance_pushes_draws_towards_their_label():
    """Two labels, each code its label's w.p. 0.7 and otherwise any of 4: drawn in one parallel step (each code
    from the empty map's prediction), a net trained with label dropout draws about 0.775 of its label's code
    unguided and more with guidance; a net without label dropout refuses guidance."""
    torch.manual_seed(0)
    label = torch.randint(2, (1024,))
    maps = torch.where(torch.rand(1024, 4, 4) < 0.7, label[:, None, None], torch.randint(4, (1024, 4, 4)))
    net = MaskedCodeModel(4, channels=16, layers=2, num_classes=2, steps=1, label_dropout=0.3)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(200):
        loss = net.training_loss(maps, label=label)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    want = torch.arange(256) % 2

    def share_of_label(guidance):
        gen = torch.Generator().manual_seed(1)
        draw = partial(_draw, temperature=1.0, top_k=None, gen=gen)
        net.guidance = guidance
        codes = net.sample(256, (4, 4), draw, label=want, gen=gen)
        return float((codes == want[:, None, None]).float().mean())

    plain, guided = share_of_label(0.0), share_of_label(3.0)
    assert 0.7 < plain < 0.85 and guided > plain + 0.1, (plain, guided)
    with pytest.raises(ValueError, match="label dropout"):
        MaskedCodeModel(4, channels=8, layers=1, num_classes=2).guided(maps[:2], label=label[:2], guidance=1.0)
