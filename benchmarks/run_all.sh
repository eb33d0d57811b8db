#!/usr/bin/env bash
# Every current benchmark behind benchmarks/RESULTS.md, one after another (never two at once: they share 2 cores).
# Usage: bash benchmarks/run_all.sh   (expects ../shared/data; results under runs/ and benchmarks/results)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python; R=benchmarks/results
mkdir -p $R
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
log "reconstruction: oasis preset, L1-only, seed-oord (10 minutes each)"; bash benchmarks/oasis_quality.sh > $R/oasis_quality.txt 2>&1
log "generation: the two-level route"; bash benchmarks/two_level.sh
log "anomaly maps of the two-level model"; $PY benchmarks/anomaly_detection.py runs/two_level/maskgit $R/anomaly_two_level_test.json test
log "done"
