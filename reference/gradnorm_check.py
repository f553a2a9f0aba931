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

The run logs, per step (gradnorm.csv): the weights the step used, the
measured G_i, and the weights' Adam moments after the update; log.csv has the
two losses. Each update is checked on its own: starting from the run's
weights and Adam state before step k, this script rebuilds
||dL_i/dW|| = G_i / w_i, lets autograd take d L_grad / d w, steps
torch.optim.Adam, and compares the weights with those of step k+1 (the last
with metrics.json's final weights), the moments with the run's, and L_grad.
(A free-running replay would drift: where G_i - target_i is within rounding
of 0, sign() can go either way, and the two runs part. Such ties are
counted and reported, not failed.) Exit status 0 when every update agrees
within --tol (relative; everything is float64). Measured: weights ~3e-16,
Adam moments (m relative to sqrt(v)) ~1e-15. A wrong sign, alpha or moment update
shows as 1e-3 or more.
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
    t64 = lambda *xs: torch.tensor([float(x) for x in xs], dtype=torch.float64)
    loss0 = t64(*loss[int(gn[0]["step"])])
    worst_w = worst_mv = worst_l = 0.0
    ties = 0
    final_dw = 0.0
    prev_m, prev_v = t64(0, 0), t64(0, 0)
    for k, row in enumerate(gn):
        used = t64(row["w_ner"], row["w_qa"])
        w = used.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999), eps=1e-8)
        opt.state[w] = {"step": torch.tensor(float(k)), "exp_avg": prev_m.clone(),
                        "exp_avg_sq": prev_v.clone()}
        G_run = t64(row["G_ner"], row["G_qa"])
        n = G_run / used  # ||dL_i/dW||
        lt = t64(*loss[int(row["step"])]) / loss0
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
        if k + 1 < len(gn):
            want = t64(gn[k + 1]["w_ner"], gn[k + 1]["w_qa"])
        else:
            want = t64(metrics["gradnorm"]["final_w_ner"], metrics["gradnorm"]["final_w_qa"])
        dw = float(((w.detach() - want).abs() / want).max())
        m_run, v_run = t64(row["m_ner"], row["m_qa"]), t64(row["v_ner"], row["v_qa"])
        st = opt.state[w]
        # m relative to sqrt(v), the scale it has in the update (m itself crosses 0)
        dmv = max(float(((st["exp_avg"] - m_run).abs() / v_run.sqrt().clamp(min=1e-300)).max()),
                  float(((st["exp_avg_sq"] - v_run).abs() / v_run.clamp(min=1e-300)).max()))
        dl = abs(float(lgrad.detach()) - float(row["L_grad"])) / float(G_run.sum())
        last = k + 1 == len(gn)
        tol_w = 1e-8 if last else a.tol  # metrics.json prints 9 significant digits
        if (dw > tol_w or dmv > a.tol) and float((G.detach() - target).abs().min()) <= 1e-9 * float(G_run.sum()):
            ties += 1  # sign(G - target) at a rounding-level tie: either result is right
        else:
            if last:
                final_dw = dw
            else:
                worst_w = max(worst_w, dw)
            worst_mv = max(worst_mv, dmv)
        worst_l = max(worst_l, dl)
        prev_m, prev_v = m_run, v_run
    print(f"{a.run_dir}: {len(gn)} GradNorm updates, each checked against torch "
          f"{torch.__version__} autograd + torch.optim.Adam")
    print(f"  max relative difference: weights {worst_w:.3g}, Adam moments {worst_mv:.3g}, "
          f"L_grad {worst_l:.3g} of G_ner+G_qa (tolerance {a.tol:g}); final weights vs "
          f"metrics.json {final_dw:.3g} (9 digits printed: tolerance 1e-8); sign ties: {ties}")
    print(f"  weights: start {lam.tolist()}, end {[float(metrics['gradnorm'][k]) for k in ('final_w_ner', 'final_w_qa')]}")
    ok = worst_w <= a.tol and worst_mv <= a.tol and worst_l <= a.tol and final_dw <= 1e-8
    print("  OK" if ok else "  MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
