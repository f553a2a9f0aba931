#!/usr/bin/env bash
# gpu_check.sh — the one prepared check for a session that has a GPU.
#
# How to run (from the repository root, on the GPU machine):
#     OUT=/some/dir bash bench/gpu_check.sh
# With the project's device runner:  run(command="bash bench/gpu_check.sh",
# timeout_s=600); the runner sets $OUT and brings back what is written there.
# Without $OUT the logs go to ./gpu-check-out.
#
# What it does, in order of importance (each step time-limited with
# `timeout`, every output tee'd to <step>.log, the whole run kept under
# GPU_CHECK_BUDGET_S seconds, default 510, so it ends well inside 9 minutes;
# a step that would not fit in what is left is skipped and says so):
#   1. nvidia-smi: GPU, driver, clocks, memory
#   2. build with USE_CUDA=1 into build-gpu/ (zero warnings expected: the
#      warning lines are counted in the summary); if that fails (e.g. the
#      image lacks openblas/cJSON/utf8proc/CUnit headers or libraries) and a
#      prebuilt build-gpu-prebuilt/ was carried, its binaries are used instead
#      (see "Prebuilt fallback" below)
#   3. the op table (tests/test_backend_ops.c: every op on CUDA fp32, TF32
#      and bf16 vs the naive reference, run-to-run bits), the CUDA test suite
#      (tests/test_cuda.c: dropout bitwise equal to the CPU, model vs PyTorch,
#      100 training steps CPU vs GPU; rerun with MTL_CUDA_SYNC=1 only if it
#      died of a CUDA/cuBLAS error or a signal), then every suite via
#      tests/run_tests.sh (both run again there; no second `make`)
#   4. mtl bench-kernels --device cuda, fp32, --tf32 and --precision bf16
#      (preset base, B 32, T 128) -> runs/bench-kernels-cuda{,-tf32,-bf16}.csv;
#   5. mtl bench-step --device cuda, preset base, batch 32, seq 128 and 384,
#      fp32, --tf32 and bf16 (#14's GPU goal: base B 32 T 384 bf16 >= 1.3x
#      PyTorch bf16 autocast), and 6. reference/bench_step.py --device cuda
#      --hf at the same shapes (PyTorch + transformers' BertModel, bf16 under
#      torch.autocast: the peer comparison), both through
#      bench/bench_step_cmp.sh -> runs/bench-step-cuda.jsonl
#   7. bench/lora_step.sh on cuda: full fine-tuning, heads-only and LoRA r 8
#      step times (minilm, B 16, T 128 / 384) -> runs/lora-step-cuda.jsonl
#   8. mtl bench-kernels --device cpu -> runs/bench-kernels-cpu-gpuhost.csv
# Output: $OUT/summary.txt (one line per step: status, seconds, log) and
# $OUT/logs.tar.gz (every <step>.log and, at the end, runs/*.csv), refreshed
# after every step so that a run cut short still returns its logs. (The device
# runner brings back at most 8 files from $OUT: one log file per step would
# lose most of them.) Read them with: tar -xzf logs.tar.gz -C somewhere
#
# Prebuilt fallback (when the GPU image may lack the C libraries): on the dev
# machine, before the run, `bash bench/gpu_prebuild.sh` (portable x86-64-v3
# binaries + the libraries they need, ~45 MB) and run with
#     carry=["build-gpu-prebuilt/mtl", "build-gpu-prebuilt/tests", "build-gpu-prebuilt/lib"]
# It is a separate directory so that a failing link in build-gpu/ cannot
# delete it.
set -u
cd "$(dirname "$0")/.." || exit 1

OUT=${OUT:-gpu-check-out}
mkdir -p "$OUT" || exit 1
BUDGET=${GPU_CHECK_BUDGET_S:-510}
JOBS=$(nproc 2>/dev/null || echo 4)
BUILD=build-gpu
PREBUILT=build-gpu-prebuilt
T0=$(date +%s)
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
LOGS=$(mktemp -d) || exit 1

# bundle the logs into $OUT (few files come back from $OUT, see above)
bundle() { tar -czf "$OUT/logs.tar.gz" -C "$LOGS" . 2>/dev/null; }

elapsed() { echo $(($(date +%s) - T0)); }

# step NAME LIMIT_S COMMAND...   run COMMAND under `timeout`, log to $OUT/NAME.log;
# returns COMMAND's status (0 when skipped)
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET - $(elapsed)))
  if [ "$left" -lt 20 ]; then
    echo "SKIP  $name (only ${left}s of the ${BUDGET}s budget left)" | tee -a "$SUMMARY"
    return 0
  fi
  [ "$limit" -gt $((left - 5)) ] && limit=$((left - 5))
  echo "=== $name (limit ${limit}s): $*" | tee "$LOGS/$name.log"
  local s0 rc
  s0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOGS/$name.log"
  rc=${PIPESTATUS[0]}
  local dt=$(($(date +%s) - s0)) status=ok
  [ "$rc" -ne 0 ] && status="FAIL(rc=$rc)"
  [ "$rc" -eq 124 ] && status="TIMEOUT"
  printf '%-6s %-28s %4ds  %s\n' "$status" "$name" "$dt" "logs.tar.gz:$name.log" | tee -a "$SUMMARY"
  bundle
  return "$rc"
}

