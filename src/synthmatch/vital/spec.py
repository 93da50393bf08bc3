"""The parameter space of Vital, declared once, as data.

Every stage of synthmatch (codec, samplers, models, search, explain) reads this module; nothing
else knows which controls exist, their ranges, how they are normalised, when they are active,
how they are sampled, or how much they matter to the ear.

The space is built from the engine's own control table (:mod:`synthmatch.vital.tables`) plus the
decisions below:

* ``EXCLUDED`` — controls left out, each with the reason (they do not change the sound of a
  single rendered note, or they are represented elsewhere).
* ``_KIND_OVERRIDES`` / ``_categorical_values`` — which controls are categorical, boolean or
  discrete, and which option values are valid (e.g. oscillator destinations 0–4 only).
* ``_activity_rule`` — the rule that makes each control inactive (oscillator off, effect off,
  envelope not routed, LFO in tempo mode, …).
* ``_PRIOR_FIXED`` / ``_WEIGHTS`` — sampling priors and perceptual weights.
* The modulation matrix is declared as :data:`N_MOD_SLOTS` slots of (source, destination,
  amount, bipolar, power, stereo) over the engine's declared source and destination names.

Normalisation is our own and linear over the internal range (Vital's internal units are already
perceptual: semitones, log2 Hz, quartic seconds). `vita`'s ``set_normalized`` is wrong for
exponential controls and is never used.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from synthmatch.errors import ParameterError
from synthmatch.vital import tables
from synthmatch.vital.effects import EFFECTS, MAX_ORDER_CODE

Kind = Literal["continuous", "discrete", "categorical", "bool"]
Prior = Literal["uniform", "fixed"]

#: Modulation-matrix slots represented in the parameter vector (hand-made presets use ≤ 25).
N_MOD_SLOTS = 32
#: Source/destination value for an empty modulation slot in categorical form.
NO_CONNECTION = "none"
#: The on/off switches of the sound sources (three oscillators and the sample).
SOURCE_SWITCHES: tuple[str, ...] = ("osc_1_on", "osc_2_on", "osc_3_on", "sample_on")
#: The on/off switch of every optional module: sources, the two filters, the effects.
MODULE_SWITCHES: tuple[str, ...] = (
    *SOURCE_SWITCHES,
    "filter_1_on",
    "filter_2_on",
    *(f"{fx}_on" for fx in EFFECTS),
)

# ---------------------------------------------------------------------------------------
# Controls left out of the space, with the reason. Patterns are full-match regexes.
# ---------------------------------------------------------------------------------------
EXCLUDED: dict[str, str] = {
    r"bypass": "global bypass switch; a preset never ships bypassed and it silences the synth",
    r"osc_[123]_view_2d": "display-only (oscillator 2D/3D view)",
    r"view_spectrogram": "display-only",
    r"polyphony": "no effect on a single rendered note (measured: max diff 0)",
    r"voice_priority": "no effect on a single rendered note (measured: max diff 0)",
    r"voice_override": "no effect on a single rendered note (measured: max diff 0)",
    r"legato": "no effect on a single rendered note (measured: max diff 0)",
    r"mpe_enabled": "no effect without MPE input (measured: max diff 0)",
    r"pitch_bend_range": "the pitch wheel does not bend pitch in the engine (measured: max diff 0)",
    r"portamento_(time|force|slope|scale)": "glides need a previous note; the probe plays one note",
    r"modulation_\d+_(amount|bipolar|power|stereo|bypass)": (
        "represented by the modulation matrix (Preset.modulations / mod_K_* slots)"
    ),
}

# ---------------------------------------------------------------------------------------
# Kinds. Indexed controls with Off/On options are bool; Indexed with option names are
# categorical; other Indexed are discrete (ordered integers); the rest are continuous.
# ---------------------------------------------------------------------------------------
_DISCRETE_ORDERED = (
    r"osc_[123]_transpose",
    r"sample_transpose",
    r"voice_transpose",
    r"osc_[123]_unison_voices",
    r"chorus_voices",
    r"(lfo_\d|random_\d)_keytrack_transpose",
    r"osc_[123]_transpose_quantize",
    r"sample_transpose_quantize",
    r"effect_chain_order",
)

#: Number of valid filter styles for each filter model (Vital's interface).
FILTER_STYLES_PER_MODEL: dict[int, int] = {0: 5, 1: 5, 2: 5, 3: 5, 4: 2, 5: 2, 6: 6, 7: 2}
_FILTER_STYLE_NAMES = {
    "standard": ("12dB", "24dB", "Notch Blend", "Notch Spread", "B/P/N"),
    4: ("Low Shelf", "Low Cut"),
    5: ("AOIE", "AIUO"),
    6: (
        "Low High Comb",
        "Low High Flange+",
        "Low High Flange-",
        "Band Spread Comb",
        "Band Spread Flange+",
        "Band Spread Flange-",
    ),
    7: ("Positive", "Negative"),
}


def filter_style_name(model: int, style: int) -> str:
    """The interface label of a filter style for a given filter model."""
    names = _FILTER_STYLE_NAMES.get(int(model), _FILTER_STYLE_NAMES["standard"])
    style = min(max(int(style), 0), len(names) - 1)
    return names[style]


def _categorical_values(name: str, info: tables.ControlInfo) -> tuple[float, ...]:
    """The valid internal values of a categorical control (may be a subset of the engine's)."""
    if re.fullmatch(r"(osc_[123]|sample)_destination", name):
        return (0.0, 1.0, 2.0, 3.0, 4.0)  # 5–13 render silence (ProducersModule routes 0–4 only)
    if re.fullmatch(r"filter_(1|2|fx)_style", name):
        return tuple(float(i) for i in range(max(FILTER_STYLES_PER_MODEL.values())))
    if re.fullmatch(r"osc_[123]_view_2d|view_spectrogram", name):
        return (0.0, 1.0)
    return tuple(float(v) for v in range(int(info.min), int(info.max) + 1))


# ---------------------------------------------------------------------------------------
# Sampling priors and perceptual weights.
# ---------------------------------------------------------------------------------------
#: Controls a sampler keeps at a fixed value (the given one, else the engine default):
#: they matter for faithful round trips of real presets but are not worth exploring.
_PRIOR_FIXED: dict[str, float | None] = {
    r"osc_[123]_random_phase": 0.0,  # deterministic renders
    r"oversampling": None,
    r"beats_per_minute": None,
    r"(osc_[123]|sample)_transpose_quantize": None,
    r"stereo_mode": None,
    r"voice_amplitude": None,
    r"voice_tune": None,
    r"voice_transpose": None,
    r"volume": None,
    r"sample_random_phase": 0.0,
    r"(lfo_\d|random_\d)_keytrack_(transpose|tune)": None,
    r"lfo_\d_stereo": None,
    r"random_\d_stereo": None,
    r"(mod_wheel|pitch_wheel)": None,
    r"velocity_track": None,
    r"stereo_routing": None,
}

#: Perceptual weights (1.0 unless listed). Used by parameter metrics and losses.
_WEIGHTS: dict[str, float] = {
    r"osc_[123]_(on|level|transpose|wave_frame|unison_voices)": 3.0,
    r"osc_[123]_(tune|unison_detune|distortion_type|spectral_morph_type|distortion_amount|spectral_morph_amount)": 2.0,
    r"filter_[12]_(on|model|cutoff|resonance|style)": 3.0,
    r"filter_[12]_(drive|keytrack|mix|blend)": 1.5,
    r"env_1_(attack|decay|sustain|release)": 3.0,
    r"env_[2-6]_(attack|decay|sustain|release)": 1.5,
    r"(chorus|delay|distortion|reverb|flanger|phaser|eq|compressor|filter_fx)_on": 2.0,
    r"(chorus|delay|reverb|flanger|phaser)_dry_wet": 1.5,
    r"distortion_drive": 1.5,
    r"mod_\d+_(source|destination|amount)": 2.0,
    r"osc_[123]_(phase|distortion_phase|random_phase|pan|stereo_spread)": 0.5,
    r"(lfo_\d|random_\d)_(stereo|keytrack_tune)": 0.5,
    r"beats_per_minute|oversampling|stereo_mode|(osc_[123]|sample)_transpose_quantize": 0.25,
}


def _first_match(table: Mapping[str, object], name: str) -> object | None:
    for pattern, value in table.items():
        if re.fullmatch(pattern, name):
            return value
    return None


# ---------------------------------------------------------------------------------------
# Activity rules.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """``param``'s value must be one of ``values`` (compared after rounding)."""

    param: str
    values: tuple[float, ...]

    def holds(self, values: Mapping[str, float]) -> bool:
        v = values.get(self.param)
        if v is None:
            return False
        return any(abs(float(v) - w) < 0.5 for w in self.values)


@dataclass(frozen=True)
class Activity:
    """When a control matters: all ``conditions`` hold and every source in ``sources`` is routed."""

    conditions: tuple[Condition, ...] = ()
    sources: tuple[str, ...] = ()


_ON = (1.0,)
_SECONDS = (0.0,)
_TEMPO = (1.0, 2.0, 3.0)
_KEYTRACK = (4.0,)


def _sync_conditions(prefix: str, name: str, sync_param: str) -> list[Condition]:
    conds: list[Condition] = []
    if name in (f"{prefix}_frequency", f"{prefix}_aux_frequency"):
        conds.append(Condition(sync_param, _SECONDS))
    elif name in (f"{prefix}_tempo", f"{prefix}_aux_tempo"):
        conds.append(Condition(sync_param, _TEMPO))
    elif name in (f"{prefix}_keytrack_transpose", f"{prefix}_keytrack_tune"):
        conds.append(Condition(sync_param, _KEYTRACK))
    return conds


def _activity_rule(name: str) -> Activity:
    """The rule that makes control ``name`` inactive."""
    m = re.fullmatch(r"osc_([123])_(.+)", name)
    if m:
        osc, rest = m.groups()
        if rest == "on":
            return Activity()
        conds = [Condition(f"osc_{osc}_on", _ON)]
        # stereo_spread and stack_style matter with one voice too ("Center Drop 12" drops it)
        if rest in (
            "unison_detune",
            "unison_blend",
            "detune_power",
            "detune_range",
            "frame_spread",
            "spectral_unison",
        ):
            conds.append(Condition(f"osc_{osc}_unison_voices", tuple(float(v) for v in range(2, 17))))
        if rest in ("spectral_morph_amount", "spectral_morph_spread"):
            conds.append(Condition(f"osc_{osc}_spectral_morph_type", tuple(float(v) for v in range(1, 12))))
        if rest in ("distortion_amount", "distortion_spread", "distortion_phase"):
            conds.append(Condition(f"osc_{osc}_distortion_type", tuple(float(v) for v in range(1, 13))))
        return Activity(tuple(conds))
    if name.startswith("sample_"):
        return Activity(() if name == "sample_on" else (Condition("sample_on", _ON),))
    m = re.fullmatch(r"filter_(1|2|fx)_(.+)", name)
    if m:
        which, rest = m.groups()
        if rest == "on":
            return Activity()
        conds = [Condition(f"filter_{which}_on", _ON)]
        if rest.startswith("formant_"):
            conds.append(Condition(f"filter_{which}_model", (5.0,)))
        if rest == "blend_transpose":
            conds.append(Condition(f"filter_{which}_model", (6.0,)))
        return Activity(tuple(conds))
    m = re.fullmatch(r"env_([1-6])_.+", name)
    if m:
        return Activity(sources=() if m.group(1) == "1" else (f"env_{m.group(1)}",))
    m = re.fullmatch(r"(lfo_\d|random_\d)_.+", name)
    if m:
        prefix = m.group(1)
        return Activity(tuple(_sync_conditions(prefix, name, f"{prefix}_sync")), sources=(prefix,))
    m = re.fullmatch(r"(macro_control_\d|mod_wheel|pitch_wheel)", name)
    if m:
        return Activity(sources=(name,))
    for fx in EFFECTS:
        if fx == "filter_fx":
            continue
        if name.startswith(fx + "_"):
            if name == f"{fx}_on":
                return Activity()
            conds = [Condition(f"{fx}_on", _ON)]
            if fx in ("chorus", "flanger", "phaser"):
                conds += _sync_conditions(fx, name, f"{fx}_sync")
            if fx == "delay":
                if name in ("delay_frequency", "delay_tempo"):
                    conds += _sync_conditions("delay", name, "delay_sync")
                if name in ("delay_aux_frequency", "delay_aux_tempo"):
                    conds += _sync_conditions("delay", name.replace("aux_", ""), "delay_aux_sync")
                    # right-channel time: Stereo, Ping Pong and Mid Ping Pong styles
                    conds.append(Condition("delay_style", (1.0, 2.0, 3.0)))
                if name == "delay_aux_sync":
                    conds.append(Condition("delay_style", (1.0, 2.0, 3.0)))
            if (
                fx == "distortion"
                and name.startswith("distortion_filter_")
                and name != "distortion_filter_order"
            ):
                conds.append(Condition("distortion_filter_order", (1.0, 2.0)))
            return Activity(tuple(conds))
    return Activity()


# ---------------------------------------------------------------------------------------
# ParamSpec and ParamSpace.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParamSpec:
    """One parameter of the space.

    ``min``/``max`` are the engine's internal units. ``to_normalized``/``from_normalized`` map
    linearly between them and [0, 1]; ``from_normalized`` clamps and rounds. Categorical
    parameters hold an option index into ``values`` in categorical form.
    """

    name: str
    kind: Kind
    min: float
    max: float
    default: float
    module: str
    activity: Activity = field(default_factory=Activity)
    values: tuple[float, ...] = ()  # valid internal values (categorical only)
    options: tuple[str, ...] = ()  # option labels, aligned with ``values``
    prior: Prior = "uniform"
    fixed_value: float | None = None  # for prior == "fixed"; None means ``default``
    weight: float = 1.0
    engine_scale: str = "Linear"
    display_name: str = ""
    units: str = ""

    @property
    def span(self) -> float:
        return self.max - self.min

    def clamp(self, value: float) -> float:
        """Clamp to [min, max], round discrete/bool, snap categorical to the nearest valid value."""
        v = float(value)
        if not math.isfinite(v):
            raise ParameterError(
                f"{self.name}={value!r} is not a finite number. Hint: use a value in [{self.min}, {self.max}]."
            )
        if self.kind == "categorical":
            return min(self.values, key=lambda w: abs(w - v))
        v = min(max(v, self.min), self.max)
        if self.kind in ("discrete", "bool"):
            v = float(round(v))
        return v

    def to_normalized(self, value: float) -> float:
        """Internal value → [0, 1] (linear). Categorical: index / (n - 1)."""
        if self.kind == "categorical":
            n = len(self.values)
            return self.category_index(value) / max(n - 1, 1)
        if self.span == 0:
            return 0.0
        return (self.clamp(value) - self.min) / self.span

    def from_normalized(self, x: float) -> float:
        """[0, 1] → internal value, clamped and rounded."""
        x = min(max(float(x), 0.0), 1.0)
        if self.kind == "categorical":
            return self.values[round(x * (len(self.values) - 1))]
        return self.clamp(self.min + x * self.span)

    def category_index(self, value: float) -> int:
        """Index of the valid value nearest to ``value`` (categorical only)."""
        if self.kind != "categorical":
            raise ParameterError(f"{self.name} is {self.kind}, not categorical")
        v = float(value)
        return int(np.argmin([abs(w - v) for w in self.values]))

    def sample_value(self) -> float | None:
        """The value a sampler uses when ``prior == 'fixed'``."""
        if self.prior != "fixed":
            return None
        return self.default if self.fixed_value is None else self.fixed_value

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "min": self.min,
            "max": self.max,
            "default": self.default,
            "module": self.module,
            "values": list(self.values),
            "options": list(self.options),
            "prior": self.prior,
            "fixed_value": self.fixed_value,
            "weight": self.weight,
            "activity": {
                "conditions": [[c.param, list(c.values)] for c in self.activity.conditions],
                "sources": list(self.activity.sources),
            },
        }


