#!/usr/bin/env bash
# make_reports.sh — `make reports`: figures and RESULTS.md from recorded runs
# (no training). Usage: bash reports/make_reports.sh [RUNS_DIR] [RESULTS_FILE]
#   1. reports/write_results.py reads the runs and writes reports/data/*.dat
#      (gnuplot inputs) and RESULTS.md (tables, figure links, manifests)
#      and reports/bf16_results.py splices in the bf16 section
#   2. gnuplot draws reports/dashboard.{png,svg} and, when those runs exist,
#      reports/ablation_{lambda,sampling}.{png,svg}, reports/gradnorm_weights.*
#      and reports/kernels.*
# FIGS=dir puts the figures and data under dir instead of reports/ (bench-ci
# renders its runs that way without touching the committed figures).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/bench}
RESULTS=${2:-RESULTS.md}
PYTHON=${PYTHON:-python3}
FIGS=${FIGS:-reports}
command -v gnuplot >/dev/null || { echo "make reports: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -d "$RUNS" ] || { echo "make reports: no runs under $RUNS (run make bench first)" >&2; exit 1; }
kernels=()
for f in runs/bench-kernels-cpu.csv runs/bench-kernels-cpu-bf16.csv runs/bench-kernels-cuda.csv runs/bench-kernels-cuda-tf32.csv runs/bench-kernels-cuda-bf16.csv; do [ -r "$f" ] && kernels+=("$f"); done
steps=()
for f in runs/bench-step-cpu.jsonl runs/bench-step-cuda.jsonl; do [ -r "$f" ] && steps+=("$f"); done
mkdir -p "$FIGS/data"
"$PYTHON" reports/write_results.py --runs "$RUNS" --data "$FIGS/data" --figs "$FIGS" \
  --results "$RESULTS" --kernels "${kernels[@]}" --steps "${steps[@]}" --mtl "${BUILD:-build}/mtl" \
  --command make reports RUNS="$RUNS"
"$PYTHON" reports/bf16_results.py --results "$RESULTS" # from bench/results/bf16 (bench/bf16_quality.sh)
gnuplot -e "data='$FIGS/data'; out='$FIGS/dashboard'" reports/dashboard.gp
gnuplot -e "data='$FIGS/data'; outdir='$FIGS'" reports/ablation.gp
gnuplot -e "data='$FIGS/data'; outdir='$FIGS'" reports/gradnorm.gp
if [ ${#kernels[@]} -gt 0 ] && [ -r reports/kernels.gp ]; then
  gnuplot -e "out='$FIGS/kernels'" reports/kernels.gp ||
    echo "make reports: reports/kernels.gp failed (kernel figure skipped)" >&2
fi
if [ -r runs/bench-kernels-cpu.csv ]; then
  gnuplot -e "out='$FIGS/roofline'" reports/roofline.gp ||
    echo "make reports: reports/roofline.gp failed (roofline skipped)" >&2
fi
echo "make reports: $FIGS/dashboard.png, $FIGS/dashboard.svg, $RESULTS"
