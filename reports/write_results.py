#!/usr/bin/env python3
"""write_results.py — turn recorded runs into gnuplot data files and RESULTS.md.

No training happens here: it only reads run directories written by `mtl train`
(config.json, metrics.json, params.json, memory.json, timing.json, manifest.json,
log.csv, eval.csv) and, when present, the kernel microbenchmark CSVs.

    python3 reports/write_results.py --runs runs/bench --data reports/data \
        --results RESULTS.md

A *group* is a directory holding seed-*/ runs (mtl train --seeds) or a single
run directory. Groups are classified from their config.json:
    ner / qa          single-task runs
    mtl               multi-task, joint sampling, lambda 1/1
    lambda a/b        multi-task, joint sampling, other lambdas (ablation)
    sampling S        multi-task, lambda 1/1, other strategies (ablation)
    gradnorm a=A      multi-task, joint, GradNorm loss weighting with alpha A
Standard library only.
"""
import argparse
import csv
import datetime as dt
import json
import math
import os
import re
import sys


# ----------------------------------------------------------------- reading

def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_csv(path):
    """Rows of a CSV as dicts; leading "# ..." lines (provenance) are skipped."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(line for line in f if not line.startswith("#")))
    except OSError:
        return []


def csv_provenance(path):
    """The text of a CSV's leading "# ..." lines (empty if none)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                if not line.startswith("#"):
                    break
                out.append(line[1:].strip())
    except OSError:
        pass
    return " ".join(out)


def fnum(x):
    """float or NaN for empty / missing / null values."""
    try:
        return float(x) if x not in (None, "") else math.nan
    except (TypeError, ValueError):
        return math.nan


class Run:
    def __init__(self, path):
        self.path = path
        self.config = read_json(os.path.join(path, "config.json")) or {}
        self.metrics = read_json(os.path.join(path, "metrics.json")) or {}
        self.params = read_json(os.path.join(path, "params.json")) or {}
        self.memory = read_json(os.path.join(path, "memory.json")) or {}
        self.timing = read_json(os.path.join(path, "timing.json")) or {}
        self.manifest = read_json(os.path.join(path, "manifest.json")) or {}
        self.log = read_csv(os.path.join(path, "log.csv"))
        self.eval = read_csv(os.path.join(path, "eval.csv"))

    def get(self, *keys):
        d = self.metrics
        for k in keys:
            if not isinstance(d, dict) or d.get(k) is None:
                return math.nan
            d = d[k]
        return fnum(d)


def find_groups(root):
    """{group_dir: [Run, ...]} for every run (dir with metrics.json) under root;
    symbolic links to run directories are followed (runs gathered from elsewhere)."""
    groups = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        if "metrics.json" not in filenames:
            continue
        base = os.path.basename(dirpath)
        group = os.path.dirname(dirpath) if base.startswith("seed-") else dirpath
        groups.setdefault(group, []).append(Run(dirpath))
    return groups


def classify(runs):
    c = runs[0].config
    task = c.get("task", "?")
    if task in ("ner", "qa"):
        return task
    lam = (fnum(c.get("lambda-ner", 1)), fnum(c.get("lambda-qa", 1)))
    samp = c.get("sampling", "joint")
    if c.get("loss-weighting", "static") == "gradnorm":
        label = "gradnorm α=%g" % fnum(c.get("gradnorm-alpha"))
        return label if lam == (1.0, 1.0) else label + " from λ %g/%g" % lam
    if samp == "joint" and lam == (1.0, 1.0):
        return "mtl"
    if samp == "joint":
        return "lambda %g/%g" % lam
    if lam == (1.0, 1.0):
        return "sampling " + samp
    return "mtl %s lambda %g/%g" % (samp, lam[0], lam[1])


# ----------------------------------------------------------------- statistics

def mean_std(values):
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return math.nan, math.nan, 0
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s, len(v)


def pm(values, digits=2, scale=1.0):
    m, s, n = mean_std([x * scale for x in values])
    if n == 0:
        return "–"
    if n == 1:
        return "%.*f" % (digits, m)
    return "%.*f ± %.*f" % (digits, m, digits, s)


def moving_average(xs, w):
    """Trailing mean over the last w finite values (NaN where none yet)."""
    out, window = [], []
    for x in xs:
        if not math.isnan(x):
            window.append(x)
            if len(window) > w:
                window.pop(0)
        out.append(sum(window) / len(window) if window else math.nan)
    return out


# ----------------------------------------------------------------- data files

def fmt(x):
    return "NaN" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.9g" % x


