"""Issue 21/40: other definitions of the healing anomaly map, all read from one set of redraws of the benchmark's
lesioned slices (`anomaly_detection.py`), to choose on the validate split: |x - mean of the redraws| (the package's),
|x - nearest redraw|, that residual over the redraws' spread (z, floors 0.02 / 0.05), minus the reconstruction
error, |reconstruction - healed|; each smoothed at 1, 2, 3 px and inside the replaced footprint or everywhere, at
each THRESHOLD. Prints the 25 best by slice AUROC over all lesions.

Usage: python benchmarks/anomaly_variants.py RUN_DIR SPLIT OUT.json THRESHOLD[,THRESHOLD]   (slow: ~7 min a threshold)
"""
import json
import math
import sys
import time
from pathlib import Path

import torch

from vqmri.inference.healing import SMOOTH, code_nll, footprint, gaussian_blur, likeliest_labels, redraws

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_detection import lesioned_slices, scores  # noqa: E402

run, split, out = sys.argv[1], sys.argv[2], sys.argv[3]
thresholds = [float(t) for t in sys.argv[4].split(",")]
R = 8
model, prior, clean, x, masks, radius, contrast = lesioned_slices(run, split, 128, 0)
tissue = clean > 0.1
has = masks.flatten(1).any(1)
strong = (~has) | ((radius >= 6) & (contrast >= 0.3))
every = torch.ones(len(x), dtype=torch.bool)
recon = model.reconstruct(x)
labels_nll = []  # each batch's likeliest labels and code NLL: the same at every threshold
for i in range(0, len(x), 64):
    with torch.no_grad():
        codes = model.encode(x[i:i + 64])
        labels = likeliest_labels(prior, codes)
        labels_nll.append((codes, labels, code_nll(prior, codes, labels)))
res = {}
for thr in thresholds:
    t0 = time.time()
    maps = {}
    for i, (codes, labels, nll) in zip(range(0, len(x), 64), labels_nll):
        xb = x[i:i + 64]
        replaced = [n > -math.log2(thr) for n in nll]
        d = redraws(model, prior, codes, replaced, labels, R, i)
        area = footprint(replaced, model.image_size, grow=1)
        s = SMOOTH * xb.shape[-1] / 128
        healed, sd = d.mean(0), d.std(0)
        rb = recon[i:i + 64]
        v = {"mean": (xb - healed).abs(),
             "nearest_draw": (xb - d).abs().amin(0),
             "z_sd02": (xb - healed).abs() / (sd + 0.02),
             "z_sd05": (xb - healed).abs() / (sd + 0.05),
             "minus_recon_err": ((xb - healed).abs() - (xb - rb).abs()).clamp(min=0),
             "recon_vs_healed": (rb - healed).abs(),
             "nearest_minus_recon": ((xb - d).abs().amin(0) - (xb - rb).abs()).clamp(min=0)}
        for k, m in v.items():
            for sm in (1.0, 2.0, 3.0):
                for a in ("area", "all"):
                    mm = gaussian_blur(m * (area if a == "area" else 1), sm * s / SMOOTH)
                    maps.setdefault(f"{k}|s{sm}|{a}", []).append(mm)
    for k, parts in maps.items():
        mp = torch.cat(parts)
        sa = scores(mp, masks, tissue, every)
        ss = scores(mp, masks, tissue, strong)
        res[f"t{thr}|{k}"] = {"slice_all": sa["slice_auroc"], "slice_all_top1": sa["slice_auroc_by_score"]["top1pct"],
                               "slice_strong": ss["slice_auroc"], "pixel_all": sa["pixel_auroc"],
                               "dice": sa["best_dice"]}
    print("threshold", thr, "seconds", time.time() - t0, flush=True)
json.dump(res, open(out, "w"), indent=1)
for k, v in sorted(res.items(), key=lambda kv: -kv[1]["slice_all"])[:25]:
    print(k, {a: round(b, 3) for a, b in v.items()})
