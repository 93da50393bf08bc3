"""The `ood-real` suite: real instrument notes rendered from a General MIDI soundfont.

Every note is declared here (:data:`PROGRAMS`, :data:`NOTES_PER_PROGRAM`): a General MIDI program,
its family, and five notes in the instrument's range, each with a velocity and a note length. A
note is written as a one-note standard MIDI file and rendered dry (reverb and chorus off) by the
`fluidsynth` command line at 44.1 kHz, then cut or padded to :data:`RENDER_SECONDS`. The two
programs of a family go to different splits (:func:`split_of`): ``dev`` to tune on, ``test`` to
report on, never to tune on.

``build_ood_real(out)`` writes ``OUT/dev`` and ``OUT/test`` (WAV files and a ``notes.json`` with
each file's note, velocity, note length, program and family, the format ``bench run --suites ood
--ood-dir`` reads) and ``OUT/manifest.json`` (the soundfont and its licence and SHA-256, the
fluidsynth version, the exact command, each file's SHA-256): rebuilding with the same soundfont
and fluidsynth gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.errors import SynthmatchError

#: Where Debian's `timgm6mb-soundfont` package puts its soundfont (GPL-2; see :data:`LICENCES`).
DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
LICENCES = {
    "TimGM6mb.sf2": "GPL-2 (Tim Brechbill 2004, David Bolton 2010; Debian package timgm6mb-soundfont)",
    "FluidR3_GM.sf2": "MIT (Frank Wen; Debian package fluid-soundfont-gm)",
}
SAMPLE_RATE = 44100
RENDER_SECONDS = 4.0
#: fluidsynth's output gain: loud notes stay below full scale.
GAIN = 1.0


@dataclass(frozen=True)
class Program:
    """A General MIDI program (0-based), its family and the lowest and highest note it plays."""

    number: int
    name: str
    family: str
    low: int
    high: int


#: Two programs per family, 13 families.
PROGRAMS: tuple[Program, ...] = (
    Program(0, "acoustic grand piano", "keys", 33, 96),
    Program(4, "electric piano 1", "keys", 33, 91),
    Program(11, "vibraphone", "mallets", 53, 89),
    Program(12, "marimba", "mallets", 45, 96),
    Program(16, "drawbar organ", "organ", 36, 96),
    Program(19, "church organ", "organ", 36, 91),
    Program(24, "nylon guitar", "plucked strings", 40, 84),
    Program(46, "orchestral harp", "plucked strings", 36, 91),
    Program(40, "violin", "bowed strings", 55, 96),
    Program(42, "cello", "bowed strings", 36, 72),
    Program(56, "trumpet", "brass", 54, 82),
    Program(60, "french horn", "brass", 41, 77),
    Program(65, "alto sax", "reeds", 49, 80),
    Program(71, "clarinet", "reeds", 50, 91),
    Program(73, "flute", "flutes", 60, 96),
    Program(75, "pan flute", "flutes", 60, 91),
    Program(52, "choir aahs", "voice", 48, 79),
    Program(53, "voice oohs", "voice", 48, 79),
    Program(80, "square lead", "synth lead", 36, 96),
    Program(81, "sawtooth lead", "synth lead", 36, 96),
    Program(88, "new age pad", "synth pad", 36, 84),
    Program(89, "warm pad", "synth pad", 36, 84),
    Program(38, "synth bass 1", "synth bass", 28, 60),
    Program(39, "synth bass 2", "synth bass", 28, 60),
    Program(47, "timpani", "pitched percussion", 40, 60),
    Program(114, "steel drums", "pitched percussion", 52, 88),
)
NOTES_PER_PROGRAM = 5
#: Velocities (MIDI) and note lengths (s) the notes of a program cycle through.
VELOCITIES = (100, 64, 127, 80, 110)
NOTE_SECONDS = (1.0, 0.5, 2.0, 1.5, 0.25)


def split_of(program: Program) -> str:
    """``dev`` for the first program of its family in :data:`PROGRAMS`, ``test`` for the second."""
    first = next(p for p in PROGRAMS if p.family == program.family)
    return "dev" if first == program else "test"


def notes_of(program: Program) -> list[dict[str, Any]]:
    """The program's notes: evenly spread over its range, each with a velocity and a length."""
    keys = np.linspace(program.low + 3, program.high - 3, NOTES_PER_PROGRAM).round().astype(int)
    return [
        {"midi_note": int(k), "velocity": VELOCITIES[i], "note_seconds": NOTE_SECONDS[i]}
        for i, k in enumerate(keys)
    ]


