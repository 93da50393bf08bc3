"""The estimator's torch-free side: layout, training targets, wavetable vocabulary, decoding.

Torch modules, losses and checkpoints are tested further down, behind ``pytest.importorskip``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthmatch.data import build_dataset, open_dataset
from synthmatch.errors import DatasetError, ParameterError, SpecMismatchError
from synthmatch.models.decode import decode
from synthmatch.models.layout import (
    OUTPUT_NAMES,
    EstimatorLayout,
    probe_vector,
    training_targets,
    wavetable_classes,
)
from synthmatch.models.vocab import (
    build_wavetable_vocab,
    item_wavetable_keys,
    load_wavetables,
    oscillators_on,
    save_wavetables,
)
from synthmatch.vital.effects import decode_order
from synthmatch.vital.preset import check_vital_json
from synthmatch.vital.spec import ParamSpace, default_space
from tests.conftest import SHORT_PROBE

N_ITEMS = 12
LHS_FAST = {"p_train_table": 0.0, "block_size": 64}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, render_pool):
    """12 LHS items with per-item probes, rendered with the short probe (a few seconds)."""
    out = tmp_path_factory.mktemp("est") / "ds"
    build_dataset(
        out,
        n=N_ITEMS,
        shard_size=5,
        executor=render_pool.executor,
        sampler="lhs",
        sampler_config=LHS_FAST,
        seed=11,
        probe=SHORT_PROBE,
        probe_sampler="range",
    )
    return open_dataset(out)


@pytest.fixture(scope="module")
def layout(tiny):
    vocab = build_wavetable_vocab(tiny, size=6)
    return EstimatorLayout.from_space(default_space(), [k for k, _ in vocab])


def _batch(ds):
    return next(ds.iter_batches(len(ds), fields=("index", "x", "c", "active_x", "active_c")))


# ---------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------
def test_layout_round_trips_through_json(layout):
    again = EstimatorLayout.from_dict(json.loads(json.dumps(layout.to_dict())))
    assert again == layout and again.layout_hash == layout.layout_hash
    assert layout.spec_hash == default_space().spec_hash
    with pytest.raises(ParameterError, match="unknown"):
        EstimatorLayout.from_dict({**layout.to_dict(), "extra": 1})
    assert layout.with_vocab(["a"]).layout_hash != layout.layout_hash


def test_layout_sizes_follow_the_spec(space):
    layout = EstimatorLayout.from_space(space, ["k1", "k2"])
    plain = [s for s in space.specs if not s.module.startswith("mod_") and s.prior != "fixed"]
    kinds = {
        k: [s for s in plain if s.kind == k and s.name != "effect_chain_order"]
        for k in ("continuous", "bool", "discrete", "categorical")
    }
    assert layout.continuous == tuple(s.name for s in kinds["continuous"])
    assert layout.n_bools == len(kinds["bool"])
    assert layout.n_discrete_logits == sum(int(s.max - s.min) + 1 for s in kinds["discrete"])
    assert layout.n_cat_logits == sum(len(s.values) for s in kinds["categorical"])
    assert layout.n_sources == len(space["mod_1_source"].options) - 1
    assert layout.n_destinations == len(space["mod_1_destination"].options) - 1
    assert layout.n_wavetable_classes == 3 and layout.other_wavetable == 2
    assert layout.fixed == tuple(
        s.name for s in space.specs if s.prior == "fixed" and not s.module.startswith("mod_")
    )
    assert layout.continuous_weights == tuple(s.weight for s in kinds["continuous"])
    shapes = layout.output_shapes(embedding_dim=8, mdn_components=4)
    assert tuple(shapes) == OUTPUT_NAMES
    assert shapes["mod_logits"] == ("B", layout.n_sources, layout.n_destinations)
    assert shapes["mdn_mu"] == ("B", layout.n_continuous, 4)
    # a smaller space (no filter 2 parameters) gives a smaller layout: nothing is hard-coded
    smaller = ParamSpace(
        [s for s in space.specs if not s.name.startswith("filter_2_")], n_mod_slots=space.n_mod_slots
    )
    small = EstimatorLayout.from_space(smaller)
    assert small.spec_hash == smaller.spec_hash != layout.spec_hash
    dropped = [n for n in layout.continuous if n.startswith("filter_2_")]
    assert dropped and small.n_continuous == layout.n_continuous - len(dropped)
    with pytest.raises(SpecMismatchError, match="Hint"):
        small.check_space(space)


def test_targets_are_looked_up_by_name_and_follow_a_reordered_space(tiny, layout, space):
    batch = _batch(tiny)
    t = training_targets(batch, layout)
    num = list(space.layout.numeric)
    j = layout.continuous.index("filter_1_cutoff")
    np.testing.assert_array_equal(t["cont"][:, j], batch["x"][:, num.index("filter_1_cutoff")])
    np.testing.assert_array_equal(t["cont_mask"][:, j], batch["active_x"][:, num.index("filter_1_cutoff")])
    # the same parameters in another order: the same targets, by name
    rev = ParamSpace(list(reversed(space.specs)), n_mod_slots=space.n_mod_slots)
    lay_rev = EstimatorLayout.from_space(rev, layout.wavetable_vocab)
    assert lay_rev.continuous == tuple(reversed(layout.continuous))
    x_rev = batch["x"][:, [num.index(n) for n in rev.layout.numeric]]
    cat = list(space.layout.categorical)
    c_rev = batch["c"][:, [cat.index(n) for n in rev.layout.categorical]]
    b_rev = {
        "x": x_rev,
        "c": c_rev,
        "active_x": batch["active_x"][:, [num.index(n) for n in rev.layout.numeric]],
        "active_c": batch["active_c"][:, [cat.index(n) for n in rev.layout.categorical]],
    }
    t_rev = training_targets(b_rev, lay_rev, space=rev)
    np.testing.assert_array_equal(t_rev["cont"][:, ::-1], t["cont"])
    np.testing.assert_array_equal(t_rev["mod"], t["mod"])
    np.testing.assert_array_equal(t_rev["order"], t["order"])


def test_targets_match_the_presets(tiny, layout):
    batch = _batch(tiny)
    keys = item_wavetable_keys(tiny)
    t = training_targets(batch, layout, wavetable_class=wavetable_classes(keys, layout))
    for pos in range(len(tiny)):
        p = tiny.preset(pos)
        assert t["order"][pos].tolist() == decode_order(p.values["effect_chain_order"])
        pairs = {(m.source, m.destination) for m in p.modulations}
        got = {
            (layout.mod_sources[s], layout.mod_destinations[d]) for s, d in zip(*np.nonzero(t["mod"][pos]))
        }
        assert got == pairs
        for m in p.modulations:
            s, d = layout.mod_sources.index(m.source), layout.mod_destinations.index(m.destination)
            assert t["mod_amount"][pos, s, d] == pytest.approx(m.amount, abs=1e-6) or len(pairs) < len(
                p.modulations
            )
        for j in range(3):
            on = p.values[f"osc_{j + 1}_on"] >= 0.5
            assert t["wt_mask"][pos, j] == float(on)
            k = t["wt"][pos, j]
            assert (layout.wavetable_vocab[k] if k < layout.other_wavetable else None) in (keys[pos][j], None)
        for i, name in enumerate(layout.discrete):
            assert layout.discrete_min[i] + t["disc"][pos, i] == p.values[name]
        for i, name in enumerate(layout.categorical):
            assert default_space()[name].values[t["cat"][pos, i]] == p.values[name]
        fx_on = [p.values[f"{fx}_on"] >= 0.5 for fx in layout.effects]
        assert t["order_mask"][pos].tolist() == [float(v) for v in fx_on]


def test_probe_vector_follows_the_convention():
    v = probe_vector(note=[60, 127], velocity=[0.5, 1.0], note_seconds=[2.0, 4.0])
    assert v.dtype == np.float32 and v.shape == (2, 3)
    np.testing.assert_allclose(v, [[60 / 127, 0.5, 0.5], [1.0, 1.0, 1.0]])


# ---------------------------------------------------------------------------------------
# wavetable vocabulary
# ---------------------------------------------------------------------------------------
def test_vocab_counts_sounding_oscillators_most_frequent_first(tiny, tmp_path):
    keys = item_wavetable_keys(tiny)
    on = oscillators_on(tiny)
    assert len(keys) == len(tiny) and on.shape == (len(tiny), 3) and on[:, 0].all()
    vocab = build_wavetable_vocab(tiny, size=100)
    counts = {}
    for p in range(len(tiny)):
        for j in range(3):
            if on[p, j]:
                counts[keys[p][j]] = counts.get(keys[p][j], 0) + 1
    assert dict(vocab) == counts
    assert [n for _, n in vocab] == sorted((n for _, n in vocab), reverse=True)
    assert build_wavetable_vocab(tiny, size=3) == vocab[:2]
    assert build_wavetable_vocab(tiny, size=1) == []
    half = build_wavetable_vocab(tiny, size=100, positions=np.arange(len(tiny) // 2))
    assert sum(n for _, n in half) == int(on[: len(tiny) // 2].sum())
    small = [k for k, _ in vocab if tiny.store.path(k).stat().st_size <= 2000]
    budget = build_wavetable_vocab(tiny, size=100, max_bytes=2000 * len(small))
    assert sum(tiny.store.path(k).stat().st_size for k, _ in budget) <= 2000 * len(small)
    with pytest.raises(DatasetError):
        build_wavetable_vocab(tiny, size=0)
    path = save_wavetables(tmp_path / "wt.npz", tiny, [k for k, _ in vocab])
    got_keys, tables = load_wavetables(path)
    assert got_keys == [k for k, _ in vocab]
    assert tables[0] == tiny.store.get(got_keys[0])
    raw = dict(np.load(path))
    raw["keys"] = raw["keys"][::-1].copy()
    np.savez(tmp_path / "bad.npz", **raw)
    if len(vocab) > 1:
        with pytest.raises(DatasetError, match="does not match"):
            load_wavetables(tmp_path / "bad.npz")


# ---------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------
def _random_outputs(layout, rng, batch=3, k=3):
    shapes = layout.output_shapes(embedding_dim=8, mdn_components=k)
    out = {n: (2 * rng.standard_normal((batch, *s[1:]))).astype(np.float32) for n, s in shapes.items()}
    out["mdn_mu"] = rng.random(out["mdn_mu"].shape).astype(np.float32)
    out["mdn_log_sigma"] = np.full_like(out["mdn_mu"], -3.0)
    out["mod_logits"] -= 5.0  # a few connections
    return out


def test_decode_gives_valid_presets_mode_and_samples(tiny, layout, space):
    rng = np.random.default_rng(0)
    out = _random_outputs(layout, rng)
    _, tables = load_wavetables(save_wavetables(tiny.root.parent / "wt.npz", tiny, layout.wavetable_vocab))
    for row in range(3):
        mode = decode(out, layout, row=row, tables=tables)
        assert decode(out, layout, row=row, tables=tables).values == mode.values  # the mode is deterministic
        s0, s0b, s1 = (decode(out, layout, row=row, sample=k, tables=tables) for k in (0, 0, 1))
        assert s0.values == s0b.values and s0.values != s1.values
        for p in (mode, s0, s1):
            assert check_vital_json(p.to_vital()) == []
            assert len(p.modulations) <= layout.max_connections
            active = p.active()
            for name in space.control_names():
                spec = space[name]
                if spec.prior == "fixed":
                    assert p.values[name] == (
                        spec.default if spec.sample_value() is None else spec.sample_value()
                    )
                elif not active[name]:
                    assert p.values[name] == spec.default
    probs = 1 / (1 + np.exp(-out["mod_logits"][0]))
    assert len(decode(out, layout, row=0).modulations) == min(
        int((probs > 0.5).sum()), layout.max_connections
    )
    assert len(decode(out, layout, row=0, threshold=0.0).modulations) == layout.max_connections
    with pytest.raises(ParameterError, match="row"):
        decode(out, layout, row=3)
    with pytest.raises(ParameterError, match="lack"):
        decode({k: v for k, v in out.items() if k != "cat_logits"}, layout)


def test_decode_of_the_targets_rebuilds_the_dataset_presets(tiny, layout, space):
    """Outputs that put all their mass on the targets decode back to the items' presets."""
    batch = _batch(tiny)
    keys = item_wavetable_keys(tiny)
    t = training_targets(batch, layout, wavetable_class=wavetable_classes(keys, layout))
    n, big = len(tiny), 30.0

    def onehot(idx, sizes):
        cols = [np.where(np.arange(s)[None] == idx[:, i : i + 1], big, -big) for i, s in enumerate(sizes)]
        return np.concatenate(cols, axis=1)

    k = 2
    out = {
        "embedding": np.zeros((n, 4), np.float32),
        "mdn_logit_pi": np.stack(
            [np.full((n, layout.n_continuous), big), np.zeros((n, layout.n_continuous))], 2
        ),
        "mdn_mu": np.repeat(t["cont"][:, :, None], k, axis=2),
        "mdn_log_sigma": np.full((n, layout.n_continuous, k), -5.0),
        "bool_logits": np.where(t["bool"] > 0.5, big, -big),
        "discrete_logits": onehot(t["disc"], layout.discrete_levels),
        "cat_logits": onehot(t["cat"], layout.categorical_sizes),
        "order_scores": np.argsort(t["order"], axis=1).astype(np.float32) * -1.0,
        "mod_logits": np.where(t["mod"] > 0, big, -big),
        "mod_amount": t["mod_amount"],
        "wt_logits": np.where(
            np.arange(layout.n_wavetable_classes)[None, None] == t["wt"][:, :, None], big, -big
        ),
    }
    _, tables = load_wavetables(save_wavetables(tiny.root.parent / "wt2.npz", tiny, layout.wavetable_vocab))
    for pos in range(n):
        truth = tiny.preset(pos)
        got = decode(out, layout, row=pos, tables=tables)
        active = truth.active()
        for name in space.control_names():
            if active[name]:
                assert got.values[name] == pytest.approx(
                    truth.values[name], abs=1e-5 * max(1.0, space[name].span)
                ), name
        assert got.values["effect_chain_order"] == truth.values["effect_chain_order"]
        assert sorted((m.source, m.destination) for m in got.modulations) == sorted(
            (m.source, m.destination) for m in truth.modulations
        )
        for j in range(3):
            if truth.values[f"osc_{j + 1}_on"] >= 0.5 and t["wt"][pos, j] < layout.other_wavetable:
                assert got.wavetables[j] == truth.wavetables[j]


@pytest.mark.vita
def test_decoded_presets_render(tiny, layout, render_pool):
    rng = np.random.default_rng(1)
    out = _random_outputs(layout, rng, batch=2)
    _, tables = load_wavetables(save_wavetables(tiny.root.parent / "wt3.npz", tiny, layout.wavetable_vocab))
    presets = [decode(out, layout, row=r, sample=s, tables=tables) for r in range(2) for s in (None, 0)]
    outcomes = render_pool.render(presets, SHORT_PROBE)
    # the engine loads and plays every decoded preset (random outputs may well be quiet)
    assert all(o.ok for o in outcomes), [(o.status, o.reason) for o in outcomes]
    assert all(np.all(np.isfinite(o.audio)) for o in outcomes)


def test_decode_refuses_another_space(layout):
    other = ParamSpace([s for s in default_space().specs if s.name != "filter_2_drive"])
    with pytest.raises(SpecMismatchError):
        decode({}, layout, space=other)
