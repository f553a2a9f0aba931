#!/usr/bin/env bash
# bad_input.sh — every bad input refused (issue #12): ~350 cases over the mtl
# command line, option ranges (generated from `mtl train --help`), config
# files, run directories, --init checkpoints, data files, checkpoints and the
# other commands. Each case asserts
#   - the exit status (2: usage / options, 1: bad input found while running),
#   - key words of the message (an extended regex, case-insensitive),
#   - that it ends within CASE_TIMEOUT seconds (no hang),
#   - that a finished run directory it points at is byte for byte unchanged,
#     and that a new --out it names was not left behind.
#
#   bash tests/bad_input.sh [MTL]      (make test runs it with build/mtl;
#                                       .ci/run also with the ASan/UBSan build)
# Fixture data: the small files of tests/fixtures, no corpus text needed.
set -u
MTL=${1:-build/mtl}
CASE_TIMEOUT=${CASE_TIMEOUT:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$MTL" ] || { echo "bad_input.sh: $MTL not built" >&2; exit 2; }
MTL=$(cd "$(dirname "$MTL")" && pwd)/$(basename "$MTL")
T=$(mktemp -d /tmp/mtl_bad_input.XXXXXX)
trap 'rm -rf "$T"' EXIT
F=$ROOT/tests/fixtures

# ---- fixtures: data, a finished run, an HF checkpoint -----------------------------
. "$ROOT/tests/fixture_data.sh"
fixture_data "$T/data" "$ROOT"
BASE=(--task mtl --preset tiny --batch 4 --seq-ner 32 --seq-qa 64 --stride 16 --max-query 16
      --max-steps 4 --threads 1 --eval-every -1 --quiet)
RUN=$T/run
if ! "$MTL" train "${BASE[@]}" --out "$RUN" > "$T/fixture.log" 2>&1; then
  echo "bad_input.sh: the fixture run failed:"; cat "$T/fixture.log"; exit 1
fi
cp -r "$F/hf_golden/ner" "$T/hf"
snap() { (cd "$RUN" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum; }
BEFORE=$(snap)
cd "$T" # no datasets/data or ../shared/datasets to fall back to

pass=0 fail=0 n=0
# check STATUS REGEX CMD... : run CMD, compare. A case may name a new output
# dir in $NEW (must not exist afterwards).
NEW=""
check() {
  local want=$1 words=$2 out rc why=""
  shift 2
  n=$((n + 1))
  out=$(timeout "$CASE_TIMEOUT" "$@" 2>&1 < /dev/null); rc=$?
  if [ $rc = 124 ]; then why="hung (> ${CASE_TIMEOUT}s)"
  elif [ $rc -ge 128 ] && [ $rc != 130 ]; then why="crashed (status $rc)"
  elif [ $rc != "$want" ]; then why="exit $rc, want $want"
  elif ! grep -qiE -- "$words" <<<"$out"; then why="message lacks /$words/"
  elif grep -qE "AddressSanitizer|runtime error|LeakSanitizer" <<<"$out"; then why="sanitizer report"
  elif [ "$(snap)" != "$BEFORE" ]; then why="the run directory changed"; BEFORE=$(snap)
  elif [ -n "$NEW" ] && [ -e "$NEW" ]; then why="left $NEW behind"; rm -rf "$NEW"
  fi
  if [ -z "$why" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    printf 'FAIL %d: %s\n  %s\n  output: %s\n' "$n" "${*:2}" "$why" "$(head -c 400 <<<"$out" | tr '\n' ' ')"
  fi
  NEW=""
}

# ---- 1. every numeric option out of its range, NaN, infinite, not a number -------
# (the ranges are mtl train --help's: "--name  help [default] (lo..hi)")
while read -r name lo hi; do
  for v in nan inf -inf abc 1e99 "$(awk -v h="$hi" 'BEGIN { printf "%.17g", h * 10 + 1 }')" \
           "$(awk -v l="$lo" 'BEGIN { printf "%.17g", (l < 0 ? l * 10 : l) - 1 }')"; do
    check 2 "$name.*(outside the accepted range|not a number|not an integer)" \
      "$MTL" train "${BASE[@]}" --out "$RUN" --resume "--$name" "$v"
  done
done < <("$MTL" train --help | sed -n 's/^  --\([a-z0-9-]*\) .*(\([-0-9.e+]*\)\.\.\([-0-9.e+]*\))$/\1 \2 \3/p')

# ---- 2. words, flags and the command line --------------------------------------
for kv in "task pos" "task ''" "sampling random" "decode beam" "device tpu" "loss-weighting magic" \
          "preset huge" "sampling JOINT" "precision fp16" "precision BF16"; do
  set -- $kv
  check 2 "(must be|unknown preset|--$1)" "$MTL" train "${BASE[@]}" --out "$RUN" --resume "--$1" "$2"
done
check 2 "not a boolean" "$MTL" train "${BASE[@]}" --out "$RUN" --resume=maybe
check 2 "not a boolean" "$MTL" train "${BASE[@]}" --out "$RUN" --quiet=2
check 2 "unknown option '--bogus'" "$MTL" train "${BASE[@]}" --out "$RUN" --bogus 1
check 2 "needs a value" "$MTL" train "${BASE[@]}" --out "$RUN" --lr
check 2 "unexpected argument" "$MTL" train "${BASE[@]}" --out "$RUN" stray
check 2 "give one of them" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --overwrite
check 2 "tf32" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --tf32
check 2 "--out must name" "$MTL" train "${BASE[@]}" --out ""
check 2 "gradnorm needs --task mtl --sampling joint" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --loss-weighting gradnorm --sampling proportional
check 2 "initial weights and must be > 0" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --loss-weighting gradnorm --lambda-qa 0
# uncertainty weighting and DWA (impl/train/loss_weighting.h): values their ranges allow but the method does not
check 2 "uncertainty-lr: '-0.01' is outside the accepted range \[0, 10\]" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --loss-weighting uncertainty --uncertainty-lr -0.01
check 2 "uncertainty-lr must be > 0 \(accepted range \(0, 10\]; got 0\)" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --loss-weighting uncertainty --uncertainty-lr 0
check 2 "dwa-temperature: '0' is outside the accepted range" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --loss-weighting dwa --dwa-temperature 0
check 2 "dwa-period must be >= 1 step, or -1 for one epoch" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --loss-weighting dwa --dwa-period 0
check 2 "dwa weighs the tasks of a multi-task run: it needs --task mtl" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --loss-weighting dwa --task ner
check 2 "uncertainty: the lambdas are the initial weights and must be > 0" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --loss-weighting uncertainty --lambda-qa 0
check 2 "epochs >= 1 or --max-steps" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --max-steps 0 --epochs 0
check 2 "seq-ner must be in" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --seq-ner 4000
check 2 "preset hf" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --preset hf
# --shared-layers K: 0 <= K <= L (tiny: L = 2; an HF --init: its config's L), K < L only with --task mtl
NEW=$T/sl; check 2 "option --shared-layers: 3 is outside the accepted range \[0, L=2\]" "$MTL" train "${BASE[@]}" --out "$T/sl" --shared-layers 3
NEW=$T/sl; check 2 "option --shared-layers: '-2' is outside the accepted range \[0, 256\]" "$MTL" train "${BASE[@]}" --out "$T/sl" --shared-layers -2
NEW=$T/sl; check 2 "shared-layers 1 < L=2 .*needs --task mtl" "$MTL" train "${BASE[@]}" --out "$T/sl" --task ner --shared-layers 1
NEW=$T/sl; check 1 "option --shared-layers: 5 is outside the accepted range \[0, L=2\]" "$MTL" train "${BASE[@]}" --out "$T/sl" --init "$T/hf" --shared-layers 5
check 1 "model config mismatch: shared_layers=2 in the checkpoint, 0 in this run" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --shared-layers 0
check 2 "shared-layers: 7 must be in \[0, L=6\]" "$MTL" model-info --preset minilm --shared-layers 7
check 2 "shared-layers: '-1' is outside the accepted range" "$MTL" model-info --shared-layers -1
check 2 "below L only with --task mtl" "$MTL" model-info --preset tiny --task ner --shared-layers 1
# LoRA / --freeze-encoder: ranges, targets, what a frozen encoder does not combine with, resume
NEW=$T/lo; check 2 "option --lora-rank: '0' is outside the accepted range \[1, 1024\]" "$MTL" train "${BASE[@]}" --out "$T/lo" --lora-rank 0
NEW=$T/lo; check 1 "LoRA rank r=65 must be in \[1, 64\]" "$MTL" train "${BASE[@]}" --out "$T/lo" --lora-rank 65
NEW=$T/lo; check 2 "option --lora-alpha: 'nan'" "$MTL" train "${BASE[@]}" --out "$T/lo" --lora-rank 4 --lora-alpha nan
NEW=$T/lo; check 2 "option --lora-targets: 'attn' in 'qkv,attn' is not a LoRA target" "$MTL" train "${BASE[@]}" --out "$T/lo" --lora-rank 4 --lora-targets qkv,attn
NEW=$T/lo; check 2 "option --lora-targets: 'ffn' is listed twice" "$MTL" train "${BASE[@]}" --out "$T/lo" --lora-rank 4 --lora-targets ffn,ffn
NEW=$T/lo; check 2 "lora-rank freezes the encoder: it does not combine with --shared-layers" "$MTL" train "${BASE[@]}" --out "$T/lo" --lora-rank 4 --shared-layers 1
NEW=$T/lo; check 2 "freeze-encoder freezes the encoder: --loss-weighting gradnorm" "$MTL" train "${BASE[@]}" --out "$T/lo" --freeze-encoder --loss-weighting gradnorm --sampling joint
check 1 "model config mismatch: frozen_encoder=0 in the checkpoint, 1 in this run" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --lora-rank 4
check 2 "frozen encoder and per-task top layers" "$MTL" model-info --preset minilm --lora-rank 8 --shared-layers 2
check 2 "LoRA rank r=100 must be in \[1, 64\]" "$MTL" model-info --preset tiny --lora-rank 100
# --seeds is an option: its errors are usage errors (2), found before any run starts
NEW=$T/seeds; check 2 "given twice" "$MTL" train "${BASE[@]}" --out "$T/seeds" --seeds 1,1
NEW=$T/seeds; check 2 "malformed" "$MTL" train "${BASE[@]}" --out "$T/seeds" --seeds 1,,2
NEW=$T/seeds; check 2 "seeds: -3 is outside the accepted range" "$MTL" train "${BASE[@]}" --out "$T/seeds" --seeds -3
NEW=$T/seeds; check 2 "malformed" "$MTL" train "${BASE[@]}" --out "$T/seeds" --seeds 1,
NEW=$T/seeds; check 2 "option --seed: '1000000000000000001' is outside" "$MTL" train "${BASE[@]}" --out "$T/seeds" --seed 1000000000000000001
# the QA window rule (one place: squad_window_check), for train, predict and prep-squad
NEW=$T/win; check 2 "stride must be in \[0, --seq-qa - max-query - 4 = 44\]" "$MTL" train "${BASE[@]}" --out "$T/win" --stride 45
NEW=$T/win; check 2 "max-query must be in \[1, --seq-qa - 4 = 60\]" "$MTL" train "${BASE[@]}" --out "$T/win" --max-query 61 --stride 0
check 2 "option --threads: '100000' is outside the accepted range \[1, 1024\]" "$MTL" prep-squad --threads 100000
check 2 "stride must be in \[0, --max-seq - max-query - 4 = 316\]" "$MTL" prep-squad --stride 400
check 2 "unknown option '--bogus'" "$MTL" version --bogus
for cmd in bench-step bench-kernels predict bench-predict; do
  check 2 "--precision must be fp32 or bf16" "$MTL" $cmd --precision fp8
done
for cmd in predict bench-predict; do
  check 2 "--prepack must be on or off" "$MTL" $cmd --prepack maybe
  check 2 "--skip-padding must be on or off" "$MTL" $cmd --skip-padding 1
done
# --tf32 with bf16: refused where the backend is opened (before any GPU is looked for)
check 1 "exclude each other" "$MTL" bench-step --device cuda --tf32 --precision bf16 --preset tiny --steps 1 --warmup 0
# bf16 where the CPU (here: oneDNN told to stop at plain AVX-512) has none: fp32, said, exit 0
check 0 "running fp32 instead" env DNNL_MAX_CPU_ISA=AVX512_CORE "$MTL" bench-step --preset tiny --batch 2 --seq 16 --steps 1 --warmup 0 --precision bf16
check 2 "--ops 'attn' matches no op of this step; the ops: embed_forward, .*attention_forward" "$MTL" bench-kernels --preset tiny --ops attn
check 2 "--paired compares with full fine-tuning: it needs --lora-rank or --freeze-encoder" "$MTL" bench-step --preset tiny --paired
check 2 "usage" "$MTL" no-such-command
check 2 "usage" "$MTL"

# ---- 3. config files ----------------------------------------------------------------
cfg() { printf '%b' "$2" > "$T/$1"; echo "$T/$1"; }
check 2 "bad.json: invalid JSON at byte" "$MTL" train --config "$(cfg bad.json '{"batch": 4,')" --out "$RUN"
check 2 "arr.json:1: expected key=value" "$MTL" train --config "$(cfg arr.json '[1, 2]')" --out "$RUN"
check 2 "trail.json: invalid JSON at byte 13" "$MTL" train --config "$(cfg trail.json '{"batch": 4} [1]')" --out "$RUN"
check 2 "true/false only" "$MTL" train --config "$(cfg bool.json '{"batch": true}')" --out "$RUN"
check 2 "unknown option 'bogus'" "$MTL" train --config "$(cfg unk.json '{"bogus": 1}')" --out "$RUN"
check 2 "value must be a string, number or boolean" "$MTL" train --config "$(cfg nested.json '{"lr": [1]}')" --out "$RUN"
check 2 "option lr.*outside" "$MTL" train --config "$(cfg nan.json '{"lr": 1e99}')" --out "$RUN"
check 2 "kv.conf:2: expected key=value" "$MTL" train --config "$(cfg kv.conf 'batch = 4\nno pair here\n')" --out "$RUN"
check 2 "kv2.conf:1: option batch" "$MTL" train --config "$(cfg kv2.conf 'batch = four\n')" --out "$RUN"
check 2 "NUL byte" "$MTL" train --config "$(cfg nul.conf 'batch = 4\0\n')" --out "$RUN"
check 2 "cannot open" "$MTL" train --config "$T/missing.conf" --out "$RUN"
check 2 "not a regular file" "$MTL" train --config "$T" --out "$RUN"
mkfifo "$T/fifo.conf"
check 2 "not a regular file" "$MTL" train --config "$T/fifo.conf" --out "$RUN"
check 2 "given twice" "$MTL" train --config "$T/kv.conf" --config "$T/bad.json" --out "$RUN"
check 2 "needs a FILE" "$MTL" train --out "$RUN" --config
check 2 "nest.json: key 'config' is not allowed in a config file" "$MTL" train --config "$(cfg nest.json '{"config": "other.json"}')" --out "$RUN"
NEW=$T/dump; check 2 "dump-batches .*/nodir/x.st: the directory .*/nodir does not exist" "$MTL" train "${BASE[@]}" --out "$T/dump" --dump-batches "$T/nodir/x.st"
check 2 "dump-batches .*: the directory .*nodir does not exist" "$MTL" train "${BASE[@]}" --out "$RUN" --overwrite --dump-batches "$T/nodir/x.st"
# not bad: the dump may go into the run directory that the run itself makes (make bench HF=1 does)
check 0 "^dumped$" bash -c "\"$MTL\" train ${BASE[*]} --out $T/fresh --dump-batches $T/fresh/b.st && test -s $T/fresh/b.st && echo dumped"

# ---- 4. the run directory ---------------------------------------------------------------
check 1 "already holds a run.*--resume.*--overwrite" "$MTL" train "${BASE[@]}" --out "$RUN"
check 1 "already holds a run" "$MTL" train "${BASE[@]}" --out "$RUN" --seed 2
check 1 "different training options.*lr" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --lr 1e-3
check 1 "model config mismatch: heads" "$MTL" train "${BASE[@]}" --out "$RUN" --resume --task ner
check 0 "" "$MTL" train "${BASE[@]}" --out "$RUN" --resume  # finished: nothing to do, untouched
# --resume with data that changed since the run started (manifest.json's sha256): refused
rm -rf "$T/d-changed"; cp -r "$T/data" "$T/d-changed"; python3 - "$T/d-changed/conll2003/train.txt" <<'PY'
import sys  # one token's first letter changed: same sentences and windows, other bytes
p = sys.argv[1]; lines = open(p).read().split("\n")
i = next(k for k, l in enumerate(lines) if l[:1].isalpha())
lines[i] = "Q" + lines[i][1:]
open(p, "w").write("\n".join(lines))
PY
check 1 "resume: conll2003/train.txt .* has changed since the run started" env DATASETS_DIR="$T/d-changed" "$MTL" train "${BASE[@]}" --out "$RUN" --resume
touch "$T/notadir"
check 1 "not a directory" "$MTL" train "${BASE[@]}" --out "$T/notadir"
check 1 "already holds a run" "$MTL" train "${BASE[@]}" --out "$T"
# a corrupted copy of the run: refused with the cause, the copy untouched
for how in truncate flip magic; do
  C=$T/copy-$how; rm -rf "$C"; cp -r "$RUN" "$C"; rm -f "$C/metrics.json"
  case $how in
    truncate) truncate -s 1000 "$C/checkpoint.bin"; want="truncated|past the end|checksum";;
    flip) printf '\x55' | dd of="$C/checkpoint.bin" bs=1 seek=5000 conv=notrunc 2>/dev/null; want="checksum mismatch";;
    magic) printf 'XXXX' | dd of="$C/checkpoint.bin" bs=1 seek=0 conv=notrunc 2>/dev/null; want="not an mtl checkpoint";;
  esac
  h=$(sha256sum "$C/checkpoint.bin")
  check 1 "checkpoint.bin.*($want)" "$MTL" train "${BASE[@]}" --out "$C" --resume
  [ "$(sha256sum "$C/checkpoint.bin")" = "$h" ] || { fail=$((fail + 1)); echo "FAIL: $how: checkpoint changed"; }
