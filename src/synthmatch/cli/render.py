"""`synthmatch render PRESET.vital -o out.wav`: render a preset at the probe."""

from __future__ import annotations

import argparse
import pathlib

from synthmatch.errors import RenderError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a .vital preset to a WAV file at the probe")
    p.add_argument("preset", help="a .vital preset file")
    p.add_argument("-o", "--out", help="output WAV (default: PRESET.wav next to the preset)")
    p.add_argument("--probe", default="", help="probe overrides, e.g. 'note=48,note_seconds=1.5'")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from synthmatch.audio.io import save_wav
    from synthmatch.render import Probe, render
    from synthmatch.vital import Preset

    preset = Preset.from_file(args.preset)
    for issue in preset.issues:
        print(f"note: {issue}")
    probe = Probe.parse(args.probe) if args.probe else Probe()
    outcome = render(preset, probe)
    if not outcome.ok:
        raise RenderError(f"render failed ({outcome.status}): {outcome.reason}")
    out = pathlib.Path(args.out or pathlib.Path(args.preset).with_suffix(".wav"))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_wav(out, outcome.audio.T, probe.sample_rate, subtype="FLOAT")
    print(f"wrote {out} ({probe.render_seconds:g} s, note {probe.note}, {outcome.seconds:.2f} s to render)")
    return 0
