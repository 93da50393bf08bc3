"""`synthmatch bench ...`: the benchmark protocol and the throughput benchmarks."""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
from typing import Any

from synthmatch.cli.args import positive_int


def _default_presets() -> str:
    from synthmatch.data_paths import shared_dir

    return str(shared_dir() / "presets" / "train")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks: the sound-matching protocol, render and search throughput")
    bsub = p.add_subparsers(dest="bench_command", metavar="BENCH")

    r = bsub.add_parser("render", help="render throughput: the pool against a plain loop of vita renders")
    r.add_argument("--presets", default=None, help="folder of .vital presets (default: shared train presets)")
    r.add_argument("--n", type=positive_int, default=24, help="number of presets in the mix")
    r.add_argument("--workers", default="1,2", help="comma-separated worker counts to measure")
    r.add_argument(
        "--rounds", type=positive_int, default=3, help="rounds per configuration (medians are reported)"
    )
    r.add_argument("--probe", default="", help="probe overrides, e.g. 'render_seconds=2,note_seconds=1'")
    r.add_argument("--json", default=None, help="also write the report as JSON here")
    r.set_defaults(func=run_render)

    s = bsub.add_parser(
        "search",
        help="search throughput: one search in two settings (where it scores, or how a match runs its starts)",
    )
    s.add_argument("--target", default="examples/sounds/pluck_c4.wav", help="target audio file")
    s.add_argument("--workers", default="2", help="comma-separated worker counts to measure")
    s.add_argument("--renders", type=positive_int, default=96, help="render budget per search")
    s.add_argument(
        "--match",
        action="store_true",
        help="time the whole default match (bundled library) instead of CMA-ES from the init preset",
    )
    s.add_argument(
        "--compare",
        choices=("scoring", "starts"),
        default="scoring",
        help="scoring: the objective computed in the searching process vs in the render workers; "
        "starts (with --match): the refinement starts one after the other vs side by side",
    )
    s.add_argument(
        "--rounds", type=positive_int, default=3, help="rounds per configuration (medians are reported)"
    )
    s.add_argument("--json", default=None, help="also write the report as JSON here")
    s.set_defaults(func=run_search)

    try:
        bench_protocol = importlib.import_module("synthmatch.cli.bench_protocol")
    except ModuleNotFoundError as exc:
        if exc.name != "synthmatch.cli.bench_protocol":
            raise
    else:
        bench_protocol.register(bsub)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_render(args: argparse.Namespace) -> int:
    from synthmatch.bench.throughput import measure, mixed_presets
    from synthmatch.render.probe import Probe

    probe = Probe.parse(args.probe) if args.probe else Probe()
    presets = mixed_presets(args.presets or _default_presets(), args.n)
    workers = tuple(int(w) for w in args.workers.split(","))
    return _report(measure(presets, probe=probe, workers=workers, rounds=args.rounds), args.json)


def run_search(args: argparse.Namespace) -> int:
    from synthmatch.bench.throughput import measure_search

    workers = tuple(int(w) for w in args.workers.split(","))
    report = measure_search(
        args.target,
        workers=workers,
        renders=args.renders,
        rounds=args.rounds,
        whole_match=args.match,
        compare=args.compare,
    )
    return _report(report, args.json)


def _report(report: Any, json_path: str | None) -> int:
    """Print a throughput report, and also write it as JSON to ``json_path`` when given."""
    print(report.format())
    if json_path:
        pathlib.Path(json_path).write_text(json.dumps(report.to_dict(), indent=1))
    return 0
