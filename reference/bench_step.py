"""reference/bench_step.py — time one full training step of the mtl-bench model
in PyTorch (the peer that the C implementation is compared against).

    python3 reference/bench_step.py --preset mini --batch 16 --seq 128 \\
        --threads 2 --task mtl --steps 10 --device cpu [--tf32] [--hf]
        [--precision fp32|bf16] [--compile]

One step (as the C trainer's step, impl/train/train.c):
    zero_grad; for each task of the step (ner, qa, or both for mtl):
        forward on a fresh [B,T] batch of that task (dropout 0.1), backward of
        lambda * loss (gradients accumulate);
    clip_grad_norm_(--clip); AdamW step (no decay on biases and LayerNorm).
So an mtl step runs two forward/backward passes (one NER batch and one QA
batch) and one optimiser step, and counts 2*B*T tokens.

Model: reference/model.py (from-scratch BERT, explicit attention), or with
--hf transformers' BertModel built from a config (no download; its default
attention implementation, reported in the JSON) with the same two heads.
Inputs are random token ids without padding (padding does not change the work).

--precision bf16 runs the forward passes (and so their backward) under
torch.autocast(device, dtype=torch.bfloat16), the one-line mixed precision a
PyTorch user turns on: fp32 master weights and optimiser, matmuls in bf16.
--compile wraps the model's loss in torch.compile (default mode; its compile
time falls in the warm-up steps, which are excluded).

FLOPs (the same count as impl/model/model.c: model_forward_flops; a multiply-add is
2 FLOPs, N = B*T rows, hs = C/NH):
    forward per layer  2*N*(3*C*C + C*C + 2*C*FFN)     qkv, out, up, down
                     + 2*2*B*NH*T*T*hs                 q.k^T and P.v
    heads              NER 2*N*C*num_labels, QA 2*N*C*2
    forward(task) = L * layer + head(task); training = 3 * forward (backward
    = 2x forward); an mtl step = train(ner) + train(qa).
Softmax, LayerNorm, GELU, embeddings and the optimiser are not counted.
GFLOP/s = FLOPs per step / mean seconds per step. Warm-up steps are excluded
from every figure. Prints a human summary and, last, one JSON line.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402

TASKS = {"ner": ("ner",), "qa": ("qa",), "mtl": ("ner", "qa")}


def forward_flops(cfg, task, B, T):
    """Forward FLOPs of one pass (see the module docstring)."""
    N, C, F_, hs = B * T, cfg.C, cfg.FFN, cfg.C / cfg.NH
    layer = 2.0 * N * (3 * C * C + C * C + 2 * C * F_) + 2.0 * 2.0 * B * cfg.NH * T * T * hs
    head = 2.0 * N * C * (cfg.num_labels if task == "ner" else 2)
    return cfg.L * layer + head


def step_flops(cfg, task, B, T):
    return sum(3.0 * forward_flops(cfg, t, B, T) for t in TASKS[task])


class HfMtl(nn.Module):
    """transformers' BertModel (no pooler) with the same NER and QA heads."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.bert = M.hf_bert(cfg, attn_impl=None)
        self.ner = nn.Linear(cfg.C, cfg.num_labels)
        self.qa = nn.Linear(cfg.C, 2)

    def encode(self, ids, types, mask):
        return self.bert(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state

    def ner_logits(self, h):
        return self.ner(F.dropout(h, self.cfg.p_drop, self.training))

    def qa_logits(self, h):
        return self.qa(h)

    def param_groups(self, wd):
        decay, no_decay = [], []
        for n, p in self.named_parameters():
            (no_decay if n.endswith("bias") or "LayerNorm" in n else decay).append(p)
        return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def make_batch(cfg, task, B, T, gen, device):
    ids = torch.randint(1000, cfg.V, (B, T), generator=gen)
    types = torch.zeros(B, T, dtype=torch.long)
    types[:, T // 4:] = 1  # [CLS] question [SEP] | context [SEP]
    b = {"ids": ids, "types": types, "mask": torch.ones(B, T, dtype=torch.long)}
    if task == "ner":
        b["labels"] = torch.randint(0, cfg.num_labels, (B, T), generator=gen)
        b["labels"][:, 0] = M.IGNORE_INDEX
    else:
        b["start"] = torch.randint(T // 4, T - 8, (B,), generator=gen)
        b["end"] = b["start"] + torch.randint(0, 8, (B,), generator=gen)
    return {k: v.to(device) for k, v in b.items()}


def task_loss(model, task, b):
    h = model.encode(b["ids"], b["types"], b["mask"])
    if task == "ner":
        return M.ner_loss(model.ner_logits(h), b["labels"])
    return M.qa_loss(model.qa_logits(h), b["start"], b["end"])


def make_loss_fn(model, args):
    """task_loss under autocast for --precision bf16, compiled for --compile."""
    def loss(task, b):
        if args.precision == "bf16":
            with torch.autocast(args.device, dtype=torch.bfloat16):
                return task_loss(model, task, b)
        return task_loss(model, task, b)
    return torch.compile(loss) if args.compile else loss


def train_step(loss_fn, opt, params, batches, clip):
    opt.zero_grad(set_to_none=True)
    for task, b in batches:
        loss_fn(task, b).float().backward()  # lambda = 1 for both tasks
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def time_steps(loss_fn, opt, params, batches, args):
    for _ in range(args.warmup):
        train_step(loss_fn, opt, params, batches, args.clip)
    sync(args.device)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        train_step(loss_fn, opt, params, batches, args.clip)
        sync(args.device)
        times.append(time.perf_counter() - t0)
    return times


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def setup_precision(args):
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("bench_step: --device cuda but torch sees no GPU")
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    torch.set_float32_matmul_precision("high" if args.tf32 else "highest")


def parse_args():
    ap = argparse.ArgumentParser(description="time one PyTorch training step (see the docstring)")
    ap.add_argument("--preset", choices=["tiny", "mini", "minilm", "base"], default="mini")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: library default)")
    ap.add_argument("--task", choices=list(TASKS), default="mtl")
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls (CUDA)")
    ap.add_argument("--hf", action="store_true", help="transformers' BertModel as the encoder")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: torch.autocast(dtype=torch.bfloat16) around the forward passes")
    ap.add_argument("--compile", action="store_true", help="torch.compile the loss function")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--clip", type=float, default=1.0, help="grad-norm clip (0: off)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.batch < 1 or args.seq < 2 or args.seq > 512 or args.steps < 1 or args.warmup < 0:
        ap.error("need batch >= 1, 2 <= seq <= 512, steps >= 1, warmup >= 0")
    if args.task == "qa" or args.task == "mtl":
        if args.seq < 16:
            ap.error("qa needs --seq >= 16 (spans are drawn inside the context)")
    return args


def main():
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    setup_precision(args)
    torch.manual_seed(args.seed)
    cfg = M.preset_config(args.preset, p_drop=args.dropout)
    model = (HfMtl(cfg) if args.hf else M.MtlBert(cfg)).to(args.device).train()
    params = [p for p in model.parameters()]
    opt = torch.optim.AdamW(model.param_groups(0.01), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed + 1)
    batches = [(t, make_batch(cfg, t, args.batch, args.seq, gen, args.device))
               for t in TASKS[args.task]]
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    times = time_steps(make_loss_fn(model, args), opt, params, batches, args)

    mean = statistics.fmean(times)
    tokens = args.batch * args.seq * len(TASKS[args.task])
    flops = step_flops(cfg, args.task, args.batch, args.seq)
    res = {
        "impl": ("pytorch-hf" if args.hf else "pytorch-ref") + ("-compile" if args.compile else ""),
        "precision": args.precision, "compile": args.compile,
        "attn": model.bert.config._attn_implementation if args.hf else "explicit",
        "preset": args.preset, "task": args.task, "batch": args.batch, "seq": args.seq,
        "device": args.device, "tf32": args.tf32, "threads": torch.get_num_threads(),
        "dropout": args.dropout, "clip": args.clip, "warmup": args.warmup, "steps": args.steps,
        "params": sum(p.numel() for p in params),
        "ms_per_step": 1e3 * mean, "ms_median": 1e3 * statistics.median(times),
        "ms_min": 1e3 * min(times), "ms_max": 1e3 * max(times),
        "tokens_per_step": tokens, "tokens_per_s": tokens / mean,
        "flops_per_step": flops, "gflops": flops / mean * 1e-9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "torch": torch.__version__,
        "hardware": torch.cuda.get_device_name() if args.device == "cuda" else cpu_name(),
    }
    if args.device == "cuda":
        res["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(f"{res['impl']} {args.preset} task={args.task} B={args.batch} T={args.seq} "
          f"{args.device} threads={res['threads']}{' tf32' if args.tf32 else ''} {args.precision}: "
          f"{res['ms_per_step']:.1f} ms/step (median {res['ms_median']:.1f}, "
          f"min {res['ms_min']:.1f}) over {args.steps} steps after {args.warmup} warm-up, "
          f"{res['tokens_per_s']:.0f} tokens/s, {res['gflops']:.1f} GFLOP/s "
          f"({flops * 1e-9:.1f} GFLOP/step)")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
