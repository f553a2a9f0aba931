"""lora_results.py — the parameter-efficient variants of the pretrained section: LoRA at each
rank (`make bench ABLATIONS=1 ABLATION_KINDS=lora`, runs lora-R) and the heads-only baseline
(ABLATION_KINDS=heads, run heads-only), next to full fine-tuning (the main multi-task runs of the
same seeds); the claims-table row for the seed report's "LoRA for efficient task adaptation"; and
the same-process step times of `mtl bench-step` (bench/results/lora/step.jsonl, written by
bench/lora_step.sh), since the runs' own s/step depend on what else ran beside them.

Used by pretrained_results.py; reads the runs through loading.Run."""
import math
import os

from loading import fnum, read_jsonl
from stats import mean_std, pm
from tables import table_lines as table


def efficient_variants(variants):
    """[(name, runs)]: heads-only first, then lora-R by increasing rank."""
    heads = [(n, rs) for n, rs in variants.items() if n == "heads-only"]
    lora = sorted(((n, rs) for n, rs in variants.items() if n.startswith("lora-")),
                  key=lambda p: fnum(p[1][0].config.get("lora-rank")))
    return heads + lora


def variant_label(name, runs):
    """'LoRA r 8, alpha 16 (qkv,out,ffn)', 'heads only', 'full fine-tuning'."""
    c = runs[0].config
    if name == "heads-only":
        return "heads only (frozen encoder)"
    if name.startswith("lora-"):
        return "LoRA r %d, α %g (%s)" % (int(fnum(c.get("lora-rank"))), fnum(c.get("lora-alpha")), c.get("lora-targets"))
    return "full fine-tuning (main multi-task)"


def trained_per_task(r):
    """(parameters one task trains, their share of the encoder): its adapters and head with a
    frozen encoder; the whole encoder (shared) and its head otherwise."""
    p = r.params
    enc = fnum(p.get("embeddings")) + fnum(p.get("layers")) * fnum(p.get("per_layer"))
    head = max(fnum(p.get("ner_head")), fnum(p.get("qa_head")))
    if "trainable" not in p:
        return enc + head, 1.0
    own = fnum(p.get("lora_per_task", 0))
    return own + head, own / enc


def mib(x):
    return "%.1f" % (fnum(x) / 1048576.0)


def lora_rows(main, variants, same_seed_runs):
    """The table: every variant's trained parameters, gradient + AdamW state, lr, NER test F1 and
    QA dev F1 (in brackets: minus full fine-tuning of the same seeds)."""
    eff = efficient_variants(variants)
    if not eff or not main:
        return []
    keys = [("ner", "test", "f1"), ("qa", "dev", "f1")]
    rows = []
    for name, rs in [("main", same_seed_runs(main, [r for _, v in eff for r in v]))] + eff:
        ref = same_seed_runs(main, rs)
        n, share = trained_per_task(rs[0])
        cells = []
        for k in keys:
            v, b = mean_std([r.get(*k) for r in rs])[0], mean_std([r.get(*k) for r in ref])[0]
            cells.append(pm([r.get(*k) for r in rs]) + ("" if name == "main" or math.isnan(v - b) else " (%+.2f)" % (v - b)))
        m = rs[0].memory
        rows.append([variant_label(name, rs), "%s (%.2f%%)" % (format(int(n), ","), 100 * share),
                     format(int(fnum(rs[0].params.get("trainable", rs[0].params.get("total")))), ","),
                     mib(fnum(m.get("grad_bytes")) + fnum(m.get("optimizer_bytes"))),
                     "%g" % fnum(rs[0].config.get("lr")), ",".join(str(r.metrics.get("seed")) for r in rs)] + cells)
    return table(["model", "trained per task (share of the encoder: its adapters)", "trained in all",
                  "gradients + AdamW (MiB)", "lr", "seeds", "NER F1 (test)", "QA F1 (dev)"], rows)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def step_times(path):
    """{(task, B, T, threads, variant): (median over the rounds of each run's median ms / step, the
    record of the least disturbed round (smallest median: its per-op profile is the one to read), the
    least disturbed step: the minimum over every round's timed steps, the paired ratios: (median over
    the rounds of each run's median pair ratio, smallest, largest) or None)} of
    bench/results/lora/step.jsonl (bench/lora_step.sh; pairs: bench-step --paired, each step over
    the full fine-tuning step beside it in the same process); variant 0 = full fine-tuning, -1 =
    heads only, r = LoRA rank r."""
    recs = [r for r in (read_jsonl(path) if os.path.exists(path) else []) if "ms_median" in r]
    groups = {}
    for r in recs:
        v = r.get("lora_rank") or (-1 if r.get("frozen_encoder") else 0)
        groups.setdefault((r.get("task"), r.get("batch"), r.get("seq"), r.get("threads"), v), []).append(r)
    out = {}
    for k, rs in groups.items():
        pr = [r["paired_ratio_median"] for r in rs if "paired_ratio_median" in r]
        out[k] = (median([r["ms_median"] for r in rs]), min(rs, key=lambda r: r["ms_median"]),
                  min(r.get("ms_min", r["ms_median"]) for r in rs), (median(pr), min(pr), max(pr)) if pr else None)
    return out


