#!/usr/bin/env python3
"""golden_tokens.py — Hugging Face golden WordPiece tokens for the whole corpus,
and a comparison against `mtl tokenize`.

  gen      tokenize every CoNLL-2003 word (each distinct whitespace token), every
           CoNLL sentence (words joined by one space), every SQuAD question and
           context (dev v1.1 + the 44-article train subset) with
           transformers' BertTokenizerFast built from the local vocab file (no
           download), and write OUT/inputs.txt (one input a line) and
           OUT/golden.tsv ("tokens<TAB>cstart-cend ...<TAB>word ids", the
           offsets are code-point offsets into the ORIGINAL text) and
           OUT/sources.txt (which corpus each line came from).
  compare  run `MTL tokenize --offsets` on OUT/inputs.txt and compare line by
           line; print the agreement count per source and list EVERY mismatch.
  sample   write a small golden fixture (tricky hand-written cases + a sample
           of SQuAD lines, no CoNLL sentences) for tests/test_tokenizer.c.

Newlines inside an input (a few SQuAD contexts) are replaced by spaces before
tokenizing with both tools; both are whitespace to BERT, so the tokens and the
offsets are unchanged by the replacement.

usage (from the repository root):
  python3 reference/golden_tokens.py gen --out /tmp/tok_golden
  python3 reference/golden_tokens.py compare --out /tmp/tok_golden --mtl build/mtl
  python3 reference/golden_tokens.py sample --out tests/fixtures/tokenizer_golden.tsv
"""
import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data_paths import find_data, find_vocab  # noqa: E402

VOCAB = find_vocab()


def load_tokenizer():
    from transformers import BertTokenizerFast
    # transformers 5 takes the vocab file as `vocab=`; 4.x called it vocab_file.
    try:
        tok = BertTokenizerFast(vocab=VOCAB, do_lower_case=True)
    except TypeError:
        tok = BertTokenizerFast(vocab_file=VOCAB, do_lower_case=True)
    if len(tok) < 1000:
        sys.exit(f"golden_tokens: vocab {VOCAB} was not loaded (size {len(tok)})")
    return tok


def one_line(s):
    """The text as fed to the line-based CLI: line breaks -> spaces."""
    return s.replace("\r", " ").replace("\n", " ")


