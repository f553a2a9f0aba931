#!/usr/bin/env bash
# bench_predict.sh — inference speed, ours vs transformers (issue #17):
# `mtl bench-predict` and reference/bench_predict.py (the pipelines and
# plain PyTorch) on the same model (MODEL, exported to $OUT/export for the
# Python side), the same inputs (the first N CoNLL-2003 test sentences and
# SQuAD dev questions), the same threads, one after the other on a quiet
# machine, at each precision of PRECISIONS (ours --precision P; the peers in
# fp32, or under torch.autocast bf16). Writes $OUT/c.jsonl and $OUT/py.jsonl
# (one JSON line per task, implementation and precision);
# reports/pretrained_results.py tabulates them.
#
#   bash bench/bench_predict.sh         MODEL [runs/pretrained/mtl/seed-1]  OUT [runs/pretrained/bench-predict]
#                                       N [200]  BATCH [32]  THREADS [nproc]  BUILD [build]
#                                       PRECISIONS [fp32 bf16]  ROUNDS [3]  TASK [all; ner or qa]
#                                       (rounds interleave ours and the peers; the report takes
#                                       medians; in fp32 ours also runs with --prepack off and
#                                       with --skip-padding off, one switch at a time)
#                                       PYTHON [python3; needs transformers 4 for the QA pipeline]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-runs/pretrained/mtl/seed-1}
OUT=${OUT:-runs/pretrained/bench-predict}
N=${N:-200}
BATCH=${BATCH:-32}
THREADS=${THREADS:-$(nproc)}
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
PRECISIONS=${PRECISIONS:-fp32 bf16}
ROUNDS=${ROUNDS:-3}
TASK=${TASK:-all}
MTL=$BUILD/mtl
case $TASK in all|ner|qa) ;; *) echo "bench_predict: TASK=$TASK: want all, ner or qa" >&2; exit 2;; esac
[[ "$ROUNDS" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "bench_predict: ROUNDS=$ROUNDS: want an integer in 1..999" >&2; exit 2; }
[ -x "$MTL" ] || { echo "bench_predict: $MTL not built (run make)" >&2; exit 1; }
[ -f "$MODEL/checkpoint.bin" ] || [ -f "$MODEL/config.json" ] || { echo "bench_predict: no model at $MODEL" >&2; exit 1; }
mkdir -p "$OUT"
rm -rf "$OUT/export"
"$MTL" export "$MODEL" --out "$OUT/export" > /dev/null
: > "$OUT/c.jsonl.tmp"
: > "$OUT/py.jsonl.tmp"
for R in $(seq 1 "$ROUNDS"); do
  for P in $PRECISIONS; do
    SWITCHES="on:on"                                  # --prepack:--skip-padding
    [ "$P" = fp32 ] && SWITCHES="on:on off:on on:off"
    for S in $SWITCHES; do
      PP=${S%:*} SP=${S#*:}
      echo "== round $R/$ROUNDS, ours, $P, --prepack $PP --skip-padding $SP: $MTL bench-predict, $N inputs, batch $BATCH, $THREADS threads ($(date -u +%H:%M:%S))"
      "$MTL" bench-predict --model "$MODEL" --task "$TASK" --n "$N" --batch "$BATCH" --threads "$THREADS" --precision "$P" \
        --prepack "$PP" --skip-padding "$SP" | tee -a /dev/stderr | grep '^{' >> "$OUT/c.jsonl.tmp"
    done
    echo "== round $R/$ROUNDS, transformers pipelines and plain PyTorch, $P ($(date -u +%H:%M:%S))"
    $PYTHON reference/bench_predict.py --export "$OUT/export" --task "$TASK" --n "$N" --batch "$BATCH" --threads "$THREADS" \
      --precision "$P" >> "$OUT/py.jsonl.tmp"
  done
done
mv "$OUT/c.jsonl.tmp" "$OUT/c.jsonl"
mv "$OUT/py.jsonl.tmp" "$OUT/py.jsonl"
echo "== bench_predict done: $OUT ($(date -u +%H:%M:%S))"
