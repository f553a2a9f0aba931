#!/usr/bin/env bash
# bench/bench_step_cmp.sh — one training step, ours vs PyTorch, same machine,
# same run, same shapes and threads (make bench-step).
#
# For each round and each preset it times, one after the other:
#   ours         build/mtl bench-step
#   torch-ref    reference/bench_step.py            (reference/model.py, explicit attention)
#   torch-hf     reference/bench_step.py --hf       (transformers' BertModel; skipped if
#                                                    transformers is not installed)
#   torch-compile reference/bench_step.py --compile (the torch-ref model under
#                                                    torch.compile; not in the default SIDES)
# In MATHS=bf16 every side runs in bf16: ours --precision bf16, PyTorch under
# torch.autocast(dtype=torch.bfloat16).
# Interleaving the three within each round spreads the machine's background
# load over all of them instead of one; the report takes the median over
# rounds of each run's median step time, and the ratio torch / ours of those.
# Every JSON line the programs print is appended to $STEP_OUT with the round, the
# run id and the host added, after a first {"meta": ...} line that records
# `mtl version` (commit, compiler, flags, BLAS) and torch's version.
#
# Environment (defaults in brackets):
#   PRESETS  presets to time                  ["mini minilm"]
#   BATCH                                     [16]
#   SEQS     sequence lengths to time         [128]
#   THREADS  CPU threads for both sides       [2]
#   DEVICE   cpu or cuda                      [cpu]
#   MATHS    fp32, tf32 (--tf32 on both sides; cuda only) and/or bf16  [fp32]
#   SIDES    any of: ours torch-ref torch-hf torch-compile  ["ours torch-ref torch-hf"]
#   ROUNDS   interleaved rounds               [3]
#   TIMED_STEPS, WARMUP_STEPS  per run        [10, 2]
#   STEP_OUT JSON-lines file (replaced)       [runs/bench-step-$DEVICE.jsonl]
# (not STEPS / OUT: `make bench STEPS=... OUT=...` passes those to every
# command it runs, with other meanings)
#   BUILD, PYTHON                             [build, python3]
set -euo pipefail
cd "$(dirname "$0")/.."

PRESETS=${PRESETS:-mini minilm}
BATCH=${BATCH:-16}
SEQS=${SEQS:-128}
THREADS=${THREADS:-2}
DEVICE=${DEVICE:-cpu}
MATHS=${MATHS:-fp32}
SIDES=${SIDES:-ours torch-ref torch-hf}
ROUNDS=${ROUNDS:-3}
TIMED_STEPS=${TIMED_STEPS:-10}
WARMUP_STEPS=${WARMUP_STEPS:-2}
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
STEP_OUT=${STEP_OUT:-runs/bench-step-$DEVICE.jsonl}
MTL="$BUILD/mtl"

die() { echo "bench_step_cmp: $*" >&2; exit 1; }
[ -x "$MTL" ] || die "$MTL not found: run make first"
case "$DEVICE" in cpu | cuda) ;; *) die "DEVICE must be cpu or cuda, not '$DEVICE'" ;; esac
case "$ROUNDS" in '' | *[!0-9]* | 0) die "ROUNDS must be a positive integer" ;; esac
for m in $MATHS; do
  case "$m" in fp32 | bf16) ;; tf32) [ "$DEVICE" = cuda ] || die "tf32 needs DEVICE=cuda" ;;
    *) die "MATHS: '$m' is not fp32, tf32 or bf16" ;; esac
