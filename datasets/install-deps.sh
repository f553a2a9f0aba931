#!/usr/bin/env bash
# Debian packages the C program, its tests, make bench (python3 for the reports, pip and curl
# for the weights and data) and the reports need. Idempotent; installs only what is missing.
set -euo pipefail
PKGS="build-essential libopenblas-dev libdnnl-dev libcunit1-dev libcjson-dev libutf8proc-dev libssl-dev zlib1g-dev gnuplot-nox libopenmpi-dev openmpi-bin python3 python3-numpy python3-pip curl ca-certificates"
if ! command -v dpkg > /dev/null || ! command -v apt-get > /dev/null; then
  echo "deps: not a Debian system (no dpkg/apt-get): install the equivalents of [$PKGS] yourself" >&2
  exit 0
fi
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "deps: installing the missing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
echo "deps: all of [$PKGS] installed"
# The python3 first on PATH (a pyenv or venv one, say) may not see Debian's python3-numpy:
# the reports and reports/significance.py's bootstrap need it there, so pip puts it there.
if command -v python3 > /dev/null && ! python3 -c 'import numpy' 2> /dev/null; then
  echo "deps: $(command -v python3) has no numpy: pip install numpy"
  python3 -m pip install -q numpy 2>&1 | tail -2 || echo "deps: pip could not install numpy (the bootstrap checks will SKIP)" >&2
fi
