#!/usr/bin/env bash
# run_bench_pretrained.sh — `make bench` (INIT=minilm-l6, the default): fine-tune
# the pretrained encoder: single-task NER, single-task QA and the multi-task
# model, same seeds and data budgets, then the step comparison and reports.
# (`make bench INIT=scratch` is the from-scratch benchmark: run_bench.sh.)
#
# Budgets are epochs of the data used: NER the whole CoNLL-2003 train set,
# QA the first QA_TRAIN_LIMIT questions of the 44-article SQuAD train subset
# (the full subset is ~13 min per epoch on 2 cores); the multi-task run
# samples tasks in proportion to their windows, so one of its epochs sees
# exactly the batches of one NER epoch plus one QA epoch.
#
# Learning rates: LR_SWEEP=1 first fine-tunes seed SWEEP_SEED at each of
# SWEEP_LRS for NER and QA, picks the best dev F1 per task, records it in
# $OUT/lr-sweep.json and bench/baselines/lr-sweep-$INIT.json, and reuses the
# chosen run as that seed's main run (same options and seed: the same run).
# Without a sweep the recorded choice is used (1e-4 when none is recorded).
# The multi-task lr is the NER choice when both agree, else their geometric mean.
# QA's choice is made on the dev prefix that is also reported (SQuAD v1.1 has
# no public test set; run_qa.py users do the same): the NER test set is the
# clean held-out figure.
#
# Variables (make bench VAR=...):
#   INIT   minilm-l6 | a Hugging Face BERT dir    [minilm-l6]
#   SEEDS  [1,2,3]   TASKS [ner qa mtl]   EPOCHS [1]
#   QA_TRAIN_LIMIT [1500]  QA_DEV_LIMIT [1000] (0 = all 10,570)
#   LR_SWEEP [0]  SWEEP_LRS ["5e-5 1e-4 2e-4"]  SWEEP_SEED [first of SEEDS]
#   LR_NER, LR_QA, LR_MTL  override the recorded choice
#   MTL_SAMPLING [proportional]   OUT [runs/pretrained]
#   SINGLE_PASS_SEED [1]  the multi-task seed whose QA-pass entities bench/predict_single_pass.py
#             compares with the bare context (skipped when this run lacks it)
#   ARCHIVE [bench/results/pretrained]  the committed summaries of every recorded run: the
#             runs of OUT join it and RESULTS.md is written from it
#   JOBS [1]  runs at once; THREADS [nproc/JOBS] each (JOBS=2 THREADS=1 keeps
#             both cores busy on a machine shared with other work: two
#             1-thread runs do not fight over cores as 2-thread ones do)
#   HF [1 when torch + transformers import]  the same fine-tunes with transformers
#             (reference/finetune_hf.py train) on each C run's batches, scored by
#             `mtl eval`; HF_TASKS [ner qa] (mtl: one BertModel, both heads)
#   SPEED [1 when HF=1 and JOBS>1]  one NER and one QA epoch, ours vs
#             transformers, each alone with THREADS_SPEED [nproc] threads:
#             s/step and peak RSS (with JOBS=1 the runs above are alone already)
#   ABLATIONS [0]  1: multi-task variants, same budget, on ABLATION_SEEDS
#             [first of SEEDS], into OUT/ablation/NAME/seed-S; ABLATION_KINDS
#             [lambda temperature], any of:
#               lambda       lambda_ner/lambda_qa 2/1 and 1/2 (MTL_SAMPLING)
#               temperature  temperature sampling, T = 2
#               joint        both tasks every step: one NER epoch of joint steps
#                            cycles the QA data ~9 times (~4x the compute)
#               round_robin  tasks alternate (as costly as joint)
#               gradnorm     GradNorm at each of GRADNORM_ALPHAS [0.16 1.5]
#                            (joint sampling)
#               dropout      dropout at each of DROPOUTS [0.0 0.2 0.3] (the main
#                            runs are 0.1; MTL_SAMPLING)
#               uncertainty  learned weights exp(-s_i), homoscedastic uncertainty
#                            (Kendall et al. 2018; --uncertainty-lr 0.01)
#               dwa          Dynamic Weight Averaging (Liu et al. 2019) over periods
#                            of DWA_PERIOD [100] steps, T 2 (the paper's period, one
#                            epoch, would never leave the lambdas in a one-epoch run)
#                            Both with joint sampling, as GradNorm: with one task
#                            per step and clip 1, clipping rescales most steps'
#                            weighted gradient back to norm 1 (RESULTS.md counts
#                            them), so a task weight there changes little; in a
#                            joint step it sets the mix of the two gradients.
#               shared       partial sharing: --shared-layers K at each of
#                            SHARED_LAYERS [0 2 4 5] (the main runs share all 6
#                            layers of minilm-l6; each task gets its own copy of
#                            layers K..5, both from the pretrained weights;
#                            MTL_SAMPLING)
#               lora         LoRA (Hu et al. 2022) on the frozen encoder: per-task
#                            adapters of each rank in LORA_RANKS [4 8 16] on every
#                            projection (qkv, out, ffn), alpha LORA_ALPHA [16], lr
#                            LR_LORA [5e-4] (LoRA's usual ~5x the full fine-tune's;
#                            not swept); MTL_SAMPLING
#               heads        the heads-only baseline: --freeze-encoder, lr LR_HEADS
#                            [2e-3] (a linear probe of the pretrained encoder)
#             The runs go seed by seed (every variant of the first seed, then
#             the next), so a stopped bench leaves whole seeds behind.
#   STEP_CMP [1]   BUILD [build]   DRY_RUN [0]
#   REPORT [1]  0: leave RESULTS.md and the archive alone (runs for another report, e.g.
#             the multi-task pair with transformers: TASKS=mtl HF_TASKS=mtl SPEED=0
#             STEP_CMP=0 REPORT=0 OUT=runs/hf-mtl, then reports/pretrained_results.py
#             --hf-mtl-runs runs/hf-mtl)
#
# Every run batches by length (--group-by-length: HF's group_by_length; an
# epoch still sees every window once) and, with HF=1, writes its batches
# (--dump-batches) for the transformers fine-tune to read.
set -euo pipefail
cd "$(dirname "$0")/.."