done

# checksummed but implausible checkpoints: refused at load naming checkpoint.bin and the culprit,
# before anything is written (predict, eval, export)
reseal() { # FILE PYTHON: edit the bytearray b (payload: the parameters' byte offset), re-checksum
  python3 - "$1" "$2" <<'PY'
import hashlib, struct, sys
p, code = sys.argv[1], sys.argv[2]
b = bytearray(open(p, "rb").read()); L = len(b)
n = next(n for n in range(1, L // 12) if struct.unpack_from("<Q", b, L - 32 - 12 * n - 8)[0] == n)
payload = L - 32 - 12 * n
exec(code)
b[-32:] = hashlib.sha256(bytes(b[:-32])).digest()
open(p, "wb").write(b)
PY
}
runcopy() { rm -rf "$T/$1"; cp -r "$RUN" "$T/$1"; echo "$T/$1"; }
C=$(runcopy ck-vocab); reseal "$C/checkpoint.bin" 'struct.pack_into("<i", b, 60, 2**31 - 1)'
check 1 "checkpoint.bin: invalid model config.*V=2147483647 \(vocab_size\) must be in \[5, 1048576\]" "$MTL" predict --model "$C" --in /dev/null
NEW=$T/ex; check 1 "checkpoint.bin.*vocab_size" "$MTL" export "$C" --out "$T/ex"
C=$(runcopy ck-nan); reseal "$C/checkpoint.bin" 'struct.pack_into("<f", b, payload + 20, float("nan"))'
check 1 "checkpoint.bin: tensor 'emb.word' element 5 is nan" "$MTL" predict --model "$C" --in /dev/null
NEW=$T/ev; check 1 "checkpoint.bin: tensor 'emb.word' element 5 is nan" "$MTL" eval --model "$C" --out "$T/ev"
NEW=$T/new; check 1 "checkpoint.bin: tensor 'emb.word' element 5 is nan" "$MTL" train "${BASE[@]}" --out "$T/new" --init "$C/checkpoint.bin"
C=$(runcopy ck-dir); rm "$C/checkpoint.bin"; mkdir "$C/checkpoint.bin"
check 1 "checkpoint.bin: not a regular file" "$MTL" predict --model "$C" --in /dev/null
C=$(runcopy ck-zero); rm "$C/checkpoint.bin"; ln -s /dev/zero "$C/checkpoint.bin"
NEW=$T/ev; check 1 "checkpoint.bin: not a regular file" "$MTL" eval --model "$C" --out "$T/ev"

# ---- 5. --init -----------------------------------------------------------------------------
I=(--task ner --batch 4 --seq-ner 16 --max-steps 2 --threads 1 --eval-every -1 --quiet)
hfcopy() { rm -rf "$T/$1"; cp -r "$T/hf" "$T/$1"; echo "$T/$1"; }
NEW=$T/new; check 1 "no-such-dir" "$MTL" train "${I[@]}" --out "$T/new" --init "$T/no-such-dir"
d=$(hfcopy trunc); truncate -s 300 "$d/model.safetensors"
NEW=$T/new; check 1 "model.safetensors" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
d=$(hfcopy roberta); sed -i 's/"model_type": *"bert"/"model_type": "roberta"/' "$d/config.json"
NEW=$T/new; check 1 "model_type" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
d=$(hfcopy relu); sed -i 's/"gelu"/"relu"/' "$d/config.json"
NEW=$T/new; check 1 "hidden_act" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
d=$(hfcopy vocab); echo "extratoken" >> "$d/vocab.txt"
NEW=$T/new; check 1 "vocab" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
d=$(hfcopy trailing); printf ' {}' >> "$d/config.json"
NEW=$T/new; check 1 "config.json: invalid JSON at byte" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
d=$(hfcopy noconfig); rm "$d/config.json"
NEW=$T/new; check 1 "config.json" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
d=$(hfcopy badjson); printf '{"model_type": ' > "$d/config.json"
NEW=$T/new; check 1 "config.json" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
d=$(hfcopy lies); python3 - "$d/model.safetensors" <<'PY' 2>/dev/null || printf 'garbage' > "$d/model.safetensors"
import json, struct, sys
p = sys.argv[1]; b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); k = next(k for k in h if k != "__metadata__")
h[k]["shape"] = [s * 2 for s in h[k]["shape"]]
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
open(p, "wb").write(struct.pack("<Q", len(hb)) + hb + b[8 + n:])
PY
NEW=$T/new; check 1 "model.safetensors" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
st_edit() { # FILE PYTHON: edit the header h (a dict) or the data bytearray d, rewrite the file
  python3 - "$1" "$2" <<'PY'
import json, struct, sys
p, code = sys.argv[1], sys.argv[2]
b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); d = bytearray(b[8 + n:])
W = "bert.encoder.layer.0.attention.self.query.weight"
exec(code)
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
open(p, "wb").write(struct.pack("<Q", len(hb)) + hb + bytes(d))
PY
}
d=$(hfcopy nan); st_edit "$d/model.safetensors" 'o = h[W]["data_offsets"][0] + 12; d[o:o + 4] = struct.pack("<f", float("inf"))'
NEW=$T/new; check 1 "model.safetensors: tensor 'bert.encoder.layer.0.attention.self.query.weight' element 3 is inf" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
NEW=$T/ev; check 1 "model.safetensors: tensor .* is inf" "$MTL" eval --model "$d" --out "$T/ev" --seq-ner 16
d=$(hfcopy meta); st_edit "$d/model.safetensors" 'h["__metadata__"] = {"format": [1, 2]}'
NEW=$T/new; check 1 "model.safetensors: \"__metadata__\": the value of \"format\" is not a string" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
d=$(hfcopy dupkey); sed -i 's/"hidden_size": 16,/"hidden_size": 16, "hidden_size": 32,/' "$d/config.json"
NEW=$T/new; check 1 "config.json: duplicate key \"hidden_size\" in the object at \\$" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
d=$(hfcopy dupdeep); sed -i 's/"0": "B-MISC",/"0": "B-MISC", "0": "O",/' "$d/config.json"
NEW=$T/new; check 1 "config.json: duplicate key \"0\" in the object at \\$\.id2label" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
d=$(hfcopy vocabhuge); sed -i 's/"vocab_size": 48/"vocab_size": 2147483647/' "$d/config.json"
NEW=$T/new; check 1 "config.json: \"vocab_size\" must be an integer in \[5, 1048576\]" "$MTL" train "${I[@]}" --out "$T/new" --init "$d"
NEW=$T/new; check 1 "checkpoint|cannot open|not" "$MTL" train "${I[@]}" --preset tiny --out "$T/new" --init "$T/no-such.bin"
NEW=$T/new; check 1 "encoder tensor|same encoder|config" "$MTL" train "${BASE[@]}" --preset mini --out "$T/new" --init "$RUN/checkpoint.bin"

