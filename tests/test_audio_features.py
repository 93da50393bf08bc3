"""Features: the log-mel config round-trips, the embedding registry, the hand-crafted embedding's invariants."""

from __future__ import annotations

import time

import librosa
import numpy as np
import pytest

from synthmatch.audio.features import (
    EMBEDDINGS,
    HandcraftedConfig,
    LogMelConfig,
    available_embeddings,
    get_embedding,
    log_mel,
    register_embedding,
)

SR = 44100


def _sine(freq: float, seconds: float, amp: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _note(
    freq: float, *, attack: float = 0.01, decay_s: float = 1.0, seconds: float = 4.0, sr: int = SR
) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    saw = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 12))
    env = np.minimum(t / attack, 1.0) * np.exp(-t / decay_s)
    return (0.3 * saw * env).astype(np.float32)


# --- log-mel ----------------------------------------------------------------------------------------------


def test_log_mel_config_round_trip():
    cfg = LogMelConfig(n_mels=80, fmax=8000.0, hop_length=256)
    assert LogMelConfig.from_dict(cfg.to_dict()) == cfg
    assert LogMelConfig.from_dict(None) == LogMelConfig()
    assert LogMelConfig.from_dict({"n_mels": 32}).n_mels == 32


def test_log_mel_shape_dtype_and_level():
    cfg = LogMelConfig()
    x = _sine(1000.0, 1.0)
    m = log_mel(x, cfg)
    assert m.dtype == np.float32 and m.shape == (cfg.n_mels, 1 + len(x) // cfg.hop_length)
    # A full-scale sine reads about 0 dB in its band; the floor is -top_db.
    assert m.max() == pytest.approx(0.0, abs=1.5)
    assert m.min() >= -cfg.top_db
    band = int(np.argmax(m[:, m.shape[1] // 2]))
    edges = librosa.mel_frequencies(n_mels=cfg.n_mels + 2, fmin=cfg.fmin, fmax=SR / 2)
    assert edges[band] <= 1000.0 <= edges[band + 2]  # the band's triangle covers the tone
    quieter = log_mel(0.1 * x, cfg)
    assert np.median(quieter[band] - m[band]) == pytest.approx(-20.0, abs=0.1)


def test_log_mel_of_silence_is_the_floor():
    m = log_mel(np.zeros(SR // 2, dtype=np.float32), LogMelConfig(top_db=70.0))
    assert np.all(m == pytest.approx(-70.0))


# --- registry -----------------------------------------------------------------------------------------------


def test_registry_lists_and_builds():
    assert "handcrafted" in available_embeddings()
    emb = get_embedding("handcrafted")
    assert emb.name == "handcrafted" and isinstance(emb.config, HandcraftedConfig)
    with pytest.raises(KeyError, match=r"unknown embedding 'nope'.*handcrafted"):
        get_embedding("nope")


def test_register_a_new_embedding():
    @register_embedding("test-rms")
    class RMS:
        dim = 1

        def __init__(self, **config):
            self.config = config

        def embed(self, samples, sample_rate):
            return np.array([np.sqrt(np.mean(np.square(samples)))], dtype=np.float32)

    try:
        assert RMS.name == "test-rms" and "test-rms" in available_embeddings()
        assert get_embedding("test-rms").embed(np.ones(10), SR)[0] == pytest.approx(1.0)
        with pytest.raises(ValueError, match="already registered"):
            register_embedding("test-rms")(type("Other", (), {}))
    finally:
        EMBEDDINGS.pop("test-rms", None)
    assert "test-rms" not in available_embeddings()


# --- hand-crafted embedding ---------------------------------------------------------------------------------


def test_handcrafted_layout_and_shape():
    emb = get_embedding("handcrafted")
    assert sum(emb.blocks.values()) == emb.dim == 258
    v = emb.embed(_note(220.0), SR)
    assert v.shape == (emb.dim,) and v.dtype == np.float32 and np.all(np.isfinite(v))


def test_handcrafted_is_deterministic_and_batch_equals_single():
    emb = get_embedding("handcrafted")
    clips = [_note(110.0), _note(440.0, attack=0.3), _note(880.0, decay_s=0.2)]
    single = np.stack([emb.embed(c, SR) for c in clips])
    np.testing.assert_array_equal(single, emb.embed_batch(clips, SR))
    np.testing.assert_array_equal(emb.embed(clips[0], SR), emb.embed(clips[0].copy(), SR))
    assert emb.embed_batch([], SR).shape == (0, emb.dim)


def test_handcrafted_config_round_trip_rebuilds_the_same_embedding():
    emb = get_embedding("handcrafted", n_envelope=16, n_mfcc=10)
    again = get_embedding("handcrafted", **emb.config.to_dict())
    assert again.dim == emb.dim == 258 - 8 - 6
    assert HandcraftedConfig.from_dict(emb.config.to_dict()) == emb.config
    x = _note(330.0)
    np.testing.assert_array_equal(emb.embed(x, SR), again.embed(x, SR))


def test_handcrafted_ignores_gain_and_tracks_timbre_and_envelope():
    emb = get_embedding("handcrafted")
    x = _note(220.0)
    v = emb.embed(x, SR)
    np.testing.assert_allclose(emb.embed(0.25 * x, SR), v, atol=1e-4)

    def dist(y: np.ndarray) -> float:
        return float(np.linalg.norm(emb.embed(y, SR) - v))

    rng = np.random.default_rng(0)
    near = dist(_note(220.0 * 2 ** (3 / 1200)))  # 3 cents sharp
    slower_attack = dist(_note(220.0, attack=0.3))
    shorter = dist(_note(220.0, decay_s=0.2))
    other_pitch = dist(_note(880.0))
    noise = dist((0.3 * rng.standard_normal(len(x))).astype(np.float32))
    assert near < 0.05 < min(slower_attack, shorter, other_pitch)
    assert max(slower_attack, shorter, other_pitch) < noise


def test_handcrafted_pads_short_clips_and_resamples():
    emb = get_embedding("handcrafted")
    short = _note(220.0, seconds=1.0)
    padded = np.concatenate([short, np.zeros(3 * SR, dtype=np.float32)])
    np.testing.assert_allclose(emb.embed(short, SR), emb.embed(padded, SR), atol=1e-6)
    same_at_48k = emb.embed(_note(220.0, sr=48000), 48000)
    assert np.linalg.norm(same_at_48k - emb.embed(_note(220.0), SR)) < 0.05


def test_handcrafted_silence_is_finite():
    emb = get_embedding("handcrafted")
    assert np.all(np.isfinite(emb.embed(np.zeros(SR, dtype=np.float32), SR)))


def test_handcrafted_is_fast():
    emb = get_embedding("handcrafted")
    x = _note(220.0)
    emb.embed(x, SR)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        emb.embed(x, SR)
        times.append(time.perf_counter() - t0)
    assert min(times) < 0.03
