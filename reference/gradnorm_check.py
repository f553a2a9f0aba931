#!/usr/bin/env python3
"""gradnorm_check.py — replays the GradNorm task weights of an `mtl train
--loss-weighting gradnorm` run with torch autograd and torch.optim.Adam, and
checks that the C trainer's weights are the same.

    python3 reference/gradnorm_check.py RUN_DIR [--tol 1e-9]

GradNorm (Chen et al., ICML 2018), written here from the paper:
    G_i      = w_i * ||dL_i/dW||          (the run's G_ner, G_qa and w_ner, w_qa)
    r_i      = (L_i / L_i(0)) / mean_j (L_j / L_j(0))
    target_i = mean_j G_j * r_i ** alpha  (detached: a constant)
    L_grad   = sum_i |G_i - target_i|
then Adam on w (lr --gradnorm-lr, betas 0.9/0.999, eps 1e-8), w clamped to
>= 1e-3 * sum and renormalised to the sum of the lambdas.

The run gives, per step: the weights the step used and the measured G_i
(gradnorm.csv) and the two losses (log.csv). This script rebuilds
||dL_i/dW|| = G_i / w_i, lets autograd take d L_grad / d w, steps Adam, and
compares the result with the weights of the next row (and the last update
with metrics.json's final weights), and L_grad with the run's. Exit status 0
when every step agrees within --tol (relative; everything is float64).
The per-task norms themselves are checked in C by tests/test_gradnorm.c
(one joint backward vs two separate ones).
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
import torch


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def losses_by_step(log_rows):
    out = {}
    for r in log_rows:
        # float32 losses printed with 9 digits: round back to float32
        out[int(r["step"])] = tuple(float(np.float32(r[k])) for k in ("loss_ner", "loss_qa"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--tol", type=float, default=1e-12)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.run_dir, "config.json")))
    metrics = json.load(open(os.path.join(a.run_dir, "metrics.json")))
    if cfg.get("loss-weighting") != "gradnorm":
        sys.exit(f"{a.run_dir}: not a --loss-weighting gradnorm run")
    # the options are C floats, printed with 9 digits: round back to float32
    alpha, lr = (float(np.float32(cfg[k])) for k in ("gradnorm-alpha", "gradnorm-lr"))
    gn = read_rows(os.path.join(a.run_dir, "gradnorm.csv"))
    loss = losses_by_step(read_rows(os.path.join(a.run_dir, "log.csv")))
    lam = torch.tensor([float(np.float32(cfg["lambda-ner"])), float(np.float32(cfg["lambda-qa"]))],
                       dtype=torch.float64)
    total = float(lam.sum())
    w = lam.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    loss0 = None
    worst_w = worst_l = 0.0
    for k, row in enumerate(gn):
        step = int(row["step"])
        used = torch.tensor([float(row["w_ner"]), float(row["w_qa"])], dtype=torch.float64)
        worst_w = max(worst_w, float(((w.detach() - used).abs() / used).max()))
        G_run = torch.tensor([float(row["G_ner"]), float(row["G_qa"])], dtype=torch.float64)
        n = G_run / used  # ||dL_i/dW||
        L = torch.tensor(loss[step], dtype=torch.float64)
        if loss0 is None:
            loss0 = L.clone()
        lt = L / loss0
        r = lt / lt.mean()
        G = w * n
        target = (G.mean() * r ** alpha).detach()
        lgrad = (G - target).abs().sum()
        # relative to the norms: L_grad is a difference of them and loses digits
        scale = float(G_run.sum())
        worst_l = max(worst_l, abs(float(lgrad.detach()) - float(row["L_grad"])) / scale)
        opt.zero_grad()
        lgrad.backward()
        opt.step()
        with torch.no_grad():
            w.clamp_(min=1e-3 * total)
            w.mul_(total / w.sum())
    final = torch.tensor([metrics["gradnorm"]["final_w_ner"], metrics["gradnorm"]["final_w_qa"]],
                         dtype=torch.float64)
    # metrics.json prints 9 significant digits
    worst_final = float(((w.detach() - final).abs() / final).max())
    print(f"{a.run_dir}: {len(gn)} GradNorm updates replayed with torch {torch.__version__} autograd + Adam")
    print(f"  max relative difference: weights {worst_w:.3g}, L_grad {worst_l:.3g} of G_ner+G_qa "
          f"(tolerance {a.tol:g}); final weights vs metrics.json {worst_final:.3g} (tolerance 1e-8)")
    print(f"  weights: start {lam.tolist()}, end run {final.tolist()}, end replay {w.detach().tolist()}")
    ok = worst_w <= a.tol and worst_l <= a.tol and worst_final <= 1e-8
    print("  OK" if ok else "  MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
