"""Explain a preset: a step-by-step tutorial in Vital's own terms, and its machine-readable recipe.

Public API::

    recipe = tutorial_recipe(preset)                                 # measured: the idea, build it, fine details
    recipe = build_recipe(preset, audio=mono, sample_rate=44100)   # the steps, from Vital's init preset
    rebuilt = apply_recipe(recipe)                                   # follow them (from displayed values)
    paths = write_tutorial(preset, out_dir)                          # tutorial.md/.html, recipe.json, wavetables
    display_value("filter_1_cutoff", 100.0)                          # DisplayValue("2.6", "kHz") …
    parse_display("filter_1_cutoff", "2.6 kHz")                      # … and back
"""

from synthmatch._callable import make_callable
from synthmatch.explain.descriptors import SoundDescription, describe_audio
from synthmatch.explain.display import DisplayValue, display_text, display_value, parse_display, rounded_text
from synthmatch.explain.llm import check_grounding, providers, register_provider, rewrite_tutorial
from synthmatch.explain.recipe import Asset, Recipe, Step, apply_recipe, build_recipe
from synthmatch.explain.tutorial import render_markdown, tutorial_recipe, write_tutorial
from synthmatch.explain.variations import Variation, suggest_variations

__all__ = [
    "Asset",
    "DisplayValue",
    "Recipe",
    "SoundDescription",
    "Step",
    "Variation",
    "apply_recipe",
    "build_recipe",
    "check_grounding",
    "describe_audio",
    "display_text",
    "display_value",
    "parse_display",
    "providers",
    "register_provider",
    "render_markdown",
    "rewrite_tutorial",
    "rounded_text",
    "suggest_variations",
    "tutorial_recipe",
    "write_tutorial",
]


make_callable(__name__, "synthmatch.api:explain")  # synthmatch.explain(...) is synthmatch.api.explain(...)
