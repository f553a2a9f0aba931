# fixture_data.sh — sourced by the shell tests: a datasets tree of the small
# files of tests/fixtures (no corpus text needed) under $1, and the
# environment that makes build/mtl read it.
#   fixture_data DIR ROOT    (ROOT: the repository)
fixture_data() {
  local d=$1 f=$2/tests/fixtures s
  mkdir -p "$d/conll2003" "$d/squad"
  for s in train valid test; do cp "$f/conll_iob1.txt" "$d/conll2003/$s.txt"; done
  cp "$f/squad_v1_small.json" "$d/squad/train-v1.1-subset44.json"
  cp "$f/squad_v1_small.json" "$d/squad/dev-v1.1.json"
  export DATASETS_DIR=$d MTL_VOCAB=$f/conll_vocab.txt
}
