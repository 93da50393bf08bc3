"""Analysis-driven starts (search.resynth): envelope model and fit, harmonic resynthesis, presets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthmatch.render.engine import preset_json_of
from synthmatch.render.probe import Probe
from synthmatch.search.resynth import (
    N_FRAMES,
    analysis_presets,
    fit_envelope,
    frames_from_amplitudes,
    harmonic_frames,
    power_scale,
    vital_envelope,
)
from synthmatch.vital.preset import Preset, check_vital_json
from synthmatch.vital.wavetables import basic_frame, wave_source_frames, wavetable_from_frames

SR = 44100


def _tone(amps: list[float], *, f0: float = 220.0, seconds: float = 1.5, tau: float = 0.4) -> np.ndarray:
    """Harmonics of ``f0`` with amplitudes ``amps``, the upper ones decaying faster."""
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    for h, a in enumerate(amps, start=1):
        y += a * np.exp(-t * h / tau) * np.sin(2 * np.pi * h * f0 * t)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def test_power_scale_is_a_straight_line_at_zero_and_bends_either_way():
    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(power_scale(x, 0.0), x)
    for p in (-4.0, 3.0):
        y = power_scale(x, p)
        assert y[0] == pytest.approx(0.0) and y[-1] == pytest.approx(1.0)
        assert np.all(np.diff(y) > 0)
    assert power_scale(np.array([0.5]), -4.0)[0] > 0.5 > power_scale(np.array([0.5]), 4.0)[0]


def test_vital_envelope_attacks_decays_to_sustain_and_releases():
    t = np.linspace(0, 2, 2001)
    env = vital_envelope(
        t,
        attack_s=0.1,
        decay_s=0.5,
        decay_power=0.0,
        sustain=0.4,
        release_s=0.2,
        release_power=0.0,
        note_s=1.0,
    )
    assert env[0] == pytest.approx(0.0)
    assert env[100] == pytest.approx(1.0, abs=1e-3)  # the attack's end
    assert env[350] == pytest.approx(0.4 + 0.6 * 0.5, abs=1e-3)  # half the decay
    assert env[900] == pytest.approx(0.4, abs=1e-3)  # sustain
    assert env[1100] == pytest.approx(0.2, abs=1e-3)  # half the release
    assert env[1500] == pytest.approx(0.0, abs=1e-6)


def test_the_engine_amplitude_is_envelope_1_squared_along_its_curve(render_pool):
    # the engine facts the envelope fit relies on: seconds = value ** 4, amplitude = envelope ** 2
    sine = wavetable_from_frames(basic_frame("sine")[None])
    p = Preset.init().with_values(
        env_1_attack=0.0, env_1_decay=0.5**0.25, env_1_sustain=0.0, env_1_decay_power=0.0
    )
    p.wavetables[0] = sine
    # rendered in a worker: the engine sets flush-to-zero in the process that runs it
    probe = Probe(note=60, velocity=0.8, note_seconds=0.9, render_seconds=1.0)
    y = render_pool.render([preset_json_of(p)], probe)[0].mono
    hop = 441
    rms = np.sqrt(np.mean(y[: len(y) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    rel = rms / rms[:2].max()
    for frac, expected in ((0.2, 0.64), (0.4, 0.36), (0.6, 0.16)):
        assert rel[int(frac * 0.5 * SR / hop)] == pytest.approx(expected, abs=0.04)


def test_fit_envelope_recovers_a_known_envelope():
    t = np.arange(int(2.0 * SR)) / SR
    truth = {"attack_s": 0.02, "decay_s": 0.6, "decay_power": -3.0, "sustain": 0.5, "release_s": 0.3}
    env = vital_envelope(t, release_power=-2.0, note_s=1.2, **truth)
    y = (env**2 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    fit = fit_envelope(y, SR, note_s=1.2)
    assert fit.error_db < 1.5
    assert fit.sustain == pytest.approx(0.5, abs=0.1)
    assert fit.attack_s == pytest.approx(0.02, abs=0.02)
    # decay time and curve trade off against each other: the curve is what must match
    fitted = vital_envelope(t, note_s=1.2, **{k: v for k, v in vars(fit).items() if k != "error_db"})
    audible = (t > 0.03) & (t < 1.4)
    assert np.max(np.abs(40 * np.log10(fitted[audible] / env[audible]))) < 1.5


def test_harmonic_frames_read_the_partials_of_a_decaying_tone():
    y = _tone([1.0, 0.5, 0.25])
    amps, noise_db = harmonic_frames(y, SR, f0=220.0, times=np.array([0.05, 0.5]))
    early = amps[0, :3] / amps[0, 0]
    # at 50 ms, partial h has decayed by exp(-0.05 h / 0.4) since the start
    expected = np.array([1.0, 0.5, 0.25]) * np.exp(-0.05 * np.arange(3) / 0.4)
    np.testing.assert_allclose(early, expected, rtol=0.05)
    late = amps[1, :3] / amps[1, 0]
    assert late[1] < early[1] and late[2] < early[2]  # the upper partials decay faster
    assert np.all(amps[:, 5:] < 1e-3 * amps[:, :1])  # nothing where the tone has no partial
    assert np.all(noise_db < -20.0)


def test_frames_from_amplitudes_have_unit_rms_and_those_harmonics():
    amps = np.array([[1.0, 0.5, 0.0, 0.25], [0.2, 1.0, 0.0, 0.0]])
    frames = frames_from_amplitudes(amps)
    assert frames.shape == (2, 2048)
    np.testing.assert_allclose(np.sqrt(np.mean(frames**2, axis=1)), 1.0, rtol=1e-5)
    spectrum = np.abs(np.fft.rfft(frames, axis=1))[:, 1:5]
    np.testing.assert_allclose(
        spectrum / spectrum.max(axis=1, keepdims=True), amps / amps.max(axis=1, keepdims=True), atol=1e-4
    )


def test_analysis_presets_are_valid_presets_that_open_in_vital():
    y = _tone([1.0, 0.6, 0.3, 0.2])
    f0 = 220.0 * 2 ** (20 / 1200)  # 20 cents over A3 (MIDI 57)
    presets = analysis_presets(y, SR, f0=f0, note=57, note_s=1.0)
    assert presets[0][0] == "resynthesised wavetable"
    for _, p in presets:
        doc = json.loads(p.to_json())
        assert check_vital_json(doc) == []
        assert Preset.from_vital(doc).values["voice_tune"] == pytest.approx(0.2, abs=1e-3)
        for m in p.modulations:
            m.validate()  # names the engine knows (unknown ones crash it)
    swept = presets[0][1]
    frames = wave_source_frames(swept.wavetables[0])
    assert frames is not None and frames.shape == (N_FRAMES, 2048)
    positions = [k["position"] for k in swept.wavetables[0]["groups"][0]["components"][0]["keyframes"]]
    assert positions == sorted(positions) and positions[0] == 0 and positions[-1] == 256
    assert [(m.source, m.destination, m.amount) for m in swept.modulations] == [
        ("env_2", "osc_1_wave_frame", 1.0)
    ]


def test_an_analysis_start_sounds_nearer_the_target_than_the_init_preset(render_pool):
    from synthmatch.search.scoring import make_score

    y = _tone([1.0, 0.7, 0.5, 0.3, 0.2], seconds=2.0)
    probe = Probe(note=57, velocity=0.8, note_seconds=1.5, render_seconds=2.0)
    score = make_score(y, probe, target_f0=220.0)
    preset = analysis_presets(y, SR, f0=220.0, note=57, note_s=1.5)[0][1]

    def scored(p: Preset) -> float:
        return score(render_pool.render([preset_json_of(p)], probe)[0].mono.astype(np.float32))

    assert scored(preset) < 0.5 * scored(Preset.init())
