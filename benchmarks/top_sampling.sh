#!/usr/bin/env bash
# Issue 40: how the top is drawn, judged at 32 and 64 px on one trained two-level run (RUN: `bash
# benchmarks/realistic.sh train prior`, a prior fitted with prior.label_dropout for the guidance rows). Each
# setting NAME:REFINE:SHARE:GUIDANCE:T draws 256 tops (REFINE corrector rounds of SHARE each, classifier-free
# GUIDANCE towards the slice-position label, temperature T; the bottom level untouched) and `benchmarks/sample_gap.py`
# judges them decoded alone against validate subjects' real slices; SETS adds more of its sets (e.g. drawn_drawn:
# whole samples). The first setting adds the reference rows (real, the same with noise, true tops decoded alone).
# Usage: bash benchmarks/top_sampling.sh [NAME:REFINE:SHARE:GUIDANCE:T]...   (RUN=runs/realistic, SETS=drawn_top_only;
#        REFS= leaves the reference rows out)
# Results: benchmarks/results/topdraw_NAME.json. Run it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python; RUN=${RUN:-runs/realistic}; R=benchmarks/results
refs=${REFS-real,real_noisy,top_only,}
for setting in "${@:-plain:0:0.25:0:1.0}"; do
  IFS=: read -r name refine share guidance t <<< "$setting"
  echo "[$(date -u +%H:%M:%S)] $setting"
  $PY benchmarks/sample_gap.py "$RUN" "$R/topdraw_$name.json" 32,64 0.25 "$refs${SETS:-drawn_top_only}" "$t,1.0" - \
    "$refine,0" "$share" "$guidance,0"
  refs=
done
echo "[$(date -u +%H:%M:%S)] done"
