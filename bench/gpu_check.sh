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
# `timeout`, every output tee'd to $OUT/<step>.log, the whole run kept under
# GPU_CHECK_BUDGET_S seconds, default 510, so it ends well inside 9 minutes;
# a step that would not fit in what is left is skipped and says so):
#   1. nvidia-smi: GPU, driver, clocks, memory
#   2. build with USE_CUDA=1 into build-gpu/ (zero warnings expected: the
#      warning lines are counted in the summary)
#   3. the CUDA test suite (tests/test_cuda.c: every op vs the CPU backend,
#      dropout bitwise, run-to-run bits, model vs PyTorch, 100 training steps
#      CPU vs GPU), then `make test` (all suites; test_cuda runs again there)
#   4. mtl bench-kernels --device cuda, fp32 and --tf32 (preset base, B 32,
#      T 128) -> runs/bench-kernels-cuda.csv, runs/bench-kernels-cuda-tf32.csv;
#      mtl bench-kernels --device cpu (its defaults) -> runs/bench-kernels-cpu.csv
#   5. mtl bench-step --device cuda, preset base, batch 32, seq 128 and 384,
#      fp32 and --tf32
#   6. reference/bench_step.py --device cuda --hf at the same four shapes
#      (PyTorch + transformers' BertModel: the peer comparison)
# At the end: $OUT/summary.txt (one line per step: status, seconds, log) and
# copies of the CSVs under $OUT/runs/.
set -u
cd "$(dirname "$0")/.." || exit 1

OUT=${OUT:-gpu-check-out}
mkdir -p "$OUT" || exit 1
BUDGET=${GPU_CHECK_BUDGET_S:-510}
JOBS=$(nproc 2>/dev/null || echo 4)
BUILD=build-gpu
MTL=$BUILD/mtl
T0=$(date +%s)
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"

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
  echo "=== $name (limit ${limit}s): $*" | tee "$OUT/$name.log"
  local s0 rc
  s0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$OUT/$name.log"
  rc=${PIPESTATUS[0]}
  local dt=$(($(date +%s) - s0)) status=ok
  [ "$rc" -ne 0 ] && status="FAIL(rc=$rc)"
  [ "$rc" -eq 124 ] && status="TIMEOUT"
  printf '%-6s %-28s %4ds  %s\n' "$status" "$name" "$dt" "$OUT/$name.log" | tee -a "$SUMMARY"
  return "$rc"
}

# 1. the machine
step nvidia-smi 20 bash -c 'nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit,compute_cap --format=csv; "${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}" --version | tail -2; nproc; python3 -c "import torch, transformers; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"transformers\", transformers.__version__)"'

# 2. build
step build 240 make BUILD=$BUILD USE_CUDA=1 -j"$JOBS"
if [ -f "$OUT/build.log" ]; then
  echo "build warnings: $(grep -c -i 'warning' "$OUT/build.log")" | tee -a "$SUMMARY"
fi
if [ ! -x "$MTL" ]; then
  echo "no $MTL: stopping after the build" | tee -a "$SUMMARY"
  exit 1
fi

# 3. tests
if ! step test_cuda 150 "$BUILD/tests/test_cuda"; then
  # again with a synchronisation after every kernel, so that an asynchronous
  # CUDA fault is reported at the launch that caused it
  MTL_CUDA_SYNC=1 step test_cuda_sync 150 "$BUILD/tests/test_cuda"
fi
if grep -q '^SKIP cuda' "$OUT/test_cuda.log" 2>/dev/null; then
  echo "WARNING: test_cuda was SKIPPED on this machine: $(grep '^SKIP cuda' "$OUT/test_cuda.log")" |
    tee -a "$SUMMARY"
fi
step make_test 240 make BUILD=$BUILD USE_CUDA=1 test

# 4. per-kernel timings
step bench_kernels_cuda 60 "$MTL" bench-kernels --device cuda --preset base --batch 32 --seq 128 \
  --out runs/bench-kernels-cuda.csv
step bench_kernels_cuda_tf32 60 "$MTL" bench-kernels --device cuda --tf32 --preset base --batch 32 \
  --seq 128 --out runs/bench-kernels-cuda-tf32.csv

# 5. whole training steps, ours
for seq in 128 384; do
  step bench_step_cuda_T${seq}_fp32 60 "$MTL" bench-step --device cuda --preset base --batch 32 \
    --seq $seq --steps 10 --warmup 3
  step bench_step_cuda_T${seq}_tf32 60 "$MTL" bench-step --device cuda --tf32 --preset base \
    --batch 32 --seq $seq --steps 10 --warmup 3
done

# 6. the PyTorch peer at the same shapes
for seq in 128 384; do
  step torch_hf_T${seq}_fp32 75 python3 reference/bench_step.py --device cuda --hf --preset base \
    --batch 32 --seq $seq --steps 10 --warmup 3
  step torch_hf_T${seq}_tf32 75 python3 reference/bench_step.py --device cuda --hf --tf32 \
    --preset base --batch 32 --seq $seq --steps 10 --warmup 3
done

# CPU kernels last: the least informative here (other machines measure them)
step bench_kernels_cpu 60 "$MTL" bench-kernels --device cpu --repeats 10 --out runs/bench-kernels-cpu.csv

mkdir -p "$OUT/runs"
cp runs/bench-kernels-*.csv "$OUT/runs/" 2>/dev/null
echo "total $(elapsed)s of a ${BUDGET}s budget" | tee -a "$SUMMARY"
