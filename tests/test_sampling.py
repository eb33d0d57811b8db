"""Every prior network draws through one interface (`net.sample(n, shape, draw, cond, label, fixed, gen)`, behind
`sample_codes`): for each top and bottom network, samples are seeded, in range, keep fixed codes exactly, draw the
rest, and obey top-k = 1 (greedy: the same maps whatever the seed, for the networks that draw in a fixed order)."""
import itertools

import pytest
import torch

from vqmri.errors import VqmriError
from vqmri.inference.sampling import masked_sampling, sample_codes
from vqmri.models.prior import ARCHS, CodePrior


def test_every_prior_network_samples_through_one_interface():
    shapes = [(2, 2), (4, 4)]
    for top, bottom in itertools.product(("pixelcnn", "transformer"), ARCHS):
        torch.manual_seed(0)
        prior = CodePrior(6, levels=2, channels=8, layers=2, kernel_size=3, shapes=shapes, arch=top, heads=2,
                          bottom_arch=bottom, steps=3).eval()
        with torch.no_grad():  # random weights that favour no code: every code is a likely draw
            for p in prior.parameters():
                p.normal_(0, 0.5)
        case = (top, bottom)
        a, b = sample_codes(prior, 4, shapes, seed=1), sample_codes(prior, 4, shapes, seed=1)
        other = sample_codes(prior, 4, shapes, seed=2)
        assert all(torch.equal(x, y) for x, y in zip(a, b)), case
        assert not all(torch.equal(x, y) for x, y in zip(a, other)), case
        assert all(x.shape == (4, *s) and x.min() >= 0 and x.max() < 6 for x, s in zip(a, shapes)), case
        redraw = torch.rand(4, 4, 4, generator=torch.Generator().manual_seed(0)) < 0.5
        fixed = [(a[0], torch.zeros(4, 2, 2, dtype=torch.bool)), (torch.full((4, 4, 4), 5), redraw)]
        refine = [0, 2] if bottom.startswith("maskgit") else None  # corrector rounds keep fixed codes too
        with masked_sampling(prior, refine=refine, refine_share=0.5 if refine else None):
            c = sample_codes(prior, 4, shapes, seed=3, fixed=fixed)
        assert torch.equal(c[0], a[0]) and (c[1][~redraw] == 5).all(), case
        assert (c[1][redraw] != 5).any(), case  # the redrawn positions are drawn, not copied
        greedy = [sample_codes(prior, 2, shapes, seed=s, top_k=1) for s in (1, 2)]
        assert torch.equal(greedy[0][0], greedy[1][0]), case
        if not bottom.startswith("maskgit"):  # its order of commitment is seeded (choice noise): raster priors repeat
            assert torch.equal(greedy[0][1], greedy[1][1]), case


def test_masked_sampling_sets_each_masked_level_for_the_call_only():
    """`--steps`: one count or one a level; each masked-code level then runs that many passes, and the prior keeps
    its own counts afterwards. Bad counts, and a prior with no masked-code level, are one-line errors."""
    shapes = [(4, 4), (8, 8)]
    prior = CodePrior(6, levels=2, channels=8, layers=1, kernel_size=3, shapes=shapes, arch="maskgit_transformer",
                      bottom_arch="maskgit", heads=2, steps=3).eval()
    passes: list[int] = []
    for level, net in enumerate(prior.nets):
        net.register_forward_hook(lambda *_, level=level: passes.append(level))
    for steps, want in [(None, (3, 3)), (5, (5, 5)), ([2, 7], (2, 7))]:
        passes.clear()
        with masked_sampling(prior, steps):
            sample_codes(prior, 2, shapes, seed=0)
        assert (passes.count(0), passes.count(1)) == want, steps
    assert [net.steps for net in prior.nets] == [3, 3]
    for bad in (0, [1, 2, 3], 1.5, True):
        with pytest.raises(VqmriError, match="--steps"), masked_sampling(prior, bad):
            pass
    raster = CodePrior(6, channels=8, layers=1, kernel_size=3, shapes=[(4, 4)])
    with pytest.raises(VqmriError, match="raster order"), masked_sampling(raster, 4):
        pass


def test_corrector_rounds_and_guidance_are_checked():
    """`--refine` / `--guidance`: one value or one a level, masked-code levels only, guidance only for a prior that
    learnt to predict without its label; every bad value a one-line error naming the flag, the prior unchanged."""
    shapes = [(4, 4), (8, 8)]
    prior = CodePrior(6, levels=2, channels=8, layers=1, kernel_size=3, shapes=shapes, arch="pixelcnn",
                      bottom_arch="maskgit", steps=3, num_classes=2, label_dropout=0.1)
    bottom = prior.nets[1]
    with masked_sampling(prior, refine=[0, 2], refine_share=0.5, guidance=[0, 1.5]):
        assert (bottom.refine_rounds, bottom.refine_share, bottom.guidance) == (2, 0.5, 1.5)
    assert (bottom.refine_rounds, bottom.refine_share, bottom.guidance) == (0, 0.25, 0.0)
    plain = CodePrior(6, levels=2, channels=8, layers=1, kernel_size=3, shapes=shapes, arch="maskgit", num_classes=2)
    cases = [(prior, dict(refine=-1), "--refine -1"), (prior, dict(refine=[1, 2, 3]), "--refine 1,2,3"),
             (prior, dict(refine=True), "--refine"), (prior, dict(refine=1.5), "--refine"),
             (prior, dict(refine=[1, 0]), "raster order"), (prior, dict(refine_share=1.0), "--refine-share"),
             (prior, dict(refine_share=0.0), "--refine-share"), (prior, dict(guidance=-1.0), "--guidance"),
             (prior, dict(guidance=[0, float("inf")]), "--guidance"), (prior, dict(guidance=[2.0, 0]), "raster order"),
             (plain, dict(guidance=1.0), "label_dropout"), (prior, dict(choice_temperature=-0.5), "--choice-temp")]
    for net, kw, message in cases:
        with pytest.raises(VqmriError, match=message), masked_sampling(net, **kw):
            pass
    assert (bottom.refine_rounds, bottom.guidance) == (0, 0.0)


def test_choice_temperature_decides_between_confidence_and_chance():
    """Greedy draws (top-k 1): with choice temperature 0 a masked-code level keeps the most confident codes each step,
    so every seed gives the same maps; with a large one the order of commitment is chance, and so are the maps."""
    shapes = [(6, 6)]
    torch.manual_seed(0)
    prior = CodePrior(6, channels=8, layers=2, kernel_size=3, shapes=shapes, arch="maskgit", steps=4).eval()
    with torch.no_grad():
        for p in prior.parameters():
            p.normal_(0, 0.5)
    for choice, same in ((0.0, True), (1000.0, False)):
        with masked_sampling(prior, choice_temperature=choice):
            a, b = (sample_codes(prior, 8, shapes, seed=s, top_k=1)[0] for s in (1, 2))
        assert torch.equal(a, b) == same, choice
    assert prior.nets[0].choice_temperature == 4.5
