#!/usr/bin/env python3
"""finetune_hf.py — fine-tuning with transformers' BertModel, as an independent
check of the C trainer (`mtl train --init <HF dir>`).

    python3 reference/finetune_hf.py replay --run RUN_DIR --dump FILE \\
        --init datasets/data/weights/minilm-l6 [--tol 1e-3] [--steps N]
    python3 reference/finetune_hf.py train --run RUN_DIR --dump FILE \\
        --init datasets/data/weights/minilm-l6 --out DIR [--seed S]

`train` is the same loop with the run's dropout on (torch's masks, --seed) and
no comparison: it fine-tunes, then saves the encoder with each head as
BertForTokenClassification / BertForQuestionAnswering (save_pretrained) in
DIR/ner, DIR/qa, with DIR/hf_train.json (wall time, s/step, peak RSS), for
`mtl eval` to score (check (c): reference/hf_scores_check.py).

`replay` re-runs, step for step, the optimisation of an `mtl train ...
--dump-batches FILE` run in PyTorch:

  * encoder: BertModel.from_pretrained(init, add_pooling_layer=False), float32,
    hidden_dropout_prob = attention_probs_dropout_prob = the run's dropout;
    heads: nn.Linear(C, 9) (NER) and nn.Linear(C, 2) (QA) set to the dump's
    init.ner.* / init.qa.* (only the heads the dump carries exist, as in C);
  * losses exactly as impl/model/model.h: NER = mean CE over positions whose label
    != -100 (0 if none); QA = (mean CE of start + mean CE of end) / 2 over the
    batch, CE over all T positions (padding included), -100 ignored;
  * one step = zero_grad; for each task batch of the step (NER before QA):
    forward(ids, token_type_ids=types, attention_mask=mask),
    backward(lambda_k * L_k); clip_grad_norm_(all params, clip);
    lr of every group = the lr log.csv reports for the step; AdamW.step();
  * AdamW: the run's betas, eps and weight decay; weight decay on every 2-D
    tensor (the three embedding tables, every Linear weight, both head
    weights), none on biases and LayerNorm weights/biases — impl/model/model.c's
    `decay` flag (INIT_NORMAL tensors). Every parameter gets a (zero) gradient
    every step, so that, as in C, a head whose task did not run in a step is
    still updated (moments decay, weight decay applies) and all share one
    step counter.

Each step's torch loss(es) are compared with log.csv's (relative
difference), as is the global gradient norm before clipping (log.csv
grad_norm), twice: the norm clip_grad_norm_ returns (float32; torch's CPU
float32 vector_norm reads ~1e-5 low on 1e5-1e6-element tensors) and the same
gradients' norm accumulated in float64 (which is what the C reduction
matches). Clipping uses clip_grad_norm_'s. A table is printed every --every
steps and a summary at the end.
Exit status: 0 when the largest relative loss difference over all replayed
steps and tasks is <= --tol, 1 when it is larger, 2 on bad input (missing
files, a dump without a step that log.csv lists, shape mismatches, ...).

Dropout masks cannot be reproduced (the C trainer draws them from Philox), so
an exact replay needs a run trained with --dropout 0; with dropout > 0 the
script still runs but says that the losses are only comparable statistically.
`--lr-scale` and `--weight-decay` deliberately perturb the replay, to show that
the check fails when the optimisation differs.

[PAD] row: HF's BertEmbeddings is nn.Embedding(padding_idx=pad_token_id), so
the [PAD] row of the word embeddings never gets a gradient. C builds before
the fix in impl/model/model_pass.c (backward_embeddings, MODEL_PAD_ID) gave it one.
Padded positions only reach a loss through QA (its CE runs over all T
positions, padding included), so NER replays agree either way, while a QA
replay of such a run differs by 0.8% in the step-1 gradient norm (the [PAD]
row's gradient, norm 0.275) and its losses drift to ~1e-3 relative over 100
steps. `--pad-row-grad` (padding_idx = None) replays those older runs.
"""
import argparse
import csv
import json
import math
import os
import statistics
import struct
import sys
import time

