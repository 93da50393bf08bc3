"""Render statistics stored with every dataset item, and the checks that reject degenerate renders.

Definitions (mono = mean of the two channels, ``eps`` = 1e-12):

* ``peak_db`` — 20·log10(max |mono|).
* ``rms_db`` — 20·log10 of the RMS of the whole render.
* ``centroid_hz`` — power-weighted mean frequency of the render's average power spectrum
  (non-overlapping Hann frames of 2048 samples).
* ``flatness`` — geometric over arithmetic mean of that average power spectrum (0 tonal … 1 noise).
* ``attack_s`` — time between the RMS envelope (:func:`synthmatch.dsp.frame_rms`: centred
  1024-sample frames, hop 256) first reaching 10 % and 90 % of its maximum.
* ``tail_s`` — time from note-off until the envelope stays 40 dB below its maximum (the render's
  end when it never does).
* ``stereo_width`` — side energy over mid plus side energy, in [0, 1].
"""

from __future__ import annotations

import numpy as np

from synthmatch.dsp import amp_to_db, db_to_amp, frame_rms

#: The stats stored per item, in column order.
STAT_NAMES: tuple[str, ...] = (
    "peak_db",
    "rms_db",
    "centroid_hz",
    "flatness",
    "attack_s",
    "tail_s",
    "stereo_width",
)

_EPS = 1e-12
_N_FFT = 2048
_ENV_FRAME = 1024
_ENV_HOP = 256


def _mean_power_spectrum(mono: np.ndarray) -> np.ndarray:
    """Average power spectrum over non-overlapping Hann frames [shape=(N_FFT // 2 + 1,)]."""
    from scipy import fft

    x = np.asarray(mono, dtype=np.float32)
    n_frames = max(1, len(x) // _N_FFT)
    if len(x) < n_frames * _N_FFT:
        x = np.pad(x, (0, n_frames * _N_FFT - len(x)))
    frames = x[: n_frames * _N_FFT].reshape(n_frames, _N_FFT) * np.hanning(_N_FFT).astype(np.float32)
    spec = fft.rfft(frames, axis=1, workers=1)
    return (spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2).mean(axis=0)


def render_stats(audio: np.ndarray, *, sample_rate: int, note_seconds: float) -> np.ndarray:
    """The :data:`STAT_NAMES` of one render.

    Parameters
    ----------
    audio : np.ndarray [shape=(2, n) or (n,)]
        The render (channels first).
    sample_rate : int
        Hz.
    note_seconds : float
        When the note was released (for ``tail_s``).

    Returns
    -------
    np.ndarray float32 [shape=(len(STAT_NAMES),)]
    """
    a = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    mono = a.mean(axis=0)
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    rms = float(np.sqrt(np.mean(mono * mono))) if mono.size else 0.0
    power = _mean_power_spectrum(mono)
    freqs = np.fft.rfftfreq(_N_FFT, 1.0 / sample_rate)
    total = float(power.sum())
    centroid = float((freqs * power).sum() / total) if total > _EPS else 0.0
    flat = float(np.exp(np.mean(np.log(power + _EPS))) / (np.mean(power) + _EPS)) if total > _EPS else 0.0
    env = frame_rms(mono, frame_length=_ENV_FRAME, hop_length=_ENV_HOP)
    emax = float(env.max()) if env.size else 0.0
    dt = _ENV_HOP / sample_rate
    if emax > _EPS:
        t10 = int(np.argmax(env >= 0.1 * emax))
        t90 = int(np.argmax(env >= 0.9 * emax))
        attack = max(t90 - t10, 0) * dt
        off = min(round(note_seconds / dt), len(env) - 1)
        loud = np.nonzero(env[off:] >= emax * db_to_amp(-40.0))[0]
        tail = (loud[-1] + 1) * dt if loud.size else 0.0
    else:
        attack = tail = 0.0
    if a.shape[0] >= 2:
        mid = 0.5 * (a[0] + a[1])
        side = 0.5 * (a[0] - a[1])
        em, es = float(np.sum(mid * mid)), float(np.sum(side * side))
        width = es / (em + es) if em + es > _EPS else 0.0
    else:
        width = 0.0
    return np.array(
        [
            amp_to_db(peak, eps=_EPS),
            amp_to_db(rms, eps=_EPS),
            centroid,
            flat,
            attack,
            tail,
            width,
        ],
        dtype=np.float32,
    )


def degenerate_reason(audio: np.ndarray, stats: np.ndarray, *, min_rms_db: float) -> str | None:
    """Why an otherwise valid render is useless for a dataset, or None.

    ``degenerate-quiet``: its RMS is below ``min_rms_db`` dBFS (an inaudible tail or a far-off
    attack). ``degenerate-dc``: it holds no varying signal (standard deviation below 1e-4).
    """
    rms_db = float(stats[STAT_NAMES.index("rms_db")])
    if rms_db < min_rms_db:
        return "degenerate-quiet"
    mono = np.asarray(audio, dtype=np.float64)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    if float(np.std(mono)) < 1e-4:
        return "degenerate-dc"
    return None
