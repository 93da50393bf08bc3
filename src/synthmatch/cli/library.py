"""`synthmatch library build|info`: the retrieval library."""

from __future__ import annotations

import argparse
import json
import pathlib

from synthmatch.cli.args import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("library", help="build or inspect a retrieval library")
    lsub = p.add_subparsers(dest="library_command", metavar="LIBRARY")
    b = lsub.add_parser("build", help="render and embed presets into a library")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="a dataset folder built by 'synthmatch dataset build'")
    src.add_argument("--sampler", help="sample presets on the fly with this sampler (lhs, preset, mix)")
    b.add_argument("--n", type=positive_int, default=2000, help="items to sample (with --sampler)")
    b.add_argument("--seed", type=int, default=1, help="sampler seed (with --sampler)")
    b.add_argument(
        "--out",
        required=True,
        help="output library folder (an interrupted build resumes from OUT.progress.jsonl when repeated)",
    )
    b.add_argument(
        "--embedding",
        default="handcrafted",
        help="registered embedding name; with --dataset, logmel-stats and estimator read the stored "
        "log-mels (no render)",
    )
    b.add_argument(
        "--estimator",
        default=None,
        metavar="DIR",
        help="with --embedding estimator: the trained estimator folder whose encoder embeds the items, each "
        "at its own probe (default: $SYNTHMATCH_ESTIMATOR or the one shipped)",
    )
    b.add_argument(
        "--split",
        default="all",
        help="with --dataset: all (default), train (the estimator's training split: what it saw) or validation",
    )
    b.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="the split's validation fraction (default: the estimator's, data.val_fraction; with "
        "--embedding estimator, that model's)",
    )
    b.add_argument(
        "--split-salt",
        type=int,
        default=None,
        help="the split's salt (default: the estimator's, data.split_salt; with --embedding estimator, "
        "that model's)",
    )
    b.add_argument(
        "--items",
        type=positive_int,
        default=None,
        help="with --dataset: its first N items only, as an estimator trained on a dataset still being "
        "built saw them (its card's data.items; with --embedding estimator, that model's by default)",
    )
    b.add_argument("--workers", type=positive_int, default=None)
    b.set_defaults(func=run_build)
    i = lsub.add_parser("info", help="print a library's provenance")
    i.add_argument("library")
    i.set_defaults(func=run_info)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_build(args: argparse.Namespace) -> int:
    from synthmatch.cli.progress import progress_bar
    from synthmatch.search.build import build_from_dataset, build_from_sampler
    from synthmatch.search.library import check_save_target

    out = pathlib.Path(args.out)
    check_save_target(out)  # before the renders, not after
    checkpoint = out.with_name(out.name + ".progress.jsonl")
    if checkpoint.exists():
        print(f"resuming the build logged in {checkpoint}")
    if not args.dataset and (
        args.split != "all" or args.val_fraction is not None or args.split_salt is not None or args.items
    ):
        print(
            "--split, --val-fraction, --split-salt and --items select a dataset's items: use them with --dataset"
        )
        return 2
    if args.estimator is not None and args.embedding != "estimator":
        print("--estimator names the model of --embedding estimator")
        return 2
    embedding_config = {"path": args.estimator} if args.embedding == "estimator" else None
    with progress_bar("building library", unit="preset") as progress:
        if args.dataset:
            lib = build_from_dataset(
                args.dataset,
                embedding=args.embedding,
                embedding_config=embedding_config,
                workers=args.workers,
                progress=progress,
                checkpoint=checkpoint,
                split=args.split,
                val_fraction=args.val_fraction,
                split_salt=args.split_salt,
                items=args.items,
            )
        else:
            lib = build_from_sampler(
                args.sampler,
                n=args.n,
                seed=args.seed,
                embedding=args.embedding,
                workers=args.workers,
                progress=progress,
                checkpoint=checkpoint,
            )
    lib.save(out)
    checkpoint.unlink(missing_ok=True)
    print(f"library: {len(lib)} items -> {args.out} (skipped: {lib.provenance.get('skipped')})")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from synthmatch.search.library import Library

    lib = Library.load(args.library, check=False)
    print(json.dumps(lib.provenance, indent=1))
    return 0
