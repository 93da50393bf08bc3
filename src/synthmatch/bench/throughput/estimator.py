"""Estimator inference time: features, the network (onnxruntime, one thread) and decoding, per sound.

Each target file is analysed once (its probe, as ``match`` chooses it); then, after one untimed
warm-up, every round times the three steps of :class:`~synthmatch.search.estimator.Estimator` on
each target: the log-mel features, the ONNX run, and decoding the mode into a preset. Medians over
rounds and targets, with the slowest round too (a busy machine shows there first).
"""

from __future__ import annotations

import os
import pathlib
import statistics
import time
from collections.abc import Sequence
from typing import Any

from synthmatch.bench.machine import describe, machine_info

#: The bundled example sounds, the default targets.
EXAMPLES = pathlib.Path(__file__).resolve().parents[4] / "examples" / "sounds"


def measure_estimator(
    targets: Sequence[str | os.PathLike[str]], *, estimator: str | os.PathLike[str] | None, rounds: int = 20
) -> dict[str, Any]:
    """Time the estimator on ``targets`` (audio files); see the module docstring."""
    from synthmatch.models.decode import decode
    from synthmatch.search.estimator import Estimator
    from synthmatch.search.target import analyze_target

    t0 = time.perf_counter()
    est = Estimator(estimator)
    load_s = time.perf_counter() - t0
    analysed = [(t.samples, t.probe) for t in (analyze_target(p, sample_rate=44100) for p in targets)]
    est.presets(*analysed[0], n=1)  # warm-up; loads the decoder's tables
    layout, tables = est.decoding()
    steps: dict[str, list[float]] = {"features": [], "network": [], "decode": [], "total": []}
    for _ in range(rounds):
        for samples, probe in analysed:
            a = time.perf_counter()
            feats = est.features(samples, probe)
            b = time.perf_counter()
            outs = dict(zip(est.output_names, est.session.run(est.output_names, feats)))
            c = time.perf_counter()
            decode(outs, layout, row=0, tables=tables)
            d = time.perf_counter()
            for k, v in (("features", b - a), ("network", c - b), ("decode", d - c), ("total", d - a)):
                steps[k].append(v)
    return {
        "estimator": str(est.path),
        "name": est.name,
        "parameters": est.card.get("parameters"),
        "targets": [str(t) for t in targets],
        "rounds": rounds,
        "load_s": load_s,
        "median_ms": {k: 1000 * statistics.median(v) for k, v in steps.items()},
        "max_ms": {k: 1000 * max(v) for k, v in steps.items()},
        "machine": machine_info(),
    }


def format_estimator(report: dict[str, Any]) -> str:
    med, top = report["median_ms"], report["max_ms"]
    lines = [
        f"estimator {report['name']} ({report['parameters']:,} weights), {len(report['targets'])} targets "
        f"x {report['rounds']} rounds; loaded in {report['load_s']:.2f} s",
        "step       median ms   max ms",
    ]
    lines += [f"{k:<10} {med[k]:9.2f} {top[k]:8.2f}" for k in ("features", "network", "decode", "total")]
    lines.append(describe(report["machine"]))
    return "\n".join(lines)
