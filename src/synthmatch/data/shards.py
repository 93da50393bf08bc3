"""The on-disk dataset format: a manifest, shards of ``.npy`` columns, and an asset store.

::

    DATASET/
      manifest.json              provenance, configuration, layout, counts (atomically replaced)
      assets/<sha1>.json.gz      wavetables, LFO shapes, samples (content-addressed, written once)
      shards/shard-000000/       items [0, S) — present only when complete (renamed into place)
        index.npy      int64   [n]                  item index (sorted)
        attempt.npy    int16   [n]                  accepted attempt
        values.npy     float64 [n, n_controls]      control values, internal units (exact)
        x.npy          float32 [n, n_numeric]       normalized numeric vector
        c.npy          int16   [n, n_categorical]   categorical indices
        active_x.npy   bool    [n, n_numeric]       which numeric parameters matter
        active_c.npy   bool    [n, n_categorical]   which categorical parameters matter
        mel.npy        f16/f32 [n, n_mels, frames]  log-mel features (dB)
        stats.npy      float32 [n, n_stats]         render statistics (STAT_NAMES)
        note.npy       int16   [n]; velocity.npy, note_seconds.npy  float64 [n]   the item's probe
        items.jsonl    one JSON line per item: index, attempt, probe, preset ref, detail, rejections
        audio/<index>.flac     24-bit FLAC of the render (only with keep_audio)
        shard.json     range, counts, failed items and rejection reasons (written last)

Every ``.npy`` column can be memory-mapped: a data loader reads any row of any shard without
reading the rest. Shards are built in ``shards/.tmp-*`` and renamed into place (atomic on POSIX),
so a shard directory that exists is complete.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import pathlib
import platform
import shutil
import uuid
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

import numpy as np

from synthmatch.data.assets import DatasetError
from synthmatch.data.worker import ItemResult

FORMAT = "synthmatch-dataset"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SHARDS = "shards"
ASSETS = "assets"
SHARD_SUMMARY = "shard.json"
ITEMS = "items.jsonl"
AUDIO = "audio"

#: Scalar/vector columns: name → (dtype, trailing shape key in the manifest's ``arrays``).
COLUMNS: dict[str, str] = {
    "index": "int64",
    "attempt": "int16",
    "values": "float64",
    "x": "float32",
    "c": "int16",
    "active_x": "bool",
    "active_c": "bool",
    "mel": "float16",  # replaced by the manifest's feature dtype
    "stats": "float32",
    "note": "int16",
    "velocity": "float64",
    "note_seconds": "float64",
}


def shard_name(k: int) -> str:
    return f"shard-{k:06d}"


def shard_ranges(n: int, shard_size: int) -> list[tuple[int, int]]:
    """Item ranges ``[start, stop)`` of the shards of an ``n``-item dataset."""
    if shard_size < 1:
        raise DatasetError(f"shard_size must be >= 1, got {shard_size}")
    return [(s, min(s + shard_size, n)) for s in range(0, n, shard_size)]


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Versions of what produced a dataset."""
    from synthmatch import __version__

    out = {"synthmatch": __version__, "python": platform.python_version()}
    for pkg in ("vita", "numpy", "scipy", "soundfile"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "missing"
    return out


def write_json_atomic(path: pathlib.Path, obj: Any) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def read_manifest(root: str | os.PathLike[str]) -> dict[str, Any]:
    p = pathlib.Path(root) / MANIFEST
    try:
        m = json.loads(p.read_text())
    except FileNotFoundError:
        raise DatasetError(
            f"{root} is not a synthmatch dataset: no {MANIFEST}. Hint: build one with `synthmatch dataset build`."
        ) from None
    if m.get("format") != FORMAT:
        raise DatasetError(f"{p} is not a synthmatch dataset manifest (format={m.get('format')!r})")
    if int(m.get("format_version", 0)) > FORMAT_VERSION:
        raise DatasetError(
            f"{root} uses dataset format {m.get('format_version')}; this synthmatch reads up to {FORMAT_VERSION}. "
            "Hint: upgrade synthmatch."
        )
    return m


def complete_shards(root: str | os.PathLike[str]) -> dict[int, dict[str, Any]]:
    """Summaries of the complete shards of a dataset, by shard number."""
    d = pathlib.Path(root) / SHARDS
    out: dict[int, dict[str, Any]] = {}
    if not d.is_dir():
        return out
    for p in sorted(d.glob("shard-*")):
        try:
            summary = json.loads((p / SHARD_SUMMARY).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue  # not ours or damaged: treated as missing
        out[int(summary["shard"])] = summary
    return out


def clean_temp(root: str | os.PathLike[str]) -> int:
    """Remove the temp directories of shards that a killed build left behind."""
    d = pathlib.Path(root) / SHARDS
    n = 0
    if d.is_dir():
        for p in d.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
            n += 1
    return n


def write_shard(
    root: str | os.PathLike[str],
    k: int,
    start: int,
    stop: int,
    results: Sequence[ItemResult],
    *,
    arrays: Mapping[str, Sequence[int]],
    feature_dtype: str,
) -> dict[str, Any]:
    """Write shard ``k`` (items ``[start, stop)``) atomically and return its summary.

    ``results`` holds one :class:`ItemResult` per index of the range (accepted or not).
    ``arrays`` gives each column's trailing shape (from the manifest) for empty shards.
    """
    indices = sorted(r.index for r in results)
    if indices != list(range(start, stop)):
        raise DatasetError(f"shard {k} expects items [{start}, {stop}); got {len(indices)} results")
    shards = pathlib.Path(root) / SHARDS
    shards.mkdir(parents=True, exist_ok=True)
    final = shards / shard_name(k)
    tmp = shards / f".tmp-{shard_name(k)}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    ok = sorted((r for r in results if r.ok), key=lambda r: r.index)

    def column(name: str, get: Any) -> np.ndarray:
        dtype = feature_dtype if name == "mel" else COLUMNS[name]
        if not ok:
            return np.zeros((0, *arrays.get(name, ())), dtype=dtype)
        return np.stack([np.asarray(get(r)) for r in ok]).astype(dtype, copy=False)

    cols = {
        "index": column("index", lambda r: r.index),
        "attempt": column("attempt", lambda r: r.attempt),
        "values": column("values", lambda r: r.values),
        "x": column("x", lambda r: r.x),
        "c": column("c", lambda r: r.c),
        "active_x": column("active_x", lambda r: r.active_x),
        "active_c": column("active_c", lambda r: r.active_c),
        "mel": column("mel", lambda r: r.mel),
        "stats": column("stats", lambda r: r.stats),
        "note": column("note", lambda r: r.probe["note"]),
        "velocity": column("velocity", lambda r: r.probe["velocity"]),
        "note_seconds": column("note_seconds", lambda r: r.probe["note_seconds"]),
    }
    for name, arr in cols.items():
        np.save(tmp / f"{name}.npy", arr)
    with open(tmp / ITEMS, "w") as fh:
        for r in ok:
            line = {
                "index": r.index,
                "attempt": r.attempt,
                "probe": r.probe,
                "preset_ref": r.ref,
                "detail": r.detail,
                "rejections": r.rejections,
            }
            fh.write(json.dumps(line) + "\n")
    if any(r.flac is not None for r in ok):
        (tmp / AUDIO).mkdir()
        for r in ok:
            if r.flac is not None:
                (tmp / AUDIO / f"{r.index:012d}.flac").write_bytes(r.flac)
    reasons = collections.Counter(reason for r in results for reason in r.rejections)
    summary = {
        "shard": k,
        "start": start,
        "stop": stop,
        "n_items": len(ok),
        "failed": [
            {"index": r.index, "rejections": r.rejections}
            for r in sorted(results, key=lambda r: r.index)
            if not r.ok
        ],
        "rejections": dict(sorted(reasons.items())),
        "attempts": sum(len(r.rejections) + (1 if r.ok else 0) for r in results),
        "render_s": round(sum(r.render_s for r in results), 3),
        "task_s": round(sum(r.task_s for r in results), 3),
        "cpu_render_s": round(sum(r.cpu_render_s for r in results), 3),
        "cpu_worker_s": round(sum(r.cpu_worker_s for r in results), 3),
        "created": now_iso(),
    }
    (tmp / SHARD_SUMMARY).write_text(json.dumps(summary, indent=1))
    if final.exists():  # a concurrent or earlier writer finished it: identical content by construction
        shutil.rmtree(tmp, ignore_errors=True)
        return json.loads((final / SHARD_SUMMARY).read_text())
    os.replace(tmp, final)
    return summary
