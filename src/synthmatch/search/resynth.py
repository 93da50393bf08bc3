"""Analysis-driven starts: presets built from the target's own analysis (the ``analysis`` source).

The library and the estimator propose presets somebody made or sampled; for a real recording
none may be near. This source writes a preset from the target itself, with no render:

- **a wavetable resynthesised from its harmonic spectrum over time**: the harmonic amplitudes at
  :data:`N_FRAMES` moments of the note, one keyframe each, with ``osc_1_wave_frame`` swept from the
  first to the last by envelope 2 (what Vital's own audio-to-wavetable import does with a
  sample's cycles, with the sweep's timing fitted to the target);
- **an amplitude envelope** (envelope 1: attack, decay and its curve, sustain, release and its
  curve) fitted to the target's RMS envelope through Vital's measured envelope shape;
- **a noise layer** (the sample oscillator's white noise) at the level of the target's energy
  between its partials, in a proposal of its own;
- **a filter envelope**: one bright keyframe through filter 1, its cutoff moved by envelope 2
  along the target's spectral roll-off trajectory, in another proposal.

The target's audio is never loaded as a sample: every answer is synthesis a user can edit, and
the refiner moves its envelopes, levels and filter like any other preset's.

Measured engine facts this relies on (``vita`` 0.3, Vital 1.5.5; the unit tests render them):
envelope times are ``seconds = value ** 4``; a stage of curve power ``p`` moves along
``(exp(p x) - 1) / (exp(p) - 1)`` of its way (``p = 0``: a straight line); and the voice's
amplitude is the square of envelope 1 (a straight decay of the envelope gives 0.64, 0.36, 0.16
and 0.04 of the peak amplitude at 20, 40, 60 and 80% of it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from synthmatch.dsp import frame_rms, hann_window
from synthmatch.search.proposals import Origin, Proposal, register_source
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.wavetables import FRAME_SIZE, wavetable_from_frames

if TYPE_CHECKING:
    from synthmatch.search.target import Target

#: Keyframes of the resynthesised wavetable (moments of the note analysed).
N_FRAMES = 8
#: Curve power of envelope 2's decay, which sweeps the wave frame: negative, so the sweep spends
#: its early keyframes on the attack, where a real note's spectrum changes fastest (with -3 the
#: second keyframe is at 5% of the sweep's time, the middle one at 23%).
SWEEP_POWER = -3.0
#: The sweep lasts until the target has fallen this far below its peak (dB), or its end.
SWEEP_FLOOR_DB = 50.0
#: Shortest sweep (s).
MIN_SWEEP_S = 0.15
#: Harmonics kept per keyframe (a 2048-sample frame holds up to 1024).
MAX_HARMONICS = 256
#: Harmonic amplitudes this far below a keyframe's strongest are set to 0 (dB).
HARMONIC_FLOOR_DB = 70.0
#: Analysis window: at least this many periods of f0, and at least this many samples.
WINDOW_PERIODS = 6
MIN_WINDOW = 2048
#: RMS envelope of the amplitude fit: frame and hop (samples at 44.1 kHz: 23 ms and 10 ms).
ENV_FRAME = 1024
ENV_HOP = 441
#: Levels below this (dB under the peak) are one floor in the envelope fit, as the benchmark's
#: mel spectrograms (``top_db=80``) see them.
ENV_FLOOR_DB = 80.0
#: A noise layer is proposed when the energy between partials is at least this far up (dB
#: relative to the partials' energy); quieter residuals are the analysis window's leakage.
NOISE_MIN_DB = -30.0
#: The noise layer stands this many dB under the measured energy between the partials, which
#: includes the partials' own vibrato and leakage.
NOISE_MARGIN_DB = 6.0
#: Spectral roll-off of the filter envelope: the frequency under which this share of a frame's
#: energy lies.
ROLLOFF_SHARE = 0.95
#: Filter 1's cutoff stands this many semitones above the roll-off of the bright keyframe at the
#: start of the note, so the filter opens on the attack and closes as the roll-off falls.
CUTOFF_ABOVE_ROLLOFF = 12.0
#: Curve powers and sustain levels the envelope fit's grids try.
_POWERS = (-16.0, -12.0, -8.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0)
_SUSTAINS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Vital's envelope times are ``seconds = value ** ENV_TIME_EXPONENT``.
ENV_TIME_EXPONENT = 4.0

__all__ = [
    "EnvelopeFit",
    "analysis_presets",
    "fit_envelope",
    "harmonic_frames",
    "power_scale",
    "vital_envelope",
]


def power_scale(x: np.ndarray, power: float) -> np.ndarray:
    """How far along its way a Vital envelope stage of curve ``power`` is at fraction ``x``."""
    x = np.clip(x, 0.0, 1.0)
    if abs(power) < 1e-4:
        return x
    return np.expm1(power * x) / math.expm1(power)


def _inverse_power_scale(u: np.ndarray, power: float) -> np.ndarray:
    if abs(power) < 1e-4:
        return u
    return np.log1p(u * math.expm1(power)) / power


@dataclass(frozen=True)
class EnvelopeFit:
    """An amplitude envelope in seconds and curve powers, and its mean error in dB."""

    attack_s: float
    decay_s: float
    decay_power: float
    sustain: float
    release_s: float
    release_power: float
    error_db: float

    def values(self, prefix: str = "env_1") -> dict[str, float]:
        """The envelope's engine controls (``env_1_attack`` ...)."""

        def time(s: float) -> float:
            return float(min(max(s, 0.0), 32.0) ** (1.0 / ENV_TIME_EXPONENT))

        return {
            f"{prefix}_delay": 0.0,
            f"{prefix}_hold": 0.0,
            f"{prefix}_attack": time(self.attack_s),
            f"{prefix}_attack_power": 0.0,
            f"{prefix}_decay": time(self.decay_s),
            f"{prefix}_decay_power": float(np.clip(self.decay_power, -20.0, 20.0)),
            f"{prefix}_sustain": float(np.clip(self.sustain, 0.0, 1.0)),
            f"{prefix}_release": time(self.release_s),
            f"{prefix}_release_power": float(np.clip(self.release_power, -20.0, 20.0)),
        }