INIT=${INIT:-minilm-l6}
SEEDS=${SEEDS:-1,2,3}
TASKS=${TASKS-ner qa mtl}
EPOCHS=${EPOCHS:-1}
QA_TRAIN_LIMIT=${QA_TRAIN_LIMIT:-1500}
QA_DEV_LIMIT=${QA_DEV_LIMIT:-1000}
LR_SWEEP=${LR_SWEEP:-0}
SWEEP_LRS=${SWEEP_LRS:-5e-5 1e-4 2e-4}
SWEEP_SEED=${SWEEP_SEED:-${SEEDS%%,*}}
MTL_SAMPLING=${MTL_SAMPLING:-proportional}
JOBS=${JOBS:-1}
THREADS=${THREADS:-$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))}
OUT=${OUT:-runs/pretrained}
STEP_CMP=${STEP_CMP:-1}
if [ -z "${HF:-}" ]; then
  if python3 -c "import torch, transformers, safetensors" 2>/dev/null; then HF=1; else HF=0; fi
fi
HF_TASKS=${HF_TASKS-ner qa}
# with JOBS=1 every run has the machine to itself: the side-by-side s/step already compare
SPEED=${SPEED:-$([ "$HF" = 1 ] && [ "$JOBS" -gt 1 ] && echo 1 || echo 0)}
THREADS_SPEED=${THREADS_SPEED:-$(nproc)}
ABLATIONS=${ABLATIONS:-0}
ABLATION_SEEDS=${ABLATION_SEEDS:-${SEEDS%%,*}}
ABLATION_KINDS=${ABLATION_KINDS:-lambda temperature}
GRADNORM_ALPHAS=${GRADNORM_ALPHAS:-0.16 1.5}
DROPOUTS=${DROPOUTS:-0.0 0.2 0.3}
DWA_PERIOD=${DWA_PERIOD:-100}
SHARED_LAYERS=${SHARED_LAYERS:-0 2 4 5}
LORA_RANKS=${LORA_RANKS:-4 8 16}
LORA_ALPHA=${LORA_ALPHA:-16}
LR_LORA=${LR_LORA:-5e-4}
LR_HEADS=${LR_HEADS:-2e-3}
ABLATION_KIND_NAMES="lambda temperature joint round_robin gradnorm dropout uncertainty dwa shared lora heads"
for k in $ABLATION_KINDS; do
  case " $ABLATION_KIND_NAMES " in *" $k "*) ;;
    *) echo "make bench: unknown ABLATION_KINDS entry '$k' ($ABLATION_KIND_NAMES)" >&2; exit 2;; esac