def conll_inputs():
    words, sents = {}, []
    for split in ("train", "valid", "test"):
        cur = []
        with open(find_data("conll2003/%s.txt" % split), encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if not fields or fields[0] == "-DOCSTART-":
                    if cur:
                        sents.append(" ".join(cur))
                    cur = []
                    continue
                cur.append(fields[0])
                words.setdefault(fields[0], None)
        if cur:
            sents.append(" ".join(cur))
    return [("conll-word", w) for w in words] + [("conll-sentence", s) for s in sents]


def squad_inputs(name, tag):
    with gzip.open(find_data("squad/" + name), "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    out = []
    for art in data:
        for par in art["paragraphs"]:
            out.append((tag + "-context", par["context"]))
            for qa in par["qas"]:
                out.append((tag + "-question", qa["question"]))
    return out


def encode_lines(tok, texts, batch=2048):
    """HF encodings -> golden lines 'tokens\\toffsets\\twords'."""
    lines = []
    for i in range(0, len(texts), batch):
        enc = tok(texts[i:i + batch], add_special_tokens=False, return_offsets_mapping=True)
        for k, ids in enumerate(enc["input_ids"]):
            toks = tok.convert_ids_to_tokens(ids)
            offs = " ".join(f"{a}-{b}" for a, b in enc["offset_mapping"][k])
            words = " ".join(str(w) for w in enc.word_ids(k))
            lines.append(" ".join(toks) + "\t" + offs + "\t" + words)
    return lines


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n", errors="surrogatepass") as f:
        for s in lines:
            f.write(s + "\n")


def read_lines(path):
    with open(path, encoding="utf-8", newline="\n", errors="surrogatepass") as f:
        return [s[:-1] if s.endswith("\n") else s for s in f]


def cmd_gen(args):
    os.makedirs(args.out, exist_ok=True)
    items = conll_inputs() + squad_inputs("dev-v1.1.json.gz", "squad-dev") + \
        squad_inputs("train-v1.1-subset44.json.gz", "squad-train44")
    texts = [one_line(t) for _, t in items]
    tok = load_tokenizer()
    t0 = time.time()
    gold = encode_lines(tok, texts)
    print(f"HF BertTokenizerFast: {len(texts)} inputs in {time.time() - t0:.2f} s")
    write_lines(os.path.join(args.out, "inputs.txt"), texts)
    write_lines(os.path.join(args.out, "golden.tsv"), gold)
    write_lines(os.path.join(args.out, "sources.txt"), [s for s, _ in items])
    print(f"wrote {len(texts)} lines to {args.out}/{{inputs.txt,golden.tsv,sources.txt}}")


def cmd_compare(args):
    inputs = os.path.join(args.out, "inputs.txt")
    gold = read_lines(os.path.join(args.out, "golden.tsv"))
    srcs = read_lines(os.path.join(args.out, "sources.txt"))
    texts = read_lines(inputs)
    t0 = time.time()
    with open(inputs, "rb") as f:
        res = subprocess.run([args.mtl, "tokenize", "--offsets"] +
                             (["--vocab", VOCAB] if VOCAB else []),
                             stdin=f, capture_output=True, check=False)
    print(f"mtl tokenize: {len(texts)} inputs in {time.time() - t0:.2f} s (rc {res.returncode})")
    if res.returncode != 0:
        sys.stderr.write(res.stderr.decode("utf-8", "replace"))
    mine = res.stdout.decode("utf-8", "surrogatepass").split("\n")
    per = {}
    bad = 0
    for i, g in enumerate(gold):
        m = mine[i] if i < len(mine) else "<missing>"
        ok_tok = m.split("\t")[0] == g.split("\t")[0]
        ok = m == g
        n_ok, n_tok, n = per.get(srcs[i], (0, 0, 0))
        per[srcs[i]] = (n_ok + ok, n_tok + ok_tok, n + 1)
        if not ok:
            bad += 1
            if bad <= args.max_list:
                print(f"MISMATCH line {i + 1} [{srcs[i]}] input: {texts[i]!r}")
                print(f"   hf : {g}")
                print(f"   mtl: {m}")
    total_ok = sum(v[0] for v in per.values())
    for s, (n_ok, n_tok, n) in per.items():
        print(f"{s:22s} {n_ok:7d} / {n:7d} identical (tokens+offsets+words); tokens only {n_tok}")
    print(f"TOTAL {total_ok} / {len(gold)} identical, {bad} mismatches")
    return 0 if bad == 0 else 1


# Hand-written tricky cases: accents, case mappings, ligatures, full-width,
# CJK, Hangul, control/format chars, unusual whitespace, punctuation classes,
# [UNK], the 100-char limit, special-token literals, emoji, empty lines.
TRICKY = [
    "", "   ", "\t", "Hello, world!", "It's unaffable.", "İstanbul", "İ\u0307", "ß straße", "ẞ",
    "Ǆemal ǅ ǆ", "e\u0301cole café", "Crème Brûlée", "ﬁsh ﬁ ﬀ ﬆ", "ＡＢＣ\u3000ｄｅ１２", "Ⅷ ⅷ ① ² ℌ Ⓐ",
    "中文字 abc㐀", "日本語のテキスト", "한국어 서울", "ΣΑΣ Ὅμηρος", "Москва́ МОСКВА", "ǰa ŉ Ḱ ẋ",
    "\u0345", "\u0301\u0301 a", "ab" + "\u0301" * 100, "a\x0bb a\x0cb a\x85b a\u2028b a\u2029b",
    "a\xa0b a\u200bb a\ue000b a\u0378b a\ufeffb a\xadb", "a\u1680b a\u180eb a\u205fb a\u3000b",
    "x\ufffdy \x00z", "a\x01b\x1fc\x7fd", "hello [SEP] world [sep]", "a[SEP]b [[CLS]] [MASK][PAD][UNK]",
    "a-b a_b a$b a¿b a§b a¶b a«b» a·b a’s a—b", "a€b a°b dont´t aʼb", "🥰 🙂 x🥰y 🫠",
    "x" * 100, "x" * 101, "é" * 100, "é" * 101, "naïve coöperate Zürich São Paulo Kraków",
    "1,000.50 $3.2m 50% e-mail u.s.a. C++ #hashtag @user", "\"quoted\" 'single' (paren) [bracket] {brace}",
    "Ångström Ω K Å", "a\U0002b820b a\U0002b920b", "Þórr Ægir Øresund", "ﬃ ﬄ", "𝐀𝐁𝐂 𝔄", "x\u0307", "\u30a2\u3099",
]


def cmd_sample(args):
    tok = load_tokenizer()
    rnd = random.Random(1234)
    dev = squad_inputs("dev-v1.1.json.gz", "squad-dev")
    questions = [t for s, t in dev if s.endswith("question")]
    contexts = [t for s, t in dev if s.endswith("context")]
    nonascii = [t for t in questions if any(ord(c) > 127 for c in t)]
    sample = list(TRICKY)
    sample += rnd.sample(questions, 120) + rnd.sample(nonascii, min(60, len(nonascii)))
    sample += rnd.sample([c for c in contexts if any(ord(ch) > 127 for ch in c)], 8)
    texts = [one_line(t) for t in sample]
    gold = encode_lines(tok, texts)
    # Fixture line: escaped input \t tokens \t offsets \t word ids. The input is
    # written with Python's unicode_escape for non-printables so the file stays
    # one line per case and readable.
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("# tokenizer golden sample from reference/golden_tokens.py (HF BertTokenizerFast,\n"
                "# bert-base-uncased vocab). input (\\xNN \\uNNNN \\UNNNNNNNN \\\\ escapes) <TAB> tokens\n"
                "# <TAB> code-point offsets <TAB> word ids. SQuAD text is CC BY-SA 4.0.\n")
        for t, g in zip(texts, gold):
            f.write(escape(t) + "\t" + g + "\n")
    print(f"wrote {len(texts)} cases to {args.out}")


def escape(s):
    """Backslash-escape \\, and every control, format, mark and separator
    character except the plain space, so that each case stays one readable
    line (tests/test_tokenizer.c undoes this)."""
    out = []
    for c in s:
        o = ord(c)
        if c == "\\":
            out.append("\\\\")
        elif c != " " and (unicodedata.category(c)[0] in "CMZ" or not c.isprintable()):
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
        else:
            out.append(c)
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["gen", "compare", "sample"])
    ap.add_argument("--out", required=True, help="golden dir (gen/compare) or fixture file (sample)")
    ap.add_argument("--mtl", default="build/mtl", help="the mtl binary (compare)")
    ap.add_argument("--max-list", type=int, default=1000000, help="mismatches to print (compare)")
    args = ap.parse_args()
    if args.mode == "gen":
        cmd_gen(args)
    elif args.mode == "compare":
        sys.exit(cmd_compare(args))
    else:
        cmd_sample(args)


if __name__ == "__main__":
    main()
