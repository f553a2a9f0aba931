#!/usr/bin/env python3
"""predict_check.py — `mtl predict` against transformers' pipelines on the
same exported model (issue #17, agreement):

  NER: the token-classification pipeline (aggregation_strategy="first") on
       CoNLL-2003 test sentences (tokens joined by spaces), against
       `mtl predict --decode argmax` (the pipeline takes each word's argmax
       label; --decode viterbi, the training default, is reported too);
       agreement = identical entity sets (type, start, end).
  QA:  the question-answering pipeline (max_answer_len 30, doc_stride 128,
       max_seq_len 384, max_question_len 64, align_to_words False: the answer
       is its tokens' span, run_qa.py's rule and ours) on SQuAD dev questions;
       agreement = identical answer (start, end); agreement with the default
       align_to_words=True (spans widened to whole words) is reported too.

Every difference is printed with both sides. Exit 1 if an agreement is below
--min (0.995). The question-answering pipeline left transformers in 5.0:
run this with transformers 4.x (reference/README.md says how).

    python3 reference/predict_check.py --export DIR [--mtl build/mtl] \
        [--sentences 1000] [--questions 500] [--out FILE.json]
DIR is an `mtl export` directory (DIR/ner, DIR/qa).
"""
import argparse
import json
import os
import subprocess
import sys

from predict_inputs import conll_sentences, mtl_predict, squad_questions


def ner_check(a, pipeline, sentences):
    nlp = pipeline("token-classification", model=os.path.join(a.export, "ner"), aggregation_strategy="first",
                   device=-1)
    ref = [{(e["entity_group"], int(e["start"]), int(e["end"])) for e in r} for r in nlp(sentences, batch_size=32)]
    res = {}
    for decode in ("argmax", "viterbi"):
        ours = mtl_predict(a.mtl, os.path.join(a.export, "ner"), [{"text": s} for s in sentences],
                           ["--decode", decode, "--seq-ner", "512", "--threads", str(a.threads)])
        diffs = []
        for i, (s, r, o) in enumerate(zip(sentences, ref, ours)):
            mine = {(e["type"], e["start"], e["end"]) for e in o.get("entities", [])}
            if mine != r:
                diffs.append({"sentence": i, "text": s, "pipeline_only": sorted(r - mine),
                              "mtl_only": sorted(mine - r)})
        res[decode] = {"sentences": len(sentences), "identical": len(sentences) - len(diffs),
                       "agreement": 1 - len(diffs) / len(sentences), "differences": diffs}
        print("NER (%s): identical entity sets on %d of %d sentences (%.2f%%)" %
              (decode, len(sentences) - len(diffs), len(sentences), 100 * res[decode]["agreement"]))
    for d in res["argmax"]["differences"]:
        print("  NER sentence %d: pipeline only %s, mtl only %s | %s" %
              (d["sentence"], d["pipeline_only"], d["mtl_only"], d["text"][:120]))
    return res


def qa_check(a, pipeline, questions):
    try:
        nlp = pipeline("question-answering", model=os.path.join(a.export, "qa"), device=-1)
    except Exception as e:  # transformers >= 5 has no such pipeline
        print("QA: no question-answering pipeline in this transformers (%s); use transformers 4.x" % e)
        return None
    kw = dict(question=[q["question"] for q in questions], context=[q["context"] for q in questions],
              max_answer_len=30, doc_stride=128, max_seq_len=384, max_question_len=64, top_k=1)
    # align_to_words=False: the answer is the span of its tokens (run_qa.py's rule, and ours); the
    # pipeline's default True re-maps each candidate's tokens to whole words before ranking.
    ref = nlp(**kw, align_to_words=False)
    words = nlp(**kw)
    ref, words = (r if isinstance(r, list) else [r] for r in (ref, words))
    ours = mtl_predict(a.mtl, os.path.join(a.export, "qa"), questions,
                       ["--max-answer-len", "30", "--seq-qa", "384", "--stride", "128", "--max-query", "64",
                        "--threads", str(a.threads)])
    # The pipeline adds up the probabilities of one answer text found in several windows (its postprocess:
    # answer["score"] += score), so its score can exceed 1; ours is the best window's, run_qa.py's rule.
    # Scores are therefore compared on single-window questions, and the multi-window gap is reported apart.
    diffs, score_diff, multi_diff, n_multi = [], 0.0, 0.0, 0
    for q, r, o in zip(questions, ref, ours):
        ans = o.get("answer") or {}
        multi = len(nlp.tokenizer(q["question"], q["context"])["input_ids"]) > 384
        n_multi += multi
        if (ans.get("start"), ans.get("end")) != (r["start"], r["end"]):
            diffs.append({"id": q["id"], "question": q["question"], "pipeline": [r["start"], r["end"], r["answer"],
                          r["score"]], "mtl": [ans.get("start"), ans.get("end"), ans.get("text"), ans.get("score")]})
        elif ans and multi:
            multi_diff = max(multi_diff, abs(ans["score"] - r["score"]))
        elif ans:
            score_diff = max(score_diff, abs(ans["score"] - r["score"]))
    same_words = sum((o.get("answer") or {}).get("start") == w["start"] and
                     (o.get("answer") or {}).get("end") == w["end"] for o, w in zip(ours, words))
    res = {"questions": len(questions), "identical": len(questions) - len(diffs),
           "agreement": 1 - len(diffs) / len(questions), "max_score_diff_when_identical": score_diff,
           "multi_window_questions": n_multi, "max_score_diff_multi_window": multi_diff,
           "identical_vs_align_to_words": same_words, "differences": diffs}
    print("QA: identical answers on %d of %d questions (%.2f%%); score max |diff| %.2e where identical "
          "(single-window contexts; %d multi-window ones: %.2e, the pipeline summing a text's windows); "
          "against the pipeline's default align_to_words=True: %d identical" %
          (res["identical"], len(questions), 100 * res["agreement"], score_diff, n_multi, multi_diff, same_words))
    for d in diffs:
        print("  QA %s: pipeline %s | mtl %s | %s" % (d["id"], d["pipeline"], d["mtl"], d["question"]))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--export", required=True, help="mtl export directory (ner/, qa/)")
    ap.add_argument("--source", help="the run the export came from (recorded)")
    ap.add_argument("--mtl", default="build/mtl")
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--questions", type=int, default=500)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--min", type=float, default=0.995)
    ap.add_argument("--out")
    a = ap.parse_args()
    import torch
    import transformers
    from transformers import pipeline
    if a.threads:
        torch.set_num_threads(a.threads)
    version = subprocess.run([a.mtl, "version"], capture_output=True, text=True).stdout.split()
    res = {"export": a.source or a.export, "mtl_commit": version[2] if len(version) > 2 else None,
           "transformers": transformers.__version__, "torch": torch.__version__}
    ok = True
    if os.path.isdir(os.path.join(a.export, "ner")) and a.sentences > 0:
        res["ner"] = ner_check(a, pipeline, conll_sentences(a.sentences))
        ok &= res["ner"]["argmax"]["agreement"] >= a.min
    if os.path.isdir(os.path.join(a.export, "qa")) and a.questions > 0:
        res["qa"] = qa_check(a, pipeline, squad_questions(a.questions))
        ok &= res["qa"] is not None and res["qa"]["agreement"] >= a.min
    res["pass"] = bool(ok)
    print("predict_check: %s (agreement >= %.1f%% asked)" % ("PASS" if ok else "FAIL", 100 * a.min))
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            json.dump(res, f, indent=1)
        os.replace(a.out + ".tmp", a.out)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
