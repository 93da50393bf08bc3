"""Note analysis of a one-shot: pitch, onset, note length (release point) and loudness.

Everything here is deterministic, numpy/scipy only, and cheap (a few tens of milliseconds for a
4-second clip at 44.1 kHz on one core), so it can run on every target before a search.

Pitch
    A vectorised YIN (de Cheveigné & Kawahara, 2002) at 22050 Hz over 25 Hz-4200 Hz. YIN's
    cumulative-mean-normalised difference at the chosen lag is the frame's *aperiodicity*
    (0 = perfectly periodic, about 1 = noise); a frame is voiced when it is below
    :data:`VOICED_APERIODICITY`. The note's f0 is the median of the voiced frames of the sustained
    part, followed by a spectral octave check on the average spectrum of those frames: the
    partials at odd multiples of f0/2 and of f0 decide between f0/2, f0 and 2·f0. When the strong
    lines of that spectrum are inharmonic (most of them on neither f0's harmonic grid nor f0/2's: a
    struck bar, a bell, a membrane), YIN's period is a compromise between partials, a semitone or
    two off, and the note is the lowest strong partial instead (:func:`_inharmonic_fundamental`,
    ``pitch_method="partial"``). When YIN has no
    stable pitch (detuned unison stacks, chorus, modulated effects), or when a harmonic sum over
    the average spectrum clearly prefers another f0, that harmonic-sum estimate is used
    (:func:`_harmonic_pitch`, :data:`HARMONIC_FALLBACK_SCORE`, :data:`HARMONIC_OVERRIDE_MARGIN`).
    When neither is sure on its own, the note is still pitched when the median f0 of YIN's weakly
    periodic frames and the harmonic-sum f0 agree within 50 cents (:data:`WEAK_APERIODICITY`).
    The envelope and the pitch are read after a 10 Hz zero-phase DC blocker.

Note length
    The render model is ``render(note, velocity, note_dur, render_dur)``: the key is held for
    ``note_dur`` seconds, then the envelope's release stage starts. The estimator works on the RMS
    envelope in dB (23 ms frames, 5.8 ms hop) and its "future maximum" ``M(t) = max_{s>=t} e(s)``
    (dips that recover later do not count as falls):

    1. the release is the largest fall of ``M`` over 400 ms; its steepest 150 ms is the anchor;
    2. from the steepest point of the (30 ms smoothed) envelope inside the anchor, walk back while
       it falls faster than min(25% of the anchor's slope, 15 dB/s) and at least half as fast as
       over the 50 ms after: the key-up of a note still in its decay is where the fall speeds up,
       so the walk stops there instead of running back up the decay; this is the knee, and the
       release point is half an envelope frame after it (a centred frame falls that early);
    3. an earlier clear step down (4 dB within 100 ms, after 200 ms within 1.5 dB of steady,
       from 200 ms after the loudest frame) at least 100 ms before the knee is taken instead:
       the first thing a key-up changes, where a delay's echoes fall later and often further
       than the dry note.

    A fall that starts at the peak of a fast attack with no sustained part (a pluck, a drum) is a
    natural decay: the note length is then the time to fade 40 dB below the peak. A sound that
    never falls by 3 dB before the end of the clip is held to the end. Measured on synthetic ADSR
    notes (release 50 ms-1.5 s) the error is below 50 ms; on development renders of the
    benchmark's sampler (revision 6), the median error over audible releases is 33-51 ms per seed,
    24-33 ms without a delay: delay echoes, gated or arpeggiated sounds and releases that start flat
    make the rest harder (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.fft
from scipy.ndimage import median_filter, uniform_filter1d

from synthmatch.audio._dsp import amp_to_db, frame_rms, frame_signal, remove_dc, resample
from synthmatch.errors import AudioError, EmptyAudioError, SilentAudioError

__all__ = [
    "ANALYSIS_REVISION",
    "DEFAULT_VELOCITY",
    "FMAX_HZ",
    "FMIN_HZ",
    "NoteAnalysis",
    "PitchTrack",
    "analyze",
    "hz_to_midi",
    "midi_to_hz",
    "pitch_track",
    "velocity_from_peak_db",
]

#: Revision of the analysis's behaviour: the benchmark reuses logged attempts only when it is
#: unchanged, since the detected note and note length decide how every method's preset is rendered
#: (bump it with any change that moves results). 2: the earlier-step rule of the release detector;
#: 3: the octave check's line grid (and the earlier-step rule's end guard); 4: a grid k octaves
#: down needs k lines between f0's harmonics; 5: the envelope and the pitch are read after a DC
#: blocker, and weak YIN and harmonic-sum estimates that agree make a note pitched; 6: the release
#: walk starts at the anchor's steepest point and stops where the fall speeds up (no curve fit);
#: 7: YIN skips the FFTs of frames too quiet to be voiced (the same voicing and f0 on 775
#: development renders, but an FFT row can round differently in the last bit with its batch);
#: 8: an inharmonic spectrum's note is its lowest strong partial (:func:`_inharmonic_fundamental`).
ANALYSIS_REVISION = 8

#: Velocity reported when the level says nothing reliable about it (the benchmark's probe velocity).
DEFAULT_VELOCITY = 100 / 127
#: Pitch search range in Hz.
FMIN_HZ = 25.0
FMAX_HZ = 4200.0
#: A YIN frame is voiced when its aperiodicity (CMNDF at the chosen lag) is below this.
VOICED_APERIODICITY = 0.25
#: The note counts as pitched when at least this fraction of the analysed frames agree on the pitch.
PITCHED_CONFIDENCE = 0.5
#: When YIN finds no stable pitch (unison chorus, heavy effects), the harmonic-sum estimate on the
#: average spectrum is used if its harmonicity score (see :func:`_harmonic_pitch`) reaches this.
HARMONIC_FALLBACK_SCORE = 0.2
#: When YIN is stable but the harmonic-sum estimate scores this much higher than YIN's f0 (an
#: octave or a fifth off, typically), the harmonic-sum estimate is taken.
HARMONIC_OVERRIDE_MARGIN = 0.2
#: Weak evidence that agrees: when neither YIN nor the harmonic sum is sure on its own (a detuned
#: unison pair at a low note, heavy drive), the note is still pitched when the frames YIN finds
#: at least weakly periodic (aperiodicity below :data:`WEAK_APERIODICITY`, at least
#: :data:`WEAK_FRAMES` of the note, half of them within 100 cents of it or of its octaves) have a
#: median f0 within :data:`AGREE_CENTS` of the harmonic-sum f0, and the harmonic sum scores at
#: least :data:`AGREE_HARMONIC_SCORE`. None of 240 synthetic noise bursts (white, pink, band-,
#: low- and high-passed) passes; without the half-within-100-cents condition, a sine 3 dB under
#: white noise did (at a wrong, low note), since both estimates of a noise lean low.
WEAK_APERIODICITY = 0.4
#: A sparse spectrum (from :data:`INHARMONIC_MIN_LINES` to :data:`INHARMONIC_MAX_LINES` strong
#: lines) is inharmonic when its lowest strong line stands alone (no other line within a ratio of
#: :data:`PARTIAL_ALONE`) and less than :data:`INHARMONIC_ON_GRID` of the other lines' power lies
#: within :data:`PARTIAL_GRID_CENTS` (or half an FFT bin) of a multiple of half its frequency.
INHARMONIC_MIN_LINES = 2
INHARMONIC_MAX_LINES = 10
INHARMONIC_ON_GRID = 0.5
PARTIAL_GRID_CENTS = 15.0
PARTIAL_ALONE = 1.1
#: ... and the note is that line only when it is within this many cents of YIN's f0: the point is
#: YIN's compromise between partials, not another octave (the octave check decides that).
PARTIAL_NEAR_CENTS = 250.0
#: The note of an inharmonic spectrum is its lowest line within this many dB of the strongest.
PARTIAL_RANGE_DB = 12.0
WEAK_FRAMES = 0.2
AGREE_CENTS = 50.0
AGREE_HARMONIC_SCORE = 0.05

_PITCH_SR = 22050
_YIN_WINDOW = 1024  # integration window at 22050 Hz (46 ms), longer than the 25 Hz period (40 ms)
_YIN_HOP = 256
_YIN_THRESHOLD = 0.15
_LINE_RANGE_DB = 25.0  # octave check, line grid: lines within this many dB of the strongest count
_LINE_PROMINENCE_DB = 10.0  # ... when this far above the median level around them
_GRID_DIVISORS = (1, 2, 4, 8)  # grids tried, highest first: f0, f0/2, f0/4, f0/8
_GRID_TOLERANCE = 0.05  # a line is on a grid g within 0.05·g plus 1 FFT bin of a multiple of g
_GRID_TOLERANCE_BINS = 1.0
_HS_NFFT = 16384  # harmonic sum: 0.74 s windows at 22050 Hz (1.35 Hz bins)
_HS_HARMONICS = 12
_HS_GRID = 2.0 ** (np.arange(np.ceil(np.log2(FMIN_HZ) * 48), np.log2(FMAX_HZ) * 48) / 48)  # 1/4 semitone
_SILENT_FRAME_DB = -120.0  # frames quieter than this (dBFS) are never voiced
_ENV_FRAME_S = 1024 / 44100
_ENV_HOP_S = 256 / 44100
_ONSET_DB = 50.0  # onset = first sample within this many dB of the peak
_FADE_DB = 40.0  # fade length of a decaying sound: time to fall this far below the peak
_FLOOR_DB = 45.0  # levels further below the peak are ignored by the release detector
# Release detector (see the module docstring, steps 1-3).
_FALL_WINDOW_S = 0.4  # step 1: horizon of the release's total fall
_DROP_WINDOW_S = 0.15  # step 1: window of the steepest fall (the anchor)
_MIN_DROP_DB = 3.0  # a fall smaller than this means the note is held to the end
_SMOOTH_S = 0.03  # step 2: smoothing of the envelope used by the walk
_SLOPE_S = 0.05  # step 2: slopes are falls over this long
_WALK_MAX_SLOPE = 15.0  # step 2: dB/s
_WALK_SPEED_UP = 0.5  # step 2: the walk stops where the fall is less than this share of the next 50 ms
# Step 3: a step is a fall of _STEP_DB within _STEP_WINDOW_S, after _STEP_FLAT_S within
# _STEP_FLAT_DB of steady, starting at least _STEP_MARGIN_S before step 2's knee; it starts
# where the level is _STEP_START_DB below the steady level.
_STEP_DB = 4.0
_STEP_WINDOW_S = 0.1
_STEP_FLAT_S = 0.2
_STEP_FLAT_DB = 1.5
_STEP_MARGIN_S = 0.1
_STEP_START_DB = 0.5


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
        ``"partial"`` when YIN is stable but the spectrum is inharmonic, and the note is its
        lowest strong partial (:func:`_inharmonic_fundamental`); ``"none"`` when unpitched.
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
        MIDI velocity in (0, 1] from :func:`velocity_from_peak_db`.
    """

    f0_hz: float | None
    midi_note: int | None
    cents: float
    pitched: bool
    pitch_confidence: float
    pitch_method: Literal["yin", "harmonic", "agreement", "partial", "none"]
    onset_s: float
    note_length_s: float
    note_length_method: Literal["release", "fade", "held"]
    release_s: float
    duration_s: float
    peak_db: float
    loudness_db: float
    velocity: float


