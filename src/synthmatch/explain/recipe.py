"""The recipe: the steps that rebuild a preset from Vital's init preset, in Vital's own terms.

:func:`build_recipe` lists every setting that matters for the sound (see
:mod:`synthmatch.explain.activity`) and whose displayed value differs from the init preset's,
grouped in sections in the order of Vital's interface:

    Oscillator 1–3 (with wavetables) → Sample → Filter 1–2 → Envelope 1–6 → LFO 1–8 (with
    shapes) → Random LFO 1–4 → Macros → Modulation matrix → Effects chain (order) → each
    enabled effect in chain order → Global

Within a section a module's switch comes first, then files to load and the filter model (other
labels depend on it), then the rest from the most to the least audible (perceptual weight of
the parameter × normalised distance from the init value). Modulations are steps
"source → destination, amount", numbered in the order they are made, so slot numbers in
"Modulation N Amount" destinations refer to the recipe's own matrix rows.

:func:`apply_recipe` follows the steps from the init preset, reading each value back from its
displayed text (:func:`synthmatch.explain.display.parse_display`). Displayed numbers carry
as few significant digits (at least 3) as give back the stored 32-bit value exactly.

The data model (:class:`Step`, :class:`Asset`, :class:`Recipe`) and its JSON format are in
:mod:`synthmatch.explain.recipe_format`; they are importable from here too.
"""

import copy
import hashlib
import json
import os
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from synthmatch.errors import PresetError
from synthmatch.explain import display as disp
from synthmatch.explain.activity import effective_active, sounding_modulations
from synthmatch.explain.descriptors import describe_audio
from synthmatch.explain.knowledge import explain_modulation, explain_setting
from synthmatch.explain.recipe_format import (
    PRECISION_NOTE,
    RECIPE_FORMAT,
    RECIPE_VERSION,
    Asset,
    Recipe,
    Step,
    read_sample_wav,
    write_sample_wav,
)
from synthmatch.explain.variations import suggest_variations
from synthmatch.vital import tables
from synthmatch.vital.effects import EFFECT_LABELS, EFFECTS, order_names
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import ParamSpace, default_space
from synthmatch.vital.wavetables import read_vitaltable, table_fingerprint

__all__ = [
    "IMPORTANT_AUDIBILITY",
    "PRECISION_NOTE",
    "RECIPE_FORMAT",
    "RECIPE_VERSION",
    "SOURCE_LABELS",
    "Asset",
    "Recipe",
    "Step",
    "apply_recipe",
    "build_recipe",
    "read_sample_wav",
    "section_of",
    "write_sample_wav",
]

#: Interface labels of the modulation sources.
SOURCE_LABELS: dict[str, str] = {
    **{f"env_{k}": f"Envelope {k}" for k in range(1, 7)},
    **{f"lfo_{k}": f"LFO {k}" for k in range(1, 9)},
    **{f"random_{k}": f"Random LFO {k}" for k in range(1, 5)},
    **{f"macro_control_{k}": f"Macro {k}" for k in range(1, 5)},
    "random": "Note Random",
    "note": "Note",
    "note_in_octave": "Note In Octave",
    "velocity": "Velocity",
    "aftertouch": "Aftertouch",
    "lift": "Lift",
    "slide": "Slide",
    "stereo": "Stereo",
    "mod_wheel": "Mod Wheel",
    "pitch_wheel": "Pitch Wheel",
}

#: Steps at least this audible (weight × normalised change) always get a "why".
IMPORTANT_AUDIBILITY = 0.5

_MOD_DEST = re.compile(r"modulation_(\d+)_(amount|power|bipolar|stereo|bypass)")
_EFFECT_SECTION = {fx: ("Filter FX" if fx == "filter_fx" else EFFECT_LABELS[fx]) for fx in EFFECTS}


