#!/usr/bin/env bash
# Issue 40: the top prior at equal minutes, one variant against another, on one two-level autoencoder (RUN, trained
# by `bash benchmarks/realistic.sh train`). Each variant copies RUN's autoencoder and code caches into runs/top-NAME,
# fits the top level alone for MINUTES (`vqmri train-prior DIR prior.level=top prior.max_minutes=MINUTES OVERRIDES`),
# then measures: validate bits per top code (`vqmri evaluate-prior`), the steps it took, and the drawn tops decoded
# alone against validate subjects' real slices at 32 and 64 px, without and with the top filter of `sample --filter 4`
# (`benchmarks/sample_gap.py ... drawn_top_only,filtered_top_only`; the true tops' figure is the `top_only` row of
# the same script, measured once with STAGES=1).
# Usage: bash benchmarks/top_prior.sh NAME "OVERRIDES" [NAME "OVERRIDES"]...   (RUN=runs/realistic, MINUTES=10)
#   e.g. bash benchmarks/top_prior.sh pixelcnn "" bf16 "train.precision=bf16-mixed" maskgit "prior.arch=maskgit"
# Results: benchmarks/results/top_NAME.json. Run it alone: the budget is wall-clock minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
VQ=.venv/bin/vqmri; PY=.venv/bin/python; RUN=${RUN:-runs/realistic}; MINUTES=${MINUTES:-10}; R=benchmarks/results
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
while (( $# >= 2 )); do
  name=$1; overrides=$2; shift 2
  dst=runs/top-$name; rm -rf "$dst"; mkdir -p "$dst"
  for f in "$RUN"/*; do [[ $(basename "$f") == prior ]] || cp -r "$f" "$dst/"; done
  log "$name: train-prior prior.level=top prior.max_minutes=$MINUTES $overrides"
  # shellcheck disable=SC2086  # the overrides are words
  $VQ train-prior "$dst" prior.level=top prior.max_minutes="$MINUTES" $overrides > "$dst.prior.log" 2>&1
  [[ -d $RUN/codes ]] || cp -r "$dst/codes" "$RUN/codes"  # later variants skip the encoding
  $VQ evaluate-prior "$dst" --split validate --json > "$R/top_${name}_prior.json"
  stages=drawn_top_only,filtered_top_only; [[ ${STAGES:-0} == 1 ]] && stages=real,real_noisy,top_only,$stages
  log "$name: judges"
  $PY benchmarks/sample_gap.py "$dst" "$R/top_${name}_gap.json" 32,64 0.25 $stages > /dev/null
  $PY - "$dst" "$R/top_$name.json" "$name" "$overrides" "$MINUTES" <<'PY'
import csv, json, sys
run, out, name, overrides, minutes = sys.argv[1:]
rows = list(csv.DictReader(open(f"{run}/prior/logs/metrics.csv")))
steps = max(int(r["step"]) for r in rows if r.get("step"))
prior = json.load(open(out.replace(f"top_{name}.json", f"top_{name}_prior.json")))
gap = json.load(open(out.replace(f"top_{name}.json", f"top_{name}_gap.json")))
json.dump({"variant": name, "overrides": overrides, "minutes": float(minutes), "steps": steps, "prior": prior,
           "sets": gap["sets"]}, open(out, "w"), indent=1)
print(name, steps, json.dumps(gap["sets"]))
PY
done
log "done"
