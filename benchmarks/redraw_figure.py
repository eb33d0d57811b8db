"""Does a bottom drawn by the prior keep its top's anatomy? For 8 test slices of a two-level run: the reconstruction,
the top-only decoding, and the decoding with the whole bottom redrawn by the prior given the slice's true top (at
bottom temperature 1.0 and 0.5); and the bits per bottom code given the true top, a shuffled top and a constant one
(a bottom prior that ignores its top reads the same for all three); then the bottom started from the top's own
decoding with its least likely half and quarter redrawn (`--bottom-redraw`, inference/guided.py).
Usage: python benchmarks/redraw_figure.py RUN_DIR OUT.png   (prints JSON; writes OUT.png)"""
import json
import math
import sys

import numpy as np
import torch
from PIL import Image

import vqmri
from vqmri.codes import cached_codes, position_labels
from vqmri.inference.guided import least_likely
from vqmri.inference.sampling import sample_codes

model = vqmri.load(sys.argv[1])
prior = model.prior()
codes, pos = cached_codes(model, "test")
pick = torch.linspace(0, len(codes[0]) - 1, 8).round().long()
top, bottom = codes[0][pick], codes[1][pick]
label = position_labels(pos[pick], prior.num_classes) if prior.num_classes else None
rows = [model.net.decode([top, bottom]), model.net.decode_top(top)]
keep_top = (top, torch.zeros_like(top, dtype=torch.bool))
for temperature in (1.0, 0.5):
    drawn = sample_codes(prior, len(top), [tuple(top.shape[1:]), tuple(bottom.shape[1:])], seed=0, label=label,
                         temperature=[1.0, temperature],
                         fixed=[keep_top, (bottom, torch.ones_like(bottom, dtype=torch.bool))])
    rows.append(model.net.decode(drawn))
start = model.net.encode_bottom(model.net.decode_top(top), top)
for share in (0.5, 0.25):
    redraw = least_likely(prior, [top, start], share, label)
    drawn = sample_codes(prior, len(top), [tuple(top.shape[1:]), tuple(bottom.shape[1:])], seed=0, label=label,
                         fixed=[keep_top, (start, redraw)])
    rows.append(model.net.decode(drawn))
grid = np.concatenate([np.concatenate(list(r[:, 0].numpy()), 1) for r in rows], 0)
Image.fromarray((grid * 255).round().astype(np.uint8)).save(sys.argv[2])

n = min(256, len(codes[0]))
sel = torch.randperm(len(codes[0]), generator=torch.Generator().manual_seed(0))[:n]
t, b = codes[0][sel], codes[1][sel]
lab = position_labels(pos[sel], prior.num_classes) if prior.num_classes else None
bits = {}
with torch.no_grad():
    for name, given in (("true_top", t), ("shuffled_top", t[torch.roll(torch.arange(n), 1)]),
                        ("constant_top", torch.zeros_like(t))):
        bits[name] = round(float(prior.nll([given, b], lab, [1])[0].mean()) / math.log(2), 4)
print(json.dumps({"run": sys.argv[1], "split": "test", "bottom_bits_per_code_given": bits, "figure": sys.argv[2],
                  "rows": ["reconstruction", "top only", "bottom redrawn T=1.0", "bottom redrawn T=0.5",
                           "bottom from the top's decoding, half redrawn", "the same, a quarter redrawn"]}))
