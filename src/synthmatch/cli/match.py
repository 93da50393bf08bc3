"""`synthmatch match TARGET [-o DIR] [--budget N | --seconds S] [--candidates K] [--note auto|N]`."""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from typing import TYPE_CHECKING

from synthmatch.cli.args import non_negative_int, positive_float, positive_int
from synthmatch.errors import SynthmatchError

if TYPE_CHECKING:
    from synthmatch.search.config import MatchConfig
    from synthmatch.search.match import MatchResult


def _note(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        note = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be 'auto' or a MIDI note number 0-127") from None
    if not 0 <= note <= 127:
        raise argparse.ArgumentTypeError(f"{note} is not a MIDI note number (0-127; 60 is middle C)")
    return note


def _sources(text: str) -> tuple[str, ...]:
    from synthmatch.search.proposals import SOURCES

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in SOURCES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown proposal source(s) {unknown or text!r}; choose from {', '.join(sorted(SOURCES))}"
        )
    return names


def register(sub: argparse._SubParsersAction) -> None:
    from synthmatch.search.config import MatchConfig
    from synthmatch.search.proposals import SOURCES
    from synthmatch.search.refine import REFINERS

    defaults = MatchConfig()

    p = sub.add_parser("match", help="find Vital presets that reproduce a sound")
    p.add_argument("target", help="audio file (WAV, FLAC, OGG, MP3, AIFF)")
    p.add_argument("-o", "--out", default=None, help="output folder (default: ./match-<target name>)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--budget",
        type=non_negative_int,
        default=defaults.budget,
        help=f"render budget (default {defaults.budget}); 0 renders nothing and returns the first "
        "sources' answers at once (the estimator's, with --sources estimator)",
    )
    g.add_argument(
        "--seconds",
        type=positive_float,
        default=None,
        help="time limit instead of a render budget",
    )
    p.add_argument(
        "--candidates",
        type=positive_int,
        default=defaults.candidates,
        help="distinct candidates to return",
    )
    p.add_argument(
        "--note", type=_note, default=None, help="MIDI note to play, or 'auto' to detect it (default)"
    )
    p.add_argument("--library", default=None, help="library folder (default: the bundled library)")
    p.add_argument("--workers", type=positive_int, default=None, help="render workers (default: CPU count)")
    p.add_argument(
        "--sources",
        type=_sources,
        default=defaults.sources,
        help=f"comma list of proposal sources, from {', '.join(sorted(SOURCES))} "
        f"(default {','.join(defaults.sources)})",
    )
    p.add_argument(
        "--estimator",
        default=defaults.estimator,
        metavar="DIR",
        help="trained estimator folder for the 'estimator' source (default: the one shipped, if any)",
    )
    p.add_argument(
        "--refiner", default=defaults.refiner, choices=sorted(REFINERS), help="refinement strategy"
    )
    p.add_argument(
        "--max-seconds",
        type=positive_float,
        default=defaults.max_seconds_audio,
        help="refuse targets longer than this",
    )
    p.add_argument(
        "--no-prune",
        dest="prune",
        action="store_false",
        help="do not try the refinement starts with their modules switched off (a reverb tail, a noise "
        "layer the target lacks); the default keeps a switch-off that scores 5%% better",
    )
    p.add_argument(
        "--no-moves",
        dest="moves",
        action="store_false",
        help="refine each start in one round, with no structural step (another wavetable, filter, octave, "
        "unison count, modulation or effect) between two",
    )
    p.add_argument("--llm", default=None, help="rewrite the tutorial with an LLM (anthropic, openai, ollama)")
    p.add_argument("--no-tutorial", action="store_true", help="do not write the tutorial")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> MatchConfig:
    """The :class:`MatchConfig` that ``synthmatch match`` arguments ask for."""
    from synthmatch.search.config import MatchConfig

    return MatchConfig(
        budget=None if args.seconds is not None else args.budget,
        seconds=args.seconds,
        candidates=args.candidates,
        note=args.note,
        sources=args.sources,
        estimator=args.estimator,
        refiner=args.refiner,
        prune=args.prune,
        moves=args.moves,
        max_seconds_audio=args.max_seconds,
        workers=args.workers,
        library=args.library,
    )


def run(args: argparse.Namespace) -> int:
    from synthmatch.cli.progress import progress_bar
    from synthmatch.search.match import Matcher
    from synthmatch.search.report import write_outputs

    config = config_from_args(args)
    out = pathlib.Path(args.out or f"match-{pathlib.Path(args.target).stem}")
    _check_out_dir(out)  # before the search: a bad -o must not cost a match
    with Matcher(config) as m:
        if config.budget == 0:
            result = m.match(args.target)
        else:
            with progress_bar("matching", total=config.budget, unit="render", lazy=True) as progress:
                result = m.match(args.target, progress=progress)
    paths = write_outputs(result, out, tutorial=not args.no_tutorial, llm=args.llm)
    for warning in result.analysis.get("warnings") or ():
        print(f"warning: {warning}", file=sys.stderr)
    if result.interrupted:
        print("interrupted: returning the best preset found so far")
    print(
        f"note {result.probe.note} (detected {result.analysis['midi_note']}), "
        f"{result.renders} renders, {result.timings['total']:.1f} s"
    )
    print("\n".join(candidate_lines(result)))
    print(f"best preset: {paths['preset']}\nreport: {paths['report']}")
    return 0


def candidate_lines(result: MatchResult) -> list[str]:
    """The candidates as the command prints them: best first, each with the score it is ranked by."""
    lines = [
        "candidates, best first (score: MSS-mel dB, plus the pitch term when off a pitched target's note)"
    ]
    if not result.rendered:
        return ["candidates, first source first (not rendered: --budget 0)"] + [
            f"  candidate {i + 1}: {c.origin}" for i, c in enumerate(result.candidates)
        ]
    for i, c in enumerate(result.candidates):
        mss = c.metrics["mss_mel"]
        parts = f" = MSS-mel {mss:.3f} + pitch {c.score - mss:.3f}" if c.score > mss else ""
        lines.append(f"  candidate {i + 1}: score {c.score:.3f} dB{parts}  ({c.origin})")
    return lines


def _check_out_dir(out: pathlib.Path) -> None:
    """Refuse an output folder that cannot be written, without creating anything yet."""
    if out.exists() and not out.is_dir():
        raise SynthmatchError(f"-o {out}: a file of that name exists. Hint: pass a folder name.")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise SynthmatchError(f"-o {out}: {parent} is not a writable folder. Hint: choose another -o.")
