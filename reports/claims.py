"""claims.py — the seed report's claims (../shared/seed/report.md, §4-5) set
against recorded runs: one table row per claim, the report's figure next to
what the runs measured. Used for the from-scratch runs (write_results.py) and
the pretrained ones (pretrained_results.py, with the significance tests of
reports/significance.py as verdicts).

The report's figures are quoted here (REPORT_SCORES, REPORT_LAMBDA and the
"the report" column), so the report itself is only needed to say that the
claims are its own: without it (SEED_REPORT=path overrides where it is
looked for) claims_section() says so in one line on stderr and returns None,
and the reports leave the section out.
"""
import math
import os
import re
import subprocess
import sys

from loading import fnum, gradnorm_keys, read_csv
from stats import fmt_p, mean_of, noise_note, rel_change
from tables import table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_REPORT_DEFAULT = "../shared/seed/report.md"  # from the repository's root
SEED_REPORT = os.environ.get("SEED_REPORT") or os.path.join(REPO, SEED_REPORT_DEFAULT)

# What ../shared/seed/report.md states (section 5), quoted so that each can be
# set against these runs. These are the report's figures, not ours: every
# "these runs" cell below is computed from the recorded runs.
REPORT_SCORES = {"ner_single": 93.1, "ner_mtl": 92.3, "qa_f1_single": 84.7, "qa_f1_mtl": 85.1,
                 "qa_em_single": 73.9, "qa_em_mtl": 74.3}
REPORT_LAMBDA = {"2/1": (+2.1, -3.4), "1/2": (-1.8, +1.9)}  # % change of NER, QA vs 1/1
CONV_FACTOR = 1.2  # "converged": the moving average is within 20% of the single-task final value

SCRATCH_SETTING = {
    "time_note": "same number of optimiser steps; a multi-task step runs both tasks' batches",
    "absolute": "not comparable (from scratch, preset `{preset}`, no pretrained weights)",
    "lead": "The figures of `../shared/seed/report.md` (§5), set against these runs. The report fine-tunes "
            "pretrained BERT-base; these runs train from scratch, so only the relative effects can be "
            "compared, and only where the differences are larger than the seed-to-seed spread.",
}


def seed_report_present():
    """True when the seed report is there; else one line on stderr."""
    if os.path.isfile(SEED_REPORT):
        return True
    print("%s: no seed report (%s): the section on its claims is left out" % (
        os.path.basename(sys.argv[0]), os.environ.get("SEED_REPORT") or SEED_REPORT_DEFAULT), file=sys.stderr)
    return False


def pct(x):
    """A relative change as '+1.2%' ('–' for NaN)."""
    return "–" if math.isnan(x) else "%+.1f%%" % x