def write_dat(path, header, rows):
    with open(path + ".tmp", "w") as f:
        f.write("# " + "\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(c if isinstance(c, str) else fmt(c) for c in r) + "\n")
    os.replace(path + ".tmp", path)


def curve_rows(run):
    """step, smoothed NER / QA / weighted-total training loss, lr."""
    log = run.log
    if not log:
        return []
    ner = [fnum(r["loss_ner"]) for r in log]
    qa = [fnum(r["loss_qa"]) for r in log]
    ln, lq = fnum(run.config.get("lambda-ner", 1)), fnum(run.config.get("lambda-qa", 1))
    tot = []
    for a, b in zip(ner, qa):
        parts = [w * x for w, x in ((ln, a), (lq, b)) if not math.isnan(x)]
        tot.append(sum(parts) if parts else math.nan)
    w = max(1, len(log) // 50)
    ner_s, qa_s, tot_s = moving_average(ner, w), moving_average(qa, w), moving_average(tot, w)
    return [[fnum(r["step"]), ner_s[i], qa_s[i], tot_s[i], fnum(r["lr"])]
            for i, r in enumerate(log)]


def eval_rows(run):
    """step, NER dev loss, QA dev loss, their lambda-weighted sum: the dev
    evaluations during training (all on the same n sentences / questions);
    the final evaluation on the full sets is left out when its n differs, so
    that one curve never mixes two evaluation sets."""
    dev = [r for r in run.eval if r.get("split") == "dev"]
    if not dev:
        return []
    last = max(int(fnum(r["step"])) for r in dev)
    n_during = {r["task"]: r.get("n") for r in dev if int(fnum(r["step"])) < last}
    by_step = {}
    for r in dev:
        step = int(fnum(r["step"]))
        final_differs = r.get("n") is None or r.get("n") != n_during.get(r["task"])
        if step == last and r["task"] in n_during and final_differs:
            continue  # (eval.csv without the n column: the final rows are left out)
        by_step.setdefault(step, {})[r["task"]] = fnum(r["loss"])
    ln, lq = fnum(run.config.get("lambda-ner", 1)), fnum(run.config.get("lambda-qa", 1))
    rows = []
    for step in sorted(by_step):
        d = by_step[step]
        a, b = d.get("ner", math.nan), d.get("qa", math.nan)
        parts = [w * x for w, x in ((ln, a), (lq, b)) if not math.isnan(x)]
        rows.append([step, a, b, sum(parts) if parts else math.nan])
    return rows


def summary(runs):
    """Means/stds over seeds of the headline numbers of a group."""
    g = lambda *k: [r.get(*k) for r in runs]
    return {
        "ner_test_f1": g("ner", "test", "f1"), "ner_dev_f1": g("ner", "dev", "f1"),
        "qa_dev_f1": g("qa", "dev", "f1"), "qa_dev_em": g("qa", "dev", "exact_match"),
        "params": [fnum(r.params.get("total")) for r in runs],
        "train_s": [fnum(r.timing.get("train_wall_s")) for r in runs],
        "rss": [fnum(r.memory.get("peak_rss_bytes")) for r in runs],
    }


def write_data(groups, classes, data_dir):
    os.makedirs(data_dir, exist_ok=True)
    flags = {}
    for name in ("mtl", "ner", "qa"):
        runs = classes.get(name)
        flags["has_" + name] = 0
        if not runs:
            continue
        rows = curve_rows(runs[0])
        ev = eval_rows(runs[0])
        if rows:
            write_dat(os.path.join(data_dir, "loss_%s.dat" % name),
                      ["step", "ner", "qa", "total", "lr"], rows)
            flags["has_" + name] = 1
        write_dat(os.path.join(data_dir, "eval_%s.dat" % name),
                  ["step", "ner_dev", "qa_dev", "total_dev"], ev or [[0, math.nan, math.nan, math.nan]])
        flags["has_eval_" + name] = 1 if ev else 0
    write_param_data(classes, data_dir, flags)
    write_metric_data(classes, data_dir, flags)
    write_ablation_data(classes, data_dir, flags)
    with open(os.path.join(data_dir, "vars.gp"), "w") as f:
        f.write("# written by reports/write_results.py\n")
        for k in sorted(flags):
            f.write("%s = %s\n" % (k, flags[k]))
    return flags


def write_param_data(classes, data_dir, flags):
    ref = classes.get("mtl") or classes.get("ner") or classes.get("qa")
    flags["has_params"] = 0
    if not ref:
        return
    p = ref[0].params
    emb, per, L = fnum(p.get("embeddings")), fnum(p.get("per_layer")), fnum(p.get("layers"))
    ner_head = fnum(p.get("ner_head"))
    qa_head = fnum(p.get("qa_head"))
    # the head sizes from a single-task run when the reference lacks that head
    for name, key in (("ner", "ner_head"), ("qa", "qa_head")):
        if (fnum(p.get(key)) or 0) == 0 and classes.get(name):
            v = fnum(classes[name][0].params.get(key))
            if key == "ner_head":
                ner_head = v
            else:
                qa_head = v
    rows = [["Embeddings", emb], ["Encoder layers (%d)" % L, per * L],
            ["NER head", ner_head], ["QA head", qa_head]]
    write_dat(os.path.join(data_dir, "params.dat"), ["group", "count"],
              [['"%s"' % a, b] for a, b in rows])
    enc = fnum(p.get("shared"))
    # stacked: shared encoder, task-specific heads
    share = [['"MTL (1 encoder, 2 heads)"', enc / 1e6, (ner_head + qa_head) / 1e6],
             ['"2 single-task models"', 2 * enc / 1e6, (ner_head + qa_head) / 1e6]]
    write_dat(os.path.join(data_dir, "sharing.dat"), ["model", "shared_M", "task_specific_M"], share)
    flags["has_params"] = 1
    flags["preset_label"] = '"%s"' % ref[0].config.get("preset", "?")


def write_metric_data(classes, data_dir, flags):
    rows = []
    for name, label in (("ner", "single-task NER"), ("qa", "single-task QA"), ("mtl", "multi-task")):
        runs = classes.get(name)
        if not runs:
            continue
        s = summary(runs)
        row = ['"%s"' % label]
        for key in ("ner_test_f1", "qa_dev_em", "qa_dev_f1"):
            m, sd, n = mean_std(s[key])
            row += [m, sd]
        rows.append(row)
    flags["has_metrics"] = 1 if rows else 0
    write_dat(os.path.join(data_dir, "metrics.dat"),
              ["model", "ner_f1", "ner_f1_std", "qa_em", "qa_em_std", "qa_f1", "qa_f1_std"],
              rows or [['"none"', 0, 0, 0, 0, 0, 0]])


def write_ablation_data(classes, data_dir, flags):
    def rows_for(prefix, base_label, order, extra_prefix=None):
        rows = []
        keys = [k for k in classes if k.startswith(prefix)]
        labelled = [(base_label, classes["mtl"])] if "mtl" in classes else []
        labelled += [(k[len(prefix):], classes[k]) for k in keys]
        if extra_prefix:
            extra = sorted(k for k in classes if k.startswith(extra_prefix))
            keys += extra
            labelled += [(k.replace("gradnorm α=", "GradNorm α "), classes[k]) for k in extra]
        labelled.sort(key=lambda kv: order(kv[0]))
        for label, runs in labelled:
            s = summary(runs)
            row = ['"%s"' % label]
            for key in ("ner_test_f1", "qa_dev_f1"):
                m, sd, n = mean_std(s[key])
                row += [m, sd]
            rows.append(row)
        return rows, len(keys)

    lam_order = lambda l: {"1/1": 0, "2/1": 1, "1/2": 2}.get(l, 3)
    rows, n = rows_for("lambda ", "1/1", lam_order, "gradnorm ")
    flags["has_ablation_lambda"] = 1 if n else 0
    write_dat(os.path.join(data_dir, "ablation_lambda.dat"),
              ["lambda", "ner_f1", "ner_std", "qa_f1", "qa_std"], rows or [['"none"', 0, 0, 0, 0]])
    samp_order = lambda l: ["joint", "round_robin", "proportional", "temperature"].index(l) \
        if l in ("joint", "round_robin", "proportional", "temperature") else 9
    rows, n = rows_for("sampling ", "joint", samp_order)
    flags["has_ablation_sampling"] = 1 if n else 0
    write_dat(os.path.join(data_dir, "ablation_sampling.dat"),
              ["sampling", "ner_f1", "ner_std", "qa_f1", "qa_std"], rows or [['"none"', 0, 0, 0, 0]])
    write_gradnorm_data(classes, data_dir, flags)


def gradnorm_keys(classes):
    return sorted((k for k in classes if k.startswith("gradnorm ")),
                  key=lambda k: fnum(classes[k][0].config.get("gradnorm-alpha")))


def write_gradnorm_data(classes, data_dir, flags):
    """gradnorm_<i>.dat: step, w_ner, w_qa of the first seed of each GradNorm
    group (every 10th step), and gradnorm_titles.gp naming them."""
    keys = gradnorm_keys(classes)
    flags["n_gradnorm"] = 0
    titles = []
    for key in keys:
        run = classes[key][0]
        path = os.path.join(run.path, "gradnorm.csv")
        if not os.path.exists(path):
            continue
        rows = [[int(r["step"]), float(r["w_ner"]), float(r["w_qa"])]
                for r in read_csv(path) if int(r["step"]) % 10 == 1]
        if not rows:
            continue
        flags["n_gradnorm"] += 1
        write_dat(os.path.join(data_dir, "gradnorm_%d.dat" % flags["n_gradnorm"]),
                  ["step", "w_ner", "w_qa"], rows)
        titles.append("α %g, seed %s" % (fnum(run.config.get("gradnorm-alpha")), run.config.get("seed")))
    with open(os.path.join(data_dir, "gradnorm_titles.gp"), "w") as f:
        f.write("# written by reports/write_results.py\n")
        if titles:
            f.write("array gradnorm_title[%d] = [%s]\n" % (len(titles), ", ".join('"%s"' % t for t in titles)))


# ----------------------------------------------------------------- RESULTS.md

def mib(x):
    return "–" if math.isnan(x) else "%.0f MiB" % (x / 2 ** 20)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def single_vs_multi(classes):
    rows = []
    for name, label in (("ner", "single-task NER"), ("qa", "single-task QA"), ("mtl", "multi-task (joint, λ 1/1)")):
        runs = classes.get(name)
        if not runs:
            continue
        s = summary(runs)
        rows.append([label, len(runs), pm(s["ner_test_f1"]), pm(s["ner_dev_f1"]), pm(s["qa_dev_f1"]),
                     pm(s["qa_dev_em"]), "%.2fM" % (mean_std(s["params"])[0] / 1e6),
                     pm(s["train_s"], 0), pm(s["rss"], 0, 1 / 2 ** 20) + " MiB"])
    if "ner" in classes and "qa" in classes:
        tot = mean_std(summary(classes["ner"])["params"])[0] + mean_std(summary(classes["qa"])["params"])[0]
        rows.append(["two single-task models together", "", "", "", "", "", "%.2fM" % (tot / 1e6), "", ""])
    return table(["model", "seeds", "NER F1 (test)", "NER F1 (dev)", "QA F1 (dev)", "QA EM (dev)",
                  "params", "train time (s)", "peak RSS"], rows)


def per_entity(classes):
    rows = []
    for name in ("ner", "mtl"):
        runs = classes.get(name)
        if not runs:
            continue
        for t in ("PER", "LOC", "ORG", "MISC"):
            vals = lambda k: [r.get("ner", "test", "per_type", t, k) for r in runs]
            rows.append([name, t, pm(vals("precision")), pm(vals("recall")), pm(vals("f1")),
                         "%.0f" % mean_std(vals("support"))[0] if runs else ""])
        rows.append([name, "micro", pm([r.get("ner", "test", "precision") for r in runs]),
                     pm([r.get("ner", "test", "recall") for r in runs]),
                     pm([r.get("ner", "test", "f1") for r in runs]), ""])
        rows.append([name, "macro F1", "", "", pm([r.get("ner", "test", "macro_f1") for r in runs]), ""])
    return table(["model", "entity", "P", "R", "F1", "support"], rows)


def final_weights(runs):
    """'w_ner / w_qa' at the end of training: the lambdas, or GradNorm's
    learned weights (mean over seeds)."""
    c = runs[0].config
    if c.get("loss-weighting", "static") != "gradnorm":
        return "%g / %g (fixed)" % (fnum(c.get("lambda-ner", 1)), fnum(c.get("lambda-qa", 1)))
    wn = mean_std([fnum(r.get("gradnorm", "final_w_ner")) for r in runs])[0]
    wq = mean_std([fnum(r.get("gradnorm", "final_w_qa")) for r in runs])[0]
    return "%.3f / %.3f (learned)" % (wn, wq)


def ablation_table(classes, prefix, base, extra_prefix=None):
    rows = []
    items = ([(base, classes["mtl"])] if "mtl" in classes else []) + \
            [(k[len(prefix):], v) for k, v in sorted(classes.items()) if k.startswith(prefix)]
    if extra_prefix:
        items += [(k.replace("gradnorm α=", "GradNorm α "), classes[k]) for k in gradnorm_keys(classes)]
    for label, runs in items:
        s = summary(runs)
        row = [label, len(runs), pm(s["ner_test_f1"]), pm(s["qa_dev_f1"]), pm(s["qa_dev_em"])]
        if extra_prefix:
            row.append(final_weights(runs))
        rows.append(row)
    head = [prefix.strip(), "seeds", "NER F1 (test)", "QA F1 (dev)", "QA EM (dev)"]
    if extra_prefix:
        head[0] = "loss weighting (λ_ner / λ_qa)"
        head.append("w_ner / w_qa at the end")
    return table(head, rows)


# ------------------------------------------------ the seed report's claims

# What ../shared/seed/report.md states (section 5), quoted so that each can be
# set against these runs. These are the report's figures, not ours: every
# "these runs" cell below is computed from the recorded runs.
REPORT_SCORES = {"ner_single": 93.1, "ner_mtl": 92.3, "qa_f1_single": 84.7, "qa_f1_mtl": 85.1,
                 "qa_em_single": 73.9, "qa_em_mtl": 74.3}
REPORT_LAMBDA = {"2/1": (+2.1, -3.4), "1/2": (-1.8, +1.9)}  # % change of NER, QA vs 1/1


def mean_of(runs, key):
    return mean_std(summary(runs)[key])[0] if runs else math.nan


def rel_change(new, old):
    return 100.0 * (new - old) / old if old and not math.isnan(old) and not math.isnan(new) else math.nan


def noise_ratio(a_runs, b_runs, key):
    """|difference of the means| / the larger seed std (NaN with one seed each)."""
    ma, da, na = mean_std(summary(a_runs)[key])
    mb, db, nb = mean_std(summary(b_runs)[key])
    spread = max([x for x in (da, db) if not math.isnan(x)] or [math.nan])
    return abs(ma - mb) / spread if spread and not math.isnan(spread) else math.nan


def noise_note(a_runs, b_runs, keys_labels):
    """'(3 vs 3 seeds; difference = 4.7x the larger seed std)' for one or more keys."""
    na, nb = len(a_runs), len(b_runs)
    parts = []
    for key, label in keys_labels:
        r = noise_ratio(a_runs, b_runs, key)
        if not math.isnan(r):
            parts.append("%s%.1f×" % (label + " " if label else "", r))
    if not parts:
        return "(%d vs %d seed(s))" % (na, nb)
    return "(%d vs %d seeds; difference = %s the larger seed std)" % (na, nb, ", ".join(parts))


def base_head_params(mtl):
    """Parameter counts of the report's model (BERT-base with the two linear
    heads) from `mtl model-info --preset base`, or None."""
    if not mtl or not os.access(mtl, os.X_OK):
        return None
    import subprocess
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


CONV_FACTOR = 1.2  # "converged": the moving average is within 20% of the single-task final value


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


SCRATCH_SETTING = {
    "time_note": "same number of optimiser steps; a multi-task step runs both tasks' batches",
    "absolute": "not comparable (from scratch, preset `{preset}`, no pretrained weights)",
    "lead": "The figures of `../shared/seed/report.md` (§5), set against these runs. The report fine-tunes "
            "pretrained BERT-base; these runs train from scratch, so only the relative effects can be "
            "compared, and only where the differences are larger than the seed-to-seed spread.",
}


def claim_verdict(claimed, test):
    """'supported' / 'contradicted' when both tests of reports/significance.py give p < 0.05 and the
    difference has the claimed / the opposite sign; else 'not significant'. test: {"boot", "welch"}."""
    import significance as sg
    if sg.verdict(test["boot"], test["welch"]) != "significant":
        return "not significant"
    return "supported" if (claimed > 0) == (test["boot"]["diff"] > 0) else "contradicted"


def claims_section(classes, mtl_bin, setting=SCRATCH_SETTING, tests=None):
    """The seed report's claims against the runs of `classes` ({"ner", "qa", "mtl",
    "lambda a/b", "gradnorm ..."} -> runs); `setting` words the absolute-score row
    and the lead paragraph for from-scratch or pretrained runs. tests: optional
    {"ner_test_f1" | "qa_dev_f1" | "qa_dev_em": significance of multi-task vs
    single-task} (reports/significance.py) for a verdict on those claims."""
    ner, qa, mtl = classes.get("ner"), classes.get("qa"), classes.get("mtl")
    if not (ner and qa and mtl):
        return None
    R = REPORT_SCORES
    rows = []
    f2 = lambda x: "–" if math.isnan(x) else "%+.1f%%" % x
    for label, key, rs, rm, single in (
            ("NER F1, multi-task vs single-task", "ner_test_f1", R["ner_single"], R["ner_mtl"], ner),
            ("QA F1, multi-task vs single-task", "qa_dev_f1", R["qa_f1_single"], R["qa_f1_mtl"], qa),
            ("QA EM, multi-task vs single-task", "qa_dev_em", R["qa_em_single"], R["qa_em_mtl"], qa)):
        ours_s, ours_m = mean_of(single, key), mean_of(mtl, key)
        t = (tests or {}).get(key)
        fp = lambda p: "%.3g" % p if p > 0 else "< 1e-4"
        verdict = (" — **%s** (bootstrap p %s, Welch p %s)" % (
            claim_verdict(rm - rs, t), fp(t["boot"]["p"]), fp(t["welch"]["p"])) if t and t.get("welch") else "")
        rows.append([label, "%.1f → %.1f (%+.1f points)" % (rs, rm, rm - rs),
                     "%.2f → %.2f (%+.2f points, %s relative) %s%s" % (
                         ours_s, ours_m, ours_m - ours_s, f2(rel_change(ours_m, ours_s)),
                         noise_note(single, mtl, [(key, "")]), verdict)])
    rows.append(["absolute scores (NER F1 / QA F1 / QA EM)",
                 "%.1f / %.1f / %.1f (multi-task; pretrained BERT-base fine-tuned)" % (
                     R["ner_mtl"], R["qa_f1_mtl"], R["qa_em_mtl"]),
                 "%.2f / %.2f / %.2f: %s" % (
                     mean_of(mtl, "ner_test_f1"), mean_of(mtl, "qa_dev_f1"), mean_of(mtl, "qa_dev_em"),
                     setting["absolute"].format(preset=mtl[0].config.get("preset")))])
    p = mtl[0].params
    enc, heads = fnum(p.get("shared")), fnum(p.get("ner_head")) + fnum(p.get("qa_head"))
    base = base_head_params(mtl_bin)
    base_txt = ("; BERT-base with these heads (`mtl model-info --preset base`): %d task-specific of "
                "%.1fM = %.3f%%" % (base["ner"] + base["qa"], base["total"] / 1e6,
                                    100.0 * (base["ner"] + base["qa"]) / base["total"])) if base else ""
    rows.append(["task-specific parameters (two linear heads)", "0.3M of 110.2M (0.3%); shared 99.7%",
                 "%d of %.2fM (%.3f%%) for `%s`%s" % (heads, (enc + heads) / 1e6,
                                                      100.0 * heads / (enc + heads),
                                                      mtl[0].config.get("init") or mtl[0].config.get("preset"),
                                                      base_txt)])
    rows.append(["parameters of the multi-task model vs two single-task models", "110M vs 2 × 110M",
                 "%.2fM vs %.2fM (%.1f%%)" % (mean_of(mtl, "params") / 1e6,
                                            (mean_of(ner, "params") + mean_of(qa, "params")) / 1e6,
                                            100 * mean_of(mtl, "params") /
                                            (mean_of(ner, "params") + mean_of(qa, "params")))])
    t_n, t_q, t_m = mean_of(ner, "train_s"), mean_of(qa, "train_s"), mean_of(mtl, "train_s")
    rows.append(["training time, multi-task vs the two single-task runs",
                 "67% of combined (§5.1.2), yet 167% of one vs 2 × 100% (§5.2.1) = 83.5%",
                 "%.0f s vs %.0f + %.0f s = %.0f%% of combined (%s)" % (
                     t_m, t_n, t_q, 100 * t_m / (t_n + t_q), setting["time_note"])])
    r_n, r_q, r_m = mean_of(ner, "rss"), mean_of(qa, "rss"), mean_of(mtl, "rss")
    rows.append(["memory, multi-task vs the two single-task runs",
                 "105% of one vs 2 × 100% (52% less)",
                 "peak RSS %.0f MiB vs %.0f + %.0f MiB = %.0f%% of combined, %.0f%% of the larger one" % (
                     r_m / 2 ** 20, r_n / 2 ** 20, r_q / 2 ** 20, 100 * r_m / (r_n + r_q),
                     100 * r_m / max(r_n, r_q))])
    def same_seeds(base, runs):
        """The runs of base with the seeds of runs (all of base when none match): a one-seed
        ablation is compared with the main run of its seed, not with the mean over other seeds."""
        seeds = {r.config.get("seed") for r in runs}
        return [r for r in base if r.config.get("seed") in seeds] or base

    for lam, (cn, cq) in REPORT_LAMBDA.items():
        runs = classes.get("lambda " + lam)
        if not runs:
            continue
        ref = same_seeds(mtl, runs)
        d = lambda key: "%+.2f points (%s)" % (mean_of(runs, key) - mean_of(ref, key),
                                               f2(rel_change(mean_of(runs, key), mean_of(ref, key))))
        rows.append(["λ %s vs 1/1: NER F1, QA F1" % lam, "%+.1f%%, %+.1f%%" % (cn, cq),
                     "%s, %s %s" % (d("ner_test_f1"), d("qa_dev_f1"), noise_note(runs, ref, [("ner_test_f1", "NER"),
                                                                            ("qa_dev_f1", "QA")]))])
    lam_groups = [v for k, v in classes.items() if k.startswith("lambda ")]
    lam_runs = [("1/1", same_seeds(mtl, [r for g in lam_groups for r in g]))] + \
        [(k[7:], v) for k, v in classes.items() if k.startswith("lambda ")]
    if len(lam_runs) > 1:
        avg = lambda r: (mean_of(r, "ner_test_f1") + mean_of(r, "qa_dev_f1")) / 2
        best = max(lam_runs, key=lambda kv: avg(kv[1]))
        rows.append(["best λ (mean of NER F1 and QA F1)", "balanced 1/1",
                     "%s (%s)" % (best[0], ", ".join("%s: %.2f" % (k, avg(v)) for k, v in lam_runs))])
    gn = [classes[k] for k in gradnorm_keys(classes)]
    # GradNorm samples jointly: its control is static λ 1/1 with joint sampling ("control: joint sampling",
    # when the main multi-task runs sample otherwise)
    ctrl = classes.get("control: joint sampling") or mtl
    rows.append(["GradNorm loss balancing (§4.2.1)",
                 "snippet: weights ∝ (L/L0)^-α, gradient norms computed and not used",
                 ("implemented from the paper (gradient norms of the last shared weight); "
                  "see the loss-weighting ablation: static λ 1/1, %s sampling → NER %.2f, QA F1 %.2f; " % (
                      ctrl[0].config.get("sampling"), mean_of(ctrl, "ner_test_f1"), mean_of(ctrl, "qa_dev_f1"))
                  + "; ".join(
                      "GradNorm α %g → NER %.2f, QA F1 %.2f (%d seed(s))" % (
                          fnum(r[0].config.get("gradnorm-alpha")), mean_of(r, "ner_test_f1"),
                          mean_of(r, "qa_dev_f1"), len(r))
                      for r in gn)) if gn else "implemented (`--loss-weighting gradnorm`); no run recorded"])
    rows.append(["convergence speed, multi-task vs single-task", "23% faster (§5.1.2)",
                 "steps until the 100-step moving average of the training loss first reaches "
                 "%.1f× the single-task run's final value: %s; %s" % (
                     CONV_FACTOR, convergence_text(qa, mtl, "qa"), convergence_text(ner, mtl, "ner"))])
    rows.append(["sharing optimal at 10/12 layers; dropout 0.1 best", "§5.1.3",
                 "not tested: no per-layer sharing or dropout sweep here"])
    return "\n".join([setting["lead"], "", table(["claim", "the report", "these runs"], rows)])


def manifest_lines(groups):
    out = []
    for g in sorted(groups):
        for r in groups[g]:
            m = r.manifest
            files = ", ".join("%s %s…" % (f.get("role"), f.get("sha256", "")[:12])
                              for f in m.get("data_files", []))
            qa_dev = r.metrics.get("qa", {}) or {}
            out.append("- `%s`: commit `%s`%s, %s, BLAS %s, CPU %s, %s threads, device %s%s; "
                       "%s → %s (%.0f s); data: %s" % (
                           r.path, m.get("git_commit", "?"), " (dirty tree)" if m.get("git_dirty") else "",
                           m.get("compiler", "?"), " ".join((m.get("blas") or "?").split(" ")[:2]),
                           m.get("cpu_model", "?"), m.get("threads", "?"), m.get("device", "?"),
                           (", GPU " + m["gpu"]) if m.get("gpu") else "",
                           m.get("start_time", "?"), m.get("end_time", "?"), fnum(m.get("wall_s")), files))
    return "\n".join(out)


def kernels_section(kernel_csvs):
    """One table per bench-kernels CSV, with each op's share of the step's
    summed kernel time (calls * median_us / sum over ops; the peak_* rows have
    calls 0 and are the reference measurements)."""
    parts = ["`pct_peak` is the percentage of this machine's peak measured in the same run: "
             "the large-sgemm GFLOP/s (row peak_sgemm) for GEMM and attention rows, the copy "
             "GB/s of buffers far larger than the caches (row peak_copy) for the others, so an "
             "op whose working set stays in cache can exceed 100%. `share` is calls × median time over the sum for all ops of one step."]
    for path in kernel_csvs:
        rows = read_csv(path)
        if not rows:
            continue
        step_us = sum(fnum(r.get("calls")) * fnum(r.get("median_us")) for r in rows
                      if fnum(r.get("calls")) > 0)
        hdr = ["device", "op", "shape", "calls", "median_us", "share", "gflops", "gbs", "pct_peak"]
        body = []
        for r in rows:
            calls = fnum(r.get("calls"))
            share = "%.1f%%" % (100 * calls * fnum(r.get("median_us")) / step_us) \
                if calls > 0 and step_us > 0 else ""
            body.append([r.get("device", ""), r.get("op", ""), r.get("shape", ""),
                         r.get("calls", ""), fmt_num(r.get("median_us")), share,
                         fmt_num(r.get("gflops")), fmt_num(r.get("gbs")),
                         fmt_num(r.get("pct_peak"))])
        prov = csv_provenance(path)
        parts.append("`%s` (%ssummed kernel time of one step: %.1f ms):\n\n" % (
            path, ("run: " + prov + "; ") if prov else "no provenance line (older CSV); ",
            step_us / 1000) + table(hdr, body))
    return "\n\n".join(parts)


def read_jsonl(path):
    """JSON lines of a bench_step_cmp run; lines that do not parse are reported and skipped."""
    out = []
    with open(path) as f:
        for no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                print("write_results.py: %s:%d: not JSON (%s): skipped" % (path, no, e), file=sys.stderr)
    return out


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if n == 0 else (xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2]))


