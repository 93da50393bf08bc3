"""PyTorch views of a dataset: map-style random access and shard streaming over DataLoader workers."""

from __future__ import annotations

import numpy as np
import pytest

from synthmatch.data import build_dataset, open_dataset
from tests.conftest import SHORT_PROBE

pytestmark = [pytest.mark.torch, pytest.mark.vita]

torch = pytest.importorskip(
    "torch", reason="torch is not installed (pip install torch==2.13.0); torch datasets untested"
)


@pytest.fixture(scope="module")
def small(tmp_path_factory, render_pool):
    out = tmp_path_factory.mktemp("torchds") / "ds"
    build_dataset(
        out,
        n=6,
        shard_size=2,
        executor=render_pool.executor,
        sampler="lhs",
        sampler_config={"p_train_table": 0.0, "block_size": 64},
        seed=21,
        probe=SHORT_PROBE,
    )
    return open_dataset(out)


def test_map_dataset_returns_typed_tensors(small):
    from synthmatch.data.torch_dataset import torch_dataset

    tds = torch_dataset(small)
    assert len(tds) == len(small)
    item = tds[1]
    assert item["x"].dtype == torch.float32 and item["c"].dtype == torch.int64
    assert item["mel"].dtype == torch.float32 and tuple(item["mel"].shape) == tuple(
        small.manifest["arrays"]["mel"]
    )
    assert item["active_x"].dtype == torch.bool
    assert int(item["index"]) == small[1].index
    assert np.array_equal(item["x"].numpy(), small[1].x)
    loader = torch.utils.data.DataLoader(
        tds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    seen = torch.cat([b["index"] for b in loader]).tolist()
    assert sorted(seen) == small.indices().tolist()


@pytest.mark.parametrize("num_workers", [0, 2])
def test_stream_dataset_yields_every_item_once_per_epoch(small, num_workers):
    from synthmatch.data.torch_dataset import torch_stream

    stream = torch_stream(small, shuffle=True, seed=3)
    loader = torch.utils.data.DataLoader(stream, batch_size=2, num_workers=num_workers)
    first = torch.cat([b["index"] for b in loader]).tolist()
    assert sorted(first) == small.indices().tolist()
    stream.set_epoch(1)
    second = torch.cat([b["index"] for b in loader]).tolist()
    assert sorted(second) == sorted(first)


def test_stream_splits_shards_across_ranks(small):
    from synthmatch.data.torch_dataset import torch_stream

    parts = [
        [int(b["index"]) for b in torch_stream(small, shuffle=False, rank=r, world_size=2)] for r in range(2)
    ]
    assert not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == small.indices().tolist()
