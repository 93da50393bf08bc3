"""The learned retrieval: a library of the trained estimator's encoder embedding (built from a
dataset's stored log-mels, each item at its own probe), knn-learned, and merged parameter metrics."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from synthmatch.audio.features import get_embedding
from synthmatch.data import build_dataset, open_dataset
from synthmatch.errors import ParameterError, SpecMismatchError, SynthmatchError
from synthmatch.models.configs import get_config
from synthmatch.search.build import build_from_dataset, build_from_sampler, build_from_stored_mels
from tests.conftest import SHORT_PROBE, TINY_RANGE_BUILD

pytest.importorskip("torch", reason="training the debug estimator needs the 'train' extra (torch)")

from synthmatch.train.estimator import train_estimator

pytestmark = pytest.mark.vita

N, SHARD = 12, 5
DEBUG = get_config("debug").replace(data=get_config("debug").data.replace(val_fraction=0.25, n_items=N))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, render_pool):
    out = tmp_path_factory.mktemp("learned") / "ds"
    build_dataset(
        out,
        n=N,
        shard_size=SHARD,
        executor=render_pool.executor,
        seed=5,
        keep_audio=True,
        **TINY_RANGE_BUILD,
    )
    return out


@pytest.fixture(scope="module")
def model(dataset, tmp_path_factory):
    """A 2-epoch debug estimator (seconds)."""
    out = tmp_path_factory.mktemp("learned-run") / "debug"
    # untracked: the test needs only the exported model
    return train_estimator(config=DEBUG, dataset=dataset, out=out, epochs=2, threads=1, tracking="none").out


@pytest.fixture(scope="module")
def libs(dataset, model, tmp_path_factory):
    """(the learned library, a logmel-stats one) of all the dataset's items, saved."""
    root = tmp_path_factory.mktemp("learned-libs")
    learned = build_from_dataset(dataset, embedding="estimator", embedding_config={"path": str(model)})
    learned.save(root / "learned")
    build_from_stored_mels(dataset, embedding="logmel-stats").save(root / "stats")
    return root / "learned", root / "stats"


def test_stored_mel_and_own_probe_retrieve_the_item_and_audio_embeds_like_its_stored_mel(
    dataset, model, libs
):
    from synthmatch.search.estimator import Estimator
    from synthmatch.search.library import Library

    ds = open_dataset(dataset)
    lib = Library.load(libs[0])
    cfg = lib.provenance["embedding"]
    assert cfg["name"] == "estimator"
    assert cfg["config"]["fingerprint"] == Estimator(model).fingerprint
    assert lib.provenance["source"]["rendered"] is False and len(lib) == N
    emb = get_embedding("estimator", **cfg["config"])
    np.testing.assert_allclose(np.linalg.norm(lib.embeddings, axis=1), 1.0, atol=1e-5)  # faiss L2 = cosine
    mels = np.concatenate([ds.shard_columns(k, ("mel",))["mel"] for k in range(ds.n_shards)])
    for pos in range(len(ds)):
        probe = ds.probe_of(pos)
        assert lib.records[pos]["probe"] == probe.to_dict()
        q = emb.embed_mels(mels[pos : pos + 1], probes=[probe])[0]
        np.testing.assert_allclose(q, lib.embeddings[pos], atol=1e-6)
        idx, _ = lib.search(q, 1)
        assert int(idx[0]) == pos
        # the rendered audio, through Estimator.features, lands on the stored log-mel's vector
        # (the stored log-mel is float16: about 0.01 dB)
        from_audio = emb.embed(ds.audio(pos).mean(axis=0), 44100, probe=probe)
        np.testing.assert_allclose(from_audio, lib.embeddings[pos], atol=2e-3)
        assert int(lib.search(from_audio, 1)[0][0]) == pos
    # batched equals one at a time; the vector depends on the probe (the network is conditioned on it)
    probes = [ds.probe_of(p) for p in range(3)]
    np.testing.assert_allclose(emb.embed_mels(mels[:3], probes=probes), lib.embeddings[:3], atol=1e-6)
    other = dataclasses.replace(probes[0], note=probes[0].note + 12)
    assert not np.allclose(emb.embed_mels(mels[:1], probes=[other]), lib.embeddings[:1], atol=1e-4)


def test_the_train_split_is_the_one_the_model_trained_with(dataset, model):
    from synthmatch.train.split import is_validation

    ds = open_dataset(dataset)
    lib = build_from_dataset(
        dataset, embedding="estimator", embedding_config={"path": str(model)}, split="train"
    )
    keep = ~is_validation(ds.indices(), fraction=DEBUG.data.val_fraction, salt=DEBUG.data.split_salt)
    assert 0 < keep.sum() < len(ds)
    assert [r["item"] for r in lib.records] == [int(i) for i in ds.indices()[keep]]
    assert lib.provenance["source"]["val_fraction"] == DEBUG.data.val_fraction


