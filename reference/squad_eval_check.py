#!/usr/bin/env python3
"""squad_eval_check.py — shows that `mtl score-squad` equals the official SQuAD
evaluate scripts, bit for bit.

    python3 reference/squad_eval_check.py [--mtl build/mtl] [--data dev-v1.1.json.gz]
                                          [--workdir /tmp/squad_check] [--no-normalize]

1. A re-implementation of the official evaluate-v1.1.py logic (written here
   from its published definition: normalize_answer = lower, drop
   string.punctuation, re.sub(r'\\b(a|an|the)\\b', ' '), ' '.join(split());
   EM / Counter-overlap F1 maxed over the gold answers, x100 over all
   questions, unanswered = 0) and of evaluate-v2.0.py's compute_exact /
   compute_f1 / HasAns-NoAns split.
2. Prediction files derived from the dataset: first gold answer, last gold
   answer, random perturbations (dropped/added words, case, articles,
   punctuation, non-ASCII), random context spans, all empty, 10% missing.
3. `mtl score-squad` on each; its exact_match and f1 must EQUAL (==, not
   approximately) the Python values. The same for a v2.0 file made from the
   dataset by turning every 4th question into an impossible one.
4. Unless --no-normalize: compiles impl/metrics/squad_eval.c into a shared object and
   compares its normalize_answer with Python's on every context, question and
   answer of the file plus Unicode edge cases (U+0130, final sigma, \\b next
   to accented letters and combining marks, Unicode spaces).
Exit status 0 when everything agrees.
"""
import argparse
import collections
import ctypes
import gzip
import json
import os
import random
import re
import string
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "reference"))
from data_paths import find_data  # noqa: E402


# ---- the official logic ------------------------------------------------------

def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def f1_v1(prediction, ground_truth):
    p, g = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    common = collections.Counter(p) & collections.Counter(g)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(p)
    recall = 1.0 * num_same / len(g)
    return (2 * precision * recall) / (precision + recall)


def em_v1(prediction, ground_truth):
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def evaluate_v1(dataset, predictions):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                golds = [a["text"] for a in qa["answers"]]
                pred = predictions[qa["id"]]
                exact_match += max(em_v1(pred, g) for g in golds)
                f1 += max(f1_v1(pred, g) for g in golds)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def get_tokens(s):
    return normalize_answer(s).split() if s else []


def f1_v2(a_gold, a_pred):
    g, p = get_tokens(a_gold), get_tokens(a_pred)
    common = collections.Counter(g) & collections.Counter(p)
    num_same = sum(common.values())
    if len(g) == 0 or len(p) == 0:
        return int(g == p)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(p)
    recall = 1.0 * num_same / len(g)
    return (2 * precision * recall) / (precision + recall)


def evaluate_v2(dataset, preds):
    """evaluate-v2.0.py with na_probs = 0 (every prediction present)."""
    exact, f1, has = {}, {}, {}
    for article in dataset:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                qid = qa["id"]
                has[qid] = bool(qa["answers"])
                golds = [a["text"] for a in qa["answers"] if normalize_answer(a["text"])] or [""]
                a_pred = preds[qid]
                exact[qid] = max(int(normalize_answer(a) == normalize_answer(a_pred)) for a in golds)
                f1[qid] = max(f1_v2(a, a_pred) for a in golds)
    def block(qids):
        return (100.0 * sum(exact[k] for k in qids) / len(qids), 100.0 * sum(f1[k] for k in qids) / len(qids))
    out = {"exact": 100.0 * sum(exact.values()) / len(exact), "f1": 100.0 * sum(f1.values()) / len(f1)}
    hq = [k for k, v in has.items() if v]
    nq = [k for k, v in has.items() if not v]
    if hq:
        out["HasAns_exact"], out["HasAns_f1"] = block(hq)
    if nq:
        out["NoAns_exact"], out["NoAns_f1"] = block(nq)
    return out


# ---- prediction files ---------------------------------------------------------

def questions(dataset):
    for art in dataset:
        for par in art["paragraphs"]:
            for qa in par["qas"]:
                yield par["context"], qa


def perturb(rng, context, gold):
    words = gold.split()
    op = rng.randrange(10)
    if op == 0 and len(words) > 1:
        return " ".join(words[1:])
    if op == 1 and len(words) > 1:
        return " ".join(words[:-1])
    if op == 2:
        return gold.upper()
    if op == 3:
        return "The " + gold + "."
    if op == 4:
        return "(" + gold + ") , an"
    if op == 5:
        cw = context.split()
        i = rng.randrange(len(cw))
        return " ".join(cw[i:i + rng.randint(1, 6)])
    if op == 6:
        return gold + " " + gold
    if op == 7:
        return "\u0130stanbul \u039f\u0394\u039f\u03a3 caf\u00e9s the\u00e9 a\u0301 " + gold
    if op == 8:
        return gold.replace(" ", "\u00a0")
    return gold


def make_prediction_sets(dataset, seed=1234):
    rng = random.Random(seed)
    sets = {"first_gold": {}, "last_gold": {}, "perturbed": {}, "context_span": {}, "empty": {},
            "missing10": {}}
    for context, qa in questions(dataset):
        qid, golds = qa["id"], [a["text"] for a in qa["answers"]] or [""]
        sets["first_gold"][qid] = golds[0]
        sets["last_gold"][qid] = golds[-1]
        sets["perturbed"][qid] = perturb(rng, context, golds[rng.randrange(len(golds))])
        cw = context.split()
        i = rng.randrange(len(cw))
        sets["context_span"][qid] = " ".join(cw[i:i + rng.randint(1, 8)])
        sets["empty"][qid] = ""
        if rng.random() >= 0.1:
            sets["missing10"][qid] = perturb(rng, context, golds[0])
    return sets