@dataclass(frozen=True)
class PitchTrack:
    """Frame-wise YIN pitch.

    Attributes
    ----------
    times_s : np.ndarray [shape=(frames,)]
        Centre of each analysis window in seconds.
    f0_hz : np.ndarray [shape=(frames,)]
        YIN estimate in Hz (meaningful where ``voiced``); 0.0 for frames more than 40 dB below the
        loudest or below the silence floor, which are not searched.
    aperiodicity : np.ndarray [shape=(frames,)]
        CMNDF value at the chosen lag, 0 (periodic) .. about 1 (noise); 1.0 for those quiet frames.
    voiced : np.ndarray [shape=(frames,), dtype=bool]
        Frames loud enough (within 40 dB of the loudest frame) and periodic enough.
    level_db : np.ndarray [shape=(frames,)]
        RMS level of each frame's integration window in dBFS.
    """

    times_s: np.ndarray
    f0_hz: np.ndarray
    aperiodicity: np.ndarray
    voiced: np.ndarray
    level_db: np.ndarray


def hz_to_midi(f_hz: float) -> float:
    """Fractional MIDI note number of a frequency in Hz (A4 = 69 = 440 Hz)."""
    return 69.0 + 12.0 * float(np.log2(f_hz / 440.0))


def midi_to_hz(note: float) -> float:
    """Frequency in Hz of a (fractional) MIDI note number."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def velocity_from_peak_db(peak_db: float) -> float:
    """Map a sample peak level to a MIDI velocity in (0, 1].

    Vital renders at velocity 100/127 peak between about -20 and -1 dBFS depending on the preset
    (measured on 211 presets: median -10 dBFS), and user files are often normalised, so a peak in
    that range says nothing about velocity: it maps to :data:`DEFAULT_VELOCITY`. Quieter peaks map
    with the usual MIDI square law (amplitude ∝ velocity², so -6 dB ≈ 0.71 × velocity):
    ``velocity = 100/127 · 10**((peak_db + 20) / 40)``, clipped to [1/127, 1].
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

    onset_idx = int(np.argmax(np.abs(x) >= peak * 10.0 ** (-_ONSET_DB / 20.0)))
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
    env_db, env_dt = _envelope_db(x, sr)
    body = env_db >= env_db.max() - 20.0
    loudness_db = float(amp_to_db(np.sqrt(np.mean(10.0 ** (env_db[body] / 10.0)))))

    release_s, method = _release_time(env_db, env_dt, duration=duration)
    release_s = float(np.clip(release_s, onset_s, duration))
    note_length = max(release_s - onset_s, 0.0)

    # Pitch over the sustained part: after the attack transient, before the release.
    x_pitch = _to_pitch_rate(x, sr)
    track = _yin(x_pitch, _PITCH_SR)
    start = onset_s + min(0.03, 0.1 * note_length)
    stop = release_s if method == "release" else duration
    region = (track.times_s >= start) & (track.times_s <= max(stop, start + 0.05))
    region &= track.level_db >= track.level_db.max() - 25.0
    if np.count_nonzero(region) < 3:
        region = track.level_db >= track.level_db.max() - 30.0
    f0, confidence, inharmonic = _note_pitch(track, region, x_pitch=x_pitch)

    # A clip shorter than one YIN window (93 ms) has no complete frame to judge periodicity on.
    long_enough = len(x_pitch) >= _YIN_WINDOW + int(np.ceil(_PITCH_SR / FMIN_HZ)) + 1
    pitched = long_enough and f0 is not None and confidence >= PITCHED_CONFIDENCE
    pitch_method: Literal["yin", "harmonic", "agreement", "partial", "none"] = "yin" if pitched else "none"
    if pitched and inharmonic:
        pitch_method = "partial"  # the harmonic sum looks for a harmonic series: none here
    elif long_enough:
        f0_h, harmonicity, yin_score = _harmonic_pitch(
            x_pitch, _PITCH_SR, start, max(stop, start + 0.3), reference=f0 if pitched else None
        )
        if not pitched and harmonicity >= HARMONIC_FALLBACK_SCORE:
            f0, pitched, pitch_method = f0_h, True, "harmonic"
        elif not pitched and harmonicity >= AGREE_HARMONIC_SCORE:
            f0_weak = _weakly_periodic_f0(track, region)
            if f0_weak is not None and abs(1200.0 * np.log2(f0_weak / f0_h)) <= AGREE_CENTS:
                f0, pitched, pitch_method = f0_weak, True, "agreement"
        elif pitched and yin_score is not None and harmonicity - yin_score > HARMONIC_OVERRIDE_MARGIN:
            f0, pitch_method = f0_h, "harmonic"
    midi_note: int | None = None
    cents = 0.0
    if pitched and f0 is not None:
        m = hz_to_midi(f0)
        midi_note = round(m)
        cents = 100.0 * (m - midi_note)
    else:
        f0 = None

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
        velocity=velocity_from_peak_db(peak_db),
    )


