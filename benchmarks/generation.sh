#!/usr/bin/env bash
# Generation benchmarks behind benchmarks/RESULTS.md ("How good are the samples", "VQ-VAE-2"): one after another.
# Usage: bash benchmarks/generation.sh [coarse|vqvae2|pelvis]...   (default: all three; expects ../shared/data)
set -uo pipefail
cd "$(dirname "$0")/.."
VQ=.venv/bin/vqmri; OASIS=../shared/data/oasis; B=runs/bench; R=benchmarks/results
mkdir -p $B $R
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
samples() {  # RUN NAME: 128 seeded samples, their figures, and the report's samples-beside-real grid
  $VQ evaluate-prior $B/$1 --split test --json > $R/prior_$2.json
  rm -rf $B/$1-samples
  $VQ sample $B/$1 -n 128 --out $B/$1-samples --seed 0 > /dev/null
  $VQ evaluate-samples $B/$1 $B/$1-samples --split test --json > $R/samples_$2.json
  $VQ report $B/$1 > /dev/null
}
for what in ${@:-coarse vqvae2 pelvis}; do
  case $what in
  coarse)  # 16x16 code map at 128 px, 8 + 8 minutes; prior conditioned on 8 slice-position buckets (OASIS: 32 slices a subject)
    log "coarse"; rm -rf $B/coarse
    $VQ train --data $OASIS --preset coarse --out $B/coarse --max-minutes 8 --max-epochs 1000 > $B/coarse.log 2>&1
    $VQ evaluate $B/coarse --split test --json > $R/coarse_test.json
    $VQ train-prior $B/coarse --max-minutes ${PRIOR_MINUTES:-8} --max-epochs 1000 prior.classes=8 > $B/coarse.prior.log 2>&1
    samples coarse coarse ;;
  vqvae2)  # two levels with bottom dropout, 10 + 8 minutes (the same budget as the single-level default)
    log "vqvae2"; rm -rf $B/vqvae2-drop
    $VQ train --data $OASIS --preset vqvae2 --out $B/vqvae2-drop --max-minutes 10 --max-epochs 1000 > $B/vqvae2-drop.log 2>&1
    $VQ evaluate $B/vqvae2-drop --split test --json > $R/vqvae2_drop_test.json
    $VQ train-prior $B/vqvae2-drop --max-minutes ${PRIOR_MINUTES:-8} --max-epochs 1000 prior.classes=8 > $B/vqvae2-drop.prior.log 2>&1
    samples vqvae2-drop vqvae2_drop ;;
  pelvis)  # prior on the built-in pelvis run (train: PROSTATEx patient 0001; test: patient 0000)
    log "pelvis prior"; rm -rf $B/pelvis/prior $B/pelvis/codes
    $VQ train-prior $B/pelvis --max-minutes 3 --max-epochs 1000 > $B/pelvis.prior.log 2>&1
    samples pelvis pelvis ;;
  esac
done
log "done"