def vital_envelope(
    t: np.ndarray,
    *,
    attack_s: float,
    decay_s: float,
    decay_power: float,
    sustain: float,
    release_s: float,
    release_power: float,
    note_s: float,
) -> np.ndarray:
    """Vital's envelope value at times ``t`` (s from the key-down), the key released at ``note_s``."""
    a = max(attack_s, 1e-5)
    env = np.where(
        t < a,
        np.clip(t / a, 0.0, 1.0),
        sustain + (1.0 - sustain) * (1.0 - power_scale((t - a) / max(decay_s, 1e-5), decay_power)),
    )
    at_release = float(np.interp(note_s, t, env)) if len(t) else 0.0
    after = at_release * (1.0 - power_scale((t - note_s) / max(release_s, 1e-5), release_power))
    return np.where(t < note_s, env, after)


def _envelope_db(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame times in s, RMS level in dB under the peak, floored at -ENV_FLOOR_DB)."""
    frame = max(16, round(ENV_FRAME * sample_rate / 44100))
    hop = max(1, round(ENV_HOP * sample_rate / 44100))
    rms = frame_rms(samples.astype(np.float64), frame_length=frame, hop_length=hop)
    db = 20.0 * np.log10(np.maximum(rms, 1e-12) / max(float(rms.max()), 1e-12))
    t = np.arange(len(rms)) * hop / sample_rate
    return t, np.maximum(db, -ENV_FLOOR_DB)


def fit_envelope(samples: np.ndarray, sample_rate: int, *, note_s: float) -> EnvelopeFit:
    """Fit Vital's envelope (amplitude = envelope squared) to the target's RMS envelope in dB.

    The loss is the mean absolute error in dB over the whole clip, both floored at -80 dB. The
    attack is the time to the loudest frame; the decay (time, curve, sustain) is the best of a grid
    on the held part of the note, the release (time, curve) the best of a grid on the rest; a
    Nelder-Mead polish of all six from there keeps whatever lowers the loss."""
    from scipy.optimize import minimize

    t, db = _envelope_db(samples, sample_rate)
    attack = max(float(t[int(np.argmax(db))]), 1e-3)

    def loss_of(params: dict[str, float], upto: float | None = None) -> float:
        env = vital_envelope(t, note_s=note_s, **params)
        model = np.maximum(40.0 * np.log10(np.maximum(env, 1e-12)), -ENV_FLOOR_DB)
        err = np.abs(model - db)
        return float(np.mean(err if upto is None else err[t <= upto]))

    params = {"attack_s": attack, "decay_s": 1.0, "decay_power": -2.0, "sustain": 0.5}
    params.update(release_s=0.1, release_power=-2.0)
    best = math.inf
    for decay in np.geomspace(0.02, 30.0, 24):
        for power in _POWERS:
            for sustain in _SUSTAINS:
                trial = {**params, "decay_s": float(decay), "decay_power": power, "sustain": sustain}
                err = loss_of(trial, upto=note_s)
                if err < best:
                    best, chosen = err, trial
    params = chosen
    best = math.inf
    for release in np.geomspace(0.005, 10.0, 20):
        for power in _POWERS:
            trial = {**params, "release_s": float(release), "release_power": power}
            err = loss_of(trial)
            if err < best:
                best, chosen = err, trial
    params = chosen

    def unpack(z: np.ndarray) -> dict[str, float]:
        return {
            "attack_s": float(np.exp(np.clip(z[0], -9.0, 2.5))),
            "decay_s": float(np.exp(np.clip(z[1], -6.0, 3.4))),
            "decay_power": float(np.clip(z[2], -20.0, 20.0)),
            "sustain": float(np.clip(z[3], 0.0, 1.0)),
            "release_s": float(np.exp(np.clip(z[4], -6.0, 3.4))),
            "release_power": float(np.clip(z[5], -20.0, 20.0)),
        }

    z0 = np.array(
        [
            math.log(params["attack_s"]),
            math.log(params["decay_s"]),
            params["decay_power"],
            params["sustain"],
            math.log(params["release_s"]),
            params["release_power"],
        ]
    )
    res = minimize(lambda z: loss_of(unpack(z)), z0, method="Nelder-Mead", options={"maxiter": 400})
    if res.fun < best:
        params, best = unpack(res.x), float(res.fun)
    return EnvelopeFit(**params, error_db=best)


def _window_for(f0: float, sample_rate: int) -> int:
    n = max(MIN_WINDOW, int(WINDOW_PERIODS * sample_rate / f0))
    return 1 << math.ceil(math.log2(n))


def _harmonic_peaks(mag: np.ndarray, bin_hz: float, f0: float, n_harm: int) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes and frequencies of the partials nearest h·f0, h = 1..n_harm, each searched
    within a quarter of f0 of where the partials under it predict it (a stretched series, as a
    piano's, stays on its partials)."""
    amps = np.zeros(n_harm)
    freqs = np.zeros(n_harm)
    prev, spacing = 0.0, f0
    for h in range(n_harm):
        centre = prev + spacing
        lo = max(0, int((centre - 0.25 * f0) / bin_hz))
        hi = min(len(mag) - 1, math.ceil((centre + 0.25 * f0) / bin_hz))
        if hi <= lo:
            break
        k = lo + int(np.argmax(mag[lo : hi + 1]))
        amps[h] = mag[k]
        freqs[h] = k * bin_hz
        # a peak well above its search band's floor moves the prediction; noise does not
        if h >= 1 and mag[k] > 4.0 * float(np.median(mag[lo : hi + 1])) + 1e-12:
            spacing = float(np.clip(freqs[h] - prev, 0.9 * f0, 1.1 * f0))
        prev = freqs[h] if mag[k] > 0 else centre
    return amps, freqs


