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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

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
from synthmatch.dsp import amp_to_db, db_to_amp, db_to_power, remove_dc
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
