"""`synthmatch bench ...`: the sound-matching benchmark (``run``, ``merge``), the accuracy of its
analysis (``analysis``) and the throughput benchmarks (``render``, ``search``, ``dataset``)."""

from __future__ import annotations

import argparse
import json
import pathlib
from collections.abc import Callable, Iterable
from typing import Any

from synthmatch.cli.args import at_least, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="benchmarks: the sound-matching protocol; render, search and dataset-build throughput"
    )
    bsub = p.add_subparsers(dest="bench_command", metavar="BENCH")
    _register_run(bsub)
    _register_merge(bsub)
    _register_render(bsub)
    _register_search(bsub)
    _register_estimator(bsub)
    _register_ood_real(bsub)
    from synthmatch.bench.analysis_accuracy import add_parser as add_analysis_parser

    add_analysis_parser(bsub)  # bench analysis: the target analysis alone against each suite's truth
    from synthmatch.bench.tutorial import add_parser as add_tutorial_parser

    add_tutorial_parser(bsub)  # bench tutorial: the tiered tutorial on a preset folder
    d = bsub.add_parser("dataset", help=DATASET_HELP)
    add_dataset_arguments(d)
    d.set_defaults(func=run_dataset)
    p.set_defaults(func=lambda args: p.print_help() or 2)


# ---------------------------------------------------------------------------------------
# The sound-matching benchmark.
# ---------------------------------------------------------------------------------------
def _names(kind: str, known: Callable[[], Iterable[str]], shown: Callable[[], Iterable[str]]) -> Any:
    """An argparse ``type`` for a comma list of registered names, read from the registry when the
    command line is parsed (a name registered after the parser was built is accepted too)."""

    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        valid = set(known())
        unknown = [n for n in names if n not in valid]
        choose = f"choose from {', '.join(shown())} (a comma list)"
        if not names:
            raise argparse.ArgumentTypeError(f"no {kind} in {text!r}; {choose}")
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {kind} {', '.join(unknown)}; {choose}")
        return names

    parse.__name__ = f"{kind} list"
    return parse


def _register_run(bsub: argparse._SubParsersAction) -> None:
    from synthmatch.bench.methods import METHOD_ALIASES, METHODS
    from synthmatch.bench.run import BenchConfig
    from synthmatch.bench.suites import SUITES

    defaults = BenchConfig()
    r = bsub.add_parser("run", help="run the sound-matching benchmark and write report.md / report.json")
    r.add_argument(
        "--suites",
        type=_names("suites", lambda: SUITES, lambda: SUITES),
        default=",".join(defaults.suites),
        help="comma list of "
        + ", ".join(f"{s.name} ({s.description})" for s in SUITES.values())
        + f" (default: {','.join(defaults.suites)})",
    )
    r.add_argument(
        "--methods",
        type=_names("methods", lambda: [*METHODS, *METHOD_ALIASES], lambda: METHODS),
        default=",".join(defaults.methods),
        help="comma list of "
        + ", ".join(f"{m.name} ({m.description})" if m.description else m.name for m in METHODS.values())
        + f" (default: {','.join(defaults.methods)})",
    )
    r.add_argument(
        "--out",
        required=True,
        help="report folder; finished attempts are logged there, so re-running the same command "
        "resumes an interrupted run (attempts made with other settings are not reused)",
    )
    r.add_argument(
        "--budget",
        type=positive_int,
        default=defaults.budget,
        help="render budget of match, search-from-init, cmaes-all and random-search (ga spends a fixed "
        "count of its own, GA_RENDERS)",
    )
    r.add_argument("--n-rand", type=positive_int, default=defaults.n_rand, help="items of the id-rand suite")
    r.add_argument(
        "--rand-seed",
        type=int,
        default=defaults.rand_seed,
        help="sampler seed of the id-rand suite (default: the reserved evaluation seed); any other "
        "seed is a development suite, reported as id-rand-dev<seed>, for tuning without touching "
        "the evaluation items",
    )
    r.add_argument(
        "--n-stress", type=positive_int, default=defaults.n_stress, help="items of the stress suite"
    )
    r.add_argument(
        "--n-hand",
        type=positive_int,
        default=defaults.n_hand,
        help="limit the id-hand suite to its first N presets",
    )
    r.add_argument(
        "--hand-dir",
        default=defaults.hand_dir,
        help="presets of the id-hand suite (default: shared test split)",
    )
    r.add_argument("--ood-dir", default=defaults.ood_dir, help="folder of audio files for the ood suite")
    r.add_argument(
        "--n-ood",
        type=positive_int,
        default=defaults.n_ood,
        metavar="N",
        help="limit the ood suite to N of its files, spread evenly over their sorted list (indices "
        "round(i*len/N), i < N): ood-real's files sort by instrument, so N of them come from as many "
        "instruments as N allows (e.g. --n-ood 8 on ood-real/test: 8 of its 13 programs, one note each)",
    )
    r.add_argument(
        "--external-dir", default=defaults.external_dir, help="folder of .vital files named like the targets"
    )
    r.add_argument(
        "--library", default=defaults.library, help="library folder (default: the bundled library)"
    )
    r.add_argument(
        "--estimator",
        default=defaults.estimator,
        metavar="DIR",
        help="trained estimator folder of the estimator methods (default: the one shipped, if any)",
    )
    r.add_argument(
        "--train-library",
        default=defaults.train_library,
        metavar="LIB[,LIB]",
        help="libraries built from the estimator's training set, comma-separated: knn-train reads the one "
        "of an audio embedding (synthmatch library build --dataset DATASET --embedding logmel-stats "
        "--split train --out LIB), knn-learned the one of the estimator embedding (--embedding estimator "
        "--estimator EST)",
    )
    r.add_argument("--workers", type=positive_int, default=defaults.workers, help="render workers")
    r.add_argument(
        "--parallel-items",
        type=positive_int,
        default=defaults.parallel_items,
        help="items matched concurrently",
    )
    r.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="run only the items whose index is K modulo N (K from 0), e.g. one shard per process or "
        "machine; put the shards' attempts_*.jsonl files together in one folder and run the command "
        "there without --shard to score and report the whole suite",
    )
    r.add_argument(
        "--ray-address",
        default=defaults.ray_address,
        help="render on Ray: 'local' starts one here with --workers CPUs, else a cluster address; "
        "--workers then sets the renders each search keeps in flight (default: the cluster's CPUs)",
    )
    r.add_argument(
        "--engine-speed-presets",
        type=at_least(int, 0),
        default=defaults.engine_speed_presets,
        metavar="N",
        help="time the engine on N bundled-library presets before the suites and after each, so the "
        f"seconds per match can be read against the machine's speed (default: {defaults.engine_speed_presets}; "
        "0: not timed)",
    )
    r.set_defaults(func=run)