# ---- running the C side --------------------------------------------------------

def run_mtl(mtl, data_path, pred_path):
    r = subprocess.run([mtl, "score-squad", data_path, pred_path], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"mtl score-squad failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout.splitlines()[0]), r.stderr


def compare(label, c, py):
    ok = True
    for k, v in py.items():
        same = k in c and float(c[k]) == float(v)
        ok &= same
        print(f"  {label:14s} {k:14s} python {v!r:24} mtl {c.get(k)!r:24} {'equal' if same else 'DIFFERENT'}")
    return ok


def check_v1(mtl, dataset, data_path, workdir):
    ok = True
    for name, preds in make_prediction_sets(dataset).items():
        path = os.path.join(workdir, f"pred_{name}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(preds, f, ensure_ascii=False)
        c, err = run_mtl(mtl, data_path, path)
        py = evaluate_v1(dataset, preds)
        ok &= compare(name, c, py)
        n_missing = sum(1 for _ in questions(dataset)) - len(preds)
        warned = err.count("will receive score 0.")
        if warned != n_missing:
            print(f"  {name}: expected {n_missing} 'Unanswered question' warnings, got {warned}")
            ok = False
    return ok


def check_v2(mtl, dataset, workdir):
    data = json.loads(json.dumps(dataset))
    k = 0
    for art in data:
        for par in art["paragraphs"]:
            for qa in par["qas"]:
                if k % 4 == 0:
                    qa["plausible_answers"], qa["answers"], qa["is_impossible"] = qa["answers"], [], True
                else:
                    qa["is_impossible"] = False
                k += 1
    data_path = os.path.join(workdir, "v2.json")
    with open(data_path, "w", encoding="utf-8") as f:
        json.dump({"version": "v2.0", "data": data}, f)
    ok = True
    rng = random.Random(99)
    for name, preds in make_prediction_sets(data, seed=7).items():
        if name == "missing10":
            continue  # the official v2.0 script cannot score missing ids
        for qid in list(preds):
            if rng.random() < 0.3:
                preds[qid] = ""
        path = os.path.join(workdir, f"pred_v2_{name}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(preds, f)
        c, _ = run_mtl(mtl, data_path, path)
        ok &= compare("v2:" + name, c, evaluate_v2(data, preds))
    return ok


def check_normalize(dataset, workdir):
    so = os.path.join(workdir, "libsquadeval.so")
    srcs = [os.path.join(REPO, "impl", f) for f in ("metrics/squad_eval.c", "data/squad.c", "base/jsonr.c", "base/util.c")]
    layers = [os.path.join(REPO, "impl", d) for d in sorted(os.listdir(os.path.join(REPO, "impl")))]
    cmd = ["cc", "-std=c11", "-D_GNU_SOURCE", "-w", "-O1", "-shared", "-fPIC"] + ["-I" + d for d in layers] + \
          ["-I/usr/include/cjson", "-o", so] + srcs + ["-lcjson", "-lutf8proc", "-lz", "-lm"]
    subprocess.run(cmd, check=True)
    lib = ctypes.CDLL(so)
    lib.squad_normalize_answer.restype = ctypes.c_void_p
    lib.squad_normalize_answer.argtypes = [ctypes.c_char_p]
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]
    texts = ["\u0130stanbul", "\u039f\u0394\u039f\u03a3", "\u039f\u0394\u039f\u03a3.", "\u03a3",
             "a\u03a3\u0301b", "A\u03a3'", "th\u00e9 a", "the\u0301 an", "a\u0301 the", "_the_ a_",
             "an\u00a0the\u2003a\u200bthe", "\u00c0 la the", "l'a the", "x\u3000a\u3000y", "\u2167 \u216f",
             "\u01c5 \u1e9e \u0149", "THE An A", "a-b an.c", "the\u0663", "\u00aa\u03a3"]
    for context, qa in questions(dataset):
        texts.append(context)
        texts.append(qa["question"])
        texts.extend(a["text"] for a in qa["answers"])
    bad = 0
    seen = set()
    for t in texts:
        if t in seen:
            continue
        seen.add(t)
        p = lib.squad_normalize_answer(t.encode("utf-8"))
        got = ctypes.string_at(p).decode("utf-8")
        libc.free(p)
        want = normalize_answer(t)
        if got != want:
            bad += 1
            if bad <= 5:
                print(f"  normalize differs: {t[:60]!r}: python {want[:60]!r} C {got[:60]!r}")
    print(f"  normalize_answer: {len(seen) - bad}/{len(seen)} distinct strings equal")
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mtl", default=os.path.join(REPO, "build", "mtl"))
    ap.add_argument("--data", default=None, help="default: squad/dev-v1.1.json.gz in the datasets dirs")
    ap.add_argument("--workdir", default="/tmp/squad_eval_check")
    ap.add_argument("--no-normalize", action="store_true")
    a = ap.parse_args()
    a.data = a.data or find_data("squad/dev-v1.1.json.gz")
    os.makedirs(a.workdir, exist_ok=True)
    opener = gzip.open if a.data.endswith(".gz") else open
    with opener(a.data, "rt", encoding="utf-8") as f:
        dataset = json.load(f)["data"]
    ok = check_v1(a.mtl, dataset, a.data, a.workdir)
    ok &= check_v2(a.mtl, dataset, a.workdir)
    if not a.no_normalize:
        ok &= check_normalize(dataset, a.workdir)
    print("ALL EQUAL" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