# ---- 6. data files -------------------------------------------------------------------------
# each case: a copy of the data with one file broken; the run must refuse it before writing
broken_data() { # NAME FILE CONTENT(printf %b)
  rm -rf "$T/d-$1"; cp -r "$T/data" "$T/d-$1"; printf '%b' "$3" > "$T/d-$1/$2"
}
data_case() { # NAME FILE CONTENT REGEX [TASK]
  broken_data "$1" "$2" "$3"
  NEW=$T/new; check 1 "$4" env DATASETS_DIR="$T/d-$1" "$MTL" train "${BASE[@]}" --task "${5:-mtl}" --out "$T/new"
}
data_case tag conll2003/train.txt "A x y B-FOO\n" "train.txt:1: unknown NER tag"
data_case cols conll2003/valid.txt "A x I-PER\n" "valid.txt:1: expected 4 columns"
data_case cr conll2003/test.txt "A x y O\rB x y O\r\n" "test.txt:1: a carriage return"
data_case utf8 conll2003/train.txt "A\xff x y O\n" "train.txt:1: invalid UTF-8"
data_case empty conll2003/test.txt "-DOCSTART- -X- O O\n\n" "test.txt: no sentences"
data_case nul conll2003/train.txt "A x y O\n\0\n" "train.txt:2"
data_case sjson squad/dev-v1.1.json '{"data": [' "dev-v1.1.json.*(invalid JSON|truncated)"
data_case sdup squad/dev-v1.1.json '{"data":[{"paragraphs":[{"context":"a b","qas":[{"id":"x","question":"q","answers":[{"text":"a","answer_start":0}]},{"id":"x","question":"q","answers":[{"text":"b","answer_start":2}]}]}]}]}' "question id 'x' appears more than once"
data_case sempty squad/train-v1.1-subset44.json '{"data":[{"paragraphs":[{"context":"a b","qas":[{"id":"x","question":"q","answers":[{"text":"","answer_start":0}]}]}]}]}' "empty answer"
data_case srange squad/train-v1.1-subset44.json '{"data":[{"paragraphs":[{"context":"a b","qas":[{"id":"x","question":"q","answers":[{"text":"b","answer_start":9}]}]}]}]}' "past the end"
data_case snoq squad/dev-v1.1.json '{"data":[]}' "dev-v1.1.json: no questions"
data_case sctx squad/dev-v1.1.json '{"data":[{"paragraphs":[{"context":"","qas":[]}]}]}' "context: empty"
data_case sv11 squad/dev-v1.1.json '{"version":"1.1","data":[{"paragraphs":[{"context":"a b","qas":[{"id":"x","question":"q","answers":[]}]}]}]}' "dev-v1.1.json: question id 'x' .* has no answers, but this is a SQuAD v1.1 file"
data_case stype squad/dev-v1.1.json '{"data":[{"paragraphs":[{"context":"a","qas":[{"id":1}]}]}]}' "id: expected string"
# escapes a C string cannot hold (Python's json reads them): refused with their offset
data_case snul squad/dev-v1.1.json '{"data":[{"paragraphs":[{"context":"a\\u0000b","qas":[]}]}]}' 'dev-v1.1.json: a .u0000 escape .* at byte 37 \(line 1\)'
data_case ssur squad/dev-v1.1.json '{"data":[{"title":"\\ud800abc","paragraphs":[]}]}' 'dev-v1.1.json: a lone surrogate escape \(a high surrogate'
data_case slow squad/train-v1.1-subset44.json '{"data":[{"title":"\\udfffabc","paragraphs":[]}]}' 'subset44.json: a lone surrogate escape \(a low surrogate'
rm -rf "$T/d-missing"; cp -r "$T/data" "$T/d-missing"; rm "$T/d-missing/conll2003/valid.txt"
NEW=$T/new; check 1 "valid.txt" env DATASETS_DIR="$T/d-missing" "$MTL" train "${BASE[@]}" --out "$T/new"
NEW=$T/new; check 1 "vocab" env MTL_VOCAB="$T/missing-vocab.txt" "$MTL" train "${BASE[@]}" --out "$T/new"

