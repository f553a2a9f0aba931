#!/usr/bin/env bash
# bench/bf16_quality.sh — does bf16 training land within the fp32 seed spread?
#
# Reruns the recorded fp32 fine-tunes of `make bench` (runs/pretrained/TASK/
# seed-S, pretrained minilm-l6) with --precision bf16 and nothing else
# changed (the run's own config.json), into $OUT/TASK/seed-S; and reruns
# fp32 seed 1 of each task with the current build into $OUT/fp32-check/TASK/
# seed-1, so that the table can say whether the recorded fp32 runs are what
# this build computes (same scores) or an older build's. The table:
# reports/bf16_results.py (make reports, section "bf16 vs fp32").
#
# Environment (defaults in brackets):
#   FP32_RUNS  the recorded fp32 runs            [runs/pretrained]
#   OUT        where the bf16 runs go            [runs/pretrained-bf16]
#   TASKS      tasks to rerun                     ["ner qa"]
#   SEEDS      seeds to rerun                     ["1 2 3"]
#   JOBS       runs at once                       [2]
#   THREADS    threads per run                    [1]
#   BUILD                                          [build]
set -euo pipefail
cd "$(dirname "$0")/.."

FP32_RUNS=${FP32_RUNS:-runs/pretrained}
OUT=${OUT:-runs/pretrained-bf16}
TASKS=${TASKS:-ner qa}
SEEDS=${SEEDS:-1 2 3}
JOBS=${JOBS:-2}
THREADS=${THREADS:-1}
BUILD=${BUILD:-build}

die() { echo "bf16_quality: $*" >&2; exit 1; }
[ -x "$BUILD/mtl" ] || die "$BUILD/mtl not found: run make first"
case "$JOBS" in '' | *[!0-9]* | 0) die "JOBS must be a positive integer" ;; esac
mkdir -p "$OUT"
# the binary of this run, kept beside the results: a rebuild while the runs
# go on must not change the program halfway
cp "$BUILD/mtl" "$OUT/.mtl"
MTL="$OUT/.mtl"

plan=() # "precision task seed out" lines
for t in $TASKS; do
  for s in $SEEDS; do
    [ -f "$FP32_RUNS/$t/seed-$s/config.json" ] || die "$FP32_RUNS/$t/seed-$s/config.json missing (make bench first)"
    plan+=("bf16 $t $s $OUT/$t/seed-$s")
  done
  plan+=("fp32 $t 1 $OUT/fp32-check/$t/seed-1")
done
echo "bf16_quality: ${#plan[@]} fine-tunes, $JOBS at a time, $THREADS thread(s) each; $("$MTL" version | head -n 1)"

run_one() { # precision task seed out
  local prec=$1 t=$2 s=$3 out=$4 t0=$SECONDS
  mkdir -p "$(dirname "$out")"
  if "$MTL" train --config "$FP32_RUNS/$t/seed-$s/config.json" --precision "$prec" --threads "$THREADS" \
      --out "$out" --overwrite --dump-batches '' --quiet >"$out.log" 2>&1; then
    echo "bf16_quality: $prec $t seed $s done in $((SECONDS - t0)) s -> $out"
  else
    echo "bf16_quality: $prec $t seed $s FAILED (see $out.log)" >&2
    return 1
  fi
}

failed=0
running=0
for p in "${plan[@]}"; do
  # shellcheck disable=SC2086
  run_one $p &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=$((failed + 1))
  running=$((running - 1))
done
[ "$failed" = 0 ] || die "$failed run(s) failed"
echo "bf16_quality: done; table: python3 reports/bf16_results.py $FP32_RUNS $OUT"
