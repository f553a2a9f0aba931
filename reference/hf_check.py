"""reference/hf_check.py — the C model against Hugging Face transformers on real windows.

    # (a) the pretrained encoder: last hidden state of C vs transformers' BertModel
    python3 reference/hf_check.py encoder --init datasets/data/weights/minilm-l6 [--n 200]
    # (d) a trained run: mtl export -> transformers -> logits vs mtl's own, and the
    #     entities / answer spans decoded from both identical
    python3 reference/hf_check.py export --run runs/NAME [--n 200]

Both run `build/mtl dump-forward` (C tokenisation and windows of CoNLL-2003 dev/test
and SQuAD dev, one window per forward, no padding), feed the same token ids to
transformers, and compare. Exit 1 when a tolerance is exceeded (hidden / logits: max
abs difference <= --tol, default 1e-4; decoded labels and spans: identical), 2 on a
usage or setup error. Decoding here is the plain one both sides share: NER argmax
on each word's first piece; QA the best start <= end span of <= 30 tokens inside the
context (token type 1, not the final [SEP]) by start + end logit.
"""
import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def run_dump(mtl, model, data, n, out, threads):
    cmd = [mtl, "dump-forward", "--model", model, "--data", data, "--n", str(n), "--out", out,
           "--threads", str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"hf_check: {' '.join(cmd)} failed:\n{r.stderr}")


def windows(dump):
    """[(ids, types, labels or None, hidden, logits)] in window order."""
    from safetensors.numpy import load_file
    t = load_file(dump)
    out, i = [], 0
    while f"ids.{i}" in t:
        lab = t.get(f"labels.{i}")
        out.append((t[f"ids.{i}"].astype(np.int64), t[f"types.{i}"].astype(np.int64),
                    None if lab is None else lab.astype(np.int64), t[f"hidden.{i}"], t[f"logits.{i}"]))
        i += 1
    if not out:
        sys.exit(f"hf_check: {dump} holds no windows")
    return out


def hf_forward(model, ids, types):
    import torch
    with torch.no_grad():
        x = torch.from_numpy(ids)[None]
        tt = torch.from_numpy(types)[None]
        o = model(input_ids=x, token_type_ids=tt, attention_mask=torch.ones_like(x),
                  output_hidden_states=True)
    return o


def qa_best_span(logits, types, max_len=30):
    ctx = np.where(types == 1)[0][:-1]  # context tokens, without the final [SEP]
    if len(ctx) == 0:
        return (-1, -1)
    s, e = logits[:, 0], logits[:, 1]
    best, span = -np.inf, (-1, -1)
    for i in ctx:
        for j in ctx[(ctx >= i) & (ctx < i + max_len)]:
            v = s[i] + e[j]
            if v > best:
                best, span = v, (int(i), int(j))
    return span


def check_encoder(args):
    import torch
    from transformers import BertModel
    torch.set_num_threads(args.threads)
    model = BertModel.from_pretrained(args.init, add_pooling_layer=False).eval()
    worst, ok = 0.0, True
    with tempfile.TemporaryDirectory() as tmp:
        for data in ("ner-dev", "qa-dev"):
            dump = os.path.join(tmp, f"{data}.safetensors")
            run_dump(args.mtl, args.init, data, args.n, dump, args.threads)
            diffs, ntok = [], 0
            for ids, types, _, hidden, _ in windows(dump):
                h = hf_forward(model, ids, types).last_hidden_state[0].numpy()
                diffs.append(float(np.abs(h - hidden).max()))
                ntok += len(ids)
            d = max(diffs)
            worst = max(worst, d)
            ok &= d <= args.tol
            print(f"(a) encoder {data}: {len(diffs)} windows, {ntok} tokens: last hidden state max |C - HF| = "
                  f"{d:.3g} (median over windows {np.median(diffs):.3g}; tolerance {args.tol:g})")
    print(f"(a) {'PASS' if ok else 'FAIL'}: max abs difference {worst:.3g} over both splits")
    args.summary.append(f"{args.n} windows each of CoNLL-2003 dev and SQuAD dev: last hidden state max |C - HF| "
                        f"{worst:.2g} (tolerance {args.tol:g})")
    return ok