def _section_order() -> list[str]:
    out = [f"Oscillator {k}" for k in (1, 2, 3)] + ["Sample", "Filter 1", "Filter 2"]
    out += [f"Envelope {k}" for k in range(1, 7)] + [f"LFO {k}" for k in range(1, 9)]
    out += [f"Random LFO {k}" for k in range(1, 5)] + ["Macros", "Modulation matrix", "Effects chain"]
    return out


def section_of(name: str) -> str:
    """The tutorial section (Vital interface area) of an internal control name."""
    m = re.match(r"(osc|filter|env|lfo|random|macro_control)_(\d|fx)_", name + "_")
    if name in ("mod_wheel", "pitch_wheel") or name.startswith("macro_control_"):
        return "Macros"
    if name == "effect_chain_order":
        return "Effects chain"
    if name.startswith("sample_"):
        return "Sample"
    if m and m.group(2) != "fx":
        kind, k = m.groups()
        return {
            "osc": f"Oscillator {k}",
            "filter": f"Filter {k}",
            "env": f"Envelope {k}",
            "lfo": f"LFO {k}",
            "random": f"Random LFO {k}",
        }[kind]
    for fx in EFFECTS:
        if name.startswith(fx + "_"):
            return _EFFECT_SECTION[fx]
    return "Global"


