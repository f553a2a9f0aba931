"""tables.py — the Markdown tables of RESULTS.md's from-scratch section:
single-task vs multi-task, per-entity scores, the ablations, kernel
microbenchmarks, the training step ours vs PyTorch (with its per-op
breakdown) and the runs' manifests. table() / table_lines() are the one
Markdown table writer of reports/. Standard library only.
"""
import re

from loading import csv_provenance, fnum, gradnorm_keys, read_csv, read_jsonl
from stats import mean_std, median, pm, summary


def table_lines(header, rows):
    """A Markdown table as a list of lines."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def table(header, rows):
    """A Markdown table as one string."""
    return "\n".join(table_lines(header, rows))


def fmt_num(v):
    """CSV number to 4 significant digits; empty stays empty."""
    if v in (None, ""):
        return ""
    try:
        return "%.4g" % float(v)
    except ValueError:
        return v


# ----------------------------------------------------------------- scores

def single_vs_multi(classes):
    """Headline scores, size, time and memory of the three main models."""
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
    """P / R / F1 per entity type on CoNLL-2003 test, then micro and macro."""
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
    """The main multi-task runs (as `base`) and the classes named prefix...;
    with extra_prefix also the GradNorm classes and the final task weights."""
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


def manifest_lines(groups):
    """One line per run: commit, compiler, BLAS, machine, time and data hashes."""
    out = []
    for g in sorted(groups):
        for r in groups[g]:
            m = r.manifest
            files = ", ".join("%s %s…" % (f.get("role"), f.get("sha256", "")[:12])
                              for f in m.get("data_files", []))
            out.append("- `%s`: commit `%s`%s, %s, BLAS %s, CPU %s, %s threads, device %s%s; "
                       "%s → %s (%.0f s); data: %s" % (
                           r.path, m.get("git_commit", "?"), " (dirty tree)" if m.get("git_dirty") else "",
                           m.get("compiler", "?"), " ".join((m.get("blas") or "?").split(" ")[:2]),
                           m.get("cpu_model", "?"), m.get("threads", "?"), m.get("device", "?"),
                           (", GPU " + m["gpu"]) if m.get("gpu") else "",
                           m.get("start_time", "?"), m.get("end_time", "?"), fnum(m.get("wall_s")), files))
    return "\n".join(out)


# ----------------------------------------------------------------- kernels

KERNELS_INTRO = (
    "`pct_peak` is the percentage of this machine's peak measured in the same run: "
    "the large-sgemm GFLOP/s (row peak_sgemm; in a `--precision bf16` CSV the bf16 GEMM's, "
    "row peak_bf16_gemm) for GEMM and attention rows, the copy "
    "GB/s of buffers far larger than the caches (row peak_copy) for the others, so an "
    "op whose working set stays in cache can exceed 100%. `gbs` of a GEMM or attention row "
    "counts its compulsory traffic (every input and output once; reports/roofline.gp plots "
    "FLOPs / those bytes against GFLOP/s). `share` is calls × median time over the sum for all ops of one step.")


def kernel_table(path, rows):
    """One bench-kernels CSV as a table, headed by its provenance."""
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
    return "`%s` (%ssummed kernel time of one step: %.1f ms):\n\n" % (
        path, ("run: " + prov + "; ") if prov else "no provenance line (older CSV); ",
        step_us / 1000) + table(hdr, body)


def kernels_section(kernel_csvs):
    """One table per bench-kernels CSV, with each op's share of the step's
    summed kernel time (calls * median_us / sum over ops; the peak_* rows have
    calls 0 and are the reference measurements)."""
    parts = [KERNELS_INTRO]
    for path in kernel_csvs:
        rows = read_csv(path)
        if rows:
            parts.append(kernel_table(path, rows))
    return "\n\n".join(parts)


# ----------------------------------------------------------------- training step

STEP_SIDES = (("ours", "ours (C)"), ("torch-ref", "PyTorch, reference/model.py"),
              ("torch-hf", "PyTorch, HF BertModel"))

STEPS_INTRO = (
    "One training step of the multi-task model (one NER and one QA forward/backward pass "
    "of B×T tokens each, gradient clipping, AdamW) timed by `mtl bench-step` and by "
    "`reference/bench_step.py` in PyTorch eager on the same machine with the same threads "
    "(`make bench-step`, bench/bench_step_cmp.sh). Each ms/step is the median over rounds "
    "of each run's median step. MFU = model FLOPs per step (matmuls and attention, "
    "backward = 2× forward) / ours' median step time / the sgemm peak that bench-step "
    "measured in the same runs. A ratio above 1 means ours is faster. The goal set in "
    "issue #2 is ≥ 1.5× PyTorch and ≥ 70% MFU on mini and minilm (CPU); issue #5's "
    "goals on the GPU are ≥ 1.3× PyTorch eager and ≥ 40% of the TF32 peak with --tf32.")


def step_key(r):
    """The shape of a bench-step record: device, preset, tf32, batch, seq, threads."""
    return (r.get("device"), r.get("preset"), bool(r.get("tf32")),
            r.get("batch"), r.get("seq"), r.get("threads"))


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


def step_row(key, mine):
    """One shape's row: ms/step per side, ours' tokens/s, GFLOP/s, MFU, ratios."""
    dev, preset, tf32, B, T, th = key
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
    return row


def step_file_lead(path, meta):
    """What a bench_step_cmp file records: run, machine, versions, steps."""
    # `mtl version` lines joined by ';': "commit: x;compiler: y;..." without the title
    version = ", ".join(re.sub(r"\s+", " ", part).strip()
                        for part in meta.get("mtl_version", "").split(";") if ":" in part)
    return ("`%s` (run %s on %s, %s, %s CPU(s)%s; %s; torch %s, transformers %s; %s timed steps "
            "after %s warm-up per run, sides interleaved within each round):\n\n" % (
                path, meta.get("run", "?"), meta.get("host", "?"), meta.get("cpu", "?"),
                meta.get("nproc", "?"),
                ", GPU " + meta["gpu"] if meta.get("gpu", "none") != "none" else "",
                version or "mtl version unknown", meta.get("torch", "?"),
                meta.get("transformers", "?"), meta.get("steps", "?"), meta.get("warmup", "?")))


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
        shapes = []
        for r in runs:
            if step_key(r) not in shapes:
                shapes.append(step_key(r))
        hdr = ["device", "preset", "math", "B×T", "threads", "rounds"]
        hdr += ["%s ms/step" % label for _, label in STEP_SIDES]
        hdr += ["ours tokens/s", "ours GFLOP/s", "ours MFU", "ref / ours", "HF / ours"]
        body = [step_row(key, [r for r in runs if step_key(r) == key]) for key in shapes]
        parts.append(step_file_lead(path, meta) + table(hdr, body))
        breakdown = step_breakdown(runs, step_key, shapes)
        if breakdown:
            parts.append(breakdown)
    if not parts:
        return ""
    return "\n\n".join([STEPS_INTRO] + parts)