TASKS = ("ner", "qa")
NER_LABELS = 9


class InputError(Exception):
    """Bad or inconsistent input: reported on stderr, exit status 2."""


def need_file(path, what):
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file ({what})")
    return path


# ---- run directory ----------------------------------------------------------


def read_config(run):
    path = need_file(os.path.join(run, "config.json"), "the run's options; is --run an `mtl train` run directory?")
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not readable JSON: {e}")
    keys = ("lr", "weight-decay", "beta1", "beta2", "adam-eps", "clip", "dropout", "lambda-ner", "lambda-qa")
    missing = [k for k in keys if k not in cfg]
    if missing:
        raise InputError(f"{path}: missing option(s) {', '.join(missing)}")
    if cfg.get("loss-weighting", "static") != "static":
        raise InputError(f"{path}: loss-weighting {cfg['loss-weighting']!r}: replay supports only static lambdas")
    return cfg


def f32(x):
    """Round to float32: log.csv prints float32 values with %.9g, which this restores exactly."""
    return struct.unpack("f", struct.pack("f", x))[0] if math.isfinite(x) else x


def _float_or_none(s, path, lineno, col):
    if s is None or s == "":
        return None
    try:
        return f32(float(s))
    except ValueError:
        raise InputError(f"{path}:{lineno}: column {col}: {s!r} is not a number")


def read_log(run):
    """log.csv rows -> list of dicts (step, tasks, loss{ner,qa}, lr, grad_norm), by step."""
    path = need_file(os.path.join(run, "log.csv"), "the run's per-step log")
    with open(path, newline="") as f:
        rd = csv.DictReader(f)
        need = ("step", "task", "loss_ner", "loss_qa", "lr", "grad_norm")
        if rd.fieldnames is None or any(c not in rd.fieldnames for c in need):
            raise InputError(f"{path}: header must have columns {','.join(need)} (got {rd.fieldnames})")
        rows = []
        for lineno, r in enumerate(rd, start=2):
            try:
                step = int(r["step"])
            except (TypeError, ValueError):
                raise InputError(f"{path}:{lineno}: step {r['step']!r} is not an integer")
            loss = {k: _float_or_none(r[f"loss_{k}"], path, lineno, f"loss_{k}") for k in TASKS}
            tasks = [k for k in TASKS if loss[k] is not None]
            want = {"ner": ["ner"], "qa": ["qa"], "joint": ["ner", "qa"]}.get(r["task"])
            if want is None or want != tasks:
                raise InputError(f"{path}:{lineno}: task {r['task']!r} does not match the losses present ({tasks})")
            lr = _float_or_none(r["lr"], path, lineno, "lr")
            gn = _float_or_none(r["grad_norm"], path, lineno, "grad_norm")
            if lr is None or gn is None:
                raise InputError(f"{path}:{lineno}: empty lr or grad_norm")
            rows.append({"step": step, "tasks": tasks, "loss": loss, "lr": lr, "grad_norm": gn})
    if not rows:
        raise InputError(f"{path}: no steps logged")
    for i, r in enumerate(rows):
        if r["step"] != i + 1:
            raise InputError(f"{path}: steps must run 1, 2, 3, ... (row {i + 2} is step {r['step']})")
    return rows


# ---- the dump ------------------------------------------------------------------


def read_dump(path):
    need_file(path, "the `mtl train --dump-batches` file")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable safetensors file: {e}")


def as_int(t, name, lo=None, hi=None):
    import torch

    r = t.round()
    if not torch.equal(r, t):
        raise InputError(f"dump tensor {name}: non-integer values")
    r = r.long()
    if r.numel() and lo is not None and int(r.min()) < lo:
        raise InputError(f"dump tensor {name}: value {int(r.min())} < {lo}")
    if r.numel() and hi is not None and int(r.max()) > hi:
        raise InputError(f"dump tensor {name}: value {int(r.max())} > {hi}")
    return r


