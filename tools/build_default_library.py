"""Build the retrieval library shipped inside the package.

    python tools/build_default_library.py [--n 2000] [--seed 1]

Writes ``src/synthmatch/resources/library/`` (provenance in its ``library.json``). Uses the
training presets only (never the test split) and a seed outside the evaluation seeds.
"""

from __future__ import annotations

import argparse

from synthmatch.cli.progress import progress_bar
from synthmatch.search.build import build_default_library
from synthmatch.search.library import default_library_path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    with progress_bar("default library", total=args.n, unit="preset") as progress:
        lib = build_default_library(n=args.n, seed=args.seed, workers=args.workers, progress=progress)
    out = lib.save(default_library_path())
    print(f"{len(lib)} items -> {out}; skipped {lib.provenance['skipped']}")


if __name__ == "__main__":
    main()
