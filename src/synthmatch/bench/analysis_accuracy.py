"""`bench analysis`: how well the target analysis reads the note and the velocity, without matching.

Each item of the chosen suites goes through the analysis a match starts with
(:func:`~synthmatch.search.target.analyze_target`) and nothing else: no proposal, no render of a
candidate. The report gives, per suite:

note
    against the note each item sounds (:func:`~synthmatch.bench.truth.pitch_truth` for items
    rendered from a preset, the played note for audio files with a ``notes.json``): the rate of
    exact notes, of notes within a semitone, of octave errors (off by a non-zero multiple of 12)
    and of items found unpitched, over the items with a single true note.
velocity
    against the velocity each item was played with (its probe's for rendered items; the
    ``velocity`` of ``notes.json`` for audio files, where it is given): the mean and median
    absolute error in MIDI steps (1/127) and Pearson's correlation of the estimate with the truth,
    for three estimates on the same items: the analysis's (``analysis``), the fixed
    :data:`~synthmatch.audio.analysis.DEFAULT_VELOCITY` (``default``), and the square-law reading
    of the peak level (``level``, :func:`~synthmatch.audio.analysis.velocity_from_peak_db`). A
    constant estimate has no correlation (NaN).

``run_analysis_accuracy`` writes ``analysis.json`` (the summaries and every item's record) and
``analysis.md`` (the tables) into ``out``. The command line (``add_parser``/``run``) builds the
suites through the suite registry with the same options as ``bench run`` (``--n-rand``,
``--rand-seed``: any seed but the reserved one is a development suite, ``id-rand-dev<seed>``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from synthmatch.bench.suites import SUITES, Item

if TYPE_CHECKING:
    from synthmatch.bench.run import BenchConfig

__all__ = [
    "VELOCITY_ESTIMATES",
    "add_parser",
    "analysis_records",
    "format_analysis_markdown",
    "run",
    "run_analysis_accuracy",
    "summarize_analysis",
]

#: The velocity estimates compared on the same items (see the module docstring).
VELOCITY_ESTIMATES = ("analysis", "default", "level")


def analysis_records(
    items: Sequence[Item], *, true_velocities: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """What the target analysis reads on each item, beside the item's truth.

    Parameters
    ----------
    items : sequence of Item
        Benchmark targets (:mod:`synthmatch.bench.suites`).
    true_velocities : dict, optional
        The known velocity (0..1] of items by name. None: every item with a probe has its probe's.

    Returns
    -------
    list of dict
        Per item: ``item``, ``true_note``, ``pitch_truth`` (why an item rendered from a preset has
        no single note, or ``"ok"``; None for audio files), ``detected_note``, ``pitch_method``,
        ``true_velocity``, ``velocity`` (each estimate of :data:`VELOCITY_ESTIMATES`), ``peak_db``
        and ``loudness_db``.
    """
    from synthmatch.audio.analysis import DEFAULT_VELOCITY, velocity_from_peak_db
    from synthmatch.bench.truth import pitch_truth
    from synthmatch.search.target import analyze_target

    rows = []
    for it in items:
        an = analyze_target((it.audio, it.sample_rate), sample_rate=it.sample_rate).analysis
        reason: str | None = None
        if it.preset is not None and it.probe is not None:
            truth, reason = pitch_truth(it.preset, it.probe.note, it.waveform_multiples)
        else:
            truth = it.probe.note if it.probe is not None else None
        if true_velocities is None:
            true_velocity = it.probe.velocity if it.probe is not None else None
        else:
            true_velocity = true_velocities.get(it.name)
        rows.append(
            {
                "item": it.name,
                "true_note": truth,
                "pitch_truth": reason,
                "detected_note": an.midi_note,
                "pitch_method": an.pitch_method,
                "true_velocity": true_velocity,
                "velocity": {
                    "analysis": an.velocity,
                    "default": DEFAULT_VELOCITY,
                    "level": velocity_from_peak_db(an.peak_db),
                },
                "peak_db": an.peak_db,
                "loudness_db": an.loudness_db,
            }
        )
    return rows


def _rate(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else math.nan


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def summarize_analysis(suite: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The note and velocity figures of one suite (see the module docstring) from its records."""
    scored = [r for r in records if r["true_note"] is not None]
    errors = [None if r["detected_note"] is None else r["detected_note"] - r["true_note"] for r in scored]
    reasons: dict[str, int] = {}
    for r in records:
        if r["pitch_truth"] not in (None, "ok"):
            reasons[r["pitch_truth"]] = reasons.get(r["pitch_truth"], 0) + 1
    note = {
        "items_with_truth": len(scored),
        "exact": _rate([e == 0 for e in errors]),
        "within_semitone": _rate([e is not None and abs(e) <= 1 for e in errors]),
        "octave_errors": _rate([e is not None and e != 0 and e % 12 == 0 for e in errors]),
        "unpitched": _rate([e is None for e in errors]),
        "misses": [
            {"item": r["item"], "true_note": r["true_note"], "detected_note": r["detected_note"]}
            for r, e in zip(scored, errors)
            if e != 0
        ],
        "no_single_pitch": reasons,
    }
    known = [r for r in records if r["true_velocity"] is not None]
    truth = 127.0 * np.array([r["true_velocity"] for r in known])
    velocity: dict[str, Any] = {"items_with_truth": len(known)}
    for name in VELOCITY_ESTIMATES:
        est = 127.0 * np.array([r["velocity"][name] for r in known])
        err = np.abs(est - truth)
        velocity[name] = {
            "mae_midi": float(err.mean()) if len(err) else math.nan,
            "median_ae_midi": float(np.median(err)) if len(err) else math.nan,
            "correlation": _correlation(est, truth),
        }
    return {"suite": suite, "n_items": len(records), "note": note, "velocity": velocity}


