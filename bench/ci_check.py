#!/usr/bin/env python3
"""ci_check.py — the figures check of `make bench-ci` (bench/bench_ci.sh) on its
runs under OUT (ner, qa, mtl, mtl-gradnorm):

  1. every run learned: its final training loss (mean of the last steps) is
     below the loss of its first step;
  2. GradNorm's learned weights moved away from 1/1 and kept summing to 2;
  3. the headline figures (dev/test F1, EM, final losses) of ner, qa and mtl
     are within the tolerances of the baseline of what was recorded there.

The tolerances live only in the baseline (its "tolerances": loss_rel, f1_abs
and "why", the justification); --update rewrites the figures and the
recording machine of the baseline from these runs and keeps its tolerances.

    python3 bench/ci_check.py OUT bench/baselines/ci-tiny.json [--update]
Exit status 0 when every check passes. Standard library only.
"""
import argparse
import json
import math
import sys

# (run, loss key in metrics.json, its column in log.csv)
LEARNING = (("ner", "ner", 2), ("qa", "qa", 3), ("mtl", "ner", 2), ("mtl", "qa", 3),
            ("mtl-gradnorm", "ner", 2), ("mtl-gradnorm", "qa", 3))
GRADNORM_STEPS = 200  # bench_ci.sh's --max-steps


def load(path):
    with open(path) as f:
        return json.load(f)


def log_rows(out, run, name="log.csv"):
    """The data rows of a run's CSV log, split on commas (header dropped)."""
    with open(f"{out}/{run}/{name}") as f:
        return [r.split(",") for r in f.read().splitlines()[1:]]


def first_loss(out, run, col):
    return next(float(r[col]) for r in log_rows(out, run) if r[col])


def final_loss(out, run, key):
    return load(f"{out}/{run}/metrics.json")["final_train_loss"][key]


def figures(out):
    """{run: {figure: value}} of the three main runs, as the baseline stores them."""
    f = {}
    for run in ("ner", "qa", "mtl"):
        m = load(f"{out}/{run}/metrics.json")
        d = {}
        if "ner" in m:
            d["ner_dev_f1"] = m["ner"]["dev"]["f1"]
            d["ner_test_f1"] = m["ner"]["test"]["f1"]
            d["final_loss_ner"] = m["final_train_loss"]["ner"]
        if "qa" in m:
            d["qa_dev_em"] = m["qa"]["dev"]["exact_match"]
            d["qa_dev_f1"] = m["qa"]["dev"]["f1"]
            d["final_loss_qa"] = m["final_train_loss"]["qa"]
        f[run] = d
    return f


def check_learning(out):
    """Every run's final loss below its first step's."""
    ok = True
    for run, key, col in LEARNING:
        a, b = first_loss(out, run, col), final_loss(out, run, key)
        ok &= b < a
        print("   %s %-3s loss %.4f -> %.4f %s" % (run, key, a, b, "ok" if b < a else "DID NOT DECREASE"))
    return ok


def check_gradnorm(out):
    """GradNorm's weights: one row per step, moved from 1/1, summing to 2."""
    w = [tuple(map(float, r[1:3])) for r in log_rows(out, "mtl-gradnorm", "gradnorm.csv")]
    moved = max(abs(a - 1.0) for a, _ in w)
    good = len(w) == GRADNORM_STEPS and moved > 0.05 and all(abs(a + b - 2.0) < 1e-9 for a, b in w)
    print("   mtl-gradnorm weights: %d rows, w_ner %.3f at the end, max |w_ner - 1| %.3f, sum 2: %s"
          % (len(w), w[-1][0], moved, "ok" if good else "FAILED"))
    return good


def within(key, got, want, tol):
    """(ok, limit): final losses get a relative tolerance, scores an absolute one."""
    if got is None or want is None:
        return got == want, 0
    lim = tol["loss_rel"] * abs(want) if key.startswith("final_loss") else tol["f1_abs"]
    return abs(got - want) <= lim, lim


def check_baseline(cur, base):
    """Every figure of the baseline against this run's, within its tolerances."""
    ok = True
    for run, figs in base["figures"].items():
        for k, want in figs.items():
            got = cur.get(run, {}).get(k)
            good, lim = within(k, got, want, base["tolerances"])
            ok &= good
            print("   %-4s %-15s %9.4f  baseline %9.4f  (tolerance %.3f) %s"
                  % (run, k, got if got is not None else math.nan, want if want is not None else math.nan,
                     lim, "ok" if good else "OUT OF TOLERANCE"))
    return ok


def update_baseline(out, cur, path, old):
    """Rewrite the baseline from these runs, keeping its tolerances."""
    if not old or "tolerances" not in old:
        sys.exit("bench-ci: %s has no \"tolerances\" to keep; write them there first "
                 "(loss_rel, f1_abs, why)" % path)
    mf = load(f"{out}/mtl/manifest.json")
    rec = {k: mf.get(k) for k in ("git_commit", "compiler", "cflags", "blas", "cpu_model", "threads")}
    with open(path, "w") as f:
        json.dump({"preset": "tiny", "recorded_with": rec, "tolerances": old["tolerances"], "figures": cur},
                  f, indent=2)
    print("   wrote baseline %s" % path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="bench-ci's runs root")
    ap.add_argument("baseline", help="the baseline JSON (figures and tolerances)")
    ap.add_argument("--update", action="store_true", help="rewrite the baseline's figures from these runs")
    args = ap.parse_args()
    try:
        base = load(args.baseline)
    except OSError:
        base = None
    cur = figures(args.out)
    ok = check_learning(args.out)
    ok &= check_gradnorm(args.out)
    if args.update:
        update_baseline(args.out, cur, args.baseline, base)
    elif base is None:
        sys.exit("bench-ci: no baseline %s (record one with bash bench/bench_ci.sh --update-baseline)"
                 % args.baseline)
    else:
        ok &= check_baseline(cur, base)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
