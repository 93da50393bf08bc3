"""Preset references: how a dataset item stores its preset without storing megabytes of JSON.

An item's preset is its control values (a float64 row of ``values.npy``, in internal units and
``ParamSpace.control_names()`` order), plus a small JSON ``preset_ref``::

    {"name": str,
     "modulations": [{"source", "destination", "amount", "bipolar", "power", "stereo", "bypass",
                      ["line_mapping"], ["slot"]}, ...],
     "wavetables": [key, key, key], "lfo_shapes": [8 keys], "sample": key}

where keys name assets in the dataset's content-addressed store. :func:`rebuild_preset` turns
them back into the exact :class:`~synthmatch.vital.preset.Preset` that was rendered.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from synthmatch.data.assets import DatasetError
from synthmatch.data.samplers import Draw
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset


def modulation_to_dict(m: Modulation) -> dict[str, Any]:
    d: dict[str, Any] = {
        "source": m.source,
        "destination": m.destination,
        "amount": float(m.amount),
        "bipolar": bool(m.bipolar),
        "power": float(m.power),
        "stereo": bool(m.stereo),
        "bypass": bool(m.bypass),
    }
    if m.line_mapping:
        d["line_mapping"] = m.line_mapping
    if m.slot is not None:
        d["slot"] = int(m.slot)
    return d


def modulation_from_dict(d: dict[str, Any]) -> Modulation:
    return Modulation(
        source=d["source"],
        destination=d["destination"],
        amount=float(d["amount"]),
        bipolar=bool(d["bipolar"]),
        power=float(d["power"]),
        stereo=bool(d["stereo"]),
        bypass=bool(d.get("bypass", False)),
        line_mapping=d.get("line_mapping"),
        slot=d.get("slot"),
    )


def preset_ref(draw: Draw) -> dict[str, Any]:
    """The ``preset_ref`` of a sampled preset (see the module docstring)."""
    return {
        "name": str(draw.preset.meta.get("preset_name", "")),
        "modulations": [modulation_to_dict(m) for m in draw.preset.modulations],
        "wavetables": draw.wavetable_keys,
        "lfo_shapes": draw.lfo_shape_keys,
        "sample": draw.sample_key,
    }


def rebuild_preset(
    values: np.ndarray,
    control_names: Sequence[str],
    ref: dict[str, Any],
    get_asset: Callable[[str], Any],
) -> Preset:
    """The exact preset of an item from its values row, its ``preset_ref`` and an asset getter."""
    row = np.asarray(values, dtype=np.float64)
    if row.shape != (len(control_names),):
        raise DatasetError(f"values row has shape {row.shape}; expected ({len(control_names)},)")
    return Preset(
        values=dict(zip(control_names, row.tolist())),
        modulations=[modulation_from_dict(d) for d in ref["modulations"]],
        wavetables=[get_asset(k) for k in ref["wavetables"]],
        lfo_shapes=[get_asset(k) for k in ref["lfo_shapes"]],
        sample=get_asset(ref["sample"]),
        meta={"preset_name": ref["name"]},
    )


def encode_flac(audio: np.ndarray, sample_rate: int) -> bytes:
    """Audio [shape=(channels, n)] → FLAC bytes (24-bit PCM)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.ascontiguousarray(np.asarray(audio).T), sample_rate, format="FLAC", subtype="PCM_24")
    return buf.getvalue()


def decode_flac(data: bytes) -> tuple[np.ndarray, int]:
    """FLAC bytes → (float32 audio [shape=(channels, n)], sample rate)."""
    import soundfile as sf

    y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return np.ascontiguousarray(y.T), int(sr)


def quantize_like_flac(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """What storing ``audio`` as 24-bit FLAC and reading it back gives (for exact comparisons)."""
    return decode_flac(encode_flac(audio, sample_rate))[0]
