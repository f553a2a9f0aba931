#!/usr/bin/env bash
# dist_test.sh — data-parallel training (issue #15, impl/train/dist.h): N = 2 MPI
# ranks against one process on the same global batch, dropout on, tiny
# preset, fixture data (tests/fixtures), 100 steps:
#   - per-step losses agree to <= 1e-5 relative, final dev scores to 1e-4
#     (also N = 3, and N = 7 with a global batch of 6: one rank without rows);
#   - N = 2 twice: bitwise identical checkpoints and metrics;
#   - the gradient reduction overlapped with the backward (default) and after
#     it (--no-overlap): bitwise the same checkpoint (N = 2 and N = 7);
#   - GradNorm, uncertainty and DWA loss weighting: N = 2 weights = N = 1's;
#   - --shared-layers 1 (per-task top layers): N = 2 vs N = 1 losses as above;
#   - --lora-rank 4 (frozen encoder, adapters): the same;
#   - every rank holds the same weights after every step (--log-every 1:
#     the replica check hashes them each step; a deliberately different
#     rank (another --seed) is caught);
#   - resume across N: stop at step 50 with N = 2, continue with N = 1 and
#     the reverse; N = 2 -> N = 2 is bitwise the uninterrupted N = 2 run;
#   - SIGTERM to one rank: all stop after the same step, rank 0 checkpoints,
#     exit 143, and --resume ends bitwise where the uninterrupted run ends;
#   - faults: a rank killed with SIGKILL, a bad option on one rank only and
#     missing data on one rank each end the whole job non-zero within
#     FAULT_TIMEOUT seconds with no process left, and the last checkpoint
#     stays valid.
#   bash tests/dist_test.sh [MTL]
# SKIPs (with the reason) when mpirun is absent or MTL was built without MPI.
set -u
MTL=${1:-build/mtl}
FAULT_TIMEOUT=${FAULT_TIMEOUT:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
summary() { # CUnit-shaped line for tests/run_tests.sh
  printf 'Run Summary:    Type  Total    Ran Passed Failed Inactive\n              tests %6d %6d %6d %6d        0\n' \
    "$n" "$n" "$pass" "$fail"
}
n=0 pass=0 fail=0
if ! command -v mpirun > /dev/null; then
  echo "SKIP dist_test.sh: mpirun not installed (apt-get install openmpi-bin libopenmpi-dev; make USE_MPI=1)"
  summary; exit 0
fi
[ -x "$MTL" ] || { echo "dist_test.sh: $MTL not built" >&2; exit 2; }
MTL=$(cd "$(dirname "$MTL")" && pwd)/$(basename "$MTL")
if ! "$MTL" version 2>/dev/null | grep -q 'mpi: *built in'; then
  echo "SKIP dist_test.sh: $MTL was built without MPI (make USE_MPI=1)"
  summary; exit 0
fi
T=$(mktemp -d /tmp/mtl_dist.XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$ROOT/tests/fixture_data.sh"
fixture_data "$T/data" "$ROOT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cd "$T"
MPI=(mpirun -np 2 --bind-to none)
# global batch 6 (3 rows per rank), dropout on (0.1), lr high enough to move
BASE=(train --task mtl --preset tiny --batch 6 --seq-ner 32 --seq-qa 64 --stride 16 --max-query 16
      --max-steps 100 --lr 1e-3 --threads 1 --eval-every -1 --log-every 1 --quiet --seed 7)

ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok   $1"; }
bad() { n=$((n + 1)); fail=$((fail + 1)); echo "FAIL $1"; }
run() { # DIR WHAT CMD... : run, keep the log
  local d=$1 what=$2; shift 2
  if "$@" --out "$d" > "$d.log" 2>&1; then return 0; fi
  echo "     ($what failed:)"; sed 's/^/     | /' "$d.log" | tail -15; return 1
}
# compare_logs A B TOL: per-step losses of two runs' log.csv, max relative difference
compare_logs() {
  python3 - "$1/log.csv" "$2/log.csv" "$3" <<'EOF'
import csv, sys
a = list(csv.DictReader(open(sys.argv[1]))); b = list(csv.DictReader(open(sys.argv[2])))
tol = float(sys.argv[3]); worst = 0.0
if len(a) != len(b): print(f"{len(a)} vs {len(b)} rows"); sys.exit(1)
for ra, rb in zip(a, b):
    for k in ("loss_ner", "loss_qa"):
        if ra[k] == rb[k] == "": continue
        x, y = float(ra[k]), float(rb[k])
        worst = max(worst, abs(x - y) / max(abs(x), 1e-30))
print(f"max relative loss difference {worst:.2e} over {len(a)} steps (tol {tol:g})")
sys.exit(0 if worst <= tol else 1)
EOF
}
compare_metrics() { # A B TOL: NER dev F1 and QA dev F1/EM
  python3 - "$1/metrics.json" "$2/metrics.json" "$3" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3]); tol = float(sys.argv[3])
pairs = [("ner dev f1", a["ner"]["dev"]["f1"], b["ner"]["dev"]["f1"]),
         ("qa dev f1", a["qa"]["dev"]["f1"], b["qa"]["dev"]["f1"]),
         ("qa dev em", a["qa"]["dev"]["exact_match"], b["qa"]["dev"]["exact_match"])]
worst = max(abs(x - y) for _, x, y in pairs)
print("; ".join(f"{k} {x:.6f} vs {y:.6f}" for k, x, y in pairs), f"(max diff {worst:.2e}, tol {tol:g})")
sys.exit(0 if worst <= tol else 1)
EOF
}
same_file() { cmp -s "$1" "$2"; }

