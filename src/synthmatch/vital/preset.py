"""The preset codec: Vital JSON ⇄ :class:`Preset` ⇄ normalized vector.

A :class:`Preset` holds the values of every parameter of the space (internal units), the
modulation connections, and the assets (3 wavetables, 8 LFO shapes, the sample). Controls outside
the space are not kept: writing a preset sets them to Vital's init values, so a round trip
``vital → Preset → vital`` shows exactly what the space captures.

Writing follows what real Vital 1.5.5 needs: ``synth_version`` "1.5.5", all 3 wavetables, 8 LFO
shapes, 64 modulation slots, a ``sample`` entry, every control as a float, clamped and rounded,
oscillator destinations 0–4, and validated modulation names.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthmatch.errors import ParameterError, PresetError, UnknownModulationError
from synthmatch.vital import tables
from synthmatch.vital.modulation import (
    N_PRESET_SLOTS,
    Modulation,
    used_sources,
    validate_destination,
    validate_source,
)
from synthmatch.vital.spec import NO_CONNECTION, ParamSpace, default_space, excluded_reason
from synthmatch.vital.wavetables import VITAL_VERSION

_META_KEYS = ("preset_name", "author", "comments", "preset_style", "macro1", "macro2", "macro3", "macro4")
_ASSET_KEYS = ("wavetables", "lfos", "sample", "modulations")
_MOD_FIELDS = ("amount", "bipolar", "power", "stereo", "bypass")
#: Oscillator distortion types that read another oscillator: type → which of the two other
#: oscillators (in ascending order) they read ("FM <- Osc", "RM <- Osc").
_READS_OTHER_OSC = {7: 0, 8: 1, 10: 0, 11: 1}


def osc_read_by(osc: int, distortion_type: float) -> int | None:
    """The oscillator (1-3) that oscillator ``osc``'s FM/RM distortion reads, or None."""
    which = _READS_OTHER_OSC.get(round(float(distortion_type)))
    return None if which is None else [k for k in (1, 2, 3) if k != osc][which]


