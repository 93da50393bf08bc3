"""synthmatch: turn a sound into a Vital preset that reproduces it, and explain how it is built.

The public API::

    import synthmatch

    result = synthmatch.match("bass.wav", synthmatch.MatchConfig(budget=128))
    result.best.preset.write("bass.vital")                # a Preset; result.best.audio is its render
    audio = synthmatch.render(result.best.preset, result.probe)   # [2, n] float32, deterministic
    recipe = synthmatch.explain(result.best.preset)       # the steps that rebuild it in Vital

The names load on first use, so ``import synthmatch`` stays light for the render workers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from synthmatch.api import explain, match, render
    from synthmatch.render.probe import Probe
    from synthmatch.search.config import MatchConfig
    from synthmatch.search.match import MatchResult
    from synthmatch.search.stages import Candidate
    from synthmatch.vital.preset import Preset

#: Names loaded on first use. ``render`` and ``explain`` are also subpackages: they are made
#: callable as :func:`synthmatch.api.render` and :func:`synthmatch.api.explain` (:mod:`synthmatch._callable`).
_LAZY = {
    "match": "synthmatch.api",
    "render": "synthmatch.render",
    "explain": "synthmatch.explain",
    "MatchConfig": "synthmatch.search.config",
    "MatchResult": "synthmatch.search.match",
    "Candidate": "synthmatch.search.stages",
    "Preset": "synthmatch.vital.preset",
    "Probe": "synthmatch.render.probe",
}

__all__ = [
    "Candidate",
    "MatchConfig",
    "MatchResult",
    "Preset",
    "Probe",
    "__version__",
    "explain",
    "match",
    "render",
]


def __getattr__(name: str) -> Any:
    if name in ("render", "explain"):
        return importlib.import_module(_LAZY[name])  # binds the (callable) subpackage here
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'synthmatch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