STEP_SIDES = (("ours", "ours (C)"), ("torch-ref", "PyTorch, reference/model.py"),
              ("torch-hf", "PyTorch, HF BertModel"))


def step_breakdown(runs, key_of, shapes):
    """Where ours' step time goes: per op, the median over rounds of its ms per
    step (bench-step's profile: each op's calls timed back to back), as ms and
    as a share of the summed op time; one column per shape."""
    cols = []
    for key in shapes:
        ours = [r for r in runs if r["side"] == "ours" and key_of(r) == key and r.get("op_ms_per_step")]
        if not ours:
            continue
        ops = {}
        for r in ours:
            for op, ms in r["op_ms_per_step"].items():
                ops.setdefault(op, []).append(fnum(ms))
        med = {op: median(v) for op, v in ops.items()}
        cols.append(("%s %s %s B%s T%s" % (key[0], key[1], "tf32" if key[2] else "fp32", key[3], key[4]),
                     med, sum(med.values())))
    if not cols:
        return ""
    order = sorted(cols[0][1], key=lambda op: -cols[0][1][op])
    body = []
    for op in order:
        cells = []
        for _, med, total in cols:
            ms = med.get(op)
            cells.append("%.2f (%.1f%%)" % (ms, 100 * ms / total) if ms is not None and total else "–")
        if any(med.get(op, 0) >= 0.005 for _, med, _ in cols):
            body.append([op] + cells)
    body.append(["sum of ops"] + ["%.1f" % total for _, _, total in cols])
    return ("Where ours' step time goes (`mtl bench-step` per-op profile, ms per step and share, "
            "median over rounds; matmul and attention are the sgemm-based ops, the rest is "
            "memory- or exp/RNG-bound):\n\n" + table(["op"] + [c[0] for c in cols], body))


