"""What each step of a recipe contributes to the sound, measured by rendering without it.

For every step of a :class:`~synthmatch.explain.recipe.Recipe`, the preset is rendered with that
step reverted to Vital's init preset (a control back to its init value, a connection's amount to
0, a loaded file back to the init one) and compared with the full preset's render:

* **impact** — the MSS-mel distance (dB, :func:`synthmatch.metrics.mss_mel`) between the two,
  both played with :func:`measure_probe` (a shorter note);
* **what moves** — which descriptors change, read as what the sound loses without the step
  ("duller", "shorter", "2 semitones lower", "narrower", …, see :data:`DESCRIPTOR_RULES`).

Control and connection reverts are rendered as variants of one loaded preset
(:mod:`synthmatch.render.session`) and compared with the same path's render of the unchanged
preset, so the variant path's smoothing residue cancels; file reverts load a new preset and are
compared with the canonical render.

Steps are measured a module panel at a time first (an oscillator, a filter, an envelope, an
effect; a matrix row is a panel of its own), then one by one inside the audible panels.
:func:`select_build` then picks the *Build it* panels: the most audible ones with what they need
(a module's switch, the source set-up a connection plays, the row a modulation of a modulation
amount rides on), each with its audible steps, rendered from the init preset with the values as
Vital's knobs show them at a few sizes, at the full probe; the fewest panels within
:data:`BUILD_TARGET_DB` of the full sound win. Results are cached per (preset, probe) in
memory and on disk (``$SYNTHMATCH_CACHE`` or ``~/.cache/synthmatch``, folder ``ablation``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pathlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from synthmatch.audio.pitch import hz_to_midi
from synthmatch.errors import RenderError
from synthmatch.explain.descriptors import describe_audio
from synthmatch.explain.recipe_format import Recipe, Step
from synthmatch.metrics.audio import mss_mel_prepared, prepare_mss_mel
from synthmatch.render.engine import RenderOutcome, engine_version, preset_json_of
from synthmatch.render.pool import RenderPool, submit_variant
from synthmatch.render.probe import DEFAULT_PROBE, Probe
from synthmatch.vital.preset import Preset

__all__ = [
    "ABLATION_REVISION",
    "AUDIBLE_DB",
    "AUDIBLE_LEVEL_DB",
    "BUILD_SIZES",
    "BUILD_TARGET_DB",
    "Ablation",
    "Impact",
    "ablate",
    "group_of",
    "groups_of",
    "measure_probe",
    "needs_of",
    "select_build",
    "subset_preset",
]

#: Bumped whenever what :func:`ablate` measures changes (part of the cache key).
ABLATION_REVISION = 2

#: A step whose revert moves the render less than this (MSS-mel dB) and changes its level by
#: less than :data:`AUDIBLE_LEVEL_DB` has no audible effect. The variant path's residue between
#: two renders of the same preset is below 0.01 dB; 0.2 dB is about the smallest change of one
#: control that reads as a different sound in A/B listening of the train presets.
AUDIBLE_DB = 0.2
#: The ablation renders hold the note at most this long (s) and stop this long after its release:
#: what a step does shows in the attack, the held note and the release, and a shorter render
#: is a cheaper one (the renders cost in proportion to their length). *Build it* is chosen and
#: reported at the full probe.
MEASURE_NOTE_S = 1.0
MEASURE_TAIL_S = 1.5
#: Level change (dB) that counts as audible on its own (MSS-mel does not see the overall gain).
AUDIBLE_LEVEL_DB = 3.0
#: The *Build it* steps alone should land this close (MSS-mel dB) to the full preset (the
#: benchmark asks for 1.5 dB at the median; the margin covers the knobs' rounding).
BUILD_TARGET_DB = 1.25
#: Sizes (steps, with what they need) tried for *Build it*; the first within the target wins.
BUILD_SIZES = (4, 6, 8, 10, 12)
#: Larger sizes tried only when no size of :data:`BUILD_SIZES` reaches the target.
BUILD_SIZES_EXTRA = (14, 16)

# What a descriptor change means, read as what the sound is *without* the step:
# (descriptor, threshold, word when it grows, word when it shrinks, kind)
#   kind "ratio": compares b/a against 1 ± threshold; "diff": b - a against ± threshold.
DESCRIPTOR_RULES: tuple[tuple[str, float, str, str, str], ...] = (
    ("brightness_hz", 0.15, "brighter", "duller", "ratio"),
    ("attack_s", 0.5, "slower to start", "snappier", "ratio"),
    ("length_s", 0.2, "longer", "shorter", "ratio"),
    ("noisiness", 0.05, "noisier", "cleaner", "diff"),
    ("movement", 0.06, "more animated", "steadier", "diff"),
    ("width_db", 3.0, "wider", "narrower", "diff"),
    ("level_db", AUDIBLE_LEVEL_DB, "louder", "quieter", "diff"),
)
#: A pitch change (semitones) that the words name ("12 semitones lower").
PITCH_SEMITONES = 0.5
_LENGTH_FLOOR_DB = -40.0
_MEMORY: OrderedDict[str, Ablation] = OrderedDict()
_MEMORY_SIZE = 16
_MODULE_SOURCE = re.compile(r"(env|lfo|random|macro_control)_\d")
_MOD_ROW = re.compile(r"modulation_(\d+)")
_MOD_DEST = re.compile(r"modulation_(\d+)_(amount|power|bipolar|stereo|bypass)")


@dataclass
class Impact:
    """What one step does: the distance without it (dB) and how the sound changes without it."""

    key: str
    db: float
    level_db: float = 0.0
    words: list[str] = field(default_factory=list)
    status: str = "ok"

    @property
    def audible(self) -> bool:
        return self.status != "ok" or self.db >= AUDIBLE_DB or abs(self.level_db) >= AUDIBLE_LEVEL_DB

    def reason(self) -> str:
        """A sentence for the tutorial: "Without it the sound is 3.1 dB further from the full
        preset: duller and shorter." """
        if self.status != "ok":
            return f"Without it the preset does not render ({self.status})."
        what = f": {_join(self.words)}" if self.words else ""
        return f"Without it the sound is {self.db:.1f} dB further from the full preset{what}."


