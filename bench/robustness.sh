#!/usr/bin/env bash
# robustness.sh — the bad-input suites with the normal and the ASan/UBSan
# build (issue #12), logged into bench/results/robustness/, then the RESULTS.md
# section (reports/robustness_results.py), which also tabulates the fuzz record
# (copy build-fuzz/record.tsv there as fuzz-record.tsv after `make fuzz`).
#
#   bash bench/robustness.sh            (make robustness)
set -u
cd "$(dirname "$0")/.."
out=bench/results/robustness
mkdir -p "$out"
make -s build/mtl >/dev/null || exit 1
make -s SANITIZE=1 build-san/mtl >/dev/null || exit 1
[ -f build-fuzz/record.tsv ] && cp build-fuzz/record.tsv "$out/fuzz-record.tsv"
status=0
for suite in bad_input adversarial; do
  [ -f "tests/$suite.sh" ] || continue
  for b in build build-san; do
    log=$out/$suite-$b.log
    echo "== tests/$suite.sh $b/mtl"
    if ! bash "tests/$suite.sh" "$b/mtl" > "$log.tmp" 2>&1; then status=1; fi
    mv "$log.tmp" "$log"
    tail -1 "$log"
  done
done
python3 reports/robustness_results.py --dir "$out" --results RESULTS.md || status=1
exit $status
