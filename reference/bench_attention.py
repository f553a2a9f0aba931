"""reference/bench_attention.py — the attention op alone in PyTorch, forward
and backward, at the shapes `mtl bench-kernels --ops attention` times: the
peer of the C kernel (kernels/cpu/attention.c).

    python3 reference/bench_attention.py --batch 16 --seq 384 --hidden 384 \\
        --heads 12 --dropout 0.1 --threads 2 --repeats 15 [--impl eager|sdpa]

Input: qkv [B, T, 3C] (q | k | v along the last dim, as ops.h), a key mask of
ones (no padding: the full T x T work, as bench-kernels), dout [B, T, C].
  eager: reference/model.py's attention (HF BertSelfAttention's "eager"):
         S = q k^T / sqrt(hs), masked fill, softmax, dropout, P' v;
  sdpa:  torch.nn.functional.scaled_dot_product_attention with the mask and
         dropout_p (PyTorch picks its CPU kernel; with dropout and a mask that
         is its math path).
Forward timed with autograd recording (as in training); backward is
out.backward(dout) of that forward. Median of --repeats calls after 2
warm-up calls each. --precision bf16: the forward under
torch.autocast("cpu", dtype=torch.bfloat16), as reference/bench_step.py's
bf16 peer (the matmuls then run in bf16; softmax stays fp32 by autocast's
op lists).

FLOPs as bench-kernels counts them (bench/bench_kernels.h): forward
4 B T^2 C (q k^T and P v), backward 8 B T^2 C. Prints one JSON line.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F


def attention_eager(qkv, mask, nh, p):
    B, T, C3 = qkv.shape
    C = C3 // 3
    hs = C // nh
    q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in qkv.split(C, dim=-1))
    s = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
    s = s.masked_fill((mask == 0)[:, None, None, :], torch.finfo(s.dtype).min)
    a = F.dropout(torch.softmax(s, dim=-1), p, True)
    return (a @ v).transpose(1, 2).reshape(B, T, C)


def attention_sdpa(qkv, mask, nh, p):
    B, T, C3 = qkv.shape
    C = C3 // 3
    hs = C // nh
    q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in qkv.split(C, dim=-1))
    keep = (mask != 0)[:, None, None, :]
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=p)
    return a.transpose(1, 2).reshape(B, T, C)


IMPLS = {"eager": attention_eager, "sdpa": attention_sdpa}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=384)
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--impl", choices=sorted(IMPLS), default="eager")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    a = ap.parse_args()
    if a.hidden % a.heads:
        ap.error(f"--hidden {a.hidden} is not divisible by --heads {a.heads}")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, T, C = a.batch, a.seq, a.hidden
    qkv = (torch.rand(B, T, 3 * C) * 2 - 1).requires_grad_(True)
    mask = torch.ones(B, T, dtype=torch.long)
    dout = torch.rand(B, T, C) - 0.5
    fn = IMPLS[a.impl]
    fwd, bwd = [], []
    for r in range(a.repeats + 2):
        qkv.grad = None
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            out = fn(qkv, mask, a.heads, a.dropout)
        t1 = time.perf_counter()
        out.backward(dout)
        t2 = time.perf_counter()
        if r >= 2:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    f_flops = 4.0 * B * T * T * C
    res = {"impl": f"torch-{a.impl}", "batch": B, "seq": T, "hidden": C, "heads": a.heads,
           "dropout": a.dropout, "threads": a.threads, "repeats": a.repeats, "precision": a.precision,
           "torch": torch.__version__,
           "fwd_us": statistics.median(fwd) * 1e6, "bwd_us": statistics.median(bwd) * 1e6,
           "fwd_flops": f_flops, "bwd_flops": 2 * f_flops}
    res["fwd_gflops"] = f_flops / (res["fwd_us"] * 1e-6) * 1e-9
    res["bwd_gflops"] = 2 * f_flops / (res["bwd_us"] * 1e-6) * 1e-9
    print(json.dumps(res))


if __name__ == "__main__":
    main()