def harmonic_frames(
    samples: np.ndarray, sample_rate: int, *, f0: float, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic amplitudes at each of ``times`` (s) [shape=(len(times), H)], and the energy
    between the partials relative to theirs at each time (dB) [shape=(len(times),)].

    Each moment is a Hann window of at least :data:`WINDOW_PERIODS` periods (the first starts at
    the clip's start), zero-padded four times."""
    win = _window_for(f0, sample_rate)
    n_fft = 4 * win
    window = hann_window(win)
    bin_hz = sample_rate / n_fft
    n_harm = int(min(MAX_HARMONICS, FRAME_SIZE // 2 - 1, 0.95 * (sample_rate / 2) // f0))
    n_harm = max(n_harm, 1)
    x = np.concatenate([samples.astype(np.float64), np.zeros(win)])
    amps = np.zeros((len(times), n_harm))
    noise_db = np.full(len(times), -120.0)
    for i, tc in enumerate(times):
        start = int(min(max(tc * sample_rate - win / 2, 0), len(samples) - 1))
        seg = x[start : start + win] * window
        mag = np.abs(np.fft.rfft(seg, n_fft))
        a, f = _harmonic_peaks(mag, bin_hz, f0, n_harm)
        amps[i] = a
        power = mag**2
        top = min(len(power), int(n_harm * f0 * 1.02 / bin_hz))
        total = float(power[:top].sum())
        # the partials' share: each main lobe (4 bins of the padded window either side)
        mask = np.zeros(len(power), bool)
        for fk in f[a > 0]:
            k = round(fk / bin_hz)
            mask[max(0, k - 8) : k + 9] = True
        harm = float(power[:top][mask[:top]].sum())
        noise_db[i] = 10.0 * math.log10(max(total - harm, 1e-20) / max(harm, 1e-20))
    return amps, noise_db


def frames_from_amplitudes(amps: np.ndarray) -> np.ndarray:
    """Single-cycle frames [shape=(n, 2048)] with these harmonic amplitudes, each of unit RMS.

    Every frame gives harmonic ``h`` the same phase (Schroeder's ``pi h^2 / H``, for a low crest
    factor), so the engine's linear blend between keyframes blends amplitudes."""
    n, n_harm = amps.shape
    h = np.arange(1, n_harm + 1)
    phases = np.pi * h**2 / n_harm
    floor = amps.max(axis=1, keepdims=True) * 10.0 ** (-HARMONIC_FLOOR_DB / 20.0)
    a = np.where(amps >= floor, amps, 0.0)
    spectra = np.zeros((n, FRAME_SIZE // 2 + 1), complex)
    spectra[:, 1 : n_harm + 1] = a * np.exp(1j * (phases - np.pi / 2))
    frames = np.fft.irfft(spectra, FRAME_SIZE, axis=1)
    rms = np.sqrt(np.mean(frames**2, axis=1, keepdims=True))
    return (frames / np.maximum(rms, 1e-12)).astype(np.float32)


def _rolloff_midi(amps: np.ndarray, f0: float) -> np.ndarray:
    """Per frame, the MIDI note of the partial under which :data:`ROLLOFF_SHARE` of the energy lies."""
    e = np.cumsum(amps**2, axis=1)
    k = np.argmax(e >= ROLLOFF_SHARE * e[:, -1:], axis=1) + 1
    return 69.0 + 12.0 * np.log2(np.maximum(k * f0, 1.0) / 440.0)


def _sweep_seconds(samples: np.ndarray, sample_rate: int) -> float:
    t, db = _envelope_db(samples, sample_rate)
    i_peak = int(np.argmax(db))
    below = np.nonzero(db[i_peak:] <= -SWEEP_FLOOR_DB)[0]
    end = float(t[i_peak + below[0]]) if len(below) else float(t[-1])
    return max(end, MIN_SWEEP_S)


def _fit_decay(times: np.ndarray, values: np.ndarray, *, sweep_s: float) -> tuple[float, float]:
    """(decay seconds, curve power) of a decay to 0 from 1 that best follows ``values``
    (normalised 1 → 0 over ``times``)."""
    best = (sweep_s, SWEEP_POWER, math.inf)
    for decay in sweep_s * np.geomspace(0.1, 1.5, 12):
        for power in (-8.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0):
            model = 1.0 - power_scale(times / decay, power)
            err = float(np.mean((model - values) ** 2))
            if err < best[2]:
                best = (float(decay), power, err)
    return best[0], best[1]


def analysis_presets(
    samples: np.ndarray,
    sample_rate: int,
    *,
    f0: float | None,
    note: int,
    note_s: float,
) -> list[tuple[str, Preset]]:
    """Presets built from the target's analysis: [(what it is, preset)], the first the best guess.

    ``f0`` is the target's f0 (None: unpitched; the partials of ``note`` then sample its spectral
    envelope), ``note`` the MIDI note it is played at (the voice is transposed and tuned from
    there onto ``f0``), ``note_s`` the key release in seconds from the key-down."""
    note_hz = 440.0 * 2.0 ** ((note - 69) / 12.0)
    f0_hz = f0 or note_hz
    semis = 12.0 * math.log2(f0_hz / note_hz)
    transpose = float(np.clip(round(semis), -48, 48))
    sweep_s = _sweep_seconds(samples, sample_rate)
    u = np.linspace(0.0, 1.0, N_FRAMES)
    times = sweep_s * _inverse_power_scale(u, SWEEP_POWER)
    amps, noise_db = harmonic_frames(samples, sample_rate, f0=f0_hz, times=times)
    frames = frames_from_amplitudes(amps)
    env = fit_envelope(samples, sample_rate, note_s=note_s)
    base = Preset.init()
    common = {
        **env.values("env_1"),
        "voice_transpose": transpose,
        "voice_tune": float(np.clip(semis - transpose, -1.0, 1.0)),
        "osc_1_on": 1.0,
        "osc_1_unison_voices": 1.0,
        "osc_1_wave_frame": 0.0,
    }
    sweep_env = EnvelopeFit(0.0, sweep_s, SWEEP_POWER, 0.0, sweep_s, 0.0, 0.0).values("env_2")

    # 1. the resynthesised wavetable, swept by envelope 2 from the attack's keyframe (at position
    #    256) to the last (at 0): frame = 256 · envelope 2
    positions = [round(256 * (1.0 - v)) for v in u]
    swept = base.with_values(**common, **sweep_env)
    swept.wavetables[0] = wavetable_from_frames(
        frames[::-1], name="synthmatch analysis", positions=positions[::-1]
    )
    swept.modulations = [Modulation("env_2", "osc_1_wave_frame", amount=1.0)]
    out = [("resynthesised wavetable", swept)]

    # 2. the same with a noise layer at the level between the partials on the attack's keyframes
    #    (where a real note's noise is), through filter 2 closed at the partials' roll-off: white
    #    noise reaches far above a real note's partials
    roll = _rolloff_midi(amps, f0_hz)
    early = slice(0, max(2, N_FRAMES // 2))
    noise = float(np.median(noise_db[early]))
    if noise >= NOISE_MIN_DB:
        noisy = swept.with_values(
            sample_on=1.0,
            sample_level=float(np.clip(0.7071 * 10 ** ((noise - NOISE_MARGIN_DB) / 40), 0.02, 1.0)),
            sample_destination=1.0,
            filter_2_on=1.0,
            filter_2_model=0.0,
            filter_2_style=1.0,
            filter_2_blend=0.0,
            filter_2_resonance=0.1,
            filter_2_keytrack=0.0,
            filter_2_mix=1.0,
            filter_2_cutoff=float(np.clip(np.median(roll[early]), 8.0, 136.0)),
            osc_1_destination=3.0,
        )
        out.append(("resynthesised wavetable + noise", noisy))

    # 3. the attack's keyframe through filter 1, its cutoff following the roll-off trajectory
    span = float(roll[0] - roll.min())
    if span >= 3.0:
        decay_s, power = _fit_decay(times, (roll - roll.min()) / span, sweep_s=sweep_s)
        open_at = float(np.clip(roll[0] + CUTOFF_ABOVE_ROLLOFF, 8.0, 136.0))
        closed = float(np.clip(open_at - span, 8.0, 136.0))
        filtered = base.with_values(
            **common,
            **EnvelopeFit(0.0, decay_s, power, 0.0, decay_s, 0.0, 0.0).values("env_2"),
            filter_1_on=1.0,
            filter_1_model=0.0,
            filter_1_style=0.0,
            filter_1_blend=0.0,
            filter_1_resonance=0.1,
            filter_1_keytrack=0.0,
            filter_1_mix=1.0,
            filter_1_cutoff=closed,
            osc_1_destination=0.0,
        )
        filtered.wavetables[0] = wavetable_from_frames(frames[:1], name="synthmatch analysis")
        filtered.modulations = [Modulation("env_2", "filter_1_cutoff", amount=(open_at - closed) / 128.0)]
        out.append(("attack keyframe + filter envelope", filtered))
    for _, p in out:
        p.meta["preset_name"] = "synthmatch analysis"
    return out


@register_source("analysis")
class AnalysisSource:
    """Presets resynthesised from the target's analysis (:func:`analysis_presets`), no render."""

    def __init__(self, matcher: Any) -> None:
        del matcher  # needs nothing but the target

    def propose(self, target: Target, k: int) -> list[Proposal]:
        presets = analysis_presets(
            target.samples,
            target.sample_rate,
            f0=target.f0,
            note=target.probe.note,
            note_s=target.probe.note_seconds,
        )
        return [Proposal(p, Origin("analysis", i)) for i, (_, p) in enumerate(presets[:k])]