def steps_section(step_files):
    """One table per bench_step_cmp JSON-lines file: per shape, the median over
    rounds of each side's median ms/step, ours' model-FLOPs utilisation (model
    FLOPs / median step time / the sgemm peak measured by bench-step in the
    same runs, median over rounds) and the speed ratios torch / ours."""
    parts = []
    for path in step_files:
        recs = read_jsonl(path)
        meta = next((r["meta"] for r in recs if "meta" in r), {})
        runs = [r for r in recs if "side" in r]
        if not runs:
            continue
        key_of = lambda r: (r.get("device"), r.get("preset"), bool(r.get("tf32")),
                            r.get("batch"), r.get("seq"), r.get("threads"))
        shapes = []
        for r in runs:
            if key_of(r) not in shapes:
                shapes.append(key_of(r))
        hdr = ["device", "preset", "math", "B×T", "threads", "rounds"]
        hdr += ["%s ms/step" % label for _, label in STEP_SIDES]
        hdr += ["ours tokens/s", "ours GFLOP/s", "ours MFU", "ref / ours", "HF / ours"]
        body = []
        for key in shapes:
            dev, preset, tf32, B, T, th = key
            mine = [r for r in runs if key_of(r) == key]
            ms = {side: (median([fnum(r.get("ms_median")) for r in mine if r["side"] == side]),
                         sum(r["side"] == side for r in mine)) for side, _ in STEP_SIDES}
            ours = [r for r in mine if r["side"] == "ours"]
            m_ours = ms["ours"][0]
            flops = fnum(ours[0].get("flops_per_step")) if ours else 0
            toks = fnum(ours[0].get("tokens_per_step")) if ours else 0
            peak = median([fnum(r.get("sgemm_peak_gflops")) for r in ours])
            gflops = flops / m_ours / 1e6 if m_ours else None
            ratio = lambda side: "%.2f×" % (ms[side][0] / m_ours) if ms[side][0] and m_ours else "–"
            row = [dev, preset, "tf32" if tf32 else "fp32", "%s×%s" % (B, T), str(th),
                   str(max(n for _, n in ms.values()))]
            row += ["%.1f" % ms[side][0] if ms[side][0] else "–" for side, _ in STEP_SIDES]
            row += ["%.0f" % (toks / m_ours * 1e3) if m_ours else "–",
                    "%.1f" % gflops if gflops else "–",
                    "%.1f%% of %.0f" % (100 * gflops / peak, peak) if gflops and peak else "–",
                    ratio("torch-ref"), ratio("torch-hf")]
            body.append(row)
        # `mtl version` lines joined by ';': "commit: x;compiler: y;..." without the title
        version = ", ".join(re.sub(r"\s+", " ", part).strip()
                            for part in meta.get("mtl_version", "").split(";") if ":" in part)
        parts.append(
            "`%s` (run %s on %s, %s, %s CPU(s)%s; %s; torch %s, transformers %s; %s timed steps "
            "after %s warm-up per run, sides interleaved within each round):\n\n" % (
                path, meta.get("run", "?"), meta.get("host", "?"), meta.get("cpu", "?"),
                meta.get("nproc", "?"),
                ", GPU " + meta["gpu"] if meta.get("gpu", "none") != "none" else "",
                version or "mtl version unknown", meta.get("torch", "?"),
                meta.get("transformers", "?"), meta.get("steps", "?"), meta.get("warmup", "?"))
            + table(hdr, body))
        breakdown = step_breakdown(runs, key_of, shapes)
        if breakdown:
            parts.append(breakdown)
    if not parts:
        return ""
    intro = ("One training step of the multi-task model (one NER and one QA forward/backward pass "
             "of B×T tokens each, gradient clipping, AdamW) timed by `mtl bench-step` and by "
             "`reference/bench_step.py` in PyTorch eager on the same machine with the same threads "
             "(`make bench-step`, bench/bench_step_cmp.sh). Each ms/step is the median over rounds "
             "of each run's median step. MFU = model FLOPs per step (matmuls and attention, "
             "backward = 2× forward) / ours' median step time / the sgemm peak that bench-step "
             "measured in the same runs. A ratio above 1 means ours is faster. The goal set in "
             "issue #2 is ≥ 1.5× PyTorch and ≥ 70% MFU on mini and minilm (CPU); issue #5's "
             "goals on the GPU are ≥ 1.3× PyTorch eager and ≥ 40% of the TF32 peak with --tf32.")
    return "\n\n".join([intro] + parts)


