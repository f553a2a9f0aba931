#!/usr/bin/env bash
# make_reports.sh — `make reports`: figures and RESULTS.md from recorded runs
# (no training). Usage: bash reports/make_reports.sh [RUNS_DIR] [RESULTS_FILE]
#   1. reports/write_results.py reads the runs and writes reports/data/*.dat
#      (gnuplot inputs) and RESULTS.md (tables, figure links, manifests)
#   2. gnuplot draws reports/dashboard.{png,svg} and, when those runs exist,
#      reports/ablation_{lambda,sampling}.{png,svg} and reports/kernels.*
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/bench}
RESULTS=${2:-RESULTS.md}
PYTHON=${PYTHON:-python3}
command -v gnuplot >/dev/null || { echo "make reports: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -d "$RUNS" ] || { echo "make reports: no runs under $RUNS (run make bench first)" >&2; exit 1; }
kernels=()
for f in runs/bench-kernels-cpu.csv runs/bench-kernels-cuda.csv runs/bench-kernels-cuda-tf32.csv; do [ -r "$f" ] && kernels+=("$f"); done
steps=()
for f in runs/bench-step-cpu.jsonl runs/bench-step-cuda.jsonl; do [ -r "$f" ] && steps+=("$f"); done
mkdir -p reports/data
"$PYTHON" reports/write_results.py --runs "$RUNS" --data reports/data --figs reports \
  --results "$RESULTS" --kernels "${kernels[@]}" --steps "${steps[@]}" --command make reports RUNS="$RUNS"
gnuplot -e "data='reports/data'; out='reports/dashboard'" reports/dashboard.gp
gnuplot -e "data='reports/data'; outdir='reports'" reports/ablation.gp
if [ ${#kernels[@]} -gt 0 ] && [ -r reports/kernels.gp ]; then
  gnuplot reports/kernels.gp || echo "make reports: reports/kernels.gp failed (kernel figure skipped)" >&2
fi
echo "make reports: reports/dashboard.png, reports/dashboard.svg, $RESULTS"
