"""`synthmatch bench run`: the benchmark protocol of BENCHMARK.md (suites × methods → report)."""

from __future__ import annotations

import argparse

from synthmatch.cli.args import positive_int


def register(bsub: argparse._SubParsersAction) -> None:
    from synthmatch.search.match import DEFAULT_BUDGET

    r = bsub.add_parser("run", help="run the sound-matching benchmark and write report.md / report.json")
    r.add_argument("--suites", default="id-hand,id-rand", help="comma list of id-rand, id-hand, ood, stress")
    r.add_argument(
        "--methods",
        default="match,init,random,knn,search-from-init",
        help="comma list of match, init, random, knn, search-from-init, search-big (the refiner from "
        "the init preset at 20x the budget), match-big (the whole matcher at 20x the budget), external",
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
        default=DEFAULT_BUDGET,
        help="render budget of match and search-from-init",
    )
    r.add_argument("--n-rand", type=positive_int, default=200, help="items of the id-rand suite")
    r.add_argument(
        "--rand-seed",
        type=int,
        default=None,
        help="sampler seed of the id-rand suite (default: the reserved evaluation seed); any other "
        "seed is a development suite, reported as id-rand-dev<seed>, for tuning without touching "
        "the evaluation items",
    )
    r.add_argument("--n-stress", type=positive_int, default=40, help="items of the stress suite")
    r.add_argument(
        "--n-hand", type=positive_int, default=None, help="limit the id-hand suite to its first N presets"
    )
    r.add_argument(
        "--hand-dir", default=None, help="presets of the id-hand suite (default: shared test split)"
    )
    r.add_argument("--ood-dir", default=None, help="folder of audio files for the ood suite")
    r.add_argument("--external-dir", default=None, help="folder of .vital files named like the targets")
    r.add_argument("--library", default=None, help="library folder (default: the bundled library)")
    r.add_argument("--workers", type=positive_int, default=None, help="render workers")
    r.add_argument("--parallel-items", type=positive_int, default=1, help="items matched concurrently")
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
        default=None,
        help="render on Ray: 'local' starts one here with --workers CPUs, else a cluster address; "
        "--workers then sets the renders each search keeps in flight (default: the cluster's CPUs)",
    )
    r.set_defaults(func=run)

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
    from synthmatch.bench.protocol import format_markdown, run_benchmark
    from synthmatch.cli.progress import progress_bar

    shard = _shard(args.shard)

    with progress_bar("benchmark", unit="match") as progress:
        report = run_benchmark(
            suites=[s.strip() for s in args.suites.split(",") if s.strip()],
            methods=[m.strip() for m in args.methods.split(",") if m.strip()],
            out=args.out,
            budget=args.budget,
            n_rand=args.n_rand,
            rand_seed=args.rand_seed,
            n_stress=args.n_stress,
            n_hand=args.n_hand,
            hand_dir=args.hand_dir,
            ood_dir=args.ood_dir,
            external_dir=args.external_dir,
            library=args.library,
            workers=args.workers,
            parallel_items=args.parallel_items,
            shard=shard,
            ray_address=args.ray_address,
            progress=progress,
        )
    print(format_markdown(report["suites"], report["meta"]))
    return 0


def merge(args: argparse.Namespace) -> int:
    from synthmatch.bench.protocol import format_markdown, merge_scores

    report = merge_scores(args.scores, args.out)
    print(format_markdown(report["suites"], report["meta"]))
    return 0
