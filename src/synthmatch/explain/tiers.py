"""The tutorial's three tiers, from a recipe and its ablation measurements.

1. **The idea** — what the sound is and how it is built, in a few sentences
   (:func:`synthmatch.explain.idea.the_idea`), from the preset, its description and the
   measured impacts.
2. **Build it** — the essential steps (:func:`synthmatch.explain.ablation.select_build`), most
   audible first, each after what it needs, with values as Vital's knobs show them and the
   measured reason ("Without it the sound is 3.1 dB further from the full preset: duller").
   A step is one module panel (an oscillator, a filter, an envelope, an effect: the audible
   controls you set there) or one matrix row.
3. **Fine details** — the other audible steps by module panel, the most audible first, with exact
   values, and the exact values of *Build it* steps whose knob reading is rounded.

Steps nobody can hear are listed last as "no audible effect". Following the three tiers and
that list, in that order, rebuilds the preset exactly (:func:`tier_order`,
:func:`synthmatch.explain.apply_recipe`).
"""

from __future__ import annotations

import math
from typing import Any

from synthmatch.explain import display as disp
from synthmatch.explain.ablation import Ablation, needs_of
from synthmatch.explain.recipe_format import Recipe, Step
from synthmatch.vital.preset import Preset

__all__ = [
    "TIERS",
    "assign_tiers",
    "build_groups",
    "build_steps",
    "detail_sections",
    "knob_text",
    "summary",
    "tier_order",
]

#: Tier names in the order the tutorial gives them.
TIERS = ("build", "detail", "silent")


def knob_text(step: Step, context: dict[str, float] | None = None) -> str:
    """The step's value as the knob shows it ("" when that is the exact value already)."""
    if step.action == "set":
        shown = disp.knob_value(step.name, float(step.internal_value or 0.0), context=context)
    elif step.action == "connect":
        shown = disp.knob_value("modulation_1_amount", float(step.internal_value or 0.0))
    else:
        return ""
    return "" if shown.text == step.value else shown.text


def assign_tiers(recipe: Recipe, ablation: Ablation, *, preset: Preset | None = None) -> Recipe:
    """Fill in each step's tier, knob reading, impact and measured reason (in place; returned).

    A step is *silent* when its revert is inaudible and no audible step needs it; *build* when
    the ablation chose it; *detail* otherwise."""
    context = preset.values if preset is not None else None
    build = [k for group in ablation.build for k in group]
    needs = needs_of(recipe)
    audible = {k for k, imp in ablation.impacts.items() if imp.audible} | set(build)
    needed = {n for k in audible for n in needs.get(k, ())}
    for s in recipe.steps:
        imp = ablation.impacts.get(s.name)
        if imp is not None:
            s.impact_db = imp.db if math.isfinite(imp.db) else None
            s.effect = imp.reason() if imp.audible else ""
        s.knob = knob_text(s, context)
        if s.name in build:
            s.tier = "build"
        elif s.name in audible or s.name in needed:
            s.tier = "detail"
        else:
            s.tier = "silent"
    recipe.measured = {
        "build_steps": len(ablation.build),
        "build_controls": len(build),
        "build_order": [list(g) for g in ablation.build],
        "build_db": ablation.build_db,
        "tried": {str(k): v for k, v in sorted(ablation.tried.items())},
        "renders": ablation.renders,
        "seconds": ablation.seconds,
        "probe": ablation.probe,
        "group_effects": {g: imp.reason() for g, imp in ablation.groups.items() if imp.audible},
        "group_db": {g: imp.db for g, imp in ablation.groups.items() if math.isfinite(imp.db)},
    }
    return recipe


def build_groups(recipe: Recipe) -> list[list[Step]]:
    """The *Build it* steps as the tutorial numbers them: one module panel (or one matrix row)
    each, most audible first, each after the panels it needs."""
    by_name = {s.name: s for s in recipe.steps if s.tier == "build"}
    groups = [[by_name[k] for k in g if k in by_name] for g in (recipe.measured or {}).get("build_order", [])]
    groups = [g for g in groups if g]
    seen = {s.name for g in groups for s in g}
    groups += [[s] for s in recipe.steps if s.tier == "build" and s.name not in seen]
    return groups


def build_steps(recipe: Recipe) -> list[Step]:
    """The *Build it* steps one by one, in the order to follow them."""
    return [s for g in build_groups(recipe) for s in g]


def detail_sections(recipe: Recipe) -> list[tuple[str, list[Step]]]:
    """The *Fine details* by module panel, the most audible panel first; inside one, a switch, a
    file or a filter model first (other labels depend on them), then the most audible steps.
    Matrix rows keep their row order."""
    by_section: dict[str, list[Step]] = {}
    for s in recipe.tier("detail"):
        by_section.setdefault(s.section, []).append(s)

    def loudest(steps: list[Step]) -> float:
        return max((s.impact_db or 0.0) for s in steps)

    def key(s: Step) -> tuple[int, float, int]:
        first = s.action == "load" or s.name.endswith(("_on", "_model"))
        return (0 if first else 1, -(s.impact_db or 0.0), s.order)

    out = []
    for section, steps in sorted(by_section.items(), key=lambda kv: -loudest(kv[1])):
        ordered = steps if section == "Modulation matrix" else sorted(steps, key=key)
        out.append((section, ordered))
    return out


def tier_order(recipe: Recipe) -> list[Step]:
    """Every step in the order the tutorial gives them: *Build it*, *Fine details*, silent."""
    if not any(s.tier for s in recipe.steps):
        return list(recipe.steps)
    details = [s for _, steps in detail_sections(recipe) for s in steps]
    return build_steps(recipe) + details + recipe.tier("silent")


def summary(recipe: Recipe) -> dict[str, Any]:
    """Counts per tier and the *Build it* distance, for reports and the benchmark."""
    m = recipe.measured or {}
    return {
        "steps": len(recipe.steps),
        **{t: len(recipe.tier(t)) for t in TIERS},
        "build_db": m.get("build_db"),
        "build_steps": len(build_groups(recipe)),
    }
