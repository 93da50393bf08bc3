"""`synthmatch explain PRESET.vital`: write a step-by-step Vital tutorial for a preset."""

from __future__ import annotations

import argparse
import pathlib


def register(sub: argparse._SubParsersAction) -> None:
    from synthmatch.explain.llm import providers

    p = sub.add_parser(
        "explain",
        help="write a tutorial in three tiers (the idea, build it, fine details) for a .vital preset: "
        "tutorial.md, tutorial.html with figures, recipe.json, wavetables",
    )
    p.add_argument("preset", help="a .vital preset file")
    p.add_argument("-o", "--out", help="output folder (default: PRESET_tutorial next to the preset)")
    p.add_argument(
        "--llm",
        choices=providers(),
        help="rewrite the prose with this language model (key from the environment); "
        "falls back to the template tutorial if it is unavailable or changes a value",
    )
    p.add_argument(
        "--no-render",
        action="store_true",
        help="do not render the preset: no description, no measured tiers (every step by module)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="describe the sound but skip the ablation renders that rank the steps into tiers",
    )
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
    import time

    from synthmatch.explain.tutorial import tutorial_recipe
    from synthmatch.render import Probe

    probe = Probe.parse(args.probe) if args.probe else Probe()
    audio = None
    if not args.no_render and args.quick:
        from synthmatch.render import render

        outcome = render(preset, probe)
        if not outcome.ok:
            raise RenderError(
                f"render failed ({outcome.status}): {outcome.reason}. Hint: use --no-render to skip the description."
            )
        audio = outcome.mono
    t0 = time.perf_counter()
    measure = not (args.no_render or args.quick)
    recipe = tutorial_recipe(
        preset,
        audio=audio,
        sample_rate=probe.sample_rate,
        note_seconds=probe.note_seconds if audio is not None else None,
        measure=measure,
        probe=probe,
    )
    paths = write_tutorial(preset, out, llm=args.llm, recipe=recipe, probe=probe)
    if measure and recipe.measured:
        from synthmatch.explain.tiers import summary

        m = summary(recipe)
        print(
            f"build it: {m['build_steps']} steps, {m['build_db']:.1f} dB (MSS-mel) from the full preset; "
            f"fine details: {m['detail']} steps; no audible effect: {m['silent']} "
            f"({recipe.measured['renders']} renders, {time.perf_counter() - t0:.1f} s)"
        )
    print(f"wrote {paths['tutorial']}")
    print(f"wrote {paths['recipe']}")
    print(f"wrote {paths['html']}")
    for key, path in paths.items():
        if key not in ("tutorial", "recipe", "html"):
            print(f"wrote {path}")
    return 0