# ---- N = 1 vs N = 2 ----------------------------------------------------------------
run "$T/n1" "N=1" "$MTL" "${BASE[@]}" || bad "N=1 run"
run "$T/n2" "N=2" "${MPI[@]}" "$MTL" "${BASE[@]}" || bad "N=2 run (replica check every step)"
if out=$(compare_logs "$T/n1" "$T/n2" 1e-5); then ok "N=2 vs N=1 per-step loss: $out"; else bad "N=2 vs N=1 per-step loss: $out"; fi
if out=$(compare_metrics "$T/n1" "$T/n2" 1e-4); then ok "N=2 vs N=1 final scores: $out"; else bad "N=2 vs N=1 final scores: $out"; fi
grep -q '"ranks": 2' "$T/n2/manifest.json" && ok "manifest records 2 ranks" || bad "manifest lacks ranks 2"
[ "$(ls "$T/n2")" = "$(ls "$T/n1")" ] && ok "rank 0 alone wrote the run directory (same files as N=1)" \
  || bad "run directory files differ: $(ls "$T/n2" | tr '\n' ' ')"

# ---- uneven shards: N = 3, and N = 7 > the 6 rows (one rank computes nothing) -----
for N in 3 7; do
  run "$T/n$N" "N=$N" mpirun -np "$N" --bind-to none "$MTL" "${BASE[@]}" --log-every 50 || bad "N=$N run"
  if out=$(compare_logs "$T/n1" "$T/n$N" 1e-5); then ok "N=$N vs N=1 per-step loss: $out"; else bad "N=$N vs N=1: $out"; fi
done

# ---- N = 2 twice: bitwise ------------------------------------------------------------
run "$T/n2b" "N=2 again" "${MPI[@]}" "$MTL" "${BASE[@]}" || bad "second N=2 run"
if same_file "$T/n2/checkpoint.bin" "$T/n2b/checkpoint.bin" && same_file "$T/n2/metrics.json" "$T/n2b/metrics.json"; then
  ok "N=2 twice: checkpoint.bin and metrics.json bitwise identical ($(sha256sum < "$T/n2/checkpoint.bin" | cut -c1-16))"
else bad "N=2 twice: runs differ"; fi

