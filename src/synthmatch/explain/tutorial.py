"""The tutorial: a recipe rendered as Markdown, and the writer that `match` and the CLI call.

Each step is one line holding the control label as Vital shows it and its exact displayed
value, so the text can be checked against the recipe (see :mod:`synthmatch.explain.llm`).
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import numpy as np

from synthmatch.explain.recipe import PRECISION_NOTE, Recipe, Step, build_recipe
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


def _step_line(step: Step) -> str:
    value = f"**{step.display}**"
    if step.approx:
        value += f" (≈ {step.approx})"
    if step.action == "load":
        if step.name == "sample_audio":
            text = f"Load `{step.value}` into the **Sample** oscillator (drag the file onto it)"
        elif step.name.endswith("_shape"):
            text = f"Load `{step.value}` as **{step.label}** (drag the file onto the LFO's shape editor)"
        else:
            text = f"Load `{step.value}` as **{step.label}** (drag the file onto the oscillator's wavetable)"
    elif step.action == "connect":
        opts = [f"{k}: {v}" for k, v in step.options.items() if k != "Remap"]
        if "Remap" in step.options:
            opts.append(f"remap curve from `{step.options['Remap']}`")
        extra = f" ({', '.join(opts)})" if opts else ""
        text = f"Connect **{step.label}**, amount {value}{extra}"
    elif step.action == "order":
        text = f"Set **{step.label}** to {value}"
    else:
        text = f"Set **{step.label}** to {value}"
    if step.why:
        text += f" — *{step.why}*"
    return f"{step.order}. {text}"


def render_markdown(recipe: Recipe, *, notes: list[str] | None = None) -> str:
    """The template tutorial for ``recipe`` (Markdown)."""
    lines: list[str] = [f"# {recipe.title}: how to build it in Vital", ""]
    for note in [*(notes or []), *recipe.notes]:
        lines += [f"> {note}", ""]
    if recipe.description is not None:
        lines += ["## The sound", "", recipe.description.text, ""]
        if recipe.description.tags:
            lines += [f"*Tags: {', '.join(recipe.description.tags)}*", ""]
    lines += [
        "## Before you start",
        "",
        "Start from Vital's init preset: click the preset name at the top → **Initialize Preset**. "
        "Then follow the steps below; every setting not listed stays at its init value.",
        "",
        PRECISION_NOTE,
        "",
    ]
    if recipe.assets:
        files = ", ".join(f"`{a.file}`" for a in recipe.assets.values())
        lines += [f"Files to load (next to this tutorial): {files}.", ""]
    for section in recipe.sections:
        lines += [f"## {section}", ""]
        if section in _SECTION_HINTS:
            lines += [_SECTION_HINTS[section], ""]
        lines += [_step_line(s) for s in recipe.steps_in(section)]
        lines.append("")
    if recipe.variations:
        lines += ["## Variations to try", ""]
        lines += [f"{i}. {v.text}" for i, v in enumerate(recipe.variations, start=1)]
        lines.append("")
    return "\n".join(lines)


def _write_text(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_tutorial(
    preset: Preset,
    out_dir: str | os.PathLike[str],
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 44100,
    note_seconds: float | None = None,
    llm: str | None = None,
    llm_timeout_s: float = 120.0,
) -> dict[str, pathlib.Path]:
    """Write ``tutorial.md``, ``recipe.json`` and the files the steps load into ``out_dir``.

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

    Returns
    -------
    dict
        ``"tutorial"``, ``"recipe"`` and one entry per asset file name → path.
    """
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recipe = build_recipe(preset, audio=audio, sample_rate=sample_rate, note_seconds=note_seconds)
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
    return paths
