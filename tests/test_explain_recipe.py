"""The recipe: what it lists (active, non-init settings with their displayed values), in what
order, and that following it rebuilds the sound (≥ 40 dB SNR against the original render)."""

from __future__ import annotations

import json
import math
import pathlib
import re

import numpy as np
import pytest

from synthmatch.explain.activity import effective_active, sounding_modulations, used_sources
from synthmatch.explain.display import display_value
from synthmatch.explain.recipe import Recipe, apply_recipe, build_recipe
from synthmatch.explain.tutorial import render_markdown, write_tutorial
from synthmatch.render import Probe
from synthmatch.vital.effects import EFFECTS, encode_order
from synthmatch.vital.modulation import LFO_SHAPES, Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import default_space
from synthmatch.vital.wavetables import basic_frame, read_vitaltable, table_fingerprint, wavetable_from_frames

from .conftest import SHARED, train_preset_files

MIN_SNR_DB = 40.0


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    """10·log10(Σ ref² / Σ (ref − other)²) over both channels; inf when identical."""
    err = float(np.sum((reference.astype(np.float64) - other) ** 2))
    sig = float(np.sum(reference.astype(np.float64) ** 2))
    if err == 0.0:
        return math.inf
    return 10 * math.log10(sig / err) if sig > 0 else -math.inf


# ---------------------------------------------------------------------------------------
# generated presets
# ---------------------------------------------------------------------------------------
def _base() -> Preset:
    p = Preset.init()
    p.values["osc_1_random_phase"] = 0.0  # as generated presets are
    return p


def preset_osc2_filter() -> Preset:
    p = _base()
    p.values.update(
        osc_2_on=1.0,
        osc_2_level=0.6,
        osc_2_transpose=-12.0,
        osc_2_tune=0.07,
        osc_2_unison_voices=5.0,
        osc_2_unison_detune=3.1,
        filter_1_on=1.0,
        filter_1_model=3.0,
        filter_1_style=1.0,
        filter_1_cutoff=float(np.float32(83.7)),
        filter_1_resonance=0.42,
        env_1_attack=0.2,
        env_1_sustain=0.3,
        # inactive module: osc 3 is off, so none of these may appear
        osc_3_transpose=7.0,
        osc_3_level=0.9,
        osc_3_unison_voices=9.0,
        # inactive module: the delay is off
        delay_feedback=0.8,
        delay_dry_wet=0.9,
        # env 3 is not routed anywhere
        env_3_attack=0.8,
        env_3_decay=0.9,
        # LFO 4 is not routed anywhere
        lfo_4_frequency=3.0,
    )
    return p


def preset_effects_and_modulation() -> Preset:
    p = _base()
    p.values.update(
        filter_1_on=1.0,
        filter_1_cutoff=70.0,
        chorus_on=1.0,
        chorus_dry_wet=0.35,
        reverb_on=1.0,
        reverb_dry_wet=0.3,
        reverb_decay_time=1.5,
        distortion_on=1.0,
        distortion_drive=12.0,
        lfo_1_frequency=2.5,
        env_2_decay=0.4,
        env_2_sustain=0.0,
    )
    order = [EFFECTS.index(fx) for fx in ("distortion", "reverb", "chorus")]
    order += [i for i in range(len(EFFECTS)) if i not in order]
    p.values["effect_chain_order"] = float(encode_order(order))
    p.lfo_shapes[0] = dict(LFO_SHAPES["Saw Down"])
    p.modulations = [
        Modulation("lfo_1", "filter_1_cutoff", amount=0.3, bipolar=True),
        Modulation("env_2", "osc_1_transpose", amount=0.25, power=2.0),
    ]
    return p


def preset_custom_assets() -> Preset:
    p = _base()
    p.values.update(osc_2_on=1.0, osc_2_level=0.5, sample_on=1.0, sample_level=0.3, sample_loop=1.0)
    p.wavetables[1] = wavetable_from_frames(basic_frame("square")[None], name="Square test")
    rng = np.random.default_rng(3)
    pcm = (rng.standard_normal(4410) * 3000).astype("<i2")
    import base64

    p.sample = {
        "name": "noise burst",
        "length": 4410,
        "sample_rate": 44100,
        "samples": base64.b64encode(pcm.tobytes()).decode("ascii"),
    }
    return p