def test_a_query_without_its_probe_is_refused(libs, model):
    from synthmatch.search.library import Library

    emb = get_embedding("estimator", path=str(model))
    y = np.zeros(1000, np.float32)
    with pytest.raises(SynthmatchError, match="conditioned on the probe"):
        emb.embed(y, 44100)
    with pytest.raises(SynthmatchError, match="conditioned on the probe"):
        emb.embed_mels(np.zeros((2, 64, 10), np.float32))
    with pytest.raises(SynthmatchError, match="conditioned on the probe"):
        emb.embed_batch([y], 44100)
    # the audio embeddings still take (and ignore) it
    for name in ("handcrafted", "logmel-stats"):
        e = get_embedding(name)
        np.testing.assert_array_equal(e.embed(y + 0.1, 44100), e.embed(y + 0.1, 44100, probe=SHORT_PROBE))
    # a rendered library would embed its renders without their probe: refused before any render
    with pytest.raises(ParameterError, match="stored log-mels"):
        build_from_sampler("lhs", n=2, embedding="estimator")
    assert Library.load(libs[0]).embedding_name == "estimator"


def test_a_library_built_with_another_model_is_refused(dataset, model, tmp_path):
    from synthmatch.bench.methods import make_methods

    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    build_from_dataset(dataset, embedding="estimator", embedding_config={"path": str(copy)}).save(
        tmp_path / "lib"
    )
    fingerprint = json.loads((tmp_path / "lib" / "library.json").read_text())["embedding"]["config"][
        "fingerprint"
    ]
    # the model is retrained in place (here: its card changes): its fingerprint moves
    card = json.loads((copy / "model_card.json").read_text())
    card["retrained"] = True
    (copy / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(SpecMismatchError, match=fingerprint):
        get_embedding("estimator", path=str(copy), fingerprint=fingerprint)
    with pytest.raises(SpecMismatchError, match="rebuild the library"):
        make_methods(["knn-learned"], matcher=None, budget=1, train_library=str(tmp_path / "lib"))


def test_knn_learned_and_knn_train_run_together_each_on_its_library(dataset, libs):
    from synthmatch.bench.log import settings_key
    from synthmatch.bench.methods import make_methods, train_library_for
    from synthmatch.bench.suites import Item
    from synthmatch.search.library import Library

    learned, stats = map(str, libs)
    both = f"{stats},{learned}"
    assert train_library_for("knn-train", both) == stats
    assert train_library_for("knn-learned", both) == learned
    assert train_library_for("knn", both) is None
    fns = make_methods(["knn-train", "knn-learned"], matcher=None, budget=1, train_library=both)
    ds = open_dataset(dataset)
    lib = Library.load(learned)
    a = fns["knn-learned"](Item("x", ds.audio(2).mean(axis=0), 44100))
    assert a.renders == 0 and a.preset is not None
    # one of the library's presets, whose pitch only the target's f0 may have moved
    pitch = ("voice_transpose", "voice_tune")
    got = {k: v for k, v in a.preset.values.items() if k not in pitch}
    assert any(
        got == {k: v for k, v in lib.preset(i).values.items() if k not in pitch} for i in range(len(lib))
    )
    # each method's key holds the provenance of its own library: adding the learned library keeps
    # knn-train's logged attempts, and the learned library's model is in knn-learned's
    key = lambda m, t: json.loads(settings_key(m, budget=1, matcher=None, train_library=t))  # noqa: E731
    assert key("knn-train", both) == key("knn-train", stats)
    assert key("knn-learned", both) == key("knn-learned", learned) != key("knn-learned", stats)
    # each method needs a library of its kind, and only one
    with pytest.raises(
        SynthmatchError, match="knn-learned needs --train-library: a library of the estimator"
    ):
        make_methods(["knn-learned"], matcher=None, budget=1, train_library=stats)
    with pytest.raises(SynthmatchError, match="knn-train needs --train-library"):
        make_methods(["knn-train"], matcher=None, budget=1, train_library=learned)
    with pytest.raises(SynthmatchError, match="reads one library"):
        make_methods(["knn-learned"], matcher=None, budget=1, train_library=f"{learned},{learned}")


def test_merge_keeps_the_parameter_metrics(tmp_path):
    from synthmatch.bench import merge_scores

    def write(folder, items, method, mss, maes):
        (tmp_path / folder).mkdir()
        data = {
            "suite": "id-rand",
            "items": items,
            "scores": {method: [{"mss_mel": v} for v in mss]},
            "keys": {method: method},
            "cost": {method: [[0, 1.0]] * len(items)},
            "analysis": [None] * len(items),
            "params": {method: [{"mae_all": v, "acc_categorical": 1.0} for v in maes]},
        }
        (tmp_path / folder / "scores_id-rand.json").write_text(json.dumps(data))

    write("a", ["i1", "i2"], "knn", [1.0, 2.0], [0.1, 0.3])
    write("b", ["i1", "i2"], "knn-learned", [1.5, 2.5], [0.2, 0.2])
    report = merge_scores([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    (suite,) = report["suites"]
    assert suite["parameters"]["knn"]["mae_all"][0] == pytest.approx(0.2)
    assert suite["parameters"]["knn-learned"]["mae_all"][3] == 2
    assert "Parameter metrics" in (tmp_path / "m" / "report.md").read_text()
    merged = json.loads((tmp_path / "m" / "scores_id-rand.json").read_text())
    assert merged["params"]["knn"] == [
        {"mae_all": 0.1, "acc_categorical": 1.0},
        {"mae_all": 0.3, "acc_categorical": 1.0},
    ]
    # a merged file merges again with its parameter metrics
    again = merge_scores([tmp_path / "m"], tmp_path / "m2")
    assert again["suites"][0]["parameters"] == suite["parameters"]
