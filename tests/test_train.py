"""The estimator's torch side: configs, network, losses, checkpoints, training, resume and ONNX export."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from synthmatch.models.configs import CONFIGS, EstimatorConfig, get_config
from synthmatch.models.layout import OUTPUT_NAMES, EstimatorLayout
from synthmatch.train.split import is_validation
from tests.conftest import TINY_RANGE_BUILD

torch = pytest.importorskip("torch", reason="the estimator's training side needs the 'train' extra (torch)")

from synthmatch.data import build_dataset, open_dataset  # noqa: E402
from synthmatch.errors import ParameterError, SpecMismatchError, SynthmatchError  # noqa: E402
from synthmatch.models.builders import build_loss, build_model, count_parameters  # noqa: E402
from synthmatch.models.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint  # noqa: E402
from synthmatch.models.encoders import ENCODERS, register_encoder  # noqa: E402
from synthmatch.models.losses import plackett_luce_nll  # noqa: E402
from synthmatch.models.network import as_dict  # noqa: E402
from synthmatch.train.data import BatchReader, epoch_plan  # noqa: E402
from synthmatch.train.estimator import CHECKPOINT, METRICS, TrainProgress, train_estimator  # noqa: E402
from synthmatch.vital.spec import ParamSpace, default_space  # noqa: E402

BUILD = {**TINY_RANGE_BUILD, "seed": 4}
#: debug, with a validation share that leaves a few items out of 16.
DEBUG = get_config("debug").replace(data=get_config("debug").data.replace(val_fraction=0.25, n_items=16))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, render_pool):
    out = tmp_path_factory.mktemp("train") / "ds"
    build_dataset(out, n=16, shard_size=6, executor=render_pool.executor, **BUILD)
    return out


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """A 4-epoch debug run (seconds)."""
    out = tmp_path_factory.mktemp("run") / "debug"
    return train_estimator(tracking="none", config=DEBUG, dataset=dataset, out=out, epochs=4, threads=1)


def _layout():
    return EstimatorLayout.from_space(default_space(), [f"key{i}" for i in range(5)])


# ---------------------------------------------------------------------------------------
# configs, network, losses
# ---------------------------------------------------------------------------------------
def test_named_configs_round_trip_and_small_fits_the_size_budget():
    for name, cfg in CONFIGS.items():
        again = EstimatorConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg and again.name == name
    with pytest.raises(ParameterError, match="unknown"):
        EstimatorConfig.from_dict({"modle": {}})
    with pytest.raises(ParameterError, match="debug"):
        get_config("huge")
    small = get_config("small")
    layout = EstimatorLayout.from_space(
        default_space(), [f"k{i}" for i in range(small.model.wavetable_vocab - 1)]
    )
    weights_mb = count_parameters(build_model(small, layout, n_mels=64)) * 4 / 1e6
    assert weights_mb + small.model.wavetable_max_mb <= 25.0  # ships inside the package
    assert count_parameters(build_model(DEBUG, layout, n_mels=64)) < count_parameters(
        build_model(small, layout, n_mels=64)
    )


def test_outputs_are_shaped_by_the_layout_for_any_length():
    layout = _layout()
    model = build_model(DEBUG, layout, n_mels=64).eval()
    shapes = layout.output_shapes(
        embedding_dim=model.embedding_dim, mdn_components=DEBUG.model.mdn_components
    )
    for frames in (model.encoder.min_frames, 44, 345):
        with torch.no_grad():
            out = as_dict(model(torch.full((3, 64, frames), -30.0), torch.rand(3, 3)))
        assert list(out) == list(OUTPUT_NAMES)
        for name, tensor in out.items():
            assert tuple(tensor.shape) == (3, *shapes[name][1:]), name
        assert torch.all((out["mdn_mu"] > 0) & (out["mdn_mu"] < 1))
        assert torch.all(out["mod_amount"].abs() <= 1)


def test_an_encoder_registers_by_name_and_builds_from_the_config():
    from torch import nn

    from synthmatch.models.configs import FrozenConfig

    class _Opts(FrozenConfig):
        pass

    @register_encoder("test-mean")
    class MeanEncoder(nn.Module):
        config_type = _Opts

        def __init__(self, config, *, n_mels):
            super().__init__()
            self.proj = nn.Linear(n_mels + 3, 8)
            self.embedding_dim = 8
            self.min_frames = 1

        def forward(self, mel, probe):
            return self.proj(torch.cat([mel.mean(-1), probe], -1))

    try:
        cfg = DEBUG.replace(model=DEBUG.model.replace(encoder="test-mean", encoder_options={}))
        model = build_model(cfg, _layout(), n_mels=64)
        assert isinstance(model.encoder, MeanEncoder)
        assert model(torch.zeros(2, 64, 5), torch.zeros(2, 3))[0].shape == (2, 8)
        with pytest.raises(ValueError, match="twice"):
            register_encoder("test-mean")(MeanEncoder)
    finally:
        ENCODERS.pop("test-mean", None)
    with pytest.raises(ParameterError, match="logmel-cnn"):
        build_model(DEBUG.replace(model=DEBUG.model.replace(encoder="nope")), _layout(), n_mels=64)


def test_plackett_luce_matches_the_definition_and_ignores_effects_that_are_off():
    scores = torch.tensor([[2.0, 0.5, -1.0, 0.0]])
    order = torch.tensor([[1, 0, 3, 2]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0]])  # effect 2 is off
    on_order = [1, 0, 3]
    s = scores[0]
    expected = sum(torch.logsumexp(s[on_order[i:]], 0) - s[on_order[i]] for i in range(3)) / 2
    assert float(plackett_luce_nll(scores, order, mask)) == pytest.approx(float(expected), rel=1e-6)
    moved = scores.clone()
    moved[0, 2] = 50.0  # the score of an effect that is off changes nothing
    assert float(plackett_luce_nll(moved, order, mask)) == pytest.approx(float(expected), rel=1e-6)
    one = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    assert float(plackett_luce_nll(scores, order, one)) == 0.0


def test_losses_count_active_parameters_only(dataset):
    ds = open_dataset(dataset)
    layout = _layout()
    reader = BatchReader(ds, layout, np.full((len(ds), 3), layout.other_wavetable))
    batch = reader.batch(np.arange(4))
    t = {k: torch.from_numpy(v) for k, v in batch.items()}
    model = build_model(DEBUG, layout, n_mels=64)
    loss = build_loss(DEBUG, layout)
    out = as_dict(model(t["mel"], t["probe"]))
    total, parts = loss(out, t)
    assert math.isfinite(float(total.detach())) and set(parts) >= {"cont", "cat", "order", "mod", "wt"}
    changed = dict(t)
    inactive = t["cont_mask"] == 0
    assert inactive.any()
    changed["cont"] = torch.where(inactive, 1.0 - t["cont"], t["cont"])
    assert float(loss(out, changed)[1]["cont"].detach()) == pytest.approx(
        float(parts["cont"].detach()), rel=1e-6
    )
    total.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


# ---------------------------------------------------------------------------------------
# split and epoch plans
# ---------------------------------------------------------------------------------------
def test_split_is_a_pure_function_of_the_item_index():
    idx = np.arange(20_000)
    val = is_validation(idx, fraction=0.1)
    assert abs(val.mean() - 0.1) < 0.01
    np.testing.assert_array_equal(is_validation(idx[::-1], fraction=0.1), val[::-1])
    assert not np.array_equal(is_validation(idx, fraction=0.1, salt=1), val)
    assert not is_validation(idx, fraction=0.0).any()
    with pytest.raises(ParameterError):
        is_validation(idx, fraction=1.0)


def test_epoch_plans_are_deterministic_and_cover_each_item_once(dataset):
    ds = open_dataset(dataset)
    reader = BatchReader(ds, _layout(), np.zeros((len(ds), 3), dtype=np.int64))
    pos = np.arange(1, len(ds))
    plan = epoch_plan(reader, pos, batch_size=4, seed=3, epoch=1)
    assert sorted(np.concatenate(plan).tolist()) == pos.tolist()
    assert all(len(b) >= 2 for b in plan)
    again = epoch_plan(reader, pos, batch_size=4, seed=3, epoch=1)
    assert all(np.array_equal(a, b) for a, b in zip(plan, again))
    other = epoch_plan(reader, pos, batch_size=4, seed=3, epoch=2)
    assert not all(np.array_equal(a, b) for a, b in zip(plan, other))
    rows = reader.rows(plan[0])
    for r, p in enumerate(plan[0]):
        np.testing.assert_array_equal(rows["x"][r], ds[int(p)].x)


def test_a_curriculum_epoch_keeps_the_items_with_few_effects(dataset):
    from synthmatch.train.data import curriculum_limit
    from synthmatch.vital.effects import EFFECTS

    ds = open_dataset(dataset)
    reader = BatchReader(ds, _layout(), np.zeros((len(ds), 3), dtype=np.int64))
    counts = [sum(ds.preset(i).values.get(f"{e}_on", 0.0) >= 0.5 for e in EFFECTS) for i in range(len(ds))]
    assert reader.n_effects.tolist() == counts
    limit = int(np.median(counts))
    pos = np.arange(len(ds))
    kept = np.concatenate(epoch_plan(reader, pos, batch_size=4, seed=0, epoch=0, max_effects=limit))
    assert sorted(kept.tolist()) == [i for i in pos if counts[i] <= limit]
    assert [curriculum_limit((1, 3), e) for e in range(3)] == [1, 3, None]


def test_a_last_batch_of_one_item_joins_the_one_before(dataset):
    ds = open_dataset(dataset)
    reader = BatchReader(ds, _layout(), np.zeros((len(ds), 3), dtype=np.int64))
    pos = np.arange(9)  # 4 + 4 + 1
    plan = epoch_plan(reader, pos, batch_size=4, seed=0, epoch=0)
    assert [len(b) for b in plan] == [4, 5] and sorted(np.concatenate(plan).tolist()) == pos.tolist()


# ---------------------------------------------------------------------------------------
# training, export, checkpoints, resume
# ---------------------------------------------------------------------------------------
def test_debug_training_lowers_the_loss_and_writes_the_run(trained):
    h = trained.history
    assert [r["epoch"] for r in h] == [1, 2, 3, 4] and trained.epochs_run == 4
    assert h[-1]["train"]["loss"] < h[0]["train"]["loss"]
    assert all(r["val"] and math.isfinite(r["val"]["loss"]) for r in h)
    lines = (trained.out / METRICS).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
    card = json.loads((trained.out / "model_card.json").read_text())
    assert card["spec_hash"] == default_space().spec_hash and card["config_name"] == "debug"
    assert EstimatorLayout.from_dict(card["layout"]).layout_hash == card["layout_hash"]
    assert list(card["onnx"]["outputs"]) == list(OUTPUT_NAMES) and card["onnx"]["opset"] == 17
    assert card["data"]["train_items"] + card["data"]["val_items"] == card["data"]["items"] == 16
    assert card["log_mel"]["n_mels"] == 64 and card["probe_convention"]["scales"] == [127.0, 1.0, 4.0]
    # DEBUG differs from the named config (its data settings), so the command names the saved config
    assert card["command"].startswith(f"synthmatch train estimator --config {trained.out / 'config.json'}")
    saved = EstimatorConfig.from_dict(json.loads((trained.out / "config.json").read_text()))
    assert saved == DEBUG.replace(train=DEBUG.train.replace(epochs=4))
    assert (trained.out / "model_card.md").read_text().startswith("# synthmatch estimator `debug`")
    assert (trained.out / "wavetables.npz").exists()


def test_onnx_outputs_match_torch(trained):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime runs the exported model")
    from synthmatch.train.estimator import BEST

    model, _, _ = model_from_checkpoint(load_checkpoint(trained.checkpoint))
    model.load_state_dict(
        torch.load(trained.out / BEST, map_location="cpu")["state_dict"]
    )  # what is exported
    sess = ort.InferenceSession(str(trained.onnx), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == list(OUTPUT_NAMES)
    assert [i.name for i in sess.get_inputs()] == ["mel", "probe"]
    rng = np.random.default_rng(0)
    for batch, frames in ((1, 44), (3, 120)):
        mel = (rng.random((batch, 64, frames)) * 86 - 80).astype(np.float32)
        probe = rng.random((batch, 3)).astype(np.float32)
        got = sess.run(None, {"mel": mel, "probe": probe})
        with torch.no_grad():
            ref = model(torch.from_numpy(mel), torch.from_numpy(probe))
        for name, a, r in zip(OUTPUT_NAMES, got, ref):
            np.testing.assert_allclose(a, r.numpy(), atol=1e-4, rtol=0, err_msg=name)
    assert trained.card["onnx"]["max_abs_diff_vs_torch"] < 1e-4


def test_checkpoint_refuses_another_parameter_space(trained, tmp_path):
    doc = load_checkpoint(trained.checkpoint)
    smaller = ParamSpace([s for s in default_space().specs if s.name != "filter_2_drive"])
    with pytest.raises(SpecMismatchError, match=r"parameter space .*Hint"):
        load_checkpoint(trained.checkpoint, space=smaller)
    model, cfg, layout = model_from_checkpoint(doc)
    forged = EstimatorLayout.from_dict({**layout.to_dict(), "spec_hash": "0" * 16})
    path = save_checkpoint(
        tmp_path / "other.pt", model=model, config=cfg, layout=forged, log_mel=doc["log_mel"], provenance={}
    )
    with pytest.raises(SpecMismatchError, match="0000000000000000"):
        load_checkpoint(path)
    assert {"synthmatch", "vita", "torch"} <= set(doc["versions"])
    assert doc["probe_convention"]["formula"] and doc["provenance"]["dataset"]


def test_a_run_folder_with_a_checkpoint_needs_resume(trained, dataset):
    with pytest.raises(SynthmatchError, match="--resume"):
        train_estimator(tracking="none", config=DEBUG, dataset=dataset, out=trained.out, epochs=4)
    again = train_estimator(
        tracking="none", config=DEBUG, dataset=dataset, out=trained.out, epochs=4, resume=True, threads=1
    )
    assert again.epochs_run == 0 and len(again.history) == 4  # nothing left to train: exports again


def test_a_killed_run_resumes_where_it_stopped_and_ends_as_an_uninterrupted_one(dataset, tmp_path):
    cfg = DEBUG.replace(train=DEBUG.train.replace(checkpoint_every_s=1e-9))  # a checkpoint after every batch
    whole = train_estimator(
        tracking="none", config=cfg, dataset=dataset, out=tmp_path / "whole", epochs=2, threads=1
    )

    def kill(p: TrainProgress) -> None:
        if p.phase == "train" and p.epoch == 1 and p.batch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_estimator(
            tracking="none",
            config=cfg,
            dataset=dataset,
            out=tmp_path / "cut",
            epochs=2,
            threads=1,
            progress=kill,
        )
    saved = torch.load(tmp_path / "cut" / CHECKPOINT, weights_only=True)["progress"]
    assert (saved["epoch"], saved["batch"]) == (1, 1)  # killed in the second batch of epoch 2
    resumed = train_estimator(
        tracking="none", config=cfg, dataset=dataset, out=tmp_path / "cut", epochs=2, resume=True, threads=1
    )
    assert resumed.epochs_run == 1 and [r["epoch"] for r in resumed.history] == [1, 2]
    a = load_checkpoint(whole.checkpoint)["state_dict"]
    b = load_checkpoint(resumed.checkpoint)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    with pytest.raises(SynthmatchError, match="same --config"):
        other = cfg.replace(train=cfg.train.replace(lr=0.1))
        train_estimator(tracking="none", config=other, dataset=dataset, out=tmp_path / "cut", resume=True)


def test_a_missing_dataset_is_built_with_the_config_data(tmp_path, render_pool):
    cfg = DEBUG.replace(data=DEBUG.data.replace(n_items=6, shard_size=3, val_fraction=0.0))
    seen = []
    result = train_estimator(
        tracking="none",
        config=cfg,
        dataset=tmp_path / "new",
        out=tmp_path / "run",
        epochs=1,
        threads=1,
        progress=lambda p: seen.append(p.phase),
        build_options={**BUILD, "executor": render_pool.executor},
    )
    ds = open_dataset(tmp_path / "new")
    assert len(ds) == 6 and ds.manifest["probe_sampler"]["name"] == "range"
    assert "build" in seen and "train" in seen and result.card["data"]["items"] == 6


def test_cli_trains_and_resumes(dataset, tmp_path, capsys):
    from synthmatch.cli import main

    args = [
        "train",
        "estimator",
        "--config",
        "debug",
        "--dataset",
        str(dataset),
        "--out",
        str(tmp_path / "cli"),
    ]
    assert main([*args, "--epochs", "1", "--threads", "1", "--no-progress", "--no-tracking"]) == 0
    assert "estimator.onnx" in capsys.readouterr().out
    assert main([*args, "--epochs", "1"]) == 1  # refuses to overwrite the run
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--epochs", "2", "--threads", "1", "--resume", "--no-progress", "--no-tracking"]) == 0
    lines = (tmp_path / "cli" / METRICS).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_data_parallel_training_with_two_processes(dataset, tmp_path):
    """torchrun with 2 CPU processes on gloo: each trains every other batch, rank 0 writes the run."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "synthmatch",
           "train", "estimator", "--config", "debug", "--dataset", str(dataset), "--out", str(out), "--epochs", "2",
           "--threads", "1", "--no-progress", "--no-tracking"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained 2 epoch(s)") == 1  # only rank 0 reports
    records = [json.loads(line) for line in (out / METRICS).read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2] and all(r["processes"] == 2 for r in records)
    card = json.loads((out / "model_card.json").read_text())
    n_train = card["data"]["train_items"]
    batch = get_config("debug").train.batch_size
    rounds = math.ceil(n_train / batch) // 2
    assert 2 * batch * (rounds - 1) < records[0]["train_items"] <= 2 * batch * rounds
    assert card["data"]["processes"] == 2 and (out / "estimator.onnx").exists()
    with pytest.raises(SynthmatchError, match="processes"):  # a single process cannot resume it
        train_estimator(
            tracking="none", config="debug", dataset=dataset, out=out, epochs=3, resume=True, threads=1
        )