# ---- 7. the other commands ------------------------------------------------------------------
check 2 "--model and --out are required" "$MTL" eval --out "$T/ev"
check 2 "--model and --out are required" "$MTL" eval --model "$RUN"
check 2 "batch.*outside" "$MTL" eval --model "$RUN" --out "$T/ev" --batch 0
check 2 "unknown option '--lr'" "$MTL" eval --model "$RUN" --out "$T/ev" --lr 1
check 2 "task must be" "$MTL" eval --model "$RUN" --out "$T/ev" --task pos
check 2 "decode must be" "$MTL" eval --model "$RUN" --out "$T/ev" --decode beam
check 2 "window options" "$MTL" eval --model "$RUN" --out "$T/ev" --stride 400
NEW=$T/ev; check 1 "no trained QA head" "$MTL" eval --model "$T/hf" --task qa --out "$T/ev"
NEW=$T/ev; check 1 "no-such" "$MTL" eval --model "$T/no-such" --out "$T/ev"
check 2 "--out must name a directory" "$MTL" eval --model "$RUN" --out ''
check 2 "--out .* is the model's directory" "$MTL" eval --model "$RUN" --out "$RUN"
ln -s "$RUN" "$T/runlink"
check 2 "--out .* is the model's directory" "$MTL" eval --model "$T/runlink" --out "$RUN/"
C=$(runcopy other-run)
check 2 "--out .*other-run holds a training run \(checkpoint.bin\)" "$MTL" eval --model "$RUN" --out "$C"
# a run trained with --seq-qa 16 (the minimum of every command, SQUAD_MIN_SEQ): eval and
# predict take its windows; predict --tasks ner does not check the QA options
if "$MTL" train --task mtl --init "$T/hf" --max-steps 1 --threads 1 --seq-ner 16 --seq-qa 16 --stride 2 \
     --max-query 4 --batch 2 --eval-every -1 --quiet --out "$T/run16" > "$T/run16.log" 2>&1; then
  check 0 'QA dev EM' "$MTL" eval --model "$T/run16" --task qa --out "$T/ev16"
  NEW=$T/ev; check 2 "--seq-ner 32 exceeds the model's 16 positions" "$MTL" eval --model "$T/run16" --task ner --seq-ner 32 --out "$T/ev"
  printf 'Peter lives in Paris.\n' > "$T/one.txt"
  check 0 '"entities"' "$MTL" predict --model "$T/run16" --tasks ner --in "$T/one.txt"
  check 0 '"entities"' "$MTL" predict --model "$T/run16" --in "$T/one.txt"
  check 2 "option --seq-qa: '15' is outside the accepted range \[16, 4096\]" "$MTL" predict --model "$T/run16" --seq-qa 15 --in "$T/one.txt"