def format_analysis_markdown(summaries: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """``analysis.md``: the run's settings, then one note table and one velocity table per suite."""
    lines = ["# synthmatch analysis accuracy", "", "```", json.dumps(meta, indent=1), "```", ""]
    for s in summaries:
        n = s["note"]
        lines += [
            f"## Suite `{s['suite']}` ({s['n_items']} items)",
            "",
            f"Note, over {n['items_with_truth']} items with a single true note:",
            "",
            "| exact | within a semitone | octave errors | unpitched |",
            "|---|---|---|---|",
            f"| {n['exact']:.3f} | {n['within_semitone']:.3f} | {n['octave_errors']:.3f} | "
            f"{n['unpitched']:.3f} |",
            "",
        ]
        if n["no_single_pitch"]:
            why = ", ".join(f"{k} {v}" for k, v in sorted(n["no_single_pitch"].items()))
            lines += [f"No single true note: {why}.", ""]
        v = s["velocity"]
        lines += [
            f"Velocity, over {v['items_with_truth']} items with a known velocity (errors in MIDI steps):",
            "",
            "| estimate | mean abs error | median abs error | correlation |",
            "|---|---|---|---|",
        ]
        for name in VELOCITY_ESTIMATES:
            e = v[name]
            lines.append(
                f"| {name} | {e['mae_midi']:.1f} | {e['median_ae_midi']:.1f} | {e['correlation']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def _ood_velocities(folder: str | os.PathLike[str], items: Sequence[Item]) -> dict[str, float]:
    """The velocities ``notes.json`` gives (MIDI, as 0..1], by item name (the file's stem)."""
    path = pathlib.Path(folder) / "notes.json"
    notes = json.loads(path.read_text()) if path.exists() else {}
    by_stem = {pathlib.Path(name).stem: v for name, v in notes.items()}
    return {
        it.name: by_stem[it.name]["velocity"] / 127 for it in items if "velocity" in by_stem.get(it.name, {})
    }


def run_analysis_accuracy(
    config: BenchConfig,
    *,
    out: str | os.PathLike[str],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Analyse every item of ``config``'s suites (read from it: ``suites``, ``n_rand``,
    ``rand_seed``, ``n_hand``, ``hand_dir``, ``ood_dir``, ``n_ood``, ``n_stress``) and write
    ``analysis.json`` and ``analysis.md`` into ``out``; returns what ``analysis.json`` holds.
    ``workers``: render workers for the suites rendered from presets. ``progress(done, total)`` is
    called after each suite."""
    from synthmatch import __version__
    from synthmatch.audio.analysis import ANALYSIS_REVISION
    from synthmatch.bench.suites import ID_RAND_SEED
    from synthmatch.render.pool import RenderPool

    outp = pathlib.Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    summaries, records = [], {}
    with RenderPool(workers=workers) as pool:
        for k, name in enumerate(config.suites):
            suite, items = SUITES[name].build(config, pool)
            known = _ood_velocities(config.ood_dir, items) if name == "ood" else None
            records[suite] = analysis_records(items, true_velocities=known)
            summaries.append(summarize_analysis(suite, records[suite]))
            if progress:
                progress(k + 1, len(config.suites))
    # the settings of the suites that ran
    settings = {
        "id-rand": {
            "n_rand": config.n_rand,
            "rand_seed": ID_RAND_SEED if config.rand_seed is None else config.rand_seed,
        },
        "id-hand": {"n_hand": config.n_hand, "hand_dir": config.hand_dir},
        "ood": {"ood_dir": config.ood_dir, "n_ood": config.n_ood},
        "stress": {"n_stress": config.n_stress},
    }
    meta = {
        "suites": list(config.suites),
        **{k: v for name in config.suites for k, v in settings.get(name, {}).items()},
        "analysis_revision": ANALYSIS_REVISION,
        "synthmatch": __version__,
        "wall_seconds": time.monotonic() - t0,
    }
    report = {"meta": meta, "suites": summaries, "records": records}
    (outp / "analysis.json").write_text(json.dumps(report, indent=1))
    (outp / "analysis.md").write_text(format_analysis_markdown(summaries, meta))
    return report


# ---------------------------------------------------------------------------------------
# The command line: `synthmatch bench analysis`.
# ---------------------------------------------------------------------------------------
def _suite_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SUITES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown suites {', '.join(unknown) or repr(text)}; choose from {', '.join(SUITES)} (a comma list)"
        )
    return names


_suite_list.__name__ = "suites list"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``analysis`` to the ``bench`` subcommands; its ``func`` is :func:`run`."""
    from synthmatch.bench.run import BenchConfig
    from synthmatch.cli.args import positive_int

    defaults = BenchConfig()
    p = subparsers.add_parser(
        "analysis",
        help="note and velocity accuracy of the target analysis alone (no match), against each suite's truth",
    )
    p.add_argument(
        "--suites",
        type=_suite_list,
        default="id-rand",
        help="comma list of " + ", ".join(SUITES) + " (default: id-rand)",
    )
    p.add_argument("--out", required=True, help="report folder (analysis.json, analysis.md)")
    p.add_argument("--n-rand", type=positive_int, default=defaults.n_rand, help="items of the id-rand suite")
    p.add_argument(
        "--rand-seed",
        type=int,
        default=None,
        help="sampler seed of the id-rand suite (default: the reserved evaluation seed); any other "
        "seed is a development suite, id-rand-dev<seed>, the one to tune on",
    )
    p.add_argument(
        "--n-stress", type=positive_int, default=defaults.n_stress, help="items of the stress suite"
    )
    p.add_argument(
        "--n-hand", type=positive_int, default=None, help="the first N presets of the id-hand suite"
    )
    p.add_argument(
        "--hand-dir", default=None, help="presets of the id-hand suite (default: shared test split)"
    )
    p.add_argument("--ood-dir", default=None, help="folder of audio files (and notes.json) for the ood suite")
    p.add_argument(
        "--workers", type=positive_int, default=None, help="render workers (default: usable cores)"
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """``bench analysis``: run :func:`run_analysis_accuracy` and print ``analysis.md``."""
    import dataclasses

    from synthmatch.bench.run import BenchConfig
    from synthmatch.cli.progress import progress_bar

    # the suites' options by their BenchConfig names; the ones not given keep its defaults
    fields = {f.name for f in dataclasses.fields(BenchConfig)} - {"workers"}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    config = BenchConfig.from_dict({**given, "suites": tuple(args.suites)})
    with progress_bar("analysing suites", unit="suite", lazy=True) as progress:
        run_analysis_accuracy(config, out=args.out, workers=args.workers, progress=progress)
    print((pathlib.Path(args.out) / "analysis.md").read_text())
    return 0
