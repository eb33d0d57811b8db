"""Issue 21: variants of the healing map, scored on the same synthetic lesions as benchmarks/anomaly_detection.py
(same slices, lesions and seeds), to choose the package's map on the validate split before the test split is read.

Variants: the replacement threshold (0.005, 0.01, 0.02), resamples (4, 8), the map's reference (the input x, or the
reconstruction of x: decoder error common to healed and reconstruction cancels), the replaced footprint dilated by
one code, and a Gaussian smoothing of the map (sigma 1, 2 px at 128 px); reconstruction error with the same
smoothing as the fair baseline. Prints strong-lesion pixel AUPRC, best Dice and slice AUROC (window score).

Usage: python benchmarks/experiments/anomaly_variants.py RUN_DIR OUT.json [SPLIT] [N] [THRESHOLDS] [--grown]
(THRESHOLDS comma-separated, default 0.005,0.01,0.02; --grown: only the footprint grown by one code, every
smoothing and both resample counts)
"""
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from anomaly_detection import lesioned_slices, scores  # noqa: E402

from vqmri.inference.healing import code_nll, footprint, likeliest_labels  # noqa: E402
from vqmri.inference.healing import gaussian_blur as blur  # noqa: E402
from vqmri.inference.sampling import sample_codes  # noqa: E402


def main():
    grown_only = "--grown" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--grown"]
    run_dir, out = args[0], Path(args[1])
    split = args[2] if len(args) > 2 else "validate"
    n = int(args[3]) if len(args) > 3 else 128
    thresholds = [float(t) for t in args[4].split(",")] if len(args) > 4 else [0.005, 0.01, 0.02]
    seed = 0
    model, prior, clean, x, masks, radius, contrast = lesioned_slices(run_dir, split, n, seed)
    tissue = clean > 0.1
    has = masks.flatten(1).any(1)
    strong = (~has) | ((radius >= 6) & (contrast >= 0.3))
    scale = x.shape[-1] / 128

    recon = model.reconstruct(x)
    codes = model.encode_batched(x)
    labels = likeliest_labels(prior, codes)
    nll = code_nll(prior, codes, labels)
    res = {"run": run_dir, "split": split, "n": n, "variants": {}}

    def report(name, m):
        s = scores(m, masks, tissue, strong)
        a = scores(m, masks, tissue, torch.ones(len(x), dtype=torch.bool))
        res["variants"][name] = {"strong": {k: s[k] for k in ("pixel_auprc", "best_dice", "slice_auroc")},
                                 "all": {k: a[k] for k in ("pixel_auprc", "best_dice", "slice_auroc")}}
        print(f"{name:44s} strong auprc {s['pixel_auprc']:.3f} dice {s['best_dice']:.3f} "
              f"slice {s['slice_auroc']:.3f} | all auprc {a['pixel_auprc']:.3f} dice {a['best_dice']:.3f} "
              f"slice {a['slice_auroc']:.3f}", flush=True)

    for sig in (0, 1, 2):
        report(f"recon_error sigma{sig}", blur((x - recon).abs(), sig * scale))
    for thr in thresholds:
        replaced = [v > -math.log2(thr) for v in nll]
        draws = []
        for r in range(8):
            parts = []
            for i in range(0, len(x), 64):
                d = sample_codes(prior, len(x[i:i + 64]), model.code_shapes(), (seed + i) * 1000 + r,
                                 label=None if labels is None else labels[i:i + 64],
                                 fixed=[(c[i:i + 64], m[i:i + 64]) for c, m in zip(codes, replaced)])
                parts.append(model.decode(d))
            draws.append(torch.cat(parts))
        area = footprint(replaced, model.image_size)
        grown = footprint(replaced, model.image_size, grow=1)
        frac = float(sum(m.flatten(1).float().mean(1) for m in replaced).mean() / len(replaced))
        print(f"threshold {thr}: replaced fraction {frac:.3f}", flush=True)
        for R in (4, 8):
            healed = torch.stack(draws[:R]).mean(0)
            if grown_only:
                for sig in (0, 1, 1.5, 2, 3):
                    report(f"t{thr} R{R} x-healed grown sigma{sig}", blur((x - healed).abs() * grown, sig * scale))
                continue
            for sig in (0, 1, 2):
                report(f"t{thr} R{R} x-healed sigma{sig}", blur((x - healed).abs() * area, sig * scale))
            if R == 8:
                report(f"t{thr} R{R} recon-healed sigma0", (recon - healed).abs() * area)
                report(f"t{thr} R{R} recon-healed sigma1", blur((recon - healed).abs() * area, scale))
                report(f"t{thr} R{R} x-healed grown sigma1", blur((x - healed).abs() * grown, scale))
                report(f"t{thr} R{R} x-healed nomask sigma1", blur((x - healed).abs(), scale))
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
