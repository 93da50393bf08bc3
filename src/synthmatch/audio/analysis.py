"""Note analysis of a one-shot: pitch, onset, note length (release point) and loudness.

Everything here is deterministic, numpy/scipy only, and cheap (a few tens of milliseconds for a
4-second clip at 44.1 kHz on one core), so it can run on every target before a search. The
envelope and the pitch are read after a 10 Hz zero-phase DC blocker
(:func:`synthmatch.dsp.remove_dc`).

Pitch
    A vectorised YIN at 22050 Hz over 25 Hz-4200 Hz, an octave check on the average spectrum
    (which passes over a lone sub-octave line, such as an organ's 16' stop), the lowest strong
    partial of an inharmonic spectrum or of a pair of partials a fifth apart, and a harmonic-sum
    estimate where YIN has no stable pitch (:mod:`synthmatch.audio.pitch`).

Note length
    The release point, from the RMS envelope in dB (23 ms frames, 5.8 ms hop) and its future
    maximum: the steepest part of the largest fall, walked back to where the fall starts, or an
    earlier clear step down from a steady level (:mod:`synthmatch.audio.envelope`). A sound that
    decays with no sustained part has the time to fade 40 dB below its peak instead; one that
    never falls is held to the end.

Velocity
    Always :data:`DEFAULT_VELOCITY`: neither the level nor the timbre of a sound says how hard its
    key was played, for the presets a match renders (see :func:`velocity_from_peak_db`).

Several notes at once
    :func:`simultaneous_notes` splits the strong lines of the clip's average spectrum into
    independent harmonic series; :func:`polyphony_warning` words the result for the loader's
    warnings (a chord is matched as one sound from one key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.fft
from scipy.ndimage import median_filter
from scipy.signal.windows import blackmanharris

from synthmatch.audio.envelope import ONSET_DB, envelope_db, release_time
from synthmatch.audio.pitch import (
    AGREE_CENTS,
    AGREE_HARMONIC_SCORE,
    FMAX_HZ,
    FMIN_HZ,
    HARMONIC_FALLBACK_SCORE,
    HARMONIC_OVERRIDE_MARGIN,
    INHARMONIC_MAX_LINES,
    INHARMONIC_MIN_LINES,
    INHARMONIC_ON_GRID,
    PARTIAL_ALONE,
    PARTIAL_GRID_CENTS,
    PARTIAL_NEAR_CENTS,
    PARTIAL_RANGE_DB,
    PITCH_SR,
    PITCHED_CONFIDENCE,
    SUB_OCTAVE_RANGE_DB,
    VOICED_APERIODICITY,
    WEAK_APERIODICITY,
    WEAK_FRAMES,
    PitchMethod,
    PitchTrack,
    estimate_pitch,
    hz_to_midi,
    midi_to_hz,
    to_pitch_rate,
    yin_track,
)
from synthmatch.dsp import amp_to_db, db_to_amp, db_to_power, frame_signal, power_to_db, remove_dc
from synthmatch.errors import AudioError, EmptyAudioError, SilentAudioError

__all__ = [
    "AGREE_CENTS",
    "AGREE_HARMONIC_SCORE",
    "ANALYSIS_REVISION",
    "DEFAULT_VELOCITY",
    "FMAX_HZ",
    "FMIN_HZ",
    "HARMONIC_FALLBACK_SCORE",
    "HARMONIC_OVERRIDE_MARGIN",
    "INHARMONIC_MAX_LINES",
    "INHARMONIC_MIN_LINES",
    "INHARMONIC_ON_GRID",
    "PARTIAL_ALONE",
    "PARTIAL_GRID_CENTS",
    "PARTIAL_NEAR_CENTS",
    "PARTIAL_RANGE_DB",
    "PITCHED_CONFIDENCE",
    "SUB_OCTAVE_RANGE_DB",
    "VOICED_APERIODICITY",
    "WEAK_APERIODICITY",
    "WEAK_FRAMES",
    "NoteAnalysis",
    "PitchTrack",
    "analyze",
    "hz_to_midi",
    "midi_to_hz",
    "pitch_track",
    "polyphony_warning",
    "simultaneous_notes",
    "velocity_from_peak_db",
]

#: Revision of the analysis's behaviour, the cache key of the benchmark's logged attempts: bump it
#: with any change that moves results (CHANGELOG.md lists the revisions).
ANALYSIS_REVISION = 9

#: The velocity every analysis reports (the benchmark's probe velocity; see :func:`velocity_from_peak_db`).
DEFAULT_VELOCITY = 100 / 127


@dataclass(frozen=True)
class NoteAnalysis:
    """What :func:`analyze` measured on a one-shot.

    Attributes
    ----------
    f0_hz : float | None
        Fundamental frequency in Hz, or None when the sound is not pitched.
    midi_note : int | None
        Nearest MIDI note to ``f0_hz`` (A4 = 69 = 440 Hz), or None when not pitched.
    cents : float
        Deviation of ``f0_hz`` from ``midi_note`` in cents, in [-50, 50] (0.0 when not pitched).
    pitched : bool
        True when a stable pitch was found (False for noise, most drums, very inharmonic sounds,
        and clips shorter than 80 ms).
    pitch_confidence : float
        Fraction (0..1) of the analysed frames that are voiced and agree with the pitch within
        100 cents (octave jumps of single frames count as agreeing).
    pitch_method : {"yin", "harmonic", "agreement", "partial", "none"}
        ``"yin"`` when the frame-wise YIN track is stable; ``"harmonic"`` when it is not but the
        average spectrum is clearly harmonic (the harmonic-sum fallback), or when the harmonic sum
        clearly prefers another f0 than YIN's; ``"agreement"`` when neither is sure but YIN's
        weakly periodic frames and the harmonic sum agree (:data:`WEAK_APERIODICITY`);
        ``"partial"`` when YIN is stable but the spectrum is inharmonic, or dominated by two
        partials a fifth apart, and the note is its lowest strong partial
        (:mod:`synthmatch.audio.pitch`); ``"none"`` when unpitched.
    onset_s : float
        Time of the note's start in seconds: first sample within 50 dB of the peak.
    note_length_s : float
        Estimated time in seconds from the onset to the release of the key (see the module
        docstring). For a sound that decays with no sustained part: time from the onset until it is
        40 dB below its peak. For a note still held at the end of the clip: the rest of the clip.
    note_length_method : {"release", "fade", "held"}
        Which of the three cases above produced ``note_length_s``.
    release_s : float
        The same release point, in seconds from the start of the clip: ``onset_s +
        note_length_s``. It is the ``note_seconds`` of a probe that reproduces the clip, since a
        render starts at the key-down (a delay stage or a slow attack from silence comes before
        the onset, but after the key-down); :func:`synthmatch.audio.io.load_audio` trims leading
        silence to 5 ms, so on loaded files the two differ by little.
    duration_s : float
        Length of the signal in seconds.
    peak_db : float
        Sample peak in dBFS.
    loudness_db : float
        RMS level in dBFS over the frames within 20 dB of the loudest frame (the audible body of the
        note, independent of how much silence surrounds it).
    velocity : float
        MIDI velocity in (0, 1]: :data:`DEFAULT_VELOCITY`, whatever the sound (the module docstring).
    """

    f0_hz: float | None
    midi_note: int | None
    cents: float
    pitched: bool
    pitch_confidence: float
    pitch_method: PitchMethod
    onset_s: float
    note_length_s: float
    note_length_method: Literal["release", "fade", "held"]
    release_s: float
    duration_s: float
    peak_db: float
    loudness_db: float
    velocity: float


def velocity_from_peak_db(peak_db: float) -> float:
    """The velocity a sample peak level suggests when the level is calibrated, in (0, 1].

    A peak from -20 dBFS up maps to :data:`DEFAULT_VELOCITY` (Vital renders at velocity 100/127
    peak between about -20 and -1 dBFS depending on the preset: median -10 dBFS on 211 presets);
    quieter peaks map with the usual MIDI square law (amplitude ∝ velocity², so -6 dB ≈ 0.71 ×
    velocity): ``velocity = 100/127 · 10**((peak_db + 20) / 40)``, clipped to [1/127, 1].

    :func:`analyze` does not use it (``bench analysis`` reports it as the ``level`` estimate):
    a Vital preset's level does not follow velocity unless the preset routes velocity somewhere,
    and most do not. ``velocity_track`` is 0 in 208 of the 211 hand-made presets of the shared
    train split and in every preset the sampler draws; 34 of the 211 route velocity, mostly to a
    macro or an oscillator level; renders of sampled presets without such a route are identical
    bit for bit at velocity 0.5 and 1. On the 189 items of ``id-rand-dev1`` the peak's rank
    correlation with the true velocity is 0.07 and this reading's mean error is 22.3 MIDI steps,
    against 17.2 for the constant; the spectral centroid's (-0.2) is chance, as large on the 154
    items where velocity changes nothing. The General MIDI soundfont of ``ood-real`` scales a
    note's amplitude by velocity² and leaves its spectrum as it is, so on its dev split this
    reading's error is 16.6 steps against 18.6 (correlation 0.56): its level is calibrated, a
    user's (often normalised) file is not. The match's headline distance is gain-invariant, so a
    target's level needs no velocity to be matched.
    """
    if not np.isfinite(peak_db) or peak_db >= -20.0:
        return DEFAULT_VELOCITY
    return float(np.clip(DEFAULT_VELOCITY * 10.0 ** ((peak_db + 20.0) / 40.0), 1 / 127, 1.0))


def analyze(samples: np.ndarray, sample_rate: int) -> NoteAnalysis:
    """Measure pitch, onset, note length and loudness of a one-note sound.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
        Mono signal, full scale 1.0 (e.g. :attr:`LoadedAudio.samples`).
    sample_rate : int
        Sample rate in Hz (any; pitch is analysed at 22050 Hz).

    Returns
    -------
    NoteAnalysis

    Raises
    ------
    EmptyAudioError
        ``samples`` is empty.
    SilentAudioError
        ``samples`` is all zeros (peak below -120 dBFS).
    AudioError
        ``samples`` is not 1-D or holds NaN/inf.
    """
    x = _check_signal(samples, sample_rate)
    sr = int(sample_rate)
    duration = len(x) / sr
    peak = float(np.max(np.abs(x)))
    peak_db = float(amp_to_db(peak))

    onset_idx = int(np.argmax(np.abs(x) >= peak * db_to_amp(-ONSET_DB)))
    onset_s = onset_idx / sr

    # The envelope and the pitch are read without DC: it is inaudible, and an offset that lasts
    # only while the note sounds (an asymmetric waveform), or one that subtracting a clip's mean
    # added to the silence around the note, would read as a level that never decays.
    x = remove_dc(x, sr)
    if np.max(np.abs(x)) < 1e-6:
        raise SilentAudioError(
            "the signal is a constant offset (DC) with no sound in it, so there is no note to analyse. "
            "Hint: check the recording chain; the input may be disconnected."
        )
    env_db, env_dt = envelope_db(x, sr)
    body = env_db >= env_db.max() - 20.0
    loudness_db = float(amp_to_db(np.sqrt(np.mean(db_to_power(env_db[body])))))

    release_s, method = release_time(env_db, env_dt, duration=duration)
    release_s = float(np.clip(release_s, onset_s, duration))
    note_length = max(release_s - onset_s, 0.0)

    # Pitch over the sustained part: after the attack transient, before the release.
    start = onset_s + min(0.03, 0.1 * note_length)
    stop = release_s if method == "release" else duration
    f0, confidence, pitch_method = estimate_pitch(x, sr, start_s=start, stop_s=stop)
    pitched = f0 is not None
    midi_note: int | None = None
    cents = 0.0
    if f0 is not None:
        m = hz_to_midi(f0)
        midi_note = round(m)
        cents = 100.0 * (m - midi_note)

    return NoteAnalysis(
        f0_hz=f0,
        midi_note=midi_note,
        cents=float(cents),
        pitched=bool(pitched),
        pitch_confidence=float(confidence),
        pitch_method=pitch_method,
        onset_s=float(onset_s),
        note_length_s=float(note_length),
        note_length_method=method,
        release_s=float(onset_s + note_length),
        duration_s=float(duration),
        peak_db=peak_db,
        loudness_db=loudness_db,
        velocity=DEFAULT_VELOCITY,
    )


def pitch_track(samples: np.ndarray, sample_rate: int) -> PitchTrack:
    """Frame-wise YIN pitch between :data:`FMIN_HZ` and :data:`FMAX_HZ`.

    The signal is resampled to 22050 Hz; frames are 1907 samples (86 ms: a 46 ms integration
    window plus the longest lag, 40 ms) with a 256-sample hop (11.6 ms). Silent input is accepted: every
    frame is then unvoiced.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
        Mono signal.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    PitchTrack
    """
    x = to_pitch_rate(_check_signal(samples, sample_rate, allow_silent=True), int(sample_rate))
    return yin_track(x, PITCH_SR)


# --- several notes at once ----------------------------------------------------------------------------------

#: :func:`simultaneous_notes`: lines are the peaks of the clip's mean power spectrum (Blackman-Harris
#: frames of about 0.37 s, whose side lobes sit 92 dB down and never read as lines) between
#: :data:`FMIN_HZ` and 5 kHz, within 30 dB of the strongest and 15 dB above the median level over
#: 120 Hz around them (a vibrato's or a noise's broad humps are not lines).
_POLY_FRAME_S = 0.37
_POLY_MAX_FRAMES = 48
_POLY_MIN_S = 0.1  # a shorter clip's lines are too broad (the window's main lobe) to tell notes apart
_POLY_MAX_HZ = 5000.0
_POLY_RANGE_DB = 30.0
_POLY_PROMINENCE_DB = 15.0
_POLY_FLOOR_HZ = 120.0
#: A line is harmonic h of a note within this many cents of h·f0 (or half the frame's resolution).
_POLY_TOLERANCE_CENTS = 20.0
#: A note is a harmonic series: its fundamental within 20 dB of the strongest line; at least 2
#: lines no earlier note holds, with 5% of the lines' power; and 75% of its harmonics 1-8 (those
#: under the highest line), or all its odd ones (a square wave), present. A fundamental missing
#: from the lines (a high-passed bass) is read from harmonics 2 or 3 up to 8 when all of them are.
_POLY_NOTE_RANGE_DB = 20.0
_POLY_MIN_OWN = 2
_POLY_MIN_SHARE = 0.05
_POLY_SERIES = 0.75
_POLY_TOP_HARMONIC = 8
#: Two notes are one when their pitch classes are closer than this (an octave doubling, a detuned
#: unison: Vital's default detune puts two voices 76 cents apart), or when one is within it of a
#: harmonic of a series heard before it (a unison voice's upper partials, a piano's stretched
#: ones). Notes a semitone apart stay two.
_POLY_SAME_CENTS = 95.0
#: Several notes are reported only when together they hold this share of the lines' power: a
#: spectrum mostly off any harmonic series (a bell, a timpani, a stretched or FM-bent wave) holds
#: series by chance in its weaker lines.
_POLY_EXPLAINED = 0.5

_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def simultaneous_notes(samples: np.ndarray, sample_rate: int) -> tuple[float, ...]:
    """Fundamentals (Hz, ascending) of the notes that sound at once in a clip, when there are several.

    The strong lines of the clip's mean power spectrum are explained greedily: each round takes
    the series (a line as its fundamental, or a fundamental missing under lines 2 or 3 of it)
    whose harmonics hold the most power among the lines still unexplained, and removes them.
    A series counts as a note when it is a clear harmonic series of its own, at a pitch class no
    louder series before it holds (the constants above). A single harmonic note (with octave
    doublings, a sub-octave, detuned unison voices), an inharmonic bell or bar, a timpani and
    noise give none or one; a chord of harmonic tones gives one per note. Notes an octave, a
    twelfth or two octaves apart read as one note, being in each other's series, and so do notes
    whose interval is within 95 cents of such a harmonic (a major third two octaves up, the 5th
    harmonic). None of the 65 single notes of the ood-real dev split reads as several, nor any of
    the 211 hand-made presets of the train split rendered at C2, C4 and G5 but one whose three
    oscillators are tuned a minor third and a minor sixth apart.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
        Mono signal, full scale 1.0.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    tuple[float, ...]
        Two or more fundamentals in Hz, or ``()`` when the clip reads as one note, as none, or
        is shorter than 0.1 s.
    """
    x = _check_signal(samples, sample_rate, allow_silent=True)
    sr = int(sample_rate)
    if len(x) < _POLY_MIN_S * sr or not np.any(x):
        return ()
    freqs, power, resolution = _spectral_peaks(x, sr)
    if len(freqs) < 2 * _POLY_MIN_OWN:
        return ()
    level = power_to_db(power, eps=1e-30)
    total = float(power.sum())
    ratio = 2.0 ** (_POLY_TOLERANCE_CENTS / 1200.0) - 1.0

    # candidates: every line as a fundamental, and at a half and a third of its frequency
    divisor = np.repeat([[1, 2, 3]], len(freqs), axis=0).ravel()
    base = np.repeat(np.arange(len(freqs)), 3)
    f0 = freqs[base] / divisor
    harmonic = np.round(freqs[None, :] / f0[:, None])
    member = (harmonic >= 1) & (
        np.abs(freqs[None, :] - harmonic * f0[:, None])
        <= np.maximum(ratio * harmonic * f0[:, None], 0.5 * resolution)
    )
    top = np.minimum(_POLY_TOP_HARMONIC, np.floor(freqs.max() * (1.0 + ratio) / f0)).astype(int)
    present = np.stack(
        [np.any(member & (harmonic == h), axis=1) for h in range(1, _POLY_TOP_HARMONIC + 1)], 1
    )
    upto = np.arange(1, _POLY_TOP_HARMONIC + 1)[None, :] <= top[:, None]
    # a missing fundamental: every harmonic from the line's number to the 8th (at least 4 of them)
    virtual_ok = np.all(
        present | ~upto | (np.arange(1, _POLY_TOP_HARMONIC + 1)[None, :] < divisor[:, None]), 1
    )
    usable = (f0 >= FMIN_HZ) & ((divisor == 1) | (virtual_ok & (top - divisor + 1 >= 4)))
    odd = np.arange(1, _POLY_TOP_HARMONIC + 1)[None, :] % 2 == 1
    series = (divisor > 1) | (
        (top >= 3)
        & (
            ((present & upto).sum(axis=1) >= _POLY_SERIES * top)
            | ((top >= 5) & np.all(present | ~(upto & odd), axis=1))
        )
    )

    unexplained = np.ones(len(freqs), dtype=bool)
    notes: list[float] = []
    heard: list[float] = []  # every series with a share of the power, note or not
    explained = 0.0
    while unexplained.any():
        own = member & unexplained[None, :]
        score = np.where(usable & unexplained[base], own.astype(float) @ power, -1.0)
        best = int(np.argmax(score))
        if score[best] < 0:
            break
        mine = own[best]
        unexplained &= ~mine
        unexplained[base[best]] = False
        # the f0 that fits its lines best (power-weighted): its upper harmonics, far apart, place two
        # voices a few Hz apart right where the peaks of their fundamentals overlap and push apart
        h = np.round(freqs[mine] / f0[best])
        c = float((power[mine] * h * freqs[mine]).sum() / (power[mine] * h * h).sum())
        share = float(power[mine].sum())
        fundamental = int(np.flatnonzero(mine)[0])
        if (
            series[best]
            and np.count_nonzero(mine) >= _POLY_MIN_OWN
            and share >= _POLY_MIN_SHARE * total
            and level[fundamental] >= level.max() - _POLY_NOTE_RANGE_DB
            and not any(_same_note(c, g) for g in heard)
        ):
            notes.append(c)
            explained += share
        if share >= _POLY_MIN_SHARE * total:
            heard.append(c)
    if len(notes) < 2 or explained < _POLY_EXPLAINED * total:
        return ()
    return tuple(sorted(notes))


def polyphony_warning(samples: np.ndarray, sample_rate: int) -> str | None:
    """The loader's warning for a clip with several notes at once (:func:`simultaneous_notes`), or None."""
    notes = simultaneous_notes(samples, sample_rate)
    if not notes:
        return None
    names = ", ".join(_note_label(f) for f in notes)
    return (
        f"polyphony: this sounds like several notes at once (about {len(notes)}: {names}); only one note "
        "is matched: the preset found plays the whole sound from one key. "
        "Hint: record or export one note on its own and match that."
    )


