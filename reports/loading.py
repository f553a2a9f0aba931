"""loading.py — read what `mtl train` and the benchmarks recorded: JSON, CSV
(with "# ..." provenance lines) and JSON-lines files, run directories (Run),
and the groups of runs under a root, classified from their config.json.

A *group* is a directory holding seed-*/ runs (mtl train --seeds) or a single
run directory. classify() names a group from its config.json:
    ner / qa          single-task runs
    mtl               multi-task, joint sampling, lambda 1/1
    lambda a/b        multi-task, joint sampling, other lambdas (ablation)
    sampling S        multi-task, lambda 1/1, other strategies (ablation)
    gradnorm a=A      multi-task, joint, GradNorm loss weighting with alpha A
Standard library only.
"""
import csv
import json
import math
import os
import sys


def read_json(path):
    """The parsed file, or None when it is missing or not JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_csv(path):
    """Rows of a CSV as dicts; leading "# ..." lines (provenance) are skipped."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(line for line in f if not line.startswith("#")))
    except OSError:
        return []


def csv_provenance(path):
    """The text of a CSV's leading "# ..." lines (empty if none)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                if not line.startswith("#"):
                    break
                out.append(line[1:].strip())
    except OSError:
        pass
    return " ".join(out)


def read_jsonl(path):
    """The records of a JSON-lines file ([] when it cannot be read); lines that
    do not parse are reported on stderr and skipped."""
    out = []
    try:
        with open(path) as f:
            lines = list(f)
    except OSError:
        return []
    for no, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError as e:
            print("%s: %s:%d: not JSON (%s): skipped" % (os.path.basename(sys.argv[0]), path, no, e),
                  file=sys.stderr)
    return out


def fnum(x):
    """float or NaN for empty / missing / null values."""
    try:
        return float(x) if x not in (None, "") else math.nan
    except (TypeError, ValueError):
        return math.nan


class Run:
    """One run directory of `mtl train`: its JSON records, log.csv and eval.csv
    (empty dicts / lists for what is missing)."""

    def __init__(self, path):
        self.path = path
        self.config = read_json(os.path.join(path, "config.json")) or {}
        self.metrics = read_json(os.path.join(path, "metrics.json")) or {}
        self.params = read_json(os.path.join(path, "params.json")) or {}
        self.memory = read_json(os.path.join(path, "memory.json")) or {}
        self.timing = read_json(os.path.join(path, "timing.json")) or {}
        self.manifest = read_json(os.path.join(path, "manifest.json")) or {}
        self.log = read_csv(os.path.join(path, "log.csv"))
        self.eval = read_csv(os.path.join(path, "eval.csv"))

    def get(self, *keys):
        """A number of metrics.json by its keys (NaN when absent)."""
        d = self.metrics
        for k in keys:
            if not isinstance(d, dict) or d.get(k) is None:
                return math.nan
            d = d[k]
        return fnum(d)


def find_groups(root):
    """{group_dir: [Run, ...]} for every run (dir with metrics.json) under root;
    symbolic links to run directories are followed (runs gathered from elsewhere)."""
    groups = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        if "metrics.json" not in filenames:
            continue
        base = os.path.basename(dirpath)
        group = os.path.dirname(dirpath) if base.startswith("seed-") else dirpath
        groups.setdefault(group, []).append(Run(dirpath))
    return groups


def classify(runs):
    """The class of a group (see the module's docstring)."""
    c = runs[0].config
    task = c.get("task", "?")
    if task in ("ner", "qa"):
        return task
    lam = (fnum(c.get("lambda-ner", 1)), fnum(c.get("lambda-qa", 1)))
    samp = c.get("sampling", "joint")
    if c.get("loss-weighting", "static") == "gradnorm":
        label = "gradnorm α=%g" % fnum(c.get("gradnorm-alpha"))
        return label if lam == (1.0, 1.0) else label + " from λ %g/%g" % lam
    if samp == "joint" and lam == (1.0, 1.0):
        return "mtl"
    if samp == "joint":
        return "lambda %g/%g" % lam
    if lam == (1.0, 1.0):
        return "sampling " + samp
    return "mtl %s lambda %g/%g" % (samp, lam[0], lam[1])


def classes_of(groups):
    """{class: runs} of the groups, the first group (in path order) of each class."""
    classes = {}
    for g in sorted(groups):
        classes.setdefault(classify(groups[g]), groups[g])
    return classes


def gradnorm_keys(classes):
    """The GradNorm classes, by increasing alpha."""
    return sorted((k for k in classes if k.startswith("gradnorm ")),
                  key=lambda k: fnum(classes[k][0].config.get("gradnorm-alpha")))