else
  fail=$((fail + 1)); echo "FAIL: the --seq-qa 16 run: $(tail -n 3 "$T/run16.log")"
fi
check 2 "required" "$MTL" export
check 2 "required" "$MTL" export "$RUN"
check 2 "--out must name a directory" "$MTL" export "$RUN" --out ''
NEW=$T/ex; check 1 "bare has no trained head" "$MTL" export "$F/hf_golden/bare" --out "$T/ex"
NEW=$T/ex; check 1 "has no trained qa head" "$MTL" export "$T/hf" --task qa --out "$T/ex"
check 2 "--task must be" "$MTL" export "$RUN" --out "$T/ex" --task pos
NEW=$T/ex; check 1 "no-such" "$MTL" export "$T/no-such" --out "$T/ex"
check 2 "required" "$MTL" dump-forward --model "$RUN" --out "$T/df.st"
check 2 "option --n: '0' is outside the accepted range \[1, 100000\]" "$MTL" dump-forward --model "$RUN" --data ner-dev --out "$T/df.st" --n 0
check 2 "--data must be ner-dev, ner-test or qa-dev \(got 'pos-dev'\)" "$MTL" dump-forward --model "$RUN" --data pos-dev --out "$T/df.st"
for v in abc 2 99999 "" 12x; do check 2 "option --max-seq: .* \[3, 4096\]" "$MTL" data-stats --max-seq "$v"; done
# predict: options (2), then inputs, line by line (1 with an error object per bad line)
check 2 "--model is required" "$MTL" predict
for kv in "n-best 0" "batch 0" "max-answer-len -1" "seq-ner 4" "threads x" "max-bytes 0"; do
  set -- $kv; check 2 "option --$1: .*(outside the accepted range|is not an integer)" "$MTL" predict --model "$RUN" "--$1" "$2"
