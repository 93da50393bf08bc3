"""The report: ``report.md`` from the suites' summaries, and spectrogram comparisons."""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

import numpy as np

from synthmatch.bench.params import format_parameter_table
from synthmatch.bench.stats import WITHIN_RATIO, SuiteResult
from synthmatch.bench.suites import Item


def format_markdown(summaries: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """``report.md``: the run's metadata, then per suite the metrics table, the win rates, ``match``
    against each method, the parameter metrics where the items' presets are known
    (:mod:`synthmatch.bench.params`), and the analysis accuracy (``summaries`` from
    :func:`~synthmatch.bench.stats.summarize`, with ``parameters`` from
    :func:`~synthmatch.bench.params.summarize_parameters`)."""
    lines = ["# synthmatch benchmark report", "", "```", json.dumps(meta, indent=1), "```", ""]
    for s in summaries:
        lines += [f"## Suite `{s['suite']}` ({s['n_items']} items)", ""]
        methods = list(s["metrics"])
        shown = [
            m
            for m in ("mss_mel", "wmfcc", "sot", "rms_cos", "a_mean", "f0_error_cents")
            if any(m in s["metrics"][x] for x in methods)
        ]
        lines.append("| method | " + " | ".join(shown) + " | renders/match | s/match |")
        lines.append("|---" * (len(shown) + 3) + "|")
        for meth in methods:
            cells = []
            for m in shown:
                med, lo, hi = s["metrics"][meth].get(m, (math.nan,) * 3)
                cells.append(f"{med:.3f} [{lo:.3f}, {hi:.3f}]")
            t = s["metrics"][meth]
            lines.append(
                f"| {meth} | "
                + " | ".join(cells)
                + f" | {t['renders_per_match']:.0f} | {t['seconds_per_match']:.2f} |"
            )
        lines += ["", "Win rate on MSS-mel (row beats column):", ""]
        lines.append("| method | " + " | ".join(methods) + " |")
        lines.append("|---" * (len(methods) + 1) + "|")
        for meth in methods:
            lines.append(
                f"| {meth} | "
                + " | ".join(
                    "—" if b == meth else f"{s['win_rate_mss_mel'][meth].get(b, math.nan):.2f}"
                    for b in methods
                )
                + " |"
            )
        ratios = s.get("match_ratios") or {}
        if ratios:
            lines += [
                "",
                f"`match` against each method on MSS-mel, over the items both scored: ratio of medians "
                f"(paired bootstrap 95% interval), wins, items within {WITHIN_RATIO}× of it:",
                "",
                "| against | match / it | 95% interval | wins | within | target |",
                "|---|---|---|---|---|---|",
            ]
            for base, r in ratios.items():
                target = r["target"]
                verdict = (
                    "" if target is None else f"≤ {target} ({'met' if r['ratio'] <= target else 'not met'})"
                )
                lines.append(
                    f"| {base} | {r['ratio']:.3f} | [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}] | "
                    f"{r['wins']} of {r['n']} | {r['within']} of {r['n']} | {verdict} |"
                )
        if s.get("parameters"):
            lines += ["", *format_parameter_table(s["parameters"])]
        a = s["analysis"]
        lines += [
            "",
            f"Analysis: exact MIDI note {a['exact_note_rate']:.3f} of {a['items_with_truth']} items with a single "
            f"known pitch ({a['exact_note_rate_pitched']:.3f} of {a['detected_pitched']} detected as pitched); "
            f"median note-length error {a['median_note_length_error_s']:.3f} s over all items, "
            f"{a['median_note_length_error_audible_s']:.3f} s over the {a['audible_releases']} "
            "whose release is audible (moving it by 0.1 s changes the envelope by 3 dB or more).",
            "",
        ]
        if a.get("no_single_pitch"):
            lines += [
                "Items without a single pitch (not scored for the note): "
                + ", ".join(
                    f"{k} {v}" for k, v in sorted(a["no_single_pitch"].items(), key=lambda kv: -kv[1])
                )
                + ".",
                "",
            ]
    return "\n".join(lines)


def spectrogram_figures(
    res: SuiteResult,
    items: list[Item],
    attempts_audio: dict[str, list[np.ndarray | None]],
    out: pathlib.Path,
    *,
    n: int = 3,
) -> list[pathlib.Path]:
    """``spectrogram_<suite>_<k>.png`` in ``out`` for the first ``n`` items: the target and what
    each method returned (``attempts_audio``: method -> per item audio, None where it has none)."""
    from synthmatch.search.report import spectrogram_png

    paths = []
    for k, it in enumerate(items[:n]):
        sigs = [("target", it.audio)] + [(m, a[k]) for m, a in attempts_audio.items() if a[k] is not None]
        p = out / f"spectrogram_{res.suite}_{k}.png"
        p.write_bytes(spectrogram_png(sigs, it.sample_rate))
        paths.append(p)
    return paths
