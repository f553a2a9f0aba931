#!/usr/bin/env bash
# robustness.sh — the bad-input suites with the normal and the ASan/UBSan
# build (issue #12) and the tokenizer's agreement with Hugging Face on every
# Unicode code point and on the corpora (when transformers is installed),
# logged into bench/results/robustness/, then the RESULTS.md section
# (reports/robustness_results.py), which also tabulates the fuzz record
# (build-fuzz/record.tsv, copied there as fuzz-record.tsv, after `make fuzz`).
#
#   bash bench/robustness.sh            (make robustness)
set -u
cd "$(dirname "$0")/.."
out=bench/results/robustness
mkdir -p "$out"
make -s build/mtl >/dev/null || exit 1
make -s SANITIZE=1 build-san/mtl >/dev/null || exit 1
[ -f build-fuzz/record.tsv ] && cp build-fuzz/record.tsv "$out/fuzz-record.tsv"
{ echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "commit: $(git describe --always --abbrev=7 --dirty 2>/dev/null || echo unknown)"
  echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores"
  build/mtl version | sed -n 's/^unicode: *\(.*\)/unicode: \1/p'; } > "$out/run.txt"
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
if python3 -c 'import transformers, tokenizers' 2>/dev/null; then
  echo "== reference/unicode_check.py check"
  python3 reference/unicode_check.py check --mtl build/mtl > "$out/unicode.txt" 2>&1 || status=1
  tail -3 "$out/unicode.txt"
  echo "== reference/golden_tokens.py (CoNLL + SQuAD texts)"
  g=$(mktemp -d)
  { python3 reference/golden_tokens.py gen --out "$g" &&
    python3 reference/golden_tokens.py compare --out "$g" --mtl build/mtl; } > "$out/corpus-tokens.txt" 2>&1 || status=1
  rm -rf "$g"
  tail -1 "$out/corpus-tokens.txt"
else
  echo "SKIP the tokenizer checks: no transformers/tokenizers for python3"
fi
python3 reports/robustness_results.py --dir "$out" --results RESULTS.md || status=1
exit $status
