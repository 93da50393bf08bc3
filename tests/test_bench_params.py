"""Parameter metrics against a known preset: hand-made presets with known differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthmatch.bench.params import (
    GROUPS,
    METRICS,
    effect_order_tau,
    format_parameter_table,
    param_group,
    parameter_metrics,
    parameter_rows,
    summarize_parameters,
)
from synthmatch.vital.effects import EFFECTS, encode_order
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import default_space
from synthmatch.vital.wavetables import basic_frame, wavetable_from_frames


@pytest.fixture(scope="module")
def base() -> Preset:
    p = Preset.init().with_values(filter_1_on=1.0, filter_1_cutoff=60.0, chorus_on=1.0, reverb_on=1.0)
    p.modulations = [
        Modulation("lfo_1", "filter_1_cutoff", amount=0.5),
        Modulation("env_2", "osc_1_level", 0.2),
    ]
    return p


def test_identical_presets_score_perfectly(base):
    m = parameter_metrics(base, base.copy())
    assert set(m) == set(METRICS)
    for g in GROUPS:
        assert m[f"mae_{g}"] == 0.0 or math.isnan(m[f"mae_{g}"])
    assert m["mae_all"] == 0.0
    for k in ("acc_categorical", "acc_discrete", "acc_switch", "acc_wavetable"):
        assert m[k] == 1.0
    assert m["mod_precision"] == m["mod_recall"] == m["mod_f1"] == 1.0
    assert m["mod_amount_error"] == 0.0
    assert m["effect_order_tau"] == 1.0


def test_a_continuous_difference_counts_in_its_group_only(base):
    spec = default_space()["filter_1_cutoff"]
    moved = base.with_values(filter_1_cutoff=60.0 + 0.3 * spec.span)
    m = parameter_metrics(moved, base)
    n_filter = sum(
        1
        for s in default_space().specs
        if param_group(s) == "filters" and s.kind == "continuous" and base.active()[s.name]
    )
    assert m["mae_filters"] == pytest.approx(0.3 / n_filter, rel=1e-6)
    assert m["mae_oscillators"] == m["mae_envelopes"] == 0.0
    # a control inactive in the truth is not scored: filter 2 is off
    assert parameter_metrics(base.with_values(filter_2_cutoff=10.0), base)["mae_filters"] == 0.0


def test_groups_come_from_the_spec_modules():
    space = default_space()
    assert param_group(space["osc_2_level"]) == "oscillators"
    assert param_group(space["sample_level"]) == "oscillators"
    assert param_group(space["filter_2_resonance"]) == "filters"
    assert param_group(space["filter_fx_cutoff"]) == "effects"
    assert param_group(space["env_3_attack"]) == "envelopes"
    assert param_group(space["random_1_frequency"]) == "lfos"
    assert param_group(space["reverb_dry_wet"]) == "effects"
    assert param_group(space["volume"]) == "voice"
    assert param_group(space["mod_3_amount"]) is None
    assert param_group(space["effect_chain_order"]) is None


def test_categorical_and_switch_accuracy(base):
    space = default_space()
    active = base.active()
    n_cat = sum(1 for s in space.specs if s.kind == "categorical" and param_group(s) and active[s.name])
    n_sw = sum(1 for s in space.specs if s.kind == "bool" and param_group(s) and active[s.name])
    other_model = (base.values["filter_1_model"] + 1) % 8
    m = parameter_metrics(base.with_values(filter_1_model=other_model, reverb_on=0.0), base)
    assert m["acc_categorical"] == pytest.approx(1 - 1 / n_cat)
    assert m["acc_switch"] == pytest.approx(1 - 1 / n_sw)


def test_wavetable_accuracy_compares_table_content(base):
    two = base.with_values(osc_2_on=1.0)
    other = two.copy()
    other.wavetables[1] = wavetable_from_frames(basic_frame("square")[None])
    assert parameter_metrics(other, two)["acc_wavetable"] == 0.5
    renamed = two.copy()
    renamed.wavetables[0] = {**renamed.wavetables[0], "name": "another name"}
    assert parameter_metrics(renamed, two)["acc_wavetable"] == 1.0


def test_connections_precision_recall_and_amounts(base):
    pred = base.copy()
    pred.modulations = [
        Modulation("lfo_1", "filter_1_cutoff", amount=0.25),  # matched, amount off by 0.25
        Modulation("lfo_2", "osc_1_pan", amount=0.3),  # wrong
        Modulation("lfo_3", "osc_1_pan", amount=0.0),  # silent: not a connection
    ]
    m = parameter_metrics(pred, base)
    assert m["mod_precision"] == 0.5 and m["mod_recall"] == 0.5 and m["mod_f1"] == 0.5
    assert m["mod_amount_error"] == pytest.approx(0.25)
    pred.modulations = []
    m = parameter_metrics(pred, base)
    assert math.isnan(m["mod_precision"]) and m["mod_recall"] == 0.0 and m["mod_f1"] == 0.0


def test_effect_order_tau():
    on = {f"{fx}_on": 1.0 for fx in EFFECTS[:4]}
    ident = {**on, "effect_chain_order": float(encode_order(range(9)))}
    rev = {**on, "effect_chain_order": float(encode_order([3, 2, 1, 0, 4, 5, 6, 7, 8]))}
    swap = {**on, "effect_chain_order": float(encode_order([1, 0, 2, 3, 4, 5, 6, 7, 8]))}
    assert effect_order_tau(ident, ident) == 1.0
    assert effect_order_tau(rev, ident) == -1.0
    assert effect_order_tau(swap, ident) == pytest.approx(4 / 6)  # 1 discordant pair of 6
    one = {"chorus_on": 1.0, "effect_chain_order": 0.0}
    assert math.isnan(effect_order_tau(one, ident))


def test_summary_and_table(base):
    rows = parameter_rows([base, None, base.with_values(reverb_on=0.0)], [base, base, base])
    assert rows[1] == {}
    summary = summarize_parameters({"a": rows, "none": [{}, {}]})
    assert list(summary) == ["a"]
    mean, lo, hi, n = summary["a"]["acc_switch"]
    assert n == 2 and lo <= mean <= hi <= 1.0 and mean < 1.0
    assert np.isnan(summary["a"]["mae_lfos"][0]) or summary["a"]["mae_lfos"][0] == 0.0
    text = "\n".join(format_parameter_table(summary))
    assert "| metric | a |" in text
    assert "| acc_switch | " in text and "(n=2)" in text


@pytest.mark.vita
def test_bench_run_reports_parameter_metrics_on_items_with_a_known_preset(tmp_path):
    import json

    from synthmatch.bench.run import BenchConfig, run_benchmark

    config = BenchConfig(
        suites=("id-rand",), methods=("init",), n_rand=2, rand_seed=777, workers=2, engine_speed_presets=0
    )
    report = run_benchmark(config, out=tmp_path)
    table = report["suites"][0]["parameters"]["init"]
    assert set(table) == set(METRICS)
    assert 0.0 <= table["acc_switch"][0] <= 1.0 and table["acc_switch"][3] >= 1
    scores = json.loads((tmp_path / "scores_id-rand-dev777.json").read_text())
    rows = scores["params"]["init"]
    assert len(rows) == len(scores["items"]) and all(set(r) == set(METRICS) for r in rows)
    assert "| mae_filters |" in (tmp_path / "report.md").read_text()
