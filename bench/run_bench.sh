#!/usr/bin/env bash
# run_bench.sh — `make bench`: the benchmark on a fresh clone with data present.
#
#   single-task NER, single-task QA and multi-task (joint, lambda 1/1) on the
#   default CPU preset, each over SEEDS; optional ablations (lambda 2/1 and
#   1/2; sampling round_robin / proportional / temperature; GradNorm loss
#   weighting with alpha 0.16 (the seed report's) and 1.5); kernel
#   microbenchmarks (mtl bench-kernels); one training step ours vs PyTorch
#   (bench/bench_step_cmp.sh); then `make reports`.
#
# `make bench INIT=scratch`: all models train from random init.
# Variables (make bench VAR=...):
#   PRESET   model size                         [tiny]
#   SEEDS    comma list                         [1,2,3]
#   TASKS    any of: ner qa mtl; empty: none    ["ner qa mtl"]
#   STEPS    optimiser steps per run            [5000]
#   LR       peak learning rate                 [1e-3]
#   ABLATIONS  1: also the ablations (MTL, first seed only unless
#            ABLATION_SEEDS is set)  [0]
#   ABLATION_KINDS  which: any of lambda sampling gradnorm  ["lambda sampling gradnorm"]
#   QA_DEV_LIMIT  final QA scoring on the first N official dev questions;
#            0 = the full 10,570 (seconds for tiny, ~6 min per run for mini) [0]
#   THREADS  CPU threads                        [nproc]
#   STEP_CMP 1: time one training step, ours vs PyTorch (mini and minilm,
#            3 interleaved rounds; needs python3 + torch for the ratio)  [1]
#   OUT      runs root                          [runs/bench]
#   BUILD    build dir holding mtl              [build]
#   DRY_RUN  1: print the plan and exit         [0]
#   PYTHON   for bench/step_times.py (the plan's step times)  [python3]
set -euo pipefail
cd "$(dirname "$0")/.."
# The default is the pretrained benchmark (bench/run_bench_pretrained.sh);
# INIT=scratch is this script's from-scratch one.
INIT=${INIT:-minilm-l6}
[ "$INIT" = scratch ] || exec bash bench/run_bench_pretrained.sh

PRESET=${PRESET:-tiny}
SEEDS=${SEEDS:-1,2,3}
TASKS=${TASKS-ner qa mtl}  # set but empty = none (e.g. TASKS= ABLATIONS=1)
STEPS=${STEPS:-5000}
LR=${LR:-1e-3}
ABLATIONS=${ABLATIONS:-0}
ABLATION_SEEDS=${ABLATION_SEEDS:-${SEEDS%%,*}}
ABLATION_KINDS=${ABLATION_KINDS:-lambda sampling gradnorm}
GRADNORM_ALPHAS="0.16 1.5"
QA_DEV_LIMIT=${QA_DEV_LIMIT:-0}
THREADS=${THREADS:-$(nproc)}
STEP_CMP=${STEP_CMP:-1}
OUT=${OUT:-runs/bench}
BUILD=${BUILD:-build}
DRY_RUN=${DRY_RUN:-0}
MTL="$BUILD/mtl"
calc() { awk "BEGIN { print ($*) }"; }
has_kind() { [[ " $ABLATION_KINDS " == *" $1 "* ]]; }

# Why these defaults: a 2-core CPU gets about an hour. Models start from
# random init, so more data seen beats a bigger model: `tiny` (2 layers,
# C 64) sees ~5.7 epochs of CoNLL and ~6.7 of the QA subset in 5000 steps,
# while `mini` would see a third of one epoch in the same time. From scratch
# the BERT fine-tuning lr 2e-5 barely moves (NER dev F1 0 after 1500 tiny
# steps, 68.7 with 1e-3), hence LR 1e-3. 10% warmup instead of 500 steps;
# dev evaluation on 200 sentences / questions every STEPS/3 steps.
COMMON=(--preset "$PRESET" --max-steps "$STEPS" --lr "$LR" --warmup-ratio 0.1 --batch 16
        --seq-ner 128 --seq-qa 384 --stride 128 --max-query 64
        --eval-every $(( STEPS / 3 > 0 ? STEPS / 3 : 1 )) --eval-limit 200
        --qa-dev-limit "$QA_DEV_LIMIT" --threads "$THREADS" --log-every 25
        --overwrite) # a rerun of the bench replaces its runs

# ---- data present? --------------------------------------------------------
. bench/data_check.sh
require_data "make bench"

