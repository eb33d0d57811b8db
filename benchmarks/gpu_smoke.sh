#!/usr/bin/env bash
# The whole pipeline on one GPU (CUDA, automatic mixed precision), on the built-in IXI brains: train the realistic
# recipe, fit its prior (masked-code bottom), sample, score, heal. Prints the timings; writes logs under OUT.
# Usage: OUT=dir bash benchmarks/gpu_smoke.sh   (on a machine with CUDA torch, lightning, torchmetrics installed;
# nibabel / pydicom wheels in .whl/ are installed into /tmp/site when present)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_smoke}; mkdir -p "$OUT"
SCRATCH=$(mktemp -d)
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SCRATCH/site" .whl/*.whl
fi
export PYTHONPATH=$SCRATCH/site:$PWD/src VQMRI_CACHE_DIR=$SCRATCH/cache PYTHONUNBUFFERED=1
VQ="python3 -m vqmri"; R=$SCRATCH/run
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, lightning; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'lightning', lightning.__version__)"
step() {
  local name=$1; shift; local t; t=$(date +%s%N)
  "$@" > "$OUT/$name.log" 2>&1 || { echo "FAILED: $name"; tail -30 "$OUT/$name.log"; exit 1; }
  echo "$name: $(( ($(date +%s%N) - t) / 1000000 )) ms"
}
step train $VQ train --data sample:brain --preset realistic --image-size 128 --out $R --max-epochs ${AE_EPOCHS:-40} train.max_minutes=null
grep -E "SSIM|images/s|precision" "$OUT/train.log" | tail -4 || true
step train_prior $VQ train-prior $R --max-epochs ${PRIOR_EPOCHS:-30} prior.max_minutes=null
step sample64 $VQ sample $R -n 64 --out $R/s64
step evaluate $VQ evaluate $R --split test
step evaluate_samples $VQ evaluate-samples $R $R/s64 --split test
tail -12 "$OUT/evaluate_samples.log"
step anomaly $VQ anomaly $R $R/s64 --out $R/anomaly
step report $VQ report $R
cp $R/report.html "$OUT/" 2>/dev/null || true
echo "all steps passed"
