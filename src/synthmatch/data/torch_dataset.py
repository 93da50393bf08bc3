"""PyTorch views of a dataset (torch is optional and imported only when one is built).

* :func:`torch_dataset` — a map-style ``torch.utils.data.Dataset``: random access through the
  memory-mapped shards, for ``DataLoader(shuffle=True)``.
* :func:`torch_stream` — an ``IterableDataset`` that streams whole shards: each ``DataLoader``
  worker (and each distributed rank) takes a disjoint subset of shards and shuffles rows within a
  shard, so reads stay sequential on disk.

Both yield dicts of tensors: ``x`` float32 [n_numeric], ``c`` int64 [n_categorical],
``active_x``/``active_c`` bool, ``mel`` float32 [n_mels, frames], ``stats`` float32, ``index`` int64.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthmatch.data.reader import DEFAULT_FIELDS, Dataset
from synthmatch.errors import MissingExtraError


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingExtraError("torch", "train", "PyTorch datasets") from exc
    return torch


def _to_tensor(torch: Any, name: str, value: np.ndarray) -> Any:
    arr = np.asarray(value)
    if name == "c":
        arr = arr.astype(np.int64)
    elif name == "mel":
        arr = arr.astype(np.float32)
    return torch.from_numpy(np.array(arr))  # a writable copy (0-d stays 0-d)


def torch_dataset(path: str | os.PathLike[str] | Dataset, *, fields: Sequence[str] = DEFAULT_FIELDS) -> Any:
    """A map-style ``torch.utils.data.Dataset`` over a dataset folder (or an open :class:`Dataset`)."""
    torch = _torch()

    class _MapDataset(torch.utils.data.Dataset):
        def __init__(self) -> None:
            self.ds = path if isinstance(path, Dataset) else Dataset(path)
            self.fields = tuple(fields)

        def __len__(self) -> int:
            return len(self.ds)

        def __getitem__(self, pos: int) -> dict[str, Any]:
            shard, row = self.ds._locate(int(pos))
            return {f: _to_tensor(torch, f, shard.col(f)[row]) for f in self.fields}

    return _MapDataset()


def torch_stream(
    path: str | os.PathLike[str] | Dataset,
    *,
    fields: Sequence[str] = DEFAULT_FIELDS,
    shuffle: bool = True,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> Any:
    """An ``IterableDataset`` streaming shards; split over DataLoader workers and ``world_size`` ranks.

    Call ``.set_epoch(e)`` between epochs for a new shuffle. Every item is yielded exactly once per
    epoch across all workers and ranks (shards are dealt round-robin).
    """
    torch = _torch()

    class _StreamDataset(torch.utils.data.IterableDataset):
        def __init__(self) -> None:
            self.ds = path if isinstance(path, Dataset) else Dataset(path)
            self.fields = tuple(fields)
            self.epoch = 0

        def set_epoch(self, epoch: int) -> None:
            self.epoch = int(epoch)

        def __len__(self) -> int:
            return len(self.ds)

        def __iter__(self) -> Any:
            info = torch.utils.data.get_worker_info()
            wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
            order = np.arange(self.ds.n_shards)
            rng = np.random.default_rng([seed, self.epoch])
            if shuffle:
                rng.shuffle(order)
            part = world_size * nw
            mine = order[rank * nw + wid :: part].tolist()
            for batch in self.ds.iter_batches(
                1024, fields=self.fields, shuffle=shuffle, seed=seed + 7919 * self.epoch, shards=mine
            ):
                for r in range(len(batch[self.fields[0]])):
                    yield {f: _to_tensor(torch, f, batch[f][r]) for f in self.fields}

    return _StreamDataset()