def midi_file(program: int, note: int, velocity: int, seconds: float) -> bytes:
    """A format-0 standard MIDI file: 120 bpm, 480 ticks per beat, one note on channel 0."""
    ticks = round(seconds * 960)  # 480 ticks per beat at 2 beats per second

    def vlq(n: int) -> bytes:
        out = [n & 0x7F]
        while n > 0x7F:
            n >>= 7
            out.insert(0, (n & 0x7F) | 0x80)
        return bytes(out)

    events = (
        b"\x00\xff\x51\x03\x07\xa1\x20"  # tempo 500,000 us per beat
        + b"\x00"
        + bytes([0xC0, program])
        + b"\x00"
        + bytes([0x90, note, velocity])
        + vlq(ticks)
        + bytes([0x80, note, 0])
        + b"\x00\xff\x2f\x00"
    )
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(events)) + events


def fluidsynth_command(soundfont: str, midi: str, wav: str) -> list[str]:
    """The render command: no MIDI input, no shell, dry, 44.1 kHz, 16-bit WAV."""
    return [
        "fluidsynth", "-n", "-i", "-q", "-g", str(GAIN), "-r", str(SAMPLE_RATE),
        "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
        "-O", "s16", "-T", "wav", "-F", wav, soundfont, midi,
    ]  # fmt: skip


def _fluidsynth_version() -> str:
    done = subprocess.run(["fluidsynth", "--version"], capture_output=True, text=True, timeout=30)
    return done.stdout.splitlines()[0] if done.stdout else "unknown"


def build_ood_real(
    out: str | os.PathLike[str],
    *,
    soundfont: str = DEFAULT_SOUNDFONT,
    programs: tuple[Program, ...] = PROGRAMS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Render the suite into ``out`` (see the module docstring); returns the manifest."""
    import soundfile as sf

    if shutil.which("fluidsynth") is None:
        raise SynthmatchError(
            "the ood-real suite is rendered by fluidsynth, which is not installed. "
            "Hint: apt-get install fluidsynth timgm6mb-soundfont"
        )
    sf2 = pathlib.Path(soundfont)
    if not sf2.is_file():
        raise SynthmatchError(
            f"no soundfont at {sf2}. Hint: apt-get install timgm6mb-soundfont, or pass --soundfont"
        )
    root = pathlib.Path(out)
    jobs = [(p, n) for p in programs for n in notes_of(p)]
    notes: dict[str, dict[str, Any]] = {"dev": {}, "test": {}}
    digests: dict[str, str] = {}
    n_samples = round(RENDER_SECONDS * SAMPLE_RATE)
    with tempfile.TemporaryDirectory() as tmp:
        for done, (program, note) in enumerate(jobs):
            split = split_of(program)
            (root / split).mkdir(parents=True, exist_ok=True)
            name = f"p{program.number:03d}_{program.name.replace(' ', '-')}_n{note['midi_note']}.wav"
            mid = pathlib.Path(tmp) / "note.mid"
            raw = pathlib.Path(tmp) / "note.wav"
            mid.write_bytes(
                midi_file(program.number, note["midi_note"], note["velocity"], note["note_seconds"])
            )
            cmd = fluidsynth_command(str(sf2), str(mid), str(raw))
            ran = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if ran.returncode != 0 or not raw.is_file():
                raise SynthmatchError(f"fluidsynth failed on {name}: {ran.stderr.strip()[-300:]}")
            audio, sr = sf.read(raw, dtype="int16", always_2d=True)
            if sr != SAMPLE_RATE:
                raise SynthmatchError(f"fluidsynth wrote {sr} Hz, not {SAMPLE_RATE}")
            fitted = np.zeros((n_samples, audio.shape[1]), dtype=np.int16)
            fitted[: min(n_samples, len(audio))] = audio[:n_samples]
            path = root / split / name
            sf.write(path, fitted, SAMPLE_RATE, subtype="PCM_16")
            digests[f"{split}/{name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
            notes[split][name] = {
                **note,
                "program": program.number,
                "instrument": program.name,
                "family": program.family,
            }
            if progress:
                progress(done + 1, len(jobs))
    for split, table in notes.items():
        if table:
            (root / split / "notes.json").write_text(json.dumps(table, indent=1, sort_keys=True))
    manifest = {
        "suite": "ood-real",
        "soundfont": {
            "file": sf2.name,
            "sha256": hashlib.sha256(sf2.read_bytes()).hexdigest(),
            "licence": LICENCES.get(sf2.name, "see the soundfont's package"),
        },
        "fluidsynth": _fluidsynth_version(),
        "command": " ".join(fluidsynth_command("SOUNDFONT", "NOTE.mid", "NOTE.wav")),
        "render_seconds": RENDER_SECONDS,
        "sample_rate": SAMPLE_RATE,
        "items": {s: len(t) for s, t in notes.items()},
        "families": sorted({p.family for p in programs}),
        "sha256": digests,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest
