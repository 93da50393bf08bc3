"""Samplers and probe samplers: valid presets, determinism, stratification, training-split only."""

from __future__ import annotations

import collections
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthmatch.data.assets import DatasetError
from synthmatch.data.probes import PROBE_SAMPLERS, make_probe_sampler
from synthmatch.data.samplers import (
    MOD_SOURCES,
    MOD_TARGETS,
    SAMPLERS,
    LHSSampler,
    item_rng,
    lhs_block,
    make_sampler,
)
from synthmatch.data.sources import check_not_test_split, wavetable_bank
from synthmatch.errors import ParameterError
from synthmatch.render.probe import NOTE_OFF_MARGIN_S, Probe
from synthmatch.vital import tables
from synthmatch.vital.preset import check_vital_json
from tests.conftest import SHARED, train_preset_files

LHS_FAST = {"p_train_table": 0.0, "block_size": 64}


@pytest.fixture(scope="module")
def preset_dir(tmp_path_factory):
    """A small copy of the training split (8 presets) so loading it is quick."""
    files = train_preset_files(8)
    d = tmp_path_factory.mktemp("train-subset")
    for f in files:
        shutil.copy(f, d / f.name)
    return d


@pytest.fixture(scope="module")
def lhs():
    return make_sampler("lhs", LHS_FAST)


def _assert_valid(preset, space):
    """Every value inside its declared range/kind, the fixed priors applied, a preset real Vital opens."""
    for name, v in preset.values.items():
        s = space[name]
        assert s.min - 1e-9 <= v <= s.max + 1e-9, (name, v)
        if s.kind in ("discrete", "bool"):
            assert v == round(v), (name, v)
        if s.kind == "categorical":
            assert v in s.values, (name, v)
        if s.prior == "fixed" and s.sample_value() is not None:
            assert v == s.sample_value(), (name, v)
    for k in (1, 2, 3):
        assert preset.values[f"osc_{k}_random_phase"] == 0.0
    assert len(preset.modulations) <= space.n_mod_slots
    assert check_vital_json(preset.to_vital()) == []
    x, c = preset.to_vector()
    assert np.all((x >= 0) & (x <= 1))
    assert np.all(c >= 0) and np.all(c < np.asarray(space.categorical_sizes))


def test_registry_lists_the_samplers():
    assert {"lhs", "preset", "mix", "train"} <= set(SAMPLERS)
    assert {"fixed", "range"} <= set(PROBE_SAMPLERS)
    with pytest.raises(ParameterError, match="unknown sampler 'nope'; choose one of"):
        make_sampler("nope")
    with pytest.raises(ParameterError, match="unknown LHSConfig options"):
        make_sampler("lhs", {"p_bogus": 1})


def test_declared_modulation_names_are_engine_names():
    assert set(MOD_SOURCES) <= set(tables.modulation_sources())
    assert set(MOD_TARGETS) <= set(tables.modulation_destinations())
    assert all(0 < a <= 1 for a in MOD_TARGETS.values())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), index=st.integers(0, 10**7), attempt=st.integers(0, 7))
def test_lhs_presets_are_valid_and_deterministic(lhs, space, seed, index, attempt):
    d = lhs.draw(seed=seed, index=index, attempt=attempt)
    _assert_valid(d.preset, space)
    assert len(d.assets) == 12 and d.preset.wavetables[0] == d.assets[0].obj()
    assert d.preset.values["osc_1_on"] == 1.0
    again = lhs.draw(seed=seed, index=index, attempt=attempt)
    assert again.preset.to_json() == d.preset.to_json()
    # A fresh sampler in a fresh cache state gives the same item.
    lhs_block.cache_clear()
    assert (
        make_sampler("lhs", LHS_FAST).sample(seed=seed, index=index, attempt=attempt).to_json()
        == d.preset.to_json()
    )


def test_lhs_item_depends_only_on_seed_index_attempt(lhs):
    a = [lhs.sample(seed=3, index=i).to_json() for i in (5, 70, 130)]
    lhs_block.cache_clear()
    b = [lhs.sample(seed=3, index=i).to_json() for i in (130, 70, 5)][::-1]  # other order, other blocks first
    assert a == b
    assert lhs.sample(seed=4, index=5).to_json() != a[0]
    assert lhs.sample(seed=3, index=5, attempt=1).to_json() != a[0]


def test_lhs_design_is_a_latin_hypercube_and_module_probabilities_hold(lhs, space):
    bs = lhs.config.block_size
    design = lhs_block(9, 0, 0, lhs.dims, bs)
    strata = np.floor(design * bs).astype(int)
    for j in range(design.shape[1]):  # every column hits every stratum exactly once
        assert np.array_equal(np.sort(strata[:, j]), np.arange(bs))
    rows = [lhs.values_from_row(design[i, : len(lhs.params)]) for i in range(bs)]
    for switch, p in lhs.config.p_on.items():
        frac = np.mean([r[switch] for r in rows])
        assert abs(frac - p) <= 1.0 / bs + 1e-9, (switch, frac, p)
    # Categorical coverage: options appear in equal strata (counts differ by at most one).
    model = space["filter_1_model"]
    counts = collections.Counter(r["filter_1_model"] for r in rows)
    assert set(counts) == set(model.values)
    assert max(counts.values()) - min(counts.values()) <= 1
    lo, hi = (0.25, 0.75)
    tr = [r["osc_1_transpose"] for r in rows]
    assert -48 * (1 - 2 * lo) - 1 <= min(tr) and max(tr) <= 48 * (2 * hi - 1) + 1


def test_lhs_canonicalizes_inactive_parameters(lhs, space):
    for i in range(40):
        p = lhs.sample(seed=1, index=i)
        active = p.active()
        for name in space.control_names():
            s = space[name]
            if not active[name] and s.prior != "fixed":
                assert p.values[name] == s.default, name
        # canonical form is a fixed point: the activity of the canonical preset is unchanged
        assert p.active() == active
        # oscillators that are off carry the cheap basic saw; unrouted LFOs the init shape
        for k in (2, 3):
            if p.values[f"osc_{k}_on"] == 0:
                assert p.wavetables[k - 1]["name"] == "Basic Saw"
        used = p.used_sources()
        for k in range(1, 9):
            if f"lfo_{k}" not in used:
                assert p.lfo_shapes[k - 1]["name"] == "Triangle"


def test_lhs_connections_use_declared_sources_and_active_destinations(lhs, space):
    n_mods = []
    for i in range(60):
        p = lhs.sample(seed=2, index=i)
        active = p.active()
        n_mods.append(len(p.modulations))
        for m in p.modulations:
            assert m.source in MOD_SOURCES
            assert m.destination in MOD_TARGETS
            assert active[m.destination], m.destination
            assert abs(m.amount) <= MOD_TARGETS[m.destination] + 1e-12
    assert max(n_mods) <= lhs.config.max_modulations
    assert 1.0 <= np.mean(n_mods) <= 3.0


def test_lhs_wavetables_come_from_the_bank_and_stratify():
    bank = wavetable_bank()
    s = make_sampler(
        "lhs", {"p_train_table": 0.0, "p_basic_table": 0.5, "p_bank_table": 0.5, "block_size": 32}
    )
    names = set(bank.names())
    basic = 0
    for i in range(32):
        p = s.sample(seed=0, index=i)
        assert p.wavetables[0]["name"] in names
        basic += p.wavetables[0]["name"].startswith("Basic ")
    assert basic == 16  # osc 1 is always on; its LHS column splits exactly in half


def test_probe_samplers():
    base = Probe(note_seconds=1.0, render_seconds=2.0)
    fixed = make_probe_sampler("fixed", base)
    assert fixed.probe(seed=0, index=5) == base
    rng_ = make_probe_sampler(
        "range", base, {"notes": [36, 84], "velocities": [0.5, 1.0], "note_seconds": [0.2, 5.0]}
    )
    probes = [rng_.probe(seed=1, index=i) for i in range(200)]
    assert probes == [rng_.probe(seed=1, index=i) for i in range(200)]
    assert all(36 <= p.note <= 84 and 0.5 <= p.velocity <= 1.0 for p in probes)
    assert all(0.2 <= p.note_seconds <= base.render_seconds - NOTE_OFF_MARGIN_S for p in probes)
    assert all(p.render_seconds == 2.0 and p.sample_rate == base.sample_rate for p in probes)
    assert len({p.note for p in probes}) > 30
    with pytest.raises(ParameterError, match="notes range"):
        make_probe_sampler("range", base, {"notes": [90, 30]})


def test_item_rng_rejects_negative_arguments():
    with pytest.raises(ParameterError, match=">= 0"):
        item_rng(-1, 0, 0, "x")


