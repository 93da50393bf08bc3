"""The first stage of a match: load the target, analyse it, choose the probe that reproduces it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.audio.analysis import NoteAnalysis
from synthmatch.audio.io import LoadedAudio
from synthmatch.render.probe import DEFAULT_PROBE, NOTE_OFF_MARGIN_S, Probe
from synthmatch.search.scoring import fit_length

#: Render length (seconds) of a target's probe: its duration rounded up to a quarter second,
#: within these bounds.
RENDER_SECONDS_RANGE = (1.0, 8.0)


def probe_for(
    analysis: NoteAnalysis, *, duration_s: float, note: int | None = None, sample_rate: int = 44100
) -> Probe:
    """The probe that reproduces a target: detected (or given) note, note length and velocity."""
    lo, hi = RENDER_SECONDS_RANGE
    render_s = float(min(max(math.ceil(duration_s * 4) / 4, lo), hi))
    if note is not None:
        midi = note
    else:
        midi = analysis.midi_note if analysis.midi_note is not None else DEFAULT_PROBE.note
    # the release measured from the clip's start: a render's key-down is at 0
    note_s = float(analysis.release_s or analysis.note_length_s or DEFAULT_PROBE.note_seconds)
    note_s = min(max(note_s, 0.05), render_s - NOTE_OFF_MARGIN_S)
    velocity = float(min(max(analysis.velocity or DEFAULT_PROBE.velocity, 0.05), 1.0))
    return Probe(
        note=int(min(max(midi, 0), 127)),
        velocity=velocity,
        note_seconds=note_s,
        render_seconds=render_s,
        sample_rate=sample_rate,
    )


def target_f0_of(analysis: NoteAnalysis) -> float | None:
    """The f0 (Hz) the search objective's pitch term aims at, or None for an unpitched target."""
    return analysis.f0_hz if (analysis.pitched and analysis.f0_hz) else None


@dataclass(frozen=True)
class Target:
    """An analysed target.

    Attributes
    ----------
    loaded : LoadedAudio
        The file as loaded (trimmed, resampled, mixed to mono), with its warnings.
    samples : np.ndarray [shape=(probe.n_samples,)]
        Mono float32 samples fitted to the probe's length.
    analysis : NoteAnalysis
        Pitch, note length, velocity, measured on the clip with its silent end put back.
    probe : Probe
        The note, velocity and note length that reproduce the target.
    """

    loaded: LoadedAudio
    samples: np.ndarray
    analysis: NoteAnalysis
    probe: Probe

    @property
    def sample_rate(self) -> int:
        return self.probe.sample_rate

    @property
    def f0(self) -> float | None:
        """The f0 (Hz) the pitch term aims at (None: unpitched)."""
        return target_f0_of(self.analysis)

    def record(self) -> dict[str, Any]:
        """What the analysis found, as match.json reports it."""
        an = self.analysis
        return {
            "midi_note": an.midi_note,
            "cents": an.cents,
            "f0_hz": an.f0_hz,
            "pitched": an.pitched,
            "pitch_method": an.pitch_method,
            "note_length_s": an.note_length_s,
            "release_s": an.release_s,  # from the start of the trimmed clip
            "trimmed_start_s": self.loaded.trimmed_start_s,  # leading audio that loading trimmed away
            "velocity": an.velocity,
            "loudness_db": an.loudness_db,
            "note_chosen": self.probe.note,
            "source": self.loaded.source,
            "warnings": list(self.loaded.warnings),
        }


def analyze_target(
    audio: Any, *, sample_rate: int, note: int | None = None, max_seconds: float = 30.0
) -> Target:
    """Load a target (path or ``(samples, sample_rate)``), analyse it and choose its probe.

    The analysis reads the clip with its silent end put back: the release reads best where the
    sound ends (:meth:`~synthmatch.audio.io.LoadedAudio.with_trimmed_end`)."""
    from synthmatch.audio.analysis import analyze
    from synthmatch.audio.io import load_audio

    loaded = load_audio(audio, sample_rate=sample_rate, max_seconds=max_seconds)
    samples = loaded.samples.astype(np.float32)
    an = analyze(loaded.with_trimmed_end(), sample_rate)
    probe = probe_for(an, duration_s=len(samples) / sample_rate, note=note, sample_rate=sample_rate)
    return Target(loaded, fit_length(samples, probe.n_samples), an, probe)


def read_target(
    audio: Any, *, sample_rate: int, note: int | None = None, max_seconds: float = 30.0
) -> tuple[LoadedAudio, np.ndarray, NoteAnalysis, Probe]:
    """:func:`analyze_target` as a tuple (loaded audio, fitted samples, analysis, probe)."""
    t = analyze_target(audio, sample_rate=sample_rate, note=note, max_seconds=max_seconds)
    return t.loaded, t.samples, t.analysis, t.probe