def pitch_track(samples: np.ndarray, sample_rate: int) -> PitchTrack:
    """Frame-wise YIN pitch between :data:`FMIN_HZ` and :data:`FMAX_HZ`.

    The signal is resampled to 22050 Hz; windows are 2048 samples (93 ms: a 46 ms integration
    window plus the longest lag) with a 256-sample hop (11.6 ms). Silent input is accepted: every
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
    x = _to_pitch_rate(_check_signal(samples, sample_rate, allow_silent=True), int(sample_rate))
    return _yin(x, _PITCH_SR)


# --- pitch -----------------------------------------------------------------------------------------------------


def _to_pitch_rate(x: np.ndarray, sr: int) -> np.ndarray:
    return resample(x.astype(np.float64, copy=False), orig_sr=sr, target_sr=_PITCH_SR)


def _yin(x: np.ndarray, sr: int) -> PitchTrack:
    """Vectorised YIN over all frames; see :func:`pitch_track`."""
    w = _YIN_WINDOW
    tau_max = min(int(np.ceil(sr / FMIN_HZ)), w)
    tau_min = max(2, int(np.floor(sr / FMAX_HZ)))
    length = w + tau_max + 1
    if len(x) < length:
        x = np.pad(x, (0, length - len(x)))
    all_frames = frame_signal(x, frame_length=length, hop_length=_YIN_HOP, center=False)
    # r[t] for t <= tau_max reads frame samples j + t <= w - 1 + tau_max < length only, so a
    # circular correlation of ``length`` or more points never wraps into it.
    n_fft = 1 << int(np.ceil(np.log2(length)))
    all_csum = np.concatenate(
        [np.zeros((len(all_frames), 1)), np.cumsum(all_frames * all_frames, axis=1)], axis=1
    )
    all_energy0 = all_csum[:, w]
    level_db = 10.0 * np.log10(np.maximum(all_energy0 / w, 1e-24))
    loud = (level_db >= level_db.max() - 40.0) & (level_db > _SILENT_FRAME_DB)
    times = (np.arange(len(all_frames)) * _YIN_HOP + w / 2.0) / sr
    # Frames too quiet to be voiced are not searched (the FFTs are most of a track's cost, and a
    # short note in a long render is mostly tail); every frame's result depends on its own row only.
    f0_hz = np.zeros(len(all_frames))
    aperiodicity = np.ones(len(all_frames))
    if not loud.any():
        return PitchTrack(times, f0_hz, aperiodicity, np.zeros(len(all_frames), bool), level_db)
    frames, csum, energy0 = all_frames[loud], all_csum[loud], all_energy0[loud]

    # r[t] = sum_{j<W} x[j] x[j+t], by one FFT product per frame.
    spec_full = scipy.fft.rfft(frames, n_fft, axis=1)
    spec_head = scipy.fft.rfft(frames[:, :w], n_fft, axis=1)
    r = scipy.fft.irfft(spec_full * np.conj(spec_head), n_fft, axis=1)[:, : tau_max + 1]
    lags = np.arange(tau_max + 1)
    energy_tau = csum[:, w : w + tau_max + 1] - csum[:, : tau_max + 1]
    diff = np.maximum(energy0[:, None] + energy_tau - 2.0 * r, 0.0)

    cum = np.cumsum(diff[:, 1:], axis=1)
    cmndf = np.ones_like(diff)
    cmndf[:, 1:] = diff[:, 1:] * lags[1:] / np.maximum(cum, 1e-20)

    search = cmndf[:, tau_min : tau_max + 1]
    interior = np.zeros_like(search, dtype=bool)
    interior[:, 1:-1] = (search[:, 1:-1] <= search[:, :-2]) & (search[:, 1:-1] <= search[:, 2:])
    candidates = interior & (search < _YIN_THRESHOLD)
    has = candidates.any(axis=1)
    idx = np.where(has, np.argmax(candidates, axis=1), np.argmin(search, axis=1))
    idx = np.clip(idx, 1, search.shape[1] - 2)

    rows = np.arange(len(search))
    a, b, c = search[rows, idx - 1], search[rows, idx], search[rows, idx + 1]
    denom = a - 2.0 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1.0, denom), 0.0)
    shift = np.clip(shift, -1.0, 1.0)
    tau = tau_min + idx + shift
    f0_hz[loud] = sr / tau
    aperiodicity[loud] = np.clip(b - 0.25 * (a - c) * shift, 0.0, 1.0)
    voiced = loud & (aperiodicity < VOICED_APERIODICITY)
    return PitchTrack(
        times_s=times,
        f0_hz=f0_hz,
        aperiodicity=aperiodicity,
        voiced=voiced,
        level_db=level_db,
    )


def _note_pitch(
    track: PitchTrack, region: np.ndarray, *, x_pitch: np.ndarray
) -> tuple[float | None, float, bool]:
    """Median f0 of the voiced frames in ``region``, octave-checked, or the lowest strong partial
    of an inharmonic spectrum; the confidence (0..1); and whether the spectrum was inharmonic."""
    n_region = int(np.count_nonzero(region))
    voiced = region & track.voiced
    if n_region == 0 or not voiced.any():
        return None, 0.0, False
    log_f = np.log2(track.f0_hz[voiced])
    f0 = float(2.0 ** np.median(log_f))
    # Agreement within 100 cents, allowing single-frame octave jumps (YIN's typical error).
    confidence = float(np.count_nonzero(_cents_from(log_f, f0) <= 100.0)) / n_region
    spectrum = _average_spectrum(x_pitch, _PITCH_SR, track.times_s[voiced])
    partial = _inharmonic_fundamental(*spectrum, f0)
    if partial is not None:
        return partial, confidence, True
    f0 = _octave_check(x_pitch, _PITCH_SR, f0, frame_times=track.times_s[voiced], spectrum=spectrum)
    return f0, confidence, False


def _cents_from(log_f: np.ndarray, f0: float) -> np.ndarray:
    """Distance in cents of each frame's f0 (``log_f`` = log2 Hz) from f0, f0/2 or 2·f0, the nearest."""
    dev = 1200.0 * (log_f - np.log2(f0))
    return np.min(np.abs(dev[:, None] - np.array([-1200.0, 0.0, 1200.0])[None, :]), axis=1)


