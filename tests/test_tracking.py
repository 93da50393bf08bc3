"""Experiment tracking of estimator training: MLflow runs with the config, per-epoch metrics and the
exported model, resumed runs continuing their MLflow run, and training without mlflow."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from synthmatch.errors import MissingExtraError, ParameterError
from synthmatch.models.configs import get_config
from synthmatch.train.tracking import (
    TRACKING_FILE,
    Tracker,
    default_uri,
    flatten,
    make_tracker,
    numeric_metrics,
)

pytest.importorskip("torch", reason="training needs the 'train' extra (torch)")
mlflow = pytest.importorskip("mlflow", reason="experiment tracking needs mlflow (the 'train' extra)")

from mlflow.tracking import MlflowClient  # noqa: E402

from synthmatch.train.estimator import METRICS, train_estimator  # noqa: E402
from tests.test_encoders import build_tiny_dataset  # noqa: E402

DEBUG = get_config("debug").replace(data=get_config("debug").data.replace(val_fraction=0.25, n_items=12))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, render_pool):
    return build_tiny_dataset(tmp_path_factory.mktemp("track") / "ds", render_pool.executor, seed=6)


@pytest.fixture(scope="module")
def shared_uri(tmp_path_factory):
    """One store for the tests that do not check the default location (creating one takes seconds)."""
    return "sqlite:///" + str(tmp_path_factory.mktemp("store") / "mlflow.db")


def _run(out, uri):
    doc = json.loads((out / TRACKING_FILE).read_text())
    assert doc["uri"] == uri
    client = MlflowClient(tracking_uri=uri)
    return client, client.get_run(doc["run_id"])


def _artifacts(client, run_id, path=None):
    found = []
    for f in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, f.path) if f.is_dir else [f.path]
    return found


def test_flatten_and_numeric_metrics():
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": [1, 2], "f": {}}) == {
        "a.b": 1,
        "a.c.d": "x",
        "e": [1, 2],
        "f": {},
    }
    record = {"epoch": 2, "train": {"loss": 1.5, "nan": float("nan")}, "val": {}, "ok": True, "n": None}
    assert numeric_metrics(record) == {"epoch": 2.0, "train.loss": 1.5}


def test_a_tracked_run_holds_the_config_metrics_card_and_model(dataset, tmp_path):
    out = tmp_path / "run"
    result = train_estimator(config=DEBUG, dataset=dataset, out=out, epochs=2, threads=1, tracking="mlflow")
    uri = default_uri(out)
    assert (out / "mlruns" / "mlflow.db").is_file()  # the local store lives in the run folder
    client, run = _run(out, uri)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["config.name"] == "debug" and params["config.train.epochs"] == "2"
    assert params["config.model.encoder"] == "logmel-cnn"
    assert params["dataset.items"] == "12" and params["dataset.sampler"] == "lhs"
    assert params["dataset.dataset"] == str(dataset)
    assert isinstance(json.loads(params["dataset.sampler_config"]), dict)  # nested provenance as JSON
    lines = [json.loads(line) for line in (out / METRICS).read_text().splitlines()]
    for key in ("train.loss", "val.loss", "val.cont_mae", "lr"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == [1, 2], key
        section, _, name = key.rpartition(".")
        expected = [(r[section] if section else r)[name] for r in lines]
        assert [m.value for m in history] == pytest.approx(expected, rel=1e-6), key
    arts = set(_artifacts(client, run.info.run_id))
    assert {"model_card.json", "model_card.md", METRICS} <= arts
    assert {"model/estimator.onnx", "model/wavetables.npz", "model/model_card.json"} <= arts
    local = client.download_artifacts(run.info.run_id, "model_card.json", str(tmp_path))
    assert json.loads(open(local).read())["layout_hash"] == result.card["layout_hash"]


def test_a_resumed_run_continues_its_mlflow_run(dataset, tmp_path, shared_uri):
    out = tmp_path / "run"
    train_estimator(config=DEBUG, dataset=dataset, out=out, epochs=1, threads=1, tracking_uri=shared_uri)
    client, first = _run(out, shared_uri)
    train_estimator(
        config=DEBUG, dataset=dataset, out=out, epochs=2, threads=1, resume=True, tracking_uri=shared_uri
    )
    client, again = _run(out, shared_uri)
    assert again.info.run_id == first.info.run_id and again.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(again.info.run_id, "val.loss")] == [1, 2]
    # parameters are write-once in MLflow: the changed epoch count is a tag
    assert again.data.params["config.train.epochs"] == "1"
    assert again.data.tags["resumed.config.train.epochs"] == "2"
    assert not (out / "mlruns").exists()  # a given URI is used as is


def test_a_failed_run_is_marked_failed(dataset, tmp_path, shared_uri):
    def stop(p):
        if p.phase == "train":
            raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_estimator(
            config=DEBUG,
            dataset=dataset,
            out=out,
            epochs=1,
            threads=1,
            progress=stop,
            tracking_uri=shared_uri,
        )
    _, run = _run(out, shared_uri)
    assert run.info.status == "KILLED"


def test_cli_no_tracking_writes_no_store(dataset, tmp_path, capsys):
    from synthmatch.cli import main

    out = tmp_path / "cli"
    args = ["train", "estimator", "--config", "debug", "--dataset", str(dataset), "--out", str(out)]
    assert main([*args, "--epochs", "1", "--threads", "1", "--no-progress", "--no-tracking"]) == 0
    assert "MLflow" not in capsys.readouterr().out
    assert not (out / "mlruns").exists() and not (out / TRACKING_FILE).exists()
    with pytest.raises(SystemExit):  # one or the other
        main([*args, "--no-tracking", "--tracking-uri", "sqlite:///x.db"])


def test_without_mlflow_training_is_untracked_unless_tracking_was_asked_for(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    with caplog.at_level(logging.WARNING, logger="synthmatch.train.tracking"):
        tracker = make_tracker(None, out=tmp_path)
    assert type(tracker) is Tracker
    assert len(caplog.records) == 1 and "mlflow is not installed" in caplog.records[0].getMessage()
    with pytest.raises(MissingExtraError, match=r"synthmatch\[train\]"):
        make_tracker("mlflow", out=tmp_path)
    with pytest.raises(MissingExtraError, match="mlflow"):
        make_tracker(None, uri="http://localhost:5000", out=tmp_path)
    assert type(make_tracker("none", out=tmp_path)) is Tracker
    assert type(make_tracker("mlflow", out=tmp_path, main=False)) is Tracker  # other ranks never track
    with pytest.raises(ParameterError, match="unknown tracker"):
        make_tracker("wandb", out=tmp_path)