def preset_spec_gaps() -> Preset:
    """Settings the space's activity rules miss: ping-pong right time, 1-voice stereo spread,
    and a zero-amount connection whose amount is modulated."""
    p = _base()
    p.values.update(
        delay_on=1.0,
        delay_style=2.0,  # Ping Pong
        delay_aux_sync=0.0,
        delay_aux_frequency=3.0,
        delay_dry_wet=0.4,
        osc_1_stereo_spread=0.2,
        macro_control_1=0.7,
    )
    p.modulations = [
        Modulation("lfo_3", "osc_1_level", amount=0.0),  # silent, never reached
        Modulation("env_2", "filter_1_cutoff", amount=0.0),  # zero, but its amount is modulated
        Modulation("lfo_1", "osc_1_wave_frame", amount=0.2),
        Modulation("macro_control_1", "modulation_2_amount", amount=0.4),
    ]
    p.values.update(filter_1_on=1.0, env_2_decay=0.5, env_2_sustain=0.1, lfo_3_frequency=4.0)
    return p


GENERATED = {
    "osc2_filter": preset_osc2_filter,
    "effects_modulation": preset_effects_and_modulation,
    "custom_assets": preset_custom_assets,
    "spec_gaps": preset_spec_gaps,
}


def _random_presets(n: int, seed: int = 11) -> list[Preset]:
    space = default_space()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.random(len(space.layout.numeric))
        c = np.array([rng.integers(k) for k in space.categorical_sizes])
        p = Preset.from_vector(x, c)
        p.values = space.validate_values(p.values)
        out.append(p)
    return out


def _check_recipe_covers_preset(preset: Preset) -> Recipe:
    """Every active setting that differs from init is a step with its exact displayed value, in
    the tutorial text too; no step sets an inactive setting."""
    space = default_space()
    init = Preset.init()
    recipe = build_recipe(preset, variations=False)
    md = render_markdown(recipe)
    active = effective_active(preset)
    spec_active = preset.active()
    # The explain layer drops connections into empty/bypassed rows (they change nothing); where
    # it does, the space's rules still count their sources as used.
    same_sources = used_sources(preset) == preset.used_sources()
    for name in space.control_names():
        if name == "effect_chain_order":
            continue
        shown = display_value(name, preset.values[name], context=preset.values)
        differs = shown != display_value(name, init.values[name], context=preset.values)
        step = recipe.step_for(name)
        if active[name] and differs:
            assert step is not None, f"{name} = {shown} is active and not init but missing"
            assert (step.value, step.unit) == (shown.text, shown.unit)
            assert f"**{step.label}** to **{shown}**" in md
        else:
            assert step is None, f"{name} is {'inactive' if not active[name] else 'at init'} but listed"
        if spec_active[name] and differs and same_sources:  # the space's own rules are covered too
            assert step is not None
    return recipe


@pytest.mark.parametrize("make", list(GENERATED.values()), ids=list(GENERATED))
def test_recipe_lists_exactly_the_active_non_init_settings(make):
    _check_recipe_covers_preset(make())


def test_recipe_on_random_presets():
    for preset in _random_presets(4):
        recipe = _check_recipe_covers_preset(preset)
        assert len(recipe.steps) > 20


def test_inactive_modules_are_absent():
    recipe = build_recipe(preset_osc2_filter())
    md = render_markdown(recipe)
    names = {s.name for s in recipe.steps}
    assert not any(n.startswith(("osc_3_", "delay_", "env_3_", "lfo_4_")) for n in names)
    assert "Oscillator 3" not in md and "Delay" not in md and "Envelope 3" not in md and "LFO 4" not in md
    assert {"osc_2_on", "osc_2_transpose", "filter_1_cutoff", "env_1_attack"} <= names


def test_sections_follow_vitals_interface_and_switches_come_first():
    recipe = build_recipe(preset_effects_and_modulation())
    sections = recipe.sections
    assert sections.index("Filter 1") < sections.index("Envelope 2") < sections.index("LFO 1")
    assert sections.index("LFO 1") < sections.index("Modulation matrix") < sections.index("Effects chain")
    # effects in the preset's chain order, after the order step
    assert sections[sections.index("Effects chain") + 1 :][:3] == ["Distortion", "Reverb", "Chorus"]
    for section in ("Filter 1", "Chorus", "Reverb", "Distortion"):
        assert recipe.steps_in(section)[0].name.endswith("_on")
    assert [s.order for s in recipe.steps] == list(range(1, len(recipe.steps) + 1))
    # within a section, more audible first (after switches and loads)
    reverb = [s for s in recipe.steps_in("Reverb") if not s.name.endswith("_on")]
    assert [s.audibility for s in reverb] == sorted((s.audibility for s in reverb), reverse=True)


