#!/usr/bin/env bash
# Issue 3 items 1 and 3: 10 minutes of training at 128 px on OASIS (train), best by validate, reported on test;
# the default preset (L1 + SSIM loss), the same with L1 only, and the original layout (seed-oord), one after another.
# Usage: benchmarks/oasis_quality.sh [DATA=../shared/data/oasis] [MINUTES=10] [OUT=runs/bench]
set -euo pipefail
DATA=${DATA:-../shared/data/oasis}; MINUTES=${MINUTES:-10}; OUT=${OUT:-runs/bench}
VQ=${VQ:-.venv/bin/vqmri}
mkdir -p "$OUT"
run() {  # name preset overrides...
  local name=$1 preset=$2; shift 2
  rm -rf "$OUT/$name"
  $VQ train --data "$DATA" --preset "$preset" --out "$OUT/$name" --max-minutes "$MINUTES" --max-epochs 1000 "$@" > "$OUT/$name.log" 2>&1
  $VQ evaluate "$OUT/$name" --data "$DATA" --split test --json > "$OUT/$name.test.json"
  python3 - "$OUT/$name" <<'PY'
import json, sys
r = sys.argv[1]; e = json.load(open(r + ".test.json")); s = json.load(open(r + "/train_summary.json"))["total"]
print(f"{r}: test SSIM {e['ssim_mean']:.4f} (native {e['native']['ssim_mean'] if e['native'] else e['ssim_mean']:.4f}) "
      f"PSNR {e['psnr_mean']:.2f} codes used {e['codes_used']}/{e['codebook_size']} perplexity {e['perplexity']:.1f} "
      f"bpp {e['bits_per_pixel']:.4f} | train {s['images']} images in {s['seconds']} s = {s['images_per_s']} img/s")
PY
}
run default oasis
run default-l1only oasis train.loss=l1
run seed-oord seed-oord
