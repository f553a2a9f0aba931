"""predict_inputs.py — the inputs of the predict checks and benchmarks, read
one way, and `mtl predict` run on them (reference/predict_check.py, reference/bench_predict.py,
bench/predict_single_pass.py): CoNLL-2003 test sentences as texts (tokens
joined by spaces) and SQuAD v1.1 dev questions with their contexts, in file
order, found as the C side finds data (data_paths.find_data)."""
import gzip
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data_paths import find_data  # noqa: E402


def conll_sentences(n):
    """The first n sentences of CoNLL-2003 test, tokens joined by single spaces."""
    out, cur = [], []
    with open(find_data("conll2003/test.txt"), encoding="utf-8") as f:
        for line in f:
            cols = line.split()
            if not cols:
                if cur:
                    out.append(" ".join(cur))
                    cur = []
                    if len(out) == n:
                        return out
            elif cols[0] != "-DOCSTART-":
                cur.append(cols[0])
    return out + ([" ".join(cur)] if cur and len(out) < n else [])


def squad_questions(n):
    """The first n SQuAD v1.1 dev questions: dicts with id, question, context."""
    path = find_data("squad/dev-v1.1.json")
    with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    out = []
    for art in data:
        for par in art["paragraphs"]:
            for qa in par["qas"]:
                out.append({"id": qa["id"], "question": qa["question"], "context": par["context"]})
                if len(out) == n:
                    return out
    return out


def mtl_predict(mtl, model, lines, extra=()):
    """`mtl predict --model model` on JSON lines (dicts); its output objects, in order.
    Exits if mtl predict fails (any line with an error object included)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for x in lines:
            f.write(json.dumps(x) + "\n")
        name = f.name
    try:
        p = subprocess.run([mtl, "predict", "--model", model, "--in", name] + list(extra),
                           capture_output=True, text=True)
    finally:
        os.unlink(name)
    if p.returncode != 0:
        sys.exit("mtl predict failed:\n" + p.stderr[-2000:])
    return [json.loads(line) for line in p.stdout.splitlines()]
