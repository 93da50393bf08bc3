"""`synthmatch bench tutorial`: how well the tiered tutorial teaches, measured on a preset folder.

For each preset (by default the shared test split, the ``id-hand`` presets), at the default probe:

* **explain seconds** — :func:`synthmatch.explain.tutorial_recipe` with its ablation renders
  (a fresh cache) plus :func:`synthmatch.explain.write_tutorial` (Markdown, HTML with figures,
  recipe, files), in this process on a warm render pool;
* **Build it** — its steps (module panels and matrix rows) and the controls they set, and the
  MSS-mel distance (dB) between the *Build it* steps alone, followed from Vital's init preset
  with the values as the knobs show them, and the full preset;
* **exact rebuild** — every step followed in the tutorial's order (*Build it*, *Fine details*,
  *No audible effect*) with exact values: whether it gives the preset the recipe gives, and the
  SNR (dB) of its render against the original's (the recipe tests ask for ≥ 40 dB).

Writes ``tutorial.json`` (per preset) and ``tutorial.md`` (medians with bootstrap intervals).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import statistics
import tempfile
import time
from typing import Any

import numpy as np

__all__ = ["REBUILD_SNR_DB", "add_parser", "run", "tutorial_figures"]

#: A rebuild whose render is this close (SNR, dB) to the original's counts as exact (the
#: engine's own run-to-run floor on the test presets is far above it; see the recipe tests).
REBUILD_SNR_DB = 40.0


def _snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    err = float(np.sum((reference.astype(np.float64) - other) ** 2))
    sig = float(np.sum(reference.astype(np.float64) ** 2))
    if err == 0.0:
        return math.inf
    return 10 * math.log10(sig / err) if sig > 0 else -math.inf


def tutorial_figures(files: list[pathlib.Path], *, workers: int | None = None) -> list[dict[str, Any]]:
    """Per-preset figures (see the module docstring)."""
    from synthmatch.explain import apply_recipe, write_tutorial
    from synthmatch.explain.recipe_format import Recipe
    from synthmatch.explain.tiers import summary, tier_order
    from synthmatch.explain.tutorial import tutorial_recipe
    from synthmatch.render import DEFAULT_PROBE, RenderPool
    from synthmatch.vital.preset import Preset

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, RenderPool(workers=workers) as pool:
        os.environ["SYNTHMATCH_CACHE"] = str(pathlib.Path(tmp) / "cache")  # every item measured afresh
        pool.render([Preset.init()] * pool.workers)  # warm the workers
        for i, f in enumerate(files):
            preset = Preset.from_file(f)
            t0 = time.perf_counter()
            recipe = tutorial_recipe(preset, probe=DEFAULT_PROBE, pool=pool)
            write_tutorial(preset, pathlib.Path(tmp) / str(i), recipe=recipe, probe=DEFAULT_PROBE)
            seconds = time.perf_counter() - t0
            following = Recipe(title=recipe.title, steps=tier_order(recipe), assets=recipe.assets)
            rebuilt = apply_recipe(following)
            same = rebuilt.to_json() == apply_recipe(recipe).to_json()
            original, copy = pool.render([preset, rebuilt], DEFAULT_PROBE)
            snr = _snr_db(original.audio, copy.audio) if original.ok and copy.ok else -math.inf
            s = summary(recipe)
            m = recipe.measured or {}
            row = {
                "preset": f.stem,
                "explain_s": round(seconds, 3),
                "renders": m.get("renders", 0),
                "steps": s["steps"],
                "build_steps": s["build_steps"],
                "build_controls": m.get("build_controls", 0),
                "build_db": s["build_db"],
                "detail": s["detail"],
                "silent": s["silent"],
                "category": (recipe.idea or {}).get("category"),
                "tier_order_same_preset": same,
                "rebuild_snr_db": snr,
            }
            rows.append(row)
            print(
                f"[{i + 1}/{len(files)}] {f.stem}: build {row['build_steps']} steps "
                f"({row['build_controls']} controls) {row['build_db']} dB, {seconds:.1f} s, "
                f"rebuild {snr:.1f} dB",
                flush=True,
            )
    return rows


def _median_line(name: str, values: list[float], unit: str) -> str:
    from synthmatch.bench.stats import bootstrap_ci

    med, lo, hi = bootstrap_ci(values)
    return f"| {name} | {med:.2f} {unit} [{lo:.2f}, {hi:.2f}] | {min(values):.2f}–{max(values):.2f} |"


def report(rows: list[dict[str, Any]], machine: str) -> str:
    """The Markdown summary of :func:`tutorial_figures`."""
    n = len(rows)
    finite = [r["build_db"] for r in rows if r["build_db"] is not None]
    exact = sum(r["tier_order_same_preset"] and r["rebuild_snr_db"] >= REBUILD_SNR_DB for r in rows)
    lines = [
        f"# Tutorial benchmark ({n} presets)",
        "",
        machine,
        "",
        "| figure | median [95% CI] | range |",
        "| --- | --- | --- |",
        _median_line("Build it alone vs the full preset (MSS-mel)", finite, "dB"),
        _median_line("Build it steps", [float(r["build_steps"]) for r in rows], ""),
        _median_line("controls those steps set", [float(r["build_controls"]) for r in rows], ""),
        _median_line("steps in the recipe", [float(r["steps"]) for r in rows], ""),
        _median_line("explain time with ablation renders", [r["explain_s"] for r in rows], "s"),
        _median_line("renders per preset", [float(r["renders"]) for r in rows], ""),
        "",
        f"- Build it within 1.5 dB: {sum(d <= 1.5 for d in finite)} of {n}; "
        f"at most 12 steps: {sum(r['build_steps'] <= 12 for r in rows)} of {n}.",
        f"- Exact rebuild in the tutorial's order (same preset, render ≥ {REBUILD_SNR_DB:g} dB SNR): "
        f"{exact} of {n}; lowest SNR {min(r['rebuild_snr_db'] for r in rows):.1f} dB.",
        f"- Categories: {', '.join(f'{k} {v}' for k, v in sorted(_count(r['category'] for r in rows).items()))}.",
        f"- Median explain time {statistics.median(r['explain_s'] for r in rows):.2f} s.",
    ]
    return "\n".join(lines) + "\n"


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[str(x)] = out.get(str(x), 0) + 1
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``tutorial`` to the ``bench`` subcommands; its ``func`` is :func:`run`."""
    from synthmatch.cli.args import positive_int

    p = subparsers.add_parser(
        "tutorial",
        help="the tiered tutorial on a preset folder: Build it alone vs the full preset, its steps, "
        "explain time with ablation renders, exact rebuild",
    )
    p.add_argument("--out", required=True, help="report folder (tutorial.json, tutorial.md)")
    p.add_argument("--dir", default=None, help="preset folder (default: the shared test split, id-hand)")
    p.add_argument("--n", type=positive_int, default=None, help="the first N presets of the folder")
    p.add_argument(
        "--workers", type=positive_int, default=None, help="render workers (default: usable cores)"
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from synthmatch.bench.machine import describe, machine_info
    from synthmatch.data_paths import shared_dir

    folder = pathlib.Path(args.dir) if args.dir else shared_dir() / "presets" / "test"
    files = sorted(folder.rglob("*.vital"))[: args.n]
    if not files:
        raise SystemExit(f"no .vital presets under {folder}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = tutorial_figures(files, workers=args.workers)
    info = machine_info()
    (out / "tutorial.json").write_text(json.dumps({"machine": info, "items": rows}, indent=1))
    text = report(rows, describe(info))
    (out / "tutorial.md").write_text(text)
    print(text)
    return 0
