"""`synthmatch explain PRESET.vital`: write a step-by-step Vital tutorial for a preset."""

from __future__ import annotations

import argparse
import pathlib


def register(sub: argparse._SubParsersAction) -> None:
    from synthmatch.explain.llm import providers

    p = sub.add_parser(
        "explain",
        help="write a step-by-step tutorial (tutorial.md, recipe.json, wavetables) for a .vital preset",
    )
    p.add_argument("preset", help="a .vital preset file")
    p.add_argument("-o", "--out", help="output folder (default: PRESET_tutorial next to the preset)")
    p.add_argument(
        "--llm",
        choices=providers(),
        help="rewrite the prose with this language model (key from the environment); "
        "falls back to the template tutorial if it is unavailable or changes a value",
    )
    p.add_argument("--no-render", action="store_true", help="do not render the preset to describe the sound")
    p.add_argument(
        "--probe", default="", help="probe overrides for the render, e.g. 'note=48,note_seconds=1.5'"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from synthmatch.errors import RenderError
    from synthmatch.explain import write_tutorial
    from synthmatch.vital import Preset

    preset = Preset.from_file(args.preset)
    for issue in preset.issues:
        print(f"note: {issue}")
    out = (
        pathlib.Path(args.out)
        if args.out
        else pathlib.Path(args.preset).with_name(pathlib.Path(args.preset).stem + "_tutorial")
    )
    audio = None
    sample_rate = 44100
    note_seconds = None
    if not args.no_render:
        from synthmatch.render import Probe, render

        probe = Probe.parse(args.probe) if args.probe else Probe()
        outcome = render(preset, probe)
        if not outcome.ok:
            raise RenderError(
                f"render failed ({outcome.status}): {outcome.reason}. Hint: use --no-render to skip the description."
            )
        audio, sample_rate, note_seconds = outcome.mono, probe.sample_rate, probe.note_seconds
    paths = write_tutorial(
        preset, out, audio=audio, sample_rate=sample_rate, note_seconds=note_seconds, llm=args.llm
    )
    print(f"wrote {paths['tutorial']}")
    print(f"wrote {paths['recipe']}")
    for key, path in paths.items():
        if key not in ("tutorial", "recipe"):
            print(f"wrote {path}")
    return 0
