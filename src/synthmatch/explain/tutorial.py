"""The tutorial: a recipe rendered as Markdown, and the writer that `match` and the CLI call.

Each step is one line holding the control label as Vital shows it and its exact displayed
value, so the text can be checked against the recipe (see :mod:`synthmatch.explain.llm`).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
from typing import Any

import numpy as np

from synthmatch.explain import display as disp
from synthmatch.explain.ablation import group_of as group_key
from synthmatch.explain.recipe import PRECISION_NOTE, Recipe, Step, build_recipe
from synthmatch.explain.tiers import assign_tiers, build_groups, detail_sections
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import Probe
from synthmatch.vital.preset import Preset

_SECTION_HINTS: dict[str, str] = {
    "Modulation matrix": (
        "Make each connection in the **Matrix** tab (or drag the source onto the control), in this "
        "order: rows are numbered as you add them."
    ),
    "Effects chain": "In the **Effects** tab, drag the enabled effects into this order.",
    "Macros": "Set the macro knobs on the left of the main view.",
    "Global": "Global settings: the volume at the top right, voice settings in the **Advanced** tab.",
}


def _value_text(step: Step, *, knob: bool) -> str:
    if knob and step.knob:
        return f"**{disp.DisplayValue(step.knob, step.unit)}**"
    value = f"**{step.display}**"
    if step.approx and not knob:
        value += f" (≈ {step.approx})"
    return value


def action_text(step: Step, *, knob: bool = False) -> str:
    value = _value_text(step, knob=knob)
    if step.action == "load":
        if step.name == "sample_audio":
            return f"Load `{step.value}` into the **Sample** oscillator (drag the file onto it)"
        if step.name.endswith("_shape"):
            return f"Load `{step.value}` as **{step.label}** (drag the file onto the LFO's shape editor)"
        return f"Load `{step.value}` as **{step.label}** (drag the file onto the oscillator's wavetable)"
    if step.action == "connect":
        opts = [f"{k}: {v}" for k, v in step.options.items() if k != "Remap"]
        if "Remap" in step.options:
            opts.append(f"remap curve from `{step.options['Remap']}`")
        extra = f" ({', '.join(opts)})" if opts else ""
        row = step.name.rsplit("_", 1)[-1]
        return f"In matrix row {row}, connect **{step.label}**, amount {value}{extra}"
    return f"Set **{step.label}** to {value}"


def _step_line(step: Step, number: int | None = None) -> str:
    text = action_text(step)
    if step.why:
        text += f" — *{step.why}*"
    return f"{step.order if number is None else number}. {text}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:4] in ("Set ", "Load") else text


def _build_item(group: list[Step], number: int, impact: str) -> str:
    """One *Build it* step: a module panel's settings (or one matrix row) and why it matters."""
    first = group[0]
    if len(group) == 1:
        text = f"{number}. {action_text(first, knob=True)}"
        if first.why:
            text += f" — {first.why}"
    else:
        head = "Effects" if first.section == "Effects chain" else first.section
        text = f"{number}. **{head}**: " + "; ".join(_lower_first(action_text(s, knob=True)) for s in group)
    return text + (f" *{impact}*" if impact else "")


def _head(recipe: Recipe, notes: list[str] | None) -> list[str]:
    lines: list[str] = [f"# {recipe.title}: how to build it in Vital", ""]
    for note in [*(notes or []), *recipe.notes]:
        lines += [f"> {note}", ""]
    return lines


def _start_lines(recipe: Recipe) -> list[str]:
    lines = [
        "## Before you start",
        "",
        "Start from Vital's init preset: click the preset name at the top → **Initialize Preset**. "
        "Every setting not listed stays at its init value.",
        "",
    ]
    if recipe.assets:
        files = ", ".join(f"`{a.file}`" for a in recipe.assets.values())
        lines += [f"Files to load (next to this tutorial): {files}.", ""]
    return lines


def _variation_lines(recipe: Recipe) -> list[str]:
    if not recipe.variations:
        return []
    lines = ["## Variations to try", ""]
    lines += [f"{i}. {v.text}" for i, v in enumerate(recipe.variations, start=1)]
    return [*lines, ""]


