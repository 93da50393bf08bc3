"""The parameter space: coverage of the engine, normalisation, activity rules, vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmatch.errors import ParameterError
from synthmatch.vital import tables
from synthmatch.vital.spec import FILTER_STYLES_PER_MODEL, N_MOD_SLOTS, excluded_controls, excluded_reason


def test_every_engine_control_is_declared_or_excluded_with_a_reason(space):
    for name in tables.controls():
        assert (name in space) != (excluded_reason(name) is not None), name
    excluded = excluded_controls()
    assert all(reason for reason in excluded.values())
    assert len(space.control_names()) + len(excluded) == len(tables.controls())


def test_modulation_slots_declared(space):
    assert space.n_mod_slots == N_MOD_SLOTS
    src = space["mod_1_source"]
    assert src.kind == "categorical" and src.options[0] == "none"
    assert set(src.options[1:]) == set(tables.modulation_sources())
    assert set(space["mod_1_destination"].options[1:]) == set(tables.modulation_destinations())


def test_destinations_limited_to_audible_routes(space):
    for name in ("osc_1_destination", "osc_2_destination", "osc_3_destination", "sample_destination"):
        assert space[name].values == (0.0, 1.0, 2.0, 3.0, 4.0)
        assert space[name].clamp(9) == 4.0


def test_kinds_and_known_ranges(space):
    assert space["filter_1_cutoff"].kind == "continuous"
    assert (space["filter_1_cutoff"].min, space["filter_1_cutoff"].max) == (8.0, 136.0)
    assert space["osc_1_on"].kind == "bool"
    assert space["osc_1_transpose"].kind == "discrete"
    assert space["filter_1_model"].kind == "categorical"
    assert space["effect_chain_order"].max == math.factorial(9) - 1


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_normalize_round_trip(space, data):
    spec = data.draw(st.sampled_from(space.specs))
    x = data.draw(st.floats(0.0, 1.0))
    v = spec.from_normalized(x)
    assert spec.min - 1e-9 <= v <= spec.max + 1e-9
    assert spec.from_normalized(spec.to_normalized(v)) == pytest.approx(v, abs=1e-9 * max(1.0, spec.span))


def test_clamp_rounds_and_rejects_non_finite(space):
    assert space["osc_1_unison_voices"].clamp(3.7) == 4.0
    assert space["filter_1_cutoff"].clamp(500.0) == 136.0
    with pytest.raises(ParameterError, match="not a finite number"):
        space["filter_1_cutoff"].clamp(float("nan"))


def test_unknown_parameter_error_names_exclusion(space):
    with pytest.raises(ParameterError, match="excluded"):
        space["polyphony"]
    with pytest.raises(ParameterError, match="unknown parameter"):
        space["osc_9_level"]


def test_filter_style_validity_depends_on_model(space):
    fixed = space.validate_values({"filter_1_model": 4.0, "filter_1_style": 5.0})
    assert fixed["filter_1_style"] == FILTER_STYLES_PER_MODEL[4] - 1
    fixed = space.validate_values({"filter_1_model": 6.0, "filter_1_style": 5.0})
    assert fixed["filter_1_style"] == 5.0


def test_activity_rules(space, init_preset):
    active = init_preset.active()
    assert active["osc_1_level"] and not active["osc_2_level"]
    assert not active["filter_1_cutoff"]  # filter off in init
    assert active["env_1_attack"] and not active["env_2_attack"]  # env_2 not routed
    assert not active["reverb_size"]
    assert not active["osc_1_unison_detune"]  # one voice
    p = init_preset.with_values(osc_2_on=1, filter_1_on=1, osc_1_unison_voices=4)
    active = p.active()
    assert active["osc_2_level"] and active["filter_1_cutoff"] and active["osc_1_unison_detune"]
    assert not active["filter_1_formant_x"]  # model is not Formant
    assert not active["lfo_1_frequency"]  # lfo_1 not routed


def test_vector_round_trip(space, init_preset):
    p = init_preset.with_values(osc_2_on=1, filter_1_cutoff=91.5, osc_1_transpose=-12, filter_1_model=6)
    x, c = p.to_vector()
    assert x.shape == (len(space.layout.numeric),) and c.shape == (len(space.layout.categorical),)
    assert np.all((x >= 0) & (x <= 1))
    q = type(p).from_vector(x, c, assets=p)
    for name in ("osc_2_on", "filter_1_cutoff", "osc_1_transpose", "filter_1_model"):
        assert q.values[name] == pytest.approx(p.values[name], abs=1e-4)


def test_spec_hash_is_stable(space):
    from synthmatch.vital.spec import ParamSpace

    again = ParamSpace(space.specs, n_mod_slots=space.n_mod_slots)
    assert again.spec_hash == space.spec_hash and len(space.spec_hash) == 16