done
# name -> the mtl train options of that ablation (one list for the plan and the runs)
ablation_variants() {
  local k a
  for k in $ABLATION_KINDS; do
    case $k in
      lambda) echo "lambda-2-1 --sampling $MTL_SAMPLING --lambda-ner 2 --lambda-qa 1"
              echo "lambda-1-2 --sampling $MTL_SAMPLING --lambda-ner 1 --lambda-qa 2";;
      temperature) echo "sampling-temperature --sampling temperature --temperature 2";;
      joint|round_robin) echo "sampling-$k --sampling $k";;
      gradnorm) for a in $GRADNORM_ALPHAS; do echo "gradnorm-$a --sampling joint --loss-weighting gradnorm --gradnorm-alpha $a"; done;;
      dropout) for a in $DROPOUTS; do echo "dropout-$a --sampling $MTL_SAMPLING --dropout $a"; done;;
      uncertainty) echo "uncertainty --sampling joint --loss-weighting uncertainty";;
      dwa) echo "dwa-$DWA_PERIOD --sampling joint --loss-weighting dwa --dwa-period $DWA_PERIOD";;
      shared) for a in $SHARED_LAYERS; do echo "shared-$a --sampling $MTL_SAMPLING --shared-layers $a"; done;;
      # (a later --lr overrides the multi-task lr the queue puts first)
      lora) for a in $LORA_RANKS; do echo "lora-$a --sampling $MTL_SAMPLING --lora-rank $a --lora-alpha $LORA_ALPHA --lr $LR_LORA"; done;;
      heads) echo "heads-only --sampling $MTL_SAMPLING --freeze-encoder --lr $LR_HEADS";;
    esac
  done
}
BUILD=${BUILD:-build}
DRY_RUN=${DRY_RUN:-0}
MTL="$BUILD/mtl"
PYTHON=${PYTHON:-python3}
SWEEP_REC=bench/baselines/lr-sweep-$(basename "$INIT").json
calc() { awk "BEGIN { print ($*) }"; }

COMMON=(--init "$INIT" --epochs "$EPOCHS" --warmup-ratio 0.1 --batch 16
        --seq-ner 128 --seq-qa 384 --stride 128 --max-query 64 --eval-every -1
        --qa-train-limit "$QA_TRAIN_LIMIT" --qa-dev-limit "$QA_DEV_LIMIT"
        --threads "$THREADS" --log-every 50 --group-by-length
        --overwrite) # runs with metrics.json are skipped; an unfinished one starts again

. bench/data_check.sh
require_data "make bench"
if [ "$INIT" = minilm-l6 ] && ! find_data weights/minilm-l6/model.safetensors; then
  echo "make bench: the pretrained weights are not installed: make weights" >&2
  [ "$DRY_RUN" = 1 ] || make --no-print-directory weights
fi

recorded_lr() { # task -> the recorded sweep choice, or empty
  [ -r "$SWEEP_REC" ] && $PYTHON -c "import json,sys; print(json.load(open('$SWEEP_REC'))['chosen'].get('$1',''))" 2>/dev/null || true
}
LR_NER=${LR_NER:-$(recorded_lr ner)}; LR_NER=${LR_NER:-1e-4}
LR_QA=${LR_QA:-$(recorded_lr qa)};   LR_QA=${LR_QA:-1e-4}

