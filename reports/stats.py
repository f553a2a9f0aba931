"""stats.py — the small statistics of the reports: mean ± sample std over
seeds, medians, moving averages, relative changes, the headline numbers of a
group of runs and how a difference compares with the seed-to-seed spread.
(The significance tests are reports/significance.py. Not named statistics.py:
that would hide Python's own module from the scripts in reports/.)
Standard library only.
"""
import math

from loading import fnum


def mean_std(values):
    """(mean, sample std, n) of the finite values; (NaN, NaN, 0) when none."""
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return math.nan, math.nan, 0
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s, len(v)


def pm(values, digits=2, scale=1.0):
    """'mean ± std' of the values (one value alone, '–' for none)."""
    m, s, n = mean_std([x * scale for x in values])
    if n == 0:
        return "–"
    if n == 1:
        return "%.*f" % (digits, m)
    return "%.*f ± %.*f" % (digits, m, digits, s)


def median(xs):
    """The median of xs (None when empty)."""
    xs = sorted(xs)
    n = len(xs)
    return None if n == 0 else (xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2]))


def moving_average(xs, w):
    """Trailing mean over the last w finite values (NaN where none yet)."""
    out, window = [], []
    for x in xs:
        if not math.isnan(x):
            window.append(x)
            if len(window) > w:
                window.pop(0)
        out.append(sum(window) / len(window) if window else math.nan)
    return out


def rel_change(new, old):
    """100 (new - old) / old, NaN when either is missing."""
    return 100.0 * (new - old) / old if old and not math.isnan(old) and not math.isnan(new) else math.nan


def fmt_p(p):
    """A p-value as reported: 3 significant digits, or '< 1e-4' for a bootstrap p of 0."""
    return "%.3g" % p if p > 0 else "< 1e-4"


def summary(runs):
    """Per-seed lists of the headline numbers of a group."""
    g = lambda *k: [r.get(*k) for r in runs]
    return {
        "ner_test_f1": g("ner", "test", "f1"), "ner_dev_f1": g("ner", "dev", "f1"),
        "qa_dev_f1": g("qa", "dev", "f1"), "qa_dev_em": g("qa", "dev", "exact_match"),
        "params": [fnum(r.params.get("total")) for r in runs],
        "train_s": [fnum(r.timing.get("train_wall_s")) for r in runs],
        "rss": [fnum(r.memory.get("peak_rss_bytes")) for r in runs],
    }


def mean_of(runs, key):
    """The mean over seeds of one of summary()'s numbers (NaN without runs)."""
    return mean_std(summary(runs)[key])[0] if runs else math.nan


def noise_ratio(a_runs, b_runs, key):
    """|difference of the means| / the larger seed std (NaN with one seed each)."""
    ma, da, na = mean_std(summary(a_runs)[key])
    mb, db, nb = mean_std(summary(b_runs)[key])
    spread = max([x for x in (da, db) if not math.isnan(x)] or [math.nan])
    return abs(ma - mb) / spread if spread and not math.isnan(spread) else math.nan


def noise_note(a_runs, b_runs, keys_labels):
    """'(3 vs 3 seeds; difference = 4.7x the larger seed std)' for one or more keys."""
    na, nb = len(a_runs), len(b_runs)
    parts = []
    for key, label in keys_labels:
        r = noise_ratio(a_runs, b_runs, key)
        if not math.isnan(r):
            parts.append("%s%.1f×" % (label + " " if label else "", r))
    if not parts:
        return "(%d vs %d seed(s))" % (na, nb)
    return "(%d vs %d seeds; difference = %s the larger seed std)" % (na, nb, ", ".join(parts))
