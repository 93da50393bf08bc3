"""Export a trained estimator for inference without torch: ONNX, ``model_card.json``, ``model_card.md``.

The ONNX graph (opset 17, the TorchScript exporter) takes ``mel`` float32 [B, n_mels, T] and ``probe``
float32 [B, 3] with dynamic B and T, and returns :data:`~synthmatch.models.layout.OUTPUT_NAMES`.
``model_card.json`` says everything an inference runner needs and where the model comes from:

* ``config_name``, ``config`` — the :class:`~synthmatch.models.configs.EstimatorConfig`;
* ``spec_hash``, ``layout_hash``, ``layout`` — the :class:`~synthmatch.models.layout.EstimatorLayout`;
* ``log_mel`` — the dataset's ``LogMelConfig``; ``probe_convention``;
* ``onnx`` — file, opset, input and output shapes, ``min_frames``, the largest difference
  between onnxruntime and torch outputs measured at export (None without onnxruntime);
* ``wavetables`` — the ``wavetables.npz`` file (see :mod:`synthmatch.models.vocab`), tables, bytes;
* ``data`` — provenance (dataset path, manifest spec hash, items, seed, sampler, split);
* ``metrics`` — the exported epoch's (the lowest validation loss) training and validation
  metrics; ``decode`` — how inference decodes it; ``versions``; ``command``.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import pathlib
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from synthmatch.models.checkpoint import versions
from synthmatch.models.configs import EstimatorConfig
from synthmatch.models.layout import INPUT_NAMES, OUTPUT_NAMES, PROBE_CONVENTION, EstimatorLayout

log = logging.getLogger(__name__)

ONNX_FILE = "estimator.onnx"
CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
WAVETABLES_FILE = "wavetables.npz"
OPSET = 17
CARD_FORMAT = "synthmatch-estimator"
CARD_FORMAT_VERSION = 1


def export_onnx(
    model: torch.nn.Module, path: str | os.PathLike[str], *, n_mels: int, frames: int = 345
) -> tuple[pathlib.Path, int]:
    """Write the model as ONNX with dynamic batch and time axes; returns ``(path, opset)``.

    The TorchScript exporter writes opset 17. Where a torch no longer has it, the torch.export-based
    exporter (it needs ``onnx`` and ``onnxscript``, both in the ``train`` extra) writes opset 18, the
    lowest it implements; its conversion down to 17 fails on this graph.
    """
    model = model.eval()
    mel = torch.full((2, n_mels, frames), -40.0)
    probe = torch.full((2, 3), 0.5)
    axes: dict[str, dict[int, str]] = {"mel": {0: "B", 2: "T"}, "probe": {0: "B"}}
    axes.update({n: {0: "B"} for n in OUTPUT_NAMES})
    p = pathlib.Path(path)
    tmp = p.with_name(f".tmp-{p.name}")
    common = {"input_names": list(INPUT_NAMES), "output_names": list(OUTPUT_NAMES)}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        try:
            torch.onnx.export(
                model, (mel, probe), str(tmp), opset_version=OPSET, dynamic_axes=axes, dynamo=False, **common
            )
            opset = OPSET
        except (TypeError, NotImplementedError, RuntimeError) as exc:
            log.warning(
                "TorchScript ONNX export unavailable (%s); using the torch.export-based exporter", exc
            )
            b, t = torch.export.Dim("B", min=1), torch.export.Dim("T", min=8)
            opset = 18
            torch.onnx.export(
                model,
                (mel, probe),
                str(tmp),
                opset_version=opset,
                dynamic_shapes={"mel": {0: b, 2: t}, "probe": {0: b}},
                dynamo=True,
                external_data=False,
                **common,
            )
    os.replace(tmp, p)
    return p, opset


def onnx_max_difference(
    model: torch.nn.Module, path: str | os.PathLike[str], *, n_mels: int, frames: int, seed: int = 0
) -> float | None:
    """The largest absolute difference between onnxruntime's and torch's outputs on a random batch.

    None when onnxruntime is not installed.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    g = torch.Generator().manual_seed(seed)
    mel = torch.rand((3, n_mels, frames), generator=g) * 86.0 - 80.0
    probe = torch.rand((3, 3), generator=g)
    with torch.no_grad():
        ref = model.eval()(mel, probe)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(list(OUTPUT_NAMES), {"mel": mel.numpy(), "probe": probe.numpy()})
    return max(float(np.max(np.abs(a - r.numpy()))) for a, r in zip(got, ref))


