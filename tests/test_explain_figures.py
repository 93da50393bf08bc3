"""Inline SVG figures of a preset: valid XML, deterministic, small, and drawing the right numbers."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from synthmatch.errors import ParameterError
from synthmatch.explain.figures import (
    MAX_FRAMES,
    Figure,
    envelope_curve,
    envelope_figure,
    figures_for,
    filter_figure,
    filter_response_db,
    modulation_figure,
    wavetable_figure,
)
from synthmatch.vital import Preset, tables
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.spec import default_space
from synthmatch.vital.wavetables import basic_frame, wavetable_from_frames

SVG = "{http://www.w3.org/2000/svg}"
MAX_BYTES = 40_000


@pytest.fixture(scope="module")
def init() -> Preset:
    return Preset.init()


def _frames(n: int) -> np.ndarray:
    """n single-cycle frames, from a sine to brighter band-limited saws."""
    t = np.arange(2048) / 2048
    return np.stack(
        [sum(np.sin(2 * np.pi * h * t) / h for h in range(1, 2 + 3 * i)) for i in range(n)]
    ).astype(np.float32)


def _env_seconds(seconds: float) -> float:
    """Internal envelope time value for a stage of ``seconds`` (seconds = value ** 4)."""
    return seconds**0.25


def _q_resonance(q: float) -> float:
    """Filter resonance value giving quality factor ``q`` (Q = 0.5 + 15.5 · resonance³)."""
    return ((q - 0.5) / 15.5) ** (1.0 / 3.0)


@pytest.fixture
def rich(init: Preset) -> Preset:
    """Two oscillators, both filters, a filter envelope and four modulation routes."""
    p = init.copy()
    p.wavetables[0] = wavetable_from_frames(_frames(8), name="Resynth <8> & co")
    p.wavetables[1] = wavetable_from_frames(basic_frame("saw")[None], name="Saw")
    p.values.update(
        osc_2_on=1.0,
        filter_1_on=1.0,
        filter_1_cutoff=80.0,
        filter_1_resonance=0.6,
        filter_1_style=1.0,
        filter_2_on=1.0,
        filter_2_model=4.0,
        filter_2_style=1.0,
        env_1_attack=_env_seconds(0.01),
        env_1_sustain=0.6,
        env_2_delay=_env_seconds(0.05),
        env_2_hold=_env_seconds(0.1),
        env_2_sustain=0.2,
    )
    p.modulations = [
        Modulation("env_2", "filter_1_cutoff", 0.4),
        Modulation("env_2", "osc_1_wave_frame", 1.0),
        Modulation("lfo_1", "osc_1_tune", -0.2),
        Modulation("macro_control_1", "filter_1_resonance", 0.1),
    ]
    return p


def _root(fig: Figure) -> ET.Element:
    root = ET.fromstring(fig.svg)
    assert root.tag == f"{SVG}svg"
    return root


def _check_figure(fig: Figure) -> ET.Element:
    root = _root(fig)
    assert root.get("role") == "img"
    width, height = int(root.get("width")), int(root.get("height"))
    assert 320 <= width <= 480 and height > 0
    assert root.get("viewBox") == f"0 0 {width} {height}"
    assert root.find(f"{SVG}title").text == fig.title
    assert root.find(f"{SVG}desc").text == fig.caption
    assert len(fig.svg.encode()) < MAX_BYTES
    assert "<script" not in fig.svg and "href" not in fig.svg
    assert fig.caption.endswith(".") and re.search(r"\d", fig.caption)
    return root


def _polyline_points(el: ET.Element) -> np.ndarray:
    return np.array([[float(v) for v in pair.split(",")] for pair in el.get("points").split()])


# ---------------------------------------------------------------------------------------
# all figures
# ---------------------------------------------------------------------------------------
def test_figures_for_rich_preset_order_and_validity(rich: Preset) -> None:
    figs = figures_for(rich)
    assert [f.key for f in figs] == [
        "wavetable_osc1",
        "wavetable_osc2",
        "envelope_amp",
        "envelope_filter",
        "filter_1",
        "filter_2",
        "modulation",
    ]
    for fig in figs:
        _check_figure(fig)


def test_figures_for_init_preset(init: Preset) -> None:
    assert [f.key for f in figures_for(init)] == ["wavetable_osc1", "envelope_amp"]


def test_figures_are_deterministic(rich: Preset) -> None:
    first = figures_for(rich)
    again = figures_for(rich.copy())
    assert [f.svg for f in first] == [f.svg for f in again]
    assert [f.caption for f in first] == [f.caption for f in again]


def test_coordinates_have_one_decimal(rich: Preset) -> None:
    for fig in figures_for(rich):
        numbers = re.findall(r' (?:points|x|y|x1|y1|x2|y2|cx|cy)="([^"]*)"', fig.svg)
        for value in numbers:
            for token in re.split(r"[ ,]", value):
                assert re.fullmatch(r"-?\d+\.\d", token), (fig.key, token)


# ---------------------------------------------------------------------------------------
# wavetables
# ---------------------------------------------------------------------------------------
def test_wavetable_draws_each_frame(rich: Preset) -> None:
    fig = wavetable_figure(rich, osc=1)
    root = _check_figure(fig)
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 8
    assert all(len(_polyline_points(el)) <= 256 for el in lines)
    assert "8 keyframes" in fig.caption and "swept by Envelope 2" in fig.caption
    texts = "".join(el.text or "" for el in root.iter(f"{SVG}text"))
    assert "Resynth <8> & co" in texts  # escaped in the markup, intact once parsed


def test_wavetable_caps_frames_and_size(init: Preset) -> None:
    p = init.copy()
    p.wavetables[0] = wavetable_from_frames(_frames(40))
    fig = wavetable_figure(p, osc=1)
    lines = _root(fig).findall(f"{SVG}polyline")
    assert len(lines) == MAX_FRAMES
    assert all(len(_polyline_points(el)) <= 256 for el in lines)
    assert f"{MAX_FRAMES} of 40 keyframes" in fig.caption
    assert len(fig.svg.encode()) < MAX_BYTES


@pytest.mark.parametrize(
    "table",
    [
        {"groups": [{"components": [{"type": "Line Source", "keyframes": []}]}]},
        {},
        {
            "groups": [
                {"components": [{"type": "Wave Source", "keyframes": [{"wave_data": "bm90IGZsb2F0cw=="}]}]}
            ]
        },
        {"groups": [{"components": [{"type": "Wave Source", "keyframes": [{"position": 0}]}]}]},
        "not a table",
    ],
)
def test_wavetable_without_readable_frames_is_none(init: Preset, table: object) -> None:
    p = init.copy()
    p.wavetables[0] = table
    assert wavetable_figure(p, osc=1) is None


def test_wavetable_of_oscillator_off_is_none(init: Preset) -> None:
    assert init.values["osc_2_on"] == 0.0
    assert wavetable_figure(init, osc=2) is None
    with pytest.raises(ParameterError):
        wavetable_figure(init, osc=4)


# ---------------------------------------------------------------------------------------
# envelopes
# ---------------------------------------------------------------------------------------
def _env_values(init: Preset, **stages: float) -> dict[str, float]:
    values = dict(init.values)
    for name, v in stages.items():
        values[f"env_1_{name}"] = v
    return values


def test_envelope_curve_stages(init: Preset) -> None:
    values = _env_values(
        init,
        delay=_env_seconds(0.1),
        attack=_env_seconds(0.2),
        hold=_env_seconds(0.1),
        decay=_env_seconds(0.3),
        sustain=0.4,
        release=_env_seconds(0.5),
    )
    t = np.array([0.05, 0.2, 0.3, 0.35, 0.8, 0.99, 1.0, 1.2, 1.5, 1.51, 3.0])
    env = envelope_curve(values, env=1, t=t, note_seconds=1.0)
    assert env[0] == 0.0  # delay
    assert 0.0 < env[1] < 1.0  # attack
    assert env[2] == pytest.approx(1.0) and env[3] == pytest.approx(1.0)  # end of attack, hold
    assert env[4] == pytest.approx(0.4) and env[5] == pytest.approx(0.4)  # sustain
    assert env[6] == pytest.approx(0.4)  # the release starts from the sustain level
    assert 0.0 < env[7] < 0.4
    assert np.all(env[8:] == 0.0)  # zero once the release is over


def test_envelope_curve_powers_follow_the_engine(init: Preset) -> None:
    straight = _env_values(init, attack=_env_seconds(1.0), attack_power=0.0)
    bent = _env_values(init, attack=_env_seconds(1.0), attack_power=4.0)
    t = np.array([0.5])
    assert envelope_curve(straight, env=1, t=t, note_seconds=5.0)[0] == pytest.approx(0.5)
    # The engine bends the attack by -attack_power: a positive power rises early.
    expected = math.expm1(-4.0 * 0.5) / math.expm1(-4.0)
    assert envelope_curve(bent, env=1, t=t, note_seconds=5.0)[0] == pytest.approx(expected)


def test_envelope_released_during_attack_falls_from_where_it_was(init: Preset) -> None:
    values = _env_values(init, attack=_env_seconds(1.0), attack_power=0.0, release=_env_seconds(0.1))
    env = envelope_curve(values, env=1, t=np.array([0.5, 0.5 + 1e-9, 0.7]), note_seconds=0.5)
    assert env[0] == pytest.approx(0.5) and env[1] == pytest.approx(0.5)
    assert env[2] == 0.0


def test_amp_envelope_figure_plots_amplitude(init: Preset) -> None:
    p = init.copy()
    p.values.update(env_1_decay=_env_seconds(0.1), env_1_sustain=0.5, env_1_release=_env_seconds(0.3))
    fig = envelope_figure(p, env=1, note_seconds=1.0)
    root = _check_figure(fig)
    assert fig.key == "envelope_amp" and "squared" in fig.caption and "0.25 while sustained" in fig.caption
    curve = _polyline_points(root.find(f"{SVG}polyline"))
    top, bottom = curve[:, 1].min(), curve[:, 1].max()
    assert curve[0, 1] == bottom and curve[-1, 1] == bottom  # silent at the start and after the release
    sustained = curve[(curve[:, 0] > curve[:, 0].max() * 0.6) & (curve[:, 0] < curve[:, 0].max() * 0.7)]
    # Sustain 0.5 → amplitude 0.25 of the way from the bottom to the peak.
    assert np.allclose((bottom - sustained[:, 1]) / (bottom - top), 0.25, atol=0.01)


def test_filter_envelope_figure(rich: Preset) -> None:
    fig = envelope_figure(rich, env=2)
    _check_figure(fig)
    assert fig.key == "envelope_filter"
    assert fig.title == "Envelope 2 → Filter 1 Cutoff"
    assert "Filter 1 Cutoff by up to 51.2 semitones" in fig.caption
    assert "delay" in fig.caption and "hold" in fig.caption
    assert envelope_figure(rich, env=3).key == "envelope_3"
    assert envelope_figure(rich, env=1, title="Loudness").title == "Loudness"


@pytest.mark.parametrize("kwargs", [{"env": 0}, {"env": 7}, {"env": 1, "note_seconds": 0.0}])
def test_envelope_figure_rejects_bad_arguments(init: Preset, kwargs: dict) -> None:
    with pytest.raises(ParameterError):
        envelope_figure(init, **kwargs)


# ---------------------------------------------------------------------------------------
# filters
# ---------------------------------------------------------------------------------------
def _filter_values(init: Preset, **controls: float) -> dict[str, float]:
    values = dict(init.values)
    values.update({f"filter_1_{k}": v for k, v in controls.items()})
    return values


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def test_12db_low_pass_is_3db_down_at_cutoff(init: Preset) -> None:
    values = _filter_values(init, cutoff=69.0, resonance=_q_resonance(math.sqrt(0.5)), blend=0.0, style=0.0)
    db = filter_response_db(values, filter=1, freqs=np.array([44.0, 440.0, 4400.0]))
    assert db[0] == pytest.approx(0.0, abs=0.1)
    assert db[1] == pytest.approx(-3.01, abs=0.05)
    assert db[2] == pytest.approx(-40.0, abs=0.5)  # 12 dB/octave = 40 dB/decade


def test_24db_and_high_pass_slopes(init: Preset) -> None:
    low24 = _filter_values(init, cutoff=69.0, resonance=0.0, blend=0.0, style=1.0)
    high12 = _filter_values(init, cutoff=69.0, resonance=0.0, blend=2.0, style=0.0)
    assert filter_response_db(low24, filter=1, freqs=np.array([4400.0]))[0] == pytest.approx(-80.0, abs=1.0)
    db = filter_response_db(high12, filter=1, freqs=np.array([4.4, 44000.0]))
    assert db[0] == pytest.approx(-80.0, abs=0.5) and db[1] == pytest.approx(0.0, abs=0.1)


def test_resonance_notch_and_mix(init: Preset) -> None:
    resonant = _filter_values(init, cutoff=69.0, resonance=0.8, blend=0.0, style=0.0)
    q = 0.5 + 15.5 * 0.8**3
    at_cutoff = filter_response_db(resonant, filter=1, freqs=np.array([440.0]))[0]
    assert at_cutoff == pytest.approx(20 * math.log10(q), abs=0.01)
    notch = _filter_values(init, cutoff=69.0, resonance=0.5, blend=1.0, style=2.0)
    assert filter_response_db(notch, filter=1, freqs=np.array([440.0]))[0] < -60.0
    dry = _filter_values(init, cutoff=69.0, resonance=0.5, style=1.0, mix=0.0)
    assert np.allclose(filter_response_db(dry, filter=1, freqs=np.geomspace(20, 20000, 9)), 0.0)


def test_filter_figure(init: Preset) -> None:
    p = init.copy()
    p.values.update(filter_1_on=1.0, filter_1_cutoff=80.0, filter_1_style=0.0)
    fig = filter_figure(p, filter=1)
    root = _check_figure(fig)
    assert fig.key == "filter_1" and "pproximat" in fig.caption
    assert "12 dB/octave low-pass" in fig.caption and "831 Hz" in fig.caption
    curve = _polyline_points(root.find(f"{SVG}polyline"))
    assert np.all(np.diff(curve[:, 0]) >= 0)  # frequencies from left to right
    cutoff_x = [float(el.get("x1")) for el in root.iter(f"{SVG}line") if el.get("stroke-dasharray")]
    left, right = curve[0, 0], curve[-1, 0]
    expected = left + math.log10(_hz(80.0) / 20.0) / 3.0 * (right - left)
    assert cutoff_x == [pytest.approx(expected, abs=0.1)]


def test_filter_figure_none_when_off_or_not_drawn(init: Preset) -> None:
    assert init.values["filter_1_on"] == 0.0
    assert filter_figure(init, filter=1) is None
    formant = init.copy()
    formant.values.update(filter_2_on=1.0, filter_2_model=5.0)
    assert filter_figure(formant, filter=2) is None
    with pytest.raises(ParameterError):
        filter_figure(init, filter=3)


# ---------------------------------------------------------------------------------------
# modulation
# ---------------------------------------------------------------------------------------
def test_modulation_figure(rich: Preset) -> None:
    fig = modulation_figure(rich)
    root = _check_figure(fig)
    paths = root.findall(f"{SVG}path")
    assert len(paths) == 4
    widths = sorted(float(el.get("stroke-width")) for el in paths)
    assert widths == [1.5, 2.0, 3.0, 6.0]  # 1 + 5 · |amount|
    assert sum(el.get("stroke-dasharray") is not None for el in paths) == 1  # one negative amount
    texts = {el.text for el in root.iter(f"{SVG}text")}
    assert {"Envelope 2", "LFO 1", "Macro 1", "Filter 1 Cutoff", "Oscillator 1 Wave Frame"} <= texts
    assert (
        fig.caption.startswith("4 modulation routes")
        and "Envelope 2 → Oscillator 1 Wave Frame" in fig.caption
    )


def test_modulation_figure_none_without_sounding_routes(init: Preset) -> None:
    assert modulation_figure(init) is None
    silent = init.copy()
    silent.modulations = [
        Modulation("lfo_1", "osc_1_tune", 0.0),
        Modulation("env_2", "filter_1_cutoff", 0.5, bypass=True),
    ]
    assert modulation_figure(silent) is None


def test_random_presets_give_valid_small_figures(init: Preset) -> None:
    """Seeded random envelopes, filters, oscillators and routes: every figure parses, stays finite and small."""
    space = default_space()
    names = [n for n in space.control_names() if n.startswith(("env_", "filter_1_", "filter_2_", "osc_"))]
    sources, dests = tables.modulation_sources(), tables.modulation_destinations()
    rng = np.random.default_rng(7)
    for _ in range(12):
        p = init.copy()
        p.values.update({n: space[n].from_normalized(rng.random()) for n in names})
        p.modulations = [
            Modulation(str(rng.choice(sources)), str(rng.choice(dests)), float(rng.uniform(-1, 1)))
            for _ in range(int(rng.integers(0, 24)))
        ]
        for fig in figures_for(p, note_seconds=float(rng.choice([0.01, 0.5, 2.0, 7.0]))):
            ET.fromstring(fig.svg)
            assert len(fig.svg.encode()) < MAX_BYTES
            assert not re.search(r'="[^"]*(nan|inf)', fig.svg), fig.key