done
wants() { case " $SIDES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

have_torch=0
if "$PYTHON" -c 'import torch' 2>/dev/null; then have_torch=1; fi
have_hf=0
if [ $have_torch = 1 ] && "$PYTHON" -c 'import transformers' 2>/dev/null; then have_hf=1; fi
[ $have_torch = 1 ] || echo "bench_step_cmp: no PyTorch for $PYTHON: timing ours only (no ratio)" >&2
[ $have_hf = 1 ] || ! wants torch-hf ||
  echo "bench_step_cmp: no transformers for $PYTHON: the HF BertModel side is skipped" >&2

run_id=$(date -u +%Y-%m-%dT%H:%M:%SZ)
host=$(hostname)
tmp="$STEP_OUT.partial" # what finished so far stays here if the script is killed
mkdir -p "$(dirname "$STEP_OUT")"
trap 'rm -f "$tmp.line"' EXIT
failed=0 # sides that crashed or printed no JSON: the others still run, the exit status says so

# {"meta": {...}}: the build and the peer's versions, as strings
json_str() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr '\n' ';' | sed 's/;$//'; }
mtl_version=$("$MTL" version | json_str)
torch_version=none
[ $have_torch = 1 ] && torch_version=$("$PYTHON" -c 'import torch; print(torch.__version__)')
hf_version=none
[ $have_hf = 1 ] && hf_version=$("$PYTHON" -c 'import transformers; print(transformers.__version__)')
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null | json_str)
gpu=none
if [ "$DEVICE" = cuda ] && command -v nvidia-smi >/dev/null; then
  gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1 | json_str)
fi
printf '{"meta": {"run": "%s", "host": "%s", "device": "%s", "maths": "%s", "threads": %s, "rounds": %s, "steps": %s, "warmup": %s, "mtl_version": "%s", "torch": "%s", "transformers": "%s", "cpu": "%s", "gpu": "%s", "nproc": %s}}\n' \
  "$run_id" "$host" "$DEVICE" "$MATHS" "$THREADS" \
  "$ROUNDS" "$TIMED_STEPS" "$WARMUP_STEPS" "$mtl_version" "$torch_version" "$hf_version" "$cpu_model" \
  "$gpu" "$(nproc)" >"$tmp"

# run LABEL CMD...: time one side; its last stdout line (JSON) goes to $tmp
# with "side", "round" and "run" added; its human summary goes to the terminal.
run_side() {
  local side=$1 round=$2
  shift 2
  echo "== round $round/$ROUNDS: $side: $*"
  local rc=0
  "$@" >"$tmp.line" || rc=$?
  if [ $rc != 0 ]; then
    echo "bench_step_cmp: '$*' failed (exit $rc): skipped" >&2
    failed=$((failed + 1))
    return 0
  fi
  grep -v '^{' "$tmp.line" | sed 's/^/   /' || true
  local json
  json=$(grep '^{' "$tmp.line" | tail -n 1)
  if [ -z "$json" ]; then
    echo "bench_step_cmp: no JSON line from '$*'" >&2
    failed=$((failed + 1))
    return 0
  fi
  printf '{"side": "%s", "round": %d, "run": "%s", %s\n' "$side" "$round" "$run_id" "${json#\{}" >>"$tmp"
}

for round in $(seq 1 "$ROUNDS"); do
  for preset in $PRESETS; do
    for seq in $SEQS; do
      for math in $MATHS; do
        args=(--preset "$preset" --batch "$BATCH" --seq "$seq" --threads "$THREADS" --task mtl
              --steps "$TIMED_STEPS" --warmup "$WARMUP_STEPS" --device "$DEVICE")
        [ "$math" = tf32 ] && args+=(--tf32)
        [ "$math" = bf16 ] && args+=(--precision bf16)
        if wants ours; then run_side ours "$round" "$MTL" bench-step "${args[@]}"; fi
        if wants torch-ref && [ $have_torch = 1 ]; then
          run_side torch-ref "$round" "$PYTHON" reference/bench_step.py "${args[@]}"
        fi
        if wants torch-hf && [ $have_hf = 1 ]; then
          run_side torch-hf "$round" "$PYTHON" reference/bench_step.py --hf "${args[@]}"
        fi
        if wants torch-compile && [ $have_torch = 1 ]; then
          run_side torch-compile "$round" "$PYTHON" reference/bench_step.py --compile "${args[@]}"
        fi
      done
    done
  done
done

sync "$tmp" 2>/dev/null || true # fsync before the rename: never a half-written $STEP_OUT
mv -f "$tmp" "$STEP_OUT"
echo "bench_step_cmp: wrote $STEP_OUT ($(wc -l <"$STEP_OUT") lines); tabulate with: make reports"
[ "$failed" = 0 ] || die "$failed run(s) failed (see above); their rows are missing from $STEP_OUT"