# ---- plan ---------------------------------------------------------------------
# Seconds per step with 2 threads on the 2-core dev VM (minilm-l6, B 16,
# batches grouped by length: measured 0.20 s NER, 2.7 s QA; transformers
# ~1.7x that), and the final evaluation (NER dev + test 6.7k sentences; QA
# per dev question).
ner_steps=$(( (14042 * EPOCHS + 15) / 16 ))
qa_steps=$(( (QA_TRAIN_LIMIT * 103 / 100 * EPOCHS + 15) / 16 ))
nq=$QA_DEV_LIMIT; [ "$nq" = 0 ] && nq=10570
# Seconds per step and per dev question with 2 threads, measured on the 2-core
# Xeon (one epoch each alone, binary 3a0d461, RESULTS.md's speed table): ours
# NER 0.131 s/step + 31 s of loading and dev/test scoring, QA 1.105 s/step +
# 22 s for 1000 dev questions; transformers NER 0.214 and QA 1.767 s/step.
S_NER=0.135 S_QA=1.12 S_HFNER=0.22 S_HFQA=1.8 S_DEVQ=0.025
t_ner=$(calc "$ner_steps * $S_NER + 35"); t_qa=$(calc "$qa_steps * $S_QA + $nq * $S_DEVQ + 10")
t_mtl=$(calc "$t_ner + $t_qa")
t_hfner=$(calc "$ner_steps * $S_HFNER + 60"); t_hfqa=$(calc "$qa_steps * $S_HFQA + $nq * $S_DEVQ + 30")
# one thread takes ~2.9x as long (the 1-thread ablation runs of 2026-11-29/30,
# one at a time, load and final evaluation included: 15-16 min lambda, 10-12
# min LoRA r 4/16, 21 min temperature; a factor of 1.8 had planned 9, 7 and 13);
# JOBS runs share the wall time
f=$(calc "($THREADS >= 2 ? 1 : 2.9) / $JOBS")
t_ner=$(calc "$t_ner * $f"); t_qa=$(calc "$t_qa * $f"); t_mtl=$(calc "$t_mtl * $f")
t_hfner=$(calc "$t_hfner * $f"); t_hfqa=$(calc "$t_hfqa * $f")
nseeds=$(tr ',' '\n' <<<"$SEEDS" | grep -c .)
nl=$(wc -w <<<"$SWEEP_LRS")
total=0
echo "== make bench plan: fine-tune $INIT, seeds $SEEDS, $EPOCHS epoch(s): NER $ner_steps steps, QA $qa_steps steps ($QA_TRAIN_LIMIT questions), MTL ($MTL_SAMPLING) both; QA dev $nq questions; $JOBS run(s) at once, $THREADS thread(s) each"
if [ "$LR_SWEEP" = 1 ]; then
  s=$(calc "($nl - 1) * ($t_ner + $t_qa)"); total=$(calc "$total + $s")
  printf '   lr sweep (%s) on seed %s, NER and QA: ~%3.0f min (the chosen run is also seed %s)\n' "$SWEEP_LRS" "$SWEEP_SEED" "$(calc "$s / 60")" "$SWEEP_SEED"
else
  echo "   learning rates: NER $LR_NER, QA $LR_QA (${SWEEP_REC} when recorded; LR_SWEEP=1 to sweep)"
fi
for t in $TASKS; do
  case $t in ner) s=$t_ner;; qa) s=$t_qa;; *) s=$t_mtl;; esac
  s=$(calc "$nseeds * $s"); total=$(calc "$total + $s")
  printf '   %-4s x %d seeds: ~%3.0f min\n' "$t" "$nseeds" "$(calc "$s / 60")"
done
if [ "$HF" = 1 ]; then
  for t in $HF_TASKS; do
    case $t in ner) s=$t_hfner;; qa) s=$t_hfqa;; *) s=$(calc "$t_hfner + $t_hfqa");; esac
    s=$(calc "$nseeds * $s"); total=$(calc "$total + $s")
    printf '   transformers %-4s x %d seeds (on the C runs'"'"' batches, scored by mtl eval): ~%3.0f min\n' "$t" "$nseeds" "$(calc "$s / 60")"
  done
