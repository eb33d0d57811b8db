#!/usr/bin/env bash
# Issue 40: the `realistic` preset exactly as a user runs it (`train --preset realistic`, then `train-prior` with no
# other flags), on OASIS 128 px, then measured: held-out SSIM, prior bits per code, 64 samples timed from the
# command line, 256 samples judged by `evaluate-samples` (CNN judge at 32, 64, 128 px beside the reconstructions-vs-
# real floor and the real-vs-real null), the second judge (resnet, 32 and 64 px), and a diagnostic figure: real
# test slices, their top-only decodings, and the same slices with the whole bottom redrawn by the prior given their
# true top (does a bottom draw keep the top's anatomy?).
# Usage: bash benchmarks/realistic.sh [train|prior|measure|judges|sweep]...  (default: all but sweep; RUN=runs/realistic;
#        TRAIN_ARGS: extra `vqmri train` settings (a variant of the preset, e.g. model.top_codebook_size=64), with
#        TAG: the results' name prefix (default realistic) so that a variant keeps the preset's figures;
#        SAMPLE_ARGS: extra `vqmri sample` flags for measure, e.g. a sampling setting the run's prior predates;
#        sweep: SHARES="1.0 0.5" the --bottom-redraw shares and CHOICES="unlikely random" the --bottom-choice to
#        judge, 256 samples each, CNN judge at 32, 64, 128 px)
# Results: benchmarks/results/$TAG_*.json, figure RUN-redraw.png (OASIS-derived: never committed). Run it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
VQ=.venv/bin/vqmri; PY=.venv/bin/python; OASIS=../shared/data/oasis; RUN=${RUN:-runs/realistic}; R=benchmarks/results
T=${TAG:-realistic}
mkdir -p "$R" "$(dirname "$RUN")"
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
for what in ${@:-train prior measure judges}; do
  case $what in
  train)
    log "train"; rm -rf "$RUN"
    $VQ train --data $OASIS --preset realistic --out "$RUN" ${TRAIN_ARGS:-} > "$RUN.train.log" 2>&1
    $VQ evaluate "$RUN" --split test --json > $R/${T}_ae_test.json ;;
  prior)
    log "prior"; $VQ train-prior "$RUN" > "$RUN.prior.log" 2>&1
    $VQ evaluate-prior "$RUN" --split test --json > $R/${T}_prior_test.json ;;
  measure)
    log "samples"; rm -rf "$RUN-s64" "$RUN-s256"
    s=$(date +%s%N); $VQ sample "$RUN" -n 64 --out "$RUN-s64" ${SAMPLE_ARGS:-} > /dev/null; e=$(date +%s%N)
    echo "{\"sample_64_seconds\": $(( (e - s) / 1000000 ))e-3}" > $R/${T}_sample_time.json
    $VQ sample "$RUN" -n 256 --out "$RUN-s256" --seed 1 ${SAMPLE_ARGS:-} > /dev/null
    $VQ evaluate-samples "$RUN" "$RUN-s256" --split test --json > $R/${T}_samples.json
    $PY benchmarks/redraw_figure.py "$RUN" "$RUN-redraw.png" > $R/${T}_redraw.json ;;
  sweep)  # the share of each bottom that the prior redraws after starting it from the top's decoding (guided.py)
    for choice in ${CHOICES:-unlikely}; do
    for share in ${SHARES:-1.0 0.75 0.5 0.25}; do
      log "sweep --bottom-redraw $share --bottom-choice $choice"; out="$RUN-g$choice-$share"; rm -rf "$out"
      js="$R/${T}_redraw_${choice}_$share.json"
      s=$(date +%s%N); $VQ sample "$RUN" -n 64 --out "$out" --bottom-redraw $share --bottom-choice $choice > /dev/null
      e=$(date +%s%N)
      $VQ sample "$RUN" -n 256 --out "$out" --seed 1 --bottom-redraw $share --bottom-choice $choice > /dev/null
      $PY benchmarks/sample_judges.py "$RUN" "$out" "$js" cnn 0 32,64,128
      $PY - "$js" $(( (e - s) / 1000000 )) <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); d["sample_64_seconds"] = int(sys.argv[2]) / 1000
json.dump(d, open(p, "w"), indent=1)
PY
    done; done ;;
  judges)
    log "second judge"
    $PY benchmarks/sample_judges.py "$RUN" "$RUN-s256" $R/${T}_judges.json resnet 0 32,64 ;;
  esac
done
log "done"