def step_batch(dump, dump_path, step, task, vocab, n_types):
    """The batch of (step, task) from the dump, as long tensors."""
    pre = f"s{step}.{task}."
    fields = ("ids", "types", "mask") + (("labels",) if task == "ner" else ("start", "end"))
    missing = [pre + f for f in fields if pre + f not in dump]
    if missing:
        raise InputError(
            f"{dump_path}: log.csv lists step {step} with task {task}, but the dump has no "
            f"{', '.join(missing)} (dump of another run, or of a resumed run, which dumps only "
            f"the steps of its last process?)")
    b = {}
    b["ids"] = as_int(dump[pre + "ids"], pre + "ids", 0, vocab - 1)
    if b["ids"].dim() != 2:
        raise InputError(f"{dump_path}: {pre}ids must be [B,T], got {list(b['ids'].shape)}")
    B, T = b["ids"].shape
    b["types"] = as_int(dump[pre + "types"], pre + "types", 0, n_types - 1)
    b["mask"] = as_int(dump[pre + "mask"], pre + "mask", 0, 1)
    for f in ("types", "mask"):
        if tuple(b[f].shape) != (B, T):
            raise InputError(f"{dump_path}: {pre}{f} is {list(b[f].shape)}, ids is {[B, T]}")
    if task == "ner":
        lab = as_int(dump[pre + "labels"], pre + "labels", -100, NER_LABELS - 1)
        if tuple(lab.shape) != (B, T):
            raise InputError(f"{dump_path}: {pre}labels is {list(lab.shape)}, ids is {[B, T]}")
        if ((lab < 0) & (lab != -100)).any():
            raise InputError(f"{dump_path}: {pre}labels has negative values other than -100")
        b["labels"] = lab
    else:
        for f in ("start", "end"):
            v = as_int(dump[pre + f], pre + f, -100, T - 1)
            if tuple(v.shape) != (B,):
                raise InputError(f"{dump_path}: {pre}{f} is {list(v.shape)}, want [{B}]")
            if ((v < 0) & (v != -100)).any():
                raise InputError(f"{dump_path}: {pre}{f} has negative values other than -100")
            b[f] = v
    return b


def check_dump_covers(dump, dump_path, rows):
    """Before any compute: every (step, task) of log.csv has its batch, and no other task's."""
    for r in rows:
        s = r["step"]
        for k in TASKS:
            fields = ("ids", "types", "mask") + (("labels",) if k == "ner" else ("start", "end"))
            have = [f for f in fields if f"s{s}.{k}.{f}" in dump]
            if k in r["tasks"] and len(have) != len(fields):
                miss = ", ".join(f"s{s}.{k}.{f}" for f in fields if f not in have)
                raise InputError(
                    f"{dump_path}: log.csv lists step {s} with task {k}, but the dump has no {miss} "
                    "(the dump of another run?)")
            if k not in r["tasks"] and have:
                raise InputError(f"{dump_path}: has a {k} batch for step {s}, which log.csv says ran "
                                 f"{'+'.join(r['tasks'])} only (the dump of another run?)")


# ---- model and losses ------------------------------------------------------------


def ce_mean_ignore(logits, target):
    """Mean CE over targets != -100; 0 (with a graph) when none is valid (impl/model/model.h)."""
    import torch.nn.functional as F

    if bool((target != -100).any()):
        return F.cross_entropy(logits, target, ignore_index=-100)
    return logits.sum() * 0.0