else
  echo "   transformers fine-tunes: off (HF=0, or torch/transformers not importable)"
fi
if [ "$ABLATIONS" = 1 ]; then
  na=$(tr ',' '\n' <<<"$ABLATION_SEEDS" | grep -c .)
  # QA's share of the steps under temperature sampling (T 2): sqrt(n_qa) / (sqrt(n_ner) + sqrt(n_qa))
  pq=$(calc "sqrt($qa_steps) / (sqrt($ner_steps) + sqrt($qa_steps))")
  t_joint=$(calc "($ner_steps * ($S_NER + $S_QA) + 45 + $nq * $S_DEVQ) * $f")
  while read -r name opts; do
    case $name in
      # shared-K: every step still runs all L layers of its task; only the
      # AdamW update grows (the copies' parameters), a small part of a step
      lambda-*|dropout-*|shared-*) s=$t_mtl;;
      # a frozen encoder: no weight gradients (LoRA) or no encoder backward at all (heads)
      lora-*) s=$(calc "0.8 * $t_mtl");;
      heads-only) s=$(calc "0.4 * $t_mtl");;
      sampling-temperature) s=$(calc "(($ner_steps + $qa_steps) * ((1 - $pq) * $S_NER + $pq * $S_QA) + 45 + $nq * $S_DEVQ) * $f");;
      *) s=$t_joint;;
    esac
    s=$(calc "$na * $s"); total=$(calc "$total + $s")
    printf '   ablation %-22s x %d seed(s): ~%3.0f min\n' "$name" "$na" "$(calc "$s / 60")"
  done < <(ablation_variants)
fi
if [ "$SPEED" = 1 ]; then
  s=$(calc "($ner_steps * ($S_NER + $S_HFNER) + $qa_steps * ($S_QA + $S_HFQA)) * 2 / $THREADS_SPEED + 120"); total=$(calc "$total + $s")
  printf '   speed: one NER and one QA epoch, ours vs transformers, alone, %s threads: ~%3.0f min\n' "$THREADS_SPEED" "$(calc "$s / 60")"
fi
[ "$STEP_CMP" = 1 ] && { total=$(calc "$total + 330"); echo "   training step ours vs PyTorch (mini, minilm): ~6 min"; }
[[ " $TASKS " == *" mtl "* ]] && [ "${REPORT:-1}" != 0 ] && { total=$(calc "$total + 60"); echo "   mtl predict, entities from the QA pass vs the bare context (300 questions): ~1 min"; }
printf '   expected total: ~%.0f min\n' "$(calc "$total / 60 + 1")"
[ "$DRY_RUN" = 1 ] && exit 0
[ -x "$MTL" ] || { echo "make bench: $MTL not built (run make)" >&2; exit 1; }
mkdir -p "$OUT"

