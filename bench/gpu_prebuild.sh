#!/usr/bin/env bash
# gpu_prebuild.sh — prepare build-gpu-prebuilt/ on the dev machine, for a GPU
# machine whose image may lack the C libraries (OpenBLAS, cJSON, utf8proc,
# CUnit headers): bench/gpu_check.sh falls back to these binaries when its own
# build fails. Run before the device call and carry the three folders:
#     bash bench/gpu_prebuild.sh
#     run(command="bash bench/gpu_check.sh", carry=["build-gpu-prebuilt/mtl",
#         "build-gpu-prebuilt/tests", "build-gpu-prebuilt/lib"], timeout_s=560)
# The binaries are built for x86-64-v3 (AVX2/FMA: any recent server CPU, not
# only this one's AVX-512) and the shared libraries they need beyond the
# CUDA runtime and glibc are copied next to them (gpu_check.sh sets
# LD_LIBRARY_PATH); the GPU host needs a glibc at least as new as the one the
# script prints. Its size is checked against the device runner's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
PRE=build-gpu-prebuilt
# USE_MPI=0: the GPU machine need not have Open MPI (nor NCCL, 200 MB: too big to carry);
# USE_DNNL=0: oneDNN (40 MB) does not fit either; the GPU's bf16 is cuBLAS's,
# and the CPU side of bf16 then says it falls back to fp32
make BUILD=$PRE USE_CUDA=1 USE_MPI=0 USE_DNNL=0 OPT='-O3 -march=x86-64-v3' -j"$(nproc)" all
mkdir -p $PRE/lib
libs=$(ldd $PRE/mtl $PRE/tests/test_* | awk '/=> \// { print $3 }' |
  grep -E 'openblas|gfortran|quadmath|cjson|utf8proc|crypto|cunit|gomp' | sort -u)
[ -n "$libs" ] || { echo "gpu_prebuild: found no libraries to copy (ldd)" >&2; exit 1; }
cp -L $libs $PRE/lib/
# what travels: the binaries, the test binaries and the libraries (objects stay)
size_mb=$(du -cm $PRE/mtl $PRE/tests $PRE/lib | awk 'END { print $1 }')
glibc=$(objdump -T $PRE/mtl $PRE/tests/test_* $PRE/lib/* 2>/dev/null |
  grep -o 'GLIBC_[0-9.]*' | sort -t. -k2,2n -u | tail -n 1)
echo "gpu_prebuild: $PRE/{mtl,tests,lib}: ${size_mb} MiB (the runner carries at most 64 MiB with the repo); needs ${glibc:-GLIBC ?} or newer"
[ "$size_mb" -lt 56 ] || { echo "gpu_prebuild: too large to carry" >&2; exit 1; }
