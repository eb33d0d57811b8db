import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vqmri.models.quantizer import VectorQuantizer


def _data(seed, n=4):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(8, 16, generator=g) * 3
    idx = torch.randint(8, (n, 6, 6), generator=g)
    return (centres[idx] + 0.1 * torch.randn(n, 6, 6, 16, generator=g)).permute(0, 3, 1, 2)


def test_shapes_losses_and_straight_through():
    q = VectorQuantizer(32, 16, init="kmeans").train()
    z = _data(0).requires_grad_(True)
    out = q(z)
    assert out.quantized.shape == z.shape and out.codes.shape == (4, 6, 6) and out.codes.dtype == torch.long
    out.quantized.sum().backward()
    assert torch.allclose(z.grad, torch.ones_like(z))  # straight-through
    assert 1 <= float(out.perplexity) <= 32 and 0 < float(out.usage) <= 1
    q.eval()
    torch.testing.assert_close(q.lookup(q(z).codes), q(z).quantized.detach())


def test_kmeans_init_fits_clustered_data_better_than_random_normal():
    z = _data(1, 16)
    km = VectorQuantizer(8, 16, init="kmeans", dead_code_threshold=0).train()
    rnd = VectorQuantizer(8, 16, init="normal", dead_code_threshold=0).train()
    assert km(z).commitment < 0.1 * rnd(z).commitment


def test_ema_moves_codebook_towards_data_and_gradient_mode_has_codebook_loss():
    z = _data(2, 16)
    q = VectorQuantizer(8, 16, init="normal", decay=0.5, dead_code_threshold=0).train()
    first = float(q(z).commitment)
    for _ in range(20):
        last = float(q(z).commitment)
    assert last < first
    g = VectorQuantizer(8, 16, ema=False, init="uniform").train()
    out = g(z)
    out.loss.backward()
    assert g.embed.grad is not None and g.embed.grad.abs().sum() > 0


def test_dead_codes_are_restarted():
    torch.manual_seed(0)
    z = _data(3, 16)
    restarted = VectorQuantizer(64, 16, init="uniform", ema=True, dead_code_threshold=1.0).train()
    plain = VectorQuantizer(64, 16, init="uniform", ema=True, dead_code_threshold=0.0).train()
    for _ in range(30):
        with_restart, without = float(restarted(z).usage), float(plain(z).usage)
    assert without <= 0.25 and with_restart > 0.6  # restarted codes split the 8 clusters among many codes


def test_l2_normalised_codes():
    q = VectorQuantizer(16, 16, l2_norm=True).train()
    q(_data(4))
    assert torch.allclose(q.codebook().norm(dim=1), torch.ones(16), atol=1e-5)


def _worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(rank)  # different random state per rank must not matter
    q = VectorQuantizer(16, 16, init="kmeans", decay=0.8, dead_code_threshold=2.0).train()
    for step in range(5):
        q(_data(100 + 10 * step + rank))  # each rank sees different data
    torch.save({k: v for k, v in q.state_dict().items()}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_keep_identical_codebooks(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    a, b = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The EMA statistics are the sums over both ranks: the count of assignments equals both batches together.
    assert float(a["cluster_size"].sum()) == pytest.approx(4 * 6 * 6 * 2, rel=1e-4)
