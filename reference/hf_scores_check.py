#!/usr/bin/env python3
"""hf_scores_check.py — fidelity check (c): with dropout on, over the same seeds,
do our fine-tunes score as transformers' fine-tunes of the same checkpoint do?

    python3 reference/hf_scores_check.py [--runs runs/pretrained] [--tol 0.5]
        [--json runs/fidelity/c-scores.json]

Reads what `make bench` (HF=1) left in --runs:
  TASK/seed-S/metrics.json                 our fine-tune (mtl train), scored by itself
  hf/TASK/seed-S/eval/{ner,qa}/metrics.json  transformers' fine-tune of the same
      checkpoint on the same batches, in the same order, with the same initial heads,
      optimiser and schedule (reference/finetune_hf.py train), scored by `mtl eval`
      (the same tokeniser, decoder and scorer as ours)
  hf/TASK/seed-S/model/hf_train.json       its wall time and peak RSS

For every task and score (NER: CoNLL-2003 test F1, dev F1; QA: SQuAD dev F1, EM)
the check passes when |mean(ours) - mean(transformers)| <= --tol AND is smaller
than the larger of the two seed standard deviations (issue #11 (c)). Only seeds
present on both sides count; fewer than 2 is an input error. A score neither side
has (--no-test) is skipped; one side only fails.

Exit status: 0 pass, 1 fail, 2 bad input (nothing to compare).
"""
import argparse
import datetime as dt
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reports"))
from loading import read_json  # noqa: E402

TASKS = ("ner", "qa", "mtl")
SCORES = {"ner": [("ner", "test", "f1", "NER test F1"), ("ner", "dev", "f1", "NER dev F1")],
          "qa": [("qa", "dev", "f1", "QA dev F1"), ("qa", "dev", "exact_match", "QA dev EM")]}


def dig(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or d.get(k) is None:
            return math.nan
        d = d[k]
    try:
        return float(d)
    except (TypeError, ValueError):
        return math.nan


def heads_of(task):
    return ("ner", "qa") if task == "mtl" else (task,)


def paired_runs(root, task):
    """[(seed, our metrics, {head: transformers metrics}, hf_train record)] for the seeds both sides have."""
    out = []
    hf_root = os.path.join(root, "hf", task)
    if not os.path.isdir(hf_root):
        return out
    for name in sorted(os.listdir(hf_root)):
        if not name.startswith("seed-"):
            continue
        ours = read_json(os.path.join(root, task, name, "metrics.json"))
        theirs = {h: read_json(os.path.join(hf_root, name, "eval", h, "metrics.json")) for h in heads_of(task)}
        rec = read_json(os.path.join(hf_root, name, "model", "hf_train.json"))
        if ours and rec and all(theirs.values()):
            out.append((name[5:], ours, theirs, rec))
    return out


def mean_std(xs):
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return math.nan, math.nan
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def compare(root, tol):
    """{task: [row]}, row = dict(score, ours (mean, std), theirs (mean, std), diff, pass)."""
    result = {}
    for task in TASKS:
        pairs = paired_runs(root, task)
        if not pairs:
            continue
        rows = []
        for head in heads_of(task):
            for k1, k2, k3, label in SCORES[head]:
                ours = mean_std([dig(p[1], k1, k2, k3) for p in pairs])
                theirs = mean_std([dig(p[2][head], k1, k2, k3) for p in pairs])
                if math.isnan(ours[0]) and math.isnan(theirs[0]):
                    continue  # scored by neither (e.g. --no-test)
                d = ours[0] - theirs[0]
                big = max(ours[1], theirs[1])
                ok = abs(d) <= tol and (abs(d) < big or d == 0)  # NaN (one side only) fails
                rows.append({"score": label, "ours": ours, "theirs": theirs, "diff": d, "larger_std": big,
                             "pass": bool(ok), "seeds": [p[0] for p in pairs]})
        result[task] = rows
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default="runs/pretrained", help="make bench's OUT (default runs/pretrained)")
    ap.add_argument("--tol", type=float, default=0.5, help="max |mean difference| in F1/EM points (default 0.5)")
    ap.add_argument("--json", default="", help="also write the result as one record (runs/fidelity/*.json)")
    args = ap.parse_args(argv)
    res = compare(args.runs, args.tol)
    if not res or any(len(r[0]["seeds"]) < 2 for r in res.values()):
        print(f"hf_scores_check.py: error: {args.runs}: need >= 2 seeds with both our run (TASK/seed-S) and "
              "transformers' (hf/TASK/seed-S, make bench HF=1) for some task", file=sys.stderr)
        return 2
    ok = True
    parts = []
    for task, rows in res.items():
        print(f"{task} ({len(rows[0]['seeds'])} seeds: {','.join(rows[0]['seeds'])}):")
        for r in rows:
            ok &= r["pass"]
            print(f"  {r['score']:<12} ours {r['ours'][0]:6.2f} ± {r['ours'][1]:.2f}   transformers "
                  f"{r['theirs'][0]:6.2f} ± {r['theirs'][1]:.2f}   diff {r['diff']:+.2f} (larger std "
                  f"{r['larger_std']:.2f}, tol {args.tol:g})  {'ok' if r['pass'] else 'FAIL'}")
            parts.append(f"{task} {r['score']} {r['ours'][0]:.2f} vs {r['theirs'][0]:.2f} ({r['diff']:+.2f})")
    print("PASS" if ok else "FAIL")
    if args.json:
        rec = {"check": f"(c) scores of ours vs transformers' fine-tunes, dropout on, "
                        f"{len(next(iter(res.values()))[0]['seeds'])} seeds",
               "command": "python3 reference/hf_scores_check.py " + " ".join(sys.argv[1:] if argv is None else argv),
               "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), "pass": bool(ok),
               "summary": "mean ours vs transformers: " + "; ".join(parts)
                          + f" (pass: |diff| <= {args.tol:g} and < the larger seed std)"}
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json + ".tmp", "w") as f:
            json.dump(rec, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