# ---- lr sweep -------------------------------------------------------------------
dump_arg() { [ "$HF" = 1 ] && echo "--dump-batches $1/batches.safetensors"; return 0; }
best_lr() { # task -> the sweep lr with the best dev F1 (NER dev F1, QA dev F1)
  $PYTHON - "$OUT/lr-sweep" "$1" $SWEEP_LRS <<'PY'
import json, os, sys
root, task, lrs = sys.argv[1], sys.argv[2], sys.argv[3:]
def f1(lr):
    m = json.load(open(os.path.join(root, f"{task}-lr{lr}", "metrics.json")))
    return m[task]["dev"]["f1"]
print(max(lrs, key=f1))
PY
}
# Up to JOBS runs at once, each line of stdin one `mtl train` argument list;
# fails if any run failed.
run_queue() {
  local line fail=0
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || fail=1; done
    eval "set -- $line"
    local log; log="$OUT/logs/$(sed 's/.*--out \([^ ]*\).*/\1/' <<<"$line" | sed "s|^$OUT/||" | tr / _).log"
    echo "== mtl train $* ($(date -u +%H:%M:%S); log $log)"
    "$MTL" train "$@" "${COMMON[@]}" < /dev/null > "$log" 2>&1 &
  done
  while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || fail=1; done
  return $fail
}
mkdir -p "$OUT/logs"
if [ "$LR_SWEEP" = 1 ]; then
  for t in ner qa; do
    for lr in $SWEEP_LRS; do
      d="$OUT/lr-sweep/$t-lr$lr"
      [ -f "$d/metrics.json" ] || echo "--task $t --seed $SWEEP_SEED --lr $lr --out $d $(dump_arg "$d")"
    done
  done | run_queue
  LR_NER=$(best_lr ner); LR_QA=$(best_lr qa)
  $PYTHON bench/lr_sweep_record.py "$OUT/lr-sweep" "$INIT" "$SWEEP_SEED" "$LR_NER" "$LR_QA" $SWEEP_LRS \
    > "$OUT/lr-sweep.json"
  cp "$OUT/lr-sweep.json" "$SWEEP_REC"
  echo "   chosen: NER $LR_NER, QA $LR_QA -> $SWEEP_REC"
fi
if [ -z "${LR_MTL:-}" ]; then
  LR_MTL=$(awk -v a="$LR_NER" -v b="$LR_QA" 'BEGIN { if (a == b) print a; else printf "%.3g\n", sqrt(a * b) }')
fi

