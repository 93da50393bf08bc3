"""Content-addressed assets: wavetables, LFO shapes and samples stored once per dataset.

A generated preset is mostly parameter values (a few KB) plus assets (3 wavetables of 10 KB–2 MB,
8 LFO shapes, a sample of ~160 KB). Datasets store each distinct asset once, named by the hash
of its canonical JSON, and items refer to assets by key; a preset is rebuilt exactly from its
values, its modulations and its asset keys.

The canonical text of an asset is ``json.dumps(obj, sort_keys=True)``. Samplers build presets
from ``json.loads(canonical_text)``, so a rebuilt preset is equal, key order included, to the
one that was rendered.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import pathlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from synthmatch.errors import DatasetError

AssetKind = Literal["wavetable", "lfo_shape", "sample"]


def canonical_text(obj: Any) -> str:
    """The canonical JSON text of an asset (sorted keys)."""
    return json.dumps(obj, sort_keys=True)


def asset_key(text: str) -> str:
    """The content key of an asset's canonical text (sha1, 40 hex digits)."""
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass(frozen=True)
class Asset:
    """One asset: its kind, content key and canonical JSON text."""

    kind: AssetKind
    key: str
    text: str
    name: str = ""

    @classmethod
    def of(cls, kind: AssetKind, obj: Any, *, name: str = "") -> Asset:
        text = canonical_text(obj)
        if not name and isinstance(obj, dict):
            name = str(obj.get("name", ""))
        return cls(kind, asset_key(text), text, name)

    def obj(self) -> Any:
        """A fresh copy of the asset object (ready to put in a preset)."""
        return json.loads(self.text)


class AssetStore:
    """A folder of gzip'd JSON assets named by content key (``<key>.json.gz``).

    Writes are atomic (temp file + ``os.replace``) and idempotent, so several writers and killed
    builds never leave a partial asset behind.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = pathlib.Path(root)
        self._known: set[str] | None = None

    def path(self, key: str) -> pathlib.Path:
        return self.root / f"{key}.json.gz"

    def keys(self) -> set[str]:
        """Keys of all stored assets (scanned once, then kept up to date by :meth:`put`)."""
        if self._known is None:
            self._known = (
                {p.name[: -len(".json.gz")] for p in self.root.glob("*.json.gz")}
                if self.root.is_dir()
                else set()
            )
        return self._known

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def put(self, key: str, text: str) -> bool:
        """Store an asset's canonical text under ``key``; False when it was already there."""
        if key in self.keys():
            return False
        if asset_key(text) != key:
            raise DatasetError(f"asset text does not match its key {key}; refusing to store it")
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(key)
        tmp = final.with_name(f".tmp-{uuid.uuid4().hex}-{final.name}")
        # mtime=0 keeps the bytes a pure function of the content.
        tmp.write_bytes(gzip.compress(text.encode(), compresslevel=6, mtime=0))
        os.replace(tmp, final)
        self.keys().add(key)
        return True

    def put_many(self, assets: Iterable[tuple[str, str]]) -> int:
        return sum(self.put(k, t) for k, t in assets)

    def text(self, key: str) -> str:
        try:
            return _read_gz_text(str(self.path(key)))
        except FileNotFoundError:
            raise DatasetError(
                f"asset {key} is missing from {self.root}. Hint: the dataset is incomplete or was copied "
                "without its assets/ folder."
            ) from None

    def get(self, key: str) -> Any:
        """A fresh copy of the asset object."""
        return json.loads(self.text(key))

    def clean_temp(self) -> None:
        """Remove temp files left by a killed writer."""
        if self.root.is_dir():
            for p in self.root.glob(".tmp-*"):
                p.unlink(missing_ok=True)


@functools.lru_cache(maxsize=256)
def _read_gz_text(path: str) -> str:
    return gzip.decompress(pathlib.Path(path).read_bytes()).decode()