def check_export(args):
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoModelForTokenClassification
    torch.set_num_threads(args.threads)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        exp = os.path.join(tmp, "export")
        r = subprocess.run([args.mtl, "export", args.run, "--out", exp], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"hf_check: mtl export failed:\n{r.stderr}")
        for task, data, cls in (("ner", "ner-test", AutoModelForTokenClassification),
                                ("qa", "qa-dev", AutoModelForQuestionAnswering)):
            if not os.path.isdir(os.path.join(exp, task)):
                continue
            model, info = cls.from_pretrained(os.path.join(exp, task), output_loading_info=True)
            model.eval()
            bad = {k: v for k, v in info.items() if v and k != "error_msgs" or (k == "error_msgs" and v)}
            print(f"(d) {task}: from_pretrained loading info: {info}")
            if bad:
                ok = False
                print(f"(d) {task}: FAIL: missing/unexpected weights {bad}")
            dump = os.path.join(tmp, f"{task}.safetensors")
            run_dump(args.mtl, args.run, data, args.n, dump, args.threads)
            diffs, same, units = [], 0, 0
            for ids, types, labels, _, logits in windows(dump):
                o = hf_forward(model, ids, types)
                if task == "ner":
                    hl = o.logits[0].numpy()
                    pos = labels != -100
                    units += int(pos.sum())
                    same += int((hl[pos].argmax(-1) == logits[pos].argmax(-1)).sum())
                else:
                    hl = torch.stack([o.start_logits[0], o.end_logits[0]], -1).numpy()
                    units += 1
                    same += int(qa_best_span(hl, types) == qa_best_span(logits, types))
                diffs.append(float(np.abs(hl - logits).max()))
            d = max(diffs)
            good = d <= args.tol and same == units
            ok &= good
            what = "word labels (argmax of the first piece)" if task == "ner" else "answer spans"
            print(f"(d) {task} on {data}: {len(diffs)} windows: logits max |mtl - transformers| = {d:.3g} "
                  f"(tolerance {args.tol:g}); {what} identical: {same}/{units} -> {'PASS' if good else 'FAIL'}")
            args.summary.append(f"{task}: {len(diffs)} windows of {data}, logits max |mtl - transformers| {d:.2g}, "
                                f"{what} identical {same}/{units}, from_pretrained missing/unexpected: none" if not bad
                                else f"{task}: from_pretrained reported {bad}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encoder")
    e.add_argument("--init", default="datasets/data/weights/minilm-l6")
    x = sub.add_parser("export")
    x.add_argument("--run", required=True)
    for p in (e, x):
        p.add_argument("--n", type=int, default=200, help="windows per split")
        p.add_argument("--tol", type=float, default=1e-4)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--mtl", default="build/mtl")
        p.add_argument("--json", default=None, help="also write the result here (reports/pretrained_results.py reads runs/fidelity/*.json)")
    args = ap.parse_args()
    if not os.access(args.mtl, os.X_OK):
        print(f"hf_check: {args.mtl} not found (run make)", file=sys.stderr)
        sys.exit(2)
    args.summary = []
    ok = check_encoder(args) if args.cmd == "encoder" else check_export(args)
    if args.json:
        name = "(a) pretrained encoder vs transformers" if args.cmd == "encoder" else \
            "(d) mtl export -> transformers vs mtl (run %s)" % args.run
        rec = {"check": name, "command": "python3 reference/hf_check.py " + " ".join(sys.argv[1:]),
               "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), "pass": bool(ok),
               "summary": "; ".join(args.summary)}
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json + ".tmp", "w") as f:
            json.dump(rec, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
