"""Read datasets: random access to items, streaming batches, exact preset reconstruction.

:class:`Dataset` memory-maps each shard's ``.npy`` columns, so opening a 10M-item dataset reads
only manifests and shard summaries, and ``ds[i]`` or a batch touches only the rows it returns.
Items are ordered by shard, then by item index (so positions follow item indices; an item whose
every attempt was rejected leaves a gap in the indices, reported in the manifest).
"""

from __future__ import annotations

import bisect
import functools
import json
import os
import pathlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.data.assets import AssetStore, DatasetError
from synthmatch.data.refs import decode_flac, rebuild_preset
from synthmatch.data.shards import (
    ASSETS,
    AUDIO,
    COLUMNS,
    ITEMS,
    SHARDS,
    complete_shards,
    read_manifest,
    shard_name,
)
from synthmatch.errors import SpecMismatchError
from synthmatch.render.probe import Probe
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import ParamSpace, default_space

#: Columns a batch holds by default.
DEFAULT_FIELDS: tuple[str, ...] = ("index", "x", "c", "active_x", "active_c", "mel", "stats")


@dataclass
class Item:
    """One dataset item. Arrays are copies (safe to keep); ``mel`` is float32 [n_mels, frames]."""

    index: int
    attempt: int
    x: np.ndarray
    c: np.ndarray
    active_x: np.ndarray
    active_c: np.ndarray
    values: np.ndarray
    mel: np.ndarray
    stats: dict[str, float]
    probe: Probe
    preset_ref: dict[str, Any]
    detail: dict[str, Any]


class _Shard:
    def __init__(self, path: pathlib.Path, summary: dict[str, Any]) -> None:
        self.path = path
        self.summary = summary
        self.n = int(summary["n_items"])
        self._cols: dict[str, np.ndarray] = {}
        self._items: list[dict[str, Any]] | None = None

    def col(self, name: str) -> np.ndarray:
        arr = self._cols.get(name)
        if arr is None:
            arr = np.load(self.path / f"{name}.npy", mmap_mode="r")
            self._cols[name] = arr
        return arr

    def meta(self, row: int) -> dict[str, Any]:
        if self._items is None:
            with open(self.path / ITEMS) as fh:
                self._items = [json.loads(line) for line in fh]
        return self._items[row]