# ---- overlap: each layer's reduction started during the backward changes nothing ----
# (bitwise: the same rank-order sums, whatever the buckets; N = 7 has a rank
# without rows, which sends all its buckets at the end)
for N in 2 7; do
  extra=(); [ "$N" = 7 ] && extra=(--log-every 50) # as the runs above
  run "$T/no$N" "N=$N --no-overlap" mpirun -np "$N" --bind-to none "$MTL" "${BASE[@]}" "${extra[@]}" --no-overlap \
    || bad "N=$N --no-overlap run"
  if same_file "$T/n$N/checkpoint.bin" "$T/no$N/checkpoint.bin"; then
    ok "N=$N: overlapped and --no-overlap reductions give bitwise the same checkpoint"
  else bad "N=$N: --no-overlap changes the checkpoint"; fi
done
grep -q '"overlap": 1' "$T/n2/timing.json" && grep -q '"overlap": 0' "$T/no2/timing.json" \
  && ok "timing.json says whether the reduction overlapped" || bad "timing.json lacks the overlap flag"

# ---- partial sharing: the per-task layer copies sum and shard as any tensor -------
SL=("${BASE[@]}" --shared-layers 1 --max-steps 40 --log-every 10)
run "$T/sl1" "K=1 N=1" "$MTL" "${SL[@]}" || bad "--shared-layers 1, N=1 run"
run "$T/sl2" "K=1 N=2" "${MPI[@]}" "$MTL" "${SL[@]}" || bad "--shared-layers 1, N=2 run"
if out=$(compare_logs "$T/sl1" "$T/sl2" 1e-5); then ok "--shared-layers 1: N=2 vs N=1 per-step loss: $out"
else bad "--shared-layers 1: N=2 vs N=1 per-step loss: $out"; fi
# LoRA on the frozen encoder: the ranks sum the adapters' and heads' gradients (no ZeRO shards)
LO=("${BASE[@]}" --lora-rank 4 --max-steps 40 --log-every 10)
run "$T/lo1" "LoRA N=1" "$MTL" "${LO[@]}" || bad "--lora-rank 4, N=1 run"
run "$T/lo2" "LoRA N=2" "${MPI[@]}" "$MTL" "${LO[@]}" || bad "--lora-rank 4, N=2 run"
if out=$(compare_logs "$T/lo1" "$T/lo2" 1e-5); then ok "--lora-rank 4: N=2 vs N=1 per-step loss: $out"
else bad "--lora-rank 4: N=2 vs N=1 per-step loss: $out"; fi

# ---- GradNorm: G measured on the global batch's gradients -------------------------
GN=("${BASE[@]}" --sampling joint --loss-weighting gradnorm --gradnorm-alpha 1.5 --max-steps 40)
run "$T/gn1" "GradNorm N=1" "$MTL" "${GN[@]}" && run "$T/gn2" "GradNorm N=2" "${MPI[@]}" "$MTL" "${GN[@]}" \
  || bad "GradNorm runs"
gn_weights() {
  python3 - "$T/gn1/gradnorm.csv" "$T/gn2/gradnorm.csv" <<'EOF'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
d = max(abs(float(x[k]) - float(y[k])) / abs(float(x[k])) for x, y in zip(a, b) for k in ("w_ner", "G_ner", "G_qa"))
print(f"w and G max relative difference {d:.2e}, final w_ner {float(a[-1]['w_ner']):.6f} vs {float(b[-1]['w_ner']):.6f}")
sys.exit(0 if d <= 1e-4 and len(a) == len(b) == 40 else 1)
EOF
}
if out=$(compare_logs "$T/gn1" "$T/gn2" 1e-5) && w=$(gn_weights); then ok "GradNorm N=2 vs N=1: $out; $w"
else bad "GradNorm N=2 vs N=1: $out ${w:-}"; fi

