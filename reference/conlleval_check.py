#!/usr/bin/env python3
"""conlleval_check.py — an independent Python re-implementation of the
CoNLL shared-task scorer conlleval.pl (2004 version, default options), used to
check impl/metrics/conlleval.c.

Written for mtl-bench from the script's documented behaviour: columns split on
single spaces (trailing empty fields dropped, as Perl's split), the last two
columns are gold and guess, a blank line or a first column "-X-" is a sentence
boundary, tags split at the first '-' into chunk tag and type, chunks start
and end per startOfChunk/endOfChunk, a chunk is correct when both boundaries
and the type agree. Standard library only.

  python3 reference/conlleval_check.py FILE            # print conlleval's report
  python3 reference/conlleval_check.py --compare MTL FILE...
        # run `MTL score-ner FILE` and require byte-identical reports
  python3 reference/conlleval_check.py --random N --mtl MTL --conll VALID.txt
        # gold = IOB1 tags of VALID, guess = IOB2 conversion (must score 100%),
        # then N random corruptions of the guesses; every report must match.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data_paths import find_data  # noqa: E402

BOUNDARY = "-X-"


def end_of_chunk(prev_tag, tag, prev_type, typ):
    end = False
    if prev_tag == "B" and tag in ("B", "O"):
        end = True
    if prev_tag == "I" and tag in ("B", "O"):
        end = True
    if prev_tag == "E" and tag in ("E", "I", "O"):
        end = True
    if prev_tag not in ("O", ".") and prev_type != typ:
        end = True
    if prev_tag in ("]", "["):
        end = True
    return end


def start_of_chunk(prev_tag, tag, prev_type, typ):
    start = False
    if tag == "B" and prev_tag in ("B", "I", "O"):
        start = True
    if prev_tag == "O" and tag in ("I", "E"):
        start = True
    if prev_tag == "E" and tag in ("E", "I"):
        start = True
    if tag not in ("O", ".") and prev_type != typ:
        start = True
    if tag in ("[", "]"):
        start = True
    return start


def split_tag(t):
    if "-" in t:
        chunk, typ = t.split("-", 1)
    else:
        chunk, typ = t, ""
    if typ == "0":  # Perl: `$type ? $type : ""`
        typ = ""
    return chunk, typ


def perl_split_space(line):
    fields = line.split(" ")
    while fields and fields[-1] == "":
        fields.pop()
    return fields


class Counts:
    def __init__(self):
        self.tokens = self.correct_tags = 0
        self.found_correct = self.found_guessed = self.correct = 0
        self.fc, self.fg, self.cc = {}, {}, {}


def evaluate(lines):
    c = Counts()
    n_features = -1
    in_correct = False
    last_c, last_g, last_ct, last_gt = "O", "O", "", ""
    for lineno, line in enumerate(lines, 1):
        feats = perl_split_space(line.rstrip("\n"))
        if n_features < 0:
            n_features = len(feats) - 1
        elif n_features != len(feats) - 1 and len(feats) != 0:
            raise SystemExit("line %d: unexpected number of features: %d (%d)" % (lineno, len(feats), n_features + 1))
        if len(feats) == 0 or feats[0] == BOUNDARY:
            feats = [BOUNDARY, "O", "O"]
        if len(feats) < 2:
            raise SystemExit("line %d: unexpected number of features" % lineno)
        guessed, gtype = split_tag(feats[-1])
        correct, ctype = split_tag(feats[-2])
        first = feats[0] if len(feats) > 2 else None
        if first == BOUNDARY:
            guessed = "O"
        if in_correct:
            ec = end_of_chunk(last_c, correct, last_ct, ctype)
            eg = end_of_chunk(last_g, guessed, last_gt, gtype)
            if ec and eg and last_gt == last_ct:
                in_correct = False
                c.correct += 1
                c.cc[last_ct] = c.cc.get(last_ct, 0) + 1
            elif ec != eg or gtype != ctype:
                in_correct = False
        sc = start_of_chunk(last_c, correct, last_ct, ctype)
        sg = start_of_chunk(last_g, guessed, last_gt, gtype)
        if sc and sg and gtype == ctype:
            in_correct = True
        if sc:
            c.found_correct += 1
            c.fc[ctype] = c.fc.get(ctype, 0) + 1
        if sg:
            c.found_guessed += 1
            c.fg[gtype] = c.fg.get(gtype, 0) + 1
        if first != BOUNDARY:
            if correct == guessed and gtype == ctype:
                c.correct_tags += 1
            c.tokens += 1
        last_c, last_g, last_ct, last_gt = correct, guessed, ctype, gtype
    if in_correct:
        c.correct += 1
        c.cc[last_ct] = c.cc.get(last_ct, 0) + 1
    return c


def prf(correct, guessed, gold):
    p = 100 * correct / guessed if guessed > 0 else 0.0
    r = 100 * correct / gold if gold > 0 else 0.0
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return p, r, f


def report(c):
    out = []
    p, r, f = prf(c.correct, c.found_guessed, c.found_correct)
    out.append("processed %d tokens with %d phrases; found: %d phrases; correct: %d.\n"
               % (c.tokens, c.found_correct, c.found_guessed, c.correct))
    if c.tokens > 0:
        out.append("accuracy: %6.2f%%; precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f\n"
                   % (100 * c.correct_tags / c.tokens, p, r, f))
    keys = sorted(list(c.fc.keys()) + list(c.fg.keys()))
    types, last = [], None
    for k in keys:
        if not last or last != k:  # Perl: not($lastType) or $lastType ne $i
            types.append(k)
        last = k
    for t in types:
        p, r, f = prf(c.cc.get(t, 0), c.fg.get(t, 0), c.fc.get(t, 0))
        out.append("%17s: precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f  %d\n" % (t, p, r, f, c.fg.get(t, 0)))
    return "".join(out)


def file_lines(path):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # Perl's <> yields no line after the final newline
    return lines


def compare(mtl, path):
    want = report(evaluate(file_lines(path)))
    got = subprocess.run([mtl, "score-ner", path], capture_output=True, text=True)
    if got.returncode != 0 or got.stdout != want:
        sys.stderr.write("MISMATCH on %s\n--- python\n%s--- mtl (rc %d)\n%s%s" %
                         (path, want, got.returncode, got.stdout, got.stderr))
        return False
    return True


def read_conll(path):
    """Sentences of (token, IOB1 tag) from a CoNLL-2003 file."""
    sents, cur = [], []
    for line in file_lines(path):
        f = line.split()
        if not f or f[0] == "-DOCSTART-":
            if cur:
                sents.append(cur)
            cur = []
            continue
        cur.append((f[0], f[-1]))
    if cur:
        sents.append(cur)
    return sents


def iob2(tags):
    out, prev = [], "O"
    for t in tags:
        if t.startswith("I-") and (prev == "O" or prev[2:] != t[2:]):
            out.append("B-" + t[2:])
        else:
            out.append(t)
        prev = t
    return out


LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
EXOTIC = ["E-PER", "E-LOC", "[-ORG", "]-ORG", ".", "B", "I-0", "B-X-Y", "S-PER"]


def write_file(path, sents, guesses):
    with open(path, "w", encoding="utf-8") as fh:
        for s, g in zip(sents, guesses):
            for (tok, gold), pred in zip(s, g):
                fh.write("%s %s %s\n" % (tok, gold, pred))
            fh.write("\n")


def random_check(args):
    sents = read_conll(args.conll or find_data("conll2003/valid.txt"))
    rng = random.Random(args.seed)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pred.txt")
        guesses = [iob2([t for _, t in s]) for s in sents]
        write_file(path, sents, guesses)
        c = evaluate(file_lines(path))
        p, r, f = prf(c.correct, c.found_guessed, c.found_correct)
        print("IOB1 gold vs IOB2 guess: %d phrases, P %.2f R %.2f F %.2f" % (c.found_correct, p, r, f))
        ok &= f == 100.0 and compare(args.mtl, path)
        for i in range(args.random):
            rate = rng.choice([0.01, 0.05, 0.2, 0.5])
            pool = LABELS + (EXOTIC if i % 4 == 3 else [])
            g2 = [[rng.choice(pool) if rng.random() < rate else t for t in g] for g in guesses]
            write_file(path, sents, g2)
            ok &= compare(args.mtl, path)
    print("random corruptions: %d files, %s" % (args.random, "all reports identical" if ok else "MISMATCH"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*")
    ap.add_argument("--compare", metavar="MTL", help="compare with MTL score-ner on each FILE")
    ap.add_argument("--random", type=int, default=0)
    ap.add_argument("--mtl", default="build/mtl")
    ap.add_argument("--conll", default=None, help="default: conll2003/valid.txt in the datasets dirs")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.random:
        return 0 if random_check(a) else 1
    if a.compare:
        return 0 if all([compare(a.compare, f) for f in a.files]) else 1
    for f in a.files:
        sys.stdout.write(report(evaluate(file_lines(f))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
