#!/usr/bin/env python3
"""predict_single_pass.py — what the single encoder pass of `mtl predict` costs
NER: the entities of each SQuAD dev context taken from the QA windows'
encoder output ([CLS] question [SEP] context [SEP], token type 1) against
NER run on the bare context (windows of the context alone, type 0), both by
the same multi-task model.

There is no gold NER for SQuAD, so the bare-context entities are the
reference: the figures are the share of contexts whose entity sets are
identical, and the entity-level precision / recall / F1 of the single pass
against them (an entity = type + character span).

    python3 bench/predict_single_pass.py --model runs/pretrained/mtl/seed-1 \
        [--mtl build/mtl] [--questions 300] [--out runs/pretrained/predict-single-pass.json]

Exits 1 if mtl predict fails or a line gets an error object.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from predict_inputs import mtl_predict, squad_questions  # noqa: E402


def entity_set(obj):
    return {(e["type"], e["start"], e["end"]) for e in obj.get("entities", [])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--mtl", default="build/mtl")
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out")
    a = ap.parse_args()
    qs = [(q["id"], q["question"], q["context"]) for q in squad_questions(a.questions)]
    single = mtl_predict(a.mtl, a.model, [{"id": i, "question": q, "context": c} for i, q, c in qs],
                         ["--threads", str(a.threads)])
    bare = mtl_predict(a.mtl, a.model, [{"id": i, "text": c} for i, _, c in qs], ["--threads", str(a.threads)])
    same = tp = n_single = n_bare = 0
    for s, b in zip(single, bare):
        es, eb = entity_set(s), entity_set(b)
        same += es == eb
        tp += len(es & eb)
        n_single += len(es)
        n_bare += len(eb)
    p = tp / n_single if n_single else 0.0
    r = tp / n_bare if n_bare else 0.0
    version = subprocess.run([a.mtl, "version"], capture_output=True, text=True).stdout.split()
    res = {"model": a.model, "questions": len(qs), "contexts_identical": same, "share_identical": same / len(qs),
           "entities_single_pass": n_single, "entities_bare": n_bare, "matched": tp,
           "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
           "mtl_commit": version[2] if len(version) > 2 else None}
    print("single pass vs bare context, %d SQuAD dev questions: identical entity sets on %d (%.1f%%); "
          "entity P/R/F1 %.2f / %.2f / %.2f (%d vs %d entities)" %
          (len(qs), same, 100 * same / len(qs), 100 * p, 100 * r, 100 * res["f1"], n_single, n_bare))
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            json.dump(res, f, indent=1)
        os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
