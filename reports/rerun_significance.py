"""reports/rerun_significance.py: each ablation with prediction files for seeds 2 and 3 (runs/pretrained/ablation)
against the main multi-task runs of seeds 2 and 3 rerun on this machine (runs/rerun-main/mtl), through
reports/significance.py. One-off: the report keys its tests to the archived main runs (another machine), whose
prediction files are not here; the reruns reproduced their scores to every digit printed (see
bench/results/rerun-main/README.md)."""
import os, sys, json
sys.path.insert(0, "reports")
import significance as sg
root = "runs/pretrained/ablation"
main = ["runs/rerun-main/mtl/seed-%d/predictions" % s for s in (2, 3)]
golds = sg.squad_dev_golds()
for name in sorted(os.listdir(root)):
    b = ["%s/%s/seed-%d/predictions" % (root, name, s) for s in (2, 3)]
    if not all(os.path.isfile(os.path.join(x, "ner_test.conlleval.txt")) for x in b):
        continue
    res = {"ner_test_f1": sg.compare_ner([m + "/ner_test.conlleval.txt" for m in main], [x + "/ner_test.conlleval.txt" for x in b]),
           "qa_dev_f1": sg.compare_qa([m + "/qa_dev_predictions.json" for m in main], [x + "/qa_dev_predictions.json" for x in b], golds, 1),
           "qa_dev_em": sg.compare_qa([m + "/qa_dev_predictions.json" for m in main], [x + "/qa_dev_predictions.json" for x in b], golds, 0)}
    for k, r in res.items():
        bt, w = r["boot"], r["welch"]
        print("| %s | main multi-task → %s (seeds 2,3) | %+.2f | [%+.2f, %+.2f], p %.3g | %s | **%s** |" % (
            k, name, bt["diff"], bt["ci95"][0], bt["ci95"][1], bt["p"],
            "[%+.2f, %+.2f], p %.3g" % (w["ci95"][0], w["ci95"][1], w["p"]) if w else "—", sg.verdict(bt, w)))