def step_rows(path):
    """The table of step_times: ms per step, its ratio to full fine-tuning at the same shapes and
    threads, the trained parameters and their gradient + AdamW memory; and the CPU."""
    st = step_times(path)
    rows = []
    for (task, B, T, th, v), (ms, r, least, pr) in sorted(st.items(),
                                                          key=lambda p: (p[0][:4], p[0][4] != 0, p[0][4])):
        f = st.get((task, B, T, th, 0))
        what = "LoRA r %d" % v if v > 0 else "heads only" if v < 0 else "full fine-tuning"
        rows.append([what, task, "%d×%d" % (B, T), str(th), format(int(r.get("trainable", r.get("params"))), ","),
                     "%.1f" % ms, "%.2f×" % (ms / f[0]) if f else "?",
                     "%.1f" % least, "%.2f×" % (least / f[2]) if f else "?",
                     "%.2f× (%.2f–%.2f)" % pr if pr else "1.00×" if v == 0 else "–",
                     "%.1f" % ((r.get("grad_bytes", 0) + r.get("optim_bytes", 0)) / 1048576.0), str(r.get("steps"))])
    if not rows:
        return [], None
    cpu = next(iter(st.values()))[1].get("cpu") or "?"
    return table(["training", "task", "B×T", "threads", "trained parameters", "ms / step (median of rounds)",
                  "÷ full", "least disturbed step (ms)", "÷ full",
                  "÷ full, paired steps (median of the rounds' medians; their range)", "gradients + AdamW (MiB)",
                  "timed steps per round"], rows), cpu


def step_note(path, rank=8, task="qa"):
    """Where LoRA r `rank`'s step goes at `task`'s shape, from bench-step's per-op profile (the
    least disturbed round of each): what the frozen weights save (matmul_backward) and what they cannot (attention,
    which has no weights), and what the adapters add."""
    st = step_times(path)
    full = [m[1] for (t, _, _, _, v), m in st.items() if t == task and v == 0]
    lo = [m[1] for (t, _, _, _, v), m in st.items() if t == task and v == rank]
    if not full or not lo:
        return ""
    f, l = full[0]["op_ms_per_step"], lo[0]["op_ms_per_step"]
    tot = sum(l.values())
    attn = l.get("attention_forward", 0) + l.get("attention_backward", 0)
    ad = l.get("lora_forward", 0) + l.get("lora_backward", 0) + l.get("lora_merge", 0)
    return ("Where the time goes (LoRA r %d, %s shapes, per-op profiles of the least disturbed round of each): the frozen weights cut "
            "matmul_backward from %.0f to %.0f ms per step (no weight gradients), but attention, which has no "
            "weights, takes %.0f%% of the step either way, and the adapters' own ops add %.0f%%. Even with "
            "adapters that cost nothing the step would take %.2fx full fine-tuning's (the profile's LoRA total "
            "less the adapter ops, over the full fine-tune's total): what the rest of the step keeps." % (
                rank, task.upper(), f.get("matmul_backward", 0), l.get("matmul_backward", 0), 100 * attn / tot,
                100 * ad / tot, (tot - ad) / sum(f.values())))


