#!/usr/bin/env python3
"""loss_weighting_check.py — replays the learned task weights of an `mtl train
--loss-weighting gradnorm | uncertainty | dwa` run with torch and checks that
the C trainer's weights are the same (the method is config.json's
"loss-weighting").

    python3 reference/loss_weighting_check.py RUN_DIR [--tol 1e-12]

Written here from the papers (impl/train/gradnorm.h and
impl/train/loss_weighting.h have the same formulas):

gradnorm (Chen et al., ICML 2018):
    G_i      = w_i * ||dL_i/dW||          (the run's G_ner, G_qa and w_ner, w_qa)
    r_i      = (L_i / L_i(0)) / mean_j (L_j / L_j(0))
    target_i = mean_j G_j * r_i ** alpha  (detached: a constant)
    L_grad   = sum_i |G_i - target_i|
then Adam on w (lr --gradnorm-lr, betas 0.9/0.999, eps 1e-8), w clamped to
>= 1e-3 * sum and renormalised to the sum of the lambdas.

uncertainty (Kendall, Gal and Cipolla, CVPR 2018): log-variances s_i, torch
parameters initialised to -log lambda_i, each step
    L = sum_{i in the step} exp(-s_i) L_i + s_i
backward by autograd and one torch.optim.Adam step (lr --uncertainty-lr,
betas 0.9/0.999, eps 1e-8); a task absent from a step gets no gradient
(grad None: Adam skips it and its step count stays). The weight the network
saw in a step is exp(-s_i) before that step's update.

dwa (Liu, Johns and Davison, CVPR 2019): periods of P steps (metrics.json's
dwa.period, = --dwa-period or one epoch); Lbar_i(q) the mean of task i's
losses in period q; in period p >= 2
    w = K * mean(lambda) * softmax(r / T),   r_i = Lbar_i(p-1) / Lbar_i(p-2)
with r_i kept from before (1 at first) when task i had no loss in either
period; w = lambda in periods 0 and 1.

All three start from the options (config.json) and the losses of log.csv
(C floats printed with 9 digits: exact after rounding back to float32).

GradNorm is checked per update, from the run's logged state. The run logs,
per step (gradnorm.csv): the weights the step used, the measured G_i, and the
weights' Adam moments after the update. Each update is checked on its own:
starting from the run's weights and Adam state before step k, this script
rebuilds ||dL_i/dW|| = G_i / w_i, lets autograd take d L_grad / d w, steps
torch.optim.Adam, and compares the weights with those of step k+1 (the last
with metrics.json's final weights, within 1e-8: 9 digits printed), the
moments with the run's, and L_grad. (A free-running replay would drift:
where G_i - target_i is within rounding of 0, sign() can go either way, and
the two runs part. Such ties are counted and reported, not failed.) Every
update must agree within --tol (relative; everything is float64). Measured:
weights ~3e-16, Adam moments (m relative to sqrt(v)) ~1e-15. A wrong sign,
alpha or moment update shows as 1e-3 or more. The per-task norms themselves
are checked in C by tests/test_gradnorm.c (one joint backward vs two
separate ones).

uncertainty and dwa are replayed free-running (weights.csv): never from the
run's own state, and every step's weights (and s, Adam's moments, r, the
period means) must equal the run's within --tol (relative for weights and
means, absolute for s, r and the moments, which are O(1) or smaller); the
final weights must equal metrics.json's within 1e-8 (9 digits printed).

Exit status 0 when all agree.
"""
import argparse
import csv
import json
import math
import os
import sys

import numpy as np
import torch

TASKS = ("ner", "qa")


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def f32(x):
    """A C float printed with 9 digits, back to its exact value."""
    return float(np.float32(x))


def steps_of(log_rows):
    """step -> (tasks present, losses); a task absent from a step has an empty loss."""
    out = {}
    for r in log_rows:
        loss = {t: f32(r["loss_" + t]) for t in TASKS if r["loss_" + t] != ""}
        out[int(r["step"])] = loss
    return out


