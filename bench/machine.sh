#!/usr/bin/env bash
# bench/machine.sh TAG — the CPU-dependent figures of issues #14 and #16 on
# this machine, archived under TAG beside the other machines' and tabulated
# in RESULTS.md as "another CPU (`TAG`)" subsections:
#   1. one multi-task training step, ours fp32 and bf16 against PyTorch eager,
#      autocast and torch.compile (bench/bench_step_cmp.sh)
#      -> bench/results/bf16/bench-step-cpu-TAG.jsonl (reports/bf16_results.py)
#   2. the attention op alone against PyTorch eager and SDPA (bench/attention.sh)
#      -> bench/results/attention/kernels-TAG.jsonl (reports/bf16_results.py)
#   3. the LoRA r 8 and heads-only steps against full fine-tuning, paired
#      (bench/lora_step.sh) -> bench/results/lora/step-TAG.jsonl
#      (reports/pretrained_results.py)
# then regenerates both report sections from the archives. About 45 minutes
# on 2 cores. The settings are those of the recorded runs; each script's own
# variables (ROUNDS, SEQS, TIMED_STEPS, ...) pass through, and
# ATTN_ROUNDS [7] sets the attention's rounds. OPENBLAS_CORETYPE is left as
# it is: `mtl` notes it when it holds OpenBLAS below this CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-}
case "$TAG" in
  '' | *[!A-Za-z0-9-]*) echo "usage: bench/machine.sh TAG (letters, digits and '-', e.g. zen5); got '$TAG'" >&2; exit 2 ;;
esac
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
RESULTS=bench/results
[ -x "$BUILD/mtl" ] || { echo "machine.sh: $BUILD/mtl not built (make)" >&2; exit 2; }
"$PYTHON" -c 'import torch' 2>/dev/null ||
  { echo "machine.sh: $PYTHON has no torch (pip install -r reference/requirements.txt): the peers are needed" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== machine.sh 1/3: one training step, fp32 and bf16, ours vs PyTorch" >&2
PRESETS=${PRESETS:-minilm} SEQS=${SEQS:-128 384} MATHS="fp32 bf16" SIDES=${SIDES:-ours torch-ref torch-compile} \
  ROUNDS=${ROUNDS:-3} TIMED_STEPS=${TIMED_STEPS:-8} WARMUP_STEPS=${WARMUP_STEPS:-2} STEP_OUT="$tmp/step.jsonl" \
  BUILD="$BUILD" PYTHON="$PYTHON" bash bench/bench_step_cmp.sh
echo "== machine.sh 2/3: the attention op alone" >&2
ROUNDS=${ATTN_ROUNDS:-7} MTLS="$BUILD/mtl" ATTN_OUT="$RESULTS/attention/kernels-$TAG.jsonl" PYTHON="$PYTHON" \
  bash bench/attention.sh
echo "== machine.sh 3/3: LoRA r 8 and heads only vs full fine-tuning" >&2
RANKS=${RANKS:-8} ROUNDS=${ROUNDS:-3} LORA_STEP_OUT="$RESULTS/lora/step-$TAG.jsonl" BUILD="$BUILD" \
  bash bench/lora_step.sh

"$PYTHON" reports/bf16_results.py --step-machine "$TAG" "$tmp/step.jsonl"
"$PYTHON" reports/pretrained_results.py --runs "$RESULTS/pretrained" --fidelity "$RESULTS/pretrained/fidelity"
echo "machine.sh: $TAG archived ($RESULTS/bf16/bench-step-cpu-$TAG.jsonl, $RESULTS/attention/kernels-$TAG.jsonl," \
  "$RESULTS/lora/step-$TAG.jsonl); RESULTS.md regenerated" >&2
