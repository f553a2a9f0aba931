#!/usr/bin/env python3
"""step_times.py — the seconds per training step and per final evaluation that
`make bench INIT=scratch` (bench/run_bench.sh) plans with, kept in
bench/baselines/step-times.json and measured by the benchmark's own runs:

    python3 bench/step_times.py step PRESET TASK THREADS   seconds per optimiser step
    python3 bench/step_times.py eval PRESET TASK NQ        seconds of the final evaluation
                                                            (NQ QA dev questions)
    python3 bench/step_times.py record RUNS_ROOT           after a benchmark: every
        RUNS_ROOT/{ner,qa,mtl}/seed-*/ run's train_wall_s / steps and final
        evaluation time (timing.json) replace the entries of its preset and task

An entry records its threads; asked for another thread count, step scales by
the recorded one-thread factor. Where nothing is recorded for a preset and
task, step says so on stderr and answers 1 s (eval: 0 s), as a guess.
Standard library only.
"""
import datetime as dt
import glob
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE = os.environ.get("STEP_TIMES") or os.path.join(HERE, "baselines", "step-times.json")
FULL_QA_DEV = 10570


def load():
    with open(BASELINE) as f:
        return json.load(f)


def save(rec):
    with open(BASELINE + ".tmp", "w") as f:
        json.dump(rec, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(BASELINE + ".tmp", BASELINE)


def step_s(rec, preset, task, threads):
    """Seconds per optimiser step of preset:task with `threads` threads."""
    e = rec["s_per_step"].get("%s:%s" % (preset, task))
    if not e:
        print("step_times.py: no recorded step time for %s %s in %s: 1 s/step assumed"
              % (preset, task, os.path.relpath(BASELINE)), file=sys.stderr)
        return 1.0
    f = rec["one_thread_factor"]["value"]
    if threads < 2 <= e["threads"]:
        return e["value"] * f
    if e["threads"] < 2 <= threads:
        return e["value"] / f
    return e["value"]


def eval_s(rec, preset, task, nq):
    """Seconds of the final evaluation: NER dev + test, and/or nq QA dev questions."""
    e = rec["eval"].get(preset)
    if not e:
        return 0.0
    ner, qa = e["ner_s"], nq * e["qa_s_per_question"]
    return {"ner": ner, "qa": qa}.get(task, ner + qa)


def run_figures(run):
    """(preset, task, threads, s/step, final evaluation s, QA dev questions) of a run."""
    read = lambda name: json.load(open(os.path.join(run, name)))
    c, t, m = read("config.json"), read("timing.json"), read("metrics.json")
    nq = (m.get("qa") or {}).get("dev", {}).get("questions") or int(c.get("qa-dev-limit") or 0) or FULL_QA_DEV
    return (c["preset"], c["task"], int(c["threads"]), t["train_wall_s"] / t["steps"],
            t.get("final_eval_wall_s"), nq)


def record(root):
    """Replace the entries measured by the runs under root; returns how many."""
    rec = load()
    found = {}
    for run in sorted(glob.glob(os.path.join(root, "*", "seed-*"))):
        if os.path.basename(os.path.dirname(run)) in ("ner", "qa", "mtl") and \
                os.path.exists(os.path.join(run, "timing.json")):
            p, task, th, s, ev, nq = run_figures(run)
            found.setdefault((p, task, th), []).append((s, ev, nq))
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    for (p, task, th), v in sorted(found.items()):
        rec["s_per_step"]["%s:%s" % (p, task)] = {
            "value": round(statistics.median(s for s, _, _ in v), 4), "threads": th,
            "source": "measured by make bench INIT=scratch (%s, median of %d run(s), %s)" % (root, len(v), when)}
        ev = [e for _, e, _ in v if e is not None]
        if ev and task in ("ner", "qa"):
            e = rec["eval"].setdefault(p, {"ner_s": 0.0, "qa_s_per_question": 0.0})
            if task == "ner":
                e["ner_s"] = round(statistics.median(ev), 2)
            else:
                e["qa_s_per_question"] = round(statistics.median(ev) / v[0][2], 5)
            e["source"] = "measured by make bench INIT=scratch (%s, %s)" % (root, when)
    save(rec)
    return len(found)


def main(argv):
    if len(argv) == 4 and argv[0] == "step":
        print("%g" % step_s(load(), argv[1], argv[2], int(argv[3])))
    elif len(argv) == 4 and argv[0] == "eval":
        print("%g" % eval_s(load(), argv[1], argv[2], int(argv[3])))
    elif len(argv) == 2 and argv[0] == "record":
        print("step_times.py: %d preset/task step time(s) recorded in %s"
              % (record(argv[1]), os.path.relpath(BASELINE)))
    else:
        sys.exit(__doc__.split("\n\n")[1])


if __name__ == "__main__":
    main(sys.argv[1:])
