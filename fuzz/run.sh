#!/usr/bin/env bash
# run.sh — build every libFuzzer target fuzz/*.c with clang
# (-fsanitize=fuzzer,address,undefined) and run each for SECONDS.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]     (make fuzz FUZZ_SECONDS=60)
#   FUZZ_BUILD_ONLY=1 bash fuzz/run.sh          (make fuzz-build)
#
# Sources: a target is compiled together with impl/*/X.c for every "X.h" it
# includes, transitively (headers and the .c files found), plus impl/*/X_*.c
# for the same X (e.g. squad.h -> squad.c squad_feat.c squad_eval.c) — no
# build/libmtl.a (or the files named on a "fuzz-sources:" line of the
# target's header comment, a folder/ meaning all the .c files under it; "fuzz-flags:"
# adds compiler flags; "fuzz-max-len: N" raises its input size).
#
# Corpora: new inputs go to build-fuzz/corpus/<target>/; the committed, minimised
# corpus fuzz/corpus/<target>/ and tests/fixtures/ seed every run (a
# fuzz/<target>.dict is passed as -dict); inputs up to FUZZ_MAX_LEN bytes (8192);
# crashes land in build-fuzz/artifacts/. FUZZ_MERGE=1 (make fuzz-merge) then
# minimises everything found back into fuzz/corpus/<target>/ (libFuzzer -merge=1:
# the smallest set of inputs with the same coverage).
#
# Record: one line per target is appended to build-fuzz/record.tsv (date, the commit
# it was built from (-dirty: with uncommitted changes),
# target, seconds, executions, exec/s, edge coverage, features, corpus inputs,
# crashes); reports/fuzz_results.py turns it into the RESULTS.md table.
# Exits non-zero if any target fails to build or finds a crash.
set -u
cd "$(dirname "$0")/.."
secs=${1:-${FUZZ_SECONDS:-60}}
[ $# -gt 0 ] && shift
CLANG=${CLANG:-clang}
out=${FUZZ_DIR:-build-fuzz}
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
-fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter -Wno-unknown-pragmas -Wno-psabi \
$(for d in impl/*/; do printf -- '-I%s ' "${d%/}"; done)-Ikernels -I/usr/include/cjson"
LIBS="-lcjson -lutf8proc -lcrypto -lz -lm -lopenblas"

# impl/*/*.c that a set of files needs, by their #include "..." lines.
sources_for() {
  local todo=("$@") seen=" " f h stem c
  local -a srcs=()
  while [ ${#todo[@]} -gt 0 ]; do
    f=${todo[0]}; todo=("${todo[@]:1}")
    for h in $(sed -n 's/^#include "\([A-Za-z0-9_]*\)\.h".*/\1/p' "$f"); do
      case "$seen" in *" $h "*) continue;; esac
      seen="$seen$h "
      for c in impl/*/"$h".h; do [ -f "$c" ] && todo+=("$c"); done
      for c in impl/*/"$h".c impl/*/"$h"_*.c; do
        [ -f "$c" ] || continue
        case " ${srcs[*]} " in *" $c "*) ;; *) srcs+=("$c"); todo+=("$c");; esac
      done
    done
  done
  echo "${srcs[@]}"
}

# The last status line of a libFuzzer log ("#N ... cov: C ft: F corp: K/...")
# and its final stats -> one line of $out/record.tsv, also printed.
record() {
  local t=$1 secs=$2 crashed=$3 built=$4 log=$out/$1.log line execs rate cov ft corp
  line=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$line")
  [ -f "$out/record.tsv" ] ||
    printf 'date\tcommit\ttarget\tseconds\texecutions\texec_per_s\tcov\tft\tcorpus\tcrashes\n' > "$out/record.tsv"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" \
    "$built" "$t" "$secs" "${execs:-0}" \
    "${rate:-0}" "${cov:-0}" "${ft:-0}" "${corp:-0}" "$crashed" | tee -a "$out/record.tsv"
}

# Minimise build-fuzz/corpus/<t> + fuzz/corpus/<t> into a fresh fuzz/corpus/<t>.
merge_corpus() {
  local t=$1 maxlen=$2 new=$out/merged-$1
  rm -rf "$new" && mkdir -p "$new"
  if ! "$out/$t" -merge=1 -max_len="$maxlen" "$new" "fuzz/corpus/$t" "$out/corpus/$t" \
       2>"$out/$t.merge.log"; then
    echo "fuzz: merging $t failed (log $out/$t.merge.log)" >&2; return 1
  fi
  rm -rf "fuzz/corpus/$t" && mv "$new" "fuzz/corpus/$t"
  echo "$t: $(ls "fuzz/corpus/$t" | wc -l) inputs, $(du -sk "fuzz/corpus/$t" | cut -f1) KiB in fuzz/corpus/$t"
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*.c; do targets+=("$(basename "$f" .c)"); done
fi
mkdir -p "$out/artifacts"
status=0
for t in "${targets[@]}"; do
  src=fuzz/$t.c
  [ -f "$src" ] || { echo "fuzz: no $src" >&2; status=1; continue; }
  # a target may name its sources ("fuzz-sources: a.c b.c" in its header
  # comment) where the #include scan would pull in the whole model
  deps=$(sed -n 's/^ \* fuzz-sources: //p' "$src")
  # a name ending in / stands for every .c file under that folder (impl/cli/main.c has its own main)
  [ -n "$deps" ] && deps=$(for d in $deps; do
    case $d in */) find "$d" -name '*.c' ! -path impl/cli/main.c;; *) echo "$d";; esac
  done | sort -u)
  [ -n "$deps" ] || deps=$(sources_for "$src")
  # the tree this target is built from (the record's commit)
  built=$(git describe --always --abbrev=7 --dirty 2>/dev/null || echo unknown)
  echo "=== $t ($built): $CLANG $src $deps"
  # shellcheck disable=SC2086
  extra=$(sed -n 's/^ \* fuzz-flags: //p' "$src")
  # shellcheck disable=SC2086
  if ! $CLANG $CFLAGS $extra -o "$out/$t" "$src" $deps $LIBS; then
    echo "fuzz: $t failed to build" >&2; status=1; continue
  fi
  [ -n "${FUZZ_BUILD_ONLY:-}" ] && continue
  mkdir -p "$out/corpus/$t" "fuzz/corpus/$t"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  maxlen=$(sed -n 's/^ \* fuzz-max-len: //p' "$src")
  maxlen=${FUZZ_MAX_LEN:-${maxlen:-8192}}
  if [ -n "${FUZZ_MERGE:-}" ]; then
    merge_corpus "$t" "$maxlen" || status=1
    continue
  fi
  crashed=0
  if ! "$out/$t" -max_total_time="$secs" -print_final_stats=1 -max_len="$maxlen" "${dict[@]}" \
       -artifact_prefix="$out/artifacts/$t-" "$out/corpus/$t" "fuzz/corpus/$t" tests/fixtures 2>"$out/$t.log"; then
    echo "fuzz: $t FOUND A CRASH (log $out/$t.log, input in $out/artifacts/)" >&2
    tail -40 "$out/$t.log" >&2
    status=1 crashed=1
  fi
  record "$t" "$secs" "$crashed" "$built"
done
exit $status