class Dataset:
    """A dataset on disk (see :mod:`synthmatch.data.shards` for the format).

    Parameters
    ----------
    path : path
        The dataset folder.
    space : ParamSpace, optional
        The parameter space the caller uses; a dataset built for another space raises
        :class:`~synthmatch.errors.SpecMismatchError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, space: ParamSpace | None = None) -> None:
        self.root = pathlib.Path(path)
        self.manifest = read_manifest(self.root)
        self.space = space or default_space()
        if self.manifest.get("spec_hash") != self.space.spec_hash:
            raise SpecMismatchError(
                f"dataset {self.root} was built for parameter space {self.manifest.get('spec_hash')}, but this "
                f"synthmatch declares {self.space.spec_hash}: its vectors would be read against the wrong "
                "parameters. Hint: rebuild the dataset with this version (`synthmatch dataset build`), or "
                "read it with the synthmatch version that built it."
            )
        summaries = complete_shards(self.root)
        self._shards = [_Shard(self.root / SHARDS / shard_name(k), s) for k, s in sorted(summaries.items())]
        self._shards = [s for s in self._shards if s.n > 0]
        self._offsets = np.cumsum([0] + [s.n for s in self._shards]).tolist()
        self.store = AssetStore(self.root / ASSETS)
        self.probe = Probe.from_dict(self.manifest["probe"])
        self.stat_names: tuple[str, ...] = tuple(self.manifest["layout"]["stats"])
        self.control_names: tuple[str, ...] = tuple(self.manifest["layout"]["controls"])

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, space: ParamSpace | None = None) -> Dataset:
        return cls(path, space=space)

    # -- size and addressing --------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def complete(self) -> bool:
        """True when the build finished (a dataset can be read while it is being built)."""
        return self.manifest.get("status") == "complete"

    @property
    def n_shards(self) -> int:
        return len(self._shards)

    def shard_sizes(self) -> list[int]:
        return [s.n for s in self._shards]

    def _locate(self, pos: int) -> tuple[_Shard, int]:
        n = len(self)
        if pos < 0:
            pos += n
        if not 0 <= pos < n:
            raise IndexError(f"item position {pos} outside [0, {n})")
        k = bisect.bisect_right(self._offsets, pos) - 1
        return self._shards[k], pos - self._offsets[k]

    # -- columns --------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        """A whole column, concatenated over shards (reads it into memory)."""
        if name not in COLUMNS:
            raise DatasetError(f"unknown column {name!r}; columns: {', '.join(COLUMNS)}")
        if not self._shards:
            shape = self.manifest["arrays"].get(name, [])
            return np.zeros((0, *shape))
        return np.concatenate([np.asarray(s.col(name)) for s in self._shards])

    def shard_columns(self, k: int, fields: Sequence[str] = DEFAULT_FIELDS) -> dict[str, np.ndarray]:
        """Memory-mapped columns of shard ``k`` (no copy)."""
        s = self._shards[k]
        return {f: s.col(f) for f in fields}

    def indices(self) -> np.ndarray:
        """Item indices of all items, in position order [shape=(len,)]."""
        return self.column("index")

    # -- items ----------------------------------------------------------------------------
    def __getitem__(self, pos: int) -> Item:
        s, row = self._locate(int(pos))
        meta = s.meta(row)
        return Item(
            index=int(s.col("index")[row]),
            attempt=int(s.col("attempt")[row]),
            x=np.array(s.col("x")[row]),
            c=np.array(s.col("c")[row]).astype(np.int64),
            active_x=np.array(s.col("active_x")[row]),
            active_c=np.array(s.col("active_c")[row]),
            values=np.array(s.col("values")[row]),
            mel=np.array(s.col("mel")[row], dtype=np.float32),
            stats=dict(zip(self.stat_names, map(float, s.col("stats")[row]))),
            probe=Probe.from_dict(meta["probe"]),
            preset_ref=meta["preset_ref"],
            detail=meta.get("detail", {}),
        )

    def __iter__(self) -> Iterator[Item]:
        for i in range(len(self)):
            yield self[i]

    def preset(self, pos: int) -> Preset:
        """The exact preset of item ``pos`` (values, connections and assets)."""
        s, row = self._locate(int(pos))
        return rebuild_preset(
            s.col("values")[row], self.control_names, s.meta(row)["preset_ref"], self._asset
        )

    def probe_of(self, pos: int) -> Probe:
        s, row = self._locate(int(pos))
        return Probe.from_dict(s.meta(row)["probe"])

    def audio(self, pos: int) -> np.ndarray:
        """The stored render of item ``pos`` [shape=(2, n)] (datasets built with keep_audio)."""
        s, row = self._locate(int(pos))
        index = int(s.col("index")[row])
        p = s.path / AUDIO / f"{index:012d}.flac"
        if not p.exists():
            raise DatasetError(
                f"item {index} has no stored audio. Hint: build with --keep-audio, or re-render "
                "ds.preset(i) at ds.probe_of(i)."
            )
        return decode_flac(p.read_bytes())[0]

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one cache per open dataset is what we want
    def _asset(self, key: str) -> Any:
        return self.store.get(key)

    # -- streaming ------------------------------------------------------------------------
    def iter_batches(
        self,
        batch_size: int,
        *,
        fields: Sequence[str] = DEFAULT_FIELDS,
        shuffle: bool = False,
        seed: int = 0,
        shards: Sequence[int] | None = None,
        drop_last: bool = False,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Stream batches shard by shard (one shard's columns mapped at a time).

        With ``shuffle`` the shard order and the rows within each shard are permuted (seeded):
        reads stay within one shard at a time, which keeps them local on disk.
        ``mel`` comes out as float32. ``shards`` restricts to some shards (data-loader workers).
        """
        if batch_size < 1:
            raise DatasetError(f"batch_size must be >= 1, got {batch_size}")
        order = list(range(len(self._shards))) if shards is None else list(shards)
        rng = np.random.default_rng(seed)
        if shuffle:
            rng.shuffle(order)
        carry: dict[str, list[np.ndarray]] = {f: [] for f in fields}
        n_carry = 0
        for k in order:
            s = self._shards[k]
            rows = rng.permutation(s.n) if shuffle else np.arange(s.n)
            for a in range(0, s.n, batch_size):
                sel = np.sort(rows[a : a + batch_size]) if not shuffle else rows[a : a + batch_size]
                for f in fields:
                    arr = s.col(f)[sel]
                    carry[f].append(arr.astype(np.float32) if f == "mel" else np.asarray(arr))
                n_carry += len(sel)
                while n_carry >= batch_size:
                    batch = {f: np.concatenate(v) for f, v in carry.items()}
                    yield {f: v[:batch_size] for f, v in batch.items()}
                    rest = {f: v[batch_size:] for f, v in batch.items()}
                    carry = {f: [v] for f, v in rest.items()}
                    n_carry -= batch_size
        if n_carry and not drop_last:
            yield {f: np.concatenate(v) for f, v in carry.items()}

    def describe(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "path": str(self.root),
            "status": m.get("status"),
            "items": len(self),
            "requested": m.get("n"),
            "shards": self.n_shards,
            "sampler": m.get("sampler", {}).get("name"),
            "seed": m.get("seed"),
            "spec_hash": m.get("spec_hash"),
        }


def open_dataset(path: str | os.PathLike[str], *, space: ParamSpace | None = None) -> Dataset:
    """Open a dataset folder (raises SpecMismatchError if it was built for another parameter space)."""
    return Dataset(path, space=space)
