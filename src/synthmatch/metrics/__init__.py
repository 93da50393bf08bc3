"""Metrics: the benchmark's audio distances, each defined exactly in its docstring.

All functions take ``(target, estimate, sample_rate=44100)`` mono arrays; see
:mod:`synthmatch.metrics.audio` for the conventions (44.1 kHz scoring, zero-padding, epsilons).
The public names are those of :mod:`synthmatch.metrics.audio` (its ``__all__``).
"""

from __future__ import annotations

from synthmatch.metrics import audio
from synthmatch.metrics.audio import *  # noqa: F403

__all__: list[str] = []
__all__ += audio.__all__
