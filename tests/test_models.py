import torch

from vqmri.config import resolve
from vqmri.models.factory import build_autoencoder


def test_vqvae_shapes_and_presets():
    for preset, f in (("oasis", 4), ("seed-oord", 4), ("sample", 4)):
        m = build_autoencoder(resolve(preset)).train()
        x = torch.rand(2, 1, 64, 64)
        y, qs = m(x)
        assert y.shape == x.shape and qs[0].codes.shape == (2, 64 // f, 64 // f)
        m.eval()
        codes = m.encode(x)
        assert m.decode(codes).shape == x.shape and m.code_shapes(64) == [(64 // f, 64 // f)]
    m = build_autoencoder(resolve("oasis", overrides=["model.downsample=8"]))
    assert m.encode(torch.rand(1, 1, 64, 64))[0].shape == (1, 8, 8)


def test_vqvae2_two_code_maps_and_gradients():
    m = build_autoencoder(resolve("vqvae2", overrides=["model.channels=[16,32]"])).train()
    x = torch.rand(2, 1, 64, 64)
    y, qs = m(x)
    assert y.shape == x.shape and [q.codes.shape for q in qs] == [(2, 8, 8), (2, 16, 16)]
    (y.mean() + sum(q.loss for q in qs)).backward()
    assert all(p.grad is not None for n, p in m.named_parameters() if "enc_t" in n)
    m.eval()
    codes = m.encode(x)
    assert m.decode(codes).shape == x.shape and m.code_shapes(64) == [(8, 8), (16, 16)]


def test_vqvae2_bottom_dropout_decodes_some_slices_from_the_top_alone():
    cfg = resolve("vqvae2", overrides=["model.channels=[16,32]", "model.bottom_dropout=1.0"])
    m = build_autoencoder(cfg).train()
    torch.manual_seed(0)
    x = torch.rand(3, 1, 32, 32)
    y, qs = m(x)
    # every bottom vector dropped: the output is what the decoder makes of the top codes alone
    zt = qs[0].quantized
    assert torch.allclose(y, m._decode(zt, torch.zeros_like(qs[1].quantized)), atol=1e-6)
    m.eval()  # never at evaluation: reconstructions use both levels
    y_eval, qs = m(x)
    assert torch.allclose(y_eval, m._decode(qs[0].quantized, qs[1].quantized), atol=1e-6)
    assert not torch.allclose(y_eval, m._decode(qs[0].quantized, torch.zeros_like(qs[1].quantized)), atol=1e-4)


def test_bad_model_settings_are_one_line_errors():
    import pytest

    from vqmri.errors import VqmriError

    for bad in ("model.downsample=3", "model.arch=vqgan"):  # the schema refuses these before any network is built
        with pytest.raises(VqmriError, match=bad.split("=")[0]):
            resolve("oasis", overrides=[bad])
    with pytest.raises(VqmriError, match="invalid model settings"):  # settings that only disagree with each other
        build_autoencoder(resolve("oasis", overrides=["model.bottom_dropout=0.5"]))
    with pytest.raises(VqmriError, match="invalid model settings"):
        build_autoencoder(resolve("oasis", overrides=["model.top_codebook_size=64"]))
    with pytest.raises(VqmriError, match="two-level model"):
        resolve("oasis", overrides=["prior.top_sampler=gaussian"])
    m = build_autoencoder(resolve("coarse"))
    assert m.code_shapes(128) == [(16, 16)]
    gen = resolve("generate")
    assert build_autoencoder(gen).code_shapes(128) == [(8, 8)] and gen.prior.augment == 8


def test_nearest_upsampling_draws_no_checkerboard():
    """model.upsample=nearest: a constant latent decodes to a constant interior (nothing periodic for a discriminator
    to amplify); the paper's transposed convs give the same latent a period-2 pattern. Old settings load unchanged."""
    torch.manual_seed(0)
    z = torch.ones(1, 64, 32, 32)  # a 256 px output: its centre is far from the borders
    spread = {}
    for up in ("transpose", "nearest"):
        for arch, over in (("vqvae", "model.downsample=8"), ("vqvae2", "model.channels=[16,32]")):
            m = build_autoencoder(resolve("coarse" if arch == "vqvae" else "vqvae2",
                                          overrides=[over, f"model.upsample={up}"])).eval()
            x = torch.rand(2, 1, 64, 64)
            assert m(x)[0].shape == x.shape
            assert any(isinstance(layer, torch.nn.ConvTranspose2d) for layer in m.decoder.modules()) == (
                up == "transpose")
        dec = build_autoencoder(resolve("coarse", overrides=[f"model.upsample={up}"])).decoder
        with torch.no_grad():
            spread[up] = float(dec(z)[0, 0, 96:-96, 96:-96].std())
    assert spread["nearest"] < 1e-5 < 1e-3 < spread["transpose"]
    assert resolve("oasis").model.upsample == "transpose"


def test_wrapped_padding_decodes_a_background_edge_like_any_background():
    """model.padding=circular: a blank slice decodes periodic up to its edge (every conv sees its own pattern beyond
    it), for each layout; with zeros the outer ring decodes differently (the 32 px judge's tell of the two-level
    model, benchmarks/RESULTS.md). The wrapped transposed conv has the zero-padded one's parameters and output
    inside."""
    from vqmri.models.vqvae import WrapConvTranspose2d

    cases = [("coarse", []), ("oasis", []), ("vqvae2", ["model.top_factor=4"]), ("vqvae2", ["model.bottom=residual"]),
             ("vqvae2", ["model.upsample=nearest"])]
    for (preset, over), padding in ((c, p) for c in cases for p in ("zeros", "circular")):
        torch.manual_seed(0)
        cfg = resolve(preset, overrides=over + ["model.channels=[16,32]", f"model.padding={padding}"])
        m = build_autoencoder(cfg).eval()
        period = 4 * m.top_factor if hasattr(m, "top_factor") else m.downsample
        with torch.no_grad():
            y = m.decode_latents([q.quantized for q in m.quantize(torch.zeros(1, 1, 64, 64))])
        off_period = max(float((y[..., :-period, :] - y[..., period:, :]).abs().max()),
                         float((y[..., :, :-period] - y[..., :, period:]).abs().max()))
        assert (off_period < 1e-5) == (padding == "circular"), (preset, over, padding, off_period)
    wrap, zeros = WrapConvTranspose2d(8, 4), torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    zeros.load_state_dict(wrap.state_dict())
    x = torch.randn(2, 8, 9, 7)
    assert wrap(x).shape == zeros(x).shape == (2, 4, 18, 14)
    assert torch.allclose(wrap(x)[..., 1:-1, 1:-1], zeros(x)[..., 1:-1, 1:-1], atol=1e-6)
    assert resolve("oasis").model.padding == "zeros" and resolve("realistic").model.padding == "circular"


def _fit_tiny(bottom: str, x: torch.Tensor, steps: int = 150):
    """A tiny VQ-VAE-2 (4x4 top over 16x16 bottom at 64 px) fitted briefly to real slices with the training loss."""
    from vqmri.training.losses import reconstruction_loss

    torch.manual_seed(0)
    cfg = resolve("vqvae2", overrides=["model.channels=[16,32]", "model.res_channels=16", "model.codebook_size=64",
                                       "model.top_factor=4", f"model.bottom={bottom}", "quantizer.init=random"])
    m = build_autoencoder(cfg).train()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for i in range(steps):
        batch = x[torch.randint(len(x), (16,), generator=torch.Generator().manual_seed(i))]
        outs, qs = m.reconstructions(batch)
        loss = sum(reconstruction_loss(o, batch, "l1+ssim", 0.5) for o in outs) + sum(q.loss for q in qs)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def test_a_residual_bottoms_top_decodes_on_its_own_and_the_bottom_adds_detail():
    """`model.bottom=residual` trains the top's own decoding every batch: after a short fit on real slices the top
    decodes a slice on its own, better than untrained (0.25 here) and than the same fit's joint top zeroed, and the
    bottom adds detail. (The joint model here has the preset's bottom dropout; on 2026-12-06's machine the residual
    top was 0.34 against the joint's 0.33, so the far better top that this test once asserted is not claimed. At
    128 px without bottom dropout the residual top collapsed to one mean slice: benchmarks/RESULTS.md; this checks
    the mechanism, not that a preset is good.)"""
    from test_sample_metrics import _brain_slices

    from vqmri.evaluation.metrics import ssim

    x, _ = _brain_slices(n=96, size=64)
    score = {}
    for bottom in ("joint", "residual"):
        m = _fit_tiny(bottom, x)
        top, low = m.encode(x)
        score[bottom] = {"full": float(ssim(m.decode([top, low]), x).mean()),
                         "top_only": float(ssim(m.decode_top(top), x).mean())}
    res, joint = score["residual"], score["joint"]
    assert res["full"] > res["top_only"] + 0.05, score
    assert res["top_only"] > max(0.3, joint["top_only"]), score


def test_a_gaussian_top_draws_what_the_training_tops_share():
    """GaussianTop (prior.top_sampler=gaussian) fitted to the top vectors of real slices through a briefly fitted
    VQ-VAE-2: its draws put at each position the code that the training tops hold there most often about as often as
    the training tops do (background round the head, the head's middle), where codes drawn uniformly almost never
    do; its draws vary; at scale 0 every draw of a class is that class's mean, snapped to the codebook."""
    from test_sample_metrics import _brain_slices

    from vqmri.models.gaussian_top import GaussianTop

    x, _ = _brain_slices(n=96, size=64)
    m = _fit_tiny("joint", x)
    top = m.encode(x)[0]  # (96, 4, 4)
    labels = (torch.arange(len(top)) >= len(top) // 2).long()  # two classes
    g = GaussianTop(2, 8, (4, 4), 64, 64).fit(m.quant_t.lookup(top), labels, m.quant_t.codebook())
    mode = top.mode(0).values

    def agree(codes):
        return float((codes == mode).float().mean())

    gen = torch.Generator().manual_seed(0)
    drawn = g.sample(200, None, 1.0, gen)
    uniform = torch.randint(64, drawn.shape, generator=gen)
    assert agree(drawn) > 0.6 * agree(top) and agree(drawn) > 4 * agree(uniform), (agree(drawn), agree(top))
    assert len({tuple(d.flatten().tolist()) for d in drawn}) > 20
    for c in (0, 1):
        still = g.sample(5, torch.full((5,), c), 0.0, gen)
        mean = g.mean[c].view(64, 16).T
        snapped = torch.cdist(mean, m.quant_t.codebook()).argmin(-1).view(4, 4)
        assert (still == snapped).all()
