#!/usr/bin/env python3
"""unicode_check.py — make `mtl tokenize` treat every Unicode code point as
Hugging Face's BertTokenizerFast does, and prove it.

HF's BertNormalizer and BertPreTokenizer take their character classes from
old Unicode tables (the `unicode_categories` and
`unicode-normalization-alignments` crates) and lower-case with the Rust
standard library's newer ones; mtl takes everything from utf8proc. Where the
two disagree, impl/data/tokenizer_hf_rules.h gives HF's rule for the code point.

  gen    probe HF and `mtl tokenize --words --utf8proc-only` on "a" + c + "b"
         for every code point c (U+0000..U+10FFFF without the surrogates and
         the newline), uncased and cased; every c where they differ gets a
         rule: HF's class (plain, punctuation, nonspacing mark, space,
         dropped), its lower case, and its canonical combining class (HF's
         NFD tables give 0 to code points they do not know: probed by
         whether HF reorders c before U+0334). Writes
         impl/data/tokenizer_hf_rules.h and tests/fixtures/tokenizer_unicode.tsv
         (HF's words for every rule's code point, and HF's tokens for the
         reordering cases with tests/fixtures/vocab_marks.txt; both are read
         by tests/test_tokenizer.c).
  check  the same probe with the rules on, plus canonical-reordering cases
         at token level (a vocab of marks): prints the differences, exits 1
         if there are any.

usage (repository root; needs transformers + tokenizers):
  python3 reference/unicode_check.py gen   [--mtl build/mtl]
  python3 reference/unicode_check.py check [--mtl build/mtl]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data_paths import find_vocab  # noqa: E402

VOCAB = find_vocab()
RULES_H = "impl/data/tokenizer_hf_rules.h"
FIXTURE = "tests/fixtures/tokenizer_unicode.tsv"
MARKS_VOCAB = "tests/fixtures/vocab_marks.txt"
CLASSES = ["HF_PLAIN", "HF_PUNCT", "HF_MARK", "HF_SPACE", "HF_DROP"]
# marks of known ccc for the reordering probe and cases: U+0334 ccc 1,
# U+0316 ccc 220, U+0301 ccc 230; U+302E/U+302F HANGUL tone marks ccc 224 (Mc)
REORDER_CASES = ["a\u0301\u302e", "a\u302e\u0301", "a\u0301\u302eb", "a\u0316\u302e\u0301\u302f",
                 "a\u302f\u302e", "a\u0301\u0301\u302e\u302e", "\u00e9\u302e", "a\u0334\u302e",
                 "x\u302e\u0316\u0301\u302f y\u0301\u302f", "\u0301\u302e", "\u302e\u0301b",
                 "\u1ec7\u302e\u0316", "a\u0345\u0301\u302e", "\u01d6\u302f\u302e\u0334x",
                 "\u00e9\u200b\u0316\u302e", "a\u0301\u0000\u302e", "\u1e69\u302e\u0301"]


def code_points():
    return [c for c in range(0x110000) if not 0xD800 <= c < 0xE000 and c != 10]


def hf_tokenizer(cased, vocab=VOCAB):
    from transformers import BertTokenizerFast
    try:
        return BertTokenizerFast(vocab=vocab, do_lower_case=not cased)
    except TypeError:  # transformers 4.x
        return BertTokenizerFast(vocab_file=vocab, do_lower_case=not cased)


def hf_words(bt, text):
    """HF's normalizer + pre-tokenizer: words with original code-point spans,
    rendered as `mtl tokenize --words --offsets` prints them."""
    from tokenizers import PreTokenizedString
    pts = PreTokenizedString(text)
    pts.normalize(lambda ns: bt.normalizer.normalize(ns))
    bt.pre_tokenizer.pre_tokenize(pts)
    sp = pts.get_splits(offset_referential="original", offset_type="char")
    return " ".join(w for w, _, _ in sp) + "\t" + " ".join(f"{a}-{b}" for _, (a, b), _ in sp)


def mtl_lines(mtl, lines, *flags, vocab=VOCAB):
    out = subprocess.run([mtl, "tokenize", "--vocab", vocab, *flags], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return out[:len(lines)]


def probe(mtl, cased, rules_on):
    """{c: (hf, mtl)} for every code point where the two differ."""
    bt = hf_tokenizer(cased).backend_tokenizer
    cps = code_points()
    lines = ["a" + chr(c) + "b" for c in cps]
    flags = ["--words", "--offsets"] + (["--cased"] if cased else []) + ([] if rules_on else ["--utf8proc-only"])
    ours = mtl_lines(mtl, lines, *flags)
    diff = {}
    for c, line, o in zip(cps, lines, ours):
        h = hf_words(bt, line)
        if h != o:
            diff[c] = (h, o)
    return diff, len(cps)


def classify(c, h_uncased, h_cased):
    """HF's class and lower case of c from its words for "a" c "b"."""
    words, spans = h_uncased.split("\t")
    ws = words.split(" ")
    if spans == "0-3" and len(ws) == 1 and len(ws[0]) == 3:
        return "HF_PLAIN", ord(ws[0][1])
    if spans == "0-1 1-2 2-3" and len(ws) == 3 and len(ws[1]) == 1:
        return "HF_PUNCT", ord(ws[1])
    if spans == "0-1 2-3":
        return "HF_SPACE", c
    if spans == "0-3" and ws == ["ab"]:
        cased_words = h_cased.split("\t")[0]
        return ("HF_DROP" if cased_words == "ab" else "HF_MARK"), c
    sys.exit(f"unicode_check: U+{c:04X}: HF gives {h_uncased!r}, which is no known class")