def build(args, cfg, dump):
    import torch
    from transformers import BertModel

    init = args.init
    for f in ("config.json", "model.safetensors"):
        need_file(os.path.join(init, f), "--init must be a Hugging Face BERT directory")
    p = float(cfg["dropout"])
    enc, info = BertModel.from_pretrained(
        init, add_pooling_layer=False, dtype=torch.float32, output_loading_info=True,
        hidden_dropout_prob=p, attention_probs_dropout_prob=p, attn_implementation=args.attn)
    if info.get("missing_keys"):
        raise InputError(f"{init}: encoder weights missing from model.safetensors: {sorted(info['missing_keys'])[:8]}")
    enc = enc.float()
    if args.pad_row_grad:  # as older C builds: the [PAD] row of the word embeddings gets its gradient
        enc.embeddings.word_embeddings.padding_idx = None
    C = enc.config.hidden_size
    heads = torch.nn.ModuleDict()
    for task, nout in (("ner", NER_LABELS), ("qa", 2)):
        w, b = dump.get(f"init.{task}.w"), dump.get(f"init.{task}.b")
        if w is None and b is None:
            continue
        if w is None or b is None or tuple(w.shape) != (nout, C) or tuple(b.shape) != (nout,):
            raise InputError(
                f"{args.dump}: init.{task}.w / init.{task}.b must be [{nout},{C}] / [{nout}] "
                f"(got {None if w is None else list(w.shape)} / {None if b is None else list(b.shape)})")
        lin = torch.nn.Linear(C, nout)
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        heads[task] = lin
    if not len(heads):
        raise InputError(f"{args.dump}: no init.ner.* or init.qa.* tensors (not an --dump-batches file?)")
    ner_drop = torch.nn.Dropout(p)  # C: NER logits = dropout(x) Wner^T + bner; QA has none
    return enc, heads, ner_drop


def task_loss(enc, heads, ner_drop, task, b):
    x = enc(input_ids=b["ids"], token_type_ids=b["types"], attention_mask=b["mask"]).last_hidden_state
    if task == "ner":
        logits = heads["ner"](ner_drop(x))
        return ce_mean_ignore(logits.reshape(-1, logits.shape[-1]), b["labels"].reshape(-1))
    logits = heads["qa"](x)  # [B,T,2]
    ls = ce_mean_ignore(logits[..., 0], b["start"])
    le = ce_mean_ignore(logits[..., 1], b["end"])
    return (ls + le) / 2


def param_groups(enc, heads, wd):
    """(decay, no_decay) lists; decay = 2-D tensors = impl/model/model.c INIT_NORMAL."""
    decay, no_decay, names = [], [], []
    for prefix, mod in (("encoder.", enc), ("head.", heads)):
        for n, p in mod.named_parameters():
            d = p.dim() == 2
            by_name = not (n.endswith("bias") or "LayerNorm" in n or "layernorm" in n.lower())
            if d != by_name:  # the two rules must agree, or the mapping is not what model.c does
                raise InputError(f"parameter {prefix}{n} {list(p.shape)}: cannot tell whether it decays")
            (decay if d else no_decay).append(p)
            if d:
                names.append(prefix + n)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}], names


# ---- replay -------------------------------------------------------------------------


def rel(a, b):
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(b), 1e-12)


def fmt(x):
    return "" if x is None else f"{x:.9g}"


class Setup:
    """What replay and train share: the run's options and log, the dump, the model and optimiser."""


def prepare(args):
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    st = Setup()
    st.cfg = cfg = read_config(args.run)
    st.log = log = read_log(args.run)
    st.dump = dump = read_dump(args.dump)
    if not os.path.isdir(args.init):
        raise InputError(f"{args.init}: no such directory (--init: the Hugging Face BERT the run started from)")

    st.n_steps = n_steps = len(log) if args.steps <= 0 else min(args.steps, len(log))
    dumped = sorted({int(k[1:].split(".")[0]) for k in dump if k.startswith("s") and k[1:].split(".")[0].isdigit()})
    if not dumped:
        raise InputError(f"{args.dump}: no s<step>.* batch tensors (was the run started with --dump-batches?)")
    if dumped[0] != 1:
        raise InputError(f"{args.dump}: first dumped step is {dumped[0]}, not 1 (a resumed run dumps only the "
                         "steps of its last process; replay needs the whole run)")
    if dumped[-1] < n_steps:
        raise InputError(f"{args.dump}: has steps 1..{dumped[-1]}, log.csv lists {len(log)}; "
                         f"replaying {n_steps} needs them all")
    check_dump_covers(dump, args.dump, log[:n_steps])
    if dumped[-1] > len(log):
        print(f"note: the dump has steps up to {dumped[-1]}, log.csv only {len(log)}; replaying {n_steps}",
              file=sys.stderr)

    st.lam = {"ner": float(cfg["lambda-ner"]), "qa": float(cfg["lambda-qa"])}
    st.clip = float(cfg["clip"])
    st.wd = float(cfg["weight-decay"]) if args.weight_decay is None else args.weight_decay
    st.dropout = float(cfg["dropout"])

    t_load = time.perf_counter()
    st.enc, st.heads, st.ner_drop = build(args, cfg, dump)
    for r in log[:n_steps]:
        for k in r["tasks"]:
            if k not in st.heads:
                raise InputError(f"step {r['step']} runs {k}, but the dump has no init.{k}.* head weights")
    groups, st.decay_names = param_groups(st.enc, st.heads, st.wd)
    st.params = [p for g in groups for p in g["params"]]
    st.opt = torch.optim.AdamW(groups, lr=float(cfg["lr"]), betas=(float(cfg["beta1"]), float(cfg["beta2"])),
                               eps=float(cfg["adam-eps"]))
    for p in st.params:  # every parameter takes part in every step, as in C (see the docstring)
        p.grad = torch.zeros_like(p)
    st.enc.train()
    st.heads.train()
    st.ner_drop.train()
    st.vocab, st.n_types = st.enc.config.vocab_size, st.enc.config.type_vocab_size
    st.t_load = time.perf_counter() - t_load
    return st