def _same_note(f: float, g: float) -> bool:
    """Whether a series at ``f`` belongs to one heard before at ``g``: the same pitch class, or
    close to one of its harmonics (within :data:`_POLY_SAME_CENTS`)."""
    pitch_class = (1200.0 * np.log2(f / g)) % 1200.0
    if min(pitch_class, 1200.0 - pitch_class) < _POLY_SAME_CENTS:
        return True
    h = max(1.0, round(f / g))
    return abs(1200.0 * np.log2(f / (h * g))) < _POLY_SAME_CENTS


def _spectral_peaks(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Lines of the mean power spectrum of ``x``: frequencies (Hz, parabolic vertex in dB), powers,
    and the frequency resolution (Hz) of the frames (a clip shorter than one frame is one frame)."""
    n_fft = 1 << round(np.log2(_POLY_FRAME_S * sr))
    if len(x) >= n_fft:
        frames = frame_signal(x, frame_length=n_fft, hop_length=n_fft // 2, center=False)
        frames = frames[:: max(1, len(frames) // _POLY_MAX_FRAMES)]
        resolution = sr / n_fft
    else:
        frames, resolution = x[None, :], sr / len(x)
    window = blackmanharris(frames.shape[1])
    spectrum = (np.abs(scipy.fft.rfft(frames * window, n=n_fft, axis=1)) ** 2).mean(axis=0)
    bin_hz = sr / n_fft
    level = power_to_db(spectrum, eps=1e-30)
    floor = median_filter(level, size=round(_POLY_FLOOR_HZ / bin_hz) | 1, mode="nearest")
    stop = min(len(level) - 1, int(_POLY_MAX_HZ / bin_hz))
    i = np.flatnonzero((level[1:stop] > level[: stop - 1]) & (level[1:stop] >= level[2 : stop + 1])) + 1
    i = i[(i * bin_hz >= FMIN_HZ) & (level[i] - floor[i] >= _POLY_PROMINENCE_DB)]
    if len(i) == 0:
        return np.zeros(0), np.zeros(0), resolution
    i = i[level[i] >= level[i].max() - _POLY_RANGE_DB]
    a, b, c = level[i - 1], level[i], level[i + 1]
    curve = a - 2.0 * b + c
    shift = np.where(curve < 0, 0.5 * (a - c) / np.where(curve < 0, curve, -1.0), 0.0)
    return (i + np.clip(shift, -0.5, 0.5)) * bin_hz, spectrum[i], resolution


def _note_label(f_hz: float) -> str:
    """The nearest note's name, e.g. ``"C4"`` for 261.6 Hz (A4 = 440 Hz)."""
    midi = round(hz_to_midi(f_hz))
    return f"{_NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


# --- validation --------------------------------------------------------------------------------------------------


def _check_signal(samples: np.ndarray, sample_rate: int, *, allow_silent: bool = False) -> np.ndarray:
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}.")
    x = np.asarray(samples)
    if x.ndim != 1:
        raise AudioError(
            f"expected a mono signal of shape (n,), got shape {x.shape}. Hint: load it with load_audio() first."
        )
    if x.size == 0:
        raise EmptyAudioError("the signal holds no samples. Hint: check the file or the trimming.")
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        raise AudioError("the signal holds NaN or infinite samples. Hint: load it with load_audio() first.")
    if not allow_silent and np.max(np.abs(x)) < 1e-6:
        raise SilentAudioError(
            "the signal is silent (peak below -120 dBFS), so there is no note to analyse. "
            "Hint: check the input level."
        )
    return x
