"""The public API at the package root: :func:`match`, :func:`render`, :func:`explain`.

Everything here is a thin, typed front to the layer that owns the concern (``search``,
``render``, ``explain``); :mod:`synthmatch` re-exports it with :class:`Preset`, :class:`Probe`
and :class:`MatchConfig`.
"""

from __future__ import annotations

import os
import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

from synthmatch.errors import PresetError, RenderCrashError, RenderError, RenderTimeoutError
from synthmatch.render.probe import DEFAULT_PROBE, Probe
from synthmatch.search.match import match
from synthmatch.vital.preset import Preset

if TYPE_CHECKING:
    from synthmatch.explain.recipe import Recipe

__all__ = ["explain", "match", "render"]

PresetLike = Preset | str | os.PathLike[str]


def _preset(preset: PresetLike) -> Preset:
    if isinstance(preset, Preset):
        return preset
    if isinstance(preset, (str, os.PathLike)):
        return Preset.from_file(pathlib.Path(preset))
    raise PresetError(
        f"expected a Preset or the path of a .vital file, got a {type(preset).__name__}. "
        "Hint: load presets with synthmatch.Preset.from_file(path)."
    )


def render(preset: PresetLike, probe: Probe = DEFAULT_PROBE, *, timeout_s: float = 60.0) -> np.ndarray:
    """Render a preset deterministically: the same preset and probe give the same samples.

    Parameters
    ----------
    preset : Preset or path
        A preset, or the path of a ``.vital`` file.
    probe : Probe
        The note, velocity, note length, render length and sample rate.
    timeout_s : float
        Give up on a render that takes longer (the engine runs in an isolated process).

    Returns
    -------
    np.ndarray [shape=(2, probe.n_samples)]
        Stereo float32 samples at ``probe.sample_rate``.

    Raises
    ------
    RenderError
        The engine crashed, hung or could not load the preset (the message says which).
    """
    from synthmatch.render.pool import render as render_outcome

    out = render_outcome(_preset(preset), probe, timeout_s=timeout_s)
    if out.ok:
        return out.audio
    error = {"crash": RenderCrashError, "timeout": RenderTimeoutError}.get(out.status, RenderError)
    raise error(f"the render {out.status}: {out.reason}. Hint: check the preset with `synthmatch render`.")


def explain(
    preset: PresetLike,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 44100,
    measure: bool = True,
    **options: Any,
) -> Recipe:
    """The steps that rebuild a preset from Vital's init preset, in Vital's own units, in three
    tiers (the idea, build it, fine details).

    ``measure`` renders the preset without each step to rank the steps and split them into
    tiers (about 30–100 renders, cached per preset); ``audio`` (a render of the preset, mono or
    ``[2, n]``) adds a description of the sound; ``options`` go to
    :func:`synthmatch.explain.tutorial_recipe` (``probe``, ``pool``, ``note_seconds``). Write the
    tutorial files with :func:`synthmatch.explain.write_tutorial`."""
    from synthmatch.explain import tutorial_recipe

    return tutorial_recipe(_preset(preset), audio=audio, sample_rate=sample_rate, measure=measure, **options)
