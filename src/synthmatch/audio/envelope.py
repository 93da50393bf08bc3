"""Note length of a one-shot: the RMS envelope and the release point (used by :mod:`synthmatch.audio.analysis`).

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
benchmark's sampler (revision 6), the median error over audible releases is 33-51 ms per seed, 24-33 ms
without a delay: delay echoes, gated or arpeggiated sounds and releases that start flat make
the rest harder (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.ndimage import uniform_filter1d

from synthmatch.dsp import amp_to_db, db_to_power, frame_rms, power_to_db

__all__ = ["ENV_FRAME_S", "ENV_HOP_S", "ONSET_DB", "envelope_db", "release_time"]

#: RMS envelope frame and hop (s): 1024 and 256 samples at 44.1 kHz.
ENV_FRAME_S = 1024 / 44100
ENV_HOP_S = 256 / 44100
#: The onset is the first sample within this many dB of the peak.
ONSET_DB = 50.0
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


def envelope_db(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """RMS envelope in dBFS: 23 ms frames, 5.8 ms hop. Returns (levels, hop in seconds)."""
    hop = max(1, round(ENV_HOP_S * sr))
    frame = max(4, round(ENV_FRAME_S * sr))
    return amp_to_db(frame_rms(x, frame_length=frame, hop_length=hop)), hop / sr


def release_time(
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
    power = uniform_filter1d(db_to_power(env_db), max(1, round(_SMOOTH_S / dt)), mode="nearest")
    smooth = np.maximum(power_to_db(power, eps=1e-30), floor)
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
    attack_s = (i_peak - int(np.argmax(env_db >= peak - ONSET_DB))) * dt
    if not sustained and attack_s < 0.05:
        i_fade = int(last_above(peak - _FADE_DB))
        return float(min(t[min(i_fade, len(t) - 1)], duration)), "fade"

    # A centred envelope frame starts to lose level half a frame before the key-up.
    return _first_step(m, dt, i_peak, float(t[i_knee]) + ENV_FRAME_S / 2), "release"


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