def cell(row, key):
    return float(row[key]) if row[key] != "" else math.nan


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def replay_gradnorm(cfg, metrics, rows, losses, tol):
    """Each update of gradnorm.csv's rows checked on its own; returns the worst
    differences (weights, Adam moments, L_grad), the final weights' difference
    from metrics.json and the number of sign ties."""
    alpha, lr = f32(cfg["gradnorm-alpha"]), f32(cfg["gradnorm-lr"])
    lam = torch.tensor([f32(cfg["lambda-" + t]) for t in TASKS], dtype=torch.float64)
    total = float(lam.sum())
    t64 = lambda *xs: torch.tensor([float(x) for x in xs], dtype=torch.float64)
    loss_of = lambda step: t64(*(losses[step][t] for t in TASKS))  # joint: both tasks every step
    loss0 = loss_of(int(rows[0]["step"]))
    worst_w = worst_mv = worst_l = 0.0
    ties = 0
    final_dw = 0.0
    prev_m, prev_v = t64(0, 0), t64(0, 0)
    for k, row in enumerate(rows):
        used = t64(row["w_ner"], row["w_qa"])
        w = used.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999), eps=1e-8)
        opt.state[w] = {"step": torch.tensor(float(k)), "exp_avg": prev_m.clone(),
                        "exp_avg_sq": prev_v.clone()}
        G_run = t64(row["G_ner"], row["G_qa"])
        n = G_run / used  # ||dL_i/dW||
        lt = loss_of(int(row["step"])) / loss0
        r = lt / lt.mean()
        G = w * n
        target = (G.mean() * r ** alpha).detach()
        lgrad = (G - target).abs().sum()
        opt.zero_grad()
        lgrad.backward()
        opt.step()
        with torch.no_grad():
            w.clamp_(min=1e-3 * total)
            w.mul_(total / w.sum())
        # the run's result of this update: next row's weights (metrics.json after the last)
        if k + 1 < len(rows):
            want = t64(rows[k + 1]["w_ner"], rows[k + 1]["w_qa"])
        else:
            want = t64(metrics["gradnorm"]["final_w_ner"], metrics["gradnorm"]["final_w_qa"])
        dw = float(((w.detach() - want).abs() / want).max())
        m_run, v_run = t64(row["m_ner"], row["m_qa"]), t64(row["v_ner"], row["v_qa"])
        st = opt.state[w]
        # m relative to sqrt(v), the scale it has in the update (m itself crosses 0)
        dmv = max(float(((st["exp_avg"] - m_run).abs() / v_run.sqrt().clamp(min=1e-300)).max()),
                  float(((st["exp_avg_sq"] - v_run).abs() / v_run.clamp(min=1e-300)).max()))
        dl = abs(float(lgrad.detach()) - float(row["L_grad"])) / float(G_run.sum())
        last = k + 1 == len(rows)
        tol_w = 1e-8 if last else tol  # metrics.json prints 9 significant digits
        if (dw > tol_w or dmv > tol) and float((G.detach() - target).abs().min()) <= 1e-9 * float(G_run.sum()):
            ties += 1  # sign(G - target) at a rounding-level tie: either result is right
        else:
            if last:
                final_dw = dw
            else:
                worst_w = max(worst_w, dw)
            worst_mv = max(worst_mv, dmv)
        worst_l = max(worst_l, dl)
        prev_m, prev_v = m_run, v_run
    return {"weights": worst_w, "Adam moments": worst_mv, "L_grad": worst_l}, final_dw, ties