# ---- plan -------------------------------------------------------------------
# Seconds per optimiser step and of the final evaluation (NER dev + test; QA
# per dev question), as measured by the last benchmark of each preset and task
# (bench/baselines/step-times.json, rewritten at the end of every run below by
# bench/step_times.py). Only for the time estimate. On a machine shared with
# other jobs, THREADS=2 can be several times slower than THREADS=1 (OpenMP
# threads wait for busy cores): use THREADS=1 there.
PYTHON=${PYTHON:-python3}
step_s() { "$PYTHON" bench/step_times.py step "$1" "$2" "$THREADS"; } # $1 preset, $2 task
eval_s() { "$PYTHON" bench/step_times.py eval "$1" "$2" "$QA_DEV_LIMIT_N"; } # $1 preset, $2 task
QA_DEV_LIMIT_N=$QA_DEV_LIMIT; [ "$QA_DEV_LIMIT_N" = 0 ] && QA_DEV_LIMIT_N=10570
nseeds=$(tr ',' '\n' <<<"$SEEDS" | grep -c .)
total=0
echo "== make bench plan: preset $PRESET, seeds $SEEDS, $STEPS steps per run (lr $LR), $THREADS threads, QA dev limit $QA_DEV_LIMIT (0 = full)"
echo "   (INIT=scratch: the models train from random init)"
for t in $TASKS; do
  s=$(calc "$nseeds * ($STEPS * $(step_s "$PRESET" "$t") + $(eval_s "$PRESET" "$t") + 20)")
  total=$(calc "$total + $s")
  printf '   %-4s x %d seeds: ~%4.0f min\n' "$t" "$nseeds" "$(calc "$s / 60")"
done
if [ "$ABLATIONS" = 1 ]; then
  na=$(tr ',' '\n' <<<"$ABLATION_SEEDS" | grep -c .)
  # in joint-step units: round_robin / proportional / temperature steps train
  # one task (~half a joint step each)
  units=0
  has_kind lambda && units=$(calc "$units + 2")
  has_kind sampling && units=$(calc "$units + 1.5")
  has_kind gradnorm && units=$(calc "$units + 2")
  s=$(calc "$units * $na * ($STEPS * $(step_s "$PRESET" mtl) + $(eval_s "$PRESET" mtl) + 20)")
  total=$(calc "$total + $s")
  printf '   ablations (%s) x %d seed(s): ~%4.0f min\n' "$ABLATION_KINDS" "$na" "$(calc "$s / 60")"
fi
total=$(calc "$total + 120") # kernel microbenchmarks + reports
printf '   kernels + reports: ~2 min\n'
if [ "$STEP_CMP" = 1 ]; then
  total=$(calc "$total + 330")
  printf '   training step ours vs PyTorch (mini, minilm; 3 rounds): ~6 min\n'
fi
printf '   expected total: ~%.0f min\n' "$(calc "$total / 60")"
[ "$DRY_RUN" = 1 ] && exit 0
[ -x "$MTL" ] || { echo "make bench: $MTL not built (run make)" >&2; exit 1; }

# ---- runs -------------------------------------------------------------------
mkdir -p "$OUT"
t0=$(date +%s)
for t in $TASKS; do
  echo "== $t ($(date -u +%H:%M:%S))"
  "$MTL" train --task "$t" --seeds "$SEEDS" --out "$OUT/$t" "${COMMON[@]}"
done
if [ "$ABLATIONS" = 1 ] && has_kind lambda; then
  for lam in "2 1" "1 2"; do
    set -- $lam
    echo "== ablation lambda $1/$2"
    "$MTL" train --task mtl --lambda-ner "$1" --lambda-qa "$2" --seeds "$ABLATION_SEEDS" \
      --out "$OUT/ablation-lambda-$1-$2" "${COMMON[@]}"
  done
fi
if [ "$ABLATIONS" = 1 ] && has_kind sampling; then
  for s in round_robin proportional temperature; do
    echo "== ablation sampling $s"
    "$MTL" train --task mtl --sampling "$s" --seeds "$ABLATION_SEEDS" \
      --out "$OUT/ablation-sampling-$s" "${COMMON[@]}"
  done
fi
if [ "$ABLATIONS" = 1 ] && has_kind gradnorm; then
  for a in $GRADNORM_ALPHAS; do
    echo "== ablation GradNorm alpha $a"
    "$MTL" train --task mtl --loss-weighting gradnorm --gradnorm-alpha "$a" \
      --seeds "$ABLATION_SEEDS" --out "$OUT/ablation-gradnorm-$a" "${COMMON[@]}"
  done
fi

echo "== kernel microbenchmarks"
if "$MTL" --help | grep -q '^ *bench-kernels '; then
  "$MTL" bench-kernels --device cpu --preset "$PRESET" --threads "$THREADS" \
    --out runs/bench-kernels-cpu.csv || echo "warning: bench-kernels failed" >&2
else
  echo "   (mtl bench-kernels not in this build: skipped)"
fi

if [ "$STEP_CMP" = 1 ]; then
  echo "== training step: ours vs PyTorch"
  THREADS="$THREADS" BUILD="$BUILD" bash bench/bench_step_cmp.sh ||
    echo "warning: bench_step_cmp failed" >&2
fi

"$PYTHON" bench/step_times.py record "$OUT" || echo "warning: step times not recorded" >&2

echo "== reports"
make --no-print-directory reports RUNS="$OUT" BUILD="$BUILD"
echo "== make bench done in $(( ($(date +%s) - t0) / 60 )) min: $OUT, reports/, RESULTS.md"