# ---------------------------------------------------------------------------------------
# the exported estimator at inference (onnxruntime, no torch) and in match
# ---------------------------------------------------------------------------------------
def test_the_exported_estimator_proposes_valid_presets_to_match(trained, dataset, render_pool):
    pytest.importorskip("onnxruntime", reason="inference runs the exported model with onnxruntime")
    from synthmatch.search.estimator import Estimator
    from synthmatch.search.match import Matcher
    from synthmatch.search.proposals import Origin
    from synthmatch.vital.preset import check_vital_json

    est = Estimator(trained.out)
    ds = open_dataset(dataset)
    target = render_pool.render([ds.preset(0)], ds.probe_of(0))[0].mono
    probe = ds.probe_of(0)
    outs = est.predict(target, probe)
    assert set(outs) == set(OUTPUT_NAMES) and outs["embedding"].shape[0] == 1
    assert np.array_equal(outs["mdn_mu"], est.predict(target, probe)["mdn_mu"])  # deterministic
    presets = est.presets(target, probe, n=3)
    assert len(presets) == 3 and presets[0].to_json() == est.presets(target, probe, n=1)[0].to_json()
    assert all(check_vital_json(json.loads(p.to_json())) == [] for p in presets)
    assert len(est.fingerprint) == 16 and est.fingerprint == Estimator(trained.out).fingerprint
    with Matcher(pool=render_pool, sources=("estimator",), estimator=str(trained.out), refiner="none") as m:
        res = m.match((target, probe.sample_rate), budget=9, candidates=2, rerank=3, prune=False)
    assert res.renders == 3  # the re-rank (a third of the budget): the mode and two draws, once each
    assert {c.origin.source for c in res.candidates} == {"estimator"}
    assert res.best.origin in {Origin("estimator", j) for j in range(3)}