def _fingerprint(data: Any) -> str:
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _same_shape(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("num_points", "points", "powers", "smooth")
    return all(a.get(k) == b.get(k) for k in keys)


def _sample_core(sample: Mapping[str, Any]) -> tuple[Any, ...]:
    return (sample.get("samples"), sample.get("samples_stereo"), sample.get("sample_rate"))


# ---------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------
def _audibility(space: ParamSpace, name: str, value: float, init: float) -> float:
    spec = space[name]
    if spec.kind in ("categorical", "bool"):
        return spec.weight
    if spec.span == 0:
        return 0.0
    return spec.weight * abs(spec.to_normalized(value) - spec.to_normalized(init))


def _priority(step: Step) -> int:
    if step.action == "set" and step.name.endswith("_on"):
        return 0
    if step.action == "load" or step.name.endswith("_model"):
        return 1
    return 2


def _depth_text(destination: str, amount: float) -> str:
    info = tables.controls()[destination]
    span = (info.max - info.min) * abs(amount)
    if disp.base_unit(destination) in ("Hz", "semitones") or destination.endswith("_cutoff"):
        return f"up to {disp.format_number(span, 3)} semitones"
    return f"up to {disp.format_number(100 * abs(amount), 3)}% of its range"


def _significant_digits(text: str) -> int:
    digits = text.lstrip("-+").replace(".", "").lstrip("0")
    return sum(ch.isdigit() for ch in digits)


def _approx(name: str, v: float, shown: disp.DisplayValue, values: Mapping[str, float]) -> str:
    """A rounded reading of a long displayed number ("" when the number is short already)."""
    if _significant_digits(shown.text) <= 4 or not any(ch.isdigit() for ch in shown.text):
        return ""
    rounded = disp.rounded_text(name, v, context=values)
    return "" if rounded == str(shown) else rounded


def _label(name: str) -> str:
    return tables.controls()[name].display_name


def build_recipe(
    preset: Preset,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 44100,
    note_seconds: float | None = None,
    variations: bool = True,
    space: ParamSpace | None = None,
) -> Recipe:
    """The steps that rebuild ``preset`` from Vital's init preset (see the module docstring).

    Parameters
    ----------
    preset : Preset
        The sound to explain.
    audio : np.ndarray [shape=(n,) or (2, n)], optional
        A render of the preset; when given, the recipe carries a description of the sound.
    sample_rate : int
        Sample rate of ``audio`` in Hz.
    note_seconds : float, optional
        When the note was released in ``audio`` (for the release time).
    variations : bool
        Add three variation ideas.
    """
    space = space or default_space()
    init = Preset.init(space=space)
    values = preset.values
    active = effective_active(preset, space=space)
    steps: list[Step] = []
    assets: dict[str, Asset] = {}

    # --- plain settings -------------------------------------------------------------
    for name in space.control_names():
        if not active.get(name) or name == "effect_chain_order":
            continue
        v, v0 = values[name], init.values[name]
        shown = disp.display_value(name, v, context=values)
        if shown == disp.display_value(name, v0, context=values):
            continue
        steps.append(
            Step(
                order=0,
                section=section_of(name),
                action="set",
                name=name,
                label=_label(name),
                value=shown.text,
                unit=shown.unit,
                internal_value=float(v),
                audibility=_audibility(space, name, v, v0),
                approx=_approx(name, v, shown, values),
            )
        )

    # --- wavetables, LFO shapes, sample ------------------------------------------------
    for k in (1, 2, 3):
        if values[f"osc_{k}_on"] < 0.5:
            continue
        table = preset.wavetables[k - 1]
        if table_fingerprint(table) == table_fingerprint(init.wavetables[k - 1]):
            continue
        file = f"wavetable_osc{k}.vitaltable"
        assets[file] = Asset(
            file, "wavetable", f"osc_{k}", str(table.get("name", "")), table_fingerprint(table), table
        )
        steps.append(
            Step(
                0,
                f"Oscillator {k}",
                "load",
                f"osc_{k}_wavetable",
                f"Oscillator {k} Wavetable",
                file,
                audibility=3.0,
                asset=file,
            )
        )
    flags = sounding_modulations(preset.modulations)
    used = {m.source for m, on in zip(preset.modulations, flags) if on}
    for k in range(1, 9):
        shape = preset.lfo_shapes[k - 1]
        if f"lfo_{k}" not in used or _same_shape(shape, init.lfo_shapes[k - 1]):
            continue
        file = f"lfo_{k}_shape.vitallfo"
        assets[file] = Asset(
            file, "lfo_shape", f"lfo_{k}", str(shape.get("name", "")), _fingerprint(shape), shape
        )
        steps.append(
            Step(0, f"LFO {k}", "load", f"lfo_{k}_shape", f"LFO {k} Shape", file, audibility=2.0, asset=file)
        )
    if values["sample_on"] >= 0.5 and _sample_core(preset.sample) != _sample_core(init.sample):
        file = "sample.wav"
        assets[file] = Asset(
            file,
            "sample",
            "sample",
            str(preset.sample.get("name", "")),
            _fingerprint(_sample_core(preset.sample)),
            copy.deepcopy(preset.sample),
        )
        steps.append(Step(0, "Sample", "load", "sample_audio", "Sample", file, audibility=3.0, asset=file))

    # --- modulation matrix -----------------------------------------------------------------
    steps += _modulation_steps(preset, flags, assets)

    # --- effect chain order ------------------------------------------------------------------
    enabled = [fx for fx in order_names(values["effect_chain_order"]) if values[f"{fx}_on"] >= 0.5]
    if enabled != [fx for fx in EFFECTS if fx in enabled]:
        code = disp.enabled_order_code(enabled)
        steps.append(
            Step(
                0,
                "Effects chain",
                "order",
                "effect_chain_order",
                _label("effect_chain_order"),
                " → ".join(EFFECT_LABELS[fx] for fx in enabled),
                internal_value=float(code),
                audibility=2.0,
            )
        )

    # --- order, number, explain --------------------------------------------------------------
    sections = _section_order() + [_EFFECT_SECTION[fx] for fx in enabled] + ["Global"]
    rank = {s: i for i, s in enumerate(sections)}
    for s in steps:
        rank.setdefault(s.section, len(rank))
    connect_order = {id(s): i for i, s in enumerate(steps) if s.action == "connect"}
    steps.sort(
        key=lambda s: (
            rank[s.section],
            connect_order.get(id(s), -1),
            _priority(s),
            -s.audibility,
            s.name,
        )
    )
    per_section: dict[str, int] = {}
    for i, s in enumerate(steps, start=1):
        s.order = i
        if s.action == "connect":
            continue
        k = per_section.get(s.section, 0)
        if _priority(s) == 2:
            per_section[s.section] = k + 1
        # The important steps get a "why": switches, loads, models, the two most audible
        # settings of each section, and any setting with a large audible change.
        if _priority(s) < 2 or k < 2 or s.audibility >= IMPORTANT_AUDIBILITY:
            s.why = _why(s, values, init.values) or ""
    title = str(preset.meta.get("preset_name") or "synthmatch preset")
    description = describe_audio(audio, sample_rate, note_seconds=note_seconds) if audio is not None else None
    notes = []
    if len(steps) == 0:
        notes.append("This preset is Vital's init preset: nothing to change.")
    return Recipe(
        title=title,
        steps=steps,
        assets=assets,
        description=description,
        variations=suggest_variations(preset) if variations else [],
        notes=notes,
    )


def _why(step: Step, values: Mapping[str, float], init: Mapping[str, float]) -> str | None:
    shown = step.approx or step.display
    if step.action == "load":
        return explain_setting(step.name, 1.0, init_value=0.0, values=values, display=shown, label=step.label)
    v = values.get(step.name, step.internal_value or 0.0)
    return explain_setting(
        step.name,
        v,
        init_value=init.get(step.name, 0.0),
        values=values,
        display=shown,
        label=step.label,
        init_display=disp.rounded_text(step.name, init.get(step.name, 0.0), context=values)
        if step.name in init
        else "",
    )


def _modulation_steps(preset: Preset, flags: list[bool], assets: dict[str, Asset]) -> list[Step]:
    mods = preset.modulations
    kept = [i for i, on in enumerate(flags) if on]

    # Rows keep the preset's slot order: the engine processes connections in slot order, and
    # reordering chained ones (an LFO modulating another LFO's rate) changes renders by up to 40 dB.
    ordered = list(kept)
    slot = {i: n + 1 for n, i in enumerate(ordered)}
    steps: list[Step] = []
    for i in ordered:
        m = mods[i]
        dest = m.destination
        hit = _MOD_DEST.fullmatch(dest)
        if hit and int(hit.group(1)) - 1 in slot:
            dest = f"modulation_{slot[int(hit.group(1)) - 1]}_{hit.group(2)}"
        shown = disp.display_value("modulation_1_amount", m.amount)
        options: dict[str, str] = {}
        if m.bipolar:
            options["Bipolar"] = "On"
        if m.stereo:
            options["Stereo"] = "On"
        if m.power != 0.0:
            options["Power"] = str(disp.display_value("modulation_1_power", m.power))
        asset = None
        if m.line_mapping:
            asset = f"modulation_{slot[i]}_remap.vitallfo"
            assets[asset] = Asset(
                asset,
                "remap",
                f"modulation_{slot[i]}",
                "remap",
                _fingerprint(m.line_mapping),
                copy.deepcopy(m.line_mapping),
            )
            options["Remap"] = asset
        src_label = SOURCE_LABELS.get(m.source, m.source)
        dst_label = _label(dest)
        if m.amount == 0.0:
            why = (
                f"{src_label} moves {dst_label} only as far as the connection into "
                f"Modulation {slot[i]} Amount opens it"
            )
        else:
            why = explain_modulation(
                m.source,
                dest,
                source_label=src_label,
                destination_label=dst_label,
                depth=_depth_text(dest, m.amount),
            )
        steps.append(
            Step(
                order=0,
                section="Modulation matrix",
                action="connect",
                name=f"modulation_{slot[i]}",
                label=f"{src_label} → {dst_label}",
                value=shown.text,
                unit=shown.unit,
                internal_value=float(m.amount),
                audibility=2.0 * abs(m.amount),
                asset=asset,
                source=m.source,
                destination=dest,
                options=options,
                approx=_approx("modulation_1_amount", m.amount, shown, {}),
                why=why,
            )
        )
    return steps


# ---------------------------------------------------------------------------------------
# apply
# ---------------------------------------------------------------------------------------
def _load_asset(recipe: Recipe, key: str, assets_dir: str | os.PathLike[str] | None, step: Step) -> Any:
    asset = recipe.assets.get(key)
    if asset is None:
        raise PresetError(f"step {step.order} loads {key!r}, which the recipe does not list among its assets")
    if asset.data is not None:
        return copy.deepcopy(asset.data)
    if assets_dir is None:
        raise PresetError(
            f"step {step.order} needs the file {asset.file!r}. Hint: pass assets_dir= the folder holding "
            "the recipe's files (where synthmatch explain wrote them)."
        )
    path = pathlib.Path(assets_dir) / asset.file
    if not path.exists():
        raise PresetError(f"step {step.order} needs {path}, which does not exist")
    if asset.kind == "wavetable":
        return read_vitaltable(path)
    if asset.kind == "sample":
        return read_sample_wav(path, name=asset.name or None)
    return json.loads(path.read_text())


def apply_recipe(
    recipe: Recipe,
    *,
    assets_dir: str | os.PathLike[str] | None = None,
    exact: bool = False,
    space: ParamSpace | None = None,
) -> Preset:
    """Follow ``recipe`` from Vital's init preset and return the preset it builds.

    Values are read back from their displayed text, as a person following the tutorial would
    type them; ``exact=True`` uses the stored internal values instead. Files come from the
    recipe's in-memory assets, else from ``assets_dir``.
    """
    space = space or default_space()
    preset = Preset.init(space=space)
    mods: list[Modulation] = []
    rows: list[int] = []
    for step in recipe.steps:
        if step.action == "set":
            if step.name not in space:
                raise PresetError(
                    f"step {step.order} sets {step.name!r}, which is not a control of the space"
                )
            if exact and step.internal_value is not None:
                v = space[step.name].clamp(step.internal_value)
            else:
                v = disp.parse_display(step.name, step.value, step.unit, context=preset.values)
            preset.values[step.name] = v
        elif step.action == "order":
            code = (
                step.internal_value
                if exact and step.internal_value is not None
                else disp.parse_display("effect_chain_order", step.value)
            )
            preset.values["effect_chain_order"] = float(code)
        elif step.action == "load":
            data = _load_asset(recipe, step.asset or step.value, assets_dir, step)
            m = re.fullmatch(r"(osc|lfo)_(\d)_(wavetable|shape)", step.name)
            if m and m.group(1) == "osc":
                preset.wavetables[int(m.group(2)) - 1] = data
            elif m:
                preset.lfo_shapes[int(m.group(2)) - 1] = data
            elif step.name == "sample_audio":
                preset.sample = data
            else:
                raise PresetError(f"step {step.order} loads into unknown target {step.name!r}")
        elif step.action == "connect":
            if exact and step.internal_value is not None:
                amount = float(step.internal_value)
            else:
                amount = disp.parse_display("modulation_1_amount", step.value, step.unit)
            power = 0.0
            if "Power" in step.options:
                power = disp.parse_display("modulation_1_power", step.options["Power"])
            line_mapping = None
            if step.asset:
                line_mapping = _load_asset(recipe, step.asset, assets_dir, step)
            row = int(step.name.rsplit("_", 1)[1]) if re.fullmatch(r"modulation_\d+", step.name) else None
            rows.append(len(rows) if row is None else row)
            mods.append(
                Modulation(
                    source=step.source,
                    destination=step.destination,
                    amount=amount,
                    bipolar=step.options.get("Bipolar", "Off") == "On",
                    power=power,
                    stereo=step.options.get("Stereo", "Off") == "On",
                    line_mapping=line_mapping,
                ).validate()
            )
        else:
            raise PresetError(f"step {step.order} has an unknown action {step.action!r}")
    # Matrix rows are positions, not the order connections were made in: a tutorial may make
    # row 3 before row 1 (its tiers put the most audible first); the engine reads them by row.
    preset.modulations = [m for _, m in sorted(zip(rows, mods), key=lambda pair: pair[0])]
    preset.values = space.validate_values(preset.values)
    preset.meta["preset_name"] = recipe.title
    return preset
