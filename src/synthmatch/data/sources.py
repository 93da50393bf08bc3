"""Where samplers draw from: the training presets, the wavetable bank, LFO shapes, the init sample.

Everything here is read once per process and cached; every asset is an :class:`~synthmatch.data.assets.Asset`
with its content key computed once, so samplers never re-hash multi-megabyte wavetables per item.

The preset-informed sampler reads **only** the training split (``shared/presets/train``). The
public test split is refused by name: training or tuning on it would leak the benchmark.
"""

from __future__ import annotations

import functools
import logging
import os
import pathlib
from dataclasses import dataclass
from typing import Any

from synthmatch.data.assets import Asset, AssetKind, DatasetError
from synthmatch.data_paths import shared_dir
from synthmatch.errors import SynthmatchError
from synthmatch.vital import tables
from synthmatch.vital.modulation import LFO_SHAPES, Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.wavetables import WavetableBank, default_wavetable_dir

log = logging.getLogger(__name__)

#: Index of Vital's basic saw in :class:`WavetableBank` (used for oscillators that are off).
BASIC_SAW = 1


def default_train_dir() -> pathlib.Path | None:
    """The shared training presets if present (``$SYNTHMATCH_TRAIN_PRESETS`` overrides)."""
    env = os.environ.get("SYNTHMATCH_TRAIN_PRESETS")
    if env:
        return pathlib.Path(env)
    try:
        cand = shared_dir() / "presets" / "train"
    except SynthmatchError:
        return None
    return cand if cand.is_dir() else None


def check_not_test_split(path: str | os.PathLike[str]) -> pathlib.Path:
    """Refuse the public test split (``…/presets/test``) as a sampling source."""
    p = pathlib.Path(path).resolve()
    parts = p.parts
    for i in range(len(parts) - 1):
        if parts[i] == "presets" and parts[i + 1] == "test":
            raise DatasetError(
                f"{path} is the public test split of the presets; it is for evaluation only and must never "
                "feed a dataset. Hint: use shared/presets/train (the default)."
            )
    return p


def resolve_train_dir(preset_dir: str | os.PathLike[str] | None) -> pathlib.Path:
    d = pathlib.Path(preset_dir) if preset_dir else default_train_dir()
    if d is None or not d.is_dir():
        raise DatasetError(
            f"training preset folder {d} not found. Hint: pass preset_dir= or set $SYNTHMATCH_TRAIN_PRESETS "
            "to a folder of .vital files (shared/presets/train)."
        )
    return check_not_test_split(d)


@dataclass(frozen=True)
class SourcePreset:
    """A hand-made preset as samplers use it: values, connections and keyed assets."""

    name: str
    values: dict[str, float]
    modulations: tuple[Modulation, ...]
    wavetables: tuple[Asset, Asset, Asset]
    lfo_shapes: tuple[Asset, ...]
    sample: Asset


@functools.lru_cache(maxsize=4)
def load_source_presets(preset_dir: str) -> tuple[SourcePreset, ...]:
    """Read every ``.vital`` file under ``preset_dir`` (sorted by relative path, so the order is stable)."""
    root = check_not_test_split(preset_dir)
    files = sorted(root.rglob("*.vital"), key=lambda p: p.relative_to(root).as_posix())
    out: list[SourcePreset] = []
    interned: dict[str, Asset] = {}  # one copy of each distinct asset (most presets share the sample)

    def keyed(kind: AssetKind, obj: Any) -> Asset:
        a = Asset.of(kind, obj)
        return interned.setdefault(a.key, a)

    for f in files:
        try:
            p = Preset.from_file(f)
        except SynthmatchError as exc:
            log.warning("skipping %s: %s", f, exc)
            continue
        w1, w2, w3 = (keyed("wavetable", w) for w in p.wavetables)
        out.append(
            SourcePreset(
                name=f.relative_to(root).as_posix(),
                values=dict(p.values),
                modulations=tuple(p.modulations),
                wavetables=(w1, w2, w3),
                lfo_shapes=tuple(keyed("lfo_shape", s) for s in p.lfo_shapes),
                sample=keyed("sample", p.sample),
            )
        )
    if not out:
        raise DatasetError(f"no readable .vital presets under {root}")
    release_free_memory()
    return tuple(out)


def release_free_memory() -> None:
    """Give freed heap back to the OS (glibc only).

    Parsing hundreds of presets leaves ~250 MB of freed heap in the process; a render worker
    forks once per render and fork time grows with the mapped memory.
    """
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


@functools.lru_cache(maxsize=4)
def _bank(folder: str) -> WavetableBank:
    return WavetableBank(folder or None)


def wavetable_bank(folder: str | os.PathLike[str] | None = None) -> WavetableBank:
    """The wavetable bank of ``folder`` (default: the shared WaveEdit collection), cached per process."""
    if folder is None:
        d = default_wavetable_dir()
        folder = str(d) if d is not None else ""
    return _bank(str(folder))


@functools.lru_cache(maxsize=2048)
def _bank_asset(folder: str, index: int) -> Asset:
    bank = _bank(folder)
    return Asset.of("wavetable", bank.get(index), name=bank.entries[index].name)


def bank_asset(bank: WavetableBank, index: int) -> Asset:
    """Table ``index`` of the bank as a keyed asset (0–3 are the built-in basic shapes)."""
    return _bank_asset(str(bank.folder or ""), int(index))


@functools.lru_cache(maxsize=1)
def lfo_shape_assets() -> tuple[Asset, ...]:
    """The declared LFO shape library (:data:`synthmatch.vital.modulation.LFO_SHAPES`), in order."""
    return tuple(Asset.of("lfo_shape", s, name=n) for n, s in LFO_SHAPES.items())


@functools.lru_cache(maxsize=1)
def init_lfo_asset() -> Asset:
    """The init preset's LFO shape (Triangle), used for every LFO that is not routed."""
    return Asset.of("lfo_shape", tables.init_preset_json()["settings"]["lfos"][0])


@functools.lru_cache(maxsize=1)
def init_sample_asset() -> Asset:
    """The init preset's sample (white noise)."""
    return Asset.of("sample", tables.init_preset_json()["settings"]["sample"])