def replay_uncertainty(cfg, rows, losses):
    lr = f32(cfg["uncertainty-lr"])
    s = {t: torch.tensor(0.0 - math.log(f32(cfg["lambda-" + t])), dtype=torch.float64, requires_grad=True)
         for t in TASKS}
    opt = torch.optim.Adam([s[t] for t in TASKS], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    worst = {"w": 0.0, "s": 0.0, "m,v": 0.0}
    for row in rows:
        step = int(row["step"])
        L = losses[step]
        for t in TASKS:  # the weights this step used
            worst["w"] = max(worst["w"], rel(float(row["w_" + t]), math.exp(-float(s[t].detach()))))
        opt.zero_grad(set_to_none=True)
        total = sum(torch.exp(-s[t]) * L[t] + s[t] for t in L)
        total.backward()
        opt.step()
        for t in TASKS:
            worst["s"] = max(worst["s"], abs(float(row["s_" + t]) - float(s[t].detach())))
            st = opt.state.get(s[t], {})
            m = float(st["exp_avg"]) if st else 0.0
            v = float(st["exp_avg_sq"]) if st else 0.0
            worst["m,v"] = max(worst["m,v"], abs(float(row["m_" + t]) - m), abs(float(row["v_" + t]) - v))
    final = {t: math.exp(-float(s[t].detach())) for t in TASKS}
    return worst, final, "s %s -> %s" % ([round(0.0 - math.log(f32(cfg["lambda-" + t])), 4) for t in TASKS],
                                         [round(float(s[t].detach()), 4) for t in TASKS])


def replay_dwa(cfg, metrics, rows, losses):
    P = int(metrics["dwa"]["period"])
    if int(cfg["dwa-period"]) > 0 and int(cfg["dwa-period"]) != P:
        sys.exit(f"dwa.period {P} in metrics.json, --dwa-period {cfg['dwa-period']} in config.json")
    T = f32(cfg["dwa-temperature"])
    lam = torch.tensor([f32(cfg["lambda-" + t]) for t in TASKS], dtype=torch.float64)
    r = torch.ones(len(TASKS), dtype=torch.float64)
    w = lam.clone()
    prev = [None] * len(TASKS)  # Lbar of the last period (None: no loss in it)
    acc = [[] for _ in TASKS]
    worst = {"w": 0.0, "r": 0.0, "Lbar": 0.0}
    n_periods = 0
    for row in rows:
        step = int(row["step"])
        for k, t in enumerate(TASKS):
            worst["w"] = max(worst["w"], rel(float(row["w_" + t]), float(w[k])))
            worst["r"] = max(worst["r"], abs(float(row["r_" + t]) - float(r[k])))
            if t in losses[step]:
                acc[k].append(losses[step][t])
        if step % P:
            continue
        n_periods += 1
        for k, t in enumerate(TASKS):
            mean = math.fsum(acc[k]) / len(acc[k]) if acc[k] else None
            if mean is None:
                if row["Lbar_" + t] != "":
                    worst["Lbar"] = math.inf
            else:
                worst["Lbar"] = max(worst["Lbar"], rel(cell(row, "Lbar_" + t), mean))
            if mean and prev[k]:
                r[k] = mean / prev[k]
            prev[k] = mean
            acc[k] = []
        w = lam.clone() if n_periods < 2 else len(TASKS) * lam.mean() * torch.softmax(r / T, dim=0)
    final = {t: float(w[k]) for k, t in enumerate(TASKS)}
    return worst, final, f"period {P} steps, {n_periods} periods closed, final r {[round(float(x), 4) for x in r]}"


def check_gradnorm(run_dir, cfg, metrics, losses, tol):
    rows = read_rows(os.path.join(run_dir, "gradnorm.csv"))
    worst, final_dw, ties = replay_gradnorm(cfg, metrics, rows, losses, tol)
    print(f"{run_dir}: {len(rows)} GradNorm updates, each checked against torch "
          f"{torch.__version__} autograd + torch.optim.Adam")
    print("  max relative difference: " + ", ".join(f"{k} {v:.3g}" for k, v in worst.items())
          + f" of G_ner+G_qa (tolerance {tol:g}); final weights vs "
          f"metrics.json {final_dw:.3g} (9 digits printed: tolerance 1e-8); sign ties: {ties}")
    print(f"  weights: start {[f32(cfg['lambda-' + t]) for t in TASKS]}, "
          f"end {[float(metrics['gradnorm']['final_w_' + t]) for t in TASKS]}")
    return all(v <= tol for v in worst.values()) and final_dw <= 1e-8


def check_free_running(run_dir, method, cfg, metrics, losses, tol):
    rows = read_rows(os.path.join(run_dir, "weights.csv"))
    if [int(r["step"]) for r in rows] != sorted(losses) or not rows:
        sys.exit(f"{run_dir}: weights.csv and log.csv do not cover the same steps")
    if method == "uncertainty":
        worst, final, note = replay_uncertainty(cfg, rows, losses)
    else:
        worst, final, note = replay_dwa(cfg, metrics, rows, losses)
    # metrics.json prints 9 significant digits
    final_d = max(rel(float(metrics[method]["final_w_" + t]), final[t]) for t in TASKS)
    print(f"{run_dir}: {len(rows)} steps of {method} weights replayed with torch {torch.__version__}"
          + (" autograd + torch.optim.Adam" if method == "uncertainty" else ""))
    print("  max difference: " + ", ".join(f"{k} {v:.3g}" for k, v in worst.items())
          + f" (tolerance {tol:g}); final weights vs metrics.json {final_d:.3g} (9 digits: tolerance 1e-8)")
    print(f"  weights: start {[f32(cfg['lambda-' + t]) for t in TASKS]}, end {[round(final[t], 6) for t in TASKS]}; {note}")
    return all(v <= tol for v in worst.values()) and final_d <= 1e-8


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--tol", type=float, default=1e-12)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.run_dir, "config.json")))
    metrics = json.load(open(os.path.join(a.run_dir, "metrics.json")))
    method = cfg.get("loss-weighting")
    if method not in ("gradnorm", "uncertainty", "dwa"):
        sys.exit(f"{a.run_dir}: not a --loss-weighting gradnorm, uncertainty or dwa run ({method})")
    losses = steps_of(read_rows(os.path.join(a.run_dir, "log.csv")))
    if method == "gradnorm":
        ok = check_gradnorm(a.run_dir, cfg, metrics, losses, a.tol)
    else:
        ok = check_free_running(a.run_dir, method, cfg, metrics, losses, a.tol)
    print("  OK" if ok else "  MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
