"""The same build on Ray (a local instance) gives the same items as the process pool."""

from __future__ import annotations

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