def fmt_num(v):
    """CSV number to 4 significant digits; empty stays empty."""
    if v in (None, ""):
        return ""
    try:
        return "%.4g" % float(v)
    except ValueError:
        return v


def write_results(path, groups, classes, flags, args, figs_dir):
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ref = (classes.get("mtl") or classes.get("ner") or classes.get("qa") or [None])[0]
    c = {k: ("%g" % v if isinstance(v, float) else v) for k, v in (ref.config if ref else {}).items()}
    rel = lambda p: os.path.relpath(p, os.path.dirname(os.path.abspath(path)) or ".")
    fig = lambda name: rel(os.path.join(figs_dir, name))
    lines = [
        "# mtl-bench results",
        "",
        "Generated by `%s` from the runs under `%s` at %s. Do not edit by hand: "
        "rerun `make reports`." % (" ".join(args.command or sys.argv), args.runs, now),
        "",
        "## From scratch (random initialisation)",
        "",
        "**The models of this section are trained from scratch (random initialisation), so absolute "
        "scores are far below published fine-tuned BERT numbers; the section above fine-tunes a "
        "pretrained encoder.**",
        "QA trains on SQuAD v1.1 train, 44-article subset (11,877 questions). SQuAD v1.1 has no public "
        "test set: QA is scored on the official dev set (see each run's metrics.json for whether the "
        "full 10,570 questions or a fixed prefix was used). NER is scored on CoNLL-2003 test "
        "(eng.testb) and dev (eng.testa) with conlleval rules.",
        "",
        "Setup of the main runs: preset `%s`, batch %s, peak lr %s, %s optimiser steps, %s, "
        "dropout %s, seq NER %s / QA %s (stride %s), NER train limit %s, QA train limit %s "
        "(0 = all), QA dev limit %s (0 = full official dev set), %s thread(s), device %s." % (
            c.get("preset"), c.get("batch"), c.get("lr"), ref.metrics.get("steps") if ref else "?",
            ("warmup %s%% of the steps" % ("%g" % (100 * fnum(c.get("warmup-ratio")))))
            if fnum(c.get("warmup-ratio")) >= 0 else "warmup %s steps" % c.get("warmup"),
            c.get("dropout"), c.get("seq-ner"), c.get("seq-qa"), c.get("stride"),
            c.get("ner-train-limit"), c.get("qa-train-limit"), c.get("qa-dev-limit"),
            c.get("threads"), c.get("device")),
        "",
        "## Single-task vs multi-task (mean ± sample std over seeds)",
        "",
        single_vs_multi(classes),
        "",
        "## Dashboard",
        "",
        "![dashboard](%s) ([SVG](%s))" % (fig("dashboard.png"), fig("dashboard.svg")),
        "",
        "## Per-entity scores, CoNLL-2003 test",
        "",
        per_entity(classes),
    ]
    if flags.get("has_ablation_lambda"):
        lines += ["", "## Ablation: loss weighting (fixed λ_ner / λ_qa, and GradNorm)", "",
                  "GradNorm (Chen et al., ICML 2018; `--loss-weighting gradnorm`, impl/gradnorm.h) "
                  "learns the two weights during joint training so that the tasks' gradient norms "
                  "on the last shared weight matrix follow their relative training rates; α sets "
                  "how strongly. α 0.16 is the seed report's value, 1.5 the paper's for NYUv2. "
                  "The weights start at λ 1/1 and keep summing to 2.", "",
                  ablation_table(classes, "lambda ", "1/1", "gradnorm "), "",
                  "![lambda ablation](%s)" % fig("ablation_lambda.png")]
        if flags.get("n_gradnorm"):
            lines += ["", "![GradNorm weights](%s)" % fig("gradnorm_weights.png")]
    if flags.get("has_ablation_sampling"):
        lines += ["", "## Ablation: task sampling", "",
                  ablation_table(classes, "sampling ", "joint"), "",
                  "![sampling ablation](%s)" % fig("ablation_sampling.png")]
    ks = kernels_section(args.kernels)
    if ks:
        lines += ["", "## Kernel microbenchmarks", "", ks]
        if os.path.exists(os.path.join(figs_dir, "kernels.png")):
            lines += ["", "![kernels](%s)" % fig("kernels.png")]
    cs = claims_section(classes, args.mtl)
    if cs:
        lines += ["", "## The seed report's claims, tested", "", cs]
    ss = steps_section(args.steps)
    if ss:
        lines += ["", "## Training step: ours vs PyTorch", "", ss]
    lines += ["", "## Runs (manifest summaries)", "", manifest_lines(groups), ""]
    # the generated sections of the pretrained fine-tuning (reports/pretrained_results.py),
    # data-parallel training (reports/dist_results.py) and bad input / fuzzing
    # (reports/robustness_results.py), first
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.abspath(path) == os.path.abspath("RESULTS.md"):
        for name in ("robustness.md", "dist.md", "pretrained.md"):
            if os.path.exists(os.path.join(here, name)):
                lines[1:1] = ["", open(os.path.join(here, name)).read().rstrip("\n")]
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines))
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default="runs/bench", help="root of the recorded runs")
    ap.add_argument("--data", default="reports/data", help="where the gnuplot .dat files go")
    ap.add_argument("--figs", default="reports", help="where the figures are (for links)")
    ap.add_argument("--results", default=None, help="write RESULTS.md here")
    ap.add_argument("--kernels", nargs="*", default=[], help="bench-kernels CSV files to tabulate")
    ap.add_argument("--steps", nargs="*", default=[],
                    help="bench_step_cmp JSON-lines files (make bench-step) to tabulate")
    ap.add_argument("--command", nargs="*", default=None, help="command to credit in RESULTS.md")
    ap.add_argument("--mtl", default=None,
                    help="the mtl binary: its model-info gives BERT-base's head sizes for the claims table")
    args = ap.parse_args()
    groups = find_groups(args.runs)
    if not groups:
        sys.exit("write_results.py: no runs (directories with metrics.json) under %s; "
                 "run `make bench` (or `make bench-ci`) first" % args.runs)
    classes = {}
    for g in sorted(groups):
        classes.setdefault(classify(groups[g]), groups[g])
    flags = write_data(groups, classes, args.data)
    for g in sorted(groups):
        print("  %-40s %-24s %d run(s)" % (g, classify(groups[g]), len(groups[g])))
    if args.results:
        write_results(args.results, groups, classes, flags, args, args.figs)
        print("wrote %s" % args.results)


if __name__ == "__main__":
    main()