done
check 2 "format must be" "$MTL" predict --model "$RUN" --format xml
check 2 "tasks must be" "$MTL" predict --model "$RUN" --tasks pos
check 2 "ner-stride must be in \[0, seq_ner - 3 = 29\]" "$MTL" predict --model "$RUN" --ner-stride 30
check 2 "unknown option '--lr'" "$MTL" predict --model "$RUN" --lr 1
check 1 "no-such" "$MTL" predict --model "$T/no-such"
check 1 "missing.jsonl" "$MTL" predict --model "$RUN" --in "$T/missing.jsonl"
check 1 "not a regular file" "$MTL" predict --model "$RUN" --in "$T/fifo.conf"
check 1 "has no trained QA head" "$MTL" predict --model "$T/hf" --tasks qa --in /dev/null
pline() { printf '%b\n' "$1" > "$T/in.jsonl"; check 1 "$2" "$MTL" predict --model "$RUN" --in "$T/in.jsonl" "${@:3}"; }
pline '{"text": "Peter lives in Paris."' '"line":1,"error":"invalid JSON at byte'
pline '' '"error":"empty line"'
pline '{"question": "who?"}' 'needs both \\"question\\" and \\"context\\"'
pline '{"text": 5}' 'must be strings'
pline '[1, 2]' 'must be an object' --format jsonl
pline '{"id": 7}' '"id":7,"error":"a JSON line needs'
pline 'Paris \xc3\x28 London' 'invalid UTF-8 at byte offset 6'
pline '{"question": " ", "context": "Paris."}' 'the question is empty'
pline '{"question": "Where?", "context": "\\t"}' 'the context is empty'
pline 'ok line\n{bad' '"line":2,"error":"invalid JSON'
pline 'ok line\n{bad' '1 of 2 line\(s\) got an error object'
pline '{"text": "Paris\\u0000London"}' '"line":1,"error":"a \\\\u0000 escape .* at byte 15"'
pline '{"question": "Who?", "context": "x\\udc00"}' 'lone surrogate escape .*at byte 34'
printf 'Peter lives in Paris.\n' > "$T/in.jsonl"
printf '{"question": "Where?", "context": "Peter lives in Paris."}\n' > "$T/in2.jsonl"
check 1 'QA is not among the tasks used' "$MTL" predict --model "$T/hf" --in "$T/in2.jsonl"
check 1 'line of [0-9]+ bytes exceeds --max-bytes 8' "$MTL" predict --model "$RUN" --in "$T/in.jsonl" --max-bytes 8
NEW=$T/nodir; check 1 "nodir" "$MTL" predict --model "$RUN" --in "$T/in.jsonl" --out "$T/nodir/out.jsonl"
check 1 "fifo.conf: not a regular file" "$MTL" predict --model "$RUN" --in "$T/in.jsonl" --out "$T/fifo.conf"
[ -p "$T/fifo.conf" ] || { fail=$((fail + 1)); echo "FAIL: predict --out FIFO: the FIFO was replaced"; }
check 0 '"line":1,"entities":\[' "$MTL" predict --model "$RUN" --in "$T/in.jsonl"
check 0 '"answer":(\{"text"|null).*"entities"' "$MTL" predict --model "$RUN" --in "$T/in2.jsonl"
check 2 "--model is required" "$MTL" bench-predict
check 2 "option --n: '0' is outside the accepted range \[1, 100000\]" "$MTL" bench-predict --model "$RUN" --n 0
check 2 "--device must be cpu or cuda \(got 'tpu'\)" "$MTL" bench-predict --model "$RUN" --device tpu
check 1 "no-such" "$MTL" bench-predict --model "$T/no-such"