def render_markdown(recipe: Recipe, *, notes: list[str] | None = None) -> str:
    """The template tutorial for ``recipe`` (Markdown): the three tiers when the recipe carries
    measurements (:func:`synthmatch.explain.tiers.assign_tiers`), else every step by module."""
    if not any(s.tier for s in recipe.steps):
        return _render_by_module(recipe, notes=notes)
    lines = _head(recipe, notes)
    idea = recipe.idea or {}
    lines += ["## The idea", ""]
    if idea.get("text"):
        lines += [str(idea["text"]), ""]
    if recipe.description is not None:
        lines += [recipe.description.text, ""]
        if recipe.description.tags:
            lines += [f"*Tags: {', '.join(recipe.description.tags)}*", ""]
    lines += _start_lines(recipe)
    groups = build_groups(recipe)
    build = [s for g in groups for s in g]
    m = recipe.measured or {}
    impacts = m.get("group_effects", {})
    lines += [f"## Build it ({len(groups)} steps)", ""]
    if build:
        lines += [
            "The steps that matter most, the most audible first; values as the knobs show them "
            "(double-click a knob to type one).",
            "",
        ]
        for i, g in enumerate(groups, start=1):
            lines.append(_build_item(g, i, impacts.get(group_key(g[0]), g[0].effect)))
        lines.append("")
        if m.get("build_db") is not None:
            lines += [
                f"These {len(groups)} steps alone land {m['build_db']:.1f} dB (MSS-mel) from the full "
                "preset; the fine details below close the rest.",
                "",
            ]
    else:
        lines += ["Nothing to build: every step has no audible effect at the probe note.", ""]
    rounded = [s for s in build if s.knob]
    details = recipe.tier("detail")
    if rounded or details:
        lines += ["## Fine details", "", PRECISION_NOTE, ""]
    if rounded:
        lines += ["### Exact values for the steps above", ""]
        lines += [f"- **{s.label}**: {_value_text(s, knob=False)}" for s in rounded]
        lines.append("")
    number = len(groups)
    for section, steps in detail_sections(recipe):
        lines += [f"### {section}", ""]
        if section in _SECTION_HINTS:
            lines += [_SECTION_HINTS[section], ""]
        for s in steps:
            number += 1
            line = _step_line(s, number)
            lines.append(line + (f" *{s.effect}*" if s.effect else ""))
        lines.append("")
    silent = recipe.tier("silent")
    if silent:
        lines += [
            "## No audible effect",
            "",
            "These settings change nothing you can hear at the probe note; set them only for an exact copy.",
            "",
        ]
        for s in silent:
            number += 1
            lines.append(f"{number}. {action_text(s)}")
        lines.append("")
    return "\n".join(lines + _variation_lines(recipe))


def _render_by_module(recipe: Recipe, *, notes: list[str] | None = None) -> str:
    lines = _head(recipe, notes)
    if recipe.description is not None:
        lines += ["## The sound", "", recipe.description.text, ""]
        if recipe.description.tags:
            lines += [f"*Tags: {', '.join(recipe.description.tags)}*", ""]
    lines += [*_start_lines(recipe), PRECISION_NOTE, ""]
    for section in recipe.sections:
        lines += [f"## {section}", ""]
        if section in _SECTION_HINTS:
            lines += [_SECTION_HINTS[section], ""]
        lines += [_step_line(s) for s in recipe.steps_in(section)]
        lines.append("")
    return "\n".join(lines + _variation_lines(recipe))


