"""figures.py — the gnuplot inputs of the from-scratch figures: training and
dev-loss curves, parameter counts, headline metrics, the λ / sampling
ablations and GradNorm's weights as reports/data/*.dat, and vars.gp telling
the .gp scripts (dashboard.gp, ablation.gp, gradnorm.gp) what exists.
Standard library only.
"""
import math
import os

from loading import fnum, gradnorm_keys, read_csv
from stats import mean_std, moving_average, summary


def fmt(x):
    """A number as gnuplot reads it (NaN for missing)."""
    return "NaN" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.9g" % x


def write_dat(path, header, rows):
    """A tab-separated data file with a "# header" line (atomically)."""
    with open(path + ".tmp", "w") as f:
        f.write("# " + "\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(c if isinstance(c, str) else fmt(c) for c in r) + "\n")
    os.replace(path + ".tmp", path)


def weighted_total(ln, lq, a, b):
    """ln·a + lq·b over the finite losses (NaN when neither is)."""
    parts = [w * x for w, x in ((ln, a), (lq, b)) if not math.isnan(x)]
    return sum(parts) if parts else math.nan


def lambdas(run):
    return fnum(run.config.get("lambda-ner", 1)), fnum(run.config.get("lambda-qa", 1))


def curve_rows(run):
    """step, smoothed NER / QA / weighted-total training loss, lr."""
    log = run.log
    if not log:
        return []
    ner = [fnum(r["loss_ner"]) for r in log]
    qa = [fnum(r["loss_qa"]) for r in log]
    ln, lq = lambdas(run)
    tot = [weighted_total(ln, lq, a, b) for a, b in zip(ner, qa)]
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
    ln, lq = lambdas(run)
    rows = []
    for step in sorted(by_step):
        a, b = by_step[step].get("ner", math.nan), by_step[step].get("qa", math.nan)
        rows.append([step, a, b, weighted_total(ln, lq, a, b)])
    return rows


def write_curve_data(classes, data_dir, flags):
    """loss_<class>.dat and eval_<class>.dat of the first seed of ner, qa, mtl."""
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


def write_data(classes, data_dir):
    """Every .dat file and vars.gp (the has_* flags); returns the flags."""
    os.makedirs(data_dir, exist_ok=True)
    flags = {}
    write_curve_data(classes, data_dir, flags)
    write_param_data(classes, data_dir, flags)
    write_metric_data(classes, data_dir, flags)
    write_ablation_data(classes, data_dir, flags)
    with open(os.path.join(data_dir, "vars.gp"), "w") as f:
        f.write("# written by reports/write_results.py\n")
        for k in sorted(flags):
            f.write("%s = %s\n" % (k, flags[k]))
    return flags


def head_sizes(classes, p):
    """(NER head, QA head) parameters: the reference's, or a single-task run's
    where the reference lacks that head."""
    ner_head, qa_head = fnum(p.get("ner_head")), fnum(p.get("qa_head"))
    if (ner_head or 0) == 0 and classes.get("ner"):
        ner_head = fnum(classes["ner"][0].params.get("ner_head"))
    if (qa_head or 0) == 0 and classes.get("qa"):
        qa_head = fnum(classes["qa"][0].params.get("qa_head"))
    return ner_head, qa_head


def write_param_data(classes, data_dir, flags):
    """params.dat (parameters per part) and sharing.dat (shared vs task-specific)."""
    ref = classes.get("mtl") or classes.get("ner") or classes.get("qa")
    flags["has_params"] = 0
    if not ref:
        return
    p = ref[0].params
    emb, per, L = fnum(p.get("embeddings")), fnum(p.get("per_layer")), fnum(p.get("layers"))
    ner_head, qa_head = head_sizes(classes, p)
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


def mean_std_row(label, runs, keys):
    """['"label"', mean, std, mean, std, ...] over the seeds of runs."""
    s = summary(runs)
    row = ['"%s"' % label]
    for key in keys:
        m, sd, _ = mean_std(s[key])
        row += [m, sd]
    return row


def write_metric_data(classes, data_dir, flags):
    """metrics.dat: NER test F1, QA dev EM and F1 of the three main models."""
    rows = [mean_std_row(label, classes[name], ("ner_test_f1", "qa_dev_em", "qa_dev_f1"))
            for name, label in (("ner", "single-task NER"), ("qa", "single-task QA"), ("mtl", "multi-task"))
            if classes.get(name)]
    flags["has_metrics"] = 1 if rows else 0
    write_dat(os.path.join(data_dir, "metrics.dat"),
              ["model", "ner_f1", "ner_f1_std", "qa_em", "qa_em_std", "qa_f1", "qa_f1_std"],
              rows or [['"none"', 0, 0, 0, 0, 0, 0]])


def ablation_rows(classes, prefix, base_label, order, extra_prefix=None):
    """(rows of NER test F1 / QA dev F1 per variant, number of ablation groups):
    the main multi-task runs as base_label, the classes named prefix..., and
    those named extra_prefix... (GradNorm) labelled 'GradNorm α A'."""
    keys = [k for k in classes if k.startswith(prefix)]
    labelled = [(base_label, classes["mtl"])] if "mtl" in classes else []
    labelled += [(k[len(prefix):], classes[k]) for k in keys]
    if extra_prefix:
        extra = sorted(k for k in classes if k.startswith(extra_prefix))
        keys += extra
        labelled += [(k.replace("gradnorm α=", "GradNorm α "), classes[k]) for k in extra]
    labelled.sort(key=lambda kv: order(kv[0]))
    return [mean_std_row(label, runs, ("ner_test_f1", "qa_dev_f1")) for label, runs in labelled], len(keys)


SAMPLINGS = ("joint", "round_robin", "proportional", "temperature")


def write_ablation_data(classes, data_dir, flags):
    """ablation_lambda.dat (with GradNorm), ablation_sampling.dat, GradNorm's weights."""
    lam_order = lambda l: {"1/1": 0, "2/1": 1, "1/2": 2}.get(l, 3)
    rows, n = ablation_rows(classes, "lambda ", "1/1", lam_order, "gradnorm ")
    flags["has_ablation_lambda"] = 1 if n else 0
    write_dat(os.path.join(data_dir, "ablation_lambda.dat"),
              ["lambda", "ner_f1", "ner_std", "qa_f1", "qa_std"], rows or [['"none"', 0, 0, 0, 0]])
    samp_order = lambda l: SAMPLINGS.index(l) if l in SAMPLINGS else 9
    rows, n = ablation_rows(classes, "sampling ", "joint", samp_order)
    flags["has_ablation_sampling"] = 1 if n else 0
    write_dat(os.path.join(data_dir, "ablation_sampling.dat"),
              ["sampling", "ner_f1", "ner_std", "qa_f1", "qa_std"], rows or [['"none"', 0, 0, 0, 0]])
    write_gradnorm_data(classes, data_dir, flags)


def write_gradnorm_data(classes, data_dir, flags):
    """gradnorm_<i>.dat: step, w_ner, w_qa of the first seed of each GradNorm
    group (every 10th step), and gradnorm_titles.gp naming them."""
    flags["n_gradnorm"] = 0
    titles = []
    for key in gradnorm_keys(classes):
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