def json_safe(value: Any) -> Any:
    """JSON-safe metrics: non-finite floats become None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_model_card(
    out: str | os.PathLike[str],
    *,
    config: EstimatorConfig,
    layout: EstimatorLayout,
    log_mel: Mapping[str, Any],
    provenance: Mapping[str, Any],
    metrics: Mapping[str, Any],
    onnx: Mapping[str, Any],
    wavetables: Mapping[str, Any],
    command: str,
    parameters: int,
) -> dict[str, Any]:
    """Write ``model_card.json`` and ``model_card.md`` in ``out``; returns the card."""
    card = {
        "format": CARD_FORMAT,
        "format_version": CARD_FORMAT_VERSION,
        "config_name": config.name,
        "config": config.to_dict(),
        "spec_hash": layout.spec_hash,
        "layout_hash": layout.layout_hash,
        "layout": layout.to_dict(),
        "log_mel": dict(log_mel),
        "probe_convention": dict(PROBE_CONVENTION),
        "onnx": dict(onnx),
        "wavetables": dict(wavetables),
        "data": dict(provenance),
        "metrics": json_safe(dict(metrics)),
        "decode": _decoding(metrics),
        "parameters": int(parameters),
        "versions": versions(),
        "command": command,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    root = pathlib.Path(out)
    (root / CARD_JSON).write_text(json.dumps(card, indent=1))
    (root / CARD_MD).write_text(_markdown(card))
    return card


def _decoding(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """How :class:`~synthmatch.search.estimator.Estimator` decodes this model: the modulation
    presence threshold with the best connection F1 on the validation split (0.5 without one)."""
    from synthmatch.models.losses import best_mod_threshold

    best = best_mod_threshold(metrics.get("val") or {})
    if best is None:
        return {"mod_threshold": 0.5}
    return {"mod_threshold": best[0], "mod_f1_validation": round(best[1], 4)}


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _markdown(card: Mapping[str, Any]) -> str:
    lay = card["layout"]
    data = card["data"]
    val = card["metrics"].get("val", {})
    lines = [
        f"# synthmatch estimator `{card['config_name']}`",
        "",
        "Predicts a whole Vital preset from a log-mel spectrogram and the probe (note, velocity, note length).",
        "",
        "## Use",
        "",
        f"- `{card['onnx']['file']}` (ONNX opset {card['onnx']['opset']}): inputs `mel` float32 [B, "
        f"{card['log_mel']['n_mels']}, T] (log-mel dB, T ≥ {card['onnx']['min_frames']}) and `probe` float32 [B, 3] = "
        f"{card['probe_convention']['formula'].split('= ', 1)[-1]}.",
        f"- Decode with `synthmatch.models.decode.decode(outputs, layout, tables=...)`; the layout is in "
        f"`model_card.json`, the {card['wavetables']['tables']} wavetables in `{card['wavetables']['file']}`.",
        f"- Parameter space `{card['spec_hash']}`; layout `{card['layout_hash']}`; {card['parameters']:,} weights.",
        "",
        "## Heads",
        "",
        f"- {len(lay['continuous'])} continuous parameters (mixture of {card['config']['model']['mdn_components']} Gaussians)",
        f"- {len(lay['bools'])} switches, {len(lay['discrete'])} discrete and {len(lay['categorical'])} categorical parameters",
        f"- effect order over {len(lay['effects'])} effects (Plackett–Luce)",
        f"- modulation map {len(lay['mod_sources'])} sources × {len(lay['mod_destinations'])} destinations, "
        f"at most {lay['max_connections']} connections",
        f"- wavetables: {len(lay['wavetable_vocab'])} tables + other, per oscillator",
        f"- {len(lay['fixed'])} parameters with a fixed prior are set, not predicted",
        "",
        "## Data",
        "",
        f"- dataset `{data.get('dataset')}` ({data.get('items')} items, sampler `{data.get('sampler')}`, "
        f"seed {data.get('seed')}, probes `{data.get('probe_sampler')}`)",
        f"- split by item-index hash: {data.get('train_items')} train, {data.get('val_items')} validation "
        f"(fraction {data.get('val_fraction')}, salt {data.get('split_salt')})",
        *([f"- {data['note']}"] if data.get("note") else []),
        "",
        f"## Validation (epoch {card['metrics'].get('epoch', '?')}: the lowest validation loss)",
        "",
        f"Decoded with modulation presence threshold {card.get('decode', {}).get('mod_threshold')} "
        "(the best connection F1 on the validation split).",
        "",
        "| metric | value |",
        "| --- | --- |",
        *[f"| {k} | {_fmt(v)} |" for k, v in sorted(val.items())],
        "",
        "## Rebuild",
        "",
        "```bash",
        card["command"],
        "```",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()),
        "",
    ]
    return "\n".join(lines)
