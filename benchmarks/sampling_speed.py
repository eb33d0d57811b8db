"""Issue 4: samples/s of the cached sampler against the naive loop (one full forward per pixel), 32x32 code maps.
The naive loop is timed over its first 8 steps and extrapolated to the whole map (each of its steps costs the same
full forward pass; running it to the end would take hours on 2 CPU cores). Same process, same prior.
Usage: python benchmarks/sampling_speed.py [RUN_DIR]  (without RUN_DIR: an untrained prior of the default size)"""
import json
import sys
import time

import torch

from vqmri.config.schema import Prior
from vqmri.inference.sampling import sample_codes
from vqmri.models.prior import CodePrior

if len(sys.argv) > 1:
    from vqmri.runs import Run, load_prior

    prior = load_prior(Run.open(sys.argv[1]))  # a PixelCNN prior of a 32x32 code map (the default run)
else:
    p = Prior()
    prior = CodePrior(512, 1, p.channels, p.layers, p.kernel_size).eval()
shape = (32, 32)
out = {"prior": {"channels": prior.nets[0].embed.embedding_dim, "layers": prior.nets[0].layers,
                 "codebook": prior.codebook_size}, "code_map": "32x32", "threads": torch.get_num_threads()}
for n in (64, 256):
    times = []
    for rep in range(3 if n == 64 else 1):
        t = time.perf_counter()
        sample_codes(prior, n, [shape], seed=rep, batch_size=n)
        times.append(time.perf_counter() - t)
    cached = sorted(times)[len(times) // 2]
    net = prior.nets[0]
    codes = torch.zeros(n, *shape, dtype=torch.long)
    cond = prior.condition(0, [codes], n)
    steps = 8  # the first 8 steps of the naive loop
    t = time.perf_counter()
    with torch.no_grad():
        for _ in range(steps):
            net(codes, cond)
    naive = (time.perf_counter() - t) / steps * shape[0] * shape[1]
    out[f"n{n}"] = {"cached_s": round(cached, 2), "cached_samples_per_s": round(n / cached, 2),
                    "naive_s_extrapolated": round(naive, 1), "naive_samples_per_s": round(n / naive, 4),
                    "speedup": round(naive / cached, 1), "cached_runs_s": [round(x, 2) for x in times]}
print(json.dumps(out))
