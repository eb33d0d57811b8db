#!/usr/bin/env bash
# Every benchmark behind benchmarks/RESULTS.md, one after another (never two at once: they share 2 cores).
# Usage: bash benchmarks/run_all.sh   (expects ../shared/data; results under runs/bench and benchmarks/results)
set -uo pipefail
cd "$(dirname "$0")/.."
VQ=.venv/bin/vqmri; PY=.venv/bin/python; OASIS=../shared/data/oasis; B=runs/bench; R=benchmarks/results
mkdir -p $B $R
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
[ -n "${SKIP_QUALITY:-}" ] || { log "oasis quality"; bash benchmarks/oasis_quality.sh > $R/oasis_quality.txt 2>&1; }
[ -n "${SKIP_QUALITY:-}" ] || { log "data speed"; $PY benchmarks/data_speed.py $OASIS train 128 > $R/data_speed.json; }
log "prior on the default run"
rm -rf $B/default/prior
$VQ train-prior $B/default --max-minutes ${PRIOR_MINUTES:-8} --max-epochs 1000 > $B/default.prior.log 2>&1
$VQ evaluate-prior $B/default --split test --json > $R/prior_default.json
$PY benchmarks/sampling_speed.py $B/default > $R/sampling_speed.json
$VQ sample $B/default -n 128 --out $B/default-samples --seed 0 > /dev/null
$VQ evaluate-samples $B/default $B/default-samples --split test --json > $R/samples_default.json
log "pelvis"
$VQ train --data sample:pelvis --preset hipmri --out $B/pelvis --max-minutes 5 --max-epochs 1000 > $B/pelvis.log 2>&1
$VQ evaluate $B/pelvis --data ../shared/data/hipmri/keras_slices_case018 --split train --json > $R/pelvis_on_hipmri.json
log "vqvae2"
rm -rf $B/vqvae2
$VQ train --data $OASIS --preset vqvae2 --out $B/vqvae2 --max-minutes 10 --max-epochs 1000 > $B/vqvae2.log 2>&1
$VQ evaluate $B/vqvae2 --split test --json > $R/vqvae2_test.json
$VQ train-prior $B/vqvae2 --max-minutes ${PRIOR_MINUTES:-8} --max-epochs 1000 > $B/vqvae2.prior.log 2>&1
$VQ evaluate-prior $B/vqvae2 --split test --json > $R/prior_vqvae2.json
$VQ sample $B/vqvae2 -n 128 --out $B/vqvae2-samples --seed 0 > /dev/null
$VQ evaluate-samples $B/vqvae2 $B/vqvae2-samples --split test --json > $R/samples_vqvae2.json
log "256 px, 64x64 code map"
rm -rf $B/native256-60
$VQ train --data $OASIS --out $B/native256-60 --image-size 256 --max-minutes ${NATIVE_MINUTES:-60} --max-epochs 1000 > $B/native256-60.log 2>&1
$VQ evaluate $B/native256-60 --split test --json > $R/native256_60_test.json
log "256 px, 32x32 code map"
rm -rf $B/native256-32
$VQ train --data $OASIS --out $B/native256-32 --image-size 256 --max-minutes ${NATIVE32_MINUTES:-12} --max-epochs 1000 model.downsample=8 > $B/native256-32.log 2>&1
$VQ evaluate $B/native256-32 --split test --json > $R/native256_32x32_test.json
log "generation: coarse, vqvae2 with bottom dropout, pelvis prior"
bash benchmarks/generation.sh
log "VQ-VAE-2 prior resumed to 20 minutes"
$VQ train-prior $B/vqvae2-drop --resume --max-minutes 20 --max-epochs 1000 > $B/vqvae2-drop.prior20.log 2>&1
$VQ evaluate-prior $B/vqvae2-drop --split test --json > $R/prior_vqvae2_drop_20min.json
rm -rf $B/vqvae2-drop-samples20; $VQ sample $B/vqvae2-drop -n 128 --out $B/vqvae2-drop-samples20 --seed 0 > /dev/null
$VQ evaluate-samples $B/vqvae2-drop $B/vqvae2-drop-samples20 --split test --json > $R/samples_vqvae2_drop_20min.json
$PY benchmarks/experiments/vqvae2_diagnosis.py $B/vqvae2-drop benchmarks/figures/oasis_vqvae2_drop_diagnosis.png
log "generation: temperatures, mirrored training slices, VQ-VAE-2 levels fitted one at a time"
bash benchmarks/generation.sh coarse-temperature coarse-mirror vqvae2-levels
log "done"
