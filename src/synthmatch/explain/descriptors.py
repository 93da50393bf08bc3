"""Audio descriptors of a rendered note, and a short description of the sound in words.

All descriptors are computed from one mono note (``float`` samples at ``sample_rate``):

* **brightness** — energy-weighted mean spectral centroid (Hz) over the audible frames;
* **attack** — time from 10 % of the peak RMS level until the level reaches 90 % of the peak
  or stops rising (within 1 dB of its maximum over the next 300 ms) (s);
* **decay** — time from the peak until the level is within 1 dB of the sustain level (or of
  -40 dB for notes that die away) (s);
* **sustain** — RMS level while the note is held, relative to the peak (dB);
* **release** — time after note-off until the level is 40 dB below its note-off level (s),
  when the note-off time is known;
* **pitch** — median f0 (YIN) over frames of the held part when most frames are periodic, with
  its note name;
* **noisiness** — mean spectral flatness of the audible frames (0 = pure tones, 1 = white noise);
* **movement** — how much the spectrum changes while the note is held: the larger of the
  coefficient of variation of the spectral centroid and the mean normalised spectral flux.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from synthmatch.dsp import amp_to_db, db_to_amp, frame_signal, yin
from synthmatch.errors import AudioError

_FRAME = 2048
_HOP = 256
_SILENCE_DB = -80.0
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass
class SoundDescription:
    """Descriptors of one note and their description in words (see the module docstring)."""

    brightness_hz: float = 0.0
    attack_s: float = 0.0
    decay_s: float = 0.0
    sustain_db: float = _SILENCE_DB
    release_s: float | None = None
    pitch_hz: float | None = None
    pitch_note: str | None = None
    noisiness: float = 0.0
    movement: float = 0.0
    peak_db: float = _SILENCE_DB
    tags: list[str] = field(default_factory=list)
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SoundDescription:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def note_name(hz: float) -> str:
    """The nearest equal-tempered note name (A4 = 440 Hz), e.g. ``"C4"``."""
    midi = round(69 + 12 * math.log2(float(hz) / 440.0))
    return f"{_NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def _fmt_time(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s"


def describe_audio(
    audio: np.ndarray, sample_rate: int, *, note_seconds: float | None = None, pitch: bool = True
) -> SoundDescription:
    """Describe one rendered note.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,) or (2, n)]
        The note; stereo is averaged to mono.
    sample_rate : int
        Sample rate in Hz.
    note_seconds : float, optional
        When the key was released (the probe's note length). Without it the held part is taken
        as 20–60 % of the audible duration and no release time is measured.
    pitch : bool
        Estimate the pitch.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1 or x.size == 0:
        raise AudioError(f"describe_audio needs a mono or [2, n] signal, got shape {np.shape(audio)}")
    if not np.all(np.isfinite(x)):
        raise AudioError("describe_audio got non-finite samples. Hint: check the render.")
    sr = float(sample_rate)
    frames = frame_signal(x, frame_length=_FRAME, hop_length=_HOP, center=False)
    t = (np.arange(frames.shape[0]) * _HOP + _FRAME / 2) / sr
    # The level of the frames the spectral descriptors read (not the centred envelope of
    # :func:`synthmatch.dsp.frame_rms`), so levels and spectra line up frame by frame.
    rms = np.sqrt(np.mean(frames**2, axis=1))
    peak = float(rms.max())
    desc = SoundDescription()
    if peak <= db_to_amp(_SILENCE_DB):
        desc.tags = ["silent"]
        desc.text = "The render is silent: no sound is produced at the probe note."
        return desc
    desc.peak_db = float(amp_to_db(peak))
    db = amp_to_db(rms, ref=peak)
    p = int(np.argmax(rms))
    start = int(np.argmax(rms >= 0.1 * peak))
    top = start + int(np.argmax(rms[start:] >= 0.9 * peak))
    # The attack ends where the level reaches 90 % of the peak, or earlier where it stops rising
    # (within 1 dB of its maximum over the next 300 ms): a fast attack followed by a slow swell
    # (a filter opening, unison spreading) is still a fast attack.
    look = max(int(0.3 * sample_rate / _HOP), 1)
    for i in range(start, top):
        if db[i] >= np.max(db[i : i + look]) - 1.0:
            top = i
            break
    desc.attack_s = float(max(t[top] - t[start], 0.0))

    audible = np.nonzero(db > -60)[0]
    end = int(audible[-1]) if audible.size else p
    if note_seconds is not None:
        off = int(np.searchsorted(t, note_seconds))
        held = slice(min(p, off), max(min(off, len(t)) - int(0.05 * sr / _HOP), p + 1))
        hold_end = min(off, len(t) - 1)
    else:
        span = max(end - p, 1)
        held = slice(p + int(0.2 * span), p + max(int(0.6 * span), int(0.2 * span) + 1))
        hold_end = held.stop
    tail = db[max(held.stop - max((held.stop - held.start) // 4, 1), held.start) : held.stop]
    desc.sustain_db = float(np.median(tail)) if tail.size else float(db[p])

    if desc.sustain_db < -1.0:
        target = max(desc.sustain_db, -40.0) + 1.0
        after = np.nonzero(db[p : hold_end + 1] <= target)[0]
        desc.decay_s = float(t[p + after[0]] - t[p]) if after.size else float(t[hold_end] - t[p])
    if note_seconds is not None and hold_end < len(t) - 1:
        level = db[hold_end]
        below = np.nonzero(db[hold_end:] <= level - 40)[0]
        desc.release_s = (
            float(t[hold_end + below[0]] - t[hold_end]) if below.size else float(t[-1] - t[hold_end])
        )

    spec = np.abs(np.fft.rfft(frames * np.hanning(_FRAME)[None, :], axis=1))
    freqs = np.fft.rfftfreq(_FRAME, 1 / sr)
    power = spec**2
    energy = power.sum(axis=1)
    loud = db > -40
    centroid = (power * freqs[None, :]).sum(axis=1) / np.maximum(energy, 1e-20)
    desc.brightness_hz = float(np.sum(centroid[loud] * energy[loud]) / np.sum(energy[loud]))
    flat = np.exp(np.mean(np.log(power[loud] + 1e-20), axis=1)) / (np.mean(power[loud], axis=1) + 1e-20)
    desc.noisiness = float(np.clip(np.mean(flat), 0.0, 1.0))

    held_idx = np.arange(len(t))[held]
    held_idx = held_idx[loud[held_idx]] if held_idx.size else held_idx
    if held_idx.size >= 3:
        c = centroid[held_idx]
        cv = float(np.std(c) / max(np.mean(c), 1e-9))
        mag = spec[held_idx]
        flux = np.sqrt(np.sum(np.diff(mag, axis=0) ** 2, axis=1)) / np.maximum(
            np.sqrt(np.sum(mag[1:] ** 2, axis=1)), 1e-12
        )
        desc.movement = float(max(cv, np.mean(flux)))

    if pitch:
        desc.pitch_hz = _pitch(x, int(sr), t, held, start)
        desc.pitch_note = note_name(desc.pitch_hz) if desc.pitch_hz else None
    desc.tags = _tags(desc)
    desc.text = _sentence(desc)
    return desc


def _pitch(x: np.ndarray, sr: int, t: np.ndarray, held: slice, start: int) -> float | None:
    """Median YIN f0 over up to 12 frames of the held part; None when most frames are not periodic.

    Frames are twice the YIN integration window (2048 samples up to 48 kHz, else 4096), searched
    over 30-2500 Hz; a frame is periodic when its aperiodicity is below 0.2.
    """
    a = int(t[start] * sr) + int(0.03 * sr)
    b = min(int(t[min(held.stop, len(t) - 1)] * sr), a + sr)
    seg = x[a:b] if b - a > 4096 else x[:sr]
    size = 2048 if sr <= 48000 else 4096
    if seg.size < 2 * size:
        return None
    starts = np.linspace(0, seg.size - 2 * size, num=min(12, max(1, (seg.size - 2 * size) // size + 1)))
    frames = np.stack([seg[s0 : s0 + 2 * size] for s0 in starts.astype(int)])
    frames = frames[np.sqrt(np.mean(frames**2, axis=1)) >= 1e-5]
    if not len(frames):
        return None
    f0, aperiodicity = yin(
        frames - frames.mean(axis=1, keepdims=True),
        sample_rate=sr,
        window=size,
        tau_min=max(int(sr / 2500.0), 2),
        tau_max=min(int(sr / 30.0), size - 1),
    )
    periodic = aperiodicity < 0.2
    if not periodic.any() or np.count_nonzero(periodic) < 0.5 * len(starts):
        return None
    return float(np.median(f0[periodic]))


def _tags(d: SoundDescription) -> list[str]:
    tags: list[str] = []
    b = d.brightness_hz
    tags.append("dark" if b < 600 else "warm" if b < 1500 else "bright" if b < 4000 else "very bright")
    if d.sustain_db < -30 and d.decay_s < 1.5:
        tags.append("percussive" if d.pitch_hz is None else "plucked")
    elif d.attack_s > 0.15:
        tags.append("swelling")
    else:
        tags.append("sustained")
    if d.pitch_hz is not None:
        tags.append("bass" if d.pitch_hz < 130 else "high" if d.pitch_hz > 1000 else "mid-range")
    tags.append("noisy" if d.noisiness > 0.3 else "airy" if d.noisiness > 0.1 else "tonal")
    tags.append("evolving" if d.movement > 0.25 else "moving" if d.movement > 0.08 else "static")
    return tags


def _sentence(d: SoundDescription) -> str:
    bright = d.tags[0]
    if d.pitch_hz is not None:
        pitch = f"pitched at {d.pitch_note} ({d.pitch_hz:.1f} Hz)"
    else:
        pitch = "without a clear pitch"
    if d.attack_s < 0.01:
        attack = f"an immediate attack ({_fmt_time(d.attack_s)})"
    elif d.attack_s < 0.1:
        attack = f"a quick attack ({_fmt_time(d.attack_s)})"
    else:
        attack = f"a slow attack ({_fmt_time(d.attack_s)})"
    if d.sustain_db < -30:
        body = f"it dies away over {_fmt_time(d.decay_s)} even while held"
    elif d.sustain_db < -6:
        body = f"it decays over {_fmt_time(d.decay_s)} to a sustain {abs(d.sustain_db):.0f} dB below the peak"
    else:
        body = "it holds its level while the key is down"
    release = ""
    if d.release_s is not None:
        release = f", and rings for {_fmt_time(d.release_s)} after release"
    noise = {"noisy": "noisy", "airy": "slightly breathy", "tonal": "clean and tonal"}[d.tags[-2]]
    move = {
        "evolving": "its timbre evolves strongly over the note",
        "moving": "its timbre moves a little",
        "static": "its timbre stays steady",
    }[d.tags[-1]]
    return (
        f"A {bright} sound {pitch} with {attack}; {body}{release}. "
        f"It is {noise} (spectral centroid {d.brightness_hz:.0f} Hz), and {move}."
    )
