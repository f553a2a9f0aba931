#!/usr/bin/env python3
"""loss_weighting_check.py — replays the task weights of an `mtl train
--loss-weighting uncertainty | dwa` run with torch and checks that the C
trainer's weights (weights.csv) are the same.

    python3 reference/loss_weighting_check.py RUN_DIR [--tol 1e-12]

Written here from the papers (impl/train/loss_weighting.h has the same formulas):

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

The replay is free-running: it starts from the options (config.json) and the
losses of log.csv (floats printed with 9 digits: exact after rounding back
to float32), never from the run's own state, and every step's weights (and
s, Adam's moments, r, the period means) must equal the run's within --tol
(relative for weights and means, absolute for s, r and the moments, which
are O(1) or smaller). Exit status 0 when all agree.
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--tol", type=float, default=1e-12)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.run_dir, "config.json")))
    metrics = json.load(open(os.path.join(a.run_dir, "metrics.json")))
    method = cfg.get("loss-weighting")
    if method not in ("uncertainty", "dwa"):
        sys.exit(f"{a.run_dir}: not a --loss-weighting uncertainty or dwa run ({method})")
    rows = read_rows(os.path.join(a.run_dir, "weights.csv"))
    losses = steps_of(read_rows(os.path.join(a.run_dir, "log.csv")))
    if [int(r["step"]) for r in rows] != sorted(losses) or not rows:
        sys.exit(f"{a.run_dir}: weights.csv and log.csv do not cover the same steps")
    if method == "uncertainty":
        worst, final, note = replay_uncertainty(cfg, rows, losses)
    else:
        worst, final, note = replay_dwa(cfg, metrics, rows, losses)
    # metrics.json prints 9 significant digits
    final_d = max(rel(float(metrics[method]["final_w_" + t]), final[t]) for t in TASKS)
    print(f"{a.run_dir}: {len(rows)} steps of {method} weights replayed with torch {torch.__version__}"
          + (" autograd + torch.optim.Adam" if method == "uncertainty" else ""))
    print("  max difference: " + ", ".join(f"{k} {v:.3g}" for k, v in worst.items())
          + f" (tolerance {a.tol:g}); final weights vs metrics.json {final_d:.3g} (9 digits: tolerance 1e-8)")
    print(f"  weights: start {[f32(cfg['lambda-' + t]) for t in TASKS]}, end {[round(final[t], 6) for t in TASKS]}; {note}")
    ok = all(v <= a.tol for v in worst.values()) and final_d <= 1e-8
    print("  OK" if ok else "  MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