def _register_merge(bsub: argparse._SubParsersAction) -> None:
    m = bsub.add_parser(
        "merge",
        help="one report from the scores of several `bench run` folders (shards, or methods run "
        "separately on the same items, joined by item), without rendering",
    )
    m.add_argument("scores", nargs="+", help="scores_<suite>.json files, or the report folders holding them")
    m.add_argument("--out", required=True, help="folder for report.md, report.json and the merged scores")
    m.set_defaults(func=merge)


def _shard(text: str | None) -> tuple[int, int] | None:
    from synthmatch.errors import SynthmatchError

    if text is None:
        return None
    k, sep, n = text.partition("/")
    if not (sep and k.strip().isdigit() and n.strip().isdigit()):
        raise SynthmatchError(f"--shard {text!r} is not K/N (e.g. 0/4 for the first of four shards)")
    return int(k), int(n)


def run(args: argparse.Namespace) -> int:
    from synthmatch.bench import BenchConfig, format_markdown, run_benchmark
    from synthmatch.cli.progress import progress_bar

    config = BenchConfig(
        suites=tuple(args.suites),
        methods=tuple(args.methods),
        budget=args.budget,
        n_rand=args.n_rand,
        rand_seed=args.rand_seed,
        n_stress=args.n_stress,
        n_hand=args.n_hand,
        hand_dir=args.hand_dir,
        ood_dir=args.ood_dir,
        n_ood=args.n_ood,
        external_dir=args.external_dir,
        library=args.library,
        estimator=args.estimator,
        train_library=args.train_library,
        workers=args.workers,
        parallel_items=args.parallel_items,
        shard=_shard(args.shard),
        ray_address=args.ray_address,
        engine_speed_presets=args.engine_speed_presets,
    )
    with progress_bar("benchmark", unit="match") as progress:
        report = run_benchmark(config, out=args.out, progress=progress)
    print(format_markdown(report["suites"], report["meta"]))
    return 0


def merge(args: argparse.Namespace) -> int:
    from synthmatch.bench import format_markdown, merge_scores

    report = merge_scores(args.scores, args.out)
    print(format_markdown(report["suites"], report["meta"]))
    return 0