def test_effect_order_step_only_when_enabled_order_differs():
    recipe = build_recipe(preset_effects_and_modulation())
    step = recipe.step_for("effect_chain_order")
    assert step is not None and step.value == "Distortion → Reverb → Chorus"
    # moving only disabled effects changes the code but not the sound: no step
    p = _base()
    p.values["chorus_on"] = 1.0
    p.values["effect_chain_order"] = float(encode_order([0, 1, 2, 3, 4, 5, 8, 7, 6]))
    assert build_recipe(p).step_for("effect_chain_order") is None


def test_modulation_steps_read_source_to_destination_amount():
    recipe = build_recipe(preset_effects_and_modulation())
    rows = recipe.steps_in("Modulation matrix")
    assert [s.label for s in rows] == ["LFO 1 → Filter 1 Cutoff", "Envelope 2 → Oscillator 1 Transpose"]
    assert rows[0].value == "0.3" and rows[0].options == {"Bipolar": "On"}
    assert rows[1].options["Power"] == "2"
    md = render_markdown(recipe)
    assert "In matrix row 1, connect **LFO 1 → Filter 1 Cutoff**, amount **0.3** (Bipolar: On)" in md
    assert rows[0].why and "filter" in rows[0].why
    # the LFO shape is exported and loaded in the LFO 1 section
    load = recipe.step_for("lfo_1_shape")
    assert load is not None and load.section == "LFO 1" and load.asset == "lfo_1_shape.vitallfo"


def test_silent_rows_are_dropped_and_row_references_renumbered():
    preset = preset_spec_gaps()
    assert sounding_modulations(preset.modulations) == [False, True, True, True]
    recipe = build_recipe(preset)
    rows = recipe.steps_in("Modulation matrix")
    assert [(s.source, s.destination) for s in rows] == [
        ("env_2", "filter_1_cutoff"),
        ("lfo_1", "osc_1_wave_frame"),
        ("macro_control_1", "modulation_1_amount"),
    ]
    assert rows[2].label == "Macro 1 → Modulation 1 Amount"
    names = {s.name for s in recipe.steps}
    assert {"delay_aux_frequency", "osc_1_stereo_spread", "env_2_decay"} <= names
    assert not any(n.startswith("lfo_3_") for n in names)
    rebuilt = apply_recipe(recipe)
    assert [m.destination for m in rebuilt.modulations][2] == "modulation_1_amount"


def test_recipe_json_round_trip():
    recipe = build_recipe(preset_effects_and_modulation())
    again = Recipe.from_dict(json.loads(recipe.to_json()))
    assert [s.to_dict() for s in again.steps] == [s.to_dict() for s in recipe.steps]
    assert list(again.assets) == list(recipe.assets)
    assert [v.text for v in again.variations] == [v.text for v in recipe.variations]
    with pytest.raises(Exception, match="not a synthmatch recipe"):
        Recipe.from_dict({"format": "other"})


def _assert_rebuilds_values(original: Preset, rebuilt: Preset) -> None:
    active = effective_active(original)
    space = default_space()
    orig = space.validate_values(original.values)
    for name in space.control_names():
        if active[name] and name != "effect_chain_order":
            assert np.float32(rebuilt.values[name]) == np.float32(orig[name]), name


@pytest.mark.parametrize("make", list(GENERATED.values()), ids=list(GENERATED))
def test_apply_recipe_from_displayed_values_restores_every_active_value(make):
    preset = make()
    rebuilt = apply_recipe(build_recipe(preset))
    _assert_rebuilds_values(preset, rebuilt)


def test_random_presets_rebuild_their_values():
    for preset in _random_presets(3, seed=5):
        _assert_rebuilds_values(preset, apply_recipe(build_recipe(preset)))


