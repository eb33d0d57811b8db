#!/usr/bin/env bash
# Rebuilds the shipped pretrained models (src/vqmri/pretrained/{brain,pelvis}) from the built-in sample data, whose
# licences allow sharing derived weights (IXI: CC BY-SA 3.0; PROSTATEx: CC BY 3.0). Budget on 2 CPU cores, alone:
# BRAIN_MIN + PELVIS_MIN + 2 x PRIOR_MIN minutes of training plus a few minutes of evaluation.
#   tools/train_pretrained.sh [brain|pelvis|all]
# The autoencoders train with field-of-view augmentation (data.zoom=1: zoom in or out by up to 2x, shift, pad or
# crop; data.gamma: contrast) so that a model is not tied to one scanner's framing (HipMRI's pelvis is 2.2x smaller
# in pixels than PROSTATEx's at 128 px). The samples are small (one pelvic patient: 38 training slices), so an epoch
# repeats them to at least 25 batches (train.min_batches), each copy augmented afresh: otherwise every step is
# followed by a validation and a checkpoint. Where ../shared/data is present, the zero-shot figures on OASIS / HipMRI
# are measured on the exported checkpoints and land in the model card.
set -euo pipefail
cd "$(dirname "$0")/.."
V=${V:-.venv/bin/vqmri}
OUT=${OUT:-build/pretrained}
BRAIN_MIN=${BRAIN_MIN:-12}
PELVIS_MIN=${PELVIS_MIN:-10}
PRIOR_MIN=${PRIOR_MIN:-4}
SHARED=${SHARED:-../shared/data}
AUG="data.zoom=1.0 data.gamma=0.3 data.augment=true train.max_epochs=10000 train.min_batches=25"
which=${1:-all}

build() {  # name data preset zero-shot-data zero-shot-split (a split of data no one trained on) minutes
  local name=$1 data=$2 preset=$3 other=$4 split=$5 minutes=$6 run=$OUT/$1
  $V train --data "$data" --preset "$preset" --out "$run" --force --max-minutes "$minutes" $AUG
  $V train-prior "$run" --max-minutes "$PRIOR_MIN" prior.classes=8 prior.max_epochs=10000
  $V evaluate "$run" --split test
  $V evaluate-prior "$run" --split test
  if [ -e "$other" ]; then
    $V evaluate "$run" --data "$other" --split "$split" --json > "$OUT/$name-zero-shot.json"
  fi
  $V export "$run" --out "src/vqmri/pretrained/$name" --force --command "tools/train_pretrained.sh $name"
}

if [ "$which" = brain ] || [ "$which" = all ]; then
  build brain sample:brain oasis "$SHARED/oasis" test "$BRAIN_MIN"
fi
if [ "$which" = pelvis ] || [ "$which" = all ]; then
  # the one HipMRI case is found as one subject, in the split named train
  build pelvis sample:pelvis hipmri "$SHARED/hipmri/keras_slices_case018" train "$PELVIS_MIN"
fi
du -sh src/vqmri/pretrained/*
