"""The tutorial's tiers: ablation measurements, the *Build it* choice, knob values, and the HTML."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from synthmatch.explain import apply_recipe, build_recipe, check_grounding, render_markdown
from synthmatch.explain import display as disp
from synthmatch.explain.ablation import (
    AUDIBLE_DB,
    Ablation,
    Impact,
    _closure,
    _words,
    ablate,
    groups_of,
    needs_of,
    subset_preset,
)
from synthmatch.explain.recipe_format import Recipe
from synthmatch.explain.tiers import assign_tiers, build_groups, summary, tier_order
from synthmatch.explain.tutorial_html import inline_markdown, tutorial_section
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset


def _preset() -> Preset:
    p = Preset.init()
    p.values.update(
        osc_1_random_phase=0.0,
        osc_1_unison_voices=3.0,
        osc_1_unison_detune=2.37719,
        osc_2_on=1.0,
        osc_2_level=0.613377,
        osc_2_transpose=-12.0,
        filter_1_on=1.0,
        filter_1_model=3.0,
        filter_1_style=1.0,
        filter_1_cutoff=float(np.float32(83.71234)),
        filter_1_resonance=0.4213,
        env_1_sustain=0.3,
        env_2_decay=0.61234,
        lfo_1_frequency=2.123,
        osc_2_tune=0.0005,
    )
    p.modulations = [
        Modulation(source="env_2", destination="filter_1_cutoff", amount=0.41237),
        Modulation(source="lfo_1", destination="osc_1_tune", amount=0.05),
        Modulation(source="macro_control_1", destination="modulation_2_amount", amount=0.2),
    ]
    p.meta["preset_name"] = "Tiers <test>"
    return p


def _fake_ablation(recipe: Recipe, loud: dict[str, float], build: list[list[str]]) -> Ablation:
    impacts = {s.name: Impact(s.name, loud.get(s.name, 0.0)) for s in recipe.steps}
    groups = {g: Impact(g, max(loud.get(k, 0.0) for k in keys)) for g, keys in groups_of(recipe).items()}
    return Ablation(impacts, groups, build, 0.8, {len(build): 0.8}, 40, 1.0, {})


def test_knob_numbers_keep_five_characters_like_vitals_knobs():
    assert disp.knob_number(2637.23) == "2637"
    assert disp.knob_number(12.3456) == "12.35"
    assert disp.knob_number(0.0039313956) == "0.004"
    assert disp.knob_number(-0.123456) == "-0.123"
    assert disp.knob_number(0.5) == "0.5"
    shown = disp.knob_value("filter_1_cutoff", 93.21)
    assert shown.unit == "kHz" and len(shown.text) <= 5
    assert disp.knob_value("filter_1_model", 3.0) == disp.display_value("filter_1_model", 3.0)


def test_needs_put_switches_models_and_sources_before_the_steps_that_need_them():
    recipe = build_recipe(_preset(), variations=False)
    needs = needs_of(recipe)
    assert "filter_1_on" in needs["filter_1_cutoff"]
    assert "filter_1_model" in needs["filter_1_style"]
    rows = {s.source: s.name for s in recipe.steps if s.action == "connect"}
    assert "filter_1_on" in needs[rows["env_2"]] and "env_2_decay" in needs[rows["env_2"]]
    assert rows["lfo_1"] in needs[rows["macro_control_1"]]  # it modulates that row's amount
    order = _closure(["filter_1_style"], needs)
    assert order.index("filter_1_on") < order.index("filter_1_style")
    assert order.index("filter_1_model") < order.index("filter_1_style")


def test_subset_of_every_step_is_the_recipe_and_knob_values_stay_close():
    p = _preset()
    recipe = build_recipe(p, variations=False)
    every = [s.name for s in recipe.steps]
    assert subset_preset(recipe, every).to_json() == apply_recipe(recipe, exact=True).to_json()
    knob = subset_preset(recipe, every, knob=True)
    assert knob.values["filter_1_cutoff"] != p.values["filter_1_cutoff"]
    assert abs(knob.values["filter_1_cutoff"] - p.values["filter_1_cutoff"]) < 0.02
    # dropping the row an amount-modulating connection rides on drops that connection too
    lfo_row = next(s.name for s in recipe.steps if s.source == "lfo_1")
    sub = subset_preset(recipe, [k for k in every if k != lfo_row])
    assert [m.source for m in sub.modulations] == ["env_2"]


def test_words_read_what_the_sound_is_without_the_step():
    full = dict(
        brightness_hz=2000,
        attack_s=0.01,
        length_s=2.0,
        noisiness=0.1,
        movement=0.1,
        width_db=-20,
        level_db=-6,
    )
    without = dict(full, brightness_hz=1200, length_s=1.0, width_db=-40)
    assert _words(full, without) == ["duller", "shorter", "narrower"]
    assert _words(full, full) == []
    assert _words(dict(full, pitch_midi=60.0), dict(full, pitch_midi=48.1)) == ["12 semitones lower"]
    assert _words(dict(full, pitch_midi=60.0), dict(full, pitch_midi=float("nan"))) == [
        "without a clear pitch"
    ]
    imp = Impact("x", 3.14, words=["duller", "shorter"])
    assert (
        imp.audible
        and imp.reason() == "Without it the sound is 3.1 dB further from the full preset: duller and shorter."
    )
    assert not Impact("y", AUDIBLE_DB / 2).audible and Impact("z", 0.0, level_db=-6.0).audible


def test_tiers_follow_in_order_rebuild_the_preset_exactly_and_stay_grounded():
    p = _preset()
    recipe = build_recipe(p, variations=False)
    rows = {s.source: s.name for s in recipe.steps if s.action == "connect"}
    loud = {
        "filter_1_on": 9.0,
        "filter_1_cutoff": 6.0,
        "osc_2_on": 3.0,
        rows["lfo_1"]: 1.0,
        "env_1_sustain": 2.0,
    }
    build = [["filter_1_on", "filter_1_cutoff"], [rows["lfo_1"]], ["env_1_sustain"]]
    assign_tiers(recipe, _fake_ablation(recipe, loud, build), preset=p)
    tiers = {s.name: s.tier for s in recipe.steps}
    assert tiers["filter_1_cutoff"] == "build" and tiers["osc_2_on"] == "detail"
    assert tiers["osc_2_tune"] == "silent"
    assert tiers["filter_1_model"] == "detail"  # silent alone, but the filter's style needs it
    assert [[s.name for s in g] for g in build_groups(recipe)] == build
    assert summary(recipe)["build_steps"] == 3
    following = Recipe(title=recipe.title, steps=tier_order(recipe), assets=recipe.assets)
    assert following.steps[0].name == "filter_1_on"
    assert apply_recipe(following).to_json() == apply_recipe(recipe).to_json()
    md = render_markdown(recipe)
    assert md.index("## The idea") < md.index("## Build it (3 steps)") < md.index("## Fine details")
    assert "## No audible effect" in md and "Oscillator 2 Tune" in md.split("## No audible effect")[1]
    cutoff = recipe.step_for("filter_1_cutoff")
    assert cutoff.knob and f"**{cutoff.knob} {cutoff.unit}**" in md.split("## Fine details")[0]
    assert check_grounding(md, recipe) == []  # every exact value is still in the text
    doc = json.loads(recipe.to_json())
    assert Recipe.from_dict(doc).step_for("filter_1_cutoff").tier == "build"


def test_html_tutorial_is_escaped_structured_and_not_preformatted():
    p = _preset()
    recipe = build_recipe(p, variations=False)
    recipe.idea = {"category": "pluck", "category_reason": "<b>x</b>", "sentences": ["a & b"]}
    assign_tiers(recipe, _fake_ablation(recipe, {"filter_1_on": 5.0}, [["filter_1_on"]]), preset=p)
    page = tutorial_section(recipe)
    assert "<pre>" not in page and "<script" not in page
    assert "Tiers &lt;test&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page and "a &amp; b" in page
    assert re.search(r"<ol class=\"build\">.*Filter 1 Switch", page, flags=re.S)
    assert inline_markdown("Set **A** to `x<y>`") == "Set <b>A</b> to <code>x&lt;y&gt;</code>"


@pytest.mark.vita
def test_ablation_ranks_audible_steps_and_caches(render_pool, short_probe, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHMATCH_CACHE", str(tmp_path))
    p = _preset()
    recipe = build_recipe(p, variations=False)
    result = ablate(p, recipe, probe=short_probe, pool=render_pool)
    assert set(result.impacts) == {s.name for s in recipe.steps}
    assert result.impacts["osc_2_on"].audible and result.impacts["filter_1_on"].db > AUDIBLE_DB
    assert not result.impacts["osc_2_tune"].audible  # a twentieth of a cent
    assert result.build and all(k in result.impacts for g in result.build for k in g)
    assert result.build_db == result.tried[len(result.build)]
    assert result.renders >= len(groups_of(recipe)) + 2
    files = list((tmp_path / "ablation").glob("*.json"))
    assert len(files) == 1
    again = ablate(p, recipe, probe=short_probe, pool=render_pool)
    assert again.to_dict() == result.to_dict()
    assert Ablation.from_dict(json.loads(files[0].read_text())).to_dict() == result.to_dict()
