#!/usr/bin/env bash
# bench_ci.sh — `make bench-ci`: a few-minute regression check of the whole
# training pipeline on the `tiny` preset (random init), on small fixed subsets:
#   1. trains single-task NER, single-task QA and multi-task (joint) once each;
#   2. trains the multi-task run a second time with the same seed and requires
#      bitwise identical checkpoint.bin, metrics.json, predictions and losses;
#   3. compares metrics and final losses with bench/baselines/ci-tiny.json
#      within the tolerances stored there (see "why" in that file;
#      bench/ci_check.py does this and the learning checks of 4 and 5);
#   4. trains the multi-task run with GradNorm loss weighting (alpha 1.5) and
#      checks that its weights moved and kept their sum; likewise uncertainty
#      weighting and DWA (proportional sampling, so that tasks are absent from
#      steps and periods); all three runs' weights are replayed with torch
#      (autograd, torch.optim.Adam) by reference/loss_weighting_check.py when
#      torch is installed;
#   5. checks that every run learned (final loss below its first-step loss);
#   6. renders the report (make reports) from each run alone and from all of them;
#   7. when the pretrained weights are installed (make weights): a short
#      multi-task fine-tune from minilm-l6 that must learn, `mtl export`, the
#      export's forward bitwise equal to the run's (mtl dump-forward), `mtl eval`
#      of the export scoring exactly as the run did, the
#      transformers checks (a) and (d) when torch is installed, and the
#      pretrained report section.
# bash bench/bench_ci.sh --update-baseline   rewrites the baseline from step 1.
# Variables: BUILD (build dir with mtl) [build], OUT [runs/bench-ci],
# THREADS [2], BENCH_CI_REQUIRE_DATA (1: missing data is an error, not a SKIP).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-runs/bench-ci}
THREADS=${THREADS:-2}
BASELINE=bench/baselines/ci-tiny.json
PYTHON=${PYTHON:-python3}
MTL="$BUILD/mtl"
UPDATE=0
[ "${1:-}" = "--update-baseline" ] && UPDATE=1
[ -x "$MTL" ] || { echo "bench-ci: $MTL not built (run make)" >&2; exit 1; }
. bench/data_check.sh
missing=$(missing_data)
if [ -n "$missing" ]; then
  echo "bench-ci: data missing:" $missing >&2
  how_to_get_data >&2
  if [ "${BENCH_CI_REQUIRE_DATA:-0}" = 1 ]; then exit 1; fi
  echo "SKIP bench-ci: no data (set BENCH_CI_REQUIRE_DATA=1 to make this an error)"
  exit 0
fi

# Fixed small subsets: the first 2000 training sentences and 1000 training
# questions; QA scored on the first 300 dev questions, NER on the full CoNLL
# dev and test sets. 200 steps of batch 16, sequences 64 (NER) / 128 (QA).
COMMON=(--preset tiny --seed 1 --max-steps 200 --batch 16 --lr 1e-3 --warmup-ratio 0.1
        --seq-ner 64 --seq-qa 128 --stride 32 --max-query 32
        --ner-train-limit 2000 --qa-train-limit 1000 --qa-dev-limit 300
        --eval-every 100 --eval-limit 100 --threads "$THREADS" --log-every 50)

rm -rf "$OUT"
mkdir -p "$OUT"
OUT_ABS=$(cd "$OUT" && pwd) # OUT may be relative or absolute
t0=$(date +%s)
for t in ner qa mtl; do
  echo "== bench-ci: $t"
  "$MTL" train --task "$t" --out "$OUT/$t" "${COMMON[@]}" 2> >(tee "$OUT/$t.stderr" | grep -E '^(final|mtl train:)' >&2)
done
echo "== bench-ci: mtl again with the same seed (determinism)"
"$MTL" train --task mtl --out "$OUT/mtl-repeat" "${COMMON[@]}" 2>"$OUT/mtl-repeat.stderr"

echo "== bench-ci: mtl with GradNorm loss weighting"
"$MTL" train --task mtl --loss-weighting gradnorm --gradnorm-alpha 1.5 --out "$OUT/mtl-gradnorm" \
  "${COMMON[@]}" 2> >(tee "$OUT/mtl-gradnorm.stderr" | grep -E '^final' >&2)