def test_bench_estimator_times_each_step(trained, tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="inference runs the exported model with onnxruntime")
    import soundfile as sf

    from synthmatch.cli import main

    t = np.arange(22050) / 44100
    sf.write(
        tmp_path / "tone.wav", (0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-4 * t)).astype(np.float32), 44100
    )
    report = tmp_path / "est.json"
    argv = [
        "bench",
        "estimator",
        str(tmp_path / "tone.wav"),
        "--estimator",
        str(trained.out),
        "--rounds",
        "2",
    ]
    assert main([*argv, "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    med = data["median_ms"]
    assert set(med) == {"features", "network", "decode", "total"} and all(v > 0 for v in med.values())
    assert med["total"] >= max(med["features"], med["network"], med["decode"])
    assert "network" in capsys.readouterr().out


def test_the_epoch_with_the_lowest_validation_loss_is_exported(trained):
    from synthmatch.train.estimator import BEST

    losses = [r["val"]["loss"] for r in trained.history]
    best = int(np.argmin(losses))
    assert (trained.out / BEST).is_file()
    assert (
        trained.card["metrics"]["epoch"] == best + 1
        and trained.card["metrics"]["val"]["loss"] == losses[best]
    )
    saved = torch.load(trained.out / BEST, map_location="cpu")
    assert saved["epoch"] == best + 1


def test_match_with_budget_zero_answers_from_the_estimator_without_any_render(trained, tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="inference runs the exported model with onnxruntime")
    import soundfile as sf

    from synthmatch.cli import main
    from synthmatch.search.match import Matcher
    from synthmatch.vital.preset import Preset, check_vital_json

    t = np.arange(44100) / 44100
    sf.write(
        tmp_path / "tone.wav", (0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-3 * t)).astype(np.float32), 44100
    )
    with Matcher(sources=("estimator",), estimator=str(trained.out)) as m:
        res = m.match(tmp_path / "tone.wav", budget=0, candidates=2)
        assert m._pool is None and "library" not in m.__dict__  # no worker spawned, no library loaded
    assert res.renders == 0 and not res.rendered and len(res.candidates) == 2
    assert [c.origin.index for c in res.candidates] == [0, 1]  # the mode, then a draw
    assert res.to_dict()["candidates"][0]["score"] is None
    assert main(["match", str(tmp_path / "tone.wav"), "--budget", "0", "--sources", "estimator",
                 "--estimator", str(trained.out), "-o", str(tmp_path / "m"), "--no-tutorial"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "0 renders" in out and "not rendered" in out
    assert not (tmp_path / "m" / "match.wav").exists() and (tmp_path / "m" / "report.html").exists()
    preset = Preset.from_file(tmp_path / "m" / "preset.vital")
    assert check_vital_json(json.loads(preset.to_json())) == []
    assert json.loads((tmp_path / "m" / "match.json").read_text())["renders"] == 0


def test_the_card_keeps_the_modulation_threshold_with_the_best_validation_f1(trained):
    from synthmatch.models.losses import MOD_THRESHOLDS, best_mod_threshold

    metrics = {"mod_precision": 0.9, "mod_recall": 0.01, "mod_precision@0.2": 0.5, "mod_recall@0.2": 0.4}
    assert best_mod_threshold(metrics) == (0.2, pytest.approx(2 * 0.5 * 0.4 / 0.9))
    assert best_mod_threshold({}) is None
    val = trained.card["metrics"]["val"]
    assert all(f"mod_recall@{t:g}" in val for t in MOD_THRESHOLDS if t != 0.5)
    assert trained.card["decode"]["mod_threshold"] in MOD_THRESHOLDS


def test_a_curriculum_run_trains_its_first_epochs_on_the_items_with_few_effects(dataset, tmp_path):
    cfg = DEBUG.replace(train=DEBUG.train.replace(curriculum=(1,)))
    assert EstimatorConfig.from_dict(cfg.to_dict()) == cfg
    result = train_estimator(
        tracking="none", config=cfg, dataset=dataset, out=tmp_path / "c", epochs=2, threads=1
    )
    ds = open_dataset(dataset)
    reader = BatchReader(ds, _layout(), np.zeros((len(ds), 3), dtype=np.int64))
    train_pos = np.nonzero(
        ~is_validation(ds.indices(), fraction=cfg.data.val_fraction, salt=cfg.data.split_salt)
    )[0]
    few = int((reader.n_effects[train_pos] <= 1).sum())
    assert [r["train_items"] for r in result.history] == [few, len(train_pos)]