def one_step(st, args, r, norm64):
    """One optimiser step on log row r's batches: {task: loss}, grad norm (clip_grad_norm_'s), f64 norm or None."""
    import torch

    st.opt.zero_grad(set_to_none=False)
    tl = {}
    for k in TASKS:
        if k not in r["tasks"]:
            continue
        b = step_batch(st.dump, args.dump, r["step"], k, st.vocab, st.n_types)
        loss = task_loss(st.enc, st.heads, st.ner_drop, k, b)
        (st.lam[k] * loss).backward()
        tl[k] = float(loss.detach())
    if not all(math.isfinite(v) for v in tl.values()):
        return tl, math.nan, math.nan
    # the norm accumulated in float64, before clipping (torch's float32 vector_norm on CPU loses
    # ~1e-5 relative on these tensors; the C trainer's reduction does not)
    gn64 = (math.sqrt(sum(float(torch.linalg.vector_norm(p.grad, dtype=torch.float64)) ** 2 for p in st.params))
            if norm64 else None)
    gn = float(torch.nn.utils.clip_grad_norm_(st.params, st.clip if st.clip > 0 else math.inf))
    for g in st.opt.param_groups:
        g["lr"] = r["lr"] * args.lr_scale
    st.opt.step()
    return tl, gn, gn64


