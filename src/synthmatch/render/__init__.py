"""Rendering: the probe, the deterministic recipe, and worker pools."""

from synthmatch._callable import make_callable
from synthmatch.render.engine import RenderOutcome, audio_problem, render_isolated
from synthmatch.render.pool import RenderPool, render
from synthmatch.render.probe import DEFAULT_PROBE, Probe

__all__ = [
    "DEFAULT_PROBE",
    "Probe",
    "RenderOutcome",
    "RenderPool",
    "audio_problem",
    "render",
    "render_isolated",
]


make_callable(__name__, "synthmatch.api:render")  # synthmatch.render(...) is synthmatch.api.render(...)
