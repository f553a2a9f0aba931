#!/usr/bin/env python3
"""significance.py — is a difference between two groups of runs (e.g. single-task
vs multi-task NER) more than seed noise and test-set sampling? Two tests:

  paired bootstrap over the evaluation items (Koehn 2004; Berg-Kirkpatrick et
  al. 2012): the test sentences (NER, conlleval chunk counts per sentence) or
  the dev questions (QA, EM/F1 per question) are resampled with replacement
  R times (10,000); in each resample the metric of every run is recomputed on
  the same items and averaged over the group's seeds (the runs' predictions
  pooled per seed), and d = mean_B - mean_A. The 95% interval is the 2.5 and
  97.5 percentiles of d; the two-sided p-value is 2 * min(P(d <= 0), P(d >= 0))
  (capped at 1);

  Welch's t over seeds: t = (mB - mA) / sqrt(sA^2/nA + sB^2/nB), with the
  Welch-Satterthwaite degrees of freedom, the Student-t p-value from the
  regularised incomplete beta function, p = I_{df/(df+t^2)}(df/2, 1/2), and the
  95% interval diff +- t_{0.975, df} * se.

A verdict says "significant" only when both tests give p < 0.05.

    python3 reports/significance.py --self-check     # fixed examples vs second implementations
Used by reports/pretrained_results.py (ner/, qa/, mtl/ seed runs of make bench).
"""
import argparse
import functools
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from conlleval_check import evaluate  # noqa: E402  (conlleval.pl's chunk rules)
from squad_eval_check import em_v1, f1_v1  # noqa: E402  (the official SQuAD v1.1 script's)

RESAMPLES = 10000


# ---- per-item scores ---------------------------------------------------------------------------

def ner_sentence_counts(path):
    """[(correct, guessed, gold) chunk counts] per sentence of a conlleval file (blank line = end).
    Chunks never cross a blank line, so the sums are conlleval's corpus counts."""
    out, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                cur.append(line)
            elif cur:
                c = evaluate(cur)
                out.append((c.correct, c.found_guessed, c.found_correct))
                cur = []
    if cur:
        c = evaluate(cur)
        out.append((c.correct, c.found_guessed, c.found_correct))
    return out


def qa_question_scores(pred_path, golds):
    """{id: (EM, F1)} of a predictions file against golds {id: [answer texts]} (max over answers)."""
    with open(pred_path, encoding="utf-8") as f:
        pred = json.load(f)
    return {q: (max(float(em_v1(p, g)) for g in golds[q]), max(f1_v1(p, g) for g in golds[q]))
            for q, p in pred.items() if q in golds}


def f1_of(counts):
    c, g, o = counts
    p = c / g if g else 0.0
    r = c / o if o else 0.0
    return 100.0 * 2 * p * r / (p + r) if p + r else 0.0


# ---- paired bootstrap --------------------------------------------------------------------------

def resample_weights(n, resamples, seed):
    """A resamples x n matrix: how often each item is drawn in each resample."""
    import numpy as np
    return np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples)


def bootstrap_diffs(a_items, b_items, kind, weights):
    """d per resample: mean over B's seeds - mean over A's seeds of the metric on the weighted items.
    a_items / b_items: per seed, an n x 3 array (ner: counts) or an n array (qa: a per-item score)."""
    import numpy as np

    def metric(items):
        x = np.asarray(items, dtype=np.float64)
        if kind == "ner":
            s = weights @ x  # resamples x 3
            p = np.divide(s[:, 0], s[:, 1], out=np.zeros(len(s)), where=s[:, 1] > 0)
            r = np.divide(s[:, 0], s[:, 2], out=np.zeros(len(s)), where=s[:, 2] > 0)
            return np.divide(200.0 * p * r, p + r, out=np.zeros(len(s)), where=(p + r) > 0)
        return 100.0 * (weights @ x) / x.shape[0]

    a = np.mean([metric(x) for x in a_items], axis=0)
    b = np.mean([metric(x) for x in b_items], axis=0)
    return b - a


