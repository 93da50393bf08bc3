"""Audio descriptors on synthetic notes with known answers."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from synthmatch.errors import AudioError
from synthmatch.explain.descriptors import describe_audio, note_name

SR = 44100
NOTE_OFF = 1.0


@functools.cache
def _time() -> np.ndarray:
    return np.arange(int(1.5 * SR)) / SR


def _envelope(attack: float, decay: float, sustain: float, release: float = 0.1) -> np.ndarray:
    t = _time()
    rise = np.minimum(t / attack, 1.0) if attack > 0 else np.ones_like(t)
    fall = np.where(t > attack, sustain + (1 - sustain) * np.exp(-(t - attack) / decay), 1.0)
    env = rise * fall
    return np.where(t > NOTE_OFF, env * np.exp(-(t - NOTE_OFF) / release), env)


def _saw(f0: float, n_harmonics: int = 30) -> np.ndarray:
    t = _time()
    return 0.3 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, n_harmonics + 1))


@pytest.mark.parametrize("f0", [55.0, 261.63, 880.0])
def test_pitch_of_a_saw(f0):
    d = describe_audio(
        _saw(f0, n_harmonics=int(10000 / f0)) * _envelope(0.01, 0.3, 0.7), SR, note_seconds=NOTE_OFF
    )
    assert d.pitch_hz == pytest.approx(f0, rel=0.005)
    assert d.pitch_note == note_name(f0)


def test_pluck_versus_pad():
    pluck = describe_audio(
        np.sin(2 * np.pi * 220 * _time()) * _envelope(0.002, 0.1, 0.0), SR, note_seconds=NOTE_OFF
    )
    pad = describe_audio(_saw(220) * _envelope(0.4, 0.3, 0.8, release=0.4), SR, note_seconds=NOTE_OFF)
    assert pluck.attack_s < 0.01 < 0.2 < pad.attack_s < 0.5
    assert pluck.sustain_db < -30 and pad.sustain_db > -6
    assert "plucked" in pluck.tags and "swelling" in pad.tags
    assert pad.release_s is not None and pluck.release_s is not None
    # 40 dB at a 0.4 s time constant is ≈ 1.8 s: cut at the end of the signal, 0.5 s after note-off
    assert pad.release_s > 0.45 > 0.3 > pluck.release_s
    assert "dies away" in pluck.text and "holds its level" in pad.text


def test_brightness_orders_sine_below_saw():
    env = _envelope(0.005, 0.3, 0.7)
    sine = describe_audio(np.sin(2 * np.pi * 220 * _time()) * env, SR, pitch=False)
    saw = describe_audio(_saw(220) * env, SR, pitch=False)
    assert sine.brightness_hz == pytest.approx(220, rel=0.05)
    assert saw.brightness_hz > 2 * sine.brightness_hz
    assert sine.pitch_hz is None  # pitch=False skips it


def test_noise_is_noisy_and_unpitched():
    rng = np.random.default_rng(0)
    d = describe_audio(
        rng.standard_normal(_time().size) * 0.2 * _envelope(0.001, 0.3, 0.5), SR, note_seconds=NOTE_OFF
    )
    assert d.noisiness > 0.3 and "noisy" in d.tags
    assert d.pitch_hz is None and "without a clear pitch" in d.text


def test_movement_sees_a_filter_sweep():
    t = _time()
    static = _saw(110) * _envelope(0.005, 0.3, 0.8)
    # a tremolo-like spectral change: the upper harmonics come and go at 3 Hz
    bright = 0.3 * sum(np.sin(2 * np.pi * 110 * k * t) / k for k in range(6, 40))
    moving = static + bright * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) * _envelope(0.005, 0.3, 0.8)
    a = describe_audio(static, SR, note_seconds=NOTE_OFF, pitch=False)
    b = describe_audio(moving, SR, note_seconds=NOTE_OFF, pitch=False)
    assert b.movement > 3 * a.movement


def test_silence_and_bad_input():
    d = describe_audio(np.zeros(SR), SR)
    assert d.tags == ["silent"] and "silent" in d.text
    with pytest.raises(AudioError, match="non-finite"):
        describe_audio(np.full(SR, np.nan), SR)
    stereo = np.stack([_saw(220), _saw(220)]) * _envelope(0.01, 0.3, 0.7)
    assert describe_audio(stereo, SR, pitch=False).brightness_hz > 0
    again = type(d).from_dict(d.to_dict())
    assert again == d
