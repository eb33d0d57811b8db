"""The transformer prior: causal in raster order, its cached sampler equal to the full pass, conditioning used,
nucleus truncation as defined; the discriminator pieces of adversarial training."""
import pytest
import torch

from vqmri.inference.sampling import _draw, sample_codes
from vqmri.models.discriminator import PatchDiscriminator, score_together
from vqmri.models.prior import CodePrior
from vqmri.models.transformer import CodeTransformer
from vqmri.training.losses import adaptive_weight, generator_loss, hinge_d_loss


def _net(**kw):
    torch.manual_seed(0)
    return CodeTransformer(12, (4, 5), dim=16, layers=2, heads=2, **kw).eval()


def test_causal_in_raster_order():
    net = _net()
    codes = torch.randint(12, (1, 4, 5))
    base = net(codes)
    for t in range(20):  # changing code t moves the logits of later positions only
        other = codes.clone()
        other.view(-1)[t] = (other.view(-1)[t] + 1) % 12
        moved = (net(other) - base).abs().amax(1).view(-1) > 1e-6
        assert not moved[: t + 1].any() and (t == 19 or moved[t + 1:].any()), t


def test_cached_pass_equals_full_forward_with_conditioning():
    net = _net(cond_channels=3, num_classes=4)
    codes, cond, label = torch.randint(12, (2, 4, 5)), torch.randn(2, 3, 4, 5), torch.tensor([1, 3])
    cached = net.sample(2, (4, 5), None, cond, label, given=codes)
    torch.testing.assert_close(cached, net(codes, cond, label), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(net(codes, cond, torch.tensor([0, 0])), net(codes, cond, label))  # the label is used


def test_two_level_transformer_prior_samples_seeded_and_conditions_the_bottom_on_the_top():
    torch.manual_seed(0)
    shapes = [(2, 2), (4, 4)]
    prior = CodePrior(12, levels=2, channels=16, layers=1, shapes=shapes, arch="transformer", heads=2).eval()
    a, b = sample_codes(prior, 3, shapes, seed=5), sample_codes(prior, 3, shapes, seed=5)
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and [tuple(x.shape) for x in a] == [(3, 2, 2), (3, 4, 4)]
    bottom = torch.randint(12, (1, 4, 4))
    tops = [torch.zeros(1, 2, 2, dtype=torch.long), torch.ones(1, 2, 2, dtype=torch.long)]
    nll = [prior.nll([t, bottom])[1] for t in tops]
    assert not torch.isclose(nll[0], nll[1])
    with pytest.raises(ValueError, match="multiple of prior.heads"):
        CodeTransformer(12, (2, 2), dim=10, heads=4)


def test_top_p_keeps_the_fewest_codes_holding_that_mass():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    drawn = {int(_draw(logits, 1.0, None, g, top_p=0.7)) for _ in range(300)}
    assert drawn == {0, 1}  # 0.5 alone is short of 0.7; 0.5 + 0.3 holds it
    assert {int(_draw(logits, 1.0, None, g, top_p=0.4)) for _ in range(50)} == {0}
    assert {int(_draw(logits, 1.0, None, g, top_p=1.0)) for _ in range(400)} == {0, 1, 2, 3}


def test_patch_discriminator_and_hinge_game():
    d = PatchDiscriminator(1, 8, 3, "spectral")
    assert d(torch.rand(2, 1, 64, 64)).shape == (2, 1, 6, 6)
    with pytest.raises(ValueError, match="gan.norm"):
        PatchDiscriminator(norm="group")
    far = torch.full((4,), 3.0)
    assert hinge_d_loss(far, -far) == 0  # both sides beyond the margin: nothing to learn
    assert hinge_d_loss(-far, far) == 4.0 and generator_loss(-far) == 3.0


@pytest.mark.parametrize("norm", ["batch", "spectral", "none"])
def test_real_and_decoded_crops_are_scored_together(norm):
    """Batch normalisation in separate passes normalises a side's own contrast away: a decoded side at half the
    contrast of the real one scores exactly as the real one does. Scored together, the two sides differ; without batch
    normalisation one pass and two give the same logits."""
    torch.manual_seed(0)
    d = PatchDiscriminator(1, 8, 2, norm).train(norm == "batch")  # eval: spectral norm's power iteration stays put
    real = torch.rand(4, 1, 32, 32)
    fake = 0.5 * real
    r, f = score_together(d, real, fake)
    if norm == "batch":
        assert torch.allclose(d(real), d(fake), atol=3e-3)  # apart, blind to the change (up to BN's epsilon)
        assert (r - f).abs().mean() > 0.1
    else:
        assert torch.allclose(r, d(real), atol=1e-5) and torch.allclose(f, d(fake), atol=1e-5)
        assert (r - f).abs().mean() > 0


def test_adaptive_weight_balances_gradient_norms_at_the_last_layer():
    w = torch.randn(3, 3, requires_grad=True)
    x = torch.randn(5, 3)
    rec = (x @ w).pow(2).mean()
    adv = 10 * (x @ w).mean()
    weight = adaptive_weight(rec, adv, w)
    g_rec = torch.autograd.grad(rec, w, retain_graph=True)[0].norm()
    g_adv = torch.autograd.grad(weight * adv, w)[0].norm()
    assert torch.isclose(g_rec, g_adv, rtol=1e-3) and not weight.requires_grad