def _weakly_periodic_f0(track: PitchTrack, region: np.ndarray) -> float | None:
    """Median f0 (Hz) of the frames in ``region`` with aperiodicity below :data:`WEAK_APERIODICITY`,
    or None when they are fewer than :data:`WEAK_FRAMES` of the region or fewer than half of them
    are within 100 cents of it (or of its octaves)."""
    weak = region & (track.aperiodicity < WEAK_APERIODICITY)
    if not region.any() or np.count_nonzero(weak) < WEAK_FRAMES * np.count_nonzero(region):
        return None
    log_f = np.log2(track.f0_hz[weak])
    f0 = float(2.0 ** np.median(log_f))
    # most of them must agree (within 100 cents, octave jumps allowed): a noise's scatter
    if np.mean(_cents_from(log_f, f0) <= 100.0) < 0.5:
        return None
    return f0


def _octave_check(
    x: np.ndarray,
    sr: int,
    f0: float,
    *,
    frame_times: np.ndarray,
    spectrum: tuple[np.ndarray, float] | None = None,
) -> float:
    """Choose the octave of f0 from the partials of the average spectrum.

    First choose between f0/2, f0 and 2·f0: halve f0 when the odd multiples of f0/2 carry at least
    30% of the amplitude of the multiples of f0 (the signal really repeats at 2/f0); double it when
    the odd multiples of f0 carry less than 10% of the even ones (YIN locked onto a subharmonic).

    Then go down one to three more octaves when every strong spectral line (within
    :data:`_LINE_RANGE_DB` of the strongest, :data:`_LINE_PROMINENCE_DB` above the spectrum's
    median over ± f0/4) sits on the harmonic grid of f0/2, f0/4 or f0/8 and not all of them on
    f0's. The waveform then repeats at the lower period even though its partials there are weak
    (a wavetable frame with a weak fundamental, a lower oscillator 15-25 dB down, a highpass), and
    YIN's threshold stops at the first period dip. The highest grid that holds every line wins,
    provided k octaves down rest on at least k lines between f0's harmonics (a finer grid fits
    stray lines by chance more easily); a line on none of them (noise, inharmonic partials) leaves
    f0 as it is. ``spectrum``: the :func:`_average_spectrum` of those frames, when already made.
    """
    spec, bin_hz = spectrum if spectrum is not None else _average_spectrum(x, sr, frame_times)
    nyq = sr / 2.0

    def partials(freqs: np.ndarray) -> np.ndarray:
        freqs = freqs[freqs < 0.9 * nyq]
        if len(freqs) == 0:
            return np.zeros(0)
        lo = np.floor(freqs * 0.985 / bin_hz).astype(int)
        hi = np.ceil(freqs * 1.015 / bin_hz).astype(int) + 1
        return np.array([spec[a:b].max() for a, b in zip(lo, hi)])

    for _ in range(2):
        k = np.arange(1, 9)
        odd_half = partials((2 * k - 1) * f0 / 2.0)
        whole = partials(k * f0)
        if len(odd_half) and len(whole) and f0 / 2.0 >= FMIN_HZ:
            if odd_half.mean() >= 0.3 * whole[: len(odd_half)].mean():
                f0 /= 2.0
                continue
        odd = partials((2 * k - 1) * f0)
        even = partials(2 * k * f0)
        if len(odd) and len(even) and 2.0 * f0 <= FMAX_HZ:
            if odd[: len(even)].mean() < 0.1 * even.mean():
                f0 *= 2.0
                continue
        break

    lines = _spectral_lines(spec, bin_hz, floor_width_hz=max(f0 / 2.0, 20.0))

    def on_grid(grid: float) -> np.ndarray:
        return _on_grid(lines, grid, bin_hz)

    between = np.count_nonzero(~on_grid(f0))  # lines that f0's grid does not explain
    if between == 0:
        return float(f0)
    for divisor in _GRID_DIVISORS[1:]:
        grid = f0 / divisor
        if grid < FMIN_HZ:
            break
        # a finer grid fits stray lines by chance more easily: it needs log2(divisor) lines between
        if np.all(on_grid(grid)) and between >= np.log2(divisor):
            return float(grid)
    return float(f0)