check 1 "cannot open" "$MTL" score-ner "$T/missing.txt"
printf 'A x O O\nB O\n' > "$T/cols.txt"
check 1 "cols.txt.*2" "$MTL" score-ner "$T/cols.txt"
check 1 "not a regular file" "$MTL" score-ner "$T/fifo.conf"
printf 'a O O\rb B-PER B-PER\r' > "$T/cr.txt"
check 1 "cr.txt:1: a carriage return \\(byte 5\\) not followed by a line feed" "$MTL" score-ner "$T/cr.txt"
check 2 "option --batch: '100000' is outside the accepted range \\[1, 4096\\]" "$MTL" bench-step --preset tiny --batch 100000
printf 'A O O\nB B-PER B-P\xe9R\n' > "$T/tag8.txt"
check 1 "tag8.txt:2: the predicted tag \\(column 3\\) has invalid UTF-8" "$MTL" score-ner "$T/tag8.txt"
printf 'A O O\nB B-PER I-PER\0\n' > "$T/tag0.txt"
check 1 "tag0.txt:2: the predicted tag .* NUL byte" "$MTL" score-ner "$T/tag0.txt"
printf '{"q1": "a\\u0000b"}' > "$T/pred0.json"
check 1 "pred0.json: a .u0000 escape" "$MTL" score-squad "$F/squad_v1_small.json" "$T/pred0.json"
printf '{"q1": ' > "$T/pred.json"
check 1 "pred.json" "$MTL" score-squad "$F/squad_v1_small.json" "$T/pred.json"
printf '[1]' > "$T/pred2.json"
check 1 "pred2.json.*expected an object" "$MTL" score-squad "$F/squad_v1_small.json" "$T/pred2.json"
check 1 "squad_truncated.json" "$MTL" score-squad "$F/squad_truncated.json" "$T/pred2.json"
check 1 "no-such" "$MTL" score-squad "$T/no-such.json" "$T/pred2.json"

echo "bad_input.sh: $n cases, $pass passed, $fail failed ($MTL)"
# one line in CUnit's shape, for tests/run_tests.sh
printf 'Run Summary:    Type  Total    Ran Passed Failed Inactive\n              tests %6d %6d %6d %6d        0\n' "$n" "$n" "$pass" "$fail"
[ "$fail" = 0 ]