def _module_of(name: str) -> str:
    m = re.match(r"(osc_[123]|filter_(?:1|2|fx)|env_\d|lfo_\d|random_\d|macro_control_\d|mod_\d+)", name)
    if m:
        return m.group(1)
    if name.startswith("sample_"):
        return "sample"
    for fx in EFFECTS:
        if name.startswith(fx + "_"):
            return fx
    if name == "effect_chain_order":
        return "effect_order"
    return "voice"


def excluded_reason(name: str) -> str | None:
    """Why a control is left out of the space, or None when it is in it."""
    reason = _first_match(EXCLUDED, name)
    return None if reason is None else str(reason)


def _control_spec(info: tables.ControlInfo) -> ParamSpec:
    name = info.name
    if info.scale != "Indexed":
        kind: Kind = "continuous"
    elif info.options and tuple(info.options) == ("Off", "On"):
        kind = "bool"
    elif any(re.fullmatch(p, name) for p in _DISCRETE_ORDERED) or not info.options:
        kind = "discrete"
    else:
        kind = "categorical"
    values: tuple[float, ...] = ()
    options: tuple[str, ...] = ()
    if kind == "categorical":
        values = _categorical_values(name, info)
        opts = list(info.options)
        offset = int(info.min)
        options = tuple(
            opts[int(v) - offset] if 0 <= int(v) - offset < len(opts) else f"Option {int(v) + 1}"
            for v in values
        )
    fixed = None
    prior: Prior = "uniform"
    for pattern, val in _PRIOR_FIXED.items():
        if re.fullmatch(pattern, name):
            prior, fixed = "fixed", val
            break
    weight = _first_match(_WEIGHTS, name)
    default = info.default
    if kind == "categorical" and values:
        default = min(values, key=lambda w: abs(w - default))
    return ParamSpec(
        name=name,
        kind=kind,
        min=info.min,
        max=info.max if name != "effect_chain_order" else float(MAX_ORDER_CODE),
        default=default,
        module=_module_of(name),
        activity=_activity_rule(name),
        values=values,
        options=options,
        prior=prior,
        fixed_value=fixed,
        weight=float(weight) if weight is not None else 1.0,
        engine_scale=info.scale,
        display_name=info.display_name,
        units=info.units.strip(),
    )


