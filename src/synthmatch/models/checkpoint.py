"""Estimator checkpoints: the weights with everything needed to trust and rebuild them (torch).

A checkpoint is a ``torch.save`` of a plain dict (loadable with ``weights_only=True``)::

    {"format": "synthmatch-estimator-checkpoint", "format_version": 1,
     "config": EstimatorConfig.to_dict(), "state_dict": ..., "spec_hash": ..., "layout": ...,
     "log_mel": LogMelConfig dict, "probe_convention": ..., "provenance": {dataset, split, ...},
     "versions": {synthmatch, vita, torch, numpy, python}, "progress": {epoch, batch, step, ...},
     "optimizer": ..., "scheduler": ..., "rng": ...}

:func:`load_checkpoint` refuses a checkpoint made for another parameter space
(:class:`~synthmatch.errors.SpecMismatchError`, naming both hashes and the fix).
"""

from __future__ import annotations

import os
import pathlib
import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import torch

from synthmatch.errors import SpecMismatchError, SynthmatchError
from synthmatch.models.builders import build_model
from synthmatch.models.configs import EstimatorConfig
from synthmatch.models.layout import PROBE_CONVENTION, EstimatorLayout
from synthmatch.models.network import Estimator
from synthmatch.vital.spec import ParamSpace, default_space

FORMAT = "synthmatch-estimator-checkpoint"
FORMAT_VERSION = 1


def versions() -> dict[str, str]:
    """Versions of the packages a model depends on (missing ones are left out)."""
    out = {"python": platform.python_version()}
    for pkg in ("synthmatch", "vita", "torch", "numpy", "onnx", "onnxruntime"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: torch.nn.Module,
    config: EstimatorConfig,
    layout: EstimatorLayout,
    log_mel: Mapping[str, Any],
    provenance: Mapping[str, Any],
    progress: Mapping[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> pathlib.Path:
    """Write a checkpoint atomically (temp file + rename): a killed run never leaves half a file."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "state_dict": model.state_dict(),
        "spec_hash": layout.spec_hash,
        "layout": layout.to_dict(),
        "log_mel": dict(log_mel),
        "probe_convention": dict(PROBE_CONVENTION),
        "provenance": dict(provenance),
        "versions": versions(),
        "progress": dict(progress or {}),
        "rng": {"torch": torch.get_rng_state()},
    }
    if optimizer is not None:
        doc["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        doc["scheduler"] = scheduler.state_dict()
    doc.update(extra or {})
    p = pathlib.Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".tmp-{p.name}")
    torch.save(doc, tmp)
    os.replace(tmp, p)
    return p


def load_checkpoint(path: str | os.PathLike[str], *, space: ParamSpace | None = None) -> dict[str, Any]:
    """Read a checkpoint (on the CPU) and check it against this synthmatch's parameter space."""
    p = pathlib.Path(path)
    if not p.exists():
        raise SynthmatchError(
            f"checkpoint {p} does not exist. Hint: train one with `synthmatch train estimator`."
        )
    doc = torch.load(p, map_location="cpu", weights_only=True)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SynthmatchError(f"{p} is not a synthmatch estimator checkpoint (format {FORMAT!r} expected)")
    if int(doc.get("format_version", 0)) > FORMAT_VERSION:
        raise SynthmatchError(
            f"{p} has checkpoint format {doc['format_version']}; this synthmatch reads up to {FORMAT_VERSION}. "
            "Hint: upgrade synthmatch."
        )
    space = space or default_space()
    if doc.get("spec_hash") != space.spec_hash:
        raise SpecMismatchError(
            f"checkpoint {p} was trained for parameter space {doc.get('spec_hash')}, but this synthmatch declares "
            f"{space.spec_hash}: its heads would predict the wrong parameters. Hint: retrain with "
            "`synthmatch train estimator`, or load it with the synthmatch version that trained it "
            f"(versions: {doc.get('versions', {})})."
        )
    return doc


def model_from_checkpoint(doc: Mapping[str, Any]) -> tuple[Estimator, EstimatorConfig, EstimatorLayout]:
    """The network (eval mode, weights loaded), its config and its layout from a loaded checkpoint."""
    config = EstimatorConfig.from_dict(doc["config"])
    layout = EstimatorLayout.from_dict(doc["layout"])
    model = build_model(config, layout, n_mels=int(doc["log_mel"]["n_mels"]))
    model.load_state_dict(doc["state_dict"])
    model.eval()
    return model, config, layout
