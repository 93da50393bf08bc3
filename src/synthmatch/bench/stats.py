"""The report's statistics: medians with bootstrap intervals, paired ratios of medians, win rates,
analysis accuracy (:func:`summarize` of a :class:`SuiteResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthmatch.bench.methods import Attempt

#: The metric the report compares methods on.
HEADLINE = "mss_mel"
#: What ``match``'s median MSS-mel must be, at most, as a multiple of each baseline's on the same
#: items (the acceptance figures of the matching issue); the report prints each ratio against it.
MATCH_TARGETS = {"knn": 0.7, "search-from-init": 0.8, "search-big": 1.25}
#: A per-item ratio at or under this counts as "within" the 20x lines in the report.
WITHIN_RATIO = 1.25


def bootstrap_ci(values: list[float], *, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(median, lower, upper) with a percentile bootstrap 95% interval of the median."""
    x = np.asarray([v for v in values if math.isfinite(v)], float)
    if len(x) == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    meds = np.median(x[rng.integers(0, len(x), (n_boot, len(x)))], axis=1)
    return float(np.median(x)), float(np.percentile(meds, 2.5)), float(np.percentile(meds, 97.5))


def ratio_of_medians_ci(
    a: list[float], b: list[float], *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(median(a) / median(b), lower, upper): the ratio with a paired percentile bootstrap 95%
    interval (items resampled together), over the items where both are finite."""
    pairs = np.asarray([(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)], float)
    if len(pairs) == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(pairs), (n_boot, len(pairs)))
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = np.median(pairs[idx, 0], axis=1) / np.median(pairs[idx, 1], axis=1)
    ratio = float(np.median(pairs[:, 0]) / np.median(pairs[:, 1]))
    return ratio, float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def match_ratios(scores: dict[str, list[dict[str, float]]], *, method: str = "match") -> dict[str, Any]:
    """``method`` against every other method on the headline metric, over the items both scored:
    the ratio of medians with its interval, wins, items within :data:`WITHIN_RATIO` of the other,
    and the target of :data:`MATCH_TARGETS` where there is one."""
    if method not in scores:
        return {}
    out: dict[str, Any] = {}
    mine = [r.get(HEADLINE, math.nan) for r in scores[method]]
    for base, rows in scores.items():
        if base == method:
            continue
        theirs = [r.get(HEADLINE, math.nan) for r in rows]
        both = [(x, y) for x, y in zip(mine, theirs) if math.isfinite(x) and math.isfinite(y)]
        ratio, lo, hi = ratio_of_medians_ci(mine, theirs)
        out[base] = {
            "ratio": ratio,
            "ci": [lo, hi],
            "n": len(both),
            "wins": sum(x < y for x, y in both),
            "within": sum(x <= WITHIN_RATIO * y for x, y in both),
            "target": MATCH_TARGETS.get(base),
        }
    return out


@dataclass
class SuiteResult:
    """Every method's results on one suite: per-item metrics, cost and the analysis records."""

    suite: str
    items: list[str]
    scores: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # method -> per item metrics
    cost: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # method -> (renders, seconds)
    analysis: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)  # kept in memory for figures


def summarize(res: SuiteResult) -> dict[str, Any]:
    """One suite's section of ``report.json``: every metric's median with its interval, cost,
    win rates on the headline metric, :func:`match_ratios` and the analysis accuracy."""
    methods = list(res.scores)
    metric_names = sorted({m for rows in res.scores.values() for r in rows for m in r})
    table: dict[str, Any] = {}
    for meth in methods:
        rows = res.scores[meth]
        table[meth] = {m: bootstrap_ci([r.get(m, math.nan) for r in rows]) for m in metric_names}
        # a method merged over only some items has no cost on the others (nan)
        renders = [c[0] for c in res.cost[meth] if math.isfinite(c[0])]
        secs = [c[1] for c in res.cost[meth] if math.isfinite(c[1])]
        table[meth]["renders_per_match"] = float(np.median(renders)) if renders else math.nan
        table[meth]["seconds_per_match"] = float(np.median(secs)) if secs else math.nan
        table[meth]["n_scored"] = sum(1 for r in rows if r)
    wins: dict[str, dict[str, float]] = {}
    for meth in methods:
        wins[meth] = {}
        for base in methods:
            if base == meth:
                continue
            pairs = [
                (a.get(HEADLINE), b.get(HEADLINE))
                for a, b in zip(res.scores[meth], res.scores[base])
                if a.get(HEADLINE) is not None and b.get(HEADLINE) is not None
            ]
            wins[meth][base] = float(np.mean([x < y for x, y in pairs])) if pairs else math.nan
    an = [a for a in res.analysis if a["true_note"] is not None]
    pitched = [a for a in an if a["detected_note"] is not None]
    note_acc = float(np.mean([a["true_note"] == a["detected_note"] for a in an])) if an else math.nan
    timed = [a for a in res.analysis if a["true_note_s"] is not None and a["detected_note_s"] is not None]
    len_err = [abs(a["true_note_s"] - a["detected_note_s"]) for a in timed]
    len_err_obs = [abs(a["true_note_s"] - a["detected_note_s"]) for a in timed if a.get("release_audible")]
    reasons: dict[str, int] = {}
    for a in res.analysis:
        if a.get("pitch_truth") not in (None, "ok"):
            reasons[a["pitch_truth"]] = reasons.get(a["pitch_truth"], 0) + 1
    return {
        "suite": res.suite,
        "n_items": len(res.items),
        "metrics": table,
        "win_rate_mss_mel": wins,
        "match_ratios": match_ratios(res.scores),
        "analysis": {
            "items_with_truth": len(an),
            "detected_pitched": len(pitched),
            "exact_note_rate": note_acc,
            "exact_note_rate_pitched": float(np.mean([a["true_note"] == a["detected_note"] for a in pitched]))
            if pitched
            else math.nan,
            "median_note_length_error_s": float(np.median(len_err)) if len_err else math.nan,
            "audible_releases": len(len_err_obs),
            "median_note_length_error_audible_s": float(np.median(len_err_obs)) if len_err_obs else math.nan,
            "no_single_pitch": reasons,
        },
    }