echo "== bench-ci: mtl with uncertainty and DWA loss weighting (proportional sampling)"
for lw in "uncertainty --uncertainty-lr 0.02" "dwa --dwa-period 20"; do
  name=mtl-${lw%% *}
  "$MTL" train --task mtl --sampling proportional --loss-weighting $lw --out "$OUT/$name" \
    "${COMMON[@]}" 2> >(tee "$OUT/$name.stderr" | grep -E '^final' >&2)
done

fail=0
for f in checkpoint.bin metrics.json eval.csv predictions/ner_test.conlleval.txt \
         predictions/ner_dev.conlleval.txt predictions/qa_dev_predictions.json; do
  if cmp -s "$OUT/mtl/$f" "$OUT/mtl-repeat/$f"; then
    echo "   identical: $f"
  else
    echo "   DIFFERENT: $f (same seed, build and machine must give identical bytes)"; fail=1
  fi
done
if diff <(cut -d, -f1-6 "$OUT/mtl/log.csv") <(cut -d, -f1-6 "$OUT/mtl-repeat/log.csv") >/dev/null; then
  echo "   identical: losses, lr and grad norms in log.csv"
else
  echo "   DIFFERENT: log.csv losses"; fail=1
fi

update=()
[ $UPDATE = 1 ] && update=(--update)
"$PYTHON" bench/ci_check.py "$OUT" "$BASELINE" ${update[@]+"${update[@]}"} || fail=1

if "$PYTHON" -c "import torch, numpy" 2>/dev/null; then
  for name in mtl-gradnorm mtl-uncertainty mtl-dwa; do
    "$PYTHON" reference/loss_weighting_check.py "$OUT/$name" | sed 's/^/   /' || fail=1
  done
else
  echo "   SKIP GradNorm, uncertainty and DWA torch replays (no torch here; reference/loss_weighting_check.py)"
fi

# 6. the report (RESULTS.md tables + gnuplot dashboard) renders from these runs:
#    each task alone, as `make bench TASKS=ner` would leave them, and all three;
#    into a scratch dir, never over the committed reports/ and RESULTS.md
echo "== bench-ci: reports from the runs"
for subset in ner qa mtl "ner qa mtl mtl-gradnorm"; do
  scratch="$OUT/reports-${subset// /-}"
  mkdir -p "$scratch/runs"
  for t in $subset; do ln -sfn "$OUT_ABS/$t" "$scratch/runs/$t"; done
  want_gn=1
  [[ $subset == *gradnorm* ]] || want_gn=0
  if FIGS="$scratch" BUILD="$BUILD" bash reports/make_reports.sh "$scratch/runs" "$scratch/RESULTS.md" \
       >"$scratch/log" 2>&1 && [ -s "$scratch/dashboard.png" ] && grep -q '^| ' "$scratch/RESULTS.md" &&
     { [ $want_gn = 0 ] || { [ -s "$scratch/gradnorm_weights.png" ] &&
                             grep -q '^| GradNorm α 1.5 ' "$scratch/RESULTS.md"; }; }; then
    echo "   report ok: $subset"
  else
    echo "   REPORT FAILED: $subset (log: $scratch/log)"; tail -n 5 "$scratch/log"; fail=1
  fi
done

# 7. pretrained fine-tuning, export and its fidelity
if find_data weights/minilm-l6/model.safetensors; then
  echo "== bench-ci: fine-tune minilm-l6 (multi-task), export, reload"
  P="$OUT/pretrained/mtl/seed-1"
  "$MTL" train --task mtl --init minilm-l6 --seed 1 --max-steps 60 --batch 16 --lr 2e-4 \
    --warmup-ratio 0.1 --seq-ner 64 --seq-qa 128 --stride 32 --max-query 32 --ner-train-limit 400 \
    --qa-train-limit 100 --qa-dev-limit 50 --eval-every -1 --threads "$THREADS" --log-every 20 \
    --out "$P" 2> >(tee "$OUT/pretrained.stderr" | grep -E '^(final|mtl train: --init)' >&2)
  "$PYTHON" - "$P" <<'PY' || fail=1