def cmd_replay(args):
    st = prepare(args)
    cfg, log, n_steps, lam, clip, wd, dropout = st.cfg, st.log, st.n_steps, st.lam, st.clip, st.wd, st.dropout
    heads = st.heads
    n_params = sum(p.numel() for p in st.params)
    print(f"replay: run {args.run} ({len(log)} steps logged), dump {args.dump}, init {args.init}")
    print(f"  heads {','.join(heads.keys())}; {n_params} parameters, {len(st.decay_names)} tensors with weight decay "
          f"{wd:g} (lr from log.csv x {args.lr_scale:g}); betas {cfg['beta1']:.9g}/{cfg['beta2']:.9g} "
          f"eps {cfg['adam-eps']:.3g} clip {clip:g} dropout {dropout:g} lambdas {lam['ner']:g}/{lam['qa']:g}; "
          f"attention {args.attn}, {args.threads} threads; [PAD] embedding row "
          f"{'trained (--pad-row-grad)' if args.pad_row_grad else 'without gradient (HF padding_idx)'}; "
          f"model loaded in {st.t_load:.1f} s")
    if args.lr_scale != 1.0 or args.weight_decay is not None:
        print("  NOTE: lr and/or weight decay deliberately differ from the run's (--lr-scale/--weight-decay)")
    if dropout > 0:
        print(f"  WARNING: the run used dropout {dropout:g}; torch cannot draw the C trainer's (Philox) masks, so "
              "the losses below agree only statistically, not to rounding. Replay a --dropout 0 run.")

    hdr = (f"{'step':>5} {'task':>5} {'lr':>11} {'loss C':>12} {'loss torch':>12} {'rel':>9} {'gnorm C':>10} "
           f"{'gnorm torch':>11} {'rel':>9} {'rel f64':>9}")
    diffs = {k: [] for k in TASKS}  # (rel, step)
    gdiffs, g64diffs = [], []
    rows_out = []
    t0 = time.perf_counter()
    for i in range(n_steps):
        r = log[i]
        s = r["step"]
        tl, gn, gn64 = one_step(st, args, r, norm64=True)
        if not all(math.isfinite(v) for v in tl.values()):
            print(f"step {s}: non-finite torch loss {tl}", file=sys.stderr)
            for k, v in tl.items():
                diffs[k].append((math.inf, s))
            break
        if clip <= 0:
            gn = gn64
        for k, v in tl.items():
            diffs[k].append((rel(v, r["loss"][k]), s))
        gdiffs.append((rel(gn, r["grad_norm"]), s))
        g64diffs.append((rel(gn64, r["grad_norm"]), s))
        rows_out.append((s, "+".join(r["tasks"]), r["lr"], r["loss"], tl, r["grad_norm"], gn, gn64))
        if s == 1 or s % args.every == 0 or i == n_steps - 1:
            if s == 1:
                print(hdr)
            for k in r["tasks"]:
                print(f"{s:>5} {k:>5} {r['lr']:>11.4e} {r['loss'][k]:>12.7g} {tl[k]:>12.7g} {diffs[k][-1][0]:>9.2e} "
                      f"{r['grad_norm']:>10.6g} {gn:>11.6g} {gdiffs[-1][0]:>9.2e} {g64diffs[-1][0]:>9.2e}")
            sys.stdout.flush()
    wall = time.perf_counter() - t0

    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "tasks", "lr", "loss_ner_c", "loss_ner_torch", "loss_qa_c", "loss_qa_torch",
                        "grad_norm_c", "grad_norm_torch", "grad_norm_torch_f64"])
            for s, tk, lr, lc, lt, gc, gt, g64 in rows_out:
                w.writerow([s, tk, f"{lr:.9g}", fmt(lc.get("ner") if "ner" in lt else None), fmt(lt.get("ner")),
                            fmt(lc.get("qa") if "qa" in lt else None), fmt(lt.get("qa")), f"{gc:.9g}", f"{gt:.9g}", f"{g64:.9g}"])

    print(f"\nsummary: {len(rows_out)} steps replayed in {wall:.1f} s ({wall / max(len(rows_out), 1):.3f} s/step)")
    worst = 0.0
    for k in TASKS:
        d = diffs[k]
        if not d:
            continue
        mx = max(d)
        worst = max(worst, mx[0])
        print(f"  loss {k:>3}: {len(d)} steps, max rel diff {mx[0]:.3e} (step {mx[1]}), "
              f"median {statistics.median(x for x, _ in d):.3e}, last {d[-1][0]:.3e}")
    for what, d in (("clip_grad_norm_ (f32)", gdiffs), ("float64-accumulated", g64diffs)):
        if d:
            mx = max(d)
            print(f"  grad norm, {what}: max rel diff {mx[0]:.3e} (step {mx[1]}), median "
                  f"{statistics.median(x for x, _ in d):.3e}, last {d[-1][0]:.3e} (reported, not checked)")
    ok = worst <= args.tol and len(rows_out) == n_steps
    print(f"{'PASS' if ok else 'FAIL'}: max relative loss difference {worst:.3e} "
          f"{'<=' if worst <= args.tol else '>'} --tol {args.tol:g}")
    if args.json:
        write_json_record(args, diffs, g64diffs, len(rows_out), wall, ok)
    return 0 if ok else 1


# ---- train (dropout on) -----------------------------------------------------------------


