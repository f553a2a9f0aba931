"""bench/lr_sweep_record.py — the learning-rate sweep of `make bench LR_SWEEP=1` as JSON
(stdout): every run's dev F1 (and NER test F1, QA EM), the choice per task, and how
it was made. Usage: lr_sweep_record.py SWEEP_DIR INIT SEED LR_NER LR_QA LR..."""
import json
import os
import sys


def main():
    root, init, seed, lr_ner, lr_qa, lrs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6:]
    runs = {}
    for task in ("ner", "qa"):
        for lr in lrs:
            d = os.path.join(root, f"{task}-lr{lr}")
            m = json.load(open(os.path.join(d, "metrics.json")))
            mf = json.load(open(os.path.join(d, "manifest.json")))
            r = {"dev_f1": m[task]["dev"]["f1"], "steps": m["steps"], "commit": mf.get("git_commit")}
            if task == "ner":
                r["test_f1"] = m["ner"]["test"]["f1"] if m["ner"].get("test") else None
            else:
                r["dev_em"] = m["qa"]["dev"]["exact_match"]
                r["dev_questions"] = m["qa"]["dev"]["questions"]
            runs.setdefault(task, {})[lr] = r
    json.dump({"init": init, "seed": seed, "lrs": lrs, "rule": "best dev F1 per task (NER: CoNLL-2003 dev; QA: the SQuAD dev prefix that is also reported)",
               "chosen": {"ner": lr_ner, "qa": lr_qa}, "runs": runs}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
