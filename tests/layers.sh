#!/usr/bin/env bash
# layers.sh — every C file of impl/ and kernels/ includes only headers of its
# own layer or of a lower one (README "Layout"). The layers, lowest first:
#   0 impl/base      utilities, names, options engine, JSON, paths, safetensors
#   1 kernels        the backends (may use impl/base only)
#   1 impl/data      tokenizer, CoNLL, SQuAD
#   2 impl/metrics   conlleval, SQuAD scoring, NER/QA decoding
#   3 impl/model     config, model, optimiser, checkpoints, Hugging Face I/O
#   4 impl/train     the training loop, sampling, loss weighting, data parallel
#   4 impl/infer     mtl predict
#   5 impl/cli       main and the cmd_* commands
# Two folders of the same rank may not include each other (data vs kernels,
# train vs infer). A header is found by its name in these folders, as the
# compiler finds it (-Iimpl/LAYER -Ikernels); system headers are skipped.
# Prints one line per violation and a summary in CUnit's shape for
# tests/run_tests.sh. Usage: bash tests/layers.sh [ignored build/mtl path]
set -u
cd "$(dirname "$0")/.."
declare -A RANK=([impl/base]=0 [kernels]=1 [impl/data]=1 [impl/metrics]=2 [impl/model]=3
                 [impl/train]=4 [impl/infer]=4 [impl/cli]=5)
# the folder of each header name (kernels' sub-folders are included as "cpu/x.h", "cuda/x.h")
declare -A HOME_OF
for d in "${!RANK[@]}"; do
  for h in $(cd "$d" && find . -name '*.h' | sed 's|^\./||'); do
    [ "$d" = kernels ] || h=${h##*/}
    [ -n "${HOME_OF[$h]:-}" ] && { echo "FAIL two headers named $h: ${HOME_OF[$h]} and $d"; exit 1; }
    HOME_OF[$h]=$d
  done
done
for d in impl/*/; do
  [ -n "${RANK[${d%/}]:-}" ] || { echo "FAIL $d is not a layer of tests/layers.sh (add it there and to README)"; fails=1; }
done
checks=0 fails=${fails:-0}
for d in "${!RANK[@]}"; do
  while IFS= read -r f; do
    while IFS= read -r h; do
      home=${HOME_OF[$h]:-}
      [ -n "$home" ] || continue # not ours (a system or third-party header)
      checks=$((checks + 1))
      if [ "$home" != "$d" ] && [ "${RANK[$home]}" -ge "${RANK[$d]}" ]; then
        echo "FAIL $f (layer $d, rank ${RANK[$d]}) includes $h of $home (rank ${RANK[$home]})"
        fails=$((fails + 1))
      fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
  done < <(find "$d" -name '*.[ch]' -o -name '*.cu' -o -name '*.cuh')
done
echo "layers: $checks includes checked, $fails violation(s)"
echo "Run Summary:    Type  Total    Ran Passed Failed Inactive"
echo "              tests $(printf '%6d %6d %6d %6d' 1 1 $((fails == 0)) $((fails > 0)))        0"
[ "$fails" -eq 0 ]
