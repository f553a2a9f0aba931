#!/usr/bin/env bash
# bench_dist.sh — `make bench-dist`: data-parallel training throughput on this
# machine (issue #15). The same cores two ways, on the real workload (the
# pretrained encoder fine-tuned on CoNLL-2003 NER and on SQuAD QA, global
# batch 16, length-grouped batches, the same batches in both):
#   one process with RANKS threads   vs   RANKS MPI ranks with 1 thread each,
#   their gradient sum overlapped with the backward (default) and after it
#   (--no-overlap)
# ROUNDS interleaved rounds; steady-state seconds per step from log.csv (the
# first WARM steps dropped), the time rank 0 spent summing over the ranks
# (timing.json: rank_sum_s_this_process), and BERT-base's measured step on
# this machine (mtl bench-step, RANKS threads, for the scaling projection of
# reports/dist_results.py). JSON lines into $OUT/bench-dist.jsonl.
# Variables: INIT [minilm-l6]  RANKS [nproc]  ROUNDS [2]  STEPS_NER [60]
#   STEPS_QA [24]  WARM [5]  OUT [runs/bench-dist]  BUILD [build]  BASE_STEP [1]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MTL=$BUILD/mtl
INIT=${INIT:-minilm-l6}
RANKS=${RANKS:-$(nproc)}
ROUNDS=${ROUNDS:-2}
STEPS_NER=${STEPS_NER:-60}
STEPS_QA=${STEPS_QA:-24}
WARM=${WARM:-5}
OUT=${OUT:-runs/bench-dist}
BASE_STEP=${BASE_STEP:-1}
PYTHON=${PYTHON:-python3}
command -v mpirun > /dev/null || { echo "bench-dist: mpirun not installed (datasets/install-deps.sh)" >&2; exit 2; }
"$MTL" version | grep -q 'mpi: *built in' || { echo "bench-dist: $MTL has no MPI (make USE_MPI=1)" >&2; exit 2; }
. bench/data_check.sh
require_data "make bench-dist"
[ "$RANKS" -ge 2 ] || { echo "bench-dist: RANKS must be >= 2 (got $RANKS)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
JSONL=$OUT/bench-dist.jsonl
: > "$JSONL"
echo "== bench-dist: $INIT, 1 process x $RANKS threads vs $RANKS ranks x 1 thread, $ROUNDS rounds, NER $STEPS_NER / QA $STEPS_QA steps (~$(( ROUNDS * 6 ))+ min)"

common() { # task steps
  echo --task "$1" --init "$INIT" --batch 16 --max-steps 100000 --stop-after "$2" --warmup 0 --lr 1e-4
  echo --seq-ner 128 --seq-qa 384 --stride 128 --max-query 64 --qa-train-limit 1500 --group-by-length
  echo --eval-every -1 --log-every 1000 --quiet --overwrite
}
record() { # dir task layout round
  $PYTHON - "$1" "$2" "$3" "$4" "$WARM" >> "$JSONL" <<'EOF'
import csv, json, sys
d, task, layout, rnd, warm = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rows = list(csv.DictReader(open(d + "/log.csv")))
t = json.load(open(d + "/timing.json"))
m = json.load(open(d + "/manifest.json"))
walls = [float(r["wall_s"]) for r in rows]
steady = (walls[-1] - walls[warm - 1]) / (len(walls) - warm)
print(json.dumps({"task": task, "layout": layout, "round": rnd, "ranks": t["ranks"], "threads": m["threads"],
                  "steps": len(rows), "s_per_step": steady, "rank_sum_s": t["rank_sum_s_this_process"],
                  "sum_s_per_step": t["rank_sum_s_this_process"] / t["steps_this_process"],
                  "overlap": t.get("overlap", 0),
                  "post_s_per_step": t.get("rank_overlap_post_s_this_process", 0.0) / t["steps_this_process"],
                  "finish_s_per_step": t.get("rank_overlap_finish_s_this_process", 0.0) / t["steps_this_process"],
                  "cpu": m["cpu_model"], "commit": m["git_commit"], "mpi": m.get("mpi")}))
EOF
}
for r in $(seq 1 "$ROUNDS"); do
  for task in ner qa; do
    steps=$STEPS_NER; [ "$task" = qa ] && steps=$STEPS_QA
    d=$OUT/r$r-$task-1x$RANKS
    "$MTL" train $(common "$task" "$steps") --threads "$RANKS" --out "$d"
    record "$d" "$task" "1 process x $RANKS threads" "$r"
    d=$OUT/r$r-$task-${RANKS}x1
    mpirun -np "$RANKS" --bind-to core "$MTL" train $(common "$task" "$steps") --threads 1 --out "$d"
    record "$d" "$task" "$RANKS ranks x 1 thread, overlapped" "$r"
    d=$OUT/r$r-$task-${RANKS}x1-no-overlap
    mpirun -np "$RANKS" --bind-to core "$MTL" train $(common "$task" "$steps") --threads 1 --no-overlap --out "$d"
    record "$d" "$task" "$RANKS ranks x 1 thread, sum after the backward" "$r"
    tail -3 "$JSONL" | $PYTHON -c 'import json,sys; [print("   %s %-48s %.3f s/step (exposed sum %.1f ms/step, posted during the backward %.1f)" % (x["task"], x["layout"], x["s_per_step"], 1e3 * x["sum_s_per_step"], 1e3 * x["post_s_per_step"])) for x in map(json.loads, sys.stdin)]'
  done
done
# The per-step work that does not shrink with the ranks (every rank updates
# every parameter): AdamW, the gradient norm, clipping and zeroing, for one
# minilm NER step at 1 thread (one rank's) and at RANKS threads (one process).
echo "== per-step optimiser work (minilm NER step, bench-step op table)"
for th in 1 "$RANKS"; do
  "$MTL" bench-step --preset minilm --task ner --batch 16 --seq 40 --threads "$th" --steps 3 --warmup 1 \
    2> /dev/null | tail -1 > "$OUT/optimizer-$th.json" || echo "warning: bench-step minilm failed" >&2
done
if [ "$BASE_STEP" = 1 ]; then
  echo "== BERT-base, one rank's step (B 16, T 128, 1 thread) for the projection"
  if "$MTL" bench-step --preset base --task ner --batch 16 --seq 128 --threads "$RANKS" --steps 2 --warmup 1 \
       > "$OUT/base-step.out" 2> "$OUT/base-step.log"; then
    tail -1 "$OUT/base-step.out" > "$OUT/base-step.json"
  else echo "warning: bench-step base failed (see $OUT/base-step.log)" >&2; fi
fi
echo "== reports"
$PYTHON reports/dist_results.py --runs "$OUT" --results RESULTS.md
