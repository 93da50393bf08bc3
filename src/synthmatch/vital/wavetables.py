"""Wavetables: building them from single-cycle frames, reading `.vitaltable` files, and a bank.

A Vital wavetable is JSON: ``{name, author, version, remove_all_dc, full_normalize, groups:
[{components: [...]}]}``. A "Wave Source" keyframe holds exactly 2048 little-endian float32
samples (base64); fewer bytes make the engine read past the buffer, so we always send 2048.
`.vitaltable` files use the same JSON and can be put in a preset as they are.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.errors import PresetError

FRAME_SIZE = 2048
VITAL_VERSION = "1.5.5"


def encode_frame(frame: np.ndarray) -> str:
    """One single-cycle frame [shape=(2048,)] → base64 of 2048 little-endian float32."""
    frame = np.asarray(frame, dtype="<f4").reshape(-1)
    if frame.shape != (FRAME_SIZE,):
        raise PresetError(
            f"a wavetable frame must hold exactly {FRAME_SIZE} samples, got {frame.shape[0]}. "
            "Hint: resample the cycle to 2048 samples (numpy.interp over one period)."
        )
    if not np.all(np.isfinite(frame)):
        raise PresetError(
            "a wavetable frame holds non-finite samples. Hint: replace NaN/inf before encoding."
        )
    return base64.b64encode(frame.tobytes()).decode("ascii")


def decode_frame(b64: str) -> np.ndarray:
    """Inverse of :func:`encode_frame` [shape=(2048,)]."""
    raw = base64.b64decode(b64)
    if len(raw) != FRAME_SIZE * 4:
        raise PresetError(f"wave_data holds {len(raw)} bytes; Vital expects {FRAME_SIZE * 4}")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def wavetable_from_frames(
    frames: np.ndarray,
    *,
    name: str = "synthmatch",
    author: str = "synthmatch",
    positions: list[int] | None = None,
) -> dict[str, Any]:
    """Build a Wave Source wavetable from frames [shape=(n_frames, 2048)] spread over positions 0–256."""
    frames = np.atleast_2d(np.asarray(frames, dtype=np.float32))
    n = frames.shape[0]
    if positions is None:
        positions = [0] if n == 1 else [round(i * 256 / (n - 1)) for i in range(n)]
    keyframes = [{"position": int(p), "wave_data": encode_frame(f)} for p, f in zip(positions, frames)]
    return {
        "name": name,
        "author": author,
        "version": VITAL_VERSION,
        "remove_all_dc": True,
        "full_normalize": True,
        "groups": [
            {
                "components": [
                    {
                        "type": "Wave Source",
                        "interpolation": 1,
                        "interpolation_style": 1,
                        "keyframes": keyframes,
                    }
                ]
            }
        ],
    }


def basic_frame(shape: str, *, n: int = FRAME_SIZE) -> np.ndarray:
    """A classic single-cycle waveform: 'sine', 'saw', 'square', 'triangle' [shape=(n,)]."""
    t = np.arange(n) / n
    if shape == "sine":
        y = np.sin(2 * np.pi * t)
    elif shape == "saw":
        y = 1.0 - 2.0 * t
    elif shape == "square":
        y = np.where(t < 0.5, 1.0, -1.0)
    elif shape == "triangle":
        y = 1.0 - 4.0 * np.abs(t - 0.5)
    else:
        raise PresetError(f"unknown basic shape {shape!r}; use sine, saw, square or triangle")
    return y.astype(np.float32)


def wave_source_frames(table: dict[str, Any]) -> np.ndarray | None:
    """The keyframes of a single-component Wave Source table [shape=(n, 2048)], else None."""
    try:
        comps = [c for g in table["groups"] for c in g["components"]]
    except (KeyError, TypeError):
        return None
    if len(comps) != 1 or comps[0].get("type") != "Wave Source":
        return None
    return np.stack([decode_frame(k["wave_data"]) for k in comps[0]["keyframes"]])


def table_fingerprint(table: dict[str, Any]) -> str:
    """A content hash of a wavetable (ignores name, author and version)."""
    core = {k: v for k, v in table.items() if k not in ("name", "author", "version")}
    return hashlib.sha1(json.dumps(core, sort_keys=True).encode()).hexdigest()[:12]


def read_vitaltable(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a `.vitaltable` file; the result can be used as a preset wavetable."""
    p = pathlib.Path(path)
    try:
        table = json.loads(p.read_text())
    except FileNotFoundError:
        raise PresetError(f"wavetable file {p} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PresetError(f"{p} is not a Vital wavetable (JSON expected): {exc}") from None
    if not isinstance(table, dict) or "groups" not in table:
        raise PresetError(
            f"{p} is not a Vital wavetable: no 'groups'. Hint: export it from Vital's wavetable editor."
        )
    table["version"] = VITAL_VERSION
    table.setdefault("name", p.stem)
    return table


def write_vitaltable(table: dict[str, Any], path: str | os.PathLike[str]) -> pathlib.Path:
    """Write a wavetable as a `.vitaltable` file (atomically)."""
    p = pathlib.Path(path)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(table))
    os.replace(tmp, p)
    return p


def default_wavetable_dir() -> pathlib.Path | None:
    """The shared CC0 WaveEdit collection if present (``$SYNTHMATCH_WAVETABLES`` overrides)."""
    from synthmatch.data_paths import shared_dir
    from synthmatch.errors import SynthmatchError

    env = os.environ.get("SYNTHMATCH_WAVETABLES")
    if env:
        return pathlib.Path(env)
    try:
        cand = shared_dir() / "wavetables" / "waveedit"
    except SynthmatchError:
        return None
    return cand if cand.is_dir() else None


@dataclass(frozen=True)
class BankEntry:
    name: str
    path: str  # "" for built-in tables


class WavetableBank:
    """An ordered, named pool of wavetables: built-in basic shapes plus a folder of `.vitaltable`.

    Index 0..3 are the built-in sine, saw, square and triangle; the folder follows in sorted order.
    Tables are read lazily and cached.
    """

    BUILTIN = ("sine", "saw", "square", "triangle")

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = pathlib.Path(folder) if folder else None
        entries = [BankEntry(f"Basic {b.title()}", "") for b in self.BUILTIN]
        if self.folder is not None:
            if not self.folder.is_dir():
                raise PresetError(f"wavetable folder {self.folder} does not exist")
            entries += [BankEntry(p.stem, str(p)) for p in sorted(self.folder.glob("*.vitaltable"))]
        self.entries: tuple[BankEntry, ...] = tuple(entries)
        self._get = functools.lru_cache(maxsize=64)(self._load)

    @classmethod
    def default(cls) -> WavetableBank:
        return cls(default_wavetable_dir())

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[BankEntry]:
        return iter(self.entries)

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def _load(self, index: int) -> str:
        entry = self.entries[index]
        if not entry.path:
            shape = self.BUILTIN[index]
            table = wavetable_from_frames(basic_frame(shape)[None], name=entry.name)
        else:
            table = read_vitaltable(entry.path)
        return json.dumps(table)

    def get(self, index: int) -> dict[str, Any]:
        """A fresh copy of table ``index`` ready to put in a preset."""
        if not 0 <= index < len(self.entries):
            raise PresetError(f"wavetable index {index} outside [0, {len(self.entries) - 1}]")
        return json.loads(self._get(index))