import json, sys
rows = [r.split(",") for r in open(sys.argv[1] + "/log.csv").read().splitlines()[1:]]
first = {k: float(rows[0][c]) for k, c in (("ner", 2), ("qa", 3))}
m = json.load(open(sys.argv[1] + "/metrics.json"))
ok = all(m["final_train_loss"][k] < first[k] for k in first) and m["ner"]["dev"]["f1"] > 0
print("   pretrained mtl: loss ner %.3f -> %.3f, qa %.3f -> %.3f, NER dev F1 %.2f, QA dev F1 %.2f: %s" % (
    first["ner"], m["final_train_loss"]["ner"], first["qa"], m["final_train_loss"]["qa"],
    m["ner"]["dev"]["f1"], m["qa"]["dev"]["f1"], "ok" if ok else "DID NOT LEARN"))
sys.exit(0 if ok else 1)
PY
  "$MTL" export "$P" --out "$OUT/pretrained-export" | sed 's/^/   /' || fail=1
  for d in "ner ner-dev" "qa qa-dev"; do
    set -- $d
    "$MTL" dump-forward --model "$P" --data "$2" --n 20 --out "$OUT/dump-run-$1.st" --seq-qa 128 \
      --stride 32 --max-query 32 >/dev/null || fail=1
    "$MTL" dump-forward --model "$OUT/pretrained-export/$1" --data "$2" --n 20 --out "$OUT/dump-export-$1.st" \
      --seq-qa 128 --stride 32 --max-query 32 >/dev/null || fail=1
    if cmp -s "$OUT/dump-run-$1.st" "$OUT/dump-export-$1.st"; then
      echo "   export $1: forward of the exported model = the run's (bitwise, 20 windows)"
    else
      echo "   export $1: DIFFERENT forward after export"; fail=1
    fi
  done
  # mtl eval of the export scores as the run scored itself (the path of a transformers-trained checkpoint)
  "$MTL" eval --model "$OUT/pretrained-export/qa" --out "$OUT/pretrained-eval-qa" --qa-dev-limit 50 --batch 16 \
    --seq-qa 128 --stride 32 --max-query 32 --threads "$THREADS" >/dev/null || fail=1
  "$PYTHON" - "$P/metrics.json" "$OUT/pretrained-eval-qa/metrics.json" <<'PY' || fail=1
import json, sys
a, b = (json.load(open(p))["qa"]["dev"] for p in sys.argv[1:3])
same = all(a[k] == b[k] for k in ("f1", "exact_match", "loss"))
print("   mtl eval of the exported QA model: F1 %.4f EM %.4f vs the run's %.4f / %.4f: %s" % (
    b["f1"], b["exact_match"], a["f1"], a["exact_match"], "identical" if same else "DIFFERENT"))
sys.exit(0 if same else 1)
PY
  if "$PYTHON" -c "import torch, transformers" 2>/dev/null; then
    "$PYTHON" reference/hf_check.py export --run "$P" --n 20 --mtl "$MTL" 2>/dev/null | grep '^(d)' | sed 's/^/   /'
    [ "${PIPESTATUS[0]}" = 0 ] || fail=1
  else
    echo "   SKIP transformers checks (no torch/transformers here; reference/hf_check.py)"
  fi
  scratch="$OUT/reports-pretrained"
  mkdir -p "$scratch"
  if "$PYTHON" reports/pretrained_results.py --runs "$OUT/pretrained" --fidelity "$scratch/none" \
       --results "$scratch/RESULTS.md" --section "$scratch/pretrained.md" >"$scratch/log" 2>&1 &&
     grep -q '^| multi-task' "$scratch/RESULTS.md"; then
    echo "   report ok: pretrained section"
  else
    echo "   REPORT FAILED: pretrained section (log: $scratch/log)"; tail -n 5 "$scratch/log"; fail=1
  fi
else
  echo "   SKIP pretrained fine-tune (no weights: make weights)"
fi

echo "== bench-ci: $(( $(date +%s) - t0 )) s"
if [ $fail = 0 ]; then echo "bench-ci: PASS"; else echo "bench-ci: FAIL"; exit 1; fi
