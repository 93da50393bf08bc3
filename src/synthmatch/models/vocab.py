"""The wavetable vocabulary of the estimator (torch-free): built from a dataset, stored as ``wavetables.npz``.

Dataset items refer to their 3 oscillator wavetables by asset key (``preset_ref["wavetables"]``,
sha1 of the table's canonical JSON, so a table has the same key in every dataset). The estimator
classifies each oscillator's table over the V - 1 most frequent keys among the training items'
sounding oscillators, plus "other".

``wavetables.npz`` holds the vocabulary's tables exactly, each as the gzip'd canonical JSON text
the dataset stores (``assets/<key>.json.gz``):

* ``keys`` — str [V - 1], the asset keys in class order;
* ``names`` — str [V - 1], the tables' names;
* ``offsets`` — int64 [V], table ``i`` is ``data[offsets[i]:offsets[i + 1]]``;
* ``data`` — uint8, the gzip streams one after another.

:func:`load_wavetables` reads it back (and checks every table against its key).
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import json
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthmatch.data.reader import Dataset
from synthmatch.data.shards import ITEMS, SHARDS, complete_shards, shard_name
from synthmatch.errors import DatasetError

#: Column of ``osc_k_on`` is looked up by name; these are the switch names per oscillator.
_OSC_SWITCHES = ("osc_1_on", "osc_2_on", "osc_3_on")


def item_wavetable_keys(ds: Dataset) -> list[list[str]]:
    """The 3 wavetable asset keys of every item, in the dataset's position order.

    Reads only the shards' ``items.jsonl`` (never the feature columns).
    """
    out: list[list[str]] = []
    for k, summary in sorted(complete_shards(ds.root).items()):
        if int(summary["n_items"]) <= 0:
            continue
        with open(ds.root / SHARDS / shard_name(k) / ITEMS) as fh:
            out.extend(list(json.loads(line)["preset_ref"]["wavetables"]) for line in fh)
    if len(out) != len(ds):
        raise DatasetError(
            f"{ds.root}: items.jsonl lists {len(out)} items but the columns hold {len(ds)}. "
            "Hint: the dataset changed while it was read; open it again."
        )
    return out


def oscillators_on(ds: Dataset) -> np.ndarray:
    """Which oscillators sound, per item [shape=(N, 3), bool] (from the ``x`` column)."""
    cols = [ds.space.layout.numeric.index(n) for n in _OSC_SWITCHES]
    if len(ds) == 0:
        return np.zeros((0, 3), dtype=bool)
    return np.concatenate(
        [np.asarray(ds.shard_columns(k, ("x",))["x"][:, cols]) >= 0.5 for k in range(ds.n_shards)]
    )


def build_wavetable_vocab(
    ds: Dataset,
    *,
    size: int,
    positions: Sequence[int] | np.ndarray | None = None,
    max_bytes: int | None = None,
    keys: Sequence[Sequence[str]] | None = None,
) -> list[tuple[str, int]]:
    """The most frequent wavetables of sounding oscillators: ``[(key, count), ...]``, at most ``size - 1``.

    Parameters
    ----------
    ds : Dataset
    size : int
        V, the number of classes including "other" (>= 1).
    positions : array of int, optional
        The items to count (the training split); all items when None.
    max_bytes : int, optional
        A budget for the stored tables (their gzip'd size): a table that does not fit is skipped
        in favour of the next, smaller ones.
    keys : per-item key lists, optional
        :func:`item_wavetable_keys` already read.

    Ties in count are broken by key, so the vocabulary is a pure function of the data.
    """
    if size < 1:
        raise DatasetError(f"wavetable vocabulary size must be >= 1 (the 'other' class), got {size}")
    keys = item_wavetable_keys(ds) if keys is None else keys
    on = oscillators_on(ds)
    sel = np.arange(len(ds)) if positions is None else np.asarray(positions, dtype=np.int64)
    counts: collections.Counter[str] = collections.Counter()
    for p in sel.tolist():
        for j in range(3):
            if on[p, j]:
                counts[keys[p][j]] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out: list[tuple[str, int]] = []
    used = 0
    for key, n in ranked:
        if len(out) >= size - 1:
            break
        if max_bytes is not None:
            nbytes = ds.store.path(key).stat().st_size
            if used + nbytes > max_bytes:
                continue
            used += nbytes
        out.append((key, n))
    return out


def save_wavetables(path: str | os.PathLike[str], ds: Dataset, keys: Sequence[str]) -> pathlib.Path:
    """Write the tables of ``keys`` from the dataset's asset store to ``path`` (see the module docstring)."""
    blobs: list[bytes] = []
    names: list[str] = []
    for k in keys:
        p = ds.store.path(k)
        if not p.exists():
            raise DatasetError(f"wavetable asset {k} is missing from {ds.store.root}")
        blob = p.read_bytes()
        blobs.append(blob)
        names.append(str(json.loads(gzip.decompress(blob)).get("name", "")))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs], dtype=np.int64)]).astype(np.int64)
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    out = pathlib.Path(path)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(
        tmp,
        keys=np.asarray(list(keys), dtype=str),
        names=np.asarray(names, dtype=str),
        offsets=offsets,
        data=data,
    )
    os.replace(tmp, out)
    return out


def load_wavetables(path: str | os.PathLike[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """``(keys, tables)`` from a ``wavetables.npz``; each table is a fresh wavetable JSON object."""
    with np.load(path, allow_pickle=False) as z:
        keys = [str(k) for k in z["keys"]]
        offsets = z["offsets"]
        data = z["data"].tobytes()
    tables: list[dict[str, Any]] = []
    for i, k in enumerate(keys):
        text = gzip.decompress(data[int(offsets[i]) : int(offsets[i + 1])]).decode()
        if hashlib.sha1(text.encode()).hexdigest() != k:
            raise DatasetError(
                f"{path}: table {i} does not match its key {k}. Hint: the file is damaged; re-export."
            )
        tables.append(json.loads(text))
    return keys, tables
