"""Audio metrics: zero on identity, symmetry where defined, monotone in filter cutoff and attack time,
reference values computed independently, finite on silence, and a fast prepared MSS-mel."""

from __future__ import annotations

import time
from functools import lru_cache

import librosa
import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from synthmatch.errors import AudioError, EmptyAudioError
from synthmatch.metrics import (
    METRICS,
    SCORE_SR,
    MelTarget,
    a_mean,
    compute_metrics,
    f0_error_cents,
    mfccd,
    mss_mel,
    mss_mel_prepared,
    prepare_mss_mel,
    rms_cos,
    sot,
    stft_loss,
)

SR = SCORE_SR
DISTANCES = [n for n, s in METRICS.items() if not s.higher_is_better]
SPECTRAL = ["mss_mel", "wmfcc", "sot", "stft_loss", "mstft_loss", "mel_loss", "mfccd", "a_mean"]


@lru_cache(maxsize=4)
def _noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    x = (0.3 * np.random.default_rng(seed).standard_normal(round(seconds * SR))).astype(np.float32)
    x.setflags(write=False)
    return x


def _lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    return sosfilt(butter(4, cutoff, fs=SR, output="sos"), x).astype(np.float32)


@lru_cache(maxsize=4)
def _harmonic(freq: float = 220.0, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 8)).astype(np.float32)
    x.setflags(write=False)
    return x


def _with_attack(attack_s: float) -> np.ndarray:
    x = _harmonic()
    t = np.arange(len(x)) / SR
    return (0.3 * x * np.minimum(t / attack_s, 1.0) * np.exp(-2.0 * t)).astype(np.float32)


def _sine(freq: float, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- registry -----------------------------------------------------------------------------------------


def test_registry_declares_every_benchmark_metric():
    expected = {
        "mss_mel",
        "wmfcc",
        "sot",
        "rms_cos",
        "stft_loss",
        "mstft_loss",
        "mel_loss",
        "mfccd",
        "a_mean",
        "f0_error_cents",
    }
    assert set(METRICS) == expected
    assert next(iter(METRICS)) == "mss_mel"  # the headline comes first
    assert [n for n, s in METRICS.items() if s.higher_is_better] == ["rms_cos"]
    assert (
        METRICS["mss_mel"].unit == "dB"
        and METRICS["sot"].unit == "Hz"
        and METRICS["f0_error_cents"].unit == "cents"
    )
    for spec in METRICS.values():
        assert spec.name and spec.description and spec.unit and callable(spec.fn)


def test_compute_metrics_selects_names_in_order_and_rejects_unknown():
    x, y = _with_attack(0.01), _with_attack(0.1)
    out = compute_metrics(x, y, SR, names=["sot", "mss_mel"])
    assert list(out) == ["sot", "mss_mel"]
    assert out["mss_mel"] == pytest.approx(mss_mel(x, y)) and out["sot"] == pytest.approx(sot(x, y))
    with pytest.raises(KeyError, match="unknown metric"):
        compute_metrics(x, y, SR, names=["nope"])


def test_a_mean_is_the_combination_of_its_parts():
    x, y = _with_attack(0.01), _lowpass(_with_attack(0.1), 1500.0)
    out = compute_metrics(x, y, SR)
    combined = (out["stft_loss"] + out["mstft_loss"] + out["mel_loss"] + 0.25 * out["mfccd"]) / 4
    assert out["a_mean"] == pytest.approx(combined, rel=1e-9)
    assert a_mean(x, y) == pytest.approx(combined, rel=1e-9)


# --- invariants -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: _with_attack(0.05), lambda: _noise(), lambda: _sine(440.0)])
def test_identical_signals(make):
    x = make()
    out = compute_metrics(x, x.copy(), SR)
    for name in DISTANCES:
        assert out[name] == pytest.approx(0.0, abs=1e-9), name
    assert out["rms_cos"] == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["mss_mel", "sot", "rms_cos", "mfccd"])
def test_symmetric_metrics(name):
    x, y = _with_attack(0.01), _lowpass(_noise(), 2000.0)
    fn = METRICS[name].fn
    assert fn(x, y, SR) == pytest.approx(fn(y, x, SR), rel=1e-6)