def peak_rss_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def save_hf(st, args, out):
    """The fine-tuned encoder + each head as transformers' own classes, saved by save_pretrained
    (so `mtl eval` scores what transformers wrote, through the same loader as any HF checkpoint)."""
    import shutil

    from conlleval_check import LABELS
    from transformers import BertConfig, BertForQuestionAnswering, BertForTokenClassification

    enc_sd = {f"bert.{k}": v for k, v in st.enc.state_dict().items()}
    base = st.enc.config.to_dict()
    base.pop("architectures", None)
    dirs = {}
    for task, lin in st.heads.items():
        if task == "ner":
            cfg = BertConfig(**{**base, "num_labels": len(LABELS), "id2label": dict(enumerate(LABELS)),
                                "label2id": {l: i for i, l in enumerate(LABELS)}})
            model, head = BertForTokenClassification(cfg), "classifier"
        else:
            model, head = BertForQuestionAnswering(BertConfig(**{**base, "num_labels": 2})), "qa_outputs"
        sd = dict(enc_sd)
        sd[f"{head}.weight"], sd[f"{head}.bias"] = lin.weight.detach(), lin.bias.detach()
        res = model.load_state_dict(sd, strict=False)
        missing = [k for k in res.missing_keys if "position_ids" not in k]
        if missing or res.unexpected_keys:
            raise RuntimeError(f"save {task}: missing {missing[:5]} unexpected {res.unexpected_keys[:5]}")
        d = os.path.join(out, task)
        model.save_pretrained(d, safe_serialization=True)
        for f in ("vocab.txt", "tokenizer_config.json"):
            if os.path.isfile(os.path.join(args.init, f)):
                shutil.copyfile(os.path.join(args.init, f), os.path.join(d, f))
        dirs[task] = d
    return dirs


def tail_mean(xs, frac=0.1):
    xs = [x for x in xs if x is not None]
    k = max(1, int(len(xs) * frac))
    return statistics.fmean(xs[-k:]) if xs else None


