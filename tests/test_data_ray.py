"""The same build on Ray (a local instance) gives the same items as the process pool."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from synthmatch.data import build_dataset, open_dataset
from synthmatch.data.shards import COLUMNS, SHARDS
from tests.conftest import SHORT_PROBE

pytestmark = [pytest.mark.ray, pytest.mark.vita]

OPTS = dict(
    n=5,
    shard_size=2,
    sampler="lhs",
    sampler_config={"p_train_table": 0.0, "block_size": 64},
    seed=11,
    probe=SHORT_PROBE,
    keep_audio=True,
)


def _items(root):
    out = []
    for d in sorted((root / SHARDS).glob("shard-*")):
        out += [json.loads(line) for line in (d / "items.jsonl").read_text().splitlines()]
    return out


def test_pool_and_ray_builds_hold_identical_items(tmp_path, render_pool):
    pytest.importorskip(
        "ray", reason="ray is not installed (pip install 'synthmatch[ray]'); the Ray backend is untested"
    )
    pool_out, ray_out = tmp_path / "pool", tmp_path / "ray"
    build_dataset(pool_out, executor=render_pool.executor, **OPTS)
    report = build_dataset(ray_out, ray_address="local", workers=2, **OPTS)
    assert report.items_rendered == OPTS["n"]
    a, b = open_dataset(pool_out), open_dataset(ray_out)
    assert len(a) == len(b) > 0
    for name in COLUMNS:
        assert np.array_equal(a.column(name), b.column(name)), name
    assert _items(pool_out) == _items(ray_out)
    assert all(np.array_equal(a.audio(i), b.audio(i)) for i in range(len(a)))
    assert a.store.keys() == b.store.keys()
    assert a.manifest["counts"] == b.manifest["counts"]


def test_large_task_arguments_go_to_the_object_store_once():
    pytest.importorskip(
        "ray", reason="ray is not installed (pip install 'synthmatch[ray]'); the Ray backend is untested"
    )
    from synthmatch.data.ray_backend import MAX_SHARED, SHARE_MIN_BYTES, RayExecutor
    from synthmatch.render.pool import Measure

    def sizes(text, measure, k):  # defined here, so Ray ships it by value
        return len(text), measure.key, k

    def length(text):
        return len(text)

    base = "x" * SHARE_MIN_BYTES  # a base preset's JSON, sent with every variant
    # the objective (target audio inside), sent with every variant too
    measure = Measure.of(functools.partial(np.dot, np.zeros(SHARE_MIN_BYTES // 8 + 1)))
    rex = RayExecutor("local", num_cpus=1)
    try:
        results = [rex.submit(sizes, base, measure, k).result() for k in range(3)]
        assert results == [(len(base), measure.key, k) for k in range(3)]
        assert rex.shared_puts == 2  # once each, not once per task
        assert rex.submit(sizes, "small", measure, 7).result() == (5, measure.key, 7)
        assert rex.shared_puts == 2  # small arguments travel inline
        others = ["y" * SHARE_MIN_BYTES + str(k) for k in range(MAX_SHARED)]
        assert [rex.submit(length, s).result() for s in others] == [len(s) for s in others]
        assert len(rex._shared) == MAX_SHARED  # the oldest entries were let go
        assert rex.submit(sizes, base, measure, 9).result() == (len(base), measure.key, 9)
        assert rex.shared_puts == 2 + MAX_SHARED + 2  # evicted arguments are put again
    finally:
        rex.shutdown()
