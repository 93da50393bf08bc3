"""Signal processing shared by the package: resampling, DC blocking, framing, decibels, the RMS envelope
follower, the STFT, mel filterbanks and YIN.

Each computation lives here once; :mod:`synthmatch.audio`, :mod:`synthmatch.metrics`,
:mod:`synthmatch.explain` and :mod:`synthmatch.data` choose the settings. Everything is deterministic
and numpy/scipy only (librosa is imported on the first :func:`mel_filterbank` call). The order of the
floating-point operations is part of each function's contract: the benchmark's scores and the
analysis cache depend on them to the last bit.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd
from typing import Literal

import numpy as np
import scipy.fft
import scipy.sparse
from scipy.signal import butter, resample_poly, sosfiltfilt

__all__ = [
    "AMP_EPS",
    "DC_HIGHPASS_HZ",
    "POWER_EPS",
    "amp_to_db",
    "db_to_amp",
    "db_to_power",
    "frame_rms",
    "frame_signal",
    "hann_window",
    "kaldi_mel_filterbank",
    "mel_filterbank",
    "power_spectrum",
    "power_to_db",
    "remove_dc",
    "resample",
    "running_sum_squares",
    "stft",
    "yin",
]

#: Smallest amplitude used inside logarithms (-240 dBFS); keeps silent input finite.
AMP_EPS = 1e-12
#: Smallest power used inside logarithms (-240 dB, the square of :data:`AMP_EPS`).
POWER_EPS = 1e-24
#: Cut-off (Hz) of the DC blocker: a 2nd-order Butterworth high-pass run forwards and backwards
#: (zero phase, 4th-order slope), -0.1 dB at 25 Hz (the lowest pitch analysed).
DC_HIGHPASS_HZ = 10.0


# --- resampling and DC --------------------------------------------------------------------------------------


def resample(x: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a signal with a polyphase filter (deterministic).

    Parameters
    ----------
    x : np.ndarray [shape=(n,) or (n, channels)]
        Signal; time is the first axis.
    orig_sr, target_sr : int
        Sample rates in Hz.

    Returns
    -------
    np.ndarray [shape=(m,) or (m, channels)]
        ``m = ceil(n * target_sr / orig_sr)``, same dtype family as ``x`` (float); ``x`` itself
        when the rates are equal.
    """
    if orig_sr == target_sr:
        return x
    g = gcd(int(orig_sr), int(target_sr))
    up, down = int(target_sr) // g, int(orig_sr) // g
    return resample_poly(x, up, down, axis=0)