# ---- uncertainty and DWA: updated from the losses reduced over the ranks ------------
# (the same update on every rank: the replica check of every step would stop a
# run whose ranks weighted their passes differently)
lw_weights() { # A B: weights.csv of two runs, w_ner / w_qa
  python3 - "$1/weights.csv" "$2/weights.csv" <<'EOF'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
d = max(abs(float(x[k]) - float(y[k])) / abs(float(x[k])) for x, y in zip(a, b) for k in ("w_ner", "w_qa"))
print(f"w max relative difference {d:.2e}, final w_ner {float(a[-1]['w_ner']):.6f} vs {float(b[-1]['w_ner']):.6f}")
sys.exit(0 if d <= 1e-4 and len(a) == len(b) == 40 else 1)
EOF
}
for lw in "uncertainty --uncertainty-lr 0.05" "dwa --dwa-period 5"; do
  m=${lw%% *}
  LW=("${BASE[@]}" --sampling proportional --loss-weighting $lw --max-steps 40)
  if run "$T/${m}1" "$m N=1" "$MTL" "${LW[@]}" && run "$T/${m}2" "$m N=2" "${MPI[@]}" "$MTL" "${LW[@]}"; then
    if out=$(compare_logs "$T/${m}1" "$T/${m}2" 1e-5) && w=$(lw_weights "$T/${m}1" "$T/${m}2"); then ok "$m N=2 vs N=1: $out; $w"
    else bad "$m N=2 vs N=1: $out ${w:-}"; fi
  else bad "$m runs"; fi
done

# ---- the replica check can fail: rank 1 with another seed ---------------------------
out=$(timeout "$FAULT_TIMEOUT" mpirun -np 1 --bind-to none "$MTL" "${BASE[@]}" --out "$T/mix" : \
      -np 1 --bind-to none "$MTL" "${BASE[@]}" --seed 8 --out "$T/mix" 2>&1); rc=$?
if [ $rc != 0 ] && [ $rc != 124 ] && grep -q "weights of rank 1 differ" <<<"$out"; then
  ok "ranks with different weights refused (exit $rc: 'weights of rank 1 differ')"
else bad "different weights not caught (exit $rc): $(tail -3 <<<"$out")"; fi

# ---- resume across N -----------------------------------------------------------------
resume_case() { # NAME FIRST SECOND (each "1" or "2")
  local d=$T/r_$1 first=() second=()
  [ "$2" = 2 ] && first=("${MPI[@]}")
  [ "$3" = 2 ] && second=("${MPI[@]}")
  run "$d" "first part" "${first[@]}" "$MTL" "${BASE[@]}" --stop-after 50 --save-every 50 || { bad "resume $1: first part"; return; }
  run "$d" "resume" "${second[@]}" "$MTL" "${BASE[@]}" --resume || { bad "resume $1: second part"; return; }
  local ref=$T/n$3
  if out=$(compare_logs "$ref" "$d" 1e-5); then ok "resume N=$2 -> N=$3 vs uninterrupted N=$3: $out"
  else bad "resume N=$2 -> N=$3: $out"; fi
}
resume_case 2to1 2 1
resume_case 1to2 1 2
resume_case 2to2 2 2
if same_file "$T/r_2to2/checkpoint.bin" "$T/n2/checkpoint.bin"; then ok "resume N=2 -> N=2: checkpoint bitwise equal to the uninterrupted N=2 run"
else bad "resume N=2 -> N=2: checkpoint differs"; fi

# ---- faults: no hang, no orphan, last checkpoint valid -------------------------------
# pids whose command line contains $1 (from /proc: no procps on a minimal Debian)
pids_of() {
  local d
  for d in /proc/[0-9]*; do
    # (a process may end while we read: the shell's own redirect error is silenced too)
    { tr '\0' ' ' < "$d/cmdline"; } 2>/dev/null | grep -qF -- "$1" && echo "${d#/proc/}"
  done
  return 0
}
no_orphans() { [ -z "$(pids_of "$T/$1")" ]; }
# a rank killed with SIGKILL mid-run (after the step-20 checkpoint)
LONG=("${BASE[@]}" --max-steps 100000 --save-every 20)
"${MPI[@]}" "$MTL" "${LONG[@]}" --out "$T/kill" > "$T/kill.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do [ -f "$T/kill/checkpoint.bin" ] && break; sleep 0.1; done
victim=$(pids_of "$T/kill" | while read -r p; do [ "$(cat /proc/$p/comm 2>/dev/null)" = mtl ] && echo "$p"; done | sort -n | tail -1)
t0=$(date +%s%N)
[ -n "$victim" ] && kill -9 "$victim"
( sleep "$FAULT_TIMEOUT"; kill -9 $job 2>/dev/null ) & guard=$!
wait $job; rc=$?
kill $guard 2>/dev/null; wait $guard 2>/dev/null
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
sleep 1
if [ -n "$victim" ] && [ $rc != 0 ] && [ $ms -lt $((FAULT_TIMEOUT * 1000)) ] && no_orphans kill; then
  ok "SIGKILL of one rank (pid $victim): the job ended $ms ms later, exit $rc, no process left"