def test_write_tutorial_exports_the_files_the_steps_load(tmp_path):
    preset = preset_custom_assets()
    paths = write_tutorial(preset, tmp_path / "out")
    assert paths["tutorial"].exists() and paths["recipe"].exists()
    table = read_vitaltable(paths["wavetable_osc2.vitaltable"])
    assert table_fingerprint(table) == table_fingerprint(preset.wavetables[1])
    assert paths["sample.wav"].exists()
    md = paths["tutorial"].read_text()
    assert "`wavetable_osc2.vitaltable`" in md and "`sample.wav`" in md
    # follow the recipe from the files on disk
    recipe = Recipe.read(paths["recipe"])
    assert all(a.data is None for a in recipe.assets.values())
    rebuilt = apply_recipe(recipe, assets_dir=tmp_path / "out")
    assert table_fingerprint(rebuilt.wavetables[1]) == table_fingerprint(preset.wavetables[1])
    assert rebuilt.sample["samples"] == preset.sample["samples"]
    with pytest.raises(Exception, match="assets_dir"):
        apply_recipe(recipe)


def test_variations_are_concrete_and_apply():
    preset = preset_osc2_filter()
    ideas = build_recipe(preset).variations
    assert len(ideas) == 3
    for idea in ideas:
        assert "→" in idea.text and "**" in idea.text
        changed = idea.apply(preset)
        assert changed.values != preset.values or len(changed.modulations) > len(preset.modulations)
    assert "Filter 1 Cutoff" in ideas[0].text  # the filter is on: open or close it


# ---------------------------------------------------------------------------------------
# renders: following the recipe rebuilds the sound
# ---------------------------------------------------------------------------------------
def _rebuild_snrs(
    pool, presets: list[Preset], probe: Probe, *, via_files: pathlib.Path | None = None
) -> list[float]:
    items = []
    for i, p in enumerate(presets):
        if via_files is not None:
            paths = write_tutorial(p, via_files / str(i))
            rebuilt = apply_recipe(Recipe.read(paths["recipe"]), assets_dir=via_files / str(i))
        else:
            rebuilt = apply_recipe(build_recipe(p, variations=False))
        items += [p, rebuilt]
    outs = pool.render(items, probe)
    snrs = []
    for k in range(len(presets)):
        a, b = outs[2 * k], outs[2 * k + 1]
        assert a.ok and b.ok, (a.reason, b.reason)
        snrs.append(snr_db(a.audio, b.audio))
    return snrs


@pytest.mark.vita
def test_rebuild_of_generated_presets_renders_the_same(render_pool, short_probe, tmp_path):
    presets = [make() for make in GENERATED.values()]
    snrs = _rebuild_snrs(render_pool, presets, short_probe, via_files=tmp_path)
    assert min(snrs) >= MIN_SNR_DB, snrs


@pytest.mark.vita
def test_rebuild_of_sampled_presets_renders_the_same(render_pool, short_probe):
    """Presets decoded from vectors, as `match` returns them."""
    snrs = _rebuild_snrs(render_pool, _random_presets(2, seed=23), short_probe)
    assert min(snrs) >= MIN_SNR_DB, snrs


@pytest.mark.vita
def test_rebuild_of_shared_train_presets_renders_the_same(render_pool, short_probe):
    presets = [Preset.from_file(f) for f in train_preset_files(4)]
    snrs = _rebuild_snrs(render_pool, presets, short_probe)
    assert min(snrs) >= MIN_SNR_DB, snrs


@pytest.mark.slow
@pytest.mark.vita
def test_rebuild_of_all_test_presets(render_pool):
    """Evaluation over the public test split (never tuned on): every recipe rebuilds its preset."""
    files = sorted((SHARED / "presets" / "test").rglob("*.vital"))
    if not files:
        pytest.skip("../shared/presets/test is not present")
    presets = [Preset.from_file(f) for f in files]
    snrs = _rebuild_snrs(render_pool, presets, Probe())
    report = {f.name: s for f, s in zip(files, snrs)}
    print(
        f"\nrebuild SNR over {len(snrs)} test presets: ≥{MIN_SNR_DB:g} dB: "
        f"{sum(s >= MIN_SNR_DB for s in snrs)}, min {min(snrs):.1f} dB, median {np.median(snrs):.1f} dB"
    )
    failing = {k: v for k, v in report.items() if v < MIN_SNR_DB}
    assert not failing, failing


def test_tutorial_names_steps_like_vital():
    md = render_markdown(build_recipe(preset_osc2_filter()))
    assert re.search(
        r"^\d+\. Set \*\*Filter 1 Cutoff\*\* to \*\*[\d.]+ k?Hz\*\*.* — \*low-pass at ", md, flags=re.M
    )
    assert "Set **Filter 1 Model** to **Digital**" in md
    assert "Set **Oscillator 2 Transpose** to **-12 semitones**" in md
    assert "Initialize Preset" in md