def remove_dc(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``x`` without its DC: a zero-phase high-pass at :data:`DC_HIGHPASS_HZ` (float64 out).

    Unlike subtracting the mean, it removes an offset that only part of the signal has (a synth
    voice whose waveform is asymmetric while the note sounds) without adding that offset to the
    silence around it, where it would read as a level that never decays. A constant offset is
    removed entirely. The edges are extended by their own value, so the filter starts and ends
    settled; a signal that starts or stops abruptly still rings for a few tens of ms at a level of
    about ``DC_HIGHPASS_HZ / f`` of a partial at ``f`` Hz (plus any DC step), which is why levels
    and peaks are better read from the signal itself. Signals shorter than 16 samples fall back
    to subtracting the mean.
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 16:
        return x - x.mean()
    sos = butter(2, DC_HIGHPASS_HZ, btype="highpass", fs=float(sample_rate), output="sos")
    return sosfiltfilt(sos, x, padtype="constant", padlen=min(len(x) - 1, 64))


# --- decibels -----------------------------------------------------------------------------------------------


def amp_to_db(
    x: np.ndarray | float, *, eps: float = AMP_EPS, ref: np.ndarray | float | None = None
) -> np.ndarray:
    """Amplitude to decibels: ``20 log10(max(|x|, eps))``, or ``20 log10(max(|x|, eps) / ref)``.

    Finite for zeros. With ``ref`` (the amplitude that reads 0 dB) the floor applies before the
    division, so a silent frame reads ``20 log10(eps / ref)``.
    """
    if ref is None:
        return 20.0 * np.log10(np.maximum(np.abs(x), eps))
    return 20.0 * np.log10(np.maximum(np.abs(x), eps) / ref)


def power_to_db(
    x: np.ndarray | float, *, eps: float = POWER_EPS, ref: np.ndarray | float | None = None
) -> np.ndarray:
    """Power to decibels: ``10 log10(max(x, eps))``, or ``10 log10(max(x, eps) / ref)``.

    ``x`` is non-negative. The floor ``eps`` is each caller's: the benchmark's MSS-mel uses
    librosa's ``amin`` (1e-10), Combes et al.'s MFCC 1e-8, the features 1e-20 or 1e-30. The
    result keeps the dtype numpy gives ``x`` (a float32 spectrogram stays float32).
    """
    if ref is None:
        return 10.0 * np.log10(np.maximum(x, eps))
    return 10.0 * np.log10(np.maximum(x, eps) / ref)


def db_to_amp(db: np.ndarray | float) -> np.ndarray | float:
    """Decibels to amplitude, ``10 ** (db / 20)`` (a Python float for a Python float)."""
    return 10.0 ** (db / 20.0)


def db_to_power(db: np.ndarray | float) -> np.ndarray | float:
    """Decibels to power, ``10 ** (db / 10)`` (a Python float for a Python float)."""
    return 10.0 ** (db / 10.0)


# --- framing and the envelope follower -------------------------------------------------------------------------


def frame_signal(x: np.ndarray, *, frame_length: int, hop_length: int, center: bool = True) -> np.ndarray:
    """View a 1-D signal as overlapping frames (zero padding, like ``librosa.util.frame``).

    Returns
    -------
    np.ndarray [shape=(n_frames, frame_length)]
        A read-only strided view when ``center`` is False, a view of a padded copy otherwise.
        ``n_frames = 1 + n // hop_length`` when centred with an even ``frame_length``; a signal
        shorter than one frame is zero-padded to one frame.
    """
    if center:
        x = np.pad(x, (frame_length // 2, frame_length // 2))
    if len(x) < frame_length:
        x = np.pad(x, (0, frame_length - len(x)))
    n_frames = 1 + (len(x) - frame_length) // hop_length
    return np.lib.stride_tricks.as_strided(
        x,
        shape=(n_frames, frame_length),
        strides=(x.strides[0] * hop_length, x.strides[0]),
        writeable=False,
    )


def frame_rms(x: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """The RMS envelope follower: centred RMS per frame (rectangular window, zero padding).

    Returns
    -------
    np.ndarray [shape=(1 + n // hop_length,)]
        RMS amplitude per frame (linear, same unit as ``x``), float64.
    """
    x64 = np.asarray(x, dtype=np.float64)
    # Running sum of squares: O(n) whatever the frame length.
    half = frame_length // 2
    padded = np.pad(x64 * x64, (half, frame_length - half))
    csum = np.concatenate(([0.0], np.cumsum(padded)))
    starts = np.arange(0, len(x64) + 1, hop_length)
    energy = csum[starts + frame_length] - csum[starts]
    return np.sqrt(np.maximum(energy, 0.0) / frame_length)


# --- STFT -------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def hann_window(win_length: int, *, n_fft: int | None = None, periodic: bool = True) -> np.ndarray:
    """Hann window of ``win_length`` centred in ``n_fft`` samples (like ``torch.stft``), float32, read-only.

    ``periodic``: the DFT-even window of librosa and torch (``np.hanning(win_length + 1)[:-1]``);
    otherwise the symmetric one. ``n_fft`` defaults to ``win_length``.
    """
    n_fft = win_length if n_fft is None else n_fft
    m = win_length + 1 if periodic else win_length
    w = np.hanning(m)[:win_length] if m > 1 else np.ones(1)
    left = (n_fft - win_length) // 2
    out = np.zeros(n_fft, dtype=np.float32)
    out[left : left + win_length] = w
    out.setflags(write=False)
    return out


def stft(
    x: np.ndarray,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    periodic: bool = True,
    pad_mode: Literal["constant", "reflect"] = "constant",
) -> np.ndarray:
    """Centred STFT with a Hann window (:func:`hann_window`).

    ``pad_mode="constant"`` pads with zeros like librosa; ``"reflect"`` like ``torch.stft`` (a signal
    no longer than ``n_fft // 2`` is zero-padded first, since reflection needs more samples).

    Returns
    -------
    np.ndarray [shape=(1 + n // hop_length, n_fft // 2 + 1)]
        Complex spectrum per frame (complex64 for float32 input).
    """
    if pad_mode == "reflect" and len(x) <= n_fft // 2:
        x = np.pad(x, (0, n_fft // 2 + 1 - len(x)))
    padded = np.pad(x, (n_fft // 2, n_fft // 2), mode=pad_mode)
    frames = frame_signal(padded, frame_length=n_fft, hop_length=hop_length, center=False)
    window = hann_window(win_length or n_fft, n_fft=n_fft, periodic=periodic)
    return scipy.fft.rfft(frames * window, axis=1)


def power_spectrum(spec: np.ndarray) -> np.ndarray:
    """``|spec|**2`` as ``re*re + im*im`` (real, the precision of ``spec``)."""
    return spec.real * spec.real + spec.imag * spec.imag


# --- mel filterbanks -----------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def mel_filterbank(
    *,
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    norm: Literal["slaney"] | None = "slaney",
) -> scipy.sparse.csr_matrix:
    """Slaney-scale triangular mel filters (``librosa.filters.mel``), sparse float32.

    ``norm="slaney"`` gives librosa's area-normalised filters (what ``librosa.feature.melspectrogram``
    uses, hence MSS-mel and the Combes mel loss); ``norm=None`` unit-peak triangles (the log-mel
    features, where a full-scale sine reads about 0 dB in its band). ``fmax=None``: Nyquist.
    Sparse because each filter covers a few bins: a sparse product is about 30 times cheaper than
    a dense one and needs no BLAS threads, which slow small products down on a busy machine.
    Cached; do not modify the result.

    Returns
    -------
    scipy.sparse.csr_matrix [shape=(n_mels, n_fft // 2 + 1), dtype=float32]
    """
    fb = _slaney_mel(sample_rate, n_fft, n_mels, fmin, float(sample_rate) / 2 if fmax is None else fmax, norm)
    return scipy.sparse.csr_matrix(fb.astype(np.float32))


#: The Slaney mel scale: linear to 1 kHz (200/3 Hz per mel), logarithmic above.
_SLANEY_HZ_PER_MEL = 200.0 / 3
_SLANEY_LOG_HZ = 1000.0
_SLANEY_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_slaney_mel(hz: float) -> float:
    mel = hz / _SLANEY_HZ_PER_MEL
    if hz >= _SLANEY_LOG_HZ:
        mel = _SLANEY_LOG_HZ / _SLANEY_HZ_PER_MEL + np.log(np.asarray(hz) / _SLANEY_LOG_HZ) / _SLANEY_LOG_STEP
    return mel


def _slaney_mel(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float, norm: str | None
) -> np.ndarray:
    """``librosa.filters.mel`` (float32, Slaney scale), the same operations in the same order, so
    the same values bit for bit (tested) without importing librosa (most of a short command's
    start-up time)."""
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mels = np.linspace(_hz_to_slaney_mel(fmin), _hz_to_slaney_mel(fmax), n_mels + 2)
    mel_f = _SLANEY_HZ_PER_MEL * mels
    log_t = mels >= _SLANEY_LOG_HZ / _SLANEY_HZ_PER_MEL
    mel_f[log_t] = _SLANEY_LOG_HZ * np.exp(
        _SLANEY_LOG_STEP * (mels[log_t] - _SLANEY_LOG_HZ / _SLANEY_HZ_PER_MEL)
    )
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    elif norm is not None:
        raise ValueError(f"norm must be 'slaney' or None, got {norm!r}")
    return weights


@lru_cache(maxsize=8)
def kaldi_mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int) -> scipy.sparse.csr_matrix:
    """Kaldi-style mel filters (torchaudio ``get_mel_banks``), sparse float64.

    A second filterbank, not a variant of :func:`mel_filterbank`, because Combes et al.'s MFCC
    distance (``mfccd`` in :mod:`synthmatch.metrics`) is defined with it: the HTK mel formula
    ``1127 ln(1 + f/700)``, 0 Hz to Nyquist, unnormalised triangles evaluated in mel on bins
    ``0 .. n_fft/2 - 1`` and zero on the Nyquist bin, in float64. Its values differ from the Slaney
    filters, so only it reproduces the published figures.

    Returns
    -------
    scipy.sparse.csr_matrix [shape=(n_mels, n_fft // 2 + 1), dtype=float64]
    """

    def mel(f: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log1p(np.asarray(f) / 700.0)

    mel_lo, mel_hi = float(mel(0.0)), float(mel(sample_rate / 2.0))
    delta = (mel_hi - mel_lo) / (n_mels + 1)
    left = mel_lo + delta * np.arange(n_mels)[:, None]
    center, right = left + delta, left + 2.0 * delta
    bins = mel(sample_rate / n_fft * np.arange(n_fft // 2))[None, :]
    tri = np.maximum(0.0, np.minimum((bins - left) / (center - left), (right - bins) / (right - center)))
    fb = np.zeros((n_mels, n_fft // 2 + 1))
    fb[:, : n_fft // 2] = tri
    return scipy.sparse.csr_matrix(fb)


# --- YIN ----------------------------------------------------------------------------------------------------


def running_sum_squares(frames: np.ndarray) -> np.ndarray:
    """``out[:, k]`` = sum of the squares of each frame's first ``k`` samples (a sequential cumulative sum).

    Returns
    -------
    np.ndarray [shape=(n_frames, length + 1)]
        Float64 for float64 frames; ``out[:, 0]`` is 0.
    """
    return np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames * frames, axis=1)], axis=1)


def yin(
    frames: np.ndarray,
    *,
    sample_rate: float,
    window: int,
    tau_min: int,
    tau_max: int,
    threshold: float = 0.15,
    sum_squares: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """YIN pitch of each frame (de Cheveigné & Kawahara, 2002), vectorised over frames.

    The difference function ``d(τ) = Σ_{j<W} (x_j - x_{j+τ})²`` comes from running sums of squares
    and one FFT correlation per frame; the cumulative-mean-normalised difference (CMNDF) is
    searched over ``tau_min..tau_max``. The lag is the first local minimum below ``threshold``,
    or the global minimum when there is none, refined by a parabola through its neighbours
    (shift clipped to ±1 lag).

    Parameters
    ----------
    frames : np.ndarray [shape=(n_frames, length)]
        Float64 frames, ``length >= window + tau_max + 1``. A DC offset biases YIN: remove it first.
    sample_rate : float
        Hz.
    window : int
        Integration window W in samples (at least the longest period searched).
    tau_min, tau_max : int
        Lag range in samples; ``2 <= tau_min`` and ``tau_min + 2 <= tau_max``.
    threshold : float
        CMNDF level under which a local minimum is taken as the period.
    sum_squares : np.ndarray [shape=(n_frames, length + 1)], optional
        Running sums of squares of the frames, :func:`running_sum_squares`, when the caller has
        them already (computed here otherwise).

    Returns
    -------
    f0_hz : np.ndarray [shape=(n_frames,)]
        ``sample_rate / τ`` at the refined lag.
    aperiodicity : np.ndarray [shape=(n_frames,)]
        The CMNDF at the refined lag (parabola value), clipped to [0, 1]: 0 periodic, about 1 noise.
    """
    frames = np.asarray(frames)
    w = int(window)
    if frames.ndim != 2 or frames.shape[1] < w + tau_max + 1:
        raise ValueError(
            f"yin needs frames of shape (n, >= window + tau_max + 1 = {w + tau_max + 1}), got {frames.shape}."
        )
    if not 2 <= tau_min <= tau_max - 2:
        raise ValueError(f"yin needs 2 <= tau_min <= tau_max - 2, got tau_min={tau_min}, tau_max={tau_max}.")
    if len(frames) == 0:
        return np.zeros(0), np.zeros(0)
    # r[t] for t <= tau_max reads frame samples j + t <= w - 1 + tau_max < length only, so a
    # circular correlation of ``length`` or more points never wraps into it.
    n_fft = 1 << int(np.ceil(np.log2(frames.shape[1])))
    csum = running_sum_squares(frames) if sum_squares is None else np.asarray(sum_squares)
    if csum.shape != (len(frames), frames.shape[1] + 1):
        raise ValueError(
            f"sum_squares must have shape {(len(frames), frames.shape[1] + 1)}, got {csum.shape}."
        )
    energy0 = csum[:, w]

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
    candidates = interior & (search < threshold)
    has = candidates.any(axis=1)
    idx = np.where(has, np.argmax(candidates, axis=1), np.argmin(search, axis=1))
    idx = np.clip(idx, 1, search.shape[1] - 2)

    rows = np.arange(len(search))
    a, b, c = search[rows, idx - 1], search[rows, idx], search[rows, idx + 1]
    denom = a - 2.0 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1.0, denom), 0.0)
    shift = np.clip(shift, -1.0, 1.0)
    tau = tau_min + idx + shift
    return sample_rate / tau, np.clip(b - 0.25 * (a - c) * shift, 0.0, 1.0)
