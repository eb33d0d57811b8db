"""Issue 5: where hierarchical sampling loses the brain. Eight sampled top code maps decoded with the bottom zeroed
(row 1: what the top prior alone draws; meaningful for a model trained with model.bottom_dropout > 0), then with
bottom maps sampled from the conditioned bottom prior at temperatures 1.0, 0.5 and 0.2 (rows 2-4). With `real`, the
top maps are those of test slices 0, 10, ..., 70 instead, and row 1 is their full reconstruction: if the sampled
bottoms ignore the real top, the bottom prior has nothing global to condition on.
Usage: python benchmarks/experiments/vqvae2_diagnosis.py RUN_DIR OUT.png [real]   (a VQ-VAE-2 run with a trained prior)"""
import sys

import numpy as np
import torch
from PIL import Image

from vqmri.api import load
from vqmri.codes import cached_codes, position_labels
from vqmri.inference.sampling import sample_level
from vqmri.runs import load_prior

run_dir, out = sys.argv[1], sys.argv[2]
model = load(run_dir)
prior = load_prior(model.run)
net = model.net
n, gen = 8, torch.Generator().manual_seed(0)
labels = torch.arange(n) % prior.num_classes if prior.num_classes else None
(top_shape, bottom_shape) = model.code_shapes()
if sys.argv[3:] == ["real"]:
    codes, positions = cached_codes(model, "test")
    idx = torch.arange(0, 10 * n, 10)
    top = codes[0][idx]
    labels = None if labels is None else position_labels(positions[idx], prior.num_classes)
    rows = [model.decode([codes[0][idx], codes[1][idx]])]
else:
    top = sample_level(prior.nets[0], n, top_shape, gen, prior.condition(0, [], n), labels)
    with torch.no_grad():
        zt = net.quant_t.lookup(top)
        rows = [net._decode(zt, torch.zeros(n, zt.shape[1], *bottom_shape)).clamp(0, 1)]
with torch.no_grad():
    for temperature in (1.0, 0.5, 0.2):
        bottom = sample_level(prior.nets[1], n, bottom_shape, gen, prior.condition(1, [top], n), labels, temperature)
        rows.append(model.decode([top, bottom]))
grid = torch.cat([torch.cat(list(r[:, 0]), 1) for r in rows], 0)
Image.fromarray((grid.numpy() * 255).astype(np.uint8)).save(out)
print(f"wrote {out}")