# 1. the machine
step nvidia-smi 20 bash -c 'nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit,compute_cap --format=csv; "${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}" --version | tail -2; nproc; python3 -c "import torch, transformers; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"transformers\", transformers.__version__)"'

# 2. build
if ! step build 240 make BUILD=$BUILD USE_CUDA=1 -j"$JOBS"; then
  if [ -x "$PREBUILT/mtl" ] && [ -x "$PREBUILT/tests/test_cuda" ]; then
    echo "build failed: using the carried $PREBUILT/ instead" | tee -a "$SUMMARY"
    BUILD=$PREBUILT
    export LD_LIBRARY_PATH="$PWD/$PREBUILT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi
if [ -f "$LOGS/build.log" ]; then
  echo "build warnings: $(grep -c -i 'warning' "$LOGS/build.log")" | tee -a "$SUMMARY"
fi
MTL=$BUILD/mtl
if [ ! -x "$MTL" ]; then
  echo "no $MTL: stopping after the build" | tee -a "$SUMMARY"
  exit 1
fi

# 3. tests
step test_backend_ops 120 "$BUILD/tests/test_backend_ops"
step test_cuda 150 "$BUILD/tests/test_cuda"
rc=$?
# A CUDA/cuBLAS error (die() -> rc 1 with "CUDA error at" / "cuBLAS error at")
# or a signal: again with a synchronisation after every kernel, so that an
# asynchronous fault is reported at the launch that caused it. A plain test
# failure or a timeout would only repeat itself.
if [ "$rc" -gt 128 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
  grep -q -E 'CUDA error at|cuBLAS error at|CUDA out of memory' "$LOGS/test_cuda.log"; }; then
  MTL_CUDA_SYNC=1 step test_cuda_sync 150 "$BUILD/tests/test_cuda"
fi
if grep -q '^SKIP cuda' "$LOGS/test_cuda.log" 2>/dev/null; then
  echo "WARNING: test_cuda was SKIPPED on this machine: $(grep '^SKIP cuda' "$LOGS/test_cuda.log")" |
    tee -a "$SUMMARY"
fi
step all_tests 240 bash tests/run_tests.sh "$BUILD"

# 4. per-kernel timings
step bench_kernels_cuda 60 "$MTL" bench-kernels --device cuda --preset base --batch 32 --seq 128 \
  --out runs/bench-kernels-cuda.csv
step bench_kernels_cuda_tf32 60 "$MTL" bench-kernels --device cuda --tf32 --preset base --batch 32 \
  --seq 128 --out runs/bench-kernels-cuda-tf32.csv
step bench_kernels_cuda_bf16 60 "$MTL" bench-kernels --device cuda --precision bf16 --preset base \
  --batch 32 --seq 128 --out runs/bench-kernels-cuda-bf16.csv

# 5+6. whole training steps, ours vs the PyTorch peer (transformers' BertModel),
# preset base, batch 32, seq 128 and 384, fp32 and TF32, one round (the GPU
# is not shared) -> runs/bench-step-cuda.jsonl, tabulated by `make reports`
step bench_step_cuda 330 env DEVICE=cuda PRESETS=base BATCH=32 SEQS="128 384" MATHS="fp32 tf32 bf16" \
  ROUNDS=1 SIDES="ours torch-hf" TIMED_STEPS=10 WARMUP_STEPS=3 BUILD="$BUILD" \
  STEP_OUT=runs/bench-step-cuda.jsonl \
  bash bench/bench_step_cmp.sh

# the frozen encoder on the GPU (#16): full vs heads-only vs LoRA r 8 step
# times, minilm at make bench's NER and QA shapes -> runs/lora-step-cuda.jsonl
step lora_step_cuda 90 env LORA_STEP_OUT=runs/lora-step-cuda.jsonl DEVICE=cuda RANKS=8 ROUNDS=1 \
  BUILD="$BUILD" bash bench/lora_step.sh

# CPU kernels last: the least informative here (other machines measure them)
# (its own file name: copied back, it must not replace the dev box's CSV)
step bench_kernels_cpu 60 "$MTL" bench-kernels --device cpu --repeats 10 \
  --out runs/bench-kernels-cpu-gpuhost.csv

mkdir -p "$LOGS/runs"
cp runs/bench-kernels-*.csv runs/bench-step-cuda.jsonl* runs/lora-step-cuda.jsonl "$LOGS/runs/" 2>/dev/null
bundle
echo "total $(elapsed)s of a ${BUDGET}s budget" | tee -a "$SUMMARY"
