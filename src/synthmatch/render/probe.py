"""The probe: how a preset becomes audio (note, velocity, note length, render length, sample rate).

Declared once; datasets, indexes, the benchmark and `match` store the probe they used and refuse
to mix audio made with different probes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from synthmatch.errors import ParameterError

#: Margin between note-off and the end of the render. With the note still held at the end of a
#: render, the next render on the same engine differs (VITA_NOTES §2, held-note leak).
NOTE_OFF_MARGIN_S = 0.05

#: The warm-up render that lets parameter smoothing settle (glides last ~0.28 s) before the real
#: render. Its note is released well before its end.
WARMUP_NOTE_S = 0.25
WARMUP_RENDER_S = 0.5

SUPPORTED_SAMPLE_RATES = (22050, 44100, 48000, 88200, 96000)


@dataclass(frozen=True)
class Probe:
    """How to play a preset: one MIDI note, held for ``note_seconds``, rendered for ``render_seconds``.

    The benchmark's probe is the default: MIDI 60, velocity 100/127, held 2.0 s,
    4.0 s render at 44.1 kHz.
    """

    note: int = 60
    velocity: float = 100 / 127
    note_seconds: float = 2.0
    render_seconds: float = 4.0
    sample_rate: int = 44100

    def __post_init__(self) -> None:
        if not 0 <= int(self.note) <= 127 or int(self.note) != self.note:
            raise ParameterError(f"probe note {self.note} must be an integer MIDI note in [0, 127]")
        if not 0 < self.velocity <= 1:
            raise ParameterError(
                f"probe velocity {self.velocity} must be in (0, 1]. Hint: MIDI velocity v is v/127."
            )
        if self.render_seconds <= 0 or self.render_seconds > 60:
            raise ParameterError(f"render_seconds {self.render_seconds} must be in (0, 60]")
        if not 0 < self.note_seconds <= self.render_seconds - NOTE_OFF_MARGIN_S:
            raise ParameterError(
                f"note_seconds {self.note_seconds} must be in (0, render_seconds - {NOTE_OFF_MARGIN_S}] "
                f"= (0, {self.render_seconds - NOTE_OFF_MARGIN_S:g}]: a note still held at the end of a render "
                "leaks into the next one. Hint: release the note earlier or render longer."
            )
        if self.sample_rate not in SUPPORTED_SAMPLE_RATES:
            raise ParameterError(
                f"sample_rate {self.sample_rate} not supported; use one of {SUPPORTED_SAMPLE_RATES}"
            )

    @property
    def n_samples(self) -> int:
        return int(self.render_seconds * self.sample_rate)

    def replace(self, **changes: Any) -> Probe:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Probe:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ParameterError(f"unknown probe fields {sorted(unknown)}; valid: {sorted(fields)}")
        return cls(**d)

    @classmethod
    def parse(cls, text: str) -> Probe:
        """Parse ``"note=48,velocity=0.8,note_seconds=1,render_seconds=3,sample_rate=44100"``."""
        d: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in part:
                raise ParameterError(f"probe option {part!r} is not key=value")
            k, v = (s.strip() for s in part.split("=", 1))
            d[k] = int(v) if k in ("note", "sample_rate") else float(v)
        return cls.from_dict(d)


DEFAULT_PROBE = Probe()
