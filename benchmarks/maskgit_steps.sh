#!/usr/bin/env bash
# Issue 40: the parallel steps of the masked-code (MaskGIT) levels, a sampling setting, judged at 32 and 64 px on one
# trained two-level run (RUN: `bash benchmarks/realistic.sh train prior`). For each STEPS, `benchmarks/sample_gap.py`
# draws 256 tops decoded alone, 256 bottoms under true tops, and 256 whole samples with every masked-code level in
# STEPS steps, and judges each against validate subjects' real slices (the first STEPS adds the reference rows:
# real, the same with noise, true tops decoded alone). `make_seconds` in each row is the time to draw and decode 256.
# Usage: bash benchmarks/maskgit_steps.sh [STEPS]...   (default 12 24 48; RUN=runs/realistic)
# Results: benchmarks/results/steps_STEPS.json. Run it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python; RUN=${RUN:-runs/realistic}; R=benchmarks/results
sets=real,real_noisy,top_only,drawn_top_only,true_top_drawn,drawn_drawn
for steps in ${@:-12 24 48}; do
  echo "[$(date -u +%H:%M:%S)] steps $steps"
  $PY benchmarks/sample_gap.py "$RUN" "$R/steps_$steps.json" 32,64 0.25 $sets 1.0 "$steps"
  sets=drawn_top_only,true_top_drawn,drawn_drawn
done
echo "[$(date -u +%H:%M:%S)] done"
