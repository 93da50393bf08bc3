"""Libraries built from a dataset's stored log-mels (no render), the estimator's split, knn-train."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthmatch.audio.features import get_embedding, log_mel
from synthmatch.data import build_dataset, open_dataset
from synthmatch.errors import ParameterError
from synthmatch.models.configs import DataConfig
from synthmatch.search.build import build_from_dataset, build_from_stored_mels
from synthmatch.search.library import Library
from synthmatch.train.split import is_validation
from synthmatch.vital.wavetables import table_fingerprint
from tests.conftest import SHORT_PROBE, TINY_RANGE_BUILD

pytestmark = pytest.mark.vita

N, SHARD = 12, 5


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, render_pool):
    out = tmp_path_factory.mktemp("ds") / "range"
    build_dataset(
        out,
        n=N,
        shard_size=SHARD,
        executor=render_pool.executor,
        seed=3,
        keep_audio=True,
        **TINY_RANGE_BUILD,
    )
    return out


def _same_preset(a, b) -> bool:
    """Same values, connections and sounding oscillators' tables (a library swaps silent ones)."""
    on = [k for k in range(3) if b.values[f"osc_{k + 1}_on"] >= 0.5]
    return (
        a.values == b.values
        and [(m.source, m.destination, m.amount) for m in a.modulations]
        == [(m.source, m.destination, m.amount) for m in b.modulations]
        and all(table_fingerprint(a.wavetables[k]) == table_fingerprint(b.wavetables[k]) for k in on)
    )


def test_embedding_of_audio_matches_the_embedding_of_its_stored_mel():
    emb = get_embedding("logmel-stats", seconds=0.5)
    t = np.arange(22050) / 44100
    y = (0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-4 * t)).astype(np.float32)
    stored = log_mel(y, emb.config.mel).astype(np.float16)
    assert emb.embed(y, 44100).shape == (emb.dim,) == (280,)
    np.testing.assert_allclose(emb.embed(y, 44100), emb.embed_mels(stored[None])[0], atol=1e-3)
    # a longer clip is cut to the render length, a shorter one padded with silence
    np.testing.assert_array_equal(emb.embed(np.concatenate([y, y]), 44100), emb.embed(y, 44100))
    assert np.isfinite(emb.embed(np.zeros(100, np.float32), 44100)).all()
    # deterministic; levels are relative to the clip's peak, so a gain moves it less than a fifth up
    np.testing.assert_array_equal(emb.embed(y, 44100), emb.embed(y.copy(), 44100))
    fifth = (0.3 * np.sin(2 * np.pi * 330 * t) * np.exp(-4 * t)).astype(np.float32)
    gain = np.linalg.norm(emb.embed(0.5 * y, 44100) - emb.embed(y, 44100))
    assert gain < 0.5 * np.linalg.norm(emb.embed(fifth, 44100) - emb.embed(y, 44100))


def test_library_from_stored_mels_holds_the_train_split_and_the_item_presets(dataset, tmp_path, monkeypatch):
    import synthmatch.render.pool as pool_module

    def no_render(*a, **k):
        raise AssertionError("a library from stored features must not render")

    monkeypatch.setattr(pool_module.RenderPool, "__init__", no_render)
    ds = open_dataset(dataset)
    lib = build_from_dataset(dataset, embedding="logmel-stats", split="train", val_fraction=0.3)
    expect = np.nonzero(~is_validation(ds.indices(), fraction=0.3, salt=DataConfig().split_salt))[0]
    assert 0 < len(expect) < len(ds)  # the split holds some items out
    assert [r["item"] for r in lib.records] == [int(ds.indices()[i]) for i in expect]
    for j, pos in enumerate(expect):
        assert _same_preset(lib.preset(j), ds.preset(int(pos)))
        assert lib.records[j]["probe"] == ds.probe_of(int(pos)).to_dict()
    src = lib.provenance["source"]
    assert src["split"] == "train" and src["val_fraction"] == 0.3 and src["n"] == len(expect)
    assert src["dataset"] == str(dataset) and src["rendered"] is False
    assert lib.provenance["embedding"]["name"] == "logmel-stats"
    assert lib.provenance["embedding"]["config"]["seconds"] == SHORT_PROBE.render_seconds
    # the default split is the estimator's
    default = build_from_stored_mels(dataset, split="train")
    keep = ~is_validation(ds.indices(), fraction=DataConfig().val_fraction, salt=DataConfig().split_salt)
    assert default.provenance["source"]["n"] == int(keep.sum())
    lib.save(tmp_path / "lib")
    assert len(Library.load(tmp_path / "lib")) == len(expect)
    with pytest.raises(ParameterError, match="split"):
        build_from_stored_mels(dataset, split="test")
    # the first N items only: what an estimator trained on a dataset still being built read
    first = build_from_stored_mels(dataset, split="train", val_fraction=0.3, items=5)
    smallest = set(np.sort(ds.indices())[:5].tolist())
    assert [r["item"] for r in first.records] == [
        int(ds.indices()[i]) for i in expect if ds.indices()[i] in smallest
    ]
    assert first.provenance["source"]["items"] == 5
    with pytest.raises(ParameterError, match="fewer than"):
        build_from_stored_mels(dataset, split="train", items=len(ds) + 1)


def test_an_items_own_audio_retrieves_it_and_knn_train_plays_it_at_the_targets_note(dataset, tmp_path):
    from synthmatch.bench.methods import load_train_library, make_methods
    from synthmatch.bench.suites import Item

    ds = open_dataset(dataset)
    build_from_stored_mels(dataset, split="all").save(tmp_path / "lib")
    lib = load_train_library(str(tmp_path / "lib"))
    emb = get_embedding(lib.embedding_name, **lib.provenance["embedding"]["config"])
    for pos in range(len(ds)):
        idx, dist = lib.search(emb.embed(ds.audio(pos).mean(axis=0), 44100), 1)
        assert int(idx[0]) == pos, (pos, dist)
    knn_train = make_methods(["knn-train"], matcher=None, budget=1, train_library=str(tmp_path / "lib"))[
        "knn-train"
    ]
    pos = 1
    a = knn_train(Item("x", ds.audio(pos).mean(axis=0), 44100))
    shift = ds.probe_of(pos).note - a.probe.note
    want = ds.preset(pos)
    assert a.preset.values["voice_transpose"] == float(
        np.clip(want.values["voice_transpose"] + shift, -48, 48)
    )
    a.preset.values["voice_transpose"] = want.values["voice_transpose"]
    assert _same_preset(a.preset, want)
    assert json.loads(json.dumps(lib.provenance))["item_probes"] is True
