"""Engine tables dumped from `vita` (see ``tools/dump_engine_tables.py``).

These are facts about the engine, not decisions: control ranges and scales, display units,
option names, the valid modulation source and destination names, and the init preset.
Reading them never imports the engine.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class ControlInfo:
    """One engine control as `vita.Synth.get_control_details` describes it."""

    name: str
    min: float
    max: float
    default: float
    scale: str  # Indexed, Linear, Quadratic, Cubic, Quartic, SquareRoot, Exponential
    discrete: bool
    units: str
    display_multiply: float
    post_offset: float
    display_name: str
    options: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def _raw_tables() -> dict[str, Any]:
    text = resources.files("synthmatch.vital").joinpath("engine_tables.json").read_text()
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def controls() -> dict[str, ControlInfo]:
    """All 772 engine controls by name."""
    out = {}
    for name, d in _raw_tables()["controls"].items():
        out[name] = ControlInfo(
            name=name,
            min=d["min"],
            max=d["max"],
            default=d["default"],
            scale=d["scale"],
            discrete=d["discrete"],
            units=d["units"],
            display_multiply=d["display_multiply"],
            post_offset=d["post_offset"],
            display_name=d["display_name"],
            options=tuple(d["options"]),
        )
    return out


@functools.lru_cache(maxsize=1)
def modulation_sources() -> tuple[str, ...]:
    """The 32 modulation source names the engine accepts."""
    return tuple(_raw_tables()["modulation_sources"])


@functools.lru_cache(maxsize=1)
def modulation_destinations() -> tuple[str, ...]:
    """The 428 modulation destination names the engine accepts."""
    return tuple(_raw_tables()["modulation_destinations"])


def engine_version() -> str:
    """The `vita` version the tables were dumped from."""
    return str(_raw_tables()["vita_version"])


@functools.lru_cache(maxsize=1)
def _init_preset() -> dict[str, Any]:
    data = resources.files("synthmatch.vital").joinpath("init_preset.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))


def init_preset_json() -> dict[str, Any]:
    """A fresh deep copy of Vital's init preset (as `vita` writes it)."""
    return copy.deepcopy(_init_preset())