def test_spectral_convergence_is_not_symmetric():
    x = _lowpass(_noise(), 1000.0)
    y = _noise()  # much more energy than x
    assert stft_loss(x, y) != pytest.approx(stft_loss(y, x), rel=0.01)


@pytest.mark.parametrize("name", SPECTRAL)
def test_grows_as_the_cutoff_moves_away(name):
    noise = _noise()
    target = _lowpass(noise, 2000.0)
    fn = METRICS[name].fn
    up = [fn(target, _lowpass(noise, c), SR) for c in (2000.0, 2500.0, 4000.0, 8000.0, 16000.0)]
    down = [fn(target, _lowpass(noise, c), SR) for c in (2000.0, 1500.0, 1000.0, 500.0, 250.0)]
    assert up[0] == pytest.approx(0.0, abs=1e-9)
    assert np.all(np.diff(up) > 0), up
    assert np.all(np.diff(down) > 0), down


@pytest.mark.parametrize(
    "name", ["mss_mel", "wmfcc", "stft_loss", "mstft_loss", "mel_loss", "mfccd", "a_mean"]
)
def test_grows_as_the_attack_moves_away(name):
    target = _with_attack(0.01)
    fn = METRICS[name].fn
    values = [fn(target, _with_attack(a), SR) for a in (0.01, 0.03, 0.1, 0.3, 0.6)]
    assert np.all(np.diff(values) > 0), values


def test_rms_cos_falls_as_the_attack_moves_away():
    target = _with_attack(0.01)
    values = [rms_cos(target, _with_attack(a)) for a in (0.01, 0.03, 0.1, 0.3, 0.6)]
    assert values[0] == pytest.approx(1.0)
    assert np.all(np.diff(values) < 0), values
    assert rms_cos(target, 0.1 * target) == pytest.approx(1.0)  # gain-invariant shape comparison


# --- reference values ----------------------------------------------------------------------------------


def _mss_mel_librosa(target: np.ndarray, estimate: np.ndarray, sr: int = SR) -> float:
    """MSS-mel exactly as BENCHMARK.md states it, with librosa calls only."""
    per_scale = []
    for win_s, hop_s, n_mels in [(0.010, 0.005, 32), (0.025, 0.010, 64), (0.100, 0.050, 128)]:
        n_fft, hop = int(win_s * sr), int(hop_s * sr)
        specs = [
            librosa.power_to_db(
                librosa.feature.melspectrogram(
                    y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, window="hann"
                ),
                ref=np.max,
                top_db=80.0,
            )
            for y in (target, estimate)
        ]
        per_scale.append(np.mean(np.abs(specs[0] - specs[1])))
    return float(np.mean(per_scale))


@pytest.mark.parametrize(
    "pair",
    [
        (lambda: _with_attack(0.01), lambda: _with_attack(0.3)),
        (lambda: _lowpass(_noise(), 2000.0), lambda: _noise()),
        (lambda: _sine(440.0), lambda: _harmonic(330.0)),
    ],
)
def test_mss_mel_matches_a_direct_librosa_loop(pair):
    x, y = pair[0](), pair[1]()
    reference = _mss_mel_librosa(x, y)
    assert mss_mel(x, y) == pytest.approx(reference, abs=1e-4)
    assert mss_mel_prepared(prepare_mss_mel(x, SR), y) == pytest.approx(reference, abs=1e-4)


def test_sot_of_two_sines_is_their_frequency_distance():
    # Shifting a spectrum by d Hz moves all its mass by d Hz: W1 = |f1 - f2| in Hz.
    assert sot(_sine(1000.0), _sine(3000.0)) == pytest.approx(2000.0, rel=0.01)
    assert sot(_sine(500.0), _sine(700.0)) == pytest.approx(200.0, rel=0.02)


def test_f0_error_of_detuned_tones():
    assert f0_error_cents(_harmonic(220.0), _harmonic(220.0 * 2 ** (50 / 1200))) == pytest.approx(
        50.0, abs=3.0
    )
    assert f0_error_cents(_harmonic(220.0), _harmonic(440.0)) == pytest.approx(1200.0, abs=5.0)
    assert f0_error_cents(_harmonic(220.0), _noise()) == 1200.0  # one pitched, one not: fixed penalty


