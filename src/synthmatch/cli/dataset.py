"""`synthmatch dataset build|info|compare|bench`: build, inspect and benchmark datasets."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

from synthmatch.cli.args import json_object, positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    from synthmatch.data.probes import PROBE_SAMPLERS
    from synthmatch.data.samplers import sampler_names

    p = sub.add_parser("dataset", help="build, inspect and benchmark (preset, audio features) datasets")
    dsub = p.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")

    b = dsub.add_parser("build", help="render a dataset into shards (resumes an interrupted build)")
    b.add_argument("--n", type=positive_int, required=True, help="number of items")
    b.add_argument("--out", required=True, help="dataset folder (an interrupted build there is resumed)")
    b.add_argument("--sampler", default="lhs", choices=sampler_names(), help="preset sampler (default: lhs)")
    b.add_argument("--sampler-config", help="sampler options as JSON, or @file.json")
    b.add_argument("--seed", type=int, default=0, help="item i is a pure function of (seed, i)")
    b.add_argument(
        "--probe", default="", help="probe overrides, e.g. 'note=48,note_seconds=1,render_seconds=2'"
    )
    b.add_argument("--probe-sampler", default="fixed", choices=sorted(PROBE_SAMPLERS), help="per-item probes")
    b.add_argument("--probe-config", help="probe sampler options as JSON, e.g. '{\"notes\": [36, 84]}'")
    b.add_argument("--features", help="LogMelConfig options as JSON, or @file.json (default: its defaults)")
    b.add_argument("--feature-dtype", default="float16", choices=("float16", "float32"))
    b.add_argument("--keep-audio", action="store_true", help="also store each render as 24-bit FLAC")
    b.add_argument("--shard-size", type=positive_int, default=1000, help="items per shard (default 1000)")
    b.add_argument("--workers", type=positive_int, default=None, help="worker processes (default: all cores)")
    b.add_argument(
        "--ray-address", default=None, help="run on Ray: 'local' starts one here, else a cluster address"
    )
    b.add_argument(
        "--max-attempts",
        type=positive_int,
        default=8,
        help="render attempts per item before it counts as failed",
    )
    b.add_argument("--timeout", type=positive_float, default=60.0, help="per-render timeout in seconds")
    b.add_argument("--part", help="I/K: build only shards s with s %% K == I (K drivers share one --out)")
    b.set_defaults(func=run_build)

    i = dsub.add_parser("info", help="counts, rejection reasons, parameter coverage and audio statistics")
    i.add_argument("dataset")
    i.add_argument("--plot", help="write the coverage plot here (default: DATASET/coverage.png)")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(func=run_info)

    c = dsub.add_parser("compare", help="feature statistics of several datasets and their gap to a reference")
    c.add_argument("datasets", nargs="+")
    c.add_argument("--labels", help="comma-separated labels (default: folder names)")
    c.add_argument(
        "--reference", help="label of the reference set (default: a 'train' sampler set, else the last)"
    )
    c.add_argument("--max-items", type=positive_int, default=5000, help="items sampled per dataset")
    c.add_argument("--plot", help="write the comparison plot here")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_compare)

    from synthmatch.cli.bench import DATASET_HELP, add_dataset_arguments, run_dataset

    m = dsub.add_parser("bench", help=f"{DATASET_HELP} (the same as `synthmatch bench dataset`)")
    add_dataset_arguments(m)
    m.set_defaults(func=run_dataset)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _probe(text: str) -> Any:
    from synthmatch.render.probe import Probe

    return Probe.parse(text) if text else Probe()


def _part(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    from synthmatch.errors import ParameterError

    try:
        i, k = (int(v) for v in text.split("/"))
    except ValueError:
        raise ParameterError(f"--part {text!r} must look like I/K, e.g. 0/4") from None
    return i, k


def run_build(args: argparse.Namespace) -> int:
    from synthmatch.cli.progress import progress_bar
    from synthmatch.data.build import build_dataset, make_job
    from synthmatch.data.shards import complete_shards, shard_ranges

    job = make_job(
        sampler=args.sampler,
        sampler_config=json_object(args.sampler_config),
        seed=args.seed,
        probe=_probe(args.probe),
        probe_sampler=args.probe_sampler,
        probe_config=json_object(args.probe_config),
        features=json_object(args.features),
        feature_dtype=args.feature_dtype,
        keep_audio=args.keep_audio,
        max_attempts=args.max_attempts,
        timeout_s=args.timeout,
    )
    done = complete_shards(args.out)
    n_shards = len(shard_ranges(args.n, args.shard_size))
    if done:
        print(f"resuming {args.out}: {len(done)} of {n_shards} shards already complete", file=sys.stderr)
    with progress_bar("dataset build", total=None, unit="item") as progress:
        report = build_dataset(
            args.out,
            n=args.n,
            job=job,
            shard_size=args.shard_size,
            workers=args.workers,
            ray_address=args.ray_address,
            progress=progress,
            part=_part(args.part),
        )
    print(
        f"{report.out}: {report.items} items of {report.n} requested in {report.shards_written + report.shards_kept} "
        f"shards ({report.shards_written} written now, {report.shards_kept} kept); "
        f"{report.items_rendered} items in {report.seconds:.1f} s = {report.items_per_s:.2f} items/s"
    )
    total_rej = sum(report.rejections.values())
    print(f"render attempts: {report.attempts}, rejected: {total_rej}")
    for reason, count in sorted(report.rejections.items(), key=lambda kv: -kv[1]):
        print(f"  {reason:18s} {count}")
    if report.failed:
        print(
            f"{len(report.failed)} items failed every attempt (listed in the manifest): "
            + ", ".join(str(f["index"]) for f in report.failed[:20])
        )
    return 0


def run_info(args: argparse.Namespace) -> int:
    from synthmatch.data.reader import Dataset
    from synthmatch.data.report import dataset_info, format_info, plot_coverage

    ds = Dataset(args.dataset)
    info = dataset_info(ds)
    plot = pathlib.Path(args.plot) if args.plot else ds.root / "coverage.png"
    plot_coverage(info, plot)
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        print(format_info(info))
        print(f"coverage plot: {plot}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from synthmatch.data.report import compare_datasets, format_compare, plot_compare

    labels = args.labels.split(",") if args.labels else None
    result = compare_datasets(
        args.datasets, labels=labels, reference=args.reference, max_items=args.max_items
    )
    if args.plot:
        plot_compare(result, args.plot)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_compare(result))
        if args.plot:
            print(f"plot: {args.plot}")
    return 0
