"""``bench merge``: one report from the scores files of several runs, without rendering."""

from __future__ import annotations

import json
import math
import os
import pathlib
from typing import Any

from synthmatch import __version__
from synthmatch.bench.params import summarize_parameters
from synthmatch.bench.report import format_markdown
from synthmatch.bench.stats import SuiteResult, summarize
from synthmatch.errors import SynthmatchError


def merge_scores(paths: list[str | os.PathLike[str]], out: str | os.PathLike[str]) -> dict[str, Any]:
    """One report from the ``scores_<suite>.json`` files of several runs (shards run on other
    processes, machines or days), without rendering anything; ``paths`` are files or the report
    folders holding them. Write ``report.md``, ``report.json`` and the merged ``scores_<suite>.json``
    into ``out``.

    Files are joined by item name: a method run later, or on another machine, over some of the
    same items (a baseline added to a finished run) is paired with the others on the items both
    scored, and an item a method did not run gets no score for it. Every file that has a method
    must have it with the same settings key (the files written before they carried their keys
    cannot be checked, and are refused when mixed with others). An item that a method scored in
    several files must have the same scores in each. The parameter metrics of the items whose
    preset is known (``params``) are joined the same way and summarized as ``bench run`` does. The
    report notes each method scored on only some of the items."""
    files: list[pathlib.Path] = []
    for p in map(pathlib.Path, paths):
        found = sorted(p.glob("scores_*.json")) if p.is_dir() else [p]
        if not found or not all(f.is_file() for f in found):
            raise SynthmatchError(
                f"{p}: no scores_<suite>.json here; pass the files or the report folders of `bench run`"
            )
        files += found
    by_suite: dict[str, list[tuple[pathlib.Path, dict[str, Any]]]] = {}
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SynthmatchError(f"{f}: not a scores file of `bench run` ({exc})") from exc
        if not (
            isinstance(data, dict)
            and isinstance(data.get("items"), list)
            and isinstance(data.get("scores"), dict)
        ):
            raise SynthmatchError(f"{f}: not a scores file of `bench run` (no items and scores)")
        suite = data.get("suite") or f.stem.removeprefix("scores_")
        by_suite.setdefault(suite, []).append((f, data))
    summaries, notes = [], []
    outp = pathlib.Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    for suite, parts in by_suite.items():
        # an item's analysis record (detected note, note length) comes from a match where one ran
        parts = sorted(parts, key=lambda part: "match" not in part[1]["scores"])
        methods = list(dict.fromkeys(m for _, d in parts for m in d["scores"]))
        keys = {}
        for m in methods:
            having = [(f, d) for f, d in parts if m in d["scores"]]
            seen = {json.dumps((d.get("keys") or {}).get(m)) for _, d in having}
            if len(seen) > 1:
                raise SynthmatchError(
                    f"{suite}: method {m!r} ran with other settings in "
                    f"{', '.join(str(f) for f, _ in having)} ({' vs '.join(sorted(seen))}); "
                    "merge only runs of the same settings"
                )
            keys[m] = json.loads(seen.pop())
        scores: dict[str, dict[str, Any]] = {m: {} for m in methods}  # method -> item -> scores
        cost: dict[str, dict[str, Any]] = {m: {} for m in methods}
        params: dict[str, dict[str, Any]] = {}  # method -> item -> parameter metrics
        analysis: dict[str, Any] = {}
        for f, d in parts:
            n = len(d["items"])
            costs = d.get("cost") or {}
            for m, rows in (d.get("params") or {}).items():
                params.setdefault(m, {}).update((name, row) for name, row in zip(d["items"], rows) if row)
            records = d.get("analysis") or [None] * n
            for k, name in enumerate(d["items"]):
                for m in d["scores"]:
                    row = d["scores"][m][k]
                    if name in scores[m] and scores[m][name] != row:
                        raise SynthmatchError(
                            f"{suite}: item {name} has different {m!r} scores in two files (last: {f}); "
                            "the same run twice gives the same scores on one machine, but another CPU "
                            "model can move them slightly: merge each item's runs from one machine"
                        )
                    scores[m][name] = row
                    cost[m][name] = costs[m][k] if m in costs else (0, math.nan)
                if analysis.get(name) is None:
                    analysis[name] = records[k]
        names = sorted(analysis)
        for m in methods:
            if len(scores[m]) < len(names):
                notes.append(f"{suite}: {m} ran on {len(scores[m])} of the {len(names)} items")
        res = SuiteResult(suite, names)
        res.scores = {m: [scores[m].get(n, {}) for n in names] for m in methods}
        res.cost = {m: [tuple(cost[m].get(n, (math.nan, math.nan))) for n in names] for m in methods}
        res.analysis = [analysis[n] for n in names if analysis[n] is not None]
        param_rows = {m: [params[m].get(n, {}) for n in names] for m in methods if m in params}
        summaries.append({**summarize(res), "parameters": summarize_parameters(param_rows)})
        (outp / f"scores_{suite}.json").write_text(
            json.dumps(
                {
                    "suite": suite,
                    "shard": None,
                    "keys": keys,
                    "items": names,
                    "scores": res.scores,
                    "cost": res.cost,
                    "analysis": res.analysis,
                    "params": param_rows,
                },
                default=str,
            )
        )
    machines = {json.dumps(d.get("machine"), sort_keys=True) for parts in by_suite.values() for _, d in parts}
    meta = {
        "merged_from": [str(f) for f in files],
        "notes": notes,
        # the seconds per match of files from other machines are not comparable with each other
        "machines": [json.loads(m) for m in sorted(machines)],
        "versions": {"synthmatch": __version__},
    }
    report = {"meta": meta, "suites": summaries}
    (outp / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (outp / "report.md").write_text(format_markdown(summaries, meta))
    return report