def step_ratio(path, rank=8, least=False, paired=False):
    """LoRA r `rank`'s step time over full fine-tuning's: (NER ratio, QA ratio), None where absent; of
    the medians, or with least, of the least disturbed steps, or with paired, the median over the
    rounds of the steps paired in one process."""
    st = step_times(path)
    out = []
    for task in ("ner", "qa"):
        lo = [m for (t, _, _, _, v), m in st.items() if t == task and v == rank]
        if paired:
            out.append(lo[0][3][0] if lo and lo[0][3] else None)
            continue
        f = [m[2] if least else m[0] for (t, _, _, _, v), m in st.items() if t == task and v == 0]
        lo = [m[2] if least else m[0] for m in lo]
        out.append(lo[0] / f[0] if f and lo else None)
    return tuple(out)


def lora_claim_row(main, variants, same_seed_runs, group_tests, step_path):
    """The claims table's row: the report's LoRA snippet claims efficient task adaptation. Measured:
    r = 8's trained parameters per task, its step time against full fine-tuning, and its scores against
    full fine-tuning of the same seeds (significant when both tests give p < 0.05)."""
    claim = ["LoRA for efficient task adaptation", "§ LoRA snippet (a LoRALayer class; no figure)"]
    lo = variants.get("lora-8")
    if not lo or not main:
        return claim + ["not run yet (`make bench ABLATIONS=1 ABLATION_KINDS=\"lora heads\"`)"]
    n, share = trained_per_task(lo[0])
    ref = same_seed_runs(main, lo)
    parts = ["r 8 trains %s parameters per task (%.2f%% of the encoder)" % (format(int(n), ","), 100 * share)]
    rn, rq = step_ratio(step_path)
    ln, lq = step_ratio(step_path, least=True)
    pn, pq = step_ratio(step_path, paired=True)
    if pn and pq:
        parts.append("a training step takes %.2f× (NER shapes) and %.2f× (QA) full fine-tuning's, by steps paired in "
                     "one process (medians; separate runs: %.2f× and %.2f× by the medians, %.2f× and %.2f× by the "
                     "least disturbed steps; `bench/lora_step.sh`, same machine and run)" % (pn, pq, rn, rq, ln, lq))
    elif rn and rq:
        parts.append("a training step takes %.2f× (NER shapes) and %.2f× (QA) full fine-tuning's by the medians, "
                     "%.2f× and %.2f× by the least disturbed steps (`bench/lora_step.sh`, same machine and run)" % (
                         rn, rq, ln, lq))
    d = {k: mean_std([r.get(*k) for r in lo])[0] - mean_std([r.get(*k) for r in ref])[0]
         for k in (("ner", "test", "f1"), ("qa", "dev", "f1"))}
    parts.append("NER test F1 %+.2f and QA dev F1 %+.2f against full fine-tuning (%d seed(s))" % (
        d[("ner", "test", "f1")], d[("qa", "dev", "f1")], len(lo)))
    tests = group_tests(ref, lo) if len(lo) >= 2 and len(ref) == len(lo) else {}
    if tests:
        import significance as sg
        sig = {k: sg.verdict(t["boot"], t["welch"]) == "significant" for k, t in tests.items()}
        worse = [k for k in ("ner_test_f1", "qa_dev_f1") if sig.get(k) and tests[k]["boot"]["diff"] < 0]
        names = {"ner_test_f1": "NER test F1", "qa_dev_f1": "QA dev F1"}
        verdict = ("**contradicted** on %s: significantly below full fine-tuning" % ", ".join(names[k] for k in worse)
                   if worse
                   else "**supported**: no significant loss against full fine-tuning" if share <= 0.02
                   else "**not significant**: no significant loss, but more than 2% of the encoder trained")
    else:
        verdict = "no significance test yet (it needs ≥ 2 seeds of lora-8)"
    return claim + ["; ".join(parts) + ". " + verdict + "."]