# ---- runs ----------------------------------------------------------------------
# MTL first: the longest runs start early, so the queue ends together.
for t in mtl qa ner; do
  [[ " $TASKS " == *" $t "* ]] || continue
  case $t in ner) lr=$LR_NER;; qa) lr=$LR_QA;; *) lr=$LR_MTL;; esac
  for s in ${SEEDS//,/ }; do
    d="$OUT/$t/seed-$s"
    [ -f "$d/metrics.json" ] && continue
    sweep="$OUT/lr-sweep/$t-lr$lr"
    if [ "$LR_SWEEP" = 1 ] && [ "$s" = "$SWEEP_SEED" ] && [ -f "$sweep/metrics.json" ]; then
      mkdir -p "$OUT/$t"; ln -sfn "$(realpath "$sweep")" "$d"
      echo "== $t seed $s: the sweep's lr $lr run ($sweep)" >&2; continue
    fi
    extra=""; [ "$t" = mtl ] && extra="--sampling $MTL_SAMPLING"
    echo "--task $t --seed $s --lr $lr --out $d $extra $(dump_arg "$d")"
  done
done | run_queue

# ---- the same fine-tunes with transformers ----------------------------------------
init_dir() { $PYTHON -c "import json; print(json.load(open('$1/metrics.json'))['init_dir'])"; }
# One transformers fine-tune on C run $1's batches into $2, then `mtl eval` of each head.
hf_job() {
  local run=$1 dst=$2 seed=$3 threads=$4 h
  rm -rf "$dst.tmp" && mkdir -p "$dst.tmp"
  $PYTHON reference/finetune_hf.py train --run "$run" --dump "$run/batches.safetensors" \
    --init "$(init_dir "$run")" --seed "$seed" --threads "$threads" --every 50 --out "$dst.tmp/model" || return 1
  for h in ner qa; do
    [ -d "$dst.tmp/model/$h" ] || continue
    "$MTL" eval --model "$dst.tmp/model/$h" --task "$h" --out "$dst.tmp/eval/$h" --threads "$threads" \
      --qa-dev-limit "$QA_DEV_LIMIT" --batch 16 --seq-ner 128 --seq-qa 384 --stride 128 --max-query 64 || return 1
  done
  rm -rf "$dst" && mv "$dst.tmp" "$dst"
}
if [ "$HF" = 1 ]; then
  fail=0
  for t in $HF_TASKS; do
    for s in ${SEEDS//,/ }; do
      d="$OUT/$t/seed-$s" h="$OUT/hf/$t/seed-$s"
      [ -f "$h/model/hf_train.json" ] && continue
      [ -f "$d/batches.safetensors" ] || { echo "make bench: $d has no batches.safetensors (a run from before HF=1?): skipping its transformers fine-tune" >&2; continue; }
      while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || fail=1; done
      log="$OUT/logs/hf_${t}_seed-$s.log"
      echo "== transformers $t seed $s ($(date -u +%H:%M:%S); log $log)"
      mkdir -p "$OUT/hf/$t"
      hf_job "$d" "$h" "$s" "$THREADS" > "$log" 2>&1 &
    done
  done
  while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || fail=1; done
  [ "$fail" = 0 ] || echo "warning: a transformers fine-tune failed (see $OUT/logs/hf_*.log)" >&2
fi

# ---- speed: one epoch each, alone on the machine -------------------------------------
if [ "$SPEED" = 1 ]; then
  for t in ner qa; do
    d="$OUT/$t/seed-${SEEDS%%,*}" sp="$OUT/speed/$t"
    [ -f "$d/batches.safetensors" ] || continue
    [ -f "$sp/hf/model/hf_train.json" ] && [ -f "$sp/c/timing.json" ] && continue
    echo "== speed $t: ours then transformers, $THREADS_SPEED threads, the batches of $d ($(date -u +%H:%M:%S))"
    rm -rf "$sp" && mkdir -p "$sp"
    "$MTL" train --config "$d/config.json" --out "$sp/c" --threads "$THREADS_SPEED" --dump-batches "" \
      --quiet > "$sp/c.log" 2>&1 || { echo "warning: speed run $sp/c failed" >&2; continue; }
    $PYTHON reference/finetune_hf.py train --run "$d" --dump "$d/batches.safetensors" --init "$(init_dir "$d")" \
      --seed 1 --threads "$THREADS_SPEED" --every 100 --out "$sp/hf/model" > "$sp/hf.log" 2>&1 \
      || echo "warning: speed run $sp/hf failed" >&2
  done
fi

# ---- ablations (after the speed runs, which want the machine to themselves) -------------
if [ "$ABLATIONS" = 1 ]; then
  for s in ${ABLATION_SEEDS//,/ }; do
    ablation_variants | while read -r name opts; do
      d="$OUT/ablation/$name/seed-$s"
      [ -f "$d/metrics.json" ] || echo "--task mtl --seed $s --lr $LR_MTL --out $d $opts"
    done
  done | run_queue
fi

if [ "$STEP_CMP" = 1 ]; then
  echo "== training step: ours vs PyTorch"
  THREADS="$THREADS" BUILD="$BUILD" bash bench/bench_step_cmp.sh || echo "warning: bench_step_cmp failed" >&2
fi
if [ "${REPORT:-1}" = 0 ]; then echo "== make bench done: $OUT (REPORT=0: no report, no single-pass record)"; exit 0; fi
# on the multi-task run of seed SINGLE_PASS_SEED only: the archive keeps one such record, and a
# rerun of other seeds (SEEDS=2,3) must not replace it with another seed's
SINGLE_PASS_SEED=${SINGLE_PASS_SEED:-1}
if [ -f "$OUT/mtl/seed-$SINGLE_PASS_SEED/metrics.json" ] && [ ! -f "$OUT/predict-single-pass.json" ]; then
  echo "== mtl predict: entities from the QA pass vs the bare context (bench/predict_single_pass.py)"
  $PYTHON bench/predict_single_pass.py --model "$OUT/mtl/seed-$SINGLE_PASS_SEED" --mtl "$MTL" --questions 300 \
    --out "$OUT/predict-single-pass.json" || echo "warning: predict_single_pass failed" >&2
fi
echo "== reports"
# the runs' summaries join the committed archive, and RESULTS.md is written from it (so a run of
# only some runs, e.g. more ablation seeds, still reports every recorded run)
$PYTHON reports/pretrained_results.py --runs "$OUT" --archive "${ARCHIVE:-bench/results/pretrained}" --results RESULTS.md \
  || echo "warning: pretrained results failed" >&2
echo "== make bench done: $OUT, RESULTS.md"