def base_head_params(mtl):
    """Parameter counts of the report's model (BERT-base with the two linear
    heads) from `mtl model-info --preset base`, or None."""
    if not mtl or not os.access(mtl, os.X_OK):
        return None
    try:
        out = subprocess.run([mtl, "model-info", "--preset", "base"], capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    nums = {}
    for key, pat in (("encoder", r"^\s*encoder\s+(\d+)"), ("ner", r"NER head\s+(\d+)"),
                     ("qa", r"QA head\s+(\d+)"), ("total", r"^\s*total\s+(\d+)")):
        m = re.search(pat, out, re.M)
        if not m:
            return None
        nums[key] = int(m.group(1))
    return nums


def loss_ma(run, col, window=100):
    """(step, moving average of the last `window` logged values of a loss column)."""
    path = os.path.join(run.path, "log.csv")
    if not os.path.exists(path):
        return []
    pts = [(int(r["step"]), float(r[col])) for r in read_csv(path) if r.get(col)]
    out, acc = [], 0.0
    for i, (step, v) in enumerate(pts):
        acc += v
        if i >= window:
            acc -= pts[i - window][1]
        if i >= window - 1:
            out.append((step, acc / window))
    return out


def convergence_text(single_runs, mtl_runs, task):
    """Steps until the 100-step moving average of the task's training loss
    first reaches CONV_FACTOR x the single-task run's final value, single-task
    vs multi-task, mean over the seeds both have."""
    col = "loss_" + task
    by_seed = {r.config.get("seed"): r for r in mtl_runs}
    s_steps, m_steps, m_final, s_final, never = [], [], [], [], 0
    for r in single_runs:
        m = by_seed.get(r.config.get("seed"))
        cs, cm = loss_ma(r, col), loss_ma(m, col) if m else []
        if not cs or not cm:
            continue
        thr = CONV_FACTOR * cs[-1][1]
        a = next((st for st, v in cs if v <= thr), None)
        b = next((st for st, v in cm if v <= thr), None)
        s_final.append(cs[-1][1])
        m_final.append(cm[-1][1])
        if b is None:
            never += 1
        elif a is not None:
            s_steps.append(a)
            m_steps.append(b)
    if never:
        return "%s: the multi-task run never gets there in %d of %d seeds (final %.3f vs %.3f)" % (
            task.upper(), never, len(s_final), sum(m_final) / len(m_final), sum(s_final) / len(s_final))
    if not s_final:
        return "%s: fewer logged steps than the 100-step window" % task.upper()
    if not s_steps:
        return "%s: no log" % task.upper()
    a, b = sum(s_steps) / len(s_steps), sum(m_steps) / len(m_steps)
    return "%s: %.0f → %.0f steps (%+.0f%%, %d seeds)" % (task.upper(), a, b, 100 * (b - a) / a, len(s_steps))


def claim_verdict(claimed, test):
    """'supported' / 'contradicted' when both tests of reports/significance.py give p < 0.05 and the
    difference has the claimed / the opposite sign; else 'not significant'. test: {"boot", "welch"}."""
    import significance as sg
    if sg.verdict(test["boot"], test["welch"]) != "significant":
        return "not significant"
    return "supported" if (claimed > 0) == (test["boot"]["diff"] > 0) else "contradicted"


def same_seeds(base, runs):
    """The runs of base with the seeds of runs (all of base when none match): a one-seed
    ablation is compared with the main run of its seed, not with the mean over other seeds."""
    seeds = {r.config.get("seed") for r in runs}
    return [r for r in base if r.config.get("seed") in seeds] or base


# ----------------------------------------------------------------- the rows

def score_rows(ner, qa, mtl, tests):
    """Multi-task vs single-task on NER F1, QA F1 and QA EM."""
    R = REPORT_SCORES
    rows = []
    for label, key, rs, rm, single in (
            ("NER F1, multi-task vs single-task", "ner_test_f1", R["ner_single"], R["ner_mtl"], ner),
            ("QA F1, multi-task vs single-task", "qa_dev_f1", R["qa_f1_single"], R["qa_f1_mtl"], qa),
            ("QA EM, multi-task vs single-task", "qa_dev_em", R["qa_em_single"], R["qa_em_mtl"], qa)):
        ours_s, ours_m = mean_of(single, key), mean_of(mtl, key)
        t = (tests or {}).get(key)
        verdict = (" — **%s** (bootstrap p %s, Welch p %s)" % (
            claim_verdict(rm - rs, t), fmt_p(t["boot"]["p"]), fmt_p(t["welch"]["p"])) if t and t.get("welch") else "")
        rows.append([label, "%.1f → %.1f (%+.1f points)" % (rs, rm, rm - rs),
                     "%.2f → %.2f (%+.2f points, %s relative) %s%s" % (
                         ours_s, ours_m, ours_m - ours_s, pct(rel_change(ours_m, ours_s)),
                         noise_note(single, mtl, [(key, "")]), verdict)])
    return rows


def absolute_row(mtl, setting):
    R = REPORT_SCORES
    return ["absolute scores (NER F1 / QA F1 / QA EM)",
            "%.1f / %.1f / %.1f (multi-task; pretrained BERT-base fine-tuned)" % (
                R["ner_mtl"], R["qa_f1_mtl"], R["qa_em_mtl"]),
            "%.2f / %.2f / %.2f: %s" % (
                mean_of(mtl, "ner_test_f1"), mean_of(mtl, "qa_dev_f1"), mean_of(mtl, "qa_dev_em"),
                setting["absolute"].format(preset=mtl[0].config.get("preset")))]


def param_rows(ner, qa, mtl, mtl_bin):
    """Task-specific parameters, and the multi-task model vs two single-task ones."""
    p = mtl[0].params
    enc, heads = fnum(p.get("shared")), fnum(p.get("ner_head")) + fnum(p.get("qa_head"))
    base = base_head_params(mtl_bin)
    base_txt = ("; BERT-base with these heads (`mtl model-info --preset base`): %d task-specific of "
                "%.1fM = %.3f%%" % (base["ner"] + base["qa"], base["total"] / 1e6,
                                    100.0 * (base["ner"] + base["qa"]) / base["total"])) if base else ""
    two = mean_of(ner, "params") + mean_of(qa, "params")
    return [["task-specific parameters (two linear heads)", "0.3M of 110.2M (0.3%); shared 99.7%",
             "%d of %.2fM (%.3f%%) for `%s`%s" % (heads, (enc + heads) / 1e6, 100.0 * heads / (enc + heads),
                                                  mtl[0].config.get("init") or mtl[0].config.get("preset"),
                                                  base_txt)],
            ["parameters of the multi-task model vs two single-task models", "110M vs 2 × 110M",
             "%.2fM vs %.2fM (%.1f%%)" % (mean_of(mtl, "params") / 1e6, two / 1e6,
                                        100 * mean_of(mtl, "params") / two)]]


def cost_rows(ner, qa, mtl, setting):
    """Training time and peak memory, multi-task vs the two single-task runs."""
    t_n, t_q, t_m = mean_of(ner, "train_s"), mean_of(qa, "train_s"), mean_of(mtl, "train_s")
    r_n, r_q, r_m = mean_of(ner, "rss"), mean_of(qa, "rss"), mean_of(mtl, "rss")
    return [["training time, multi-task vs the two single-task runs",
             "67% of combined (§5.1.2), yet 167% of one vs 2 × 100% (§5.2.1) = 83.5%",
             "%.0f s vs %.0f + %.0f s = %.0f%% of combined (%s)" % (
                 t_m, t_n, t_q, 100 * t_m / (t_n + t_q), setting["time_note"])],
            ["memory, multi-task vs the two single-task runs",
             "105% of one vs 2 × 100% (52% less)",
             "peak RSS %.0f MiB vs %.0f + %.0f MiB = %.0f%% of combined, %.0f%% of the larger one" % (
                 r_m / 2 ** 20, r_n / 2 ** 20, r_q / 2 ** 20, 100 * r_m / (r_n + r_q),
                 100 * r_m / max(r_n, r_q))]]


def lambda_rows(classes, mtl):
    """Each λ ablation the report measured, and the best λ of those run."""
    rows = []
    for lam, (cn, cq) in REPORT_LAMBDA.items():
        runs = classes.get("lambda " + lam)
        if not runs:
            continue
        ref = same_seeds(mtl, runs)
        d = lambda key: "%+.2f points (%s)" % (mean_of(runs, key) - mean_of(ref, key),
                                               pct(rel_change(mean_of(runs, key), mean_of(ref, key))))
        rows.append(["λ %s vs 1/1: NER F1, QA F1" % lam, "%+.1f%%, %+.1f%%" % (cn, cq),
                     "%s, %s %s" % (d("ner_test_f1"), d("qa_dev_f1"),
                                    noise_note(runs, ref, [("ner_test_f1", "NER"), ("qa_dev_f1", "QA")]))])
    lam_groups = [v for k, v in classes.items() if k.startswith("lambda ")]
    lam_runs = [("1/1", same_seeds(mtl, [r for g in lam_groups for r in g]))] + \
        [(k[7:], v) for k, v in classes.items() if k.startswith("lambda ")]
    if len(lam_runs) > 1:
        avg = lambda r: (mean_of(r, "ner_test_f1") + mean_of(r, "qa_dev_f1")) / 2
        best = max(lam_runs, key=lambda kv: avg(kv[1]))
        rows.append(["best λ (mean of NER F1 and QA F1)", "balanced 1/1",
                     "%s (%s)" % (best[0], ", ".join("%s: %.2f" % (k, avg(v)) for k, v in lam_runs))])
    return rows


def gradnorm_row(classes, mtl):
    """GradNorm against its control, static λ 1/1 with joint sampling ("control: joint
    sampling", when the main multi-task runs sample otherwise)."""
    gn = [classes[k] for k in gradnorm_keys(classes)]
    ctrl = classes.get("control: joint sampling") or mtl
    if not gn:
        found = "implemented (`--loss-weighting gradnorm`); no run recorded"
    else:
        found = ("implemented from the paper (gradient norms of the last shared weight); "
                 "see the loss-weighting ablation: static λ 1/1, %s sampling → NER %.2f, QA F1 %.2f; " % (
                     ctrl[0].config.get("sampling"), mean_of(ctrl, "ner_test_f1"), mean_of(ctrl, "qa_dev_f1"))
                 + "; ".join("GradNorm α %g → NER %.2f, QA F1 %.2f (%d seed(s))" % (
                     fnum(r[0].config.get("gradnorm-alpha")), mean_of(r, "ner_test_f1"),
                     mean_of(r, "qa_dev_f1"), len(r)) for r in gn))
    return ["GradNorm loss balancing (§4.2.1)",
            "snippet: weights ∝ (L/L0)^-α, gradient norms computed and not used", found]


SWEEP_CLAIMS = {
    "shared": ("sharing optimal at 10 of 12 layers", "§5.1.3: 10 of 12 shared layers best",
               "shared layers", "`--shared-layers K`: ablation `make bench ABLATIONS=1 ABLATION_KINDS=shared`"),
    "dropout": ("dropout 0.1 best", "§5.1.3: dropout 0.1 best", "dropout",
                "ablation `make bench ABLATIONS=1 ABLATION_KINDS=dropout`"),
}


def sweep_verdict(claimed, tests):
    """'supported' when every other value is significantly worse than the claimed one on NER test F1
    or QA dev F1 and better on neither; 'contradicted' when some value is significantly better on one
    and not significantly worse on the other; else 'not significant'. tests: {value: {metric: test of
    value's runs against the claimed value's runs}}."""
    import significance as sg
    better_any, all_worse = False, bool(tests)
    for t in tests.values():
        sig = {k: sg.verdict(v["boot"], v["welch"]) == "significant" for k, v in t.items() if v.get("welch")}
        up = [k for k in ("ner_test_f1", "qa_dev_f1") if sig.get(k) and t[k]["boot"]["diff"] > 0]
        down = [k for k in ("ner_test_f1", "qa_dev_f1") if sig.get(k) and t[k]["boot"]["diff"] < 0]
        better_any |= bool(up) and not down
        all_worse &= bool(down) and not up
    return "contradicted" if better_any else "supported" if all_worse else "not significant"


def sweep_row(kind, sweep):
    """One sweep (dropout, or how many layers are shared) against the report's best value: every
    value's mean NER test F1 and QA dev F1, and each value against the claimed one (significance)."""
    claim, report, what, how = SWEEP_CLAIMS[kind]
    if not sweep:
        return [claim, report, "not run yet (%s)" % how]
    claimed, parts = sweep["claimed"], []
    for v, runs in sweep["points"]:
        parts.append("%g%s: NER %.2f, QA F1 %.2f (%d seed(s))" % (
            v, " (claimed)" if v == claimed else "", mean_of(runs, "ner_test_f1"), mean_of(runs, "qa_dev_f1"), len(runs)))
    best = max(sweep["points"], key=lambda p: (mean_of(p[1], "ner_test_f1") + mean_of(p[1], "qa_dev_f1")) / 2)[0]
    untested = [v for v, _ in sweep["points"] if v != claimed and v not in sweep["tests"]]
    verdict = ("**%s** against %g: %s" % (
        sweep_verdict(claimed, sweep["tests"]), claimed,
        "; ".join("%g: NER %s, QA F1 %s" % (v, test_words(t.get("ner_test_f1")), test_words(t.get("qa_dev_f1")))
                  for v, t in sorted(sweep["tests"].items())))
               if sweep["tests"] else "no test yet (it needs ≥ 2 seeds of a value next to the claimed one, and the runs' prediction files)")
    if untested and sweep["tests"]:
        verdict += "; untested (< 2 seeds): %s" % ", ".join("%g" % v for v in untested)
    return [claim, report, "%s: %s. Best mean of NER and QA F1: %s %g. %s" % (
        what, "; ".join(parts), what, best, verdict)]


def test_words(t):
    """'+0.31 (p 0.12 / 0.40)': B − A with the bootstrap and Welch p-values."""
    if not t or not t.get("welch"):
        return "–"
    return "%+.2f (p %s / %s)" % (t["boot"]["diff"], fmt_p(t["boot"]["p"]), fmt_p(t["welch"]["p"]))


def claims_section(classes, mtl_bin, setting=SCRATCH_SETTING, tests=None, sweeps=None, extra_rows=()):
    """The seed report's claims against the runs of `classes` ({"ner", "qa", "mtl",
    "lambda a/b", "gradnorm ..."} -> runs); `setting` words the absolute-score row
    and the lead paragraph for from-scratch or pretrained runs. tests: optional
    {"ner_test_f1" | "qa_dev_f1" | "qa_dev_em": significance of multi-task vs
    single-task} (reports/significance.py) for a verdict on those claims.
    sweeps: optional {"dropout" | "shared": pretrained_results.sweep_claims()'s entry}.
    extra_rows: more [claim, the report, these runs] rows (e.g. lora_results.lora_claim_row).
    None without the three main models or without the seed report."""
    ner, qa, mtl = classes.get("ner"), classes.get("qa"), classes.get("mtl")
    if not (ner and qa and mtl) or not seed_report_present():
        return None
    rows = score_rows(ner, qa, mtl, tests) + [absolute_row(mtl, setting)]
    rows += param_rows(ner, qa, mtl, mtl_bin) + cost_rows(ner, qa, mtl, setting)
    rows += lambda_rows(classes, mtl) + [gradnorm_row(classes, mtl)]
    rows.append(["convergence speed, multi-task vs single-task", "23% faster (§5.1.2)",
                 "steps until the 100-step moving average of the training loss first reaches "
                 "%.1f× the single-task run's final value: %s; %s" % (
                     CONV_FACTOR, convergence_text(qa, mtl, "qa"), convergence_text(ner, mtl, "ner"))])
    rows += [sweep_row(kind, (sweeps or {}).get(kind)) for kind in ("shared", "dropout")]
    rows += list(extra_rows)
    return "\n".join([setting["lead"], "", table(["claim", "the report", "these runs"], rows)])
