"""Displayed values: our formatter against the engine's own text, and parse ∘ display round trips."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from synthmatch.errors import ParameterError
from synthmatch.explain.display import (
    DisplayValue,
    base_unit,
    display_text,
    display_value,
    option_names,
    parse_display,
)
from synthmatch.vital import tables
from synthmatch.vital.effects import encode_order
from synthmatch.vital.spec import default_space

# Our units in the engine's base unit (seconds, Hz) for the comparison with vita's text.
_TO_BASE = {"ms": 1e-3, "kHz": 1e3}
# Engine unit strings that are in milliseconds.
_ENGINE_MS = ("ms",)
# Documented deviations: cutoffs in Hz (the engine shows semitones).
_CUTOFF = re.compile(
    r"filter_(1|2|fx)_cutoff|chorus_cutoff|delay_filter_cutoff|distortion_filter_cutoff"
    r"|eq_(low|band|high)_cutoff|flanger_center|phaser_center"
    r"|reverb_(high|low)_shelf_cutoff|reverb_pre_(high|low)_cutoff"
)


def _sample_values(name: str, rng: np.random.Generator) -> list[float]:
    """min, max, default and two random valid values of a control (valid per the space)."""
    info = tables.controls()[name]
    space = default_space()
    spec = space.by_name.get(name)
    if spec is not None and spec.kind == "categorical":
        vals = list(spec.values)
        return [vals[0], vals[-1], *rng.choice(vals, size=2)]
    raw = [info.min, info.max, info.default, *rng.uniform(info.min, info.max, size=2)]
    if info.scale == "Indexed":
        raw = [float(round(v)) for v in raw]
    return [float(v) for v in raw]


def _engine_names() -> list[str]:
    names = [n for n in tables.controls() if not n.startswith("modulation_")]
    names += [f"modulation_1_{p}" for p in ("amount", "power", "bipolar", "stereo", "bypass")]
    return sorted(names)


def test_formatter_matches_vita_text_for_every_control():
    vita = pytest.importorskip("vita")
    synth = vita.Synth()
    controls = synth.get_controls()
    rng = np.random.default_rng(0)
    checked = deviations = 0
    for name in _engine_names():
        if name in ("effect_chain_order", "bypass"):
            continue
        info = tables.controls()[name]
        for v in _sample_values(name, rng):
            controls[name].set(v)
            engine = synth.get_control_text(name)
            ours = display_value(name, v)
            checked += 1
            opts = option_names(name)
            if opts is not None:
                if re.fullmatch(r"filter_(1|2|fx)_style", name) or re.fullmatch(
                    r"osc_[123]_distortion_type", name
                ):
                    # deviation: model-dependent style names / "FM <- Osc 2" instead of "FM <- Osc"
                    assert ours.text.startswith(engine.strip()) or ours.text in opts
                    deviations += ours.text != engine
                else:
                    assert ours.text == engine, (name, v, engine, ours)
                continue
            number = float(re.match(r"\s*(-?[\d.]+)", engine).group(1))
            unit = info.units.strip()
            if _CUTOFF.fullmatch(name):
                # deviation: the engine shows (v + post_offset) semitones, we show Hz
                semis = number - info.post_offset
                expected = 440.0 * 2 ** ((semis - 69) / 12)
                deviations += 1
            elif unit in _ENGINE_MS:
                expected = number / 1000.0
            else:
                expected = number
            ours_number = float(ours.text) * _TO_BASE.get(ours.unit, 1.0)
            # the engine prints %f (6 decimals); we print as many digits as the value needs
            assert math.isclose(
                ours_number, expected, rel_tol=1e-5, abs_tol=2e-6 * max(1.0, abs(expected))
            ), (
                name,
                v,
                engine,
                str(ours),
            )
    assert checked > 2000
    assert deviations > 0


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("filter_1_cutoff", 69.0, DisplayValue("440", "Hz")),
        ("filter_1_cutoff", 81.0, DisplayValue("880", "Hz")),
        ("filter_2_cutoff", 117.0, DisplayValue("7.04", "kHz")),
        ("env_1_attack", 0.5**0.25, DisplayValue("500", "ms")),
        ("env_1_decay", 1.0, DisplayValue("1", "s")),
        ("lfo_1_frequency", 1.0, DisplayValue("500", "ms")),  # period, as Vital: 1 / 2^v seconds
        ("lfo_1_smooth_time", -3.0, DisplayValue("125", "ms")),  # 2^v seconds
        ("reverb_chorus_frequency", -2.0, DisplayValue("0.25", "Hz")),
        ("osc_1_level", 0.5, DisplayValue("0.25")),  # quadratic
        ("osc_1_transpose", -12.0, DisplayValue("-12", "semitones")),
        ("osc_1_tune", 0.25, DisplayValue("25", "cents")),
        ("osc_1_phase", 0.5, DisplayValue("180", "°")),
        ("osc_1_unison_voices", 7.0, DisplayValue("7", "voices")),
        ("chorus_voices", 2.0, DisplayValue("8", "voices")),
        ("filter_1_resonance", 0.35, DisplayValue("35", "%")),
        ("volume", 64.0**2, DisplayValue("-16", "dB")),  # sqrt(v) - 80
        ("beats_per_minute", 2.0, DisplayValue("120", "BPM")),
        ("osc_1_on", 1.0, DisplayValue("On")),
        ("delay_tempo", 9.0, DisplayValue("2/1")),
        ("osc_2_distortion_type", 7.0, DisplayValue("FM <- Osc 1")),
        ("osc_2_distortion_type", 8.0, DisplayValue("FM <- Osc 3")),
    ],
)
def test_known_displays(name, value, expected):
    assert display_value(name, value) == expected
    assert parse_display(name, expected) == pytest.approx(value, rel=1e-6, abs=1e-9)


def test_filter_style_names_depend_on_the_model():
    assert display_text("filter_1_style", 1.0, context={"filter_1_model": 0.0}) == "24dB"
    assert display_text("filter_1_style", 1.0, context={"filter_1_model": 6.0}) == "Low High Flange+"
    assert display_text("filter_1_style", 0.0, context={"filter_1_model": 5.0}) == "AOIE"
    assert parse_display("filter_1_style", "Band Spread Comb", context={"filter_1_model": 6.0}) == 3.0
    with pytest.raises(ParameterError, match="Hint"):
        parse_display("filter_1_style", "Band Spread Comb", context={"filter_1_model": 0.0})


def test_parse_accepts_units_and_spellings():
    assert parse_display("filter_1_cutoff", "2.4kHz") == pytest.approx(
        parse_display("filter_1_cutoff", "2400 Hz")
    )
    assert parse_display("filter_1_cutoff", "440") == pytest.approx(69.0)  # base unit: Hz
    assert parse_display("env_1_release", "0.5 s") == pytest.approx(parse_display("env_1_release", "500 ms"))
    assert parse_display("env_1_release", "0.5 secs") == pytest.approx(0.5**0.25)
    assert parse_display("osc_1_transpose", "−7 semitones") == -7.0  # unicode minus
    assert parse_display("osc_1_on", "on") == 1.0
    assert parse_display("osc_1_unison_voices", "1 voice") == 1.0
    assert display_text("osc_1_unison_voices", 1.0) == "1 voice"
    with pytest.raises(ParameterError, match="shown in 'Hz'"):
        parse_display("filter_1_cutoff", "3 dB")
    with pytest.raises(ParameterError, match="not an option"):
        parse_display("distortion_type", "Fuzz")


def test_parse_clamps_to_the_valid_range():
    assert parse_display("filter_1_resonance", "150%") == 1.0
    assert parse_display("osc_1_unison_voices", "40 voices") == 16.0
    assert parse_display("osc_1_destination", "7") == 4.0  # destinations 5-13 render silence


def test_effect_order_display_and_partial_parse():
    order = [3, 0, 8, 1, 2, 4, 5, 6, 7]  # distortion, chorus, reverb first
    code = encode_order(order)
    assert display_text("effect_chain_order", code).startswith("Distortion → Chorus → Reverb → Compressor")
    assert parse_display("effect_chain_order", "Distortion → Chorus → Reverb") == code
    assert parse_display("effect_chain_order", "distortion -> chorus -> reverb") == code
    with pytest.raises(ParameterError, match="unknown effect"):
        parse_display("effect_chain_order", "Distortion → Wah")


def test_parse_display_round_trip_is_exact_in_float32():
    """parse ∘ display gives back the stored 32-bit value for every control of the space."""
    space = default_space()
    rng = np.random.default_rng(7)
    n = 0
    for name in space.control_names():
        spec = space[name]
        for _ in range(6):
            v = spec.from_normalized(float(rng.random()))
            context = {"filter_1_model": 0.0, "filter_2_model": 0.0, "filter_fx_model": 0.0}
            if name.endswith("_style") and name.startswith("filter_"):
                v = min(v, 4.0)
            back = parse_display(name, display_value(name, v, context=context), context=context)
            assert np.float32(back) == np.float32(v), (name, v, display_text(name, v, context=context), back)
            n += 1
    assert n > 2000


def test_display_is_short_for_typed_values_and_long_only_when_needed():
    assert display_text("filter_1_resonance", 0.5) == "50%"
    assert display_text("env_1_sustain", 0.75) == "0.75"
    stored = float(np.float32(0.5476))  # a value as Vital stores it (float32)
    text = display_value("env_1_release", stored)
    assert np.float32(parse_display("env_1_release", text)) == np.float32(stored)
    assert len(text.text.replace(".", "").lstrip("0")) <= 9


def test_every_control_has_a_unit_or_options():
    """No control is shown with the engine's raw unit strings ("secs", "v")."""
    for name in _engine_names():
        unit = base_unit(name)
        assert unit not in ("secs", "v", " secs"), name
