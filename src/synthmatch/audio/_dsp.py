"""Small signal helpers shared by :mod:`synthmatch.audio` and :mod:`synthmatch.metrics`.

Private module: the public API lives in ``io``, ``analysis`` and ``features``.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import butter, resample_poly, sosfiltfilt

#: Smallest amplitude used inside logarithms (-240 dBFS); keeps silent input finite.
AMP_EPS = 1e-12
#: Cut-off (Hz) of the DC blocker: a 2nd-order Butterworth high-pass run forwards and backwards
#: (zero phase, 4th-order slope), -0.1 dB at 25 Hz (the lowest pitch analysed).
DC_HIGHPASS_HZ = 10.0


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
        ``m = ceil(n * target_sr / orig_sr)``, same dtype family as ``x`` (float).
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


def amp_to_db(x: np.ndarray | float, *, eps: float = AMP_EPS) -> np.ndarray:
    """Amplitude to decibels, ``20 log10(max(|x|, eps))`` (finite for zeros)."""
    return 20.0 * np.log10(np.maximum(np.abs(x), eps))


def frame_signal(x: np.ndarray, *, frame_length: int, hop_length: int, center: bool = True) -> np.ndarray:
    """View a 1-D signal as overlapping frames (zero padding, like ``librosa.util.frame``).

    Returns
    -------
    np.ndarray [shape=(n_frames, frame_length)]
        A read-only strided view when ``center`` is False, a view of a padded copy otherwise.
        ``n_frames = 1 + n // hop_length`` when centred.
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
    """Centred RMS per frame (rectangular window).

    Returns
    -------
    np.ndarray [shape=(1 + n // hop_length,)]
        RMS amplitude per frame (linear, same unit as ``x``).
    """
    x64 = np.asarray(x, dtype=np.float64)
    # Running sum of squares: O(n) whatever the frame length.
    half = frame_length // 2
    padded = np.pad(x64 * x64, (half, frame_length - half))
    csum = np.concatenate(([0.0], np.cumsum(padded)))
    starts = np.arange(0, len(x64) + 1, hop_length)
    energy = csum[starts + frame_length] - csum[starts]
    return np.sqrt(np.maximum(energy, 0.0) / frame_length)