def cmd_train(args):
    """Fine-tune with dropout on, on the C run's batches, and save the result for `mtl eval`."""
    import torch
    import transformers

    st = prepare(args)
    if os.path.exists(args.out) and os.listdir(args.out):
        raise InputError(f"{args.out}: exists and is not empty (the fine-tuned models go there)")
    print(f"train: transformers {transformers.__version__} BertModel + heads, {st.n_steps} steps of the batches of "
          f"{args.run}, dropout {st.dropout:g}, torch seed {args.seed}, {args.threads} threads "
          f"(model loaded in {st.t_load:.1f} s)")
    losses = {k: [] for k in TASKS}
    t0 = time.perf_counter()
    for i in range(st.n_steps):
        r = st.log[i]
        tl, gn, _ = one_step(st, args, r, norm64=False)
        if not math.isfinite(gn):
            raise RuntimeError(f"step {r['step']}: non-finite loss or gradient norm {tl} {gn}")
        for k in TASKS:
            losses[k].append(tl.get(k))
        if r["step"] % args.every == 0 or i == st.n_steps - 1:
            el = time.perf_counter() - t0
            eta = el / (i + 1) * (st.n_steps - i - 1)
            print(f"  step {r['step']}/{st.n_steps} " + " ".join(f"loss_{k} {v:.4f}" for k, v in tl.items())
                  + f" | {el / (i + 1):.3f} s/step, ETA {eta / 60:.1f} min", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    dirs = save_hf(st, args, args.out)
    c_tail = {k: tail_mean([r["loss"][k] for r in st.log[:st.n_steps]]) for k in TASKS}
    rec = {"run": args.run, "dump": args.dump, "init": args.init, "torch_seed": args.seed,
           "threads": args.threads, "steps": st.n_steps, "dropout": st.dropout,
           "train_wall_s": wall, "s_per_step": wall / max(st.n_steps, 1), "peak_rss_mib": peak_rss_mib(),
           "torch": torch.__version__, "transformers": transformers.__version__, "attention": args.attn,
           "models": dirs,
           "final_train_loss_last10pct": {k: {"torch": tail_mean(losses[k]), "c": c_tail[k]} for k in TASKS
                                          if any(x is not None for x in losses[k])},
           "note": "wall time counts the optimisation steps only (not loading or saving); peak RSS is the "
                   "process's, including the batch dump it reads"}
    with open(os.path.join(args.out, "hf_train.json"), "w") as f:
        json.dump(rec, f, indent=1)
    print(f"train: {st.n_steps} steps in {wall:.1f} s ({rec['s_per_step']:.3f} s/step), peak RSS "
          f"{rec['peak_rss_mib']:.0f} MiB; saved " + ", ".join(dirs.values()))
    return 0


def write_json_record(args, diffs, g64diffs, n, wall, ok):
    """One record for reports/pretrained_results.py (runs/fidelity/*.json)."""
    import datetime as dt
    import json
    parts = []
    for k in TASKS:
        if diffs[k]:
            parts.append(f"{k} loss max rel diff {max(diffs[k])[0]:.2g}, median "
                         f"{statistics.median(x for x, _ in diffs[k]):.2g}")
    if g64diffs:
        parts.append(f"grad norm max rel diff {max(g64diffs)[0]:.2g}")
    run_cfg = json.load(open(os.path.join(args.run, "config.json")))
    mf = json.load(open(os.path.join(args.run, "manifest.json")))
    rec = {"check": f"(b) training replay, {run_cfg.get('task')} ({n} steps, dropout {run_cfg.get('dropout'):g}, "
                    f"C build {mf.get('git_commit')})",
           "command": "python3 reference/finetune_hf.py " + " ".join(sys.argv[1:]),
           "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), "pass": bool(ok),
           "summary": f"{n} steps of transformers BertModel + heads on the C run's batches: " + "; ".join(parts)
                      + f" (tolerance {args.tol:g}); torch replay {wall / max(n, 1):.2f} s/step"}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json + ".tmp", "w") as f:
        json.dump(rec, f, indent=1)
    os.replace(args.json + ".tmp", args.json)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--run", required=True, help="the run directory (config.json, log.csv)")
    common.add_argument("--dump", required=True, help="the --dump-batches safetensors file")
    common.add_argument("--init", required=True, help="the Hugging Face BERT directory the run started from")
    common.add_argument("--steps", type=int, default=0, help="only the first N steps (default: all)")
    common.add_argument("--every", type=int, default=25, help="print a row every N steps (default 25)")
    common.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    common.add_argument("--attn", default="sdpa", choices=("sdpa", "eager"), help="BertModel attention implementation")
    common.add_argument("--pad-row-grad", action="store_true",
                        help="give the word embeddings' [PAD] row (padding_idx) its gradient, as C builds before "
                             "the MODEL_PAD_ID fix did; HF's nn.Embedding(padding_idx=pad_token_id) leaves it at 0")
    rp = sub.add_parser("replay", parents=[common],
                        help="replay an `mtl train --dump-batches` run with HF BertModel + torch AdamW")
    rp.add_argument("--tol", type=float, default=1e-3, help="max relative loss difference (default 1e-3)")
    rp.add_argument("--csv", default="", help="also write every step's C and torch losses and norms to this CSV")
    rp.add_argument("--json", default="", help="also write the result as one record (runs/fidelity/*.json)")
    rp.add_argument("--lr-scale", type=float, default=1.0,
                    help="multiply log.csv's lr (!= 1 deliberately breaks the replay; to show the check can fail)")
    rp.add_argument("--weight-decay", type=float, default=None,
                    help="override the run's weight decay (deliberately breaks the replay)")
    rp.set_defaults(seed=0)
    tp = sub.add_parser("train", parents=[common],
                        help="fine-tune with the run's dropout on its batches; save HF dirs for `mtl eval`")
    tp.add_argument("--out", required=True, help="new directory: OUT/ner, OUT/qa (save_pretrained), OUT/hf_train.json")
    tp.add_argument("--seed", type=int, default=1, help="torch seed (dropout masks; default 1)")
    tp.set_defaults(lr_scale=1.0, weight_decay=None)
    args = ap.parse_args(argv)
    if args.every < 1:
        ap.error("--every must be >= 1")
    try:
        return cmd_replay(args) if args.cmd == "replay" else cmd_train(args)
    except InputError as e:
        print(f"finetune_hf.py {args.cmd}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
