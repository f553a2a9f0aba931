#!/usr/bin/env bash
# bench/attention.sh — the attention op alone at the model's shapes, ours
# against PyTorch, in ROUNDS interleaved rounds (background load spreads over
# all sides): per round and sequence length, `mtl bench-kernels --ops
# attention` of every binary in MTLS (its own sgemm peak measured in the same
# call), then reference/bench_attention.py in PyTorch eager (the reference
# model's attention) and with scaled_dot_product_attention. One JSON line per
# side, round and length, after a {"meta": ...} line, into $ATTN_OUT;
# reports/bf16_results.py tabulates it (issue #14: forward + backward >= 50%
# of the GEMM peak of its precision at T 384). Each precision of PRECISIONS
# is a side of its own: ours with --precision (its bf16 GEMM peak measured in
# the same call), the peers under torch.autocast bf16.
#
# Environment (defaults in brackets):
#   MTLS ["build/mtl"]: binaries to compare, each PATH or LABEL=PATH (e.g.
#     "build/mtl main=../main/build/mtl"; a row without a label is named by
#     its `mtl version` commit)   PRESET [minilm]  BATCH [16]
#   SEQS ["128 384"]  THREADS [2]  ROUNDS [3]  REPEATS [9]  PEERS ["eager sdpa"]
#   PRECISIONS ["fp32 bf16"] (bf16 where ours has it: a CPU without native
#     bf16 runs fp32 and says so, and its bf16 rows are left out)
#   ATTN_OUT [bench/results/attention/kernels.jsonl] (replaced)   PYTHON [python3]
set -euo pipefail
cd "$(dirname "$0")/.."

MTLS=${MTLS:-build/mtl}
PRESET=${PRESET:-minilm}
BATCH=${BATCH:-16}
SEQS=${SEQS:-128 384}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
REPEATS=${REPEATS:-9}
PEERS=${PEERS-eager sdpa}
PRECISIONS=${PRECISIONS:-fp32 bf16}
ATTN_OUT=${ATTN_OUT:-bench/results/attention/kernels.jsonl}
PYTHON=${PYTHON:-python3}
bin_of() { echo "${1#*=}"; }
label_of() { case $1 in *=*) echo "${1%%=*}";; *) echo "";; esac; }
for m in $MTLS; do [ -x "$(bin_of "$m")" ] || { echo "attention.sh: $(bin_of "$m") not built (make)" >&2; exit 2; }; done
first=${MTLS%% *}
read -r C NH < <("$(bin_of "$first")" model-info --preset "$PRESET" 2>/dev/null |
  sed -n 's/.*C=\([0-9]*\).*NH=\([0-9]*\).*/\1 \2/p' | head -1)
[ -n "${C:-}" ] || { echo "attention.sh: cannot read C and NH of preset $PRESET from mtl model-info" >&2; exit 2; }
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
tmp="$ATTN_OUT.tmp.$$"
csv=$(mktemp /tmp/attention.XXXXXX.csv)
trap 'rm -f "$tmp" "$csv"' EXIT
mkdir -p "$(dirname "$ATTN_OUT")"
"$PYTHON" -c 'import json, sys; print(json.dumps({"meta": {"cpu": sys.argv[1], "preset": sys.argv[2], "batch": int(sys.argv[3]), "hidden": int(sys.argv[4]), "heads": int(sys.argv[5]), "threads": int(sys.argv[6]), "repeats": int(sys.argv[7]), "rounds": int(sys.argv[8])}}))' \
  "$cpu" "$PRESET" "$BATCH" "$C" "$NH" "$THREADS" "$REPEATS" "$ROUNDS" > "$tmp"
total=$((ROUNDS * $(wc -w <<<"$SEQS") * $(wc -w <<<"$PRECISIONS") * ($(wc -w <<<"$MTLS") + $(wc -w <<<"$PEERS"))))
done=0 t0=$(date +%s)
progress() {
  done=$((done + 1)); local el=$(($(date +%s) - t0))
  echo "attention.sh: $done/$total ($1), ${el}s, ETA $((el * (total - done) / done))s" >&2
}
for round in $(seq 1 "$ROUNDS"); do
  for T in $SEQS; do
    for prec in $PRECISIONS; do
      for m in $MTLS; do
        "$(bin_of "$m")" bench-kernels --preset "$PRESET" --batch "$BATCH" --seq "$T" --threads "$THREADS" \
          --repeats "$REPEATS" --precision "$prec" --ops attention --out "$csv" > /dev/null
        "$PYTHON" - "$csv" "$round" "$T" "$("$(bin_of "$m")" version | tr '\n' ' ')" "$(label_of "$m")" "$prec" <<'EOF' >> "$tmp"
import csv, json, sys
path, rnd, T, version, label, prec = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
rows = {r["op"]: r for r in csv.DictReader(l for l in open(path) if not l.startswith("#"))}
f, b = rows["attention_forward"], rows["attention_backward"]
peak = rows.get("peak_bf16_gemm" if prec == "bf16" else "peak_sgemm")
if peak is None or (prec == "bf16" and not f["device"].endswith("bf16")):
    sys.exit(0)  # no native bf16 here: ours ran fp32, which the fp32 rows already have
print(json.dumps({"impl": "ours", "label": label, "version": version, "round": rnd, "seq": T, "precision": prec,
                  "fwd_us": float(f["median_us"]), "bwd_us": float(b["median_us"]),
                  "fwd_gflops": float(f["gflops"]), "bwd_gflops": float(b["gflops"]),
                  "sgemm_peak_gflops": float(rows["peak_sgemm"]["gflops"]) if "peak_sgemm" in rows else None,
                  "gemm_peak_gflops": float(peak["gflops"])}))
EOF
        progress "round $round, T $T, $prec, $m"
      done
      for impl in $PEERS; do
        "$PYTHON" reference/bench_attention.py --impl "$impl" --batch "$BATCH" --seq "$T" --hidden "$C" \
          --heads "$NH" --threads "$THREADS" --repeats "$REPEATS" --precision "$prec" |
          "$PYTHON" -c 'import json, sys
r = json.loads(sys.stdin.read().strip().splitlines()[-1]); r.update(round=int(sys.argv[1])); print(json.dumps(r))' "$round" >> "$tmp"
        progress "round $round, T $T, $prec, torch $impl"
      done
    done
  done
done
mv "$tmp" "$ATTN_OUT"
echo "attention.sh: wrote $ATTN_OUT" >&2
