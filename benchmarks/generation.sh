#!/usr/bin/env bash
# Generation benchmarks behind benchmarks/RESULTS.md ("How good are the samples", "VQ-VAE-2"): one after another.
# Usage: bash benchmarks/generation.sh [coarse|coarse-temperature|coarse-mirror|coarse-augment|code8|code8-augment|code8-long|code8-slice|code8-seed1|code8-topk|code8-wide|code8-candidates|by-subject|null|code8-256|repeats|decoder-tuning|classifier-rejection|second-judge|coarse-upright|cold|rescore|vqvae2|vqvae2-levels|pelvis|remeasure]...
# (default: coarse vqvae2 pelvis; the others start from the runs those write; coarse-mirror trains 8 and 24 minutes;
# expects ../shared/data)
set -uo pipefail
cd "$(dirname "$0")/.."
VQ=.venv/bin/vqmri; OASIS=../shared/data/oasis; B=runs/bench; R=benchmarks/results
mkdir -p $B $R
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
fresh_prior() {  # FROM TO: a copy of run FROM with its autoencoder and code caches, without FROM's prior
  rm -rf $B/$2; cp -r $B/$1 $B/$2; rm -rf $B/$2/prior $B/$2/eval/test/prior.json
}
with_prior() {  # FROM TO: a copy of run FROM with its prior too (to fit one level of it further), without its logs
  rm -rf $B/$2; cp -r $B/$1 $B/$2; rm -rf $B/$2/prior/logs
}
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
  coarse-temperature)  # the coarse prior sampled at temperature 0.9 and 0.8 (same seed)
    for t in 0.9 0.8; do
      rm -rf $B/coarse-T$t; $VQ sample $B/coarse -n 128 --out $B/coarse-T$t --seed 0 --temperature $t > /dev/null
      $VQ evaluate-samples $B/coarse $B/coarse-T$t --split test --json > $R/samples_coarse_T$t.json
    done ;;
  coarse-mirror)  # the coarse prior again (same 8 minutes), also learning from the training slices mirrored
    log "coarse-mirror"; fresh_prior coarse coarse-mirror
    $VQ train-prior $B/coarse-mirror --max-minutes 8 --max-epochs 1000 prior.classes=8 prior.mirror=rows \
      prior.dropout=0.1 > $B/coarse-mirror.prior.log 2>&1
    samples coarse-mirror coarse_mirror
    fresh_prior coarse-mirror coarse-long  # and the same for 24 minutes (mirrored codes reused from the cache)
    $VQ train-prior $B/coarse-long --max-minutes 24 --max-epochs 1000 prior.classes=8 prior.mirror=rows \
      prior.dropout=0.1 > $B/coarse-long.prior.log 2>&1
    samples coarse-long coarse_mirror_24min ;;
  coarse-augment)  # as coarse-mirror's 24 minutes, plus 4 jittered copies of the training slices (prior.augment)
    log "coarse-augment"; fresh_prior coarse-mirror coarse-aug
    $VQ train-prior $B/coarse-aug --max-minutes 24 --max-epochs 1000 prior.classes=8 prior.mirror=rows \
      prior.dropout=0.1 prior.augment=4 > $B/coarse-aug.prior.log 2>&1
    samples coarse-aug coarse_augment_24min ;;
  code8)  # fifth session: an 8x8 code map (downsample 16), 8 minutes; its prior mirrored, dropout 0.1, 16 minutes
    log "code8"; rm -rf $B/code8
    $VQ train --data $OASIS --preset coarse --out $B/code8 --max-minutes 8 --max-epochs 1000 model.downsample=16 \
      > $B/code8.log 2>&1
    $VQ evaluate $B/code8 --split test --json > $R/code8_test.json
    $VQ train-prior $B/code8 --max-minutes 16 --max-epochs 1000 prior.classes=8 prior.mirror=rows \
      prior.dropout=0.1 > $B/code8.prior.log 2>&1
    samples code8 code8 ;;
  code8-augment)  # sixth session: code8's prior again (16 minutes), plus 8 jittered copies, not rotated (OASIS is atlas-aligned)
    log "code8-augment"; fresh_prior code8 code8-aug
    $VQ train-prior $B/code8-aug --max-minutes 16 --max-epochs 1000 prior.classes=8 prior.mirror=rows \
      prior.dropout=0.1 prior.augment=8 prior.augment_degrees=0 > $B/code8-aug.prior.log 2>&1
    samples code8-aug code8_augment ;;
  code8-long)  # sixth session: code8's prior with 16 upright jittered copies, 32 minutes
    log "code8-long"; fresh_prior code8 code8-long
    $VQ train-prior $B/code8-long --max-minutes 32 --max-epochs 1000 prior.classes=8 prior.mirror=rows \
      prior.dropout=0.1 prior.augment=16 prior.augment_degrees=0 > $B/code8-long.prior.log 2>&1
    samples code8-long code8_augment16_32min ;;
  code8-slice)  # seventh session: code8-augment with the exact slice position (32 classes, OASIS: 32 slices a subject)
    log "code8-slice"; fresh_prior code8 code8-slice
    $VQ train-prior $B/code8-slice --max-minutes 16 --max-epochs 1000 prior.classes=32 prior.mirror=rows \
      prior.dropout=0.1 prior.augment=8 prior.augment_degrees=0 > $B/code8-slice.prior.log 2>&1
    samples code8-slice code8_slice32 ;;
  code8-seed1)  # seventh session: a second sample set (seed 1) of the code8-augment prior: how far sample sets differ
    log "code8-seed1"; rm -rf $B/code8-aug-seed1
    $VQ sample $B/code8-aug -n 128 --out $B/code8-aug-seed1 --seed 1 > /dev/null
    $VQ evaluate-samples $B/code8-aug $B/code8-aug-seed1 --split test --json > $R/samples_code8_augment_seed1.json ;;
  code8-wide)  # seventh session: code8-augment with a wider, deeper prior (96 channels, 12 layers), 24 minutes
    log "code8-wide"; fresh_prior code8 code8-wide
    $VQ train-prior $B/code8-wide --max-minutes 24 --max-epochs 1000 prior.classes=8 prior.mirror=rows \
      prior.dropout=0.1 prior.augment=8 prior.augment_degrees=0 prior.channels=96 prior.layers=12 > $B/code8-wide.prior.log 2>&1
    samples code8-wide code8_wide ;;
  code8-topk)  # seventh session: the code8-augment prior sampled from its 64 and 16 likeliest codes at each position
    for k in 64 16; do
      log "code8-topk $k"; rm -rf $B/code8-aug-top$k
      $VQ sample $B/code8-aug -n 128 --out $B/code8-aug-top$k --seed 0 --top-k $k > /dev/null
      $VQ evaluate-samples $B/code8-aug $B/code8-aug-top$k --split test --json > $R/samples_code8_augment_top$k.json
    done ;;
  code8-candidates)  # eighth session: the code8-augment prior, best of M candidates a sample by self-consistency
    for m in ${CANDIDATES:-4 16}; do
      log "code8-candidates $m"; rm -rf $B/code8-aug-cand$m
      $VQ sample $B/code8-aug -n 128 --out $B/code8-aug-cand$m --seed 0 --candidates $m > /dev/null
      $VQ evaluate-samples $B/code8-aug $B/code8-aug-cand$m --split test --json > $R/samples_code8_augment_cand$m.json
      log "candidates $m: $(grep -o '"two_sample_acc_vs_reconstructions": [0-9.]*' $R/samples_code8_augment_cand$m.json)"
    done ;;
  coarse-upright)  # sixth session: as coarse-augment, the jittered copies not rotated (prior.augment_degrees=0)
    log "coarse-upright"; fresh_prior coarse-mirror coarse-up
    $VQ train-prior $B/coarse-up --max-minutes 24 --max-epochs 1000 prior.classes=8 prior.mirror=rows \
      prior.dropout=0.1 prior.augment=4 prior.augment_degrees=0 > $B/coarse-up.prior.log 2>&1
    samples coarse-up coarse_upright_24min ;;
  cold)  # fifth session: the two 24-minute priors sampled colder (4-fold test; the third session's T sweep used the old one)
    for pair in coarse-aug:coarse_augment coarse-long:coarse_mirror_24min; do
      run=${pair%%:*}
      for t in ${COLD_T:-0.9 0.8 0.7}; do
        rm -rf $B/$run-T$t; $VQ sample $B/$run -n 128 --out $B/$run-T$t --seed 0 --temperature $t > /dev/null
        $VQ evaluate-samples $B/$run $B/$run-T$t --split test --json > $R/samples_${pair#*:}_T$t.json
        log "$run T=$t: $(grep -o '"two_sample_acc_vs_reconstructions": [0-9.]*' $R/samples_${pair#*:}_T$t.json)"
      done
    done ;;
  by-subject)  # eighth session: sample sets scored again with subject-grouped folds and the new-subjects reference
    for t in ${SETS:-code8-aug:code8-aug-samples:code8_augment code8-aug:code8-aug-seed1:code8_augment_seed1 \
             code8:code8-samples:code8 coarse-up:coarse-up-samples:coarse_upright_24min \
             code8-long:code8-long-samples:code8_augment16_32min code8-wide:code8-wide-samples:code8_wide \
             coarse-long:coarse-long-samples:coarse_mirror_24min}; do
      IFS=: read run dir name <<< "$t"
      $VQ evaluate-samples $B/$run $B/$dir --split test --json > $R/samples_${name}_bysubject.json
      log "$name: $(grep -o '"two_sample_acc_[a-z_]*": [0-9.]*' $R/samples_${name}_bysubject.json | tr '\n' ' ')"
    done ;;
  code8-256)  # eighth session: 256 samples of the code8-augment prior (seed 2), a tighter two-sample figure
    for s in ${SEEDS:-2 3}; do
      out=$R/samples_code8_augment_256$([ $s = 2 ] || echo _seed$s)_bysubject.json
      log "code8-256 seed $s"; rm -rf $B/code8-aug-256-$s
      $VQ sample $B/code8-aug -n 256 --out $B/code8-aug-256-$s --seed $s > /dev/null
      $VQ evaluate-samples $B/code8-aug $B/code8-aug-256-$s --split test --json > $out
      log "$(grep -o '"two_sample_acc_[a-z_]*": [0-9.]*' $out | tr '\n' ' ')"
    done ;;
  repeats)  # ninth session: why the two-sample figure falls with the set size (sizes 128 and 256, seeds 0-3, recalls)
    log "repeats"; .venv/bin/python benchmarks/experiments/two_sample_repeats.py $B/code8-aug \
      $R/two_sample_repeats_code8_augment.json $B/code8-aug-samples,$B/code8-aug-seed1,$B/code8-aug-256-2,$B/code8-aug-256-3
    .venv/bin/python benchmarks/experiments/two_sample_repeats.py $B/code8 $R/two_sample_repeats_code8.json $B/code8-samples 128 \
      0,1,2,3 samples
    .venv/bin/python benchmarks/experiments/two_sample_repeats.py $B/code8-aug $R/two_sample_repeats_code8_augment_wide.json \
      $B/code8-aug-samples,$B/code8-aug-seed1,$B/code8-aug-256-2,$B/code8-aug-256-3 128 0,1,2,3 samples,wide ;;
  decoder-tuning)  # tenth session: a fresh --preset generate run (8 + 16 minutes, as the README), its decoder fine-tuned
    # 10 minutes on training maps with 15 % of codes redrawn from the prior; two-sample at 128, seeds 0-3, both decoders
    log "decoder-tuning"; rm -rf $B/gen
    $VQ train --data $OASIS --preset generate --out $B/gen --max-minutes 8 --max-epochs 1000 > $B/gen.log 2>&1
    $VQ evaluate $B/gen --split test --json > $B/gen_test.json
    $VQ train-prior $B/gen --max-minutes 16 --max-epochs 1000 prior.classes=8 prior.mirror=rows > $B/gen.prior.log 2>&1
    .venv/bin/python benchmarks/experiments/decoder_tuning.py $B/gen $R/decoder_tuning_gen.json 10 0.15
    # eleventh session: the control, the same 10 minutes on clean maps (rate 0), its kept weights scored at seeds 0-3
    .venv/bin/python benchmarks/experiments/decoder_tuning.py $B/gen $R/decoder_tuning_gen_rate0.json 10 0 0 512 tuned
    .venv/bin/python benchmarks/experiments/decoder_tuning.py $B/gen $R/decoder_tuning_gen_rate0.json saved 0 0,1,2,3 512 tuned ;;
  classifier-rejection)  # eleventh session (rerun in the twelfth with both sides as 8-bit files): keep the 512 of 2,048 samples a classifier (fit on training reconstructions) finds most real
    log "classifier-rejection"
    .venv/bin/python benchmarks/experiments/classifier_rejection.py $B/gen $R/classifier_rejection_gen_as_written.json
    $VQ sample $B/gen -n 512 --filter 4 --out $B/gen-filter4 > $B/gen-filter4.log 2>&1
    .venv/bin/python benchmarks/sample_figure.py $B/gen-filter4 benchmarks/figures/oasis_gen_filter4_samples.png 64 ;;
  second-judge)  # twelfth session: the kept and random sets of classifier-rejection scored by judges the filter never saw
    log "second-judge"
    .venv/bin/python benchmarks/experiments/second_judge.py $B/gen $R/classifier_rejection_gen_as_written.json $R/second_judge_gen.json features,resnet ;;
  null)  # eighth session: the two-sample test on reconstructions of new real subjects, folds cutting or keeping subjects
    log "null"; .venv/bin/python benchmarks/experiments/two_sample_null.py $B/code8-aug $R/two_sample_null_code8_augment.json ;;
  rescore)  # sixth session: sample sets scored again with the reconstruction and code-space memorisation baselines
    for pair in code8:code8 coarse-long:coarse_mirror_24min coarse-aug:coarse_augment_24min; do
      run=${pair%%:*}; $VQ evaluate-samples $B/$run $B/$run-samples --split test --json > $R/samples_${pair#*:}.json
    done ;;
  vqvae2-levels)  # the 20-minute VQ-VAE-2 prior of vqvae2-drop, then its top level alone for 20 minutes, then its bottom
    log "vqvae2-levels"; with_prior vqvae2-drop vqvae2-top
    $VQ train-prior $B/vqvae2-top --max-minutes 20 --max-epochs 1000 prior.level=top prior.mirror=rows \
      prior.dropout=0.1 > $B/vqvae2-top.prior.log 2>&1
    samples vqvae2-top vqvae2_top
    .venv/bin/python benchmarks/experiments/vqvae2_diagnosis.py $B/vqvae2-top benchmarks/figures/oasis_vqvae2_top_diagnosis.png
    with_prior vqvae2-top vqvae2-both
    $VQ train-prior $B/vqvae2-both --max-minutes 20 --max-epochs 1000 prior.level=bottom prior.mirror=rows \
      prior.dropout=0.1 > $B/vqvae2-both.prior.log 2>&1
    samples vqvae2-both vqvae2_both
    .venv/bin/python benchmarks/experiments/vqvae2_diagnosis.py $B/vqvae2-both benchmarks/figures/oasis_vqvae2_both_diagnosis.png
    .venv/bin/python benchmarks/sample_figure.py $B/vqvae2-both-samples benchmarks/figures/oasis_vqvae2_both_samples.png
    rm -rf $B/vqvae2-both-T05  # the bottom drawn at temperature 0.5, the top at 1
    $VQ sample $B/vqvae2-both -n 128 --out $B/vqvae2-both-T05 --seed 0 --temperature 1,0.5 > /dev/null
    $VQ evaluate-samples $B/vqvae2-both $B/vqvae2-both-T05 --split test --json > $R/samples_vqvae2_both_T1_05.json
    .venv/bin/python benchmarks/sample_figure.py $B/vqvae2-both-T05 benchmarks/figures/oasis_vqvae2_both_T1_05_samples.png ;;
  vqvae2)  # two levels with bottom dropout, 10 + 8 minutes (the same budget as the single-level default)
    log "vqvae2"; rm -rf $B/vqvae2-drop
    $VQ train --data $OASIS --preset vqvae2 --out $B/vqvae2-drop --max-minutes 10 --max-epochs 1000 > $B/vqvae2-drop.log 2>&1
    $VQ evaluate $B/vqvae2-drop --split test --json > $R/vqvae2_drop_test.json
    $VQ train-prior $B/vqvae2-drop --max-minutes ${PRIOR_MINUTES:-8} --max-epochs 1000 prior.classes=8 > $B/vqvae2-drop.prior.log 2>&1
    samples vqvae2-drop vqvae2_drop ;;
  remeasure)  # earlier sample sets scored again by the 4-fold two-sample test (fourth session); same samples
    for pair in coarse:coarse coarse-mirror:coarse_mirror vqvae2-both:vqvae2_both pelvis:pelvis; do
      run=${pair%%:*}; $VQ evaluate-samples $B/$run $B/$run-samples --split test --json > $R/samples_${pair#*:}_4fold.json
    done ;;
  pelvis)  # prior on the built-in pelvis run (train: PROSTATEx patient 0001; test: patient 0000)
    log "pelvis prior"; rm -rf $B/pelvis/prior $B/pelvis/codes
    $VQ train-prior $B/pelvis --max-minutes 3 --max-epochs 1000 > $B/pelvis.prior.log 2>&1
    samples pelvis pelvis ;;
  esac
done
log "done"