def _mod_slot_specs(slot: int) -> list[ParamSpec]:
    sources = (NO_CONNECTION, *tables.modulation_sources())
    dests = (NO_CONNECTION, *tables.modulation_destinations())
    connected = Condition(f"mod_{slot}_source", tuple(float(i) for i in range(1, len(sources))))
    act = Activity((connected,))
    weight = lambda part: float(_first_match(_WEIGHTS, f"mod_{slot}_{part}") or 1.0)  # noqa: E731
    return [
        ParamSpec(
            f"mod_{slot}_source",
            "categorical",
            0.0,
            float(len(sources) - 1),
            0.0,
            f"mod_{slot}",
            Activity(),
            tuple(float(i) for i in range(len(sources))),
            sources,
            weight=weight("source"),
        ),
        ParamSpec(
            f"mod_{slot}_destination",
            "categorical",
            0.0,
            float(len(dests) - 1),
            0.0,
            f"mod_{slot}",
            act,
            tuple(float(i) for i in range(len(dests))),
            dests,
            weight=weight("destination"),
        ),
        ParamSpec(
            f"mod_{slot}_amount", "continuous", -1.0, 1.0, 0.0, f"mod_{slot}", act, weight=weight("amount")
        ),
        ParamSpec(f"mod_{slot}_bipolar", "bool", 0.0, 1.0, 0.0, f"mod_{slot}", act),
        ParamSpec(f"mod_{slot}_power", "continuous", -10.0, 10.0, 0.0, f"mod_{slot}", act, weight=0.5),
        ParamSpec(f"mod_{slot}_stereo", "bool", 0.0, 1.0, 0.0, f"mod_{slot}", act, weight=0.5),
    ]