def _write_text(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def tutorial_recipe(
    preset: Preset,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 44100,
    note_seconds: float | None = None,
    measure: bool = True,
    probe: Probe | None = None,
    pool: RenderPool | None = None,
) -> Recipe:
    """The recipe with everything the tutorial shows: the steps, the description of the sound,
    and (``measure=True``) the ablation renders' tiers and the idea.

    Parameters
    ----------
    preset : Preset
        The sound to explain.
    audio : np.ndarray [shape=(n,) or (2, n)], optional
        A render of the preset at ``sample_rate`` (rendered with ``probe`` when measuring and
        not given); adds a description of the sound.
    note_seconds : float, optional
        When the note was released in ``audio`` (default: the probe's).
    measure : bool
        Render the preset without each step to rank the steps and split them into tiers
        (:mod:`synthmatch.explain.ablation`; about 30–100 renders, cached per preset).
    probe : Probe, optional
        How to play the preset for the measurements (default: :class:`synthmatch.render.Probe`).
    pool : RenderPool, optional
        Render on this pool (default: the process-wide one).
    """
    from synthmatch.explain.idea import the_idea

    probe = probe or Probe()
    outcome = None
    if measure and audio is None:
        from synthmatch.render.pool import shared_pool

        outcome = (pool or shared_pool()).submit(preset, probe).result()
        if outcome.ok:
            audio, sample_rate, note_seconds = outcome.audio, probe.sample_rate, probe.note_seconds
    if audio is not None and note_seconds is None and measure:
        note_seconds = probe.note_seconds
    recipe = build_recipe(preset, audio=audio, sample_rate=sample_rate, note_seconds=note_seconds)
    impacts = None
    if measure and recipe.steps:
        from synthmatch.explain.ablation import ablate

        ablation = ablate(preset, recipe, probe=probe, pool=pool, full=outcome)
        assign_tiers(recipe, ablation, preset=preset)
        impacts = {k: imp.db for k, imp in ablation.impacts.items() if math.isfinite(imp.db)}
    recipe.idea = the_idea(preset, description=recipe.description, impacts=impacts).to_dict()
    return recipe


def write_tutorial(
    preset: Preset,
    out_dir: str | os.PathLike[str],
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 44100,
    note_seconds: float | None = None,
    llm: str | None = None,
    llm_timeout_s: float = 120.0,
    measure: bool = True,
    probe: Probe | None = None,
    pool: RenderPool | None = None,
    recipe: Recipe | None = None,
) -> dict[str, pathlib.Path]:
    """Write ``tutorial.md``, ``tutorial.html`` (with figures), ``recipe.json`` and the files the
    steps load into ``out_dir``.

    Parameters
    ----------
    preset : Preset
        The sound to explain.
    out_dir : path
        Folder for the outputs (created).
    audio : np.ndarray [shape=(n,) or (2, n)], optional
        A render of the preset at ``sample_rate``; adds a description of the sound.
    note_seconds : float, optional
        When the note was released in ``audio``.
    llm : {"anthropic", "openai", "ollama"} or a registered provider, optional
        Rewrite the prose with this provider, checked against the recipe; on any failure the
        template tutorial is written with a warning.
    measure, probe, pool
        As in :func:`tutorial_recipe`.
    recipe : Recipe, optional
        The recipe from :func:`tutorial_recipe`, when the caller has it already.

    Returns
    -------
    dict
        ``"tutorial"``, ``"html"``, ``"recipe"`` and one entry per asset file name → path.
    """
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if recipe is None:
        recipe = tutorial_recipe(
            preset,
            audio=audio,
            sample_rate=sample_rate,
            note_seconds=note_seconds,
            measure=measure,
            probe=probe,
            pool=pool,
        )
    paths: dict[str, pathlib.Path] = {}
    for key, path in recipe.write_assets(out).items():
        paths[key] = path
    template = render_markdown(recipe)
    text = template
    if llm:
        from synthmatch.explain.llm import rewrite_tutorial

        result = rewrite_tutorial(recipe, template, provider=llm, timeout_s=llm_timeout_s)
        text = result.text
        recipe.notes.append(result.note)
    recipe_doc: dict[str, Any] = recipe.to_dict()
    paths["recipe"] = out / "recipe.json"
    _write_text(paths["recipe"], json.dumps(recipe_doc, indent=1, ensure_ascii=False))
    paths["tutorial"] = out / "tutorial.md"
    _write_text(paths["tutorial"], text)
    from synthmatch.explain.figures import figures_for
    from synthmatch.explain.tutorial_html import tutorial_page

    note = (probe or Probe()).note_seconds if note_seconds is None else note_seconds
    paths["html"] = out / "tutorial.html"
    _write_text(paths["html"], tutorial_page(recipe, figures_for(preset, note_seconds=note)))
    return paths
