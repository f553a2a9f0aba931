#!/usr/bin/env bash
# Debian packages the C program, its tests and the reports need. Idempotent.
set -euo pipefail
PKGS="build-essential libopenblas-dev libcunit1-dev libcjson-dev libutf8proc-dev zlib1g-dev gnuplot-nox libopenmpi-dev openmpi-bin"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
echo "deps: all of [$PKGS] installed"
