#!/usr/bin/env bash
# bench/lora_step.sh — what a frozen encoder saves per training step: full
# fine-tuning, LoRA at each rank and heads-only, timed by `mtl bench-step` one
# after the other in ROUNDS interleaved rounds (background load spreads over
# all of them), same preset, shapes and threads. Appends every JSON line of
# bench-step, with the round and the CPU added, to $LORA_STEP_OUT after a
# {"meta": ...} line (`mtl version`: commit, compiler, flags, BLAS).
# reports/lora_results.py reads it: the median over rounds of each median.
# With PAIRED=1 (default) every frozen-encoder run also alternates its steps
# with full fine-tuning steps in the same process (bench-step --paired): the
# median of those pairs' ratios does not depend on how the machine's speed
# drifted between separate runs.
#
# Environment (defaults in brackets):
#   PRESET [minilm]  TASKS ["ner qa"] (the NER and QA shapes of make bench:
#   B 16, T 128 and T 384)  RANKS ["4 8 16"]  THREADS [2]  ROUNDS [3]
#   TIMED_STEPS, WARMUP_STEPS [5, 1]  DEVICE [cpu] (cuda: THREADS unused)  PAIRED [1]
#   LORA_STEP_OUT [bench/results/lora/step.jsonl] (replaced)   BUILD [build]
set -euo pipefail
cd "$(dirname "$0")/.."

PRESET=${PRESET:-minilm}
TASKS=${TASKS:-ner qa}
RANKS=${RANKS:-4 8 16}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
TIMED_STEPS=${TIMED_STEPS:-5}
WARMUP_STEPS=${WARMUP_STEPS:-1}
LORA_STEP_OUT=${LORA_STEP_OUT:-bench/results/lora/step.jsonl}
BUILD=${BUILD:-build}
DEVICE=${DEVICE:-cpu}
PAIRED=${PAIRED:-1}
MTL="$BUILD/mtl"
[ -x "$MTL" ] || { echo "lora_step.sh: $MTL not built (make)" >&2; exit 2; }

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
tmp="$LORA_STEP_OUT.tmp.$$"
mkdir -p "$(dirname "$LORA_STEP_OUT")"
python3 -c 'import json, sys; print(json.dumps({"meta": {"mtl_version": sys.argv[1], "cpu": sys.argv[2]}}))' \
  "$("$MTL" version | tr '\n' ' ')" "$cpu" > "$tmp"
seq_of() { [ "$1" = ner ] && echo 128 || echo 384; }
for round in $(seq 1 "$ROUNDS"); do
  for task in $TASKS; do
    for variant in full heads $RANKS; do
      case $variant in
        full) extra=();;
        heads) extra=(--freeze-encoder);;
        *) extra=(--lora-rank "$variant");;
      esac
      [ "$variant" != full ] && [ "$PAIRED" = 1 ] && extra+=(--paired)
      echo "== round $round: $task, $variant" >&2
      "$MTL" bench-step --preset "$PRESET" --task "$task" --batch 16 --seq "$(seq_of "$task")" \
        --device "$DEVICE" --threads "$THREADS" --steps "$TIMED_STEPS" --warmup "$WARMUP_STEPS" "${extra[@]}" \
        | grep '^{"impl"' \
        | python3 -c 'import json, sys
for line in sys.stdin:
    r = json.loads(line); r.update(round=int(sys.argv[1]), cpu=sys.argv[2]); print(json.dumps(r))' "$round" "$cpu" >> "$tmp"
    done
  done
done
mv "$tmp" "$LORA_STEP_OUT"
echo "lora_step.sh: wrote $LORA_STEP_OUT" >&2
