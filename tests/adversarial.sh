#!/usr/bin/env bash
# tests/adversarial.sh — an independent adversarial suite for the mtl binary,
# written from README.md, the --help texts and impl/*.h only.
#
#   bash tests/adversarial.sh [MTL]      MTL: the binary (default build/mtl; build-san/mtl
#                                        for the ASan/UBSan build: make SANITIZE=1)
#   ADV_FILTER=REGEX   run only the cases whose name matches
#   ADV_KEEP=1         keep the temporary directory (its path is printed)
#
# Every case runs under `timeout 60` in a scratch directory and checks
#   (a) the exit status (2 usage/option errors, 1 bad input found while running;
#       never a signal death, never a hang),
#   (b) that the message names the culprit (a case-insensitive regex),
#   (c) no sanitizer report in the output,
#   (d) where the case points at a finished run directory or an output path: the
#       directory is byte for byte unchanged, no half-written output, no
#       directory left behind by a refused run.
# For each failing case one "FAIL name: reason" line followed by its command,
# status and output (indented); then "N passed, M failed (T cases)"; the exit
# status is 1 when a case failed.
#
# Cases preceded by a "# DEFECT:" comment fail on the program at the time of
# writing; the comment says what the contract (issue #12 / README) asks for, and
# the case passes once the program does that.
#
# Needs bash, python3 (stdlib), coreutils, util-linux (setpriv, mount: optional,
# for the permission and disk-full cases, which run only as root or non-root as
# applicable). Nothing is written outside the temporary directory (cases that
# would write to "/" on a defect run as user nobody, who cannot).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MTL=${1:-$ROOT/build/mtl}
case $MTL in /*) ;; *) MTL=$PWD/$MTL ;; esac
[ -x "$MTL" ] || { echo "adversarial.sh: no executable $MTL (make, or make SANITIZE=1)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "adversarial.sh: python3 is needed" >&2; exit 2; }
FX=$ROOT/tests/fixtures
PYF=$ROOT/tests/adversarial/forge.py
SIGRUN=$ROOT/tests/adversarial/sigrun.py

W=$(mktemp -d /tmp/mtl-adv.XXXXXX)
chmod 755 "$W"
FULL=
cleanup() {
    [ -n "$FULL" ] && umount "$FULL" 2>/dev/null
    chmod -R u+rwX "$W" 2>/dev/null
    if [ -n "${ADV_KEEP:-}" ]; then echo "adversarial.sh: kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
SAN_RE='ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|MemorySanitizer|ThreadSanitizer)|runtime error: |SUMMARY: [A-Za-z]*Sanitizer'

mkdir -p "$W/cwd" "$W/log" "$W/o" "$W/c" "$W/d" "$W/h" "$W/f"
cd "$W/cwd" || exit 2   # no datasets/data or ../shared/datasets here: no fallback data

IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1
NOBODY=()   # prefix that runs a command as an unprivileged user
if [ $IS_ROOT = 1 ]; then
    if command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
        NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    else
        NOBODY=(none)
    fi
fi

# ---------------------------------------------------------------- framework
PASS=0; FAIL=0; SKIP=0; N=0
POST=; STDIN=/dev/null; RC=0; OUT=
PWHY=

rc_ok() { # status expectation: "any" (0..125), "nz" (1..125) or a list "1,2"
    case $2 in
        any) [ "$1" -lt 126 ] ;;
        nz) [ "$1" -ge 1 ] && [ "$1" -lt 126 ] ;;
        *) [[ ",$2," == *",$1,"* ]] ;;
    esac
}

judge() { # name expect regex status outfile command-text
    local name=$1 expect=$2 regex=$3 rc=$4 out=$5 cmd=$6 why=""
    RC=$rc; OUT=$out
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        why="no exit within 60 s (hang; status $rc)"
    elif [ "$rc" -ge 128 ] && ! rc_ok "$rc" "$expect"; then
        why="died from signal $((rc > 200 ? rc - 200 : rc - 128)) (status $rc), expected $expect"
    elif ! rc_ok "$rc" "$expect"; then
        why="exit status $rc, expected $expect"
    elif [ -n "$regex" ] && ! grep -Eiq -- "$regex" "$out"; then
        why="message does not match /$regex/"
    fi
    if grep -Eq -- "$SAN_RE" "$out"; then why="${why:+$why; }sanitizer report"; fi
    if [ -n "$POST" ]; then
        PWHY=
        if ! eval "$POST"; then why="${why:+$why; }post-check: ${PWHY:-$POST}"; fi
    fi
    if [ -z "$why" ]; then
        PASS=$((PASS + 1))
    else
        FAIL=$((FAIL + 1))
        echo "FAIL $name: $why"
        echo "  command: $cmd"
        echo "  status:  $rc"
        sed -n '1,14p' "$out" | cut -c1-300 | sed 's/^/  | /'
        [ "$(wc -l <"$out")" -gt 14 ] && echo "  | ... ($(wc -l <"$out") lines)" && tail -n 4 "$out" | cut -c1-300 | sed 's/^/  | /'
    fi
    POST=; STDIN=/dev/null
}

selected() { [ -z "${ADV_FILTER:-}" ] || [[ $1 =~ $ADV_FILTER ]]; }

# case_ NAME EXPECT REGEX CMD... : run CMD (stdin: $STDIN), judge it; $POST is
# evaluated afterwards (it sees $RC and $OUT) and must succeed.
case_() {
    local name=$1 expect=$2 regex=$3; shift 3
    N=$((N + 1))
    if ! selected "$name"; then POST=; STDIN=/dev/null; return 0; fi
    local out="$W/log/$N-$name.out" rc
    timeout -k 5 60 "$@" <"$STDIN" >"$out" 2>&1
    rc=$?
    judge "$name" "$expect" "$regex" "$rc" "$out" "$(printf '%q ' "$@")$([ "$STDIN" != /dev/null ] && echo "< $STDIN")"
}

skip() { # NAME REASON
    N=$((N + 1)); selected "$1" || return 0
    SKIP=$((SKIP + 1)); echo "SKIP $1: $2"
}

tree_hash() { # every entry (type, path) and every file's sha256, as one hash
    [ -e "$1" ] || { echo missing; return; }
    ( cd "$1" && { find . -printf '%y %p\n' | LC_ALL=C sort
                   find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum; } ) | sha256sum | cut -c1-64
}
same_tree() { [ "$(tree_hash "$1")" = "$2" ] || { PWHY="$1 changed (files: $(ls -A "$1" 2>/dev/null | head -8 | tr '\n' ' '))"; return 1; }; }
absent() { if [ -e "$1" ] || [ -L "$1" ]; then PWHY="$1 was left behind (holding: $(ls -A "$1" 2>/dev/null | head -6 | tr '\n' ' '))"; return 1; fi; }
no_tmp() { local f; f=$(find "$@" -name '*.tmp.*' 2>/dev/null | head -3 | tr '\n' ' '); [ -z "$f" ] || { PWHY="half-written temp files left: $f"; return 1; }; }
out_has() { grep -Eiq -- "$1" "$OUT" || { PWHY="output lacks /$1/"; return 1; }; }
fr_same() { # the finished run unchanged; if not, report it and restore it for the next cases
    same_tree "$FR" "$FR_HASH" && return 0
    rm -rf "$FR"; cp -a "$FR_BACKUP" "$FR"; return 1
}

forge() { python3 "$PYF" "$@" || { echo "adversarial.sh: forge.py $1 failed" >&2; exit 2; }; }
datatree() { # NAME -> a copy of the good data tree, path on stdout
    local d=$W/d/$1; rm -rf "$d"; cp -a "$DATA" "$d"; echo "$d"; }
hfcopy() { local d=$W/h/$1; rm -rf "$d"; cp -a "$HF" "$d"; echo "$d"; }
frcopy() { local d=$W/c/$1; rm -rf "$d"; cp -a "$FR" "$d"; echo "$d"; }

# ---------------------------------------------------------------- fixtures
. "$ROOT/tests/fixture_data.sh"
fixture_data "$W/data" "$ROOT"       # exports DATASETS_DIR and MTL_VOCAB
DATA=$W/data
VOCAB=$MTL_VOCAB
chmod -R a+rX "$W"

# a 2-layer BERT (hidden 16, vocab 48) with a trained NER head and 64 positions
HF=$W/hf64
forge hf64 "$FX/hf_golden/ner" "$HF"
# common training options: small windows that fit the model's 64 positions
TR=(--init "$HF" --max-steps 1 --threads 1 --seq-ner 32 --seq-qa 32 --stride 8 --max-query 8 --batch 2 --quiet)
FR_ARGS=(--task mtl --init "$HF" --max-steps 2 --threads 1 --seq-ner 32 --seq-qa 32 --stride 8 --max-query 8 --batch 2 --quiet)
FR_LOUD=("${FR_ARGS[@]:0:${#FR_ARGS[@]}-1}")   # the same without --quiet
FR=$W/fr     # the finished run every "saved work untouched" case points at
if ! "$MTL" train "${FR_ARGS[@]}" --out "$FR" >"$W/log/setup-fr.out" 2>&1; then
    echo "adversarial.sh: cannot make the reference run:"; cat "$W/log/setup-fr.out"; exit 2
fi
FR_HASH=$(tree_hash "$FR")
FR_BACKUP=$W/fr.backup; cp -a "$FR" "$FR_BACKUP"
GOODTXT=$W/f/good.txt; printf 'Alice met Bob in Paris .\n' >"$GOODTXT"

echo "adversarial.sh: $MTL, temp $W"

# ================================================================ 1. command line
case_ cli_no_command 2 'usage' "$MTL"
case_ cli_unknown_command 2 'usage|unknown' "$MTL" frobnicate
case_ cli_empty_command 2 'usage|unknown' "$MTL" ''
case_ cli_train_help 0 'usage: mtl train' "$MTL" train --help
# DEFECT: `mtl version --bogus` ignores the unknown option and exits 0; every
# other command refuses unknown options with status 2.
case_ cli_version_unknown_option 2 'bogus' "$MTL" version --bogus

# ================================================================ 2. train options
# topt NAME 'ARGS' REGEX: the options (after the valid ones, so they win) must be
# refused with status 2, the message naming the option, and no run directory made.
topt() {
    local nm=$1 args=$2 rx=$3 o=$W/o/opt_$1
    eval "set -- $args"
    POST="absent '$o'"
    case_ "opt_$nm" 2 "$rx" "$MTL" train "${TR[@]}" --task mtl --out "$o" "$@"
}
topt lr_negative '--lr -1' 'lr.*(range|\[)'
topt lr_nan '--lr nan' 'lr.*(range|number|finite)'
topt lr_inf '--lr inf' 'lr.*(range|number|finite)'
topt lr_minus_inf '--lr -inf' 'lr.*(range|number|finite)'
topt lr_overflow '--lr 1e400' 'lr.*(range|number)'
topt lr_above_max '--lr 1e31' 'lr.*range'
topt lr_empty "--lr ''" 'lr.*(number|empty)'
topt lr_trailing_garbage '--lr 1e-4abc' 'lr.*number'
topt lr_decimal_comma '--lr 1,5' 'lr.*number'
topt lr_blank "--lr ' '" 'lr.*number'
topt lr_missing_value '--lr' 'lr.*(value|needs)'
topt lr_unicode_inf '--lr ∞' 'lr.*number'
topt batch_zero '--batch 0' 'batch.*(range|\[)'
topt batch_above_max '--batch 4097' 'batch.*range'
topt batch_negative '--batch -3' 'batch.*range'
topt batch_overflow '--batch 99999999999999999999' 'batch.*(integer|range)'
topt batch_fraction '--batch 1.5' 'batch.*integer'
topt batch_hex '--batch 0x10' 'batch.*integer'
topt batch_trailing_space "--batch '5 '" 'batch.*integer'
topt batch_repeated_bad_last '--batch 4 --batch 0' 'batch.*range'
topt batch_repeated_bad_first '--batch 0 --batch 4' 'batch.*range'
topt seed_negative '--seed -1' 'seed.*range'
# DEFECT: 1e18+1 .. 1e18+64 pass the range check [0, 1e+18] (compared as a
# double) and are used as the seed.
topt seed_above_max '--seed 1000000000000000001' 'seed.*(range|integer)'
topt seed_2_pow_64 '--seed 18446744073709551616' 'seed.*(range|integer)'
topt seed_exponent '--seed 1e3' 'seed.*integer'
topt threads_negative '--threads -1' 'threads.*range'
topt threads_above_max '--threads 1025' 'threads.*range'
topt epochs_above_max '--epochs 1000001' 'epochs.*range'
topt max_steps_negative '--max-steps -1' 'max-steps.*range'
topt max_steps_above_max '--max-steps 100000001' 'max-steps.*range'
topt max_steps_fraction '--max-steps 1.0' 'max-steps.*integer'
topt warmup_below_min '--warmup -2' 'warmup.*range'
topt warmup_ratio_above '--warmup-ratio 1.5' 'warmup-ratio.*range'
topt beta1_above '--beta1 1.5' 'beta1.*range'
topt beta2_negative '--beta2 -0.1' 'beta2.*range'
topt adam_eps_above '--adam-eps 2' 'adam-eps.*range'
topt dropout_nan '--dropout nan' 'dropout.*(range|number)'
topt dropout_above '--dropout 1.5' 'dropout.*range'
topt clip_above '--clip 1e10' 'clip.*range'
topt weight_decay_above '--weight-decay 11' 'weight-decay.*range'
topt temperature_zero '--temperature 0' 'temperature.*range'
topt gradnorm_alpha_above '--gradnorm-alpha 101' 'gradnorm-alpha.*range'
topt gradnorm_lr_above '--gradnorm-lr 11' 'gradnorm-lr.*range'
topt lambda_ner_negative '--lambda-ner -1' 'lambda-ner.*range'
topt lambda_qa_above '--lambda-qa 1e7' 'lambda-qa.*range'
topt ner_train_limit_overflow '--ner-train-limit 2147483648' 'ner-train-limit.*(range|integer)'
topt seq_ner_below '--seq-ner 7' 'seq-ner.*range'
topt seq_ner_above '--seq-ner 4097' 'seq-ner.*range'
topt seq_qa_below '--seq-qa 15' 'seq-qa.*range'
topt stride_negative '--stride -1' 'stride.*range'
topt max_query_zero '--max-query 0' 'max-query.*range'
topt eval_every_below '--eval-every -2' 'eval-every.*range'
topt save_every_negative '--save-every -1' 'save-every.*range'
topt log_every_zero '--log-every 0' 'log-every.*range'
topt stop_after_negative '--stop-after -1' 'stop-after.*range'
topt task_upper_case '--task NER' 'task'
topt preset_unknown '--preset huge' 'preset'
topt sampling_unknown '--sampling random' 'sampling'
topt loss_weighting_unknown '--loss-weighting dynamic' 'loss-weighting'
topt decode_unknown '--decode beam' 'decode'
topt device_unknown '--device gpu' 'device'
topt unknown_option '--frobnicate 1' 'frobnicate'
topt single_dash '-lr 1e-4' 'lr'
topt positional_argument 'extra' 'extra'
topt double_dash '--' 'unexpected|--'
topt flag_given_a_value '--resume 1' 'unexpected|1'
topt tf32_on_cpu '--tf32' 'tf32'
topt resume_and_overwrite '--resume --overwrite' 'resume.*overwrite|overwrite.*resume'
topt gradnorm_round_robin '--loss-weighting gradnorm --sampling round_robin' 'gradnorm'
topt gradnorm_single_task '--task ner --loss-weighting gradnorm' 'gradnorm'
topt out_empty "--out ''" 'out'
# DEFECT: an overlap (--stride) longer than the QA window is accepted when the
# data happen to fit one window (mtl predict refuses stride >= seq-qa as usage).
topt stride_not_below_seq_qa '--stride 40' 'stride'
# DEFECT: --max-query larger than the whole QA window is accepted (predict
# refuses max-query >= seq-qa - 3).
topt max_query_above_seq_qa '--max-query 40' 'max-query'
# DEFECT: --seeds errors are option errors but exit 1 (README: 2 for options).
topt seeds_repeated '--seeds 1,1' 'seeds'
# DEFECT: same (exit 1 for a malformed option value).
topt seeds_malformed '--seeds 1,,2' 'seeds'

# ================================================================ 3. --config files
C=$W/cfg; mkdir -p "$C"
printf 'lr=abc\n' >"$C/bad_number.conf"
printf 'frobnicate=1\n' >"$C/unknown.conf"
printf 'lr\n' >"$C/no_equals.conf"
printf '=5\n' >"$C/empty_key.conf"
printf 'lr=1e-4\000batch=8\n' >"$C/nul.conf"
printf 'batch=0\n' >"$C/out_of_range.conf"
python3 -c "print('lr=' + '1' * 2000000)" >"$C/huge_line.conf"
printf 'resume=maybe\n' >"$C/flag_value.conf"
printf '{"lr": 1e400}' >"$C/overflow.json"
printf '{"lr": 0.001} trailing' >"$C/trailing.json"
python3 -c "print('[' * 100000)" >"$C/deep_array.json"
python3 -c "print('{\"a\":' * 100000)" >"$C/deep_object.json"
printf '{"task": "\\ud800"}' >"$C/lone_surrogate.json"
printf '{"batch": 16.5}' >"$C/fraction.json"
printf '{"batch": true}' >"$C/bool_for_value.json"
printf '{"task": null}' >"$C/null.json"
printf '{"task": ["ner"]}' >"$C/array_value.json"
printf '{"seed": 18446744073709551617}' >"$C/big_int.json"
printf '[1, 2]' >"$C/array_top.json"
printf '{"frobnicate": 1}' >"$C/unknown_key.json"
printf '{"lr": NaN}' >"$C/nan_literal.json"
printf '{"lr": 0.0' >"$C/truncated.json"
printf '{"lr": "0.001\\u0000x"}' >"$C/nul_escape.json"
printf '\xef\xbb\xbf{"lr": 0.001}' >"$C/bom.json"
printf '{"config": "%s/nonexistent.conf"}' "$C" >"$C/nested.json"
mkfifo "$C/fifo"
mkdir "$C/dir"
copt() { # NAME FILE REGEX [EXPECT]
    local o=$W/o/cfg_$1
    POST="absent '$o'"
    case_ "cfg_$1" "${4:-2}" "$3" "$MTL" train "${TR[@]}" --task mtl --out "$o" --config "$2"
}
copt kv_bad_number "$C/bad_number.conf" 'bad_number.conf:1.*lr'
copt kv_unknown_key "$C/unknown.conf" 'unknown.conf.*frobnicate'
copt kv_no_equals "$C/no_equals.conf" 'no_equals.conf:1'
copt kv_empty_key "$C/empty_key.conf" 'empty_key.conf'
copt kv_nul_byte "$C/nul.conf" 'nul.conf.*NUL'
copt kv_out_of_range "$C/out_of_range.conf" 'out_of_range.conf.*batch.*range'
copt kv_huge_line "$C/huge_line.conf" 'huge_line.conf'
copt kv_flag_value "$C/flag_value.conf" 'flag_value.conf.*resume'
copt json_overflow "$C/overflow.json" 'overflow.json.*lr'
copt json_trailing_text "$C/trailing.json" 'trailing.json'
copt json_deep_array "$C/deep_array.json" 'deep_array.json'
copt json_deep_object "$C/deep_object.json" 'deep_object.json'
copt json_lone_surrogate "$C/lone_surrogate.json" 'lone_surrogate.json'
copt json_fraction_for_int "$C/fraction.json" 'fraction.json.*batch'
copt json_bool_for_value "$C/bool_for_value.json" 'bool_for_value.json.*batch'
copt json_null "$C/null.json" 'null.json.*task'
copt json_array_value "$C/array_value.json" 'array_value.json.*task'
copt json_big_int "$C/big_int.json" 'big_int.json.*seed'
copt json_array_top "$C/array_top.json" 'array_top.json'
copt json_unknown_key "$C/unknown_key.json" 'unknown_key.json.*frobnicate'
copt json_nan_literal "$C/nan_literal.json" 'nan_literal.json'
copt json_truncated "$C/truncated.json" 'truncated.json'
copt fifo "$C/fifo" 'fifo.*regular'
copt directory "$C/dir" 'dir.*regular'
copt dev_zero /dev/zero 'dev/zero.*regular'
copt missing "$C/missing.conf" 'missing.conf'
# DEFECT: "\u0000" inside a JSON string cuts the value: "0.001\u0000x" is taken
# as lr 0.001 (a key=value file with a NUL byte is refused).
copt json_nul_escape "$C/nul_escape.json" 'nul_escape.json.*u0000'
# DEFECT: a JSON config starting with a UTF-8 BOM is read as key=value lines:
# "expected key=value, got '<BOM>{"lr": 0.001}'" (config.json of an HF dir,
# CoNLL and SQuAD files with a BOM are read). Either read it, or say "BOM".
POST="[ \$RC = 0 ] || out_has 'BOM|byte.order'"
case_ cfg_json_bom '0,2' '' "$MTL" train "${TR[@]}" --task mtl --out "$W/o/cfg_bom" --config "$C/bom.json"
# DEFECT: a "config" key inside a config file is ignored without a word, even
# when it names a file that does not exist.
copt json_nested_config_key "$C/nested.json" 'config'
# the run's own config.json reproduces it (positive control), and without --out
# it points at the finished run, which must be refused and left alone
POST="fr_same"
case_ cfg_run_config_again 0 '' "$MTL" train --config "$FR/config.json" --out "$W/o/cfg_again"
POST="fr_same"
case_ cfg_run_config_same_out 1 'already|--resume|--overwrite' "$MTL" train --config "$FR/config.json"

# ================================================================ 4. run directory ownership
frt() { # NAME EXPECT REGEX ARGS... : train into the finished run, which must stay as it was
    local nm=$1 ex=$2 rx=$3; shift 3
    POST="fr_same"
    case_ "run_$nm" "$ex" "$rx" "$MTL" train "${FR_ARGS[@]}" --out "$FR" "$@"
}
BADCONLL=$(datatree bad_conll); echo 'bad line with X' >>"$BADCONLL/conll2003/train.txt"
BADSQUAD=$(datatree bad_squad); printf '{"data": [' >"$BADSQUAD/squad/train-v1.1-subset44.json"
BADST=$(hfcopy bad_st); forge st "$BADST/model.safetensors" "save(h, data[:-100])"
SHORTVOCAB=$(hfcopy short_vocab); head -n 40 "$FX/hf_golden/ner/vocab.txt" >"$SHORTVOCAB/vocab.txt"
frt same_command_again 1 'already holds|--resume|--overwrite'
frt overwrite_bad_option 2 'lr' --overwrite --lr -1
POST="fr_same"; case_ run_overwrite_bad_conll_data 1 'train.txt:[0-9]+' env DATASETS_DIR="$BADCONLL" "$MTL" train "${FR_ARGS[@]}" --out "$FR" --overwrite
POST="fr_same"; case_ run_overwrite_bad_squad 1 'train-v1.1-subset44.json' env DATASETS_DIR="$BADSQUAD" "$MTL" train "${FR_ARGS[@]}" --out "$FR" --overwrite
frt overwrite_bad_init 1 'model.safetensors' --overwrite --init "$BADST"
frt overwrite_init_vocab_size 1 'vocab.txt' --overwrite --init "$SHORTVOCAB"
frt overwrite_missing_config 2 'nonexistent.conf' --overwrite --config "$W/nonexistent.conf"
frt overwrite_gradnorm_layer 1 'gradnorm-layer' --overwrite --loss-weighting gradnorm --gradnorm-layer nope
frt overwrite_window_too_long 1 'maxT|position|seq' --overwrite --seq-qa 100
frt overwrite_threads 2 'threads' --overwrite --threads 1025
# (was a DEFECT: the old run was cleared before the bad --dump-batches path was found;
# now the path is checked with the options, a usage error: 2)
c=$(frcopy dump_batches); h=$(tree_hash "$c")
POST="same_tree '$c' '$h'"
case_ run_overwrite_dump_batches_bad_path 2 'x.st' "$MTL" train "${FR_ARGS[@]}" --out "$c" --overwrite --dump-batches "$W/nodir/x.st"
frt resume_other_seed 1 'seed' --resume --seed 2
frt resume_other_batch 1 'batch' --resume --batch 3
frt resume_other_lr 1 'lr' --resume --lr 1e-3
frt resume_other_task 1 'heads|task|mismatch' --resume --task ner
POST="fr_same"; case_ run_resume_other_preset 1 'checkpoint.bin.*(mismatch|config)' "$MTL" train --task mtl --preset tiny --max-steps 2 --threads 1 --quiet --out "$FR" --resume
POST="fr_same"; case_ run_resume_finished_is_noop 0 'finished|nothing to do' "$MTL" train "${FR_LOUD[@]}" --out "$FR" --resume
frt out_is_a_file 1 'not a directory' --out "$FR/config.json"
frt out_subdir_with_files 1 'already holds|--resume|--overwrite' --out "$FR/predictions"
ln -s "$FR" "$W/frlink"
frt out_symlink_to_run 1 'already holds|--resume|--overwrite' --out "$W/frlink"
# DEFECT: `mtl eval --out RUN_DIR` writes into a finished training run and
# replaces its metrics.json, manifest.json and predictions/ (saved work lost).
POST="fr_same"; case_ run_eval_into_run_dir nz 'already|holds|run directory|--out' "$MTL" eval --model "$FR" --out "$FR"
STDIN=$GOODTXT; POST="fr_same"; case_ run_predict_reads_only 0 'entities' "$MTL" predict --model "$FR"
POST="fr_same && [ -s '$W/o/export_ok/ner/model.safetensors' ]"; case_ run_export_reads_only 0 '' "$MTL" export "$FR" --out "$W/o/export_ok"
POST="fr_same"; case_ run_score_ner_reads_only 0 'processed' "$MTL" score-ner "$FR/predictions/ner_dev.conlleval.txt"
# a stale temp file of a dead process is removed on start; the finished run stays
c=$(frcopy stale_tmp); echo junk >"$c/metrics.json.tmp.999999999"
POST="same_tree '$c' '$FR_HASH'"; case_ run_stale_temp_removed 0 'finished|nothing' "$MTL" train "${FR_LOUD[@]}" --out "$c" --resume
mkdir -p "$W/o/empty_dir"
POST="[ -d '$W/o/empty_dir' ] && [ -z \"\$(ls -A '$W/o/empty_dir')\" ] || { PWHY='the pre-existing empty dir changed'; false; }"
case_ run_refused_keeps_empty_dir 2 'lr' "$MTL" train "${TR[@]}" --task mtl --out "$W/o/empty_dir" --lr -1
mkdir -p "$W/o/hidden"; echo x >"$W/o/hidden/.keep"
case_ run_hidden_file_counts 1 '\.keep' "$MTL" train "${TR[@]}" --task mtl --out "$W/o/hidden"
echo x >"$W/o/plainfile"
case_ run_out_under_a_file 1 'plainfile.*(directory|not)' "$MTL" train "${TR[@]}" --task mtl --out "$W/o/plainfile/run"
ln -s "$W/o/loop" "$W/o/loop"
case_ run_out_symlink_loop 1 'loop.*(symbolic|link|loop)' "$MTL" train "${TR[@]}" --task mtl --out "$W/o/loop"
ln -s "$W/o/nowhere" "$W/o/dangling"
POST="absent '$W/o/nowhere'"; case_ run_out_dangling_symlink 1 'dangling' "$MTL" train "${TR[@]}" --task mtl --out "$W/o/dangling"
# resuming an unfinished run with other training data
U0=$W/unfinished
"$MTL" train "${FR_ARGS[@]}" --max-steps 4 --save-every 1 --stop-after 2 --out "$U0" >"$W/log/setup-u0.out" 2>&1
U0_HASH=$(tree_hash "$U0")
CHG=$(datatree changed); sed -i 's/^Alice /Alicia /' "$CHG/conll2003/train.txt"
c=$W/c/u_changed; rm -rf "$c"; cp -a "$U0" "$c"
# DEFECT: --resume with a changed training file continues silently and rewrites
# manifest.json with the new file's sha256 (the resumed run is no longer the
# one that was started; README: resume is bitwise the uninterrupted run).
POST="same_tree '$c' '$U0_HASH'"
case_ run_resume_changed_data 1 'train.txt|data|sha256' env DATASETS_DIR="$CHG" "$MTL" train "${FR_ARGS[@]}" --max-steps 4 --save-every 1 --out "$c" --resume
c=$W/c/u_ok; rm -rf "$c"; cp -a "$U0" "$c"
POST="[ -s '$c/metrics.json' ] || { PWHY='no metrics.json'; false; }"
case_ run_resume_unfinished 0 '' "$MTL" train "${FR_ARGS[@]}" --max-steps 4 --save-every 1 --out "$c" --resume

# ================================================================ 5. lock and signals
SIGD=$W/sig; mkdir -p "$SIGD"
BIG=$(datatree big)
python3 - "$BIG/conll2003/train.txt" <<'EOF'
import random, sys
r = random.Random(1); tags = ['O', 'I-PER', 'I-LOC', 'I-ORG', 'I-MISC']
with open(sys.argv[1], 'w') as f:
    for s in range(400):
        for i in range(120):
            f.write('the%d NN I-NP %s\n' % (i, r.choice(tags)))
        f.write('\n')
EOF
SLOW=(--task ner --preset tiny --threads 1 --log-every 1 --eval-every -1)
sigcase() { # NAME EXPECT REGEX WAITSPEC SIGS OUTDIR ENV CMD... (env: a DATASETS_DIR value)
    local nm=$1 ex=$2 rx=$3 wait=$4 sigs=$5 od=$6 ds=$7; shift 7
    N=$((N + 1)); selected "sig_$nm" || { POST=; return 0; }
    local log=$SIGD/$nm.log rc
    DATASETS_DIR=$ds timeout -k 5 200 python3 "$SIGRUN" "$log" "$wait" - - "$sigs" -- "$@"
    rc=$?
    judge "sig_$nm" "$ex" "$rx" "$rc" "$log" "kill -$sigs while: $(printf '%q ' "$@")"
}
# lock: a second train into the directory of a running one fails at once
LK=$SIGD/locked
if ! selected "sig_lock"; then
    N=$((N + 4))
else
    DATASETS_DIR=$DATA timeout -k 5 300 python3 "$SIGRUN" "$SIGD/lock.log" 'log:^step 1/' "$SIGD/lock.ready" "$SIGD/lock.go" INT -- \
        "$MTL" train --task mtl --init "$HF" --max-steps 100000000 --threads 1 --seq-ner 32 --seq-qa 32 --stride 8 --max-query 8 --batch 2 \
        --eval-every -1 --log-every 100000 --out "$LK" &
    BGPID=$!
    for _ in $(seq 6000); do [ -e "$SIGD/lock.ready" ] || ! kill -0 $BGPID 2>/dev/null && break; sleep 0.01; done
    POST="kill -0 $BGPID 2>/dev/null || { PWHY='the running train died'; false; }"
    case_ sig_lock_second_train 1 'another process|lock' "$MTL" train --task mtl --init "$HF" --max-steps 1 --threads 1 --seq-ner 32 --seq-qa 32 --stride 8 --max-query 8 --batch 2 --out "$LK"
    POST="kill -0 $BGPID 2>/dev/null || { PWHY='the running train died'; false; }"
    case_ sig_lock_overwrite 1 'another process|lock' "$MTL" train "${TR[@]}" --task mtl --out "$LK" --overwrite
    POST="kill -0 $BGPID 2>/dev/null || { PWHY='the running train died'; false; }"
    case_ sig_lock_resume 1 'another process|lock' "$MTL" train "${TR[@]}" --task mtl --out "$LK" --resume
    touch "$SIGD/lock.go"
    wait $BGPID; rc=$?
    N=$((N + 1))
    POST="[ -s '$LK/checkpoint.bin' ] && no_tmp '$LK' || { PWHY=\"\${PWHY:-no checkpoint.bin}\"; false; }"
    judge sig_lock_then_sigint 130 'SIGINT.*--resume' "$rc" "$SIGD/lock.log" "SIGINT to a running train (after the lock cases)"
fi
# SIGTERM mid-run, then --resume: bitwise the uninterrupted run
REF=$SIGD/ref
DATASETS_DIR=$BIG "$MTL" train "${SLOW[@]}" --batch 16 --max-steps 12 --out "$REF" >"$W/log/setup-ref.out" 2>&1
POST="[ -s '$SIGD/term/checkpoint.bin' ] && no_tmp '$SIGD/term' || { PWHY=\"\${PWHY:-no checkpoint.bin}\"; false; }"
sigcase term_writes_checkpoint 143 'SIGTERM.*--resume' 'log:^step 2/' TERM "$SIGD/term" "$BIG" "$MTL" train "${SLOW[@]}" --batch 16 --max-steps 12 --out "$SIGD/term"
POST="cmp -s '$REF/checkpoint.bin' '$SIGD/term/checkpoint.bin' && cmp -s '$REF/metrics.json' '$SIGD/term/metrics.json' || { PWHY='checkpoint.bin / metrics.json differ from the uninterrupted run'; false; }"
case_ sig_term_resume_bitwise 0 'resumed' env DATASETS_DIR="$BIG" "$MTL" train "${SLOW[@]}" --batch 16 --max-steps 12 --out "$SIGD/term" --resume
POST="[ -s '$SIGD/hup/checkpoint.bin' ] && no_tmp '$SIGD/hup' || { PWHY=\"\${PWHY:-no checkpoint.bin}\"; false; }"
sigcase hup_writes_checkpoint 129 'SIGHUP.*--resume' 'log:^step 2/' HUP "$SIGD/hup" "$BIG" "$MTL" train "${SLOW[@]}" --batch 16 --max-steps 12 --out "$SIGD/hup"
POST="grep -Eq 'sigrun: (exit 130|killed by signal 2) after [0-4]\\.' '$SIGD/double_sigint_exits_at_once.log' || { PWHY='did not end within 5 s of the second signal'; false; }"
sigcase double_sigint_exits_at_once 130,202 '' 'log:^step 1/' 'INT,INT:0.05' "$SIGD/double" "$BIG" "$MTL" train "${SLOW[@]}" --batch 64 --max-steps 6 --out "$SIGD/double"
case_ sig_double_then_resume 0 '' env DATASETS_DIR="$BIG" "$MTL" train "${SLOW[@]}" --batch 64 --max-steps 6 --out "$SIGD/double" --resume
# SIGTERM while the data are still loading (before the first step)
HUGE=$(datatree huge)
python3 - "$HUGE/conll2003/train.txt" <<'EOF'
import sys
line = ''.join('w%d NN I-NP O\n' % i for i in range(30)) + '\n'
with open(sys.argv[1], 'w') as f:
    f.write(line * 60000)
EOF
# DEFECT: the signal handler is installed only when training starts: a SIGTERM
# during data loading kills the process silently (death by signal, no message)
# and leaves the run directory it created behind (empty, or a config.json.tmp.PID).
POST="no_tmp '$SIGD/early' && { [ ! -d '$SIGD/early' ] || [ -n \"\$(ls -A '$SIGD/early')\" ] || { PWHY='an empty run directory was left behind'; false; }; }"
sigcase term_during_data_loading 143 'SIGTERM|signal|interrupt' "path:$SIGD/early" TERM "$SIGD/early" "$HUGE" "$MTL" train --task ner --preset tiny --threads 1 --max-steps 5 --out "$SIGD/early"
rm -rf "$HUGE" "$SIGD/early"

# ================================================================ 6. checkpoints
# ckc NAME EXPR [fix|nofix]: a copy of the finished run with a forged checkpoint;
# --resume and predict must refuse it naming the file, the copy left as it was.
ckc() {
    local nm=$1 c; c=$(frcopy "ck_$1")
    forge ckpt "$c/checkpoint.bin" "$2" "${3:-fix}"
    local h; h=$(tree_hash "$c")
    POST="same_tree '$c' '$h'"
    case_ "ckpt_${nm}_resume" 1 'checkpoint\.bin' "$MTL" train "${FR_ARGS[@]}" --out "$c" --resume
    STDIN=$GOODTXT
    case_ "ckpt_${nm}_predict" 1 'checkpoint\.bin' "$MTL" predict --model "$c"
}
ckc empty_file 'b[:] = b""' nofix
ckc seven_bytes 'b[:] = b[:7]' nofix
ckc truncated_header 'b[:] = b[:100]' nofix
ckc truncated_payload 'b[:] = b[:len(b)//2]' nofix
ckc last_byte_missing 'b[:] = b[:-1]' nofix
ckc trailing_byte 'b += b"x"' nofix
ckc bad_magic 'b[0:1] = b"X"' nofix
ckc version_99 'struct.pack_into("<I", b, 8, 99)' nofix
ckc payload_bit_flip 'b[d["payload_off"] + 100] ^= 1' nofix
ckc checksum_bit_flip 'b[-1] ^= 1' nofix
ckc orders_huge 'struct.pack_into("<i", b, d["nord_off"], 1000)'
ckc options_length_huge 'struct.pack_into("<I", b, d["optlen_off"], 0xffffffff)'
ckc tensor_count_huge 'struct.pack_into("<I", b, d["nt_off"], 0x7fffffff)'
ckc layers_zero 'struct.pack_into("<i", b, d["cfg_off"], 0)'
ckc hidden_negative 'struct.pack_into("<i", b, d["cfg_off"] + 4, -16)'
ckc max_positions_zero 'struct.pack_into("<i", b, d["cfg_off"] + 20, 0)'
ckc heads_zero 'struct.pack_into("<i", b, d["cfg_off"] + 32, 0)'
ckc heads_seven 'struct.pack_into("<i", b, d["cfg_off"] + 32, 7)'
ckc layernorm_eps_nan 'struct.pack_into("<f", b, d["cfg_off"] + 36, float("nan"))'
ckc dropout_two 'struct.pack_into("<f", b, d["cfg_off"] + 40, 2.0)'
ckc step_negative 'struct.pack_into("<q", b, d["state_off"] + 8, -5)'
ckc adam_t_negative 'struct.pack_into("<i", b, d["state_off"] + 16, -1)'
ckc orders_negative 'struct.pack_into("<i", b, d["nord_off"], -1)'
ckc order_position_out_of_range 'struct.pack_into("<3i", b, d["nord_off"] + 4, 4, 0, 999999)'
ckc ndim_zero 'struct.pack_into("<I", b, t[1]["ndim_off"], 0)'
ckc ndim_nine 'struct.pack_into("<I", b, t[1]["ndim_off"], 9)'
ckc dimension_zero 'struct.pack_into("<I", b, t[0]["shape_off"], 0)'
ckc numel_mismatch 'struct.pack_into("<Q", b, t[1]["offnum_off"] + 8, t[1]["numel"] + 1)'
ckc offset_out_of_range 'struct.pack_into("<Q", b, t[1]["offnum_off"], 2**60)'
ckc offset_overlap 'struct.pack_into("<Q", b, t[1]["offnum_off"], 0)'
ckc param_count_huge 'struct.pack_into("<Q", b, d["nparams_off"], 2**61)'
ckc name_with_nul 'b[t[1]["off"] + 5] = 0'
ckc name_length_huge 'struct.pack_into("<I", b, t[1]["off"], 2**31)'
ckc labels_huge 'struct.pack_into("<i", b, d["cfg_off"] + 28, 100000)'
# DEFECT: a checkpoint whose (checksummed) config says vocab 2^31-1 makes predict
# / eval / export allocate 128 GiB before the tensor table is compared with it:
# "mtl: cpu backend: out of memory allocating 137438976300 bytes", no file named
# (a vocab of 100000 is refused naming the file and tensor).
c=$(frcopy ck_vocab_huge); forge ckpt "$c/checkpoint.bin" 'struct.pack_into("<i", b, d["cfg_off"] + 16, 2**31 - 1)'
STDIN=$GOODTXT; case_ ckpt_vocab_huge_predict 1 'checkpoint\.bin' "$MTL" predict --model "$c"
POST="absent '$W/o/ck_vocab_huge_export'"; case_ ckpt_vocab_huge_export 1 'checkpoint\.bin' "$MTL" export "$c" --out "$W/o/ck_vocab_huge_export"
# NaN in the parameters (checksum valid)
c=$(frcopy ck_nan); forge ckpt "$c/checkpoint.bin" 'struct.pack_into("<f", b, d["payload_off"] + 20, float("nan"))'
# DEFECT: predict answers from a model with NaN weights (exit 0, empty entity
# lists) instead of refusing the checkpoint.
STDIN=$GOODTXT; case_ ckpt_nan_weight_predict 1 'checkpoint\.bin|nan|finite' "$MTL" predict --model "$c"
# DEFECT: eval of a model with NaN weights exits 1 with an empty message
# ("mtl eval: ") and leaves OUT/predictions/ behind.
POST="absent '$W/o/ck_nan_eval'"; case_ ckpt_nan_weight_eval 1 'checkpoint\.bin|nan|finite' "$MTL" eval --model "$c" --out "$W/o/ck_nan_eval"
# the file is not a regular file
# DEFECT: a run directory whose checkpoint.bin is a directory (or a link to
# /dev/zero) is then read as a Hugging Face directory: the message blames
# "config.json: missing key model_type" instead of checkpoint.bin (train
# --resume names checkpoint.bin: "not a regular file").
c=$(frcopy ck_dir); rm "$c/checkpoint.bin"; mkdir "$c/checkpoint.bin"
STDIN=$GOODTXT; case_ ckpt_is_directory_predict 1 'checkpoint.bin' "$MTL" predict --model "$c"
c=$(frcopy ck_fifo); rm "$c/checkpoint.bin"; mkfifo "$c/checkpoint.bin"; h=$(tree_hash "$c")
POST="same_tree '$c' '$h'"; case_ ckpt_is_fifo_resume 1 'checkpoint.bin.*regular' "$MTL" train "${FR_ARGS[@]}" --out "$c" --resume
c=$(frcopy ck_devzero); rm "$c/checkpoint.bin"; ln -s /dev/zero "$c/checkpoint.bin"
# DEFECT: same as ckpt_is_directory_predict.
POST="absent '$W/o/ck_devzero_eval'"; case_ ckpt_is_dev_zero_eval 1 'checkpoint.bin' "$MTL" eval --model "$c" --out "$W/o/ck_devzero_eval"
c=$(frcopy ck_trunc_export); forge ckpt "$c/checkpoint.bin" 'b[:] = b[:3000]' nofix
POST="absent '$W/o/ck_trunc_export'"; case_ ckpt_truncated_export 1 'checkpoint\.bin' "$MTL" export "$c" --out "$W/o/ck_trunc_export"
POST="absent '$W/o/ck_trunc_eval'"; case_ ckpt_truncated_eval 1 'checkpoint\.bin' "$MTL" eval --model "$c" --out "$W/o/ck_trunc_eval"
# checkpoint.bin as --init
cp "$FX/ckpt_tiny_ner.bin" "$W/f/init_trunc.bin"; forge ckpt "$W/f/init_trunc.bin" 'b[:] = b[:1000]' nofix
POST="absent '$W/o/init_trunc'"; case_ ckpt_init_truncated 1 'init_trunc.bin' "$MTL" train --task ner --preset tiny --max-steps 1 --threads 1 --quiet --init "$W/f/init_trunc.bin" --out "$W/o/init_trunc"
POST="absent '$W/o/init_shape'"; case_ ckpt_init_other_shape 1 'ckpt_tiny_ner.bin' "$MTL" train --task ner --preset tiny --max-steps 1 --threads 1 --quiet --init "$FX/ckpt_tiny_ner.bin" --out "$W/o/init_shape"
POST="absent '$W/o/init_devzero'"; case_ ckpt_init_dev_zero 1 'dev/zero' "$MTL" train --task ner --preset tiny --max-steps 1 --threads 1 --quiet --init /dev/zero --out "$W/o/init_devzero"
for s in 1 2 3 4 5 6 7 8; do
    c=$(frcopy "ck_fuzz$s"); forge flip "$c/checkpoint.bin" "$s" 3 ckpt
    STDIN=$GOODTXT; case_ ckpt_header_fuzz_$s any '' "$MTL" predict --model "$c"
done

# ================================================================ 7. Hugging Face dirs (--init, --model)
# hfi NAME SETUP EXPECT REGEX: a copy of the HF dir, SETUP run in it ($H), then
# --init must be refused naming the file, with no run directory left.
hfi() {
    local nm=$1 o=$W/o/hf_$1; H=$(hfcopy "$1")
    ( cd "$H" && eval "$2" ) || { echo "setup of hf_$nm failed" >&2; }
    POST="absent '$o'"
    case_ "hf_$nm" "${3:-1}" "$4" "$MTL" train "${TR[@]}" --task ner --init "$H" --out "$o"
}
S='forge st model.safetensors'
hfi header_length_huge "$S 'save(h, data, hlen=2**63)'" 1 'model.safetensors.*header'
hfi header_length_past_eof "$S 'save(h, data, hlen=len(json.dumps(h)) + len(data) + 1)'" 1 'model.safetensors'
hfi header_length_zero "$S 'save(h, data, raw=b\"\", hlen=0)'" 1 'model.safetensors'
hfi file_of_seven_bytes "head -c 7 model.safetensors > x && mv x model.safetensors" 1 'model.safetensors'
hfi offsets_out_of_range "$S 'h[W][\"data_offsets\"] = [len(data) - 10, len(data) + 1014]; save(h, data)'" 1 'model.safetensors.*query'
hfi tensors_overlap "$S 'k = h[\"bert.encoder.layer.0.attention.self.key.weight\"][\"data_offsets\"]; h[W][\"data_offsets\"] = [k[0], k[0] + 1024]; save(h, data)'" 1 'model.safetensors.*overlap'
hfi offsets_reversed "$S 'a, e = h[W][\"data_offsets\"]; h[W][\"data_offsets\"] = [e, a]; save(h, data)'" 1 'model.safetensors.*query'
hfi offsets_fractional "$S 'h[W][\"data_offsets\"] = [1.5, 2.5]; save(h, data)'" 1 'model.safetensors.*query'
hfi dtype_unknown "$S 'h[W][\"dtype\"] = \"Q99\"; save(h, data)'" 1 'model.safetensors.*(dtype|Q99)'
hfi dtype_int64 "$S 'h[W][\"dtype\"] = \"I64\"; h[W][\"shape\"] = [16, 8]; save(h, data)'" 1 'model.safetensors.*query'
hfi shape_wrong "$S 'h[W][\"shape\"] = [8, 32]; save(h, data)'" 1 'model.safetensors.*query.*shape'
hfi shape_negative "$S 'h[W][\"shape\"] = [-16, -16]; save(h, data)'" 1 'model.safetensors.*query'
hfi shape_huge "$S 'h[W][\"shape\"] = [2**62, 4]; save(h, data)'" 1 'model.safetensors.*query'
hfi shape_product_overflow "$S 'h[W][\"shape\"] = [2**32, 2**32, 16]; save(h, data)'" 1 'model.safetensors.*query'
hfi shape_too_many_dims "$S 'h[W][\"shape\"] = [1] * 9 + [16, 16]; save(h, data)'" 1 'model.safetensors.*query'
hfi tensor_missing "$S 'del h[W]; save(h, data)'" 1 'model.safetensors'
hfi uncovered_bytes "$S 'save(h, data + bytes(64))'" 1 'model.safetensors.*(no tensor|belong)'
hfi data_truncated "$S 'save(h, data[:-100])'" 1 'model.safetensors'
hfi duplicate_tensor "$S 'raw = json.dumps(h)[:-1] + \", \\\"\" + W + \"\\\": \" + json.dumps(h[W]) + \"}\"; save(h, data, raw=raw)'" 1 'model.safetensors.*(twice|duplicate)'
hfi header_is_array "$S 'save(h, data, raw=b\"[]\")'" 1 'model.safetensors.*object'
hfi header_deep_nesting "$S 'save(h, data, raw=b\"[\" * 100000 + b\"]\" * 100000)'" 1 'model.safetensors'
hfi header_not_json "$S 'save(h, data, raw=b\"{not json\" + b\" \" * 4000)'" 1 'model.safetensors.*JSON'
hfi header_nul_padding "$S 'raw = json.dumps(h).encode(); save(h, data, raw=raw + bytes(8))'" 1 'model.safetensors'
# DEFECT: "__metadata__" values that are not strings are accepted
# (impl/base/safetensors.h: {string: string}; the reference library refuses them).
hfi metadata_not_strings "$S 'h[\"__metadata__\"] = {\"format\": [1, 2]}; save(h, data)'" 1 'model.safetensors.*metadata'
hfi safetensors_is_directory "rm model.safetensors && mkdir model.safetensors" 1 'model.safetensors.*regular'
hfi safetensors_is_fifo "rm model.safetensors && mkfifo model.safetensors" 1 'model.safetensors.*regular'
hfi safetensors_missing "rm model.safetensors" 1 'model.safetensors'
# DEFECT: a tensor named "<query.weight>\u0000x" is taken as <query.weight>:
# the JSON string is cut at the NUL and the file is loaded.
hfi tensor_name_with_nul "$S 'raw = json.dumps(h).replace(W, W + \"\\\\u0000x\"); save(h, data, raw=raw)'" 1 'model.safetensors'
# DEFECT: NaN weights in --init are not detected on load: training starts,
# stops at step 1 ("non-finite ner loss"), and leaves a run directory
# (config.json, log.csv, manifest.json ...) without a checkpoint.
hfi nan_weight "$S 'o = h[W][\"data_offsets\"][0]; d = bytearray(data); d[o:o+4] = struct.pack(\"<f\", float(\"nan\")); save(h, bytes(d))'" 1 'model.safetensors'
J='forge json config.json'
hfi config_missing "rm config.json" 1 'config.json'
hfi config_empty ": > config.json" 1 'config.json'
hfi config_truncated "head -c 20 config.json > x && mv x config.json" 1 'config.json'
hfi config_model_type "$J 'd[\"model_type\"] = \"roberta\"'" 1 'config.json.*model_type'
hfi config_hidden_act "$J 'd[\"hidden_act\"] = \"relu\"'" 1 'config.json.*hidden_act'
hfi config_hidden_zero "$J 'd[\"hidden_size\"] = 0'" 1 'config.json.*hidden_size'
hfi config_hidden_negative "$J 'd[\"hidden_size\"] = -16'" 1 'config.json.*hidden_size'
hfi config_hidden_huge "$J 'd[\"hidden_size\"] = 10**12'" 1 'config.json.*hidden_size'
hfi config_hidden_fraction "$J 'd[\"hidden_size\"] = 16.5'" 1 'config.json.*hidden_size'
hfi config_hidden_string "$J 'd[\"hidden_size\"] = \"16\"'" 1 'config.json.*hidden_size'
hfi config_heads_not_divisor "$J 'd[\"num_attention_heads\"] = 5'" 1 'config.json.*(head|divisible)'
hfi config_heads_zero "$J 'd[\"num_attention_heads\"] = 0'" 1 'config.json.*num_attention_heads'
hfi config_layers_zero "$J 'd[\"num_hidden_layers\"] = 0'" 1 'config.json.*num_hidden_layers'
hfi config_layers_huge "$J 'd[\"num_hidden_layers\"] = 100000'" 1 'config.json.*num_hidden_layers'
hfi config_intermediate_zero "$J 'd[\"intermediate_size\"] = 0'" 1 'config.json.*intermediate_size'
hfi config_type_vocab_zero "$J 'd[\"type_vocab_size\"] = 0'" 1 'config.json.*type_vocab'
hfi config_vocab_mismatch "$J 'd[\"vocab_size\"] = 49'" 1 'vocab'
hfi config_vocab_huge "$J 'd[\"vocab_size\"] = 2**31'" 1 'config.json.*vocab_size'
hfi config_positions_zero "$J 'd[\"max_position_embeddings\"] = 0'" 1 'config.json.*max_position'
hfi config_relative_positions "$J 'd[\"position_embedding_type\"] = \"relative_key\"'" 1 'config.json.*position_embedding_type'
hfi config_nan_literal "sed -i 's/1e-12/NaN/' config.json" 1 'config.json'
hfi config_eps_negative "$J 'd[\"layer_norm_eps\"] = -1'" 1 'config.json.*layer_norm_eps'
hfi config_deep_nesting "python3 -c \"print('[' * 100000 + ']' * 100000)\" > config.json" 1 'config.json'
hfi config_array "echo '[]' > config.json" 1 'config.json'
hfi config_is_directory "rm config.json && mkdir config.json" 1 'config.json.*regular'
hfi config_is_fifo "rm config.json && mkfifo config.json" 1 'config.json.*regular'
hfi config_symlink_loop "rm config.json && ln -s config.json config.json" 1 'config.json'
# DEFECT: duplicate keys in config.json: the first value is used (hidden_size 16),
# transformers' json.load uses the last (32), so the two read different models
# (mtl's own --config JSON takes the last value); refuse, or use the last one
# (which here does not fit the weights).
hfi config_duplicate_key "sed -i 's/\"hidden_size\": 16,/\"hidden_size\": 16, \"hidden_size\": 32,/' config.json" 1 'config.json|hidden_size'
hfi tokenizer_config_bad_json "echo '{bad' > tokenizer_config.json" 1 'tokenizer_config.json'
hfi tokenizer_config_bad_type "echo '{\"do_lower_case\": \"yes\"}' > tokenizer_config.json" 1 'tokenizer_config.json.*do_lower_case'
hfi vocab_missing "rm vocab.txt" 1 'vocab.txt'
hfi vocab_too_short "head -n 40 '$FX/hf_golden/ner/vocab.txt' > vocab.txt" 1 'vocab.txt.*40'
hfi vocab_too_long "echo extra >> vocab.txt" 1 'vocab.txt.*49'
hfi vocab_no_sep "sed -i 's/^\\[SEP\\]\$/SEPX/' vocab.txt" 1 'vocab.txt.*SEP'
# --model with a broken HF dir
H=$(hfcopy model_hugehlen); forge st "$H/model.safetensors" 'save(h, data, hlen=2**63)'
STDIN=$GOODTXT; case_ hf_model_header_huge_predict 1 'model.safetensors' "$MTL" predict --model "$H" --seq-ner 32 --ner-stride 4
H=$(hfcopy model_overlap); forge st "$H/model.safetensors" 'k = h["bert.encoder.layer.0.attention.self.key.weight"]["data_offsets"]; h[W]["data_offsets"] = [k[0], k[0] + 1024]; save(h, data)'
POST="absent '$W/o/hf_overlap_eval'"; case_ hf_model_overlap_eval 1 'model.safetensors' "$MTL" eval --model "$H" --out "$W/o/hf_overlap_eval" --task ner --seq-ner 32
POST="absent '$W/o/hf_overlap_export'"; case_ hf_model_overlap_export 1 'model.safetensors' "$MTL" export "$H" --out "$W/o/hf_overlap_export"
H=$(hfcopy model_nan); forge st "$H/model.safetensors" 'o = h[W]["data_offsets"][0]; d = bytearray(data); d[o:o+4] = struct.pack("<f", float("nan")); save(h, bytes(d))'
# DEFECT: predict with a NaN weight in model.safetensors answers (exit 0,
# "entities": []) instead of refusing the file.
STDIN=$GOODTXT; case_ hf_model_nan_predict 1 'model.safetensors|nan|finite' "$MTL" predict --model "$H" --seq-ner 32 --ner-stride 4
# DEFECT: eval of it exits 1 with an empty message ("mtl eval: ") and leaves
# OUT/predictions/ behind.
POST="absent '$W/o/hf_nan_eval'"; case_ hf_model_nan_eval 1 'model.safetensors|nan|finite' "$MTL" eval --model "$H" --out "$W/o/hf_nan_eval" --task ner --seq-ner 32
# DEFECT: export of a BERT without trained heads writes random-init heads as a
# BertForTokenClassification / BertForQuestionAnswering (eval and predict refuse
# the same directory: "has no trained head").
POST="absent '$W/o/hf_bare_export'"; case_ hf_export_untrained_heads 1 'no trained head' "$MTL" export "$FX/hf_golden/bare" --out "$W/o/hf_bare_export"
POST="absent '$W/o/hf_bare_eval'"; case_ hf_eval_untrained_heads 1 'no trained head' "$MTL" eval --model "$FX/hf_golden/bare" --out "$W/o/hf_bare_eval" --seq-ner 16
POST="absent '$W/o/hf_qa_as_ner'"; case_ hf_eval_missing_head 1 'no trained NER head|classifier' "$MTL" eval --model "$FX/hf_golden/qa" --out "$W/o/hf_qa_as_ner" --task ner --seq-ner 16
for s in 1 2 3 4 5 6 7 8; do
    H=$(hfcopy "fuzz$s"); forge flip "$H/model.safetensors" "$s" 2 st
    POST="[ \$RC = 0 ] || absent '$W/o/hf_fuzz$s'"
    case_ hf_safetensors_header_fuzz_$s any '' "$MTL" train "${TR[@]}" --task ner --init "$H" --out "$W/o/hf_fuzz$s"
done

# ================================================================ 8. CoNLL-2003 files
# cnl NAME SETUP REGEX [FILE]: the data tree with SETUP applied to conll2003/
# (FILE: train.txt); train must refuse it naming FILE and the line, no run dir.
cnl() {
    local nm=$1 o=$W/o/conll_$1 d; d=$(datatree "conll_$1")
    ( cd "$d/conll2003" && eval "$2" ) || echo "setup of conll_$nm failed" >&2
    POST="absent '$o'"
    case_ "conll_$nm" 1 "$3" env DATASETS_DIR="$d" "$MTL" train "${TR[@]}" --task ner --out "$o"
}
cnl cr_only_line_ends "tr '\\n' '\\r' < train.txt > x && mv x train.txt" 'train.txt:1.*(carriage|CR)'
cnl missing_column "sed -i 's/^Bob NNP I-NP B-PER\$/Bob NNP B-PER/' train.txt" 'train.txt:4:.*column'
cnl extra_column "sed -i 's/^Bob NNP I-NP B-PER\$/Bob NNP I-NP X B-PER/' train.txt" 'train.txt:4:.*column'
cnl unknown_tag "sed -i 's/B-PER/B-FOO/' train.txt" 'train.txt:4:.*B-FOO'
cnl lower_case_tag "sed -i 's/B-PER/b-per/' train.txt" 'train.txt:4:.*b-per'
cnl iobes_tag "sed -i 's/B-PER/E-PER/' train.txt" 'train.txt:4:.*E-PER'
cnl tag_without_type "sed -i 's/B-PER/B-/' train.txt" 'train.txt:4:.*B-'
cnl empty_file ": > train.txt" 'train.txt.*(no sentences|empty)'
cnl only_blank_lines "printf '\\n\\n\\n' > train.txt" 'train.txt.*(no sentences|empty)'
cnl only_docstart "printf -- '-DOCSTART- -X- O O\\n\\n' > train.txt" 'train.txt.*(no sentences|empty)'
cnl huge_line_one_column "python3 -c \"import sys; sys.stdout.write('A' * 5000000)\" >> train.txt" 'train.txt:29:.*column'
cnl latin1_byte "printf 'caf\\xe9 NN I-NP O\\n' >> train.txt" 'train.txt:29:.*UTF-8'
cnl overlong_utf8 "printf '\\xc0\\xaf NN I-NP O\\n' >> train.txt" 'train.txt:29:.*UTF-8'
cnl utf16_surrogate "printf '\\xed\\xa0\\x80 NN I-NP O\\n' >> train.txt" 'train.txt:29:.*UTF-8'
cnl nul_byte "printf 'a\\000b NN I-NP O\\n' >> train.txt" 'train.txt:29:.*(NUL|UTF-8)'
cnl is_directory "rm train.txt && mkdir train.txt" 'train.txt.*regular'
cnl is_fifo "rm train.txt && mkfifo train.txt" 'train.txt.*regular'
cnl is_dev_zero "rm train.txt && ln -s /dev/zero train.txt" 'train.txt.*regular'
cnl symlink_loop "rm train.txt && ln -s train.txt train.txt" 'train.txt'
cnl gzip_truncated "gzip -c train.txt | head -c 40 > train.txt.gz && rm train.txt" 'train.txt.gz.*(gzip|truncated|corrupt)'
cnl gzip_garbage "rm train.txt && printf '\\x1f\\x8b\\x08\\x00garbage' > train.txt.gz" 'train.txt.gz'
cnl empty_valid_split ": > valid.txt" 'valid.txt.*(no sentences|empty)'
cnl empty_test_split ": > test.txt" 'test.txt.*(no sentences|empty)'
cnl bad_tag_in_test "sed -i 's/B-PER/B-XYZ/' test.txt" 'test.txt:4:.*B-XYZ'
# accepted variants (documented: CRLF; tabs are whitespace), checked with data-stats
CW=$W/f/conll; mkdir -p "$CW"
sed 's/$/\r/' "$FX/conll_iob1.txt" >"$CW/crlf.txt"
tr ' ' '\t' <"$FX/conll_iob1.txt" >"$CW/tabs.txt"
{ printf '\xef\xbb\xbf'; cat "$FX/conll_iob1.txt"; } >"$CW/bom.txt"
tr '\n' '\r' <"$FX/conll_iob1.txt" >"$CW/cr.txt"
printf 'caf\xe9 NN I-NP O\n' >"$CW/latin1.txt"
case_ conll_stats_crlf 0 'crlf.txt +2 +4 +19' "$MTL" data-stats --no-features "$CW/crlf.txt"
case_ conll_stats_tabs 0 'tabs.txt +2 +4 +19' "$MTL" data-stats --no-features "$CW/tabs.txt"
case_ conll_stats_bom 0 'bom.txt +2 +4 +19' "$MTL" data-stats --no-features "$CW/bom.txt"
case_ conll_stats_cr_only 1 'cr.txt:1.*(carriage|CR)' "$MTL" data-stats --no-features "$CW/cr.txt"
case_ conll_stats_latin1 1 'latin1.txt:1.*UTF-8' "$MTL" data-stats --no-features "$CW/latin1.txt"
case_ conll_stats_missing 1 'nonexistent.txt' "$MTL" data-stats "$CW/nonexistent.txt"
case_ conll_stats_directory 1 'regular' "$MTL" data-stats "$CW"
case_ conll_stats_dev_zero 1 'dev/zero.*regular' "$MTL" data-stats /dev/zero
for s in 1 2 3 4 5 6; do
    cp "$FX/conll_iob1.txt" "$CW/fuzz$s.txt"; forge flip "$CW/fuzz$s.txt" "$s" 4
    case_ conll_stats_fuzz_$s '0,1' '' "$MTL" data-stats "$CW/fuzz$s.txt"
done

# ================================================================ 9. score-ner
SN=$W/f/sn; mkdir -p "$SN"
printf 'a O O\nb B-PER B-PER\n' >"$SN/ok.txt"
printf 'a O O\nb B-PER\n' >"$SN/cols.txt"
printf 'a\n' >"$SN/one.txt"
printf 'a O O\r\nb B-PER B-PER\r\n' >"$SN/crlf.txt"
printf 'a O O\rb B-PER B-PER\r' >"$SN/cr.txt"
printf 'caf\xe9 O O\n' >"$SN/latin1.txt"
printf 'a\000 O O\n' >"$SN/nul.txt"
printf 'a B-P\xe9R O\n' >"$SN/latin1tag.txt"
: >"$SN/empty.txt"
python3 -c "print('x' * 5000000 + ' O O')" >"$SN/huge.txt"
python3 -c "print('\n'.join('t B-T%d I-T%d' % (i, i) for i in range(50000)))" >"$SN/types.txt"
mkfifo "$SN/fifo"
case_ score_ner_column_count_changes 1 'cols.txt:2' "$MTL" score-ner "$SN/cols.txt"
case_ score_ner_one_column 1 'one.txt:1' "$MTL" score-ner "$SN/one.txt"
# (changed by the project, impl/metrics/conlleval.h: conlleval.pl reads bytes, so only the two
# tag columns must be UTF-8 without NUL; a token column may hold any bytes)
case_ score_ner_latin1 0 'processed 1 tokens' "$MTL" score-ner "$SN/latin1.txt"
case_ score_ner_nul_byte 0 'processed 1 tokens' "$MTL" score-ner "$SN/nul.txt"
case_ score_ner_latin1_tag 1 'latin1tag.txt:1.*gold tag.*UTF-8' "$MTL" score-ner "$SN/latin1tag.txt"
case_ score_ner_directory 1 'regular' "$MTL" score-ner "$SN"
case_ score_ner_fifo 1 'fifo.*regular' "$MTL" score-ner "$SN/fifo"
case_ score_ner_missing 1 'missing.txt' "$MTL" score-ner "$SN/missing.txt"
case_ score_ner_no_file 2 'usage' "$MTL" score-ner
case_ score_ner_two_files 2 'usage' "$MTL" score-ner "$SN/ok.txt" "$SN/ok.txt"
case_ score_ner_unknown_option 2 'jsn' "$MTL" score-ner --jsn "$SN/ok.txt"
case_ score_ner_crlf 0 'processed 2 tokens' "$MTL" score-ner "$SN/crlf.txt"
case_ score_ner_empty 0 'processed 0 tokens' "$MTL" score-ner "$SN/empty.txt"
case_ score_ner_huge_token 0 'processed 1 tokens' "$MTL" score-ner "$SN/huge.txt"
case_ score_ner_50000_types 0 'processed 50000 tokens' "$MTL" score-ner "$SN/types.txt"
STDIN=$SN/latin1tag.txt; case_ score_ner_stdin_latin1 1 'UTF-8' "$MTL" score-ner -
# DEFECT: CR-only line ends are read as one line ("processed 1 tokens" for two
# token lines, a wrong score); the CoNLL reader refuses them naming the line.
case_ score_ner_cr_only_line_ends 1 'cr.txt:1.*(carriage|CR|line end)' "$MTL" score-ner "$SN/cr.txt"

# ================================================================ 10. SQuAD files
# sqd NAME SETUP REGEX [TASK]: the data tree with SETUP run in squad/ ($Q: the
# train file), train --task qa must refuse naming the file, no run dir.
sqd() {
    local nm=$1 o=$W/o/squad_$1 d; d=$(datatree "squad_$1")
    ( cd "$d/squad" && Q=train-v1.1-subset44.json && eval "$2" ) || echo "setup of squad_$nm failed" >&2
    POST="absent '$o'"
    case_ "squad_$nm" 1 "$3" env DATASETS_DIR="$d" "$MTL" train "${TR[@]}" --task qa --out "$o"
}
SJ='forge json $Q'
Q0='d["data"][0]["paragraphs"][0]["qas"][0]'
P0='d["data"][0]["paragraphs"][0]'
sqd answer_text_empty "$SJ '$Q0[\"answers\"][0][\"text\"] = \"\"'" 'subset44.json.*answers\[0\].text'
sqd context_empty "$SJ '$P0[\"context\"] = \"\"'" 'subset44.json.*context'
sqd context_whitespace "$SJ '$P0[\"context\"] = \"   \"'" 'subset44.json.*(context|answer_start)'
sqd id_duplicate "$SJ '$P0[\"qas\"][1][\"id\"] = \"q1\"'" "subset44.json.*'q1'"
sqd id_duplicate_across_paragraphs "$SJ 'd[\"data\"][0][\"paragraphs\"][1][\"qas\"][0][\"id\"] = \"q1\"'" "subset44.json.*'q1'"
sqd id_number "$SJ '$Q0[\"id\"] = 5'" 'subset44.json.*id'
sqd answer_start_negative "$SJ '$Q0[\"answers\"][0][\"answer_start\"] = -1'" 'subset44.json.*answer_start'
sqd answer_start_past_end "$SJ '$Q0[\"answers\"][0][\"answer_start\"] = 48'" 'subset44.json.*answer_start'
sqd answer_start_huge "$SJ '$Q0[\"answers\"][0][\"answer_start\"] = 10**30'" 'subset44.json.*answer_start'
sqd answer_start_fraction "$SJ '$Q0[\"answers\"][0][\"answer_start\"] = 23.5'" 'subset44.json.*answer_start'
sqd answer_start_string "$SJ '$Q0[\"answers\"][0][\"answer_start\"] = \"23\"'" 'subset44.json.*answer_start'
sqd answer_start_1e999 "sed -i 's/\"answer_start\": 23/\"answer_start\": 1e999/' \$Q" 'subset44.json.*answer_start'
sqd answers_not_array "$SJ '$Q0[\"answers\"] = {\"text\": \"Paris\"}'" 'subset44.json.*answers'
sqd question_missing "$SJ 'del $Q0[\"question\"]'" 'subset44.json.*question'
sqd context_number "$SJ '$P0[\"context\"] = 5'" 'subset44.json.*context'
sqd data_empty "$SJ 'd[\"data\"] = []'" 'subset44.json.*(no questions|empty)'
sqd data_object "$SJ 'd[\"data\"] = {}'" 'subset44.json.*data'
sqd paragraphs_empty "$SJ 'd[\"data\"][0][\"paragraphs\"] = []'" 'subset44.json.*(no questions|empty)'
sqd qas_empty "$SJ '[p.__setitem__(\"qas\", []) for p in d[\"data\"][0][\"paragraphs\"]]'" 'subset44.json.*(no questions|empty)'
sqd truncated "cp '$FX/squad_truncated.json' \$Q" 'subset44.json.*(truncated|JSON)'
sqd empty_file ": > \$Q" 'subset44.json'
sqd lone_surrogate "sed -i 's/Where is/Where\\\\ud800 is/' \$Q" 'subset44.json.*(byte|line)'
sqd latin1_byte "sed -i 's/Where is/Wh\\xe9re is/' \$Q" 'subset44.json.*UTF-8'
sqd deep_nesting "python3 -c \"print('[' * 200000 + ']' * 200000)\" > \$Q" 'subset44.json'
sqd trailing_garbage "echo garbage >> \$Q" 'subset44.json.*after'
sqd is_directory "rm \$Q && mkdir \$Q" 'subset44.json.*regular'
sqd is_fifo "rm \$Q && mkfifo \$Q" 'subset44.json.*regular'
sqd gzip_corrupt "gzip -c \$Q | head -c 60 > \$Q.gz && rm \$Q" 'subset44.json.gz'
sqd dev_empty "echo '{\"version\": \"1.1\", \"data\": []}' > dev-v1.1.json" 'dev-v1.1.json.*(no questions|empty)'
sqd dev_duplicate_id "sed -i 's/\"q2\"/\"q1\"/' dev-v1.1.json" "dev-v1.1.json.*'q1'"
# "\u0000" inside SQuAD strings
SQ=$W/f/squad; mkdir -p "$SQ"
sed 's/built in 1889\./built in 1889.\\u0000 hidden tail/' "$FX/squad_v1_small.json" >"$SQ/zero_context.json"
sed -e 's/"q1"/"q\\u0000a"/' -e 's/"q2"/"q\\u0000b"/' "$FX/squad_v1_small.json" >"$SQ/zero_ids.json"
"$MTL" prep-squad --file "$FX/squad_v1_small.json" --vocab "$VOCAB" --dump "$SQ/dump_cut.tsv" >/dev/null 2>&1
# DEFECT: "\u0000" in a context silently cuts it: the windows of "... 1889.\u0000
# hidden tail" equal those of the file without "\u0000 hidden tail" (the tail is
# lost). Refuse it (naming NUL / \u0000) or keep it.
POST="if [ \$RC = 0 ]; then ! cmp -s '$SQ/dump_cut.tsv' '$SQ/zero.tsv' || { PWHY='the context was cut at the \\u0000 (same windows as without the tail)'; false; }; else out_has '\\bNUL\\b|u0000|U\\+0000'; fi"
case_ squad_nul_in_context '0,1' '' "$MTL" prep-squad --file "$SQ/zero_context.json" --vocab "$VOCAB" --dump "$SQ/zero.tsv"
printf '{"q\\u0000a": "Paris", "q\\u0000b": "1889", "q3": "crème brûlée"}' >"$SQ/zero_ids_pred.json"
# DEFECT: ids "q\u0000a" and "q\u0000b" are distinct JSON strings but are
# reported as the duplicate id 'q' (cut at the NUL).
POST="[ \$RC = 0 ] || out_has '\\bNUL\\b|u0000|U\\+0000'"
case_ squad_nul_in_ids '0,1' '' "$MTL" score-squad "$SQ/zero_ids.json" "$SQ/zero_ids_pred.json"

# ================================================================ 11. score-squad
SS=$W/f/ss; mkdir -p "$SS"
D1=$FX/squad_v1_small.json
sp() { printf '%s' "$2" >"$SS/$1.json"; }
sp ok '{"q1": "Paris", "q2": "1889", "q3": "crème brûlée"}'
sp number '{"q1": 5}'
sp null '{"q1": null}'
sp array '["Paris"]'
sp emptyfile ''
sp lone '{"q1": "\ud800"}'
sp trunc '{"q1": "Paris"'
sp trailing '{"q1": "Paris"} x'
python3 -c "print('[' * 100000)" >"$SS/deep.json"
printf '{"q1": "caf\xe9"}' >"$SS/latin1.json"
printf '\xef\xbb\xbf{"q1": "Paris"}' >"$SS/bom.json"
mkfifo "$SS/fifo"
python3 - "$D1" "$SS/no_answers.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d['data'][0]['paragraphs'][0]['qas'][0]['answers'] = []
json.dump(d, open(sys.argv[2], 'w'))
EOF
case_ score_squad_ok 0 'exact_match' "$MTL" score-squad "$D1" "$SS/ok.json"
case_ score_squad_value_number 1 'number.json.*q1' "$MTL" score-squad "$D1" "$SS/number.json"
case_ score_squad_value_null 1 'null.json.*q1' "$MTL" score-squad "$D1" "$SS/null.json"
case_ score_squad_top_array 1 'array.json.*(object|array)' "$MTL" score-squad "$D1" "$SS/array.json"
case_ score_squad_empty_file 1 'emptyfile.json' "$MTL" score-squad "$D1" "$SS/emptyfile.json"
case_ score_squad_lone_surrogate 1 'lone.json' "$MTL" score-squad "$D1" "$SS/lone.json"
case_ score_squad_truncated 1 'trunc.json' "$MTL" score-squad "$D1" "$SS/trunc.json"
case_ score_squad_trailing 1 'trailing.json' "$MTL" score-squad "$D1" "$SS/trailing.json"
case_ score_squad_deep 1 'deep.json' "$MTL" score-squad "$D1" "$SS/deep.json"
case_ score_squad_latin1 1 'latin1.json.*UTF-8' "$MTL" score-squad "$D1" "$SS/latin1.json"
case_ score_squad_bom 0 'exact_match' "$MTL" score-squad "$D1" "$SS/bom.json"
case_ score_squad_fifo 1 'fifo.*regular' "$MTL" score-squad "$D1" "$SS/fifo"
case_ score_squad_dataset_dev_zero 1 'dev/zero.*regular' "$MTL" score-squad /dev/zero "$SS/ok.json"
case_ score_squad_dataset_directory 1 'regular' "$MTL" score-squad "$SS" "$SS/ok.json"
case_ score_squad_swapped 1 'ok.json' "$MTL" score-squad "$SS/ok.json" "$D1"
case_ score_squad_one_argument 2 'usage' "$MTL" score-squad "$D1"
case_ score_squad_unknown_option 2 'usage|unknown|jsn' "$MTL" score-squad "$D1" "$SS/ok.json" --jsn
# DEFECT: a SQuAD v1.1 question with "answers": [] is scored (0 for any
# prediction); v1.1 has no unanswerable questions (the official v1.1 script
# fails on it) — a dataset error to report.
case_ score_squad_v11_no_answers 1 'no_answers.json.*answers' "$MTL" score-squad "$SS/no_answers.json" "$SS/ok.json"
for s in 1 2 3 4 5 6; do
    cp "$D1" "$SS/fuzz$s.json"; forge flip "$SS/fuzz$s.json" "$s" 3
    case_ score_squad_dataset_fuzz_$s '0,1' '' "$MTL" score-squad "$SS/fuzz$s.json" "$SS/ok.json"
done

# ================================================================ 12. prep-squad
PS=(prep-squad --file "$D1" --vocab "$VOCAB")
case_ prep_max_seq_zero 2 'max-seq' "$MTL" "${PS[@]}" --max-seq 0
case_ prep_stride_negative 2 'stride' "$MTL" "${PS[@]}" --stride -1
case_ prep_max_query_zero 2 'max-query' "$MTL" "${PS[@]}" --max-query 0
case_ prep_threads_zero 2 'threads' "$MTL" "${PS[@]}" --threads 0
case_ prep_max_examples_negative 2 'max-examples' "$MTL" "${PS[@]}" --max-examples -1
case_ prep_file_missing 1 'missing.json' "$MTL" prep-squad --file "$SQ/missing.json" --vocab "$VOCAB"
case_ prep_file_dev_zero 1 'dev/zero.*regular' "$MTL" prep-squad --file /dev/zero --vocab "$VOCAB"
case_ prep_vocab_directory 1 'regular' "$MTL" prep-squad --file "$D1" --vocab "$SQ"
POST="no_tmp '$SQ'"; case_ prep_dump_is_directory 1 'squad' "$MTL" "${PS[@]}" --dump "$SQ"
POST="no_tmp '$SQ'"; case_ prep_dump_missing_dir 1 'nodir' "$MTL" "${PS[@]}" --dump "$SQ/nodir/x.tsv"
# DEFECT: --threads has no upper bound (train: 0..1024): 100000 threads crash
# with SIGSEGV (ASan: stack-overflow in libgomp).
case_ prep_threads_huge 2 'threads' "$MTL" "${PS[@]}" --threads 100000
# DEFECT: an overlap (--stride) longer than the window is accepted.
case_ prep_stride_above_window 2 'stride' "$MTL" "${PS[@]}" --stride 400
# DEFECT: --max-query larger than the window is accepted.
case_ prep_max_query_above_window 2 'max-query' "$MTL" "${PS[@]}" --max-query 1000

# ================================================================ 13. vocab.txt
V=$W/f/vocab; mkdir -p "$V"
vc() { cp "$VOCAB" "$V/$1.txt"; ( cd "$V" && eval "$2" ); }
vc empty ": > empty.txt"
vc no_pad "sed -i '/^\\[PAD\\]\$/d' no_pad.txt"
vc no_unk "sed -i '/^\\[UNK\\]\$/d' no_unk.txt"
vc no_cls "sed -i '/^\\[CLS\\]\$/d' no_cls.txt"
vc no_sep "sed -i '/^\\[SEP\\]\$/d' no_sep.txt"
vc cr_only "tr '\\n' '\\r' < '$VOCAB' > cr_only.txt"
vc bom "{ printf '\\xef\\xbb\\xbf'; cat '$VOCAB'; } > bom.txt"
vc huge_line "python3 -c \"print('x' * 10000000)\" >> huge_line.txt"
vc latin1 "printf 'caf\\xe9\\n' >> latin1.txt"
vc nul "printf 'a\\000b\\n' >> nul.txt"
vc duplicate "echo the >> duplicate.txt"
mkdir "$V/dir.txt"; mkfifo "$V/fifo.txt"
vt() { STDIN=$GOODTXT; case_ "vocab_$1" "$2" "$3" "$MTL" tokenize --vocab "$V/$1.txt" --ids; }
vt empty 1 'empty.txt.*empty'
vt no_pad 1 'no_pad.txt.*PAD'
vt no_unk 1 'no_unk.txt.*UNK'
vt no_cls 1 'no_cls.txt.*CLS'
vt no_sep 1 'no_sep.txt.*SEP'
vt cr_only 1 'cr_only.txt'
vt bom 1 'bom.txt'
vt huge_line 1 'huge_line.txt:15'
vt latin1 1 'latin1.txt:15.*UTF-8'
vt nul 1 'nul.txt:15.*NUL'
vt dir 1 'dir.txt.*regular'
vt fifo 1 'fifo.txt.*regular'
vt missing 1 'missing.txt'
# (was a DEFECT: the first id won; the project chose Hugging Face's rule, the
# LAST line wins, so that ids equal the reference tokenizer's: "the" -> 30522)
printf 'Alice met the Bob in Paris .\n' >"$V/the_input.txt"
dup_id=$(( $(wc -l < "$V/duplicate.txt") - 1 ))   # the id of the last line, "the"
STDIN=$V/the_input.txt; case_ vocab_duplicate 0 "^[0-9]+ [0-9]+ $dup_id [0-9]+" "$MTL" tokenize --vocab "$V/duplicate.txt" --ids
printf 'caf\xe9\n' >"$V/latin1_input.txt"
STDIN=$V/latin1_input.txt; case_ tokenize_stdin_latin1 1 'stdin.*UTF-8' "$MTL" tokenize --vocab "$VOCAB"
python3 -c "print('the ' * 2000000)" >"$V/long_input.txt"
STDIN=$V/long_input.txt; case_ tokenize_stdin_long_line 0 '' "$MTL" tokenize --vocab "$VOCAB" --ids
case_ tokenize_unknown_option 2 'bogus' "$MTL" tokenize --bogus
# a vocab larger than the model's embedding table (preset tiny: 30522 rows)
python3 -c "
print('[PAD]\n[UNK]\n[CLS]\n[SEP]')
for i in range(31000): print('tok%d' % i)" >"$V/too_big.txt"
POST="absent '$W/o/vocab_too_big'"
case_ vocab_larger_than_model 1 'too_big.txt' env MTL_VOCAB="$V/too_big.txt" "$MTL" train --task ner --preset tiny --max-steps 1 --threads 1 --quiet --out "$W/o/vocab_too_big"
POST="absent '$W/o/vocab_env_missing'"
case_ vocab_env_missing 1 'missing.txt|vocab' env MTL_VOCAB="$V/missing.txt" "$MTL" train --task ner --preset tiny --max-steps 1 --threads 1 --quiet --out "$W/o/vocab_env_missing"
POST="absent '$W/o/vocab_env_no_sep'"
case_ vocab_env_no_sep 1 'no_sep.txt.*SEP' env MTL_VOCAB="$V/no_sep.txt" "$MTL" train --task ner --preset tiny --max-steps 1 --threads 1 --quiet --out "$W/o/vocab_env_no_sep"

# ================================================================ 14. predict
PD=$W/f/pred; mkdir -p "$PD"
python3 - "$PD/mixed.jsonl" <<'EOF'
import sys
bad = [
    '{"text": ',                                  # invalid JSON
    '{"question": "who?"}',                       # no context
    '{"question": "who?", "context": ""}',        # empty context
    '{"question": "", "context": "Alice met Bob"}',  # empty question
    '{"text": ""}',                               # no token
    '',                                           # empty line
    '{"text": 5}',                                # not a string
    '{"text": "\\ud800"}',                        # lone surrogate
    '{"text": "ok"} trailing',                    # trailing text
    '{"text": 1e999}',                            # number
    '{"a":' * 50000 + '1' + '}' * 50000,          # deep nesting
    '{"text": "' + 'x' * 1100000 + '"}',          # over --max-bytes
]
with open(sys.argv[1], 'wb') as f:
    for l in bad:
        f.write(l.encode() + b'\n')
    f.write(b'caf\xe9\n')                          # invalid UTF-8
    f.write(b'a\x00b\n')                           # NUL byte
    f.write(b'Alice met Bob in Paris .\n')         # good: answered after all that
EOF
POST="[ \$(grep -c '\"error\"' '$PD/mixed.out') = 14 ] && [ \$(wc -l < '$PD/mixed.out') = 15 ] && tail -n 1 '$PD/mixed.out' | grep -q '\"line\":15,\"entities\"' || { PWHY='want 14 error objects and line 15 answered'; false; }"
case_ predict_bad_lines_go_on 1 '14 with an error|14 of 15' "$MTL" predict --model "$FR" --in "$PD/mixed.jsonl" --out "$PD/mixed.out"
printf '{"text": "a\\u0000b"}\n' >"$PD/zero_escape.jsonl"
# DEFECT: "\u0000" in a JSON text cuts it: {"text": "a\u0000b"} is answered for
# "a" (a raw NUL byte in a line gets an error object).
POST="if [ \$RC = 0 ]; then out_has 'u0000'; else out_has '\"error\"'; fi"
case_ predict_nul_escape '0,1' '' "$MTL" predict --model "$FR" --in "$PD/zero_escape.jsonl"
popt() { # NAME 'ARGS' REGEX
    local nm=$1 args=$2 rx=$3; eval "set -- $args"
    STDIN=$GOODTXT; case_ "predict_opt_$nm" 2 "$rx" "$MTL" predict --model "$FR" "$@"
}
popt n_best_zero '--n-best 0' 'n-best'
popt n_best_negative '--n-best -1' 'n-best'
popt n_best_overflow '--n-best 99999999999' 'n-best'
popt n_best_garbage '--n-best 2x' 'n-best'
popt n_best_missing_value '--n-best' 'n-best'
popt batch_zero '--batch 0' 'batch'
popt batch_huge '--batch 100000000' 'batch'
popt max_bytes_zero '--max-bytes 0' 'max-bytes'
popt max_bytes_negative '--max-bytes -5' 'max-bytes'
popt threads_negative '--threads -1' 'threads'
popt threads_huge '--threads 100000' 'threads'
popt tasks_unknown '--tasks foo' 'tasks'
popt tasks_empty "--tasks ''" 'tasks'
popt format_unknown '--format xml' 'format'
popt decode_unknown '--decode beam' 'decode'
popt seq_ner_below '--seq-ner 7' 'seq-ner'
popt seq_qa_huge '--seq-qa 10000' 'seq-qa'
popt ner_stride_above '--ner-stride 200' 'ner-stride'
popt max_query_above '--max-query 500' 'max-query'
popt max_answer_len_zero '--max-answer-len 0' 'max-answer-len'
popt unknown_option '--frobnicate' 'frobnicate'
STDIN=$GOODTXT; case_ predict_in_missing 1 'missing.jsonl' "$MTL" predict --model "$FR" --in "$PD/missing.jsonl"
STDIN=$GOODTXT; case_ predict_in_directory 1 'regular' "$MTL" predict --model "$FR" --in "$PD"
mkfifo "$PD/in.fifo"
STDIN=$GOODTXT; case_ predict_in_fifo 1 'in.fifo.*regular' "$MTL" predict --model "$FR" --in "$PD/in.fifo"
STDIN=$GOODTXT; case_ predict_in_dev_zero 1 'dev/zero.*regular' "$MTL" predict --model "$FR" --in /dev/zero
STDIN=$GOODTXT; POST="no_tmp '$PD'"; case_ predict_out_directory 1 'pred' "$MTL" predict --model "$FR" --out "$PD"
STDIN=$GOODTXT; POST="no_tmp '$PD'"; case_ predict_out_missing_dir 1 'nodir' "$MTL" predict --model "$FR" --out "$PD/nodir/x.jsonl"
STDIN=$GOODTXT; case_ predict_model_missing 1 'nonexistent' "$MTL" predict --model "$PD/nonexistent"
STDIN=$GOODTXT; case_ predict_model_empty_name 1,2 'model|neither' "$MTL" predict --model ''
STDIN=$GOODTXT; case_ predict_model_is_file 1 'good.txt' "$MTL" predict --model "$GOODTXT"
STDIN=$GOODTXT; case_ predict_model_dev_null 1 'dev/null' "$MTL" predict --model /dev/null
STDIN=$GOODTXT; case_ predict_model_data_dir 1 'config.json|checkpoint' "$MTL" predict --model "$DATA"
echo old >"$PD/keep.jsonl"
STDIN=$GOODTXT; POST="[ \"\$(cat '$PD/keep.jsonl')\" = old ] && no_tmp '$PD' || { PWHY=\"\${PWHY:-the existing --out file was changed}\"; false; }"
case_ predict_failed_model_keeps_out 1 'nonexistent' "$MTL" predict --model "$PD/nonexistent" --out "$PD/keep.jsonl"
mkfifo "$PD/out.fifo"
# DEFECT: --out FIFO: the atomic write renames its temp file over the FIFO
# (the FIFO is replaced by a regular file). Refuse a non-regular --out (as
# --in does) or write into it; never replace it.
STDIN=$GOODTXT; POST="[ -p '$PD/out.fifo' ] || { PWHY='the FIFO was replaced by a regular file'; false; }"
case_ predict_out_fifo_kept nz 'out.fifo' "$MTL" predict --model "$FR" --out "$PD/out.fifo"
if [ $IS_ROOT = 1 ] && mknod "$PD/full" c 1 7 2>/dev/null; then
    # DEFECT: --out naming a character device (here a copy of /dev/full):
    # the device node is replaced by a regular file holding the output (with
    # --out /dev/null or /dev/full as root this replaces the system's node).
    STDIN=$GOODTXT; POST="[ -c '$PD/full' ] || { PWHY='the device node was replaced by a regular file'; false; }"
    case_ predict_out_char_device_kept nz 'full' "$MTL" predict --model "$FR" --out "$PD/full"
else
    skip predict_out_char_device_kept 'needs root (mknod)'
fi
# runs with the smallest QA window (16)
HRUN=$W/hrun16
"$MTL" train --task mtl --init "$FX/hf_golden/ner" --max-steps 1 --threads 1 --seq-ner 16 --seq-qa 16 --stride 2 --max-query 4 --batch 2 --quiet --out "$HRUN" >"$W/log/setup-hrun.out" 2>&1
# DEFECT: predict --tasks ner on a run trained with --seq-qa 16 (train accepts
# 16..4096) is refused for "--seq-qa must be in [32, 4096] (got 16)": an option
# that was not given, of a head not used (impl/infer/predict.h: only the heads used
# are checked).
STDIN=$GOODTXT; case_ predict_ner_only_small_qa_window 0 'entities' "$MTL" predict --model "$HRUN" --tasks ner
# DEFECT: eval --task qa of that run fails with "batch: sequence length T=22
# must be in [1, maxT=16]" (no option or file named) and leaves OUT/predictions/.
POST="[ \$RC = 0 ] || { out_has 'seq-qa' && absent '$W/o/eval_hrun_qa'; }"
case_ eval_small_qa_window '0,1,2' '' "$MTL" eval --model "$HRUN" --task qa --out "$W/o/eval_hrun_qa"

# ================================================================ 15. eval, export, dump-forward, bench
EV=$W/o/ev
case_ eval_no_out 2 'usage|out' "$MTL" eval --model "$FR"
case_ eval_no_model 2 'usage|model' "$MTL" eval --out "$EV"
POST="absent '$EV'"; case_ eval_batch_zero 2 'batch' "$MTL" eval --model "$FR" --out "$EV" --batch 0
POST="absent '$EV'"; case_ eval_decode_unknown 2 'decode' "$MTL" eval --model "$FR" --out "$EV" --decode beam
POST="absent '$EV'"; case_ eval_task_unknown 2 'task' "$MTL" eval --model "$FR" --out "$EV" --task foo
POST="absent '$EV'"; case_ eval_qa_dev_limit_negative 2 'qa-dev-limit' "$MTL" eval --model "$FR" --out "$EV" --qa-dev-limit -1
POST="absent '$EV'"; case_ eval_threads_negative 2 'threads' "$MTL" eval --model "$FR" --out "$EV" --threads -1
POST="absent '$EV'"; case_ eval_seq_qa_below 2 'seq-qa' "$MTL" eval --model "$FR" --out "$EV" --seq-qa 8
POST="absent '$EV'"; case_ eval_model_missing 1 'nonexistent' "$MTL" eval --model "$W/nonexistent" --out "$EV"
case_ eval_out_is_file 1 'good.txt' "$MTL" eval --model "$FR" --out "$GOODTXT"
case_ export_no_out 2 'out|usage' "$MTL" export "$FR"
case_ export_no_model 2 'RUN_DIR|usage' "$MTL" export --out "$W/o/x1"
POST="absent '$W/o/x2'"; case_ export_task_unknown 2 'task' "$MTL" export "$FR" --out "$W/o/x2" --task foo
POST="absent '$W/o/x3'"; case_ export_model_missing 1 'nonexistent' "$MTL" export "$W/nonexistent" --out "$W/o/x3"
if [ ${#NOBODY[@]} -eq 0 ] || [ "${NOBODY[0]}" != none ]; then
    # these would write under "/" on the defect: run as an unprivileged user
    # DEFECT: eval --out '' is taken as the directory "": files go to
    # /metrics.json, /manifest.json, /predictions/ (as root they are written).
    POST="[ ! -e /metrics.json ] || { PWHY='/metrics.json exists'; false; }"
    case_ eval_out_empty 2 'out' ${NOBODY[@]+"${NOBODY[@]}"} "$MTL" eval --model "$FR" --out ''
    # DEFECT: export --out '' writes /ner and /qa.
    POST="[ ! -e /ner ] || { PWHY='/ner exists'; false; }"
    case_ export_out_empty 2 'out' ${NOBODY[@]+"${NOBODY[@]}"} "$MTL" export "$FR" --out ''
else
    skip eval_out_empty 'root without setpriv'; skip export_out_empty 'root without setpriv'
fi
case_ dump_forward_data_unknown 2 'data|usage' "$MTL" dump-forward --model "$FR" --data foo --out "$W/o/df.st"
case_ dump_forward_n_zero 2 'usage|--n' "$MTL" dump-forward --model "$FR" --data ner-dev --out "$W/o/df.st" --n 0
case_ dump_forward_no_out 2 'out|usage' "$MTL" dump-forward --model "$FR" --data ner-dev
POST="no_tmp '$W/o'"; case_ dump_forward_out_directory 1 'directory' "$MTL" dump-forward --model "$FR" --data ner-dev --out "$W/o" --n 2 --seq-ner 32
case_ dump_forward_model_missing 1 'nonexistent' "$MTL" dump-forward --model "$W/nonexistent" --data ner-dev --out "$W/o/df.st"
case_ bench_predict_n_zero 2 '\-\-n' "$MTL" bench-predict --model "$FR" --n 0
case_ bench_predict_batch_zero 2 'batch' "$MTL" bench-predict --model "$FR" --batch 0
case_ bench_predict_task_unknown 2 'task' "$MTL" bench-predict --model "$FR" --task foo
case_ bench_predict_warmup_negative 2 'warmup' "$MTL" bench-predict --model "$FR" --warmup -1
case_ bench_predict_no_model 2 'usage|model' "$MTL" bench-predict
case_ bench_predict_model_missing 1 'nonexistent' "$MTL" bench-predict --model "$W/nonexistent"
case_ model_info_preset_unknown 2 'preset' "$MTL" model-info --preset huge
case_ model_info_batch_zero 2 'batch' "$MTL" model-info --batch 0
case_ model_info_batch_huge 2 'batch' "$MTL" model-info --batch 1000000000
case_ model_info_seq_zero 2 'seq' "$MTL" model-info --seq 0
case_ model_info_seq_above_positions 2 'seq' "$MTL" model-info --preset base --seq 4096
case_ model_info_task_unknown 2 'task' "$MTL" model-info --task foo
case_ bench_kernels_batch_zero 2 'batch' "$MTL" bench-kernels --batch 0
case_ bench_kernels_repeats_zero 2 'repeats' "$MTL" bench-kernels --repeats 0
case_ bench_kernels_device_unknown 2 'device' "$MTL" bench-kernels --device tpu
case_ bench_kernels_threads_negative 2 'threads' "$MTL" bench-kernels --threads -1
case_ bench_kernels_seq_above_positions 2 'seq' "$MTL" bench-kernels --preset tiny --seq 100000
# without --lora-rank the LoRA buffers were never set, and freeing them crashed (tiny)
case_ bench_kernels_tiny_runs 0 'attention_backward' "$MTL" bench-kernels --preset tiny --batch 2 --seq 16 --repeats 1 --threads 1 --out "$W/o/bk.csv"
case_ bench_step_steps_zero 2 'steps' "$MTL" bench-step --preset tiny --steps 0
case_ bench_step_warmup_negative 2 'warmup' "$MTL" bench-step --preset tiny --warmup -1
case_ bench_step_seed_negative 2 'seed' "$MTL" bench-step --preset tiny --seed -1
case_ bench_step_seed_garbage 2 'seed' "$MTL" bench-step --preset tiny --seed abc
case_ bench_step_task_unknown 2 'task' "$MTL" bench-step --task foo
case_ bench_step_seq_above_positions 1,2 'seq' "$MTL" bench-step --preset tiny --seq 100000
# DEFECT: bench-step --batch has no upper bound: 100000 tries to allocate
# 274 GB ("out of memory allocating 274329600000 bytes", option not named).
case_ bench_step_batch_huge 2 'batch' "$MTL" bench-step --preset tiny --batch 100000 --steps 1 --warmup 0
case_ data_stats_max_seq_below 2 'max-seq' "$MTL" data-stats --max-seq 2
case_ data_stats_max_seq_garbage 2 'max-seq' "$MTL" data-stats --max-seq abc
case_ data_stats_max_seq_overflow 2 'max-seq' "$MTL" data-stats --max-seq 99999999999999
case_ data_stats_unknown_option 2 'usage|bogus' "$MTL" data-stats --bogus

# ================================================================ 16. permissions, full disk
if [ $IS_ROOT = 1 ] && [ "${NOBODY[0]:-}" = none ]; then
    for n in perm_conll_unreadable perm_config_unreadable perm_checkpoint_unreadable perm_out_readonly_dir perm_predict_out_readonly; do skip $n 'root without setpriv'; done
else
    PM=$W/perm; mkdir -p "$PM"; chmod 777 "$PM"   # nobody may create run dirs here
    d=$(datatree perm); chmod 000 "$d/conll2003/train.txt"
    # DEFECT: an unreadable train.txt is reported as "dataset file
    # 'conll2003/train.txt' not found (tried ...)", not as permission denied
    # (it exists; the other places are then tried as if it did not).
    POST="absent '$PM/r1'"; case_ perm_conll_unreadable 1 'train.txt.*(denied|permission)' env DATASETS_DIR="$d" ${NOBODY[@]+"${NOBODY[@]}"} "$MTL" train "${TR[@]}" --task ner --out "$PM/r1"
    cp "$FX/config_small.conf" "$PM/secret.conf"; chmod 000 "$PM/secret.conf"
    POST="absent '$PM/r2'"; case_ perm_config_unreadable 2 'secret.conf.*(denied|permission)' ${NOBODY[@]+"${NOBODY[@]}"} "$MTL" train "${TR[@]}" --task ner --out "$PM/r2" --config "$PM/secret.conf"
    c=$(frcopy perm_ck); chmod 000 "$c/checkpoint.bin"
    STDIN=$GOODTXT; case_ perm_checkpoint_unreadable 1 'checkpoint.bin.*(denied|permission)' ${NOBODY[@]+"${NOBODY[@]}"} "$MTL" predict --model "$c"
    mkdir -p "$PM/ro"; chmod 555 "$PM/ro"
    POST="absent '$PM/ro/run'"; case_ perm_out_readonly_dir 1 'ro/run.*(denied|permission)' ${NOBODY[@]+"${NOBODY[@]}"} "$MTL" train "${TR[@]}" --task ner --out "$PM/ro/run"
    STDIN=$GOODTXT; POST="no_tmp '$PM/ro' && absent '$PM/ro/p.jsonl'"; case_ perm_predict_out_readonly 1 'ro/p.jsonl.*(denied|permission)' ${NOBODY[@]+"${NOBODY[@]}"} "$MTL" predict --model "$FR" --out "$PM/ro/p.jsonl"
fi
if [ $IS_ROOT = 1 ] && mkdir -p "$W/fullfs" && mount -t tmpfs -o size=32k tmpfs "$W/fullfs" 2>/dev/null; then
    FULL=$W/fullfs
    POST="no_tmp '$FULL'"; case_ full_disk_train 1 'No space' "$MTL" train "${FR_ARGS[@]}" --out "$FULL/run"
    rm -rf "${FULL:?}"/*
    POST="no_tmp '$FULL'"; case_ full_disk_export 1 'No space' "$MTL" export "$FR" --out "$FULL/exp"
    rm -rf "${FULL:?}"/*
    python3 -c "print('Alice met Bob in Paris .\n' * 3000)" >"$W/f/many.txt"
    POST="no_tmp '$FULL' && absent '$FULL/p.jsonl'"; case_ full_disk_predict 1 'No space' "$MTL" predict --model "$FR" --in "$W/f/many.txt" --out "$FULL/p.jsonl"
    umount "$FULL" && FULL=
else
    for n in full_disk_train full_disk_export full_disk_predict; do skip $n 'needs root (tmpfs mount)'; done
fi

# the finished run survived everything
POST="fr_same"; case_ finished_run_intact_at_end 0 '' true

echo "$PASS passed, $FAIL failed$([ $SKIP -gt 0 ] && echo ", $SKIP skipped") ($N cases)"
# the same in bad_input.sh's shape (reports/robustness_results.py) and in CUnit's (tests/run_tests.sh)
echo "adversarial.sh: $((PASS + FAIL)) cases, $PASS passed, $FAIL failed ($MTL)"
printf 'Run Summary:    Type  Total    Ran Passed Failed Inactive\n              tests %6d %6d %6d %6d        0\n' \
    "$((PASS + FAIL))" "$((PASS + FAIL))" "$PASS" "$FAIL"
[ $FAIL -eq 0 ]