@dataclass
class Ablation:
    """The measured contribution of each step of a recipe, and the chosen *Build it* steps."""

    impacts: dict[str, Impact]
    groups: dict[str, Impact]
    build: list[list[str]]
    build_db: float
    tried: dict[int, float]
    renders: int
    seconds: float
    probe: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tried"] = {str(k): v for k, v in self.tried.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Ablation:
        return cls(
            impacts={k: Impact(**v) for k, v in d["impacts"].items()},
            groups={k: Impact(**v) for k, v in d["groups"].items()},
            build=[list(b) for b in d["build"]],
            build_db=float(d["build_db"]),
            tried={int(k): float(v) for k, v in d["tried"].items()},
            renders=int(d["renders"]),
            seconds=float(d["seconds"]),
            probe=dict(d["probe"]),
        )


def _join(words: Sequence[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# ---------------------------------------------------------------------------------------
# features and words
# ---------------------------------------------------------------------------------------
def _features(audio: np.ndarray, sample_rate: int, note_seconds: float) -> dict[str, float]:
    stereo = np.atleast_2d(np.asarray(audio, np.float64))
    mono = stereo.mean(axis=0)
    d = describe_audio(mono, sample_rate, note_seconds=note_seconds, pitch=True)
    hop = 512
    n = len(mono) // hop
    rms = np.sqrt(np.mean(mono[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-20)
    peak = float(rms.max())
    loud = np.nonzero(20 * np.log10(rms / peak) > _LENGTH_FLOOR_DB)[0] if peak > 1e-9 else np.array([0])
    if stereo.shape[0] == 2:
        side = float(np.mean((stereo[0] - stereo[1]) ** 2)) + 1e-20
        mid = float(np.mean((stereo[0] + stereo[1]) ** 2)) + 1e-20
        width_db = 10 * math.log10(side / mid)
    else:
        width_db = -120.0
    return {
        "brightness_hz": d.brightness_hz,
        "attack_s": max(d.attack_s, 0.002),
        "length_s": (loud[-1] + 1) * hop / sample_rate if loud.size else 0.0,
        "noisiness": d.noisiness,
        "movement": d.movement,
        "width_db": max(width_db, -60.0),
        "level_db": d.peak_db,
        "pitch_midi": hz_to_midi(d.pitch_hz) if d.pitch_hz else math.nan,
    }


def _pitch_words(full: Mapping[str, float], without: Mapping[str, float]) -> list[str]:
    a, b = full.get("pitch_midi", math.nan), without.get("pitch_midi", math.nan)
    if math.isnan(a) and math.isnan(b):
        return []
    if math.isnan(b):
        return ["without a clear pitch"]
    if math.isnan(a):
        return ["with a clear pitch"]
    st = round(b - a)
    if abs(b - a) < PITCH_SEMITONES or st == 0:
        return []
    return [f"{abs(st)} semitone{'s' if abs(st) != 1 else ''} {'higher' if st > 0 else 'lower'}"]


def _words(full: Mapping[str, float], without: Mapping[str, float]) -> list[str]:
    out = _pitch_words(full, without)
    for name, thr, grows, shrinks, kind in DESCRIPTOR_RULES:
        a, b = full[name], without[name]
        if kind == "ratio":
            if a <= 0 or b <= 0:
                continue
            change = b / a - 1.0
            if change >= thr:
                out.append(grows)
            elif change <= -thr / (1 + thr):
                out.append(shrinks)
        elif b - a >= thr:
            out.append(grows)
        elif a - b >= thr:
            out.append(shrinks)
    return out


# ---------------------------------------------------------------------------------------
# building presets from steps
# ---------------------------------------------------------------------------------------
def subset_preset(recipe: Recipe, keep: Sequence[str] | set[str], *, knob: bool = False) -> Preset:
    """The preset built from Vital's init preset by following only the steps whose key is in
    ``keep``, with values as displayed (``knob=True``: as a knob shows them, see
    :func:`synthmatch.explain.display.knob_value`). Connections are renumbered, and a
    connection into the amount of a dropped one is dropped with it."""
    from synthmatch.explain.recipe import apply_recipe

    keep = set(keep)
    rows = [s for s in recipe.steps if s.action == "connect"]
    kept_rows = [int(_MOD_ROW.match(s.name).group(1)) for s in rows if s.name in keep]  # type: ignore[union-attr]
    renumber = {old: new for new, old in enumerate(kept_rows, start=1)}
    steps: list[Step] = []
    for s in recipe.steps:
        if s.name not in keep:
            continue
        if knob and s.knob:
            s = _with_value(s, s.knob)
        if s.action == "connect":
            s = _with_value(s, s.value)
            s.name = f"modulation_{renumber[int(_MOD_ROW.match(s.name).group(1))]}"  # type: ignore[union-attr]
            hit = _MOD_DEST.fullmatch(s.destination)
            if hit:
                row = int(hit.group(1))
                if row not in renumber:
                    continue
                s.destination = f"modulation_{renumber[row]}_{hit.group(2)}"
        steps.append(s)
    sub = Recipe(title=recipe.title, steps=steps, assets=recipe.assets)
    return apply_recipe(sub, exact=not knob)


def _with_value(step: Step, value: str) -> Step:
    return Step.from_dict({**step.to_dict(), "value": value, "name": step.name})


def needs_of(recipe: Recipe, audible: set[str] | None = None) -> dict[str, list[str]]:
    """For each step key, the keys of the steps it needs: its module's switch, the filter model
    its labels depend on, the connection whose amount it modulates, the effects it orders."""
    keys = {s.name for s in recipe.steps}
    switch_of = {s.section: s.name for s in recipe.steps if s.action == "set" and s.name.endswith("_on")}
    model_of = {s.section: s.name for s in recipe.steps if s.action == "set" and s.name.endswith("_model")}
    audible = keys if audible is None else audible
    by_section: dict[str, list[Step]] = {}
    for s in recipe.steps:
        if s.action != "connect":
            by_section.setdefault(s.section, []).append(s)
    from synthmatch.explain.recipe import section_of

    out: dict[str, list[str]] = {}
    for s in recipe.steps:
        need: list[str] = []
        sw = switch_of.get(s.section)
        if sw and sw != s.name:
            need.append(sw)
        model = model_of.get(s.section)
        if model and model != s.name and s.name != sw:
            need.append(model)
        if s.action == "connect":
            dest_sw = switch_of.get(section_of(s.destination))
            if dest_sw:
                need.append(dest_sw)
            # a connection moves its destination the way its source is set up
            if _MODULE_SOURCE.fullmatch(s.source):
                src = by_section.get(section_of(s.source + "_"), ())
                need += [t.name for t in src if t.name in audible and t.name.startswith(s.source + "_")]
            hit = _MOD_DEST.fullmatch(s.destination)
            if hit and f"modulation_{hit.group(1)}" in keys:
                need.append(f"modulation_{hit.group(1)}")
        if s.action == "order":
            need += [k for k in keys if k.endswith("_on") and section_of(k) not in _SOURCE_SECTIONS]
        out[s.name] = [n for n in need if n in keys]
    return out


_SOURCE_SECTIONS = {"Oscillator 1", "Oscillator 2", "Oscillator 3", "Sample", "Filter 1", "Filter 2"}


def _closure(keys: Sequence[str], needs: Mapping[str, list[str]]) -> list[str]:
    """``keys`` with what each needs, each need placed before the steps that need it."""
    out: list[str] = []
    seen: set[str] = set()

    def add(k: str, path: frozenset[str]) -> None:
        if k in seen or k in path:
            return
        for n in needs.get(k, ()):
            add(n, path | {k})
        seen.add(k)
        out.append(k)

    for k in keys:
        add(k, frozenset())
    return out


# ---------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------
def _cache_dir() -> pathlib.Path:
    root = os.environ.get("SYNTHMATCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "synthmatch")
    return pathlib.Path(root) / "ablation"


def cache_key(preset: Preset, probe: Probe) -> str:
    blob = json.dumps(
        [preset_json_of(preset), probe.to_dict(), ABLATION_REVISION, engine_version()], sort_keys=True
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def group_of(step: Step) -> str:
    """The *Build it* unit a step belongs to: its module panel (section), or its own matrix row."""
    return step.name if step.action == "connect" else step.section


def groups_of(recipe: Recipe) -> dict[str, list[str]]:
    """Group key → its step keys, both in recipe order."""
    out: dict[str, list[str]] = {}
    for s in recipe.steps:
        out.setdefault(group_of(s), []).append(s.name)
    return out


def measure_probe(probe: Probe) -> Probe:
    """The probe of the ablation renders: ``probe`` with the note held at most
    :data:`MEASURE_NOTE_S` and rendered at most :data:`MEASURE_TAIL_S` past the release."""
    note = min(probe.note_seconds, MEASURE_NOTE_S)
    return probe.replace(note_seconds=note, render_seconds=min(probe.render_seconds, note + MEASURE_TAIL_S))


def _distance_fn(reference: np.ndarray, sample_rate: int) -> Callable[[np.ndarray], float]:
    prepared = prepare_mss_mel(np.asarray(reference, np.float32), sample_rate)
    return lambda x: float(mss_mel_prepared(prepared, np.asarray(x, np.float32)))


class _Measurer:
    """Renders reverts of step sets and measures them against the right reference."""

    def __init__(
        self, recipe: Recipe, preset: Preset, probe: Probe, pool: RenderPool, *, full: RenderOutcome | None
    ) -> None:
        from synthmatch.explain.activity import sounding_modulations

        self.recipe, self.preset, self.probe, self.pool = recipe, preset, probe, pool
        # what every revert reads (the init preset takes ~10 ms to build: once per preset)
        self.init = Preset.init()
        self.slots = preset.slot_assignment()
        self.sounding = [i for i, on in enumerate(sounding_modulations(preset.modulations)) if on]
        self.by_name = {s.name: s for s in recipe.steps}
        self.short = measure_probe(probe)
        self.base_json = preset_json_of(preset)
        self.renders = 0
        jobs = (
            {"full": full} if full is not None and full.ok else self.run({"full": ("preset", preset)}, probe)
        )
        jobs.update(self.run({"full_m": ("preset", preset), "same_m": ("variant", {})}, self.short))
        full, full_m, same_m = jobs["full"], jobs["full_m"], jobs["same_m"]
        if not (full.ok and full_m.ok):
            bad = full if not full.ok else full_m
            raise RenderError(f"the preset does not render ({bad.status}): {bad.reason}")
        if not same_m.ok:
            same_m = full_m
        self.full = full
        sr, note = probe.sample_rate, self.short.note_seconds
        self.refs = {
            "preset": (_distance_fn(full_m.mono, sr), _features(full_m.audio, sr, note)),
            "variant": (_distance_fn(same_m.mono, sr), _features(same_m.audio, sr, note)),
        }

    def run(self, jobs: Mapping[str, tuple[str, Any]], probe: Probe) -> dict[str, RenderOutcome]:
        futs = {
            k: submit_variant(self.pool, self.base_json, what, probe)
            if kind == "variant"
            else self.pool.submit(what, probe)
            for k, (kind, what) in jobs.items()
        }
        self.renders += len(futs)
        return {k: f.result() for k, f in futs.items()}

    def revert(self, keys: Sequence[str]) -> tuple[str, Any]:
        """("variant", control changes) or ("preset", a preset) reverting the steps ``keys``."""
        from synthmatch.search.refine import apply_changes

        preset, init, slots = self.preset, self.init, self.slots
        changes: dict[str, float] = {}
        loads: list[Step] = []
        for k in keys:
            s = self.by_name[k]
            if s.action in ("set", "order"):
                changes[s.name] = float(init.values[s.name])
            elif s.action == "connect":
                i = self.sounding[int(_MOD_ROW.match(s.name).group(1)) - 1]  # type: ignore[union-attr]
                changes[f"modulation_{slots[i]}_amount"] = 0.0
                if preset.modulations[i].amount == 0.0:
                    # it sounds only through connections into its amount: those go to 0 with it
                    into = f"modulation_{slots[i]}_amount"
                    for j, mod in enumerate(preset.modulations):
                        if mod.destination == into:
                            changes[f"modulation_{slots[j]}_amount"] = 0.0
            else:
                loads.append(s)
        if not loads:
            return "variant", changes
        p = preset.control_copy()
        for s in loads:
            hit = re.fullmatch(r"(osc|lfo)_(\d)_(wavetable|shape)", s.name)
            if hit and hit.group(1) == "osc":
                p.wavetables[int(hit.group(2)) - 1] = init.wavetables[int(hit.group(2)) - 1]
            elif hit:
                p.lfo_shapes[int(hit.group(2)) - 1] = init.lfo_shapes[int(hit.group(2)) - 1]
            else:
                p.sample = init.sample
        return "preset", apply_changes(p, changes)

    def impacts(self, sets: Mapping[str, Sequence[str]]) -> dict[str, Impact]:
        """The impact of reverting each named set of steps."""
        jobs = {k: self.revert(keys) for k, keys in sets.items()}
        outs = self.run(jobs, self.short)
        sr, note = self.probe.sample_rate, self.short.note_seconds
        result: dict[str, Impact] = {}
        for k, out in outs.items():
            if not out.ok:
                result[k] = Impact(k, db=float("inf"), status=out.status)
                continue
            dist, ref = self.refs[jobs[k][0]]
            f = _features(out.audio, sr, note)
            result[k] = Impact(
                k,
                db=round(dist(out.mono), 3),
                level_db=round(f["level_db"] - ref["level_db"], 2),
                words=_words(ref, f),
            )
        return result


def ablate(
    preset: Preset,
    recipe: Recipe,
    *,
    probe: Probe = DEFAULT_PROBE,
    pool: RenderPool | None = None,
    cache: bool = True,
    full: RenderOutcome | None = None,
) -> Ablation:
    """Measure every step of ``recipe`` (built from ``preset``) and choose the *Build it* steps.

    Each module panel is reverted as a whole first; the steps of the panels that are audible
    are then reverted one by one (a step of an inaudible panel is inaudible: it is not rendered
    alone). A matrix row is its own panel.

    Parameters
    ----------
    preset : Preset
        The preset the recipe was built from.
    recipe : Recipe
        Its recipe (:func:`synthmatch.explain.build_recipe`).
    probe : Probe
        How to play it.
    pool : RenderPool, optional
        Render on this pool (default: the process-wide one).
    cache : bool
        Read and write the cache.
    full : RenderOutcome, optional
        The preset's canonical render at ``probe``, when the caller has it.

    Raises
    ------
    RenderError
        When the full preset does not render.
    """
    key = cache_key(preset, probe)
    if cache:
        hit = _MEMORY.get(key) or _read_cache(key)
        if hit is not None and set(hit.impacts) == {s.name for s in recipe.steps}:
            _remember(key, hit)
            return hit
    if pool is None:
        from synthmatch.render.pool import shared_pool

        pool = shared_pool()
    t0 = time.perf_counter()
    groups = groups_of(recipe)
    m = _Measurer(recipe, preset, probe, pool, full=full)
    group_impacts = m.impacts(groups)
    impacts: dict[str, Impact] = {}
    alone: dict[str, list[str]] = {}
    for g, keys in groups.items():
        gi = group_impacts[g]
        if len(keys) == 1:
            impacts[keys[0]] = Impact(keys[0], gi.db, gi.level_db, list(gi.words), gi.status)
        elif not gi.audible:
            impacts.update({k: Impact(k, 0.0) for k in keys})
        else:
            # A panel's switch does what reverting the whole panel does; a panel of a switch and
            # one setting needs no render beyond the panel's.
            rest = [k for k in keys if not k.endswith("_on")]
            shared = [k for k in keys if k not in rest] + (rest if len(rest) == 1 else [])
            impacts.update({k: Impact(k, gi.db, gi.level_db, list(gi.words), gi.status) for k in shared})
            alone.update({k: [k] for k in keys if k not in shared})
    impacts.update(m.impacts(alone))
    build, build_db, tried = select_build(recipe, impacts, group_impacts, m)
    result = Ablation(
        impacts={s.name: impacts[s.name] for s in recipe.steps},
        groups={g: group_impacts[g] for g in groups},
        build=build,
        build_db=build_db,
        tried=tried,
        renders=m.renders,
        seconds=round(time.perf_counter() - t0, 3),
        probe={
            **probe.to_dict(),
            "measured_note_seconds": m.short.note_seconds,
            "measured_render_seconds": m.short.render_seconds,
        },
    )
    if cache:
        _remember(key, result)
        _write_cache(key, result)
    return result


def _build_members(
    keys: Sequence[str], impacts: Mapping[str, Impact], needs: Mapping[str, list[str]]
) -> list[str]:
    """The steps of a panel that *Build it* sets: the audible ones and what they need there."""
    audible = [k for k in keys if impacts[k].audible]
    if not audible:
        return list(keys)
    inside = set(keys)
    want = set(audible)
    for k in audible:
        want |= {n for n in needs.get(k, ()) if n in inside}
    return [k for k in keys if k in want]


def select_build(
    recipe: Recipe,
    impacts: Mapping[str, Impact],
    group_impacts: Mapping[str, Impact],
    m: _Measurer,
) -> tuple[list[list[str]], float, dict[int, float]]:
    """The *Build it* panels (each a list of step keys; most audible first, each after the
    panels it needs), their distance to the full preset (dB), and the distance at each size
    tried (in panels)."""
    groups = groups_of(recipe)
    group_key = {k: g for g, keys in groups.items() for k in keys}
    needs = needs_of(recipe, {k for k, imp in impacts.items() if imp.audible})
    members = {g: _build_members(keys, impacts, needs) for g, keys in groups.items()}
    gneeds = {
        g: list(dict.fromkeys(group_key[n] for k in keys for n in needs.get(k, ()) if group_key[n] != g))
        for g, keys in members.items()
    }
    order = {g: i for i, g in enumerate(groups)}

    def score(g: str) -> float:
        imp = group_impacts[g]
        return math.inf if imp.status != "ok" else imp.db

    top = sorted((g for g in groups if group_impacts[g].audible), key=lambda g: (-score(g), order[g]))
    if not top:
        return [], 0.0, {}
    sets: dict[int, list[str]] = {}
    for k in range(1, len(top) + 1):
        c = _closure(top[:k], gneeds)
        sets.setdefault(len(c), c)

    def best_at_most(n: int) -> list[str] | None:
        fits = [size for size in sets if size <= n]
        return sets[max(fits)] if fits else None

    dist = _distance_fn(m.full.mono, m.probe.sample_rate)
    tried: dict[int, float] = {}
    chosen: list[str] | None = None
    for sizes in (BUILD_SIZES, BUILD_SIZES_EXTRA):
        cands: dict[int, list[str]] = {}
        for n in sizes:
            c = best_at_most(n)
            if c is not None and len(c) not in tried:
                cands[len(c)] = c
        jobs = {
            str(n): ("preset", subset_preset(recipe, [k for g in c for k in members[g]], knob=True))
            for n, c in cands.items()
        }
        outs = m.run(jobs, m.probe)
        for n in cands:
            out = outs[str(n)]
            tried[n] = round(dist(out.mono), 3) if out.ok else float("inf")
        within = [n for n in sorted(tried) if tried[n] <= BUILD_TARGET_DB]
        if within:
            chosen = sets[within[0]]
            break
    if chosen is None:
        n_best = min(tried, key=lambda n: (tried[n], n)) if tried else 0
        chosen = sets.get(n_best, [])
    return [members[g] for g in chosen], tried.get(len(chosen), 0.0), tried


def _remember(key: str, value: Ablation) -> None:
    _MEMORY[key] = value
    _MEMORY.move_to_end(key)
    while len(_MEMORY) > _MEMORY_SIZE:
        _MEMORY.popitem(last=False)


def _read_cache(key: str) -> Ablation | None:
    path = _cache_dir() / f"{key}.json"
    try:
        return Ablation.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(key: str, value: Ablation) -> None:
    path = _cache_dir() / f"{key}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value.to_dict(), allow_nan=True))
        os.replace(tmp, path)
    except OSError:
        pass
