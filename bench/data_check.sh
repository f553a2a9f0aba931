# data_check.sh — sourced by the benchmark scripts (run_bench.sh, bench_ci.sh,
# bench_dist.sh, run_bench_pretrained.sh): are the data files and the vocab
# where build/mtl looks for them? The shell's one copy of that search path
# (impl/base/paths.c for C, reference/data_paths.py for Python): a data file in
# $DATASETS_DIR, datasets/data/, ../shared/datasets/ (also with .gz); the vocab
# at $MTL_VOCAB, else in datasets/data/vocab/ or ../shared/vocab/.
# missing_data prints the missing files (nothing when all are present).
find_data() { # $1 = path relative to a datasets dir (also tried with .gz)
  local d
  for d in "${DATASETS_DIR:-}" datasets/data ../shared/datasets; do
    [ -n "$d" ] || continue
    if [ -r "$d/$1" ] || [ -r "$d/$1.gz" ]; then return 0; fi
  done
  return 1
}
find_vocab() { # is the vocab there ($MTL_VOCAB when set)?
  if [ -n "${MTL_VOCAB:-}" ]; then
    [ -r "$MTL_VOCAB" ]
  else
    [ -r datasets/data/vocab/bert-base-uncased-vocab.txt ] || [ -r ../shared/vocab/bert-base-uncased-vocab.txt ]
  fi
}
missing_data() {
  local f
  for f in conll2003/train.txt conll2003/valid.txt conll2003/test.txt \
           squad/train-v1.1-subset44.json squad/dev-v1.1.json; do
    find_data "$f" || echo "$f"
  done
  if ! find_vocab; then
    if [ -n "${MTL_VOCAB:-}" ]; then echo "\$MTL_VOCAB=$MTL_VOCAB"; else echo "vocab/bert-base-uncased-vocab.txt"; fi
  fi
}
how_to_get_data() {
  echo "  Get it with:  make datasets            (downloads + verifies sha256 into datasets/data/)"
  echo "  or, with a local copy:  make datasets DATASETS_SRC=/path/to/datasets"
  echo "  or point DATASETS_DIR (and MTL_VOCAB) at an existing copy."
}
# Missing data files are fetched first (datasets/fetch.sh: from DATASETS_SRC
# when set, else the official URLs; every file sha256-checked); exit 1 with
# the list and how to get them when that fails.
require_data() { # $1 = who asks (for the message)
  local missing
  missing=$(missing_data)
  if [ -n "$missing" ] && [ "${DRY_RUN:-0}" != 1 ]; then
    echo "$1: data missing:" $missing "— fetching: bash datasets/fetch.sh ${DATASETS_SRC:-}" >&2
    bash datasets/fetch.sh ${DATASETS_SRC:+"$DATASETS_SRC"} >&2 || echo "$1: datasets/fetch.sh failed" >&2
    missing=$(missing_data)
  fi
  if [ -n "$missing" ]; then
    echo "$1: data missing:" $missing >&2
    how_to_get_data >&2
    exit 1
  fi
}