else bad "SIGKILL of one rank: victim '$victim', exit $rc after $ms ms; left: $(pids_of "$T/kill" | tr '\n' ' ')"; fi
for p in $(pids_of "$T/kill"); do kill -9 "$p" 2>/dev/null; done
if "$MTL" eval --model "$T/kill" --out "$T/kill_eval" --no-test --qa-dev-limit 5 > "$T/kill_eval.log" 2>&1; then ok "after the kill the last checkpoint is valid (mtl eval reads it)"
else bad "checkpoint after the kill unreadable: $(tail -2 "$T/kill_eval.log")"; fi

# SIGTERM to one rank: every rank stops after the same step, rank 0 writes the
# checkpoint, the job exits 143; --resume then ends bitwise where the
# uninterrupted run ends
SIG=("${BASE[@]}" --max-steps 400)
"${MPI[@]}" "$MTL" "${SIG[@]}" --out "$T/sig" > "$T/sig.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do [ -s "$T/sig/log.csv" ] && break; sleep 0.1; done
victim=$(pids_of "$T/sig" | while read -r p; do [ "$(cat /proc/$p/comm 2>/dev/null)" = mtl ] && echo "$p"; done | sort -n | tail -1)
[ -n "$victim" ] && kill -TERM "$victim"
wait $job; rc=$?
stop_at=$(grep -o 'stopped after step [0-9]*' "$T/sig.log" | sort -u)
stopped=$(printf '%s' "$stop_at" | grep -c .)
if [ $rc = 143 ] && [ "$stopped" = 1 ] && [ -f "$T/sig/checkpoint.bin" ] && no_orphans sig &&
   run "$T/sig" "resume after SIGTERM" "${MPI[@]}" "$MTL" "${SIG[@]}" --resume &&
   run "$T/sig_ref" "uninterrupted 400 steps" "${MPI[@]}" "$MTL" "${SIG[@]}" &&
   same_file "$T/sig/checkpoint.bin" "$T/sig_ref/checkpoint.bin"; then
  ok "SIGTERM to rank 1: both ranks $stop_at, exit 143, checkpoint; --resume bitwise = uninterrupted"
else bad "SIGTERM to one rank: exit $rc, $stopped distinct stop step(s) ($stop_at); $(tail -3 "$T/sig.log")"; fi

fault_case() { # NAME WORDS CMD... : must end non-zero within FAULT_TIMEOUT naming WORDS
  local name=$1 words=$2; shift 2
  local out rc
  out=$(timeout "$FAULT_TIMEOUT" "$@" 2>&1 < /dev/null); rc=$?
  sleep 1
  if [ $rc != 0 ] && [ $rc != 124 ] && grep -qE -- "$words" <<<"$out" && no_orphans "$name"; then
    ok "$name: exit $rc, '$words'"
  else bad "$name: exit $rc (124 = hung), no /$words/ or processes left: $(tail -3 <<<"$out")"; fi
}
fault_case badopt "rank 1 of 2.*option --lr.*outside the accepted range" mpirun -np 1 --bind-to none "$MTL" "${BASE[@]}" --out "$T/badopt" : \
  -np 1 --bind-to none "$MTL" "${BASE[@]}" --lr nan --out "$T/badopt"
fault_case nodata "rank 1.*(no-such|not found|cannot)" mpirun -np 1 --bind-to none "$MTL" "${BASE[@]}" --out "$T/nodata" : \
  -np 1 --bind-to none -x DATASETS_DIR="$T/no-such" "$MTL" "${BASE[@]}" --out "$T/nodata"
fault_case predict "only .mtl train. runs as several MPI ranks" "${MPI[@]}" "$MTL" predict --model "$T/n1"

echo "dist_test.sh: $n checks, $pass passed, $fail failed"
summary
[ "$fail" = 0 ]