@dataclass
class Preset:
    """A Vital sound: parameter values, modulation connections and assets.

    Attributes
    ----------
    values : dict[str, float]
        Every engine control of the space, in internal units.
    modulations : list[Modulation]
        Connections in slot order (at most 64).
    wavetables : list[dict]
        3 wavetable JSON objects (oscillators 1–3).
    lfo_shapes : list[dict]
        8 LineGenerator JSON objects (LFOs 1–8).
    sample : dict
        The sample oscillator's audio (``{name, length, sample_rate, samples, ...}``).
    meta : dict
        Name, author, comments, style and macro names.
    extras : dict
        Other ``settings`` entries kept verbatim (e.g. ``custom_warps``).
    issues : list[str]
        What reading changed or dropped (clamped values, unknown controls, invalid connections).
    """

    values: dict[str, float]
    modulations: list[Modulation] = field(default_factory=list)
    wavetables: list[dict[str, Any]] = field(default_factory=list)
    lfo_shapes: list[dict[str, Any]] = field(default_factory=list)
    sample: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)

    # ----------------------------------------------------------------------------------
    # construction
    # ----------------------------------------------------------------------------------
    @classmethod
    def init(cls, *, space: ParamSpace | None = None) -> Preset:
        """Vital's init preset."""
        return cls.from_vital(tables.init_preset_json(), space=space)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, strict: bool = False, space: ParamSpace | None = None
    ) -> Preset:
        """Read a `.vital` file."""
        p = pathlib.Path(path)
        if not p.exists():
            raise PresetError(f"preset file {p} does not exist")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise PresetError(
                f"{p} is not a Vital preset: it is not UTF-8 JSON. Hint: .vital files are JSON; "
                "export the preset from Vital with 'Save Preset'."
            ) from None
        preset = cls.from_vital(text, strict=strict, space=space, source=str(p))
        preset.meta.setdefault("preset_name", p.stem)
        return preset

    @classmethod
    def from_vital(
        cls,
        data: str | dict[str, Any],
        *,
        strict: bool = False,
        space: ParamSpace | None = None,
        source: str = "preset",
    ) -> Preset:
        """Parse Vital preset JSON (text or dict).

        With ``strict=True`` an unknown control, an out-of-range value or an invalid modulation
        raises; otherwise it is fixed (clamped / dropped) and recorded in ``issues``.
        """
        space = space or default_space()
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise PresetError(f"{source} is not a Vital preset: invalid JSON ({exc}).") from None
        if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
            raise PresetError(
                f"{source} is not a Vital preset: no 'settings' object. Hint: pass a .vital file."
            )
        settings = data["settings"]
        engine = tables.controls()
        issues: list[str] = []

        def problem(msg: str, exc_type: type[Exception] = ParameterError) -> None:
            if strict:
                raise exc_type(f"{source}: {msg}")
            issues.append(msg)

        values: dict[str, float] = {}
        unknown: dict[str, Any] = {}
        for name in space.control_names():
            values[name] = space[name].default
        for key, raw in settings.items():
            if key in _ASSET_KEYS or not isinstance(raw, (int, float)) or isinstance(raw, bool):
                continue
            if key not in engine:
                # e.g. osc_N_spectral_morph_phase from Vital 1.5.x: the engine ignores it, real Vital
                # uses it, so it is kept verbatim for writing.
                problem(f"unknown control {key!r} kept verbatim (this engine version ignores it)")
                unknown[key] = raw
                continue
            if excluded_reason(key) is not None:
                continue
            spec = space[key]
            v = float(raw)
            if not math.isfinite(v):
                problem(f"{key}={raw!r} is not finite; using the default {spec.default}")
                continue
            fixed = spec.clamp(v)
            if abs(fixed - v) > 1e-4 * max(1.0, abs(spec.span)):
                problem(
                    f"{key}={v:g} outside its valid values [{spec.min:g}, {spec.max:g}]; set to {fixed:g}"
                )
            values[key] = fixed
        values = space.validate_values(values)

        mods: list[Modulation] = []
        raw_mods = settings.get("modulations") or []
        extra = [
            e for e in raw_mods[N_PRESET_SLOTS:] if (e or {}).get("source") or (e or {}).get("destination")
        ]
        if extra:
            problem(
                f"{len(extra)} modulation(s) after slot {N_PRESET_SLOTS} dropped: Vital has "
                f"{N_PRESET_SLOTS} slots. Hint: move them into free slots in Vital and save again.",
                PresetError,
            )
        for k, entry in enumerate(raw_mods[:N_PRESET_SLOTS]):
            src = (entry or {}).get("source", "")
            dst = (entry or {}).get("destination", "")
            if not src and not dst:
                continue
            try:
                validate_source(src)
                validate_destination(dst)
            except UnknownModulationError as exc:
                problem(f"modulation slot {k + 1} dropped: {exc}", UnknownModulationError)
                continue
            slot = {f: float(settings.get(f"modulation_{k + 1}_{f}", 0.0)) for f in _MOD_FIELDS}
            mods.append(
                Modulation(
                    source=src,
                    destination=dst,
                    amount=min(max(slot["amount"], -1.0), 1.0),
                    bipolar=slot["bipolar"] >= 0.5,
                    power=min(max(slot["power"], -10.0), 10.0),
                    stereo=slot["stereo"] >= 0.5,
                    bypass=slot["bypass"] >= 0.5,
                    line_mapping=copy.deepcopy(entry.get("line_mapping")),
                    slot=k + 1,
                )
            )

        init = tables.init_preset_json()["settings"]
        wavetables = settings.get("wavetables")
        if not isinstance(wavetables, list) or len(wavetables) != 3:
            problem("wavetables missing or not 3; using the init wavetables", PresetError)
            wavetables = init["wavetables"]
        lfos = settings.get("lfos")
        if not isinstance(lfos, list) or len(lfos) != 8:
            problem("LFO shapes missing or not 8; using the init shapes", PresetError)
            lfos = (list(lfos) if isinstance(lfos, list) else [])[:8] + init["lfos"][len(lfos or []) :]
        sample = settings.get("sample")
        if not isinstance(sample, dict):
            problem("sample missing; using the init sample", PresetError)
            sample = init["sample"]
        extras = {
            k: copy.deepcopy(v)
            for k, v in settings.items()
            if k not in _ASSET_KEYS and not isinstance(v, (int, float))
        }
        extras.update(unknown)
        meta = {k: data[k] for k in _META_KEYS if k in data}
        return cls(
            values=values,
            modulations=mods,
            wavetables=copy.deepcopy(list(wavetables)),
            lfo_shapes=copy.deepcopy(list(lfos)),
            sample=copy.deepcopy(sample),
            meta=meta,
            extras=extras,
            issues=issues,
        )

    # ----------------------------------------------------------------------------------
    # writing
    # ----------------------------------------------------------------------------------
    def to_vital(self, *, space: ParamSpace | None = None) -> dict[str, Any]:
        """Vital 1.5.5 preset JSON (a dict). Raises if a value or connection is invalid."""
        space = space or default_space()
        doc = tables.init_preset_json()
        settings = doc["settings"]
        values = space.validate_values({k: v for k, v in self.values.items()})
        for name, v in values.items():
            settings[name] = float(v)
        if len(self.modulations) > N_PRESET_SLOTS:
            raise PresetError(f"{len(self.modulations)} modulations; Vital holds at most {N_PRESET_SLOTS}")
        placed = self.slot_assignment()
        by_slot = {slot: self.modulations[i] for i, slot in enumerate(placed)}
        slots: list[dict[str, Any]] = []
        for k in range(N_PRESET_SLOTS):
            prefix = f"modulation_{k + 1}_"
            if k + 1 in by_slot:
                m = by_slot[k + 1].validate()
                entry: dict[str, Any] = {"source": m.source, "destination": m.destination}
                if m.line_mapping:
                    entry["line_mapping"] = copy.deepcopy(m.line_mapping)
                slots.append(entry)
                settings[prefix + "amount"] = float(min(max(m.amount, -1.0), 1.0))
                settings[prefix + "bipolar"] = float(bool(m.bipolar))
                settings[prefix + "power"] = float(min(max(m.power, -10.0), 10.0))
                settings[prefix + "stereo"] = float(bool(m.stereo))
                settings[prefix + "bypass"] = float(bool(m.bypass))
            else:
                slots.append({"source": "", "destination": ""})
        settings["modulations"] = slots
        if len(self.wavetables) != 3:
            raise PresetError(f"a preset needs 3 wavetables, got {len(self.wavetables)}")
        wts = copy.deepcopy(self.wavetables)
        for wt in wts:
            wt["version"] = VITAL_VERSION
        settings["wavetables"] = wts
        if len(self.lfo_shapes) != 8:
            raise PresetError(f"a preset needs 8 LFO shapes, got {len(self.lfo_shapes)}")
        settings["lfos"] = copy.deepcopy(self.lfo_shapes)
        settings["sample"] = copy.deepcopy(self.sample)
        for k, v in self.extras.items():
            settings[k] = copy.deepcopy(v)
        for k in _META_KEYS:
            if k in self.meta:
                doc[k] = self.meta[k]
        doc.setdefault("preset_name", "synthmatch")
        doc["synth_version"] = VITAL_VERSION
        return doc

    def to_json(self, *, space: ParamSpace | None = None) -> str:
        """Vital preset JSON text."""
        return json.dumps(self.to_vital(space=space))

    def write(self, path: str | os.PathLike[str], *, space: ParamSpace | None = None) -> pathlib.Path:
        """Write a `.vital` file atomically, after checking it against real Vital's requirements."""
        doc = self.to_vital(space=space)
        problems = check_vital_json(doc)
        if problems:
            raise PresetError("refusing to write an invalid preset: " + "; ".join(problems))
        p = pathlib.Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, p)
        return p

    def slot_assignment(self) -> list[int]:
        """The 1-based matrix slot of each connection: its own ``slot`` if set and free, else the
        first free slot, in list order."""
        taken: set[int] = set()
        out: list[int] = []
        for m in self.modulations:
            if m.slot is not None and 1 <= m.slot <= N_PRESET_SLOTS and m.slot not in taken:
                out.append(m.slot)
                taken.add(m.slot)
            else:
                out.append(0)
        free = (k for k in range(1, N_PRESET_SLOTS + 1) if k not in taken)
        return [s if s else next(free) for s in out]

    # ----------------------------------------------------------------------------------
    # vectors and activity
    # ----------------------------------------------------------------------------------
    def used_sources(self) -> set[str]:
        """Sources of connections that can change the sound."""
        return used_sources(self.modulations, self.slot_assignment())

    def all_values(self, *, space: ParamSpace | None = None) -> dict[str, float]:
        """Control values plus the modulation-slot parameters (``mod_K_*``) of the space."""
        space = space or default_space()
        out = dict(self.values)
        sources = space["mod_1_source"].options if space.n_mod_slots else ()
        dests = space["mod_1_destination"].options if space.n_mod_slots else ()
        for k in range(1, space.n_mod_slots + 1):
            if k <= len(self.modulations):
                m = self.modulations[k - 1]
                out[f"mod_{k}_source"] = float(sources.index(m.source))
                out[f"mod_{k}_destination"] = float(dests.index(m.destination))
                out[f"mod_{k}_amount"] = m.amount
                out[f"mod_{k}_bipolar"] = float(m.bipolar)
                out[f"mod_{k}_power"] = m.power
                out[f"mod_{k}_stereo"] = float(m.stereo)
            else:
                for part in ("source", "destination", "amount", "bipolar", "power", "stereo"):
                    out[f"mod_{k}_{part}"] = 0.0
        return out

    def active(self, *, space: ParamSpace | None = None) -> dict[str, bool]:
        """Which parameters of the space matter for this preset's sound."""
        space = space or default_space()
        active = space.active_mask(self.all_values(space=space), self.used_sources())
        # An oscillator read by a sounding oscillator's "FM/RM <- Osc" matters even when it is
        # off (its distortion type shapes what is read), transitively.
        v = self.values
        reached = [k for k in (1, 2, 3) if v.get(f"osc_{k}_on", 0.0) >= 0.5]
        for osc in reached:
            other = osc_read_by(osc, v.get(f"osc_{osc}_distortion_type", 0.0))
            if other is not None:
                active[f"osc_{other}_distortion_type"] = True
                if other not in reached:
                    reached.append(other)
        return active

    def to_vector(self, *, space: ParamSpace | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(numeric [0,1] vector [shape=(n_numeric,)], categorical indices [shape=(n_categorical,)])."""
        space = space or default_space()
        return space.encode(self.all_values(space=space))

    @classmethod
    def from_vector(
        cls,
        x: np.ndarray,
        c: np.ndarray,
        *,
        assets: Preset | None = None,
        space: ParamSpace | None = None,
    ) -> Preset:
        """Build a preset from a vector; assets (wavetables, shapes, sample) come from ``assets``."""
        space = space or default_space()
        vals = space.decode(x, c)
        base = assets or cls.init(space=space)
        values = {n: vals[n] for n in space.control_names()}
        mods: list[Modulation] = []
        for k in range(1, space.n_mod_slots + 1):
            src = space[f"mod_{k}_source"].options[int(vals[f"mod_{k}_source"])]
            dst = space[f"mod_{k}_destination"].options[int(vals[f"mod_{k}_destination"])]
            if src == NO_CONNECTION or dst == NO_CONNECTION:
                continue
            mods.append(
                Modulation(
                    source=src,
                    destination=dst,
                    amount=vals[f"mod_{k}_amount"],
                    bipolar=vals[f"mod_{k}_bipolar"] >= 0.5,
                    power=vals[f"mod_{k}_power"],
                    stereo=vals[f"mod_{k}_stereo"] >= 0.5,
                )
            )
        return cls(
            values=values,
            modulations=mods,
            wavetables=copy.deepcopy(base.wavetables),
            lfo_shapes=copy.deepcopy(base.lfo_shapes),
            sample=copy.deepcopy(base.sample),
            meta=dict(base.meta),
            extras=copy.deepcopy(base.extras),
        )

    def copy(self) -> Preset:
        return copy.deepcopy(self)

    def control_copy(self) -> Preset:
        """A copy to change controls in (values, modulation fields, meta), at a fraction of the
        cost of :meth:`copy`: the asset objects (each wavetable, LFO shape, line mapping, the
        sample and the extras' entries) are shared, in lists and dicts of the copy's own. Preset
        code replaces an asset, never edits one in place; code that edits one must :meth:`copy`.
        A search makes one copy per render, mostly of wavetable JSON it never changes."""
        return Preset(
            values=dict(self.values),
            modulations=[copy.copy(m) for m in self.modulations],
            wavetables=list(self.wavetables),
            lfo_shapes=list(self.lfo_shapes),
            sample=dict(self.sample),
            meta=copy.deepcopy(self.meta),
            extras=dict(self.extras),
            issues=list(self.issues),
        )

    def with_values(self, **changes: float) -> Preset:
        """A copy with some values changed (validated against the space)."""
        out = self.copy()
        space = default_space()
        for k, v in changes.items():
            out.values[k] = space[k].clamp(v)
        return out


def check_vital_json(doc: dict[str, Any]) -> list[str]:
    """What keeps real Vital 1.5.5 from opening this preset JSON (empty when it is fine)."""
    problems: list[str] = []
    if doc.get("synth_version") != VITAL_VERSION:
        problems.append(f"synth_version is {doc.get('synth_version')!r}, not {VITAL_VERSION!r}")
    settings = doc.get("settings")
    if not isinstance(settings, dict):
        return [*problems, "no settings object"]
    wts = settings.get("wavetables")
    if not isinstance(wts, list) or len(wts) != 3:
        problems.append("settings.wavetables must hold 3 wavetables")
    else:
        for i, wt in enumerate(wts):
            if wt.get("version") != VITAL_VERSION:
                problems.append(f"wavetable {i + 1} version is {wt.get('version')!r}")
    lfos = settings.get("lfos")
    if not isinstance(lfos, list) or len(lfos) != 8:
        problems.append("settings.lfos must hold 8 LFO shapes")
    mods = settings.get("modulations")
    if not isinstance(mods, list) or len(mods) != N_PRESET_SLOTS:
        problems.append(f"settings.modulations must hold {N_PRESET_SLOTS} slots")
    else:
        srcs, dsts = set(tables.modulation_sources()), set(tables.modulation_destinations())
        for k, m in enumerate(mods):
            s, d = m.get("source", ""), m.get("destination", "")
            if (s or d) and (s not in srcs or d not in dsts):
                problems.append(f"modulation slot {k + 1} has unknown names {s!r} → {d!r}")
    if not isinstance(settings.get("sample"), dict):
        problems.append("settings.sample is missing")
    for name, info in tables.controls().items():
        v = settings.get(name)
        if not isinstance(v, float):
            problems.append(f"control {name} is {type(v).__name__}, not a float")
            continue
        if not math.isfinite(v) or v < info.min - 1e-6 or v > info.max + 1e-6:
            problems.append(f"control {name}={v} outside [{info.min}, {info.max}]")
        elif info.scale == "Indexed" and v != round(v):
            problems.append(f"indexed control {name}={v} is not integer-valued")
    for name in ("osc_1_destination", "osc_2_destination", "osc_3_destination", "sample_destination"):
        if isinstance(settings.get(name), float) and settings[name] > 4:
            problems.append(f"{name}={settings[name]} renders silence (valid: 0–4)")
    return problems