def bootstrap_summary(d, observed):
    import numpy as np
    lo, hi = np.percentile(d, [2.5, 97.5])
    p = min(1.0, 2.0 * min(np.mean(d <= 0), np.mean(d >= 0)))
    return {"diff": observed, "ci95": [float(lo), float(hi)], "p": float(p)}


# ---- Welch's t ---------------------------------------------------------------------------------

def betacf(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a, b, x):
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1.0 - x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t, df):
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_quantile_975(df):
    """t with two-sided p = 0.05 (bisection on t_two_sided_p)."""
    lo, hi = 0.0, 1000.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_two_sided_p(mid, df) > 0.05 else (lo, mid)
    return (lo + hi) / 2


def welch(a, b):
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return None
    ma, mb = sum(a) / na, sum(b) / nb
    va = sum((x - ma) ** 2 for x in a) / (na - 1)
    vb = sum((x - mb) ** 2 for x in b) / (nb - 1)
    se2 = va / na + vb / nb
    if se2 == 0:
        return {"diff": mb - ma, "t": math.inf, "df": na + nb - 2, "p": 0.0 if mb != ma else 1.0,
                "ci95": [mb - ma, mb - ma]}
    df = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    t = (mb - ma) / math.sqrt(se2)
    h = t_quantile_975(df) * math.sqrt(se2)
    return {"diff": mb - ma, "t": t, "df": df, "p": t_two_sided_p(abs(t), df), "ci95": [mb - ma - h, mb - ma + h]}


def verdict(boot, w):
    ps = [x["p"] for x in (boot, w) if x]
    if not ps:
        return "?"
    return "significant" if all(p < 0.05 for p in ps) else "not significant"


# ---- comparisons of run groups -------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def squad_dev_golds():
    """{id: [answer texts]} of SQuAD v1.1 dev (found as the C side finds data)."""
    import gzip
    from data_paths import find_data
    path = find_data("squad/dev-v1.1.json")
    with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    return {qa["id"]: [a["text"] for a in qa["answers"]]
            for art in data for par in art["paragraphs"] for qa in par["qas"]}


def compare_ner(a_files, b_files, seed=1):
    """Paired bootstrap + Welch on NER test F1 of two groups of conlleval files (one per seed)."""
    a = [ner_sentence_counts(f) for f in a_files]
    b = [ner_sentence_counts(f) for f in b_files]
    n = len(a[0])
    if any(len(x) != n for x in a + b):
        return None
    fa, fb = [f1_of([sum(c[k] for c in x) for k in range(3)]) for x in a], \
             [f1_of([sum(c[k] for c in x) for k in range(3)]) for x in b]
    d = bootstrap_diffs(a, b, "ner", resample_weights(n, RESAMPLES, seed))
    obs = sum(fb) / len(fb) - sum(fa) / len(fa)
    return {"items": n, "boot": bootstrap_summary(d, obs), "welch": welch(fa, fb)}


def compare_qa(a_files, b_files, golds, which, seed=1):
    """The same for QA dev EM (which = 0) or F1 (which = 1), on the questions every run answered."""
    a = [qa_question_scores(f, golds) for f in a_files]
    b = [qa_question_scores(f, golds) for f in b_files]
    ids = sorted(set.intersection(*[set(x) for x in a + b]))
    if not ids:
        return None
    ax = [[x[q][which] for q in ids] for x in a]
    bx = [[x[q][which] for q in ids] for x in b]
    ma = [100.0 * sum(x) / len(x) for x in ax]
    mb = [100.0 * sum(x) / len(x) for x in bx]
    d = bootstrap_diffs(ax, bx, "qa", resample_weights(len(ids), RESAMPLES, seed))
    obs = sum(mb) / len(mb) - sum(ma) / len(ma)
    return {"items": len(ids), "boot": bootstrap_summary(d, obs), "welch": welch(ma, mb)}


