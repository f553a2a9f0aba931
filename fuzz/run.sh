#!/usr/bin/env bash
# run.sh — build every libFuzzer target fuzz/*.c with clang
# (-fsanitize=fuzzer,address,undefined) and run each for SECONDS.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]     (make fuzz FUZZ_SECONDS=60)
#   FUZZ_BUILD_ONLY=1 bash fuzz/run.sh          (make fuzz-build)
#
# Sources: a target is compiled together with impl/X.c for every "X.h" it
# includes, transitively (headers and the .c files found), plus impl/X_*.c
# for the same X (e.g. squad.h -> squad.c squad_feat.c squad_eval.c) — no
# build/libmtl.a (or the files named on a "fuzz-sources:" line of the
# target's header comment, a folder/ meaning all its .c files; "fuzz-flags:" adds compiler flags; "fuzz-max-len: N" raises its input size). Corpora grow in build-fuzz/corpus/<target>/ (seeded from
# tests/fixtures/; a fuzz/<target>.dict is passed as -dict); inputs up to
# FUZZ_MAX_LEN bytes (8192); crashes land in build-fuzz/artifacts/. Exits non-zero if
# any target fails to build or finds a crash.
set -u
cd "$(dirname "$0")/.."
secs=${1:-${FUZZ_SECONDS:-60}}
[ $# -gt 0 ] && shift
CLANG=${CLANG:-clang}
out=${FUZZ_DIR:-build-fuzz}
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
-fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter -Wno-unknown-pragmas \
-Iimpl -Ikernels -I/usr/include/cjson"
LIBS="-lcjson -lutf8proc -lz -lm -lopenblas"

# impl/*.c that a set of files needs, by their #include "..." lines.
sources_for() {
  local todo=("$@") seen=" " f h stem c
  local -a srcs=()
  while [ ${#todo[@]} -gt 0 ]; do
    f=${todo[0]}; todo=("${todo[@]:1}")
    for h in $(sed -n 's/^#include "\([A-Za-z0-9_]*\)\.h".*/\1/p' "$f"); do
      case "$seen" in *" $h "*) continue;; esac
      seen="$seen$h "
      [ -f "impl/$h.h" ] && todo+=("impl/$h.h")
      for c in impl/"$h".c impl/"$h"_*.c; do
        [ -f "$c" ] || continue
        case " ${srcs[*]} " in *" $c "*) ;; *) srcs+=("$c"); todo+=("$c");; esac
      done
    done
  done
  echo "${srcs[@]}"
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
  # a name ending in / stands for every .c file of that folder (impl/main.c has its own main)
  [ -n "$deps" ] && deps=$(for d in $deps; do
    case $d in */) for f in "$d"*.c; do [ "$f" = impl/main.c ] || echo "$f"; done;; *) echo "$d";; esac
  done)
  [ -n "$deps" ] || deps=$(sources_for "$src")
  echo "=== $t: $CLANG $src $deps"
  # shellcheck disable=SC2086
  extra=$(sed -n 's/^ \* fuzz-flags: //p' "$src")
  # shellcheck disable=SC2086
  if ! $CLANG $CFLAGS $extra -o "$out/$t" "$src" $deps $LIBS; then
    echo "fuzz: $t failed to build" >&2; status=1; continue
  fi
  [ -n "${FUZZ_BUILD_ONLY:-}" ] && continue
  mkdir -p "$out/corpus/$t"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  maxlen=$(sed -n 's/^ \* fuzz-max-len: //p' "$src")
  if ! "$out/$t" -max_total_time="$secs" -print_final_stats=1 -max_len="${FUZZ_MAX_LEN:-${maxlen:-8192}}" "${dict[@]}" \
       -artifact_prefix="$out/artifacts/$t-" "$out/corpus/$t" tests/fixtures 2>"$out/$t.log"; then
    echo "fuzz: $t FOUND A CRASH (log $out/$t.log, input in $out/artifacts/)" >&2
    tail -40 "$out/$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov:" "$out/$t.log" | tail -3
  fi
done
exit $status