# ---------------------------------------------------------------------------------------
# Throughput.
# ---------------------------------------------------------------------------------------
def _default_presets() -> str:
    from synthmatch.data_paths import shared_dir

    return str(shared_dir() / "presets" / "train")


def _register_render(bsub: argparse._SubParsersAction) -> None:
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


def _register_estimator(bsub: argparse._SubParsersAction) -> None:
    e = bsub.add_parser("estimator", help="the learned estimator's inference time per sound (one thread)")
    e.add_argument("--estimator", default=None, metavar="DIR", help="trained estimator folder")
    e.add_argument("targets", nargs="*", help="audio files (default: the bundled example sounds)")
    e.add_argument("--rounds", type=positive_int, default=20, help="timed rounds over the targets")
    e.add_argument("--json", default=None, help="also write the report as JSON here")
    e.set_defaults(func=run_estimator)


def _register_ood_real(bsub: argparse._SubParsersAction) -> None:
    from synthmatch.bench.oodreal import DEFAULT_SOUNDFONT

    o = bsub.add_parser(
        "ood-real",
        help="render the ood-real suite: real instrument notes from a General MIDI soundfont, split "
        "by program into dev/ and test/ (bench run --suites ood --ood-dir OUT/test)",
    )
    o.add_argument("--out", required=True, help="suite folder (dev/, test/, manifest.json)")
    o.add_argument("--soundfont", default=DEFAULT_SOUNDFONT, help=f"soundfont (default {DEFAULT_SOUNDFONT})")
    o.set_defaults(func=run_ood_real)


def run_ood_real(args: argparse.Namespace) -> int:
    from synthmatch.bench.oodreal import build_ood_real
    from synthmatch.cli.progress import progress_bar

    with progress_bar("rendering ood-real", unit="note") as progress:
        manifest = build_ood_real(args.out, soundfont=args.soundfont, progress=progress)
    print(f"ood-real: {manifest['items']} notes over {len(manifest['families'])} families -> {args.out}")
    return 0


def run_estimator(args: argparse.Namespace) -> int:
    import json
    import pathlib

    from synthmatch.bench.throughput.estimator import EXAMPLES, format_estimator, measure_estimator

    targets = args.targets or sorted(str(p) for p in EXAMPLES.glob("*.wav"))
    report = measure_estimator(targets, estimator=args.estimator, rounds=args.rounds)
    print(format_estimator(report))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


def _register_search(bsub: argparse._SubParsersAction) -> None:
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


#: The help of ``bench dataset`` (and of ``dataset bench``, the same command).
DATASET_HELP = "dataset-build throughput against raw render throughput, 1 and 2 workers"


def add_dataset_arguments(m: argparse.ArgumentParser) -> None:
    """The options of ``bench dataset``, also registered as ``dataset bench``."""
    from synthmatch.data.samplers import sampler_names

    m.add_argument("--n", type=positive_int, default=24, help="items per measurement")
    m.add_argument("--workers", default="1,2", help="worker counts to measure (default 1,2)")
    m.add_argument("--repeats", type=positive_int, default=3)
    m.add_argument("--sampler", default="lhs", choices=sampler_names())
    m.add_argument("--sampler-config", help="sampler options as JSON, or @file.json")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--probe", default="", help="probe overrides (default: the benchmark probe)")
    m.add_argument("--keep-audio", action="store_true")
    m.add_argument("--json", action="store_true")


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


def run_dataset(args: argparse.Namespace) -> int:
    from synthmatch.bench.throughput import bench_throughput, format_bench
    from synthmatch.cli.args import json_object
    from synthmatch.cli.progress import progress_bar
    from synthmatch.render.probe import Probe

    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    sampler_config = json_object(args.sampler_config)
    probe = Probe.parse(args.probe) if args.probe else Probe()
    with progress_bar("bench", total=None, unit="run") as progress:
        result = bench_throughput(
            n=args.n,
            workers=workers,
            repeats=args.repeats,
            sampler=args.sampler,
            sampler_config=sampler_config,
            seed=args.seed,
            probe=probe,
            keep_audio=args.keep_audio,
            progress=progress,
        )
    print(json.dumps(result, indent=1) if args.json else format_bench(result))
    return 0


def _report(report: Any, json_path: str | None) -> int:
    """Print a throughput report, and also write it as JSON to ``json_path`` when given."""
    print(report.format())
    if json_path:
        pathlib.Path(json_path).write_text(json.dumps(report.to_dict(), indent=1))
    return 0