# ---- self-check ----------------------------------------------------------------------------------

def self_check():
    """Fixed examples against second implementations: Student-t against published critical values
    (two-sided 5%: df 1 12.706, df 4 2.776, df 10 2.228, df 30 2.042) and p at t = 0; Welch against a
    hand computation; the vectorised bootstrap against a plain loop on the same resamples."""
    fails = []
    for df, tc in ((1, 12.7062), (4, 2.7764), (10, 2.2281), (30, 2.0423)):
        p = t_two_sided_p(tc, df)
        if abs(p - 0.05) > 2e-4:
            fails.append("t df %d: p(%.4f) = %.6f, want 0.05" % (df, tc, p))
        q = t_quantile_975(df)
        if abs(q - tc) > 2e-3:
            fails.append("t quantile df %d = %.4f, want %.4f" % (df, q, tc))
    if abs(t_two_sided_p(0.0, 7) - 1.0) > 1e-12:
        fails.append("p at t = 0 is not 1")
    # Welch by hand: a = 1,2,3 (mean 2, var 1), b = 4,6,8 (mean 6, var 4): se^2 = 1/3 + 4/3 = 5/3,
    # t = 4 / sqrt(5/3) = 3.0984, df = (5/3)^2 / ((1/3)^2/2 + (4/3)^2/2) = 2.9412
    w = welch([1, 2, 3], [4, 6, 8])
    if abs(w["t"] - 3.098387) > 1e-5 or abs(w["df"] - 2.941176) > 1e-5:
        fails.append("welch t %.6f df %.6f, want 3.098387, 2.941176" % (w["t"], w["df"]))
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is not None:
        rng = np.random.default_rng(5)
        n = 40
        a = [rng.integers(0, 4, size=(n, 3)) for _ in range(2)]
        b = [rng.integers(0, 4, size=(n, 3)) for _ in range(3)]
        wts = resample_weights(n, 200, seed=9)
        fast = bootstrap_diffs(a, b, "ner", wts)
        for r in range(200):  # the same resamples, one at a time, with f1_of on plain sums
            def f1s(runs):
                return sum(f1_of([sum(int(wts[r][i]) * int(x[i][k]) for i in range(n)) for k in range(3)])
                           for x in runs) / len(runs)
            slow = f1s(b) - f1s(a)
            if abs(slow - fast[r]) > 1e-9:
                fails.append("bootstrap resample %d: %.12f vs loop %.12f" % (r, fast[r], slow))
                break
        qa_a, qa_b = [rng.random(n) for _ in range(3)], [rng.random(n) for _ in range(3)]
        fast = bootstrap_diffs(qa_a, qa_b, "qa", wts)
        r = 17
        slow = (sum(100.0 * sum(wts[r][i] * x[i] for i in range(n)) / n for x in qa_b) / 3 -
                sum(100.0 * sum(wts[r][i] * x[i] for i in range(n)) / n for x in qa_a) / 3)
        if abs(slow - fast[r]) > 1e-9:
            fails.append("qa bootstrap %.12f vs loop %.12f" % (fast[r], slow))
    for f in fails:
        print("FAIL", f)
    checks = 12 if np is not None else 10
    print("significance self-check: %d checks, %d failed%s" % (checks, len(fails),
                                                              "" if np is not None else " (numpy absent: bootstrap not checked)"))
    if np is None:
        print("SKIP significance bootstrap: numpy absent")
    # one line in CUnit's shape, for tests/run_tests.sh
    print("Run Summary:    Type  Total    Ran Passed Failed Inactive")
    print("              tests %6d %6d %6d %6d        0" % (checks, checks, checks - len(fails), len(fails)))
    return not fails


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--self-check", action="store_true")
    a = ap.parse_args()
    if a.self_check:
        sys.exit(0 if self_check() else 1)
    ap.print_help()
