#!/usr/bin/env bash
# Run every CUnit test binary under BUILD/tests, keep going after failures,
# and finish with one line: "tests: N passed, N failed[, N skipped]".
# Each binary prints CUnit's run summary; we parse its "tests" row.
set -u
build=${1:-build}
passed=0; failed=0; skipped=0; crashed=0
# Each CUnit binary, then the scripts that drive build/mtl itself and the
# reports' statistics self-check (they print a summary in CUnit's shape):
# tests/layers.sh (the include layers), tests/bad_input.sh, tests/adversarial.sh (the independent suite),
# tests/dist_test.sh (MPI ranks; SKIPs without mpirun), reports/significance.py --self-check.
# SUITES=unit: the CUnit binaries only (CI runs them again under ASan + UBSan).
scripts="tests/layers.sh tests/bad_input.sh tests/adversarial.sh tests/dist_test.sh reports/significance.py"
[ "${SUITES:-all}" = unit ] && scripts=
for t in "$build"/tests/test_* $scripts; do
  case $t in
    *.sh) echo "=== $(basename "$t")"; out=$(bash "$t" "$build/mtl" 2>&1); rc=$?;;
    *.py) echo "=== $(basename "$t") --self-check"
          if command -v python3 > /dev/null; then out=$(python3 "$t" --self-check 2>&1); rc=$?
          else out="SKIP $(basename "$t"): no python3"; rc=0; fi;;
    *) [ -x "$t" ] || continue
       echo "=== $(basename "$t")"; out=$("$t" 2>&1); rc=$?;;
  esac
  printf '%s\n' "$out"
  row=$(printf '%s\n' "$out" | awk '$1=="tests"{print $3, $4, $5; exit}')
  if [ -n "$row" ]; then
    read -r _run p f <<<"$row"
    passed=$((passed + p)); failed=$((failed + f))
  fi
  s=$(printf '%s\n' "$out" | grep -c '^SKIP' || true)
  skipped=$((skipped + s))
  if [ $rc -ne 0 ] && { [ -z "$row" ] || [ "${f:-0}" = 0 ]; }; then
    echo "!!! $(basename "$t") exited with status $rc"
    crashed=$((crashed + 1)); failed=$((failed + 1))
  fi
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ $crashed -eq 0 ]