def test_rms_cos_reference():
    x = _with_attack(0.01)
    y = _with_attack(0.3)
    a = librosa.feature.rms(y=x, frame_length=2205, hop_length=1102)[0].astype(np.float64)
    b = librosa.feature.rms(y=y, frame_length=2205, hop_length=1102)[0].astype(np.float64)
    assert rms_cos(x, y) == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), rel=1e-6)


# --- edge cases ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["both", "target", "estimate", "tiny"])
def test_silence_gives_finite_values(case):
    x = _with_attack(0.05)
    zero = np.zeros_like(x)
    pairs = {"both": (zero, zero), "target": (zero, x), "estimate": (x, zero), "tiny": (x, 1e-9 * x)}
    out = compute_metrics(*pairs[case], SR)
    assert all(np.isfinite(v) for v in out.values()), out
    if case == "both":
        assert out["rms_cos"] == 1.0 and out["mss_mel"] == 0.0 and out["f0_error_cents"] == 0.0
    if case in ("target", "estimate"):
        assert out["rms_cos"] == 0.0 and out["mss_mel"] > 10.0


def test_shorter_signal_is_zero_padded():
    x = _with_attack(0.01)
    y = _with_attack(0.1)[: len(x) // 2]
    padded = np.concatenate([y, np.zeros(len(x) - len(y), dtype=np.float32)])
    assert compute_metrics(x, y, SR) == compute_metrics(x, padded, SR)
    prepared = prepare_mss_mel(x, SR)
    assert mss_mel_prepared(prepared, y) == pytest.approx(mss_mel(x, padded), abs=1e-9)
    longer = np.concatenate([x, x[:1000]])
    assert mss_mel_prepared(prepared, longer) == pytest.approx(mss_mel(x, longer), abs=1e-9)


def test_other_sample_rates_are_scored_at_44100():
    t = np.arange(22050) / 22050
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = (0.5 * np.sin(2 * np.pi * 660 * t)).astype(np.float32)
    out = compute_metrics(x, y, 22050, names=["mss_mel", "sot"])
    assert out["sot"] == pytest.approx(220.0, rel=0.03)
    assert compute_metrics(x, x, 22050, names=["mss_mel"])["mss_mel"] == 0.0
    prepared = prepare_mss_mel(x, 22050)
    assert isinstance(prepared, MelTarget) and prepared.sample_rate == 22050
    assert mss_mel_prepared(prepared, y) == pytest.approx(out["mss_mel"], abs=1e-9)


@pytest.mark.parametrize(
    ("target", "error", "text"),
    [
        (np.zeros((2, 100), np.float32), AudioError, "mono"),
        (np.zeros(0, np.float32), EmptyAudioError, "no samples"),
        (np.array([0.0, np.nan], np.float32), AudioError, "NaN"),
    ],
)
def test_bad_input(target, error, text):
    with pytest.raises(error, match=text):
        compute_metrics(target, np.zeros(100, np.float32), SR)
    with pytest.raises(error, match=text):
        prepare_mss_mel(target, SR)


def test_mfccd_handles_one_sample():
    assert np.isfinite(mfccd(np.ones(1, np.float32), np.zeros(1, np.float32)))


# --- speed ---------------------------------------------------------------------------------------------


def test_prepared_mss_mel_is_fast():
    x = np.tile(_with_attack(0.01), 4)  # 4 s
    y = np.tile(_with_attack(0.1), 4)
    prepared = prepare_mss_mel(x, SR)
    mss_mel_prepared(prepared, y)
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        mss_mel_prepared(prepared, y)
        times.append(time.perf_counter() - t0)
    # Measured about 3-4 ms on the 2-core CI box; the bound only catches gross regressions.
    assert min(times) < 0.02
    t0 = time.perf_counter()
    compute_metrics(x, y, SR, names=["mss_mel"])
    assert time.perf_counter() - t0 < 0.1
