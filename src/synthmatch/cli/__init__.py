"""The `synthmatch` command line: thin wrappers that parse arguments and call the library.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module list below
is the only place that knows them all.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from synthmatch import __version__
from synthmatch.errors import SynthmatchError

#: Subcommand modules (each defines ``register(subparsers) -> None``; handlers set ``func``).
COMMAND_MODULES = (
    "synthmatch.cli.render",
    "synthmatch.cli.match",
    "synthmatch.cli.dataset",
    "synthmatch.cli.library",
    "synthmatch.cli.bench",
    "synthmatch.cli.explain",
    "synthmatch.cli.spec",
    "synthmatch.cli.train",
    "synthmatch.cli.serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthmatch",
        description="Turn a sound into a Vital preset that reproduces it, and explain how it is built.",
    )
    parser.add_argument("--version", action="version", version=f"synthmatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader logs CPU-feature probing at INFO
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SynthmatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # an output folder that cannot be made or written, a full disk, ...
        print(
            f"error: {exc}. Hint: check that the path exists, is writable and that the disk has room.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