@dataclass(frozen=True)
class VectorLayout:
    """Where each parameter lives in the numeric vector or the categorical index array."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]


class ParamSpace:
    """An ordered collection of :class:`ParamSpec` with vector codecs and activity evaluation."""

    def __init__(self, specs: Iterable[ParamSpec], *, n_mod_slots: int = N_MOD_SLOTS) -> None:
        self.specs: tuple[ParamSpec, ...] = tuple(specs)
        self.by_name: dict[str, ParamSpec] = {s.name: s for s in self.specs}
        if len(self.by_name) != len(self.specs):
            raise ValueError("duplicate parameter names in the space")
        self.n_mod_slots = n_mod_slots
        self.layout = VectorLayout(
            numeric=tuple(s.name for s in self.specs if s.kind != "categorical"),
            categorical=tuple(s.name for s in self.specs if s.kind == "categorical"),
        )

    # -- lookup --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> ParamSpec:
        try:
            return self.by_name[name]
        except KeyError:
            hint = excluded_reason(name)
            extra = f" It is excluded: {hint}." if hint else " Hint: see ParamSpace.names() for valid names."
            raise ParameterError(f"unknown parameter {name!r}.{extra}") from None

    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def control_names(self) -> list[str]:
        """Names of engine controls in the space (modulation slots excluded)."""
        return [s.name for s in self.specs if not s.module.startswith("mod_")]

    @property
    def categorical_sizes(self) -> list[int]:
        return [len(self.by_name[n].values) for n in self.layout.categorical]

    # -- hashing -------------------------------------------------------------------------
    @functools.cached_property
    def spec_hash(self) -> str:
        """A short hash of the vector layout (names, kinds, ranges, valid values, option labels).

        Artifacts (datasets, libraries, checkpoints) store it and check it on load. Activity
        rules, priors and weights are left out: changing them does not change what a stored
        vector or value means.
        """
        layout = [[s.name, s.kind, s.min, s.max, list(s.values), list(s.options)] for s in self.specs]
        return hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:16]

    # -- activity ------------------------------------------------------------------------
    def active_mask(self, values: Mapping[str, float], used_sources: Iterable[str]) -> dict[str, bool]:
        """Which parameters matter for the sound, given all values and the routed sources."""
        used = set(used_sources)
        out = {}
        for s in self.specs:
            act = s.activity
            out[s.name] = all(c.holds(values) for c in act.conditions) and all(
                src in used for src in act.sources
            )
        return out

    # -- vectors -------------------------------------------------------------------------
    def encode(self, values: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """Values (internal units, all parameters) → (numeric [0,1] vector, categorical indices).

        Returns
        -------
        x : np.ndarray float32 [shape=(n_numeric,)]
        c : np.ndarray int64 [shape=(n_categorical,)]
        """
        x = np.empty(len(self.layout.numeric), dtype=np.float32)
        for i, n in enumerate(self.layout.numeric):
            s = self.by_name[n]
            x[i] = s.to_normalized(values.get(n, s.default))
        c = np.empty(len(self.layout.categorical), dtype=np.int64)
        for i, n in enumerate(self.layout.categorical):
            s = self.by_name[n]
            c[i] = s.category_index(values.get(n, s.default))
        return x, c

    def decode(self, x: np.ndarray, c: np.ndarray) -> dict[str, float]:
        """Inverse of :meth:`encode` (clamps and rounds)."""
        x = np.asarray(x, dtype=np.float64)
        c = np.asarray(c)
        if x.shape != (len(self.layout.numeric),) or c.shape != (len(self.layout.categorical),):
            raise ParameterError(
                f"vector shapes {x.shape}/{c.shape} do not match the space "
                f"({len(self.layout.numeric)},)/({len(self.layout.categorical)},). "
                "Hint: the vector was made for another parameter space; check its spec hash."
            )
        out: dict[str, float] = {}
        for i, n in enumerate(self.layout.numeric):
            out[n] = self.by_name[n].from_normalized(float(x[i]))
        for i, n in enumerate(self.layout.categorical):
            s = self.by_name[n]
            k = int(c[i])
            if not 0 <= k < len(s.values):
                raise ParameterError(f"category index {k} for {n} is outside [0, {len(s.values) - 1}]")
            out[n] = s.values[k]
        return out

    def validate_values(self, values: Mapping[str, float]) -> dict[str, float]:
        """Clamp and round every value; raise for unknown names. Applies cross-parameter rules."""
        out = {}
        for name, v in values.items():
            out[name] = self[name].clamp(v)
        for which in ("1", "2", "fx"):
            model = out.get(f"filter_{which}_model")
            style = out.get(f"filter_{which}_style")
            if model is not None and style is not None:
                n = FILTER_STYLES_PER_MODEL.get(int(model), 5)
                out[f"filter_{which}_style"] = float(min(int(style), n - 1))
        return out


@functools.lru_cache(maxsize=4)
def default_space(n_mod_slots: int = N_MOD_SLOTS) -> ParamSpace:
    """The declared parameter space of Vital used across synthmatch."""
    specs = [
        _control_spec(info)
        for name, info in sorted(tables.controls().items())
        if excluded_reason(name) is None
    ]
    for k in range(1, n_mod_slots + 1):
        specs.extend(_mod_slot_specs(k))
    return ParamSpace(specs, n_mod_slots=n_mod_slots)


def excluded_controls() -> dict[str, str]:
    """Every engine control left out of the space, with the reason."""
    return {name: r for name in sorted(tables.controls()) if (r := excluded_reason(name)) is not None}
