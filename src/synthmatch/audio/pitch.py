"""Pitch of a one-shot: a frame-wise YIN track and the note's f0 (used by :mod:`synthmatch.audio.analysis`).

A vectorised YIN (:func:`synthmatch.dsp.yin`, de Cheveigné & Kawahara, 2002) at 22050 Hz over
25 Hz-4200 Hz. YIN's cumulative-mean-normalised difference at the chosen lag is the frame's
*aperiodicity* (0 = perfectly periodic, about 1 = noise); a frame is voiced when it is below
:data:`VOICED_APERIODICITY`. The note's f0 is the median of the voiced frames of the sustained
part, followed by a spectral octave check on the average spectrum of those frames: the
partials at odd multiples of f0/2 and of f0 decide between f0/2, f0 and 2·f0. A line at f0 that
is the only one off the harmonic series of 2·f0 (an organ's 16' stop under its 8' tone) makes
the wave repeat at 1/f0, but the note is 2·f0 (:func:`_lone_sub_octave`). When the strong lines
of that spectrum are inharmonic (most of them on neither f0's harmonic grid nor f0/2's: a
struck bar, a bell, a membrane), YIN's period is a compromise between partials, a semitone or
two off, and the note is the lowest strong partial instead (:func:`_inharmonic_fundamental`,
``pitch_method="partial"``); so is the lower of two partials a fifth apart that stand out alone
(a timpani's two lowest modes, :func:`_fifth_pair`). When YIN has no stable pitch (detuned
unison stacks, chorus, modulated effects), or when a harmonic sum over the average spectrum
clearly prefers another f0, that harmonic-sum estimate is used (:func:`_harmonic_pitch`,
:data:`HARMONIC_FALLBACK_SCORE`, :data:`HARMONIC_OVERRIDE_MARGIN`). When neither is sure on its
own, the note is still pitched when the median f0 of YIN's weakly periodic frames and the
harmonic-sum f0 agree within 50 cents (:data:`WEAK_APERIODICITY`). The caller removes DC first
(:func:`synthmatch.dsp.remove_dc`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.fft
from scipy.ndimage import median_filter

from synthmatch.dsp import amp_to_db, frame_signal, power_to_db, resample, running_sum_squares, yin

__all__ = [
    "FMAX_HZ",
    "FMIN_HZ",
    "PITCH_SR",
    "SUB_OCTAVE_RANGE_DB",
    "PitchMethod",
    "PitchTrack",
    "estimate_pitch",
    "hz_to_midi",
    "midi_to_hz",
    "spectral_lines",
    "to_pitch_rate",
    "yin_track",
]

PitchMethod = Literal["yin", "harmonic", "agreement", "partial", "none"]

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
WEAK_FRAMES = 0.2
AGREE_CENTS = 50.0
AGREE_HARMONIC_SCORE = 0.05
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
#: A lone sub-octave (:func:`_lone_sub_octave`): a line at f0 that is the only one off the harmonic
#: grid of 2·f0, carrying less power than the lines on that grid, is a separate sub-octave source
#: (an organ's 16' stop, a sine sub-oscillator) when it is within this many dB of the strongest
#: line, and the note is 2·f0. The drawbar organ of the ood-real dev split has its 16' line level
#: with its 8' one; a wave's own fundamental 14 dB under its second harmonic, with its other odd
#: harmonics weaker still (a wavetable frame close to repeating twice per cycle), keeps the period.
SUB_OCTAVE_RANGE_DB = 12.0

#: Sample rate (Hz) of the pitch analysis.
PITCH_SR = 22050
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


def estimate_pitch(
    x: np.ndarray, sr: int, *, start_s: float, stop_s: float
) -> tuple[float | None, float, PitchMethod]:
    """The note's f0 from the part of the note between ``start_s`` and ``stop_s`` (see the module docstring).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
        Mono float64 signal without DC, at ``sr`` Hz.
    sr : int
        Sample rate in Hz (the pitch is analysed at 22050 Hz).
    start_s, stop_s : float
        The sustained part in seconds: after the attack transient, before the release.

    Returns
    -------
    f0_hz : float | None
        None when the note is not pitched.
    confidence : float
        Fraction (0..1) of the analysed frames that are voiced and agree with YIN's f0 within 100 cents.
    method : {"yin", "harmonic", "agreement", "partial", "none"}
        What decided f0 (:attr:`synthmatch.audio.analysis.NoteAnalysis.pitch_method`).
    """
    x_pitch = to_pitch_rate(x, sr)
    track = yin_track(x_pitch, PITCH_SR)
    start, stop = start_s, stop_s
    region = (track.times_s >= start) & (track.times_s <= max(stop, start + 0.05))
    region &= track.level_db >= track.level_db.max() - 25.0
    if np.count_nonzero(region) < 3:
        region = track.level_db >= track.level_db.max() - 30.0
    f0, confidence, kind = _note_pitch(track, region, x_pitch=x_pitch)

    # A clip shorter than one YIN window (93 ms) has no complete frame to judge periodicity on.
    long_enough = len(x_pitch) >= _YIN_WINDOW + int(np.ceil(PITCH_SR / FMIN_HZ)) + 1
    pitched = long_enough and f0 is not None and confidence >= PITCHED_CONFIDENCE
    pitch_method: PitchMethod = "yin" if pitched else "none"
    if pitched and kind == "partial":
        pitch_method = "partial"  # the harmonic sum looks for a harmonic series: none here
    elif long_enough and not (pitched and kind == "sub-octave"):
        # (the harmonic sum penalises a candidate for the power an octave under it: a lone
        # sub-octave line would pull it back down)
        f0_h, harmonicity, yin_score = _harmonic_pitch(
            x_pitch, PITCH_SR, start, max(stop, start + 0.3), reference=f0 if pitched else None
        )
        if not pitched and harmonicity >= HARMONIC_FALLBACK_SCORE:
            f0, pitched, pitch_method = f0_h, True, "harmonic"
        elif not pitched and harmonicity >= AGREE_HARMONIC_SCORE:
            f0_weak = _weakly_periodic_f0(track, region)
            if f0_weak is not None and abs(1200.0 * np.log2(f0_weak / f0_h)) <= AGREE_CENTS:
                f0, pitched, pitch_method = f0_weak, True, "agreement"
        elif pitched and yin_score is not None and harmonicity - yin_score > HARMONIC_OVERRIDE_MARGIN:
            f0, pitch_method = f0_h, "harmonic"
    return (f0 if pitched else None), confidence, pitch_method


def to_pitch_rate(x: np.ndarray, sr: int) -> np.ndarray:
    """``x`` as float64 at the pitch analysis rate (22050 Hz)."""
    return resample(x.astype(np.float64, copy=False), orig_sr=sr, target_sr=PITCH_SR)


def yin_track(x: np.ndarray, sr: int) -> PitchTrack:
    """Frame-wise YIN of ``x`` (float64 at ``sr`` Hz): 1024-sample integration windows, 256-sample hop.

    Frames more than 40 dB below the loudest or below the silence floor are not searched (the FFTs
    are most of a track's cost, and a short note in a long render is mostly tail); every frame's
    result depends on its own samples only.
    """
    w = _YIN_WINDOW
    tau_max = min(int(np.ceil(sr / FMIN_HZ)), w)
    tau_min = max(2, int(np.floor(sr / FMAX_HZ)))
    length = w + tau_max + 1
    if len(x) < length:
        x = np.pad(x, (0, length - len(x)))
    frames = frame_signal(x, frame_length=length, hop_length=_YIN_HOP, center=False)
    sum_squares = running_sum_squares(frames)
    level_db = power_to_db(sum_squares[:, w] / w)
    loud = (level_db >= level_db.max() - 40.0) & (level_db > _SILENT_FRAME_DB)
    times = (np.arange(len(frames)) * _YIN_HOP + w / 2.0) / sr
    f0_hz = np.zeros(len(frames))
    aperiodicity = np.ones(len(frames))
    if loud.any():
        f0_hz[loud], aperiodicity[loud] = yin(
            frames[loud],
            sample_rate=sr,
            window=w,
            tau_min=tau_min,
            tau_max=tau_max,
            threshold=_YIN_THRESHOLD,
            sum_squares=sum_squares[loud],
        )
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
) -> tuple[float | None, float, Literal["yin", "partial", "sub-octave"]]:
    """Median f0 of the voiced frames in ``region``, octave-checked, or the lowest strong partial
    of an inharmonic spectrum or of a pair of partials a fifth apart; the confidence (0..1); and
    what decided: ``"partial"`` (:func:`_inharmonic_fundamental`, :func:`_fifth_pair`),
    ``"sub-octave"`` (:func:`_lone_sub_octave` moved the octave check's f0 up) or ``"yin"``."""
    n_region = int(np.count_nonzero(region))
    voiced = region & track.voiced
    if n_region == 0 or not voiced.any():
        return None, 0.0, "yin"
    log_f = np.log2(track.f0_hz[voiced])
    f0 = float(2.0 ** np.median(log_f))
    # Agreement within 100 cents, allowing single-frame octave jumps (YIN's typical error).
    confidence = float(np.count_nonzero(_cents_from(log_f, f0) <= 100.0)) / n_region
    spectrum = _average_spectrum(x_pitch, PITCH_SR, track.times_s[voiced])
    partial = _inharmonic_fundamental(*spectrum, f0)
    if partial is None:
        partial = _fifth_pair(*spectrum, f0)
    if partial is not None:
        return partial, confidence, "partial"
    f0 = _octave_check(x_pitch, PITCH_SR, f0, frame_times=track.times_s[voiced], spectrum=spectrum)
    spec, bin_hz = spectrum
    if _lone_sub_octave(spec, bin_hz, f0):
        return 2.0 * f0, confidence, "sub-octave"
    return f0, confidence, "yin"


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

    lines = spectral_lines(spec, bin_hz, floor_width_hz=max(f0 / 2.0, 20.0))

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
    :func:`spectral_lines`), its lowest strong line (within :data:`PARTIAL_RANGE_DB` of the
    strongest) stands alone, and most of the other lines' power lies off the harmonic grid of half
    that line's frequency (a harmonic tone keeps its lines on it, whether that line is its
    fundamental or its second harmonic). Synthesised tones fail one of these: many lines, a
    cluster of detuned voices or sidebands around their lowest line, or upper lines that are its
    harmonics (on development renders of the benchmark's sampler, about 1 in 50 passes, none with
    a single known pitch). The note is then that lowest strong line, read at its parabolic peak.
    """
    lines = spectral_lines(spec, bin_hz, floor_width_hz=max(f0 / 2.0, 20.0))
    if not INHARMONIC_MIN_LINES <= len(lines) <= INHARMONIC_MAX_LINES:
        return None
    idx = np.round(lines / bin_hz).astype(int)
    level = amp_to_db(spec)
    k = int(np.argmin(np.where(level[idx] >= level[idx].max() - PARTIAL_RANGE_DB, lines, np.inf)))
    others, power = np.delete(lines, k), np.delete(spec[idx] ** 2, k)
    if np.any((others < lines[k] * PARTIAL_ALONE) & (others > lines[k] / PARTIAL_ALONE)):
        return None  # a cluster (detuned voices, sidebands) around it: no struck partial
    f = _peak_hz(spec, int(idx[k]), bin_hz)
    if abs(1200.0 * np.log2(f / f0)) > PARTIAL_NEAR_CENTS:
        return None
    grid = f / 2.0
    nearest = np.maximum(1.0, np.round(others / grid)) * grid
    tol = np.maximum(nearest * (2.0 ** (PARTIAL_GRID_CENTS / 1200.0) - 1.0), 0.5 * bin_hz)
    if power[np.abs(others - nearest) <= tol].sum() >= INHARMONIC_ON_GRID * power.sum():
        return None  # the other lines are its harmonics (or those of its octave below)
    return f if FMIN_HZ <= f <= FMAX_HZ else None


def _fifth_pair(spec: np.ndarray, bin_hz: float, f0: float) -> float | None:
    """The lower of two partials a fifth apart that stand out alone, or None.

    When the lines within :data:`PARTIAL_RANGE_DB` of the strongest are exactly two, at 2 and 3
    times a frequency g that has no line of its own, the note is the lower one (2·g). A timpani's
    two lowest membrane modes are tuned to such a fifth and every other line is 16 dB or more
    weaker (and inharmonic); YIN reads the period of the pair (g, an octave under the note) or,
    as the lower mode fades first, the upper one (a fifth over it), while the note played is the
    lower mode (all 5 timpani notes of the ood-real dev split). Two oscillators a fifth apart are
    played from the lower one too. With more strong lines, or a line at g, the lines are a
    harmonic series (a band-passed saw) and g stays its period.
    """
    lines = spectral_lines(spec, bin_hz, floor_width_hz=max(f0 / 2.0, 20.0))
    if len(lines) < 2:
        return None
    idx = np.round(lines / bin_hz).astype(int)
    level = amp_to_db(spec[idx])
    strong = np.flatnonzero(level >= level.max() - PARTIAL_RANGE_DB)
    if len(strong) != 2:
        return None
    low = _peak_hz(spec, int(idx[strong[0]]), bin_hz)
    g = low / 2.0
    if round(lines[strong[1]] / g) != 3 or not _on_grid(lines[strong[1:]], g, bin_hz)[0]:
        return None
    if np.any((np.round(lines / g) == 1) & _on_grid(lines, g, bin_hz)):
        return None  # the series' own fundamental sounds: its period is the note
    return low if FMIN_HZ <= low <= FMAX_HZ else None


def _lone_sub_octave(spec: np.ndarray, bin_hz: float, f0: float) -> bool:
    """Whether the line at f0 is a lone sub-octave under a harmonic series at 2·f0.

    It is when every other strong line (:func:`spectral_lines`) sits on the harmonic grid of 2·f0,
    at least two of them do and together carry more power than it, and it is within
    :data:`SUB_OCTAVE_RANGE_DB` of the strongest line. The wave then repeats at 1/f0 only
    because of that one line: an organ's 16' stop, or a sine sub-oscillator, under a tone whose
    odd harmonics of f0 are all missing; the series above is the note that was played, and the
    one a preset reproduces with a sub-oscillator (at f0, a preset would need a wave without its
    odd harmonics). A line stronger than the whole series above it (a sine with some even
    distortion) is the note itself.
    """
    if 2.0 * f0 > FMAX_HZ:
        return False
    lines = spectral_lines(spec, bin_hz, floor_width_hz=max(f0 / 2.0, 20.0))
    upper = _on_grid(lines, 2.0 * f0, bin_hz)
    off = np.flatnonzero(~upper)
    if len(off) != 1 or np.count_nonzero(upper) < 2:
        return False
    sub = int(off[0])
    if round(lines[sub] / f0) != 1 or not _on_grid(lines[off], f0, bin_hz)[0]:
        return False
    power = spec[np.round(lines / bin_hz).astype(int)] ** 2
    return bool(
        power[sub] >= power.max() * 10.0 ** (-SUB_OCTAVE_RANGE_DB / 10.0) and power[sub] < power[upper].sum()
    )


def _peak_hz(spec: np.ndarray, i: int, bin_hz: float) -> float:
    """Frequency (Hz) of the spectral peak at bin ``i``, read at its parabolic (log-magnitude) vertex."""
    a, b, c = amp_to_db(spec[i - 1 : i + 2])
    shift = 0.5 * (a - c) / (a - 2.0 * b + c) if (a - 2.0 * b + c) < 0 else 0.0
    return float((i + float(np.clip(shift, -0.5, 0.5))) * bin_hz)


def spectral_lines(spec: np.ndarray, bin_hz: float, *, floor_width_hz: float) -> np.ndarray:
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