def hf_ccc(rules):
    """HF's canonical combining class of each ruled code point that Python's
    tables give a nonzero one: Python's value if HF moves c after U+0334
    (ccc 1), else 0 (HF's NFD tables do not know c)."""
    cand = [c for c, (cls, _) in rules.items() if unicodedata.combining(chr(c)) > 1 and cls != "HF_MARK"]
    with tempfile.TemporaryDirectory() as d:
        vocab = os.path.join(d, "vocab.txt")
        with open(vocab, "w") as f:
            f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n" + "".join("##" + chr(c) + "\n" for c in cand))
        tok = hf_tokenizer(False, vocab)
        ccc = {}
        for c in cand:
            offs = tok("a" + chr(c) + "\u0334", add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            ccc[c] = unicodedata.combining(chr(c)) if list(offs[-1]) == [2, 3] else 0
    return {c: ccc.get(c, unicodedata.combining(chr(c)) if rules[c][0] == "HF_MARK" else 0) for c in rules}


def versions():
    import tokenizers
    return tokenizers.__version__


def write_rules(rules, ccc, utf8proc_version):
    body = ",\n".join(f"    {{0x{c:04X}, 0x{low:04X}, {cls}, {ccc[c]}}}" for c, (cls, low) in sorted(rules.items()))
    text = f"""/* tokenizer_hf_rules.h — GENERATED by reference/unicode_check.py gen; do not edit.
 *
 * Hugging Face's rule for every code point where BertTokenizerFast
 * (tokenizers {versions()}) and utf8proc {utf8proc_version} disagree: HF's class
 * (its old Unicode category tables: plain letter, punctuation, nonspacing
 * mark, space, dropped), its lower case (Rust's char::to_lowercase), and its
 * canonical combining class (0 where HF's NFD tables do not know the code
 * point). {len(rules)} code points; with them `mtl tokenize` equals HF on every code
 * point U+0000..U+10FFFF (reference/unicode_check.py check). */
#ifndef MTL_TOKENIZER_HF_RULES_H
#define MTL_TOKENIZER_HF_RULES_H

#include <stdint.h>

enum {{ HF_PLAIN = 0, HF_PUNCT = 1, HF_MARK = 2, HF_SPACE = 3, HF_DROP = 4 }};

typedef struct {{
    int32_t cp, lower; /* the code point; its lower case (uncased vocabs) */
    uint8_t cls, ccc;  /* HF_*; canonical combining class */
}} HfCharRule;

/* sorted by cp (binary search in tokenizer.c) */
static const HfCharRule HF_CHAR_RULES[{len(rules)}] = {{
{body}
}};

#define HF_RULES_TOKENIZERS_VERSION "{versions()}"
#define HF_RULES_UTF8PROC_VERSION "{utf8proc_version}"

#endif
"""
    with open(RULES_H + ".tmp", "w") as f:
        f.write(text)
    os.replace(RULES_H + ".tmp", RULES_H)


def escape(s):
    return "".join(ch if 0x20 < ord(ch) < 0x7F and ch != "\\" else
                   (f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}") for ch in s)


def write_fixture(rules, hf_by_mode):
    with open(FIXTURE + ".tmp", "w") as f:
        f.write("# HF BertTokenizerFast's words (normalizer + pre-tokenizer) for \"a\" c \"b\", for every\n"
                f"# code point c with a rule in {RULES_H} (reference/unicode_check.py gen,\n"
                f"# tokenizers {versions()}). mode <TAB> input (\\uNNNN \\UNNNNNNNN escapes) <TAB> words\n"
                "# (escaped the same way) <TAB> code-point spans\n")
        for c in sorted(rules):
            for mode in ("uncased", "cased"):
                words, spans = hf_by_mode[mode][c].split("\t")
                f.write(f"{mode}\t{escape('a' + chr(c) + 'b')}\t{escape(words)}\t{spans}\n")
        f.write(f"# canonical reordering: HF's tokens <TAB> offsets <TAB> word ids with the vocab {MARKS_VOCAB}\n")
        marks_vocab(MARKS_VOCAB)
        for t, h in zip(REORDER_CASES, hf_reordered(MARKS_VOCAB)):
            toks, spans, words = h.split("\t")
            f.write(f"reorder\t{escape(t)}\t{escape(toks)}\t{spans}\t{words}\n")
    os.replace(FIXTURE + ".tmp", FIXTURE)


def utf8proc_version(mtl):
    out = subprocess.run([mtl, "version"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("unicode:"):
            return line.split("utf8proc", 1)[1].split()[0]
    sys.exit("unicode_check: `mtl version` names no utf8proc version")


def gen(mtl):
    d_unc, n = probe(mtl, False, rules_on=False)
    d_cas, _ = probe(mtl, True, rules_on=False)
    print(f"utf8proc alone differs from HF on {len(d_unc)} of {n} code points uncased, {len(d_cas)} cased")
    bt_cased = hf_tokenizer(True).backend_tokenizer
    rules = {c: classify(c, d_unc[c][0], hf_words(bt_cased, "a" + chr(c) + "b")) for c in d_unc}
    missing = [c for c in d_cas if c not in rules]
    if missing:  # differs cased only: classify from the cased words (no lower case)
        for c in missing:
            cls, _ = classify(c, d_cas[c][0], d_cas[c][0])
            rules[c] = (cls, c)
    ccc = hf_ccc(rules)
    write_rules(rules, ccc, utf8proc_version(mtl))
    bt = {m: hf_tokenizer(m == "cased").backend_tokenizer for m in ("uncased", "cased")}
    hf_by_mode = {m: {c: hf_words(bt[m], "a" + chr(c) + "b") for c in rules} for m in bt}
    write_fixture(rules, hf_by_mode)
    from collections import Counter
    print(f"{len(rules)} rules: {dict(Counter(cls for cls, _ in rules.values()))}, "
          f"{sum(1 for c, (cls, low) in rules.items() if low != c)} with HF's own lower case, "
          f"{sum(1 for c in rules if ccc[c])} with a nonzero ccc; wrote {RULES_H} and {FIXTURE}")


def marks_vocab(path):
    """A vocab for REORDER_CASES: its letters and every kept mark, alone and as ##."""
    marks = sorted({ch for t in REORDER_CASES for ch in t if unicodedata.category(ch) != "Mn" and ord(ch) > 0x7F})
    with open(path, "w") as f:
        f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nx\ny\ne\nu\ns\n##b\n##x\n" +
                "".join(m + "\n##" + m + "\n" for m in marks))


def hf_reordered(vocab):
    """HF's tokens, code-point offsets and word ids of REORDER_CASES."""
    tok = hf_tokenizer(False, vocab)
    out = []
    for t in REORDER_CASES:
        e = tok(t, add_special_tokens=False, return_offsets_mapping=True)
        out.append(" ".join(tok.convert_ids_to_tokens(e["input_ids"])) + "\t" +
                   " ".join(f"{a}-{b}" for a, b in e["offset_mapping"]) + "\t" +
                   " ".join(str(w) for w in e.word_ids()))
    return out


def check_reordering(mtl):
    """Token-level offsets where canonical ordering moves marks."""
    with tempfile.TemporaryDirectory() as d:
        vocab = os.path.join(d, "vocab.txt")
        marks_vocab(vocab)
        ours = mtl_lines(mtl, REORDER_CASES, "--offsets", vocab=vocab)
        bad = 0
        for t, h, o in zip(REORDER_CASES, hf_reordered(vocab), ours):
            if h != o:
                bad += 1
                print(f"reordering {escape(t)}: HF {h!r} mtl {o!r}")
    print(f"canonical reordering: {len(REORDER_CASES) - bad} of {len(REORDER_CASES)} token-level cases identical")
    return bad


def check(mtl):
    bad = 0
    for cased in (False, True):
        diff, n = probe(mtl, cased, rules_on=True)
        for c, (h, o) in sorted(diff.items())[:50]:
            print(f"U+{c:04X} {'cased' if cased else 'uncased'}: HF {h!r} mtl {o!r}")
        print(f"{'cased' if cased else 'uncased'}: {n - len(diff)} of {n} code points identical")
        bad += len(diff)
    bad += check_reordering(mtl)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["gen", "check"])
    ap.add_argument("--mtl", default="build/mtl")
    a = ap.parse_args()
    if a.cmd == "gen":
        gen(a.mtl)
        return 0
    return check(a.mtl)


if __name__ == "__main__":
    sys.exit(main())