def test_test_split_is_refused(tmp_path):
    test_dir = tmp_path / "presets" / "test"
    test_dir.mkdir(parents=True)
    with pytest.raises(DatasetError, match="public test split"):
        check_not_test_split(test_dir)
    with pytest.raises(DatasetError, match="public test split"):
        make_sampler("preset", {"preset_dir": str(test_dir)})
    if (SHARED / "presets" / "test").is_dir():
        with pytest.raises(DatasetError, match="public test split"):
            make_sampler("train", {"preset_dir": str(SHARED / "presets" / "test")})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), index=st.integers(0, 10**6), attempt=st.integers(0, 3))
def test_preset_sampler_outputs_valid_presets_near_training_presets(preset_dir, space, seed, index, attempt):
    s = make_sampler("preset", {"preset_dir": str(preset_dir), "p_bank_table": 0.0})
    d = s.draw(seed=seed, index=index, attempt=attempt)
    _assert_valid(d.preset, space)
    assert d.detail["base"] in {src.name for src in s.sources}
    # wavetables are the presets' own tables (or the basic saw of an oscillator that is off)
    own = {a.key for src in s.sources for a in src.wavetables}
    for k, a in enumerate(d.assets[:3]):
        if d.preset.values[f"osc_{k + 1}_on"]:
            assert a.key in own
    assert s.draw(seed=seed, index=index, attempt=attempt).preset.to_json() == d.preset.to_json()


def test_preset_sampler_covers_each_preset_once_per_epoch_and_perturbs(preset_dir, space):
    s = make_sampler("preset", {"preset_dir": str(preset_dir), "sigma": 0.05, "p_recombine": 0.0})
    n = len(s.sources)
    bases = [s.base_index(seed=4, index=i) for i in range(2 * n)]
    assert sorted(bases[:n]) == list(range(n)) and sorted(bases[n:]) == list(range(n))
    # With only perturbation, items stay close to their base preset in normalized units.
    for i in range(n):
        p = s.sample(seed=4, index=i)
        base = s.sources[bases[i]]
        act = p.active()
        diffs = []
        for name in space.control_names():
            spec = space[name]
            if spec.kind == "continuous" and spec.prior != "fixed" and act[name]:
                diffs.append(abs(spec.to_normalized(p.values[name]) - spec.to_normalized(base.values[name])))
        assert diffs and np.median(diffs) < 0.05 and max(diffs) <= 0.5
    identity = make_sampler(
        "preset",
        {
            "preset_dir": str(preset_dir),
            "sigma": 0.0,
            "p_recombine": 0.0,
            "p_toggle": 0.0,
            "p_step_discrete": 0.0,
            "p_resample_categorical": 0.0,
            "p_bank_table": 0.0,
            "mod_sigma": 0.0,
        },
    )
    train = make_sampler("train", {"preset_dir": str(preset_dir)})
    i = 3
    b = identity.base_index(seed=0, index=i)
    assert identity.sample(seed=0, index=i).values == train.sample(seed=0, index=b).values


def test_preset_sampler_recombines_modules(preset_dir):
    s = make_sampler(
        "preset", {"preset_dir": str(preset_dir), "p_recombine": 1.0, "sigma": 0.0, "max_swaps": 2}
    )
    details = [s.draw(seed=0, index=i).detail for i in range(20)]
    assert all("donor" in d and d["donor"] != d["base"] and 1 <= len(d["swapped"]) <= 2 for d in details)


def test_mix_sampler_keeps_its_component_across_attempts(preset_dir):
    cfg = {
        "weights": {"lhs": 0.5, "preset": 0.5},
        "components": {"lhs": LHS_FAST, "preset": {"preset_dir": str(preset_dir)}},
    }
    s = make_sampler("mix", cfg)
    comps = [s.component(seed=1, index=i) for i in range(200)]
    assert 70 < comps.count("lhs") < 130
    for i in range(6):
        c = s.draw(seed=1, index=i).detail["component"]
        assert c == comps[i] and s.draw(seed=1, index=i, attempt=2).detail["component"] == c
    with pytest.raises(ParameterError, match="mix weights"):
        make_sampler("mix", {"weights": {"mix": 1.0}})


def test_sampler_type_check():
    with pytest.raises(ParameterError, match="takes a LHSConfig"):
        LHSSampler(make_probe_sampler("fixed").config)  # type: ignore[arg-type]