def _average_spectrum(x: np.ndarray, sr: int, frame_times: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean magnitude spectrum (8192-point Hann frames, at most ~16 of them) of ``x`` over the
    span of ``frame_times`` (seconds), and its bin width in Hz."""
    n_fft = 8192
    t0, t1 = float(frame_times.min()), float(frame_times.max())
    seg = x[max(0, int(t0 * sr) - n_fft // 2) : int(t1 * sr) + n_fft // 2]
    if len(seg) < n_fft:
        seg = np.pad(seg, (0, n_fft - len(seg)))
    frames = frame_signal(seg, frame_length=n_fft, hop_length=n_fft // 2, center=False)
    frames = frames[:: max(1, len(frames) // 16)]  # at most ~16 frames: enough for an average
    return np.abs(scipy.fft.rfft(frames * np.hanning(n_fft), axis=1)).mean(axis=0), sr / n_fft


def _on_grid(lines: np.ndarray, grid: float, bin_hz: float) -> np.ndarray:
    """Which ``lines`` (Hz) sit within 5% of ``grid`` plus one bin of a multiple of ``grid``."""
    return (
        np.abs(lines - grid * np.round(lines / grid))
        <= _GRID_TOLERANCE * grid + _GRID_TOLERANCE_BINS * bin_hz
    )


def _inharmonic_fundamental(spec: np.ndarray, bin_hz: float, f0: float) -> float | None:
    """The lowest strong partial of an inharmonic spectrum, or None when the spectrum is harmonic.

    A struck bar (partials at 1, 2.76, 5.40, 8.93 × its fundamental), a bell or a membrane has
    strong lines that no harmonic series holds; YIN then settles on a period between partials, a
    semitone or two below the lowest one (and the octave check and the harmonic sum, which look
    for a harmonic series, move it further). Such a spectrum is sparse (a few strong lines,
    :func:`_spectral_lines`), its lowest strong line (within :data:`PARTIAL_RANGE_DB` of the
    strongest) stands alone, and most of the other lines' power lies off the harmonic grid of half
    that line's frequency (a harmonic tone keeps its lines on it, whether that line is its
    fundamental or its second harmonic). Synthesised tones fail one of these: many lines, a
    cluster of detuned voices or sidebands around their lowest line, or upper lines that are its
    harmonics (on development renders of the benchmark's sampler, about 1 in 50 passes, none with
    a single known pitch). The note is then that lowest strong line, read at its parabolic peak.
    """
    lines = _spectral_lines(spec, bin_hz, floor_width_hz=max(f0 / 2.0, 20.0))
    if not INHARMONIC_MIN_LINES <= len(lines) <= INHARMONIC_MAX_LINES:
        return None
    idx = np.round(lines / bin_hz).astype(int)
    level = amp_to_db(spec)
    k = int(np.argmin(np.where(level[idx] >= level[idx].max() - PARTIAL_RANGE_DB, lines, np.inf)))
    others, power = np.delete(lines, k), np.delete(spec[idx] ** 2, k)
    if np.any((others < lines[k] * PARTIAL_ALONE) & (others > lines[k] / PARTIAL_ALONE)):
        return None  # a cluster (detuned voices, sidebands) around it: no struck partial
    i = int(idx[k])
    a, b, c = level[i - 1], level[i], level[i + 1]
    shift = 0.5 * (a - c) / (a - 2.0 * b + c) if (a - 2.0 * b + c) < 0 else 0.0
    f = (i + float(np.clip(shift, -0.5, 0.5))) * bin_hz
    if abs(1200.0 * np.log2(f / f0)) > PARTIAL_NEAR_CENTS:
        return None
    grid = f / 2.0
    nearest = np.maximum(1.0, np.round(others / grid)) * grid
    tol = np.maximum(nearest * (2.0 ** (PARTIAL_GRID_CENTS / 1200.0) - 1.0), 0.5 * bin_hz)
    if power[np.abs(others - nearest) <= tol].sum() >= INHARMONIC_ON_GRID * power.sum():
        return None  # the other lines are its harmonics (or those of its octave below)
    return f if FMIN_HZ <= f <= FMAX_HZ else None


def _spectral_lines(spec: np.ndarray, bin_hz: float, *, floor_width_hz: float) -> np.ndarray:
    """Frequencies (Hz) of the strong, narrow peaks of a magnitude spectrum, between 20 Hz and 0.9·Nyquist.

    A peak is a local maximum within :data:`_LINE_RANGE_DB` of the spectrum's maximum and at least
    :data:`_LINE_PROMINENCE_DB` above the median level over ``floor_width_hz`` around it.
    """
    level = amp_to_db(spec)
    width = round(floor_width_hz / bin_hz) | 1
    floor = median_filter(level, size=width, mode="nearest")
    i = np.flatnonzero((level[1:-1] > level[:-2]) & (level[1:-1] >= level[2:])) + 1
    freqs = i * bin_hz
    keep = (
        (level[i] >= level.max() - _LINE_RANGE_DB)
        & (level[i] - floor[i] >= _LINE_PROMINENCE_DB)
        & (freqs >= 20.0)
        & (freqs < 0.9 * bin_hz * (len(spec) - 1))
    )
    return freqs[keep]


def _harmonic_pitch(
    x: np.ndarray, sr: int, t0: float, t1: float, *, reference: float | None = None
) -> tuple[float, float, float | None]:
    """Harmonic-sum f0 of the average magnitude spectrum between ``t0`` and ``t1`` seconds.

    For each candidate f0 on a quarter-semitone grid (then refined to 1 cent), the score is the
    mean over harmonics h = 1..12 of the log-compressed magnitude at h·f0 minus that at
    (h - 1/2)·f0, normalised by the spectrum's maximum: about 0.75 for a sawtooth, below 0.15 for
    white, pink or band-passed noise, and 1/12 for a pure sine (YIN handles those). Subtracting
    the half-harmonic positions penalises both the octave below (its odd harmonics are empty) and
    the octave above (its half positions are the odd harmonics). Candidates with fewer than 4
    harmonics below 0.45·sr (f0 above ~2.5 kHz) are not considered. Unlike YIN it needs no
    frame-to-frame periodicity, so detuned unison stacks and modulated effects keep their pitch.

    Returns (f0 in Hz, its harmonicity score, the score of ``reference`` Hz or None when no
    reference is given or it is outside the scored range).
    """
    n_fft = _HS_NFFT
    a, b = max(0, int(t0 * sr)), max(int(t1 * sr), int(t0 * sr) + n_fft // 2)
    seg = x[a:b]
    if len(seg) < n_fft:
        seg = np.pad(seg, (0, n_fft - len(seg)))
    frames = frame_signal(seg, frame_length=n_fft, hop_length=n_fft // 4, center=False)
    frames = frames[:: max(1, len(frames) // 12)]
    mag = np.sqrt((np.abs(scipy.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2).mean(axis=0))
    if mag.max() <= 0:
        return float(_HS_GRID[0]), 0.0, None
    level = np.log1p(mag / (mag.max() * 1e-3))  # 0 .. ~6.9 over the top 60 dB
    bin_hz = sr / n_fft
    harmonics = np.arange(1, _HS_HARMONICS + 1)

    def peak_at(freqs: np.ndarray) -> np.ndarray:
        """Largest compressed magnitude within ±1.5% of each frequency (0 above the spectrum)."""
        lo = np.floor(freqs * 0.985 / bin_hz).astype(int)
        hi = np.ceil(freqs * 1.015 / bin_hz).astype(int) + 1
        inside = hi < len(level)
        edges = np.stack([np.where(inside, lo, 0).ravel(), np.where(inside, hi, 1).ravel()], axis=1)
        return np.maximum.reduceat(level, edges.ravel())[::2].reshape(freqs.shape) * inside

    def score(f0s: np.ndarray) -> np.ndarray:
        f = f0s[:, None] * harmonics[None, :]
        valid = f < 0.45 * sr
        diff = (peak_at(f) - peak_at(f - 0.5 * f0s[:, None])) * valid
        n_valid = valid.sum(axis=1)
        out = diff.sum(axis=1) / np.maximum(n_valid, 1) / level.max()
        return np.where(n_valid >= 4, out, -1.0)  # a pitch needs at least 4 partials in the band

    coarse = score(_HS_GRID)
    k = int(np.argmax(coarse))
    fine = _HS_GRID[k] * 2.0 ** (np.arange(-25, 26) / 1200.0)
    ref_score = None
    if reference is not None:
        r = float(score(np.array([reference]))[0])
        ref_score = r if r > -1.0 else None
    return float(fine[int(np.argmax(score(fine)))]), float(coarse[k]), ref_score


# --- envelope and release ----------------------------------------------------------------------------------------


def _envelope_db(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """RMS envelope in dBFS: 23 ms frames, 5.8 ms hop. Returns (levels, hop in seconds)."""
    hop = max(1, round(_ENV_HOP_S * sr))
    frame = max(4, round(_ENV_FRAME_S * sr))
    return amp_to_db(frame_rms(x, frame_length=frame, hop_length=hop)), hop / sr


def _release_time(
    env_db: np.ndarray, dt: float, *, duration: float
) -> tuple[float, Literal["release", "fade", "held"]]:
    """Release point in seconds from the start of the clip, and how it was found."""
    t = np.arange(len(env_db)) * dt
    peak = float(env_db.max())
    i_peak = int(np.argmax(env_db))
    floor = peak - _FLOOR_DB
    future_max = np.maximum.accumulate(env_db[::-1])[::-1]
    m = np.maximum(future_max, floor)

    def last_above(level: float | np.ndarray) -> np.ndarray:
        # future_max is non-increasing: the last frame at or above `level` is a binary search away.
        return np.searchsorted(-future_max, -np.asarray(level), side="right") - 1

    n = max(2, round(_DROP_WINDOW_S / dt))
    i_end = len(env_db) - 1 - round(0.05 / dt)  # ignore the very end (fade-outs, cut tails)
    if i_end - n <= 0:
        return duration, "held"
    drop = m[: i_end - n] - m[n:i_end]
    i_steep = int(np.argmax(drop))
    if drop[i_steep] < _MIN_DROP_DB:
        return duration, "held"
    n_long = round(_FALL_WINDOW_S / dt)
    if _FALL_WINDOW_S > 0 and i_end - n_long > 0:
        # The release is the largest fall over a longer horizon (a quick decay into a sustain
        # falls less); its steepest short window is where the walk back starts.
        fall_long = m[: i_end - n_long] - m[n_long:i_end]
        i_long = int(np.argmax(fall_long))
        seg = drop[i_long : i_long + n_long]
        if len(seg) and seg.max() >= _MIN_DROP_DB:
            i_steep = i_long + int(np.argmax(seg))

    # Walk back from the steepest point of the anchor to where the smoothed envelope stops falling
    # faster than min(25% of the anchor's slope, 15 dB/s), or falls less than half as fast as just
    # after: the start of the release.
    k = max(1, round(_SLOPE_S / dt))
    slope_m = np.zeros(len(m))
    slope_m[:-k] = (m[:-k] - m[k:]) / (k * dt)
    steepest = float(slope_m[i_steep : i_steep + n].max())
    # Smoothed in power (not dB) so unison beating and tremolo average out rather than dip.
    power = uniform_filter1d(10.0 ** (env_db / 10.0), max(1, round(_SMOOTH_S / dt)), mode="nearest")
    smooth = np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), floor)
    slope = np.zeros(len(smooth))
    slope[:-k] = (smooth[:-k] - smooth[k:]) / (k * dt)
    threshold = min(0.25 * steepest, _WALK_MAX_SLOPE)
    i = i_steep + int(np.argmax(slope[i_steep : i_steep + n]))
    while i > 0 and slope[i - 1] >= threshold and slope[i - 1] >= _WALK_SPEED_UP * slope[i : i + k].mean():
        i -= 1
    i_knee = i

    # A fall that starts right at a fast attack's peak is a natural decay, not a release.
    reached = int(np.argmax(env_db >= smooth[i_knee] - 3.0))
    sustained = (i_knee - reached) * dt >= 0.1
    attack_s = (i_peak - int(np.argmax(env_db >= peak - _ONSET_DB))) * dt
    if not sustained and attack_s < 0.05:
        i_fade = int(last_above(peak - _FADE_DB))
        return float(min(t[min(i_fade, len(t) - 1)], duration)), "fade"

    # A centred envelope frame starts to lose level half a frame before the key-up.
    return _first_step(m, dt, i_peak, float(t[i_knee]) + _ENV_FRAME_S / 2), "release"


def _first_step(m: np.ndarray, dt: float, i_peak: int, t_release: float) -> float:
    """Step 3: an earlier clear step down from a steady level, when there is one, is the key-up.

    A delay repeats the held note after the key-up, so its echoes fall later and often further
    than the dry note did; a fall that follows a steady stretch is the first thing the key-up
    changes. ``m`` is the future-maximum envelope (dB), so a dip that recovers never counts. Only
    steps from 200 ms after the loudest frame (``i_peak``) count: a hold or a slow attack followed
    by the decay stage looks the same as a key-up (measured on development renders, starting at
    the loudest frame does better than starting at the attack's end), so a key-up within 200 ms of
    the loudest moment (echoes that build up to it, say) is left to step 2.
    """
    k = max(1, round(_STEP_WINDOW_S / dt))
    f = max(1, round(_STEP_FLAT_S / dt))
    stop = min(round((t_release - _STEP_MARGIN_S) / dt), len(m) - k)
    if stop <= i_peak + f:
        return t_release
    idx = np.arange(i_peak + f, stop)
    steps = idx[(m[idx] - m[idx + k] >= _STEP_DB) & (m[idx - f] - m[idx] <= _STEP_FLAT_DB)]
    if not len(steps):
        return t_release
    i = int(steps[0])
    return (i + int(np.argmax(m[i:] < m[i] - _STEP_START_DB))) * dt


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
