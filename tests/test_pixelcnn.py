import pytest
import torch

from vqmri.errors import VqmriError
from vqmri.inference.sampling import sample_codes
from vqmri.models.pixelcnn import GatedPixelCNN
from vqmri.models.prior import CodePrior


def _net(cond=0, layers=3):
    torch.manual_seed(0)
    return GatedPixelCNN(12, 8, layers, 3, cond_channels=cond).eval()


def test_causal_and_no_blind_spot():
    net = _net(layers=5)  # receptive field covers the whole 4x4 map
    h = w = 4
    codes = torch.randint(12, (1, h, w))
    x = net.embed(codes).permute(0, 3, 1, 2).detach().requires_grad_(True)

    def fwd(x):
        v = hh = x
        for b in net.blocks:
            v_new, pre = b.vertical(v)
            hh = b.horizontal(hh, b.link(pre))
            v = v_new
        return net.head(hh)

    out = fwd(x)
    for i in range(h):
        for j in range(w):
            (g,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
            seen = g.abs().sum(1)[0] > 0
            before = torch.zeros(h, w, dtype=torch.bool)
            before.view(-1)[: i * w + j] = True
            assert not (seen & ~before).any(), (i, j)  # nothing at or after (i, j)
    (g,) = torch.autograd.grad(out[0, :, h - 1, w - 1].sum(), x)
    seen = g.abs().sum(1)[0] > 0
    assert seen.view(-1)[:-1].all()  # the last pixel sees every earlier one: no blind spot


def test_cached_pass_equals_full_forward():
    net = _net(cond=4)
    codes = torch.randint(12, (2, 6, 7))
    cond = torch.randn(2, 4, 6, 7)
    cached = net.sample(2, (6, 7), None, cond, given=codes)
    torch.testing.assert_close(cached, net(codes, cond), atol=1e-5, rtol=1e-5)


def test_fast_sampler_equals_naive_and_is_seeded():
    torch.manual_seed(0)
    shapes = [(3, 3), (6, 6)]
    prior = CodePrior(12, levels=2, channels=8, layers=2, kernel_size=3, shapes=shapes).eval()
    with torch.no_grad():  # non-zero position maps, so the test covers them
        for p in prior.positions:
            p.normal_()
    fast = sample_codes(prior, 3, shapes, seed=5)
    naive = sample_codes(prior, 3, shapes, seed=5, naive=True)
    for f, n, s in zip(fast, naive, shapes):
        assert f.shape == (3, *s) and torch.equal(f, n)
    again = sample_codes(prior, 3, shapes, seed=5)
    other = sample_codes(prior, 3, shapes, seed=6)
    assert torch.equal(again[1], fast[1]) and not torch.equal(other[1], fast[1])


def test_top_k_one_is_greedy():
    prior = CodePrior(12, channels=8, layers=2, kernel_size=3).eval()
    a = sample_codes(prior, 2, [(4, 4)], seed=1, top_k=1)[0]
    b = sample_codes(prior, 2, [(4, 4)], seed=2, top_k=1)[0]
    assert torch.equal(a, b)


@pytest.mark.parametrize("arch", ["pixelcnn", "transformer", "maskgit"])
@pytest.mark.parametrize("kw,flag", [({"top_k": 0}, "--top-k"), ({"top_p": 0.0}, "--top-p"),
                                     ({"top_p": 1.5}, "--top-p"), ({"temperature": 0.0}, "--temperature"),
                                     ({"temperature": [1.0, 1.0, 1.0]}, "--temperature")])
def test_sampling_arguments_are_checked_in_one_place_for_every_prior(arch, kw, flag):
    """A Python caller gets the command line's one-line errors: every prior samples through the same check."""
    prior = CodePrior(12, channels=8, layers=1, kernel_size=3, shapes=[(4, 4)], arch=arch, heads=2).eval()
    with pytest.raises(VqmriError, match=flag):
        sample_codes(prior, 2, [(4, 4)], **kw)
    greedy = [sample_codes(prior, 2, [(4, 4)], seed=s, top_k=1)[0] for s in (1, 2)]
    assert torch.equal(*greedy) if arch != "maskgit" else greedy[0].shape == (2, 4, 4)


def test_slice_positions_and_labels():
    from vqmri.codes import position_labels, slice_positions

    meta = [{"subject": "a", "index": 10}, {"subject": "a", "index": 0}, {"subject": "b", "index": 4},
            {"subject": "a", "index": 5}, {"subject": "b", "index": 3}]
    pos = slice_positions(meta)
    assert pos.tolist() == [1.0, 0.0, 1.0, 0.5, 0.0]
    assert position_labels(pos, 4).tolist() == [3, 0, 3, 2, 0]


def test_class_label_changes_the_prior():
    from vqmri.models.prior import CodePrior

    torch.manual_seed(0)
    prior = CodePrior(16, channels=8, layers=2, kernel_size=3, num_classes=3, shapes=[(4, 4)])
    for p in prior.parameters():
        torch.nn.init.normal_(p, std=0.3)
    codes = [torch.randint(0, 16, (2, 4, 4))]
    a = prior.nll(codes, torch.tensor([0, 0]))[0]
    b = prior.nll(codes, torch.tensor([2, 2]))[0]
    assert not torch.isclose(a, b)
