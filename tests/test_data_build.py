"""Dataset builds: shards, manifest, resume after SIGKILL, readers, spec checks, info/compare, bench."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from synthmatch.data import build_dataset, make_sampler, open_dataset
from synthmatch.data.assets import DatasetError
from synthmatch.data.refs import quantize_like_flac
from synthmatch.data.report import compare_datasets, dataset_info, format_info, plot_coverage
from synthmatch.data.shards import COLUMNS, MANIFEST, SHARDS
from synthmatch.data.stats import render_stats
from synthmatch.data.worker import compute_log_mel, feature_config
from synthmatch.errors import SpecMismatchError
from synthmatch.vital.preset import check_vital_json
from tests.conftest import SHORT_PROBE, train_preset_files

pytestmark = pytest.mark.vita

N, SHARD, SEED = 9, 3, 5
LHS_FAST = {"p_train_table": 0.0, "block_size": 64}
OPTS = dict(sampler="lhs", sampler_config=LHS_FAST, seed=SEED, probe=SHORT_PROBE, keep_audio=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory, render_pool):
    out = tmp_path_factory.mktemp("ds") / "ref"
    report = build_dataset(out, n=N, shard_size=SHARD, executor=render_pool.executor, **OPTS)
    return out, report


def _columns(ds):
    return {name: ds.column(name) for name in COLUMNS}


def _items_jsonl(root):
    lines = []
    for d in sorted((root / SHARDS).glob("shard-*")):
        lines += [json.loads(line) for line in (d / "items.jsonl").read_text().splitlines()]
    return lines


def test_build_writes_complete_shards_and_a_manifest(built, space):
    out, report = built
    assert report.items + len(report.failed) == N and report.shards_written == N // SHARD
    m = json.loads((out / MANIFEST).read_text())
    assert m["status"] == "complete" and m["spec_hash"] == space.spec_hash
    assert m["probe"] == SHORT_PROBE.to_dict() and m["seed"] == SEED
    assert m["sampler"]["name"] == "lhs" and m["sampler"]["config"]["p_train_table"] == 0.0
    assert m["features"]["type"] == "log_mel" and m["features"]["config"] == feature_config(None).to_dict()
    assert {"synthmatch", "vita", "numpy"} <= set(m["versions"])
    c = m["counts"]
    assert c["items"] == report.items and c["attempts"] == c["items"] + c["rejected_attempts"]
    assert sum(c["rejections"].values()) == c["rejected_attempts"]
    assert not list((out / SHARDS).glob(".tmp-*"))
    ds = open_dataset(out)
    assert len(ds) == report.items and ds.complete
    idx = ds.indices()
    assert np.array_equal(np.sort(idx), idx) and len(set(idx.tolist())) == len(idx)
    x = ds.column("x")
    assert x.dtype == np.float32 and x.shape == (len(ds), len(space.layout.numeric))
    assert np.all((x >= 0) & (x <= 1))
    mel = ds.column("mel")
    assert mel.dtype == np.float16 and list(mel.shape[1:]) == m["arrays"]["mel"] and np.all(np.isfinite(mel))
    assert np.all(np.isfinite(ds.column("stats")))
    item = ds[0]
    assert item.probe == SHORT_PROBE and item.mel.dtype == np.float32
    assert set(item.stats) == set(m["layout"]["stats"])


def test_reader_rebuilds_the_exact_preset_and_audio(built, render_pool):
    out, _ = built
    ds = open_dataset(out)
    sampler = make_sampler("lhs", LHS_FAST)
    cfg = feature_config(None)
    for pos in (0, len(ds) // 2, len(ds) - 1):
        item = ds[pos]
        preset = ds.preset(pos)
        assert check_vital_json(preset.to_vital()) == []
        expected = sampler.draw(seed=SEED, index=item.index, attempt=item.attempt).preset
        assert json.loads(preset.to_json()) == json.loads(expected.to_json())
        x, c = preset.to_vector()
        assert np.array_equal(x, item.x) and np.array_equal(c, item.c)
        outcome = render_pool.render([preset], ds.probe_of(pos))[0]
        assert outcome.ok
        stored = ds.audio(pos)
        assert np.array_equal(quantize_like_flac(outcome.audio, SHORT_PROBE.sample_rate), stored)
        stats = render_stats(
            outcome.audio, sample_rate=SHORT_PROBE.sample_rate, note_seconds=SHORT_PROBE.note_seconds
        )
        assert np.array_equal(stats, np.array(list(item.stats.values()), dtype=np.float32))
        mel = compute_log_mel(outcome.audio.mean(axis=0), cfg, "float16").astype(np.float32)
        assert np.array_equal(mel, item.mel)


def test_sigkill_mid_build_then_resume_gives_exactly_n_unique_items(built, tmp_path, render_pool):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-c",
        "import sys; from synthmatch.cli import main; sys.exit(main(sys.argv[1:]))",
        "dataset",
        "build",
        "--n",
        str(N),
        "--out",
        str(out),
        "--shard-size",
        str(SHARD),
        "--seed",
        str(SEED),
        "--sampler",
        "lhs",
        "--sampler-config",
        json.dumps(LHS_FAST),
        "--probe",
        ",".join(f"{k}={v}" for k, v in SHORT_PROBE.to_dict().items()),
        "--keep-audio",
    ]
    proc = subprocess.Popen([*cmd, "--workers", "1"], start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list((out / SHARDS).glob("shard-*")):
            assert proc.poll() is None, "the build ended before its first shard was written"
            assert time.monotonic() < deadline, "no shard written within 120 s"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the build and its worker processes
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((out / MANIFEST).read_text())["status"] == "building"
    kept = len(list((out / SHARDS).glob("shard-*")))
    assert 1 <= kept < N // SHARD

    # Resume (in-process, on the warm test pool; the same code path as the CLI).
    report = build_dataset(out, n=N, shard_size=SHARD, executor=render_pool.executor, **OPTS)
    assert report.shards_kept == kept and report.shards_written == N // SHARD - kept

    ds = open_dataset(out)
    ref = open_dataset(built[0])
    assert len(ds) == N == len(ref)
    assert sorted(ds.indices().tolist()) == list(range(N))
    for pos in range(len(ds)):  # every item loads and rebuilds
        assert ds[pos].index == pos
        assert check_vital_json(ds.preset(pos).to_vital()) == []
    # The killed-and-resumed build holds exactly the items of the uninterrupted one.
    a, b = _columns(ds), _columns(ref)
    for name in COLUMNS:
        assert np.array_equal(a[name], b[name]), name
    assert _items_jsonl(out) == _items_jsonl(built[0])
    assert all(np.array_equal(ds.audio(i), ref.audio(i)) for i in range(N))
    assert not list((out / SHARDS).glob(".tmp-*"))


def test_spec_mismatch_and_option_mismatch_are_refused(built, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(built[0], copy)
    with pytest.raises(DatasetError, match=r"seed differ"):
        build_dataset(copy, n=N, shard_size=SHARD, **{**OPTS, "seed": SEED + 1})
    m = json.loads((copy / MANIFEST).read_text())
    m["spec_hash"] = "0123456789abcdef"
    (copy / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(SpecMismatchError, match=r"0123456789abcdef.*Hint"):
        open_dataset(copy)
    with pytest.raises(SpecMismatchError, match="0123456789abcdef"):
        build_dataset(copy, n=N, shard_size=SHARD, **OPTS)


def test_cancel_then_extend_keeps_complete_shards(built, tmp_path, render_pool):
    copy = tmp_path / "grow"
    shutil.copytree(built[0], copy)

    class Stop(Exception):
        pass

    def cancel(done, total):
        raise Stop

    with pytest.raises(Stop):
        build_dataset(copy, n=N + 3, shard_size=SHARD, executor=render_pool.executor, progress=cancel, **OPTS)
    report = build_dataset(copy, n=N + 3, shard_size=SHARD, executor=render_pool.executor, **OPTS)
    assert report.shards_kept == N // SHARD and report.shards_written == 1 and report.items_rendered == 3
    ds, ref = open_dataset(copy), open_dataset(built[0])
    assert sorted(ds.indices().tolist()) == list(range(N + 3))
    assert np.array_equal(ds.column("x")[:N], ref.column("x"))
    # shrinking removes the shards outside the new range
    report = build_dataset(copy, n=6, shard_size=SHARD, executor=render_pool.executor, **OPTS)
    assert report.items_rendered == 0 and len(open_dataset(copy)) == 6


def test_parts_fill_one_dataset_then_a_last_run_finalizes_it(built, tmp_path, render_pool):
    copy = tmp_path / "parts"
    shutil.copytree(built[0], copy)
    for k in (1, 2):
        shutil.rmtree(copy / SHARDS / f"shard-{k:06d}")
    report = build_dataset(copy, n=N, shard_size=SHARD, executor=render_pool.executor, part=(1, 2), **OPTS)
    assert report.shards_written == 1 and json.loads((copy / MANIFEST).read_text())["status"] == "partial"
    assert (copy / SHARDS / "shard-000001").is_dir() and not (copy / SHARDS / "shard-000002").exists()
    report = build_dataset(copy, n=N, shard_size=SHARD, executor=render_pool.executor, **OPTS)
    assert report.shards_written == 1 and open_dataset(copy).complete
    assert np.array_equal(open_dataset(copy).column("x"), open_dataset(built[0]).column("x"))
    with pytest.raises(DatasetError, match="part 2/2 is invalid"):
        build_dataset(copy, n=N, shard_size=SHARD, executor=render_pool.executor, part=(2, 2), **OPTS)


def test_items_that_fail_every_attempt_are_counted(tmp_path, render_pool):
    report = build_dataset(
        tmp_path / "f",
        n=2,
        shard_size=2,
        executor=render_pool.executor,
        max_attempts=2,
        min_rms_db=10.0,
        **{k: v for k, v in OPTS.items() if k != "keep_audio"},
    )
    assert report.items == 0 and [f["index"] for f in report.failed] == [0, 1]
    assert sum(report.rejections.values()) == 4 and report.attempts == 4
    ds = open_dataset(tmp_path / "f")
    assert len(ds) == 0 and ds.manifest["counts"]["failed_items"] == 2
    assert ds.column("x").shape == (0, len(ds.space.layout.numeric))


def test_iter_batches_stream_every_item_once(built):
    ds = open_dataset(built[0])
    batches = list(ds.iter_batches(5))
    assert [len(b["index"]) for b in batches] == [5] * (len(ds) // 5) + ([len(ds) % 5] if len(ds) % 5 else [])
    assert np.array_equal(np.concatenate([b["index"] for b in batches]), ds.indices())
    assert batches[0]["mel"].dtype == np.float32
    shuffled = np.concatenate([b["index"] for b in ds.iter_batches(4, shuffle=True, seed=1)])
    again = np.concatenate([b["index"] for b in ds.iter_batches(4, shuffle=True, seed=1)])
    assert np.array_equal(shuffled, again) and sorted(shuffled.tolist()) == ds.indices().tolist()
    assert not np.array_equal(shuffled, ds.indices())
    assert all(len(b["index"]) == 5 for b in ds.iter_batches(5, drop_last=True))


def test_info_reports_counts_coverage_and_writes_a_plot(built, tmp_path):
    ds = open_dataset(built[0])
    info = dataset_info(ds)
    assert info["items"] == len(ds) and info["requested"] == N
    assert sum(r["count"] for r in info["rejections"].values()) == info["counts"]["rejected_attempts"]
    assert all(0.0 <= p["coverage"] <= 1.0 and 0.0 <= p["active"] <= 1.0 for p in info["params"])
    osc1 = next(p for p in info["params"] if p["name"] == "osc_1_on")
    assert osc1["active"] == 1.0
    assert info["modules"]["osc_1"]["active"] > info["modules"]["env_6"]["active"]
    assert info["audio"]["rms_db"]["p50"] > -60
    text = format_info(info)
    assert "rejections" in text and "coverage" in text
    png = plot_coverage(info, tmp_path / "cov.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_measures_the_gap(built, tmp_path):
    same = compare_datasets([built[0], built[0]], labels=["a", "b"])
    assert same["reference"] == "b"
    assert same["sets"]["a"]["fd_mel"] == pytest.approx(0.0, abs=1e-3)
    assert all(v == 0.0 for v in same["sets"]["a"]["ks"].values())
    from synthmatch.cli import main

    png = tmp_path / "gap.png"
    assert (
        main(["dataset", "compare", str(built[0]), str(built[0]), "--labels", "x,y", "--plot", str(png)]) == 0
    )
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["dataset", "info", str(built[0]), "--plot", str(tmp_path / "c.png")]) == 0


def test_preset_informed_build_stores_reconstructible_real_wavetables(tmp_path, render_pool):
    d = tmp_path / "train-subset"
    d.mkdir()
    for f in train_preset_files(5):
        shutil.copy(f, d / f.name)
    cfg = {"preset_dir": str(d), "p_bank_table": 0.0}
    build_dataset(
        tmp_path / "p",
        n=3,
        shard_size=3,
        executor=render_pool.executor,
        sampler="preset",
        sampler_config=cfg,
        seed=2,
        probe=SHORT_PROBE,
    )
    ds = open_dataset(tmp_path / "p")
    sampler = make_sampler("preset", cfg)
    own = {a.key for s in sampler.sources for a in s.wavetables}
    for pos in range(len(ds)):
        item = ds[pos]
        expected = sampler.draw(seed=2, index=item.index, attempt=item.attempt)
        assert json.loads(ds.preset(pos).to_json()) == json.loads(expected.preset.to_json())
        assert item.detail["base"] == expected.detail["base"]
        assert set(item.preset_ref["wavetables"]) & own


@pytest.mark.slow
def test_bench_reports_build_and_raw_throughput():
    from synthmatch.bench.throughput import bench_throughput, format_bench

    result = bench_throughput(
        n=3, workers=(1,), repeats=1, sampler_config=LHS_FAST, seed=1, probe=SHORT_PROBE
    )
    r = result["workers"]["1"]
    assert r["renders"][0] >= r["items"][0] >= 1
    assert r["raw_renders_per_s"] > 0 and r["build_renders_per_s"] > 0 and r["ratio"] > 0
    assert "ratio" in format_bench(result)
    assert format_bench(result).startswith("machine: ") and result["machine"]["usable_cores"] >= 1
