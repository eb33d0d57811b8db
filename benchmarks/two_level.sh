#!/usr/bin/env bash
# Issue 40: the two-level route (an 8x8 top the prior draws, a 32x32 bottom drawn given the top) on OASIS 128 px.
# Usage: bash benchmarks/two_level.sh [ae|top|bottoms|judges]...   (default: all four in order; ../shared/data)
#   ae:      the autoencoder (vqvae2, top_factor 4, bottom_dropout 0.25), epoch-budgeted (AE_EPOCHS, default 10)
#   top:     the top prior alone (slice-position PixelCNN, 8 jittered copies per slice), TOP_MINUTES (default 4)
#   bottoms: over that same top, at equal minutes (BOTTOM_MINUTES, default 8) a PixelCNN bottom and a masked-code
#            (MaskGIT) bottom; bits per code on test; 64 samples timed from the command line; 256 samples scored by
#            `evaluate-samples` (the CNN judge at 32 px, 64 px, 128 px)
#   judges:  the second, larger judge (benchmarks/sample_judges.py, resnet) at 32 and 64 px on the same samples
# Results: benchmarks/results/two_level_*.json. Run it alone on the machine: the prior budgets are minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
VQ=.venv/bin/vqmri; PY=.venv/bin/python; OASIS=../shared/data/oasis; B=runs/two_level; R=benchmarks/results
mkdir -p $B $R
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
PRIOR="prior.classes=8 prior.augment=8 prior.augment_degrees=0 prior.channels=64 prior.layers=10 prior.dropout=0.1"
for what in ${@:-ae top bottoms judges}; do
  case $what in
  ae)
    log "ae"; rm -rf $B/ae
    $VQ train --data $OASIS --preset vqvae2 --out $B/ae --max-epochs ${AE_EPOCHS:-10} model.top_factor=4 \
      model.bottom_dropout=0.25 > $B/ae.log 2>&1
    $VQ evaluate $B/ae --split test --json > $R/two_level_ae_test.json ;;
  top)
    log "top prior"; rm -rf $B/top; cp -r $B/ae $B/top
    $VQ train-prior $B/top --max-minutes ${TOP_MINUTES:-4} --max-epochs 1000 prior.level=top $PRIOR \
      prior.bottom_arch=maskgit > $B/top.prior.log 2>&1 ;;
  bottoms)
    for bottom in pixelcnn maskgit; do
      log "bottom $bottom"; rm -rf $B/$bottom $B/$bottom-s64 $B/$bottom-s256; cp -r $B/top $B/$bottom
      $VQ train-prior $B/$bottom --max-minutes ${BOTTOM_MINUTES:-8} --max-epochs 1000 prior.level=bottom \
        prior.bottom_arch=$bottom > $B/$bottom.prior.log 2>&1
      $VQ evaluate-prior $B/$bottom --split test --json > $R/two_level_prior_$bottom.json
      s=$(date +%s%N); $VQ sample $B/$bottom -n 64 --out $B/$bottom-s64 > /dev/null; e=$(date +%s%N)
      echo "{\"bottom\": \"$bottom\", \"sample_64_seconds\": $(( (e - s) / 1000000 ))e-3}" \
        > $R/two_level_sample_time_$bottom.json
      $VQ sample $B/$bottom -n 256 --out $B/$bottom-s256 --seed 1 > /dev/null
      $VQ evaluate-samples $B/$bottom $B/$bottom-s256 --split test --json > $R/two_level_samples_$bottom.json
    done ;;
  judges)
    for bottom in pixelcnn maskgit; do
      log "second judge, bottom $bottom"
      $PY benchmarks/sample_judges.py $B/$bottom $B/$bottom-s256 $R/two_level_judges_$bottom.json resnet 0 32,64
    done ;;
  esac
done
log "done"
