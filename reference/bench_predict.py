#!/usr/bin/env python3
"""bench_predict.py — the peers of `mtl bench-predict` on the same inputs, model
and threads: transformers' pipelines (token-classification with aggregation
"first", question-answering) and plain PyTorch inference (torch.inference_mode,
the tokenizer with padding="longest", the model, argmax decoding).

Latency: one input per call, p50 / p90 / p99 ms over the first N inputs (after
W untimed ones). Throughput: all N inputs, BATCH per call (pipelines:
batch_size=BATCH). Prints one JSON line per (task, impl), as mtl does.
The question-answering pipeline needs transformers 4 (reference/README.md).

    python3 reference/bench_predict.py --export DIR [--n 200] [--batch 32] [--threads 2] [--warmup 5]
                                       [--precision fp32|bf16]
DIR is an `mtl export` directory (ner/, qa/).
"""
import argparse
import contextlib
import json
import os
import resource
import sys
import time

from predict_inputs import conll_sentences, squad_questions


def pct(v, q):
    v = sorted(v)
    k = max(1, min(len(v), int(q * len(v) + 0.999999)))
    return v[k - 1]


def under(ctx, fn):
    """fn, called inside a fresh context from ctx() (autocast, or nothing)."""
    def run(x):
        with ctx():
            return fn(x)
    return run


def measure(one, many, inputs, batch, warmup):
    for x in inputs[:warmup]:
        one([x])
    ms = []
    for x in inputs:
        t0 = time.perf_counter()
        one([x])
        ms.append(1e3 * (time.perf_counter() - t0))
    t0 = time.perf_counter()
    for i in range(0, len(inputs), batch):
        many(inputs[i:i + batch])
    per_s = len(inputs) / (time.perf_counter() - t0)
    return {"p50_ms": pct(ms, 0.5), "p90_ms": pct(ms, 0.9), "p99_ms": pct(ms, 0.99),
            "mean_ms": sum(ms) / len(ms), "per_s": per_s}


def plain_ner(tok, model, torch):
    def run(texts):
        enc = tok(texts, padding="longest", truncation=True, max_length=512, return_tensors="pt")
        with torch.inference_mode():
            return model(**enc).logits.argmax(-1)
    return run


def plain_qa(tok, model, torch):
    def run(pairs):
        enc = tok([q for q, _ in pairs], [c for _, c in pairs], truncation="only_second", max_length=384,
                  stride=128, return_overflowing_tokens=True, padding="longest", return_tensors="pt")
        enc.pop("overflow_to_sample_mapping", None)
        with torch.inference_mode():
            out = model(**enc)
        return out.start_logits.argmax(-1), out.end_logits.argmax(-1)
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--export", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--task", default="all", choices=["ner", "qa", "all"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    a = ap.parse_args()
    import torch
    import transformers
    from transformers import (AutoModelForQuestionAnswering, AutoModelForTokenClassification, AutoTokenizer,
                              pipeline)
    torch.set_num_threads(a.threads)
    common = {"n": a.n, "batch": a.batch, "threads": a.threads, "torch": torch.__version__,
              "transformers": transformers.__version__, "precision": a.precision}
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.precision == "bf16" else contextlib.nullcontext
    tasks = []
    if a.task in ("ner", "all"):
        d = os.path.join(a.export, "ner")
        tok, model = AutoTokenizer.from_pretrained(d), AutoModelForTokenClassification.from_pretrained(d).eval()
        nlp = pipeline("token-classification", model=model, tokenizer=tok, aggregation_strategy="first", device=-1)
        xs = conll_sentences(a.n)
        tasks.append(("ner", "pipeline", lambda b, nlp=nlp: nlp(b), lambda b, nlp=nlp: nlp(b, batch_size=a.batch), xs))
        run = plain_ner(tok, model, torch)
        tasks.append(("ner", "pytorch", run, run, xs))
    if a.task in ("qa", "all"):
        d = os.path.join(a.export, "qa")
        tok, model = AutoTokenizer.from_pretrained(d), AutoModelForQuestionAnswering.from_pretrained(d).eval()
        xs = [(q["question"], q["context"]) for q in squad_questions(a.n)]
        try:
            qa = pipeline("question-answering", model=model, tokenizer=tok, device=-1)
            kw = dict(max_answer_len=30, doc_stride=128, max_seq_len=384, max_question_len=64, align_to_words=False)
            tasks.append(("qa", "pipeline", lambda b: qa(question=[q for q, _ in b], context=[c for _, c in b], **kw),
                          lambda b: qa(question=[q for q, _ in b], context=[c for _, c in b], batch_size=a.batch,
                                       **kw), xs))
        except Exception as e:  # transformers >= 5: no question-answering pipeline
            print("bench_predict: no question-answering pipeline (%s)" % e, file=sys.stderr)
        run = plain_qa(tok, model, torch)
        tasks.append(("qa", "pytorch", run, run, xs))
    for task, impl, one, many, xs in tasks:
        r = measure(under(ctx, one), under(ctx, many), xs, a.batch, a.warmup)
        r.update(common, task=task, impl=impl, n=len(xs),
                 peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
        print("%s %s %s: batch 1 latency p50 %.2f ms, p90 %.2f, p99 %.2f; batch %d: %.1f inputs/s" %
              (task, impl, a.precision, r["p50_ms"], r["p90_ms"], r["p99_ms"], a.batch, r["per_s"]), file=sys.stderr)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
