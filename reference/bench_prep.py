#!/usr/bin/env python3
"""bench_prep.py — Hugging Face run_qa-style SQuAD preprocessing, timed on one
thread, as the baseline for `mtl prep-squad`.

    python3 reference/bench_prep.py [--file dev-v1.1.json.gz] [--vocab vocab.txt]
                                    [--dump hf.tsv] [--compare c.tsv]

What is timed (one core: RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false,
set before tokenizers is imported) is prepare_train_features of
transformers/examples/pytorch/question-answering/run_qa.py: question lstrip,
BertTokenizerFast(question, context, truncation="only_second",
max_length=384, stride=128, return_overflowing_tokens=True,
return_offsets_mapping=True, padding="max_length") in batches of 1000
examples (datasets.map's default), then the start/end labelling loop.

--dump writes "example window start end n_tokens idshash" per window, the
format of `mtl prep-squad --dump`; --compare reads such a file from the C
side and reports agreement of window counts, ids and start/end labels.
"""
import argparse
import gzip
import json
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from transformers import BertTokenizerFast  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data_paths import find_data, find_vocab  # noqa: E402


def load_examples(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    ex = {"question": [], "context": [], "answers": []}
    for art in data:
        for par in art["paragraphs"]:
            for qa in par["qas"]:
                ex["question"].append(qa["question"])
                ex["context"].append(par["context"])
                ans = [] if qa.get("is_impossible") else qa["answers"]
                ex["answers"].append({"text": [a["text"] for a in ans],
                                      "answer_start": [a["answer_start"] for a in ans]})
    return ex


def prepare_train_features(tok, questions, contexts, answers, max_len, stride):
    """run_qa.py's function (pad_on_right=True), returning the features."""
    questions = [q.lstrip() for q in questions]
    enc = tok(questions, contexts, truncation="only_second", max_length=max_len, stride=stride,
              return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
    sample_mapping = enc.pop("overflow_to_sample_mapping")
    offset_mapping = enc.pop("offset_mapping")
    starts, ends = [], []
    for i, offsets in enumerate(offset_mapping):
        input_ids = enc["input_ids"][i]
        cls_index = input_ids.index(tok.cls_token_id)
        sequence_ids = enc.sequence_ids(i)
        ans = answers[sample_mapping[i]]
        if len(ans["answer_start"]) == 0:
            starts.append(cls_index)
            ends.append(cls_index)
            continue
        start_char = ans["answer_start"][0]
        end_char = start_char + len(ans["text"][0])
        ts = 0
        while sequence_ids[ts] != 1:
            ts += 1
        te = len(input_ids) - 1
        while sequence_ids[te] != 1:
            te -= 1
        if not (offsets[ts][0] <= start_char and offsets[te][1] >= end_char):
            starts.append(cls_index)
            ends.append(cls_index)
        else:
            while ts < len(offsets) and offsets[ts][0] <= start_char:
                ts += 1
            starts.append(ts - 1)
            while offsets[te][1] >= end_char:
                te -= 1
            ends.append(te + 1)
    enc["start_positions"] = starts
    enc["end_positions"] = ends
    enc["sample_mapping"] = sample_mapping
    return enc


def ids_hash(ids):
    h = 2166136261
    for x in ids:
        h = ((h ^ x) * 16777619) & 0xFFFFFFFF
    return h


def feature_rows(batches):
    """(example, window, start, end, n_tokens, idshash) per window."""
    rows, prev, win = [], -1, 0
    for base, enc in batches:
        for i, sm in enumerate(enc["sample_mapping"]):
            e = base + sm
            win = win + 1 if e == prev else 0
            prev = e
            ids = enc["input_ids"][i]
            rows.append((e, win, enc["start_positions"][i], enc["end_positions"][i],
                         sum(enc["attention_mask"][i]), ids_hash(ids)))
    return rows


def compare(hf_rows, c_path, max_len):
    with open(c_path) as f:
        c_rows = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
    def per_example(rows):
        d = {}
        for r in rows:
            d.setdefault(r[0], []).append(r)
        return d
    h, c = per_example(hf_rows), per_example(c_rows)
    n_ex = max(len(h), len(c))
    same_windows = sum(1 for e in h if e in c and len(h[e]) == len(c[e]))
    n_win = ids_ok = lab_ok = hf_overrun = 0
    bad = []
    for e in h:
        if e not in c or len(h[e]) != len(c[e]):
            continue
        for a, b in zip(h[e], c[e]):
            n_win += 1
            ids_ok += a[4] == b[4] and a[5] == b[5]
            if a[2:4] == b[2:4]:
                lab_ok += 1
            elif a[2] == max_len - 1:
                hf_overrun += 1  # HF's start loop ran past the context (see squad_feat.c)
            elif len(bad) < 10:
                bad.append((a, b))
    print(f"examples: HF {len(h)}, C {len(c)}; same number of windows: {same_windows}/{n_ex}")
    print(f"windows compared: {n_win}; identical ids+mask: {ids_ok}/{n_win}; "
          f"identical start/end: {lab_ok}/{n_win}; HF start past the context (max_len-1): {hf_overrun}")
    for a, b in bad:
        print("  differs: HF", a, " C", b)
    return same_windows == n_ex and ids_ok == n_win and lab_ok + hf_overrun == n_win


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", default=None, help="default: squad/dev-v1.1.json.gz in the datasets dirs")
    ap.add_argument("--vocab", default=None, help="default: $MTL_VOCAB or the vocab in the datasets dirs")
    ap.add_argument("--max-seq", type=int, default=384)
    ap.add_argument("--stride", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--dump")
    ap.add_argument("--compare")
    a = ap.parse_args()
    a.file = a.file or find_data("squad/dev-v1.1.json.gz")
    a.vocab = a.vocab or find_vocab()
    t0 = time.perf_counter()
    ex = load_examples(a.file)
    # transformers 5: the vocab file goes in `vocab` (vocab_file= is ignored)
    tok = BertTokenizerFast(vocab=a.vocab, do_lower_case=True)
    t1 = time.perf_counter()
    n = len(ex["question"])
    batches = []
    for b in range(0, n, a.batch):
        sl = slice(b, b + a.batch)
        batches.append((b, prepare_train_features(tok, ex["question"][sl], ex["context"][sl],
                                                  ex["answers"][sl], a.max_seq, a.stride)))
    t2 = time.perf_counter()
    n_win = sum(len(enc["input_ids"]) for _, enc in batches)
    print(f"file: {a.file}")
    print(f"examples: {n}  windows: {n_win}")
    print(f"HF prepare_train_features (1 thread): {t2 - t1:.3f} s  {n / (t2 - t1):.0f} examples/s  "
          f"{n_win / (t2 - t1):.0f} windows/s")
    print(f"total incl. JSON load + tokenizer build: {t2 - t0:.3f} s  {n / (t2 - t0):.0f} examples/s")
    if a.dump or a.compare:
        rows = feature_rows(batches)
        if a.dump:
            with open(a.dump, "w") as f:
                for r in rows:
                    f.write("\t".join(str(x) for x in r) + "\n")
        if a.compare and not compare(rows, a.compare, a.max_seq):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
