"""Vital's displayed values: internal value ⇄ the text and unit a musician sees and types.

The conversion reads the engine's control table (:mod:`synthmatch.vital.tables`): the value
scale transforms the internal value (Quadratic v², Cubic v³, Quartic v⁴, SquareRoot √v,
Exponential 2^v), then ``display_multiply`` and ``post_offset`` apply, as in Vital's
``ValueDetails``. On top of the engine text, a few deliberate deviations make values readable
and unambiguous (all checked against ``vita``'s ``get_control_text`` in the tests):

* **Cutoffs in Hz.** Filter, EQ and effect cutoffs/centres are MIDI-note semitones internally;
  the engine shows them as semitones (``v - 60`` for the filters). We show
  ``440 · 2^((v - 69) / 12)`` Hz, in kHz from 1 kHz.
* **Times in ms or s.** Seconds below 1 s are shown in ms. Exponential LFO/effect *frequencies*
  in "Seconds" sync mode are shown as the period, like Vital (``1 / 2^v`` seconds).
* **Units the engine leaves blank**: transposes in semitones, tunes in cents, phases in
  degrees, unison voices in voices, tempo in BPM.
* **Option names**: filter styles use the names of the selected filter model
  (:func:`synthmatch.vital.spec.filter_style_name`); the oscillator FM/RM distortion types name
  the other oscillator ("FM <- Osc 2"), where the engine repeats "FM <- Osc".
* **Precision.** A number is shown with the fewest significant digits (at least
  :data:`MIN_SIGNIFICANT`) that parse back to the same 32-bit float the preset stores, so a
  recipe followed from its displayed values rebuilds the preset exactly. Values a person typed
  stay short ("0.5", "2 semitones"); values left by dragging a knob can need 7–9 digits
  (measured: rounding them to 3–6 digits moved LFO rates, unison detune and pitch envelopes
  enough to drop the rebuilt render below 40 dB SNR on real presets, by phase drift over
  the note). :func:`rounded_text` gives a :data:`ROUNDED_SIGNIFICANT`-digit reading for people.
  The engine itself prints ``%f``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from synthmatch.errors import ParameterError
from synthmatch.vital import tables
from synthmatch.vital.effects import EFFECT_LABELS, EFFECTS, decode_order, encode_order
from synthmatch.vital.spec import FILTER_STYLES_PER_MODEL, ParamSpec, default_space, filter_style_name

#: Fewest significant digits shown for a continuous value.
MIN_SIGNIFICANT = 3
#: Most significant digits shown for a continuous value.
MAX_SIGNIFICANT = 12
#: Significant digits of the rounded reading given next to long values.
ROUNDED_SIGNIFICANT = 3
#: Characters of a number a Vital knob shows (``SynthSlider::kDefaultFormatLength``; a minus
#: sign comes on top). The knob prints 5 decimals and keeps the first 5 characters.
KNOB_CHARACTERS = 5

# Controls whose internal value is a MIDI note (semitones); shown in Hz.
_CUTOFF = re.compile(
    r"filter_(1|2|fx)_cutoff|chorus_cutoff|delay_filter_cutoff|distortion_filter_cutoff"
    r"|eq_(low|band|high)_cutoff|flanger_center|phaser_center"
    r"|reverb_(high|low)_shelf_cutoff|reverb_pre_(high|low)_cutoff"
)
# Exponential "frequency" controls shown as a period in seconds (Vital's display_invert).
_INVERTED = re.compile(r"(lfo_\d|random_\d|chorus|flanger|phaser|delay|delay_aux)_frequency")
_SEMITONES = re.compile(
    r"(osc_[123]|sample|voice)_transpose|(lfo_\d|random_\d)_keytrack_transpose"
    r"|osc_[123]_detune_range|filter_(1|2|fx)_formant_transpose"
)
_CENTS = re.compile(r"(osc_[123]|sample)_tune|(lfo_\d|random_\d)_keytrack_tune")
_DEGREES = re.compile(r"osc_[123]_(distortion_)?phase|(flanger|phaser)_phase_offset")
_VOICES = re.compile(r"osc_[123]_unison_voices|chorus_voices")

_UNIT_ALIASES = {
    "": "",
    "hz": "Hz",
    "khz": "kHz",
    "ms": "ms",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "db": "dB",
    "%": "%",
    "semitone": "semitones",
    "semitones": "semitones",
    "st": "semitones",
    "cent": "cents",
    "cents": "cents",
    "°": "°",
    "deg": "°",
    "degrees": "°",
    "v": "voices",
    "voice": "voices",
    "voices": "voices",
    "bpm": "BPM",
}
_NO_SPACE_UNITS = ("%", "°")
_NUMBER = re.compile(r"^\s*([-+−]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


@dataclass(frozen=True)
class DisplayValue:
    """A value as Vital shows it: ``text`` (number or option name) and ``unit`` ("" if none)."""

    text: str
    unit: str = ""

    def __str__(self) -> str:
        if not self.unit:
            return self.text
        sep = "" if self.unit in _NO_SPACE_UNITS else " "
        return f"{self.text}{sep}{self.unit}"


# ---------------------------------------------------------------------------------------
# number formatting
# ---------------------------------------------------------------------------------------
def format_number(x: float, significant: int) -> str:
    """``x`` with ``significant`` significant digits, fixed-point, trailing zeros stripped."""
    if not math.isfinite(x):
        raise ParameterError(f"cannot display the non-finite value {x!r}")
    if x == 0:
        return "0"
    decimals = max(0, significant - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", "+0"):
        text = "0"
    return text


# ---------------------------------------------------------------------------------------
# per-control conversions
# ---------------------------------------------------------------------------------------
def _spec(name: str) -> ParamSpec | None:
    space = default_space()
    return space.by_name.get(name)


def _info(name: str) -> tables.ControlInfo:
    info = tables.controls().get(name)
    if info is None:
        raise ParameterError(
            f"unknown control {name!r}. Hint: see synthmatch.vital.tables.controls() for valid names."
        )
    return info


def base_unit(name: str) -> str:
    """The unit a control's number is expressed in before auto-scaling (Hz, s, dB, %, …)."""
    info = _info(name)
    units = info.units.strip()
    if _CUTOFF.fullmatch(name):
        return "Hz"
    if units in ("secs", "ms"):
        return "s"
    if _SEMITONES.fullmatch(name):
        return "semitones"
    if _CENTS.fullmatch(name) or units == "cents":
        return "cents"
    if _DEGREES.fullmatch(name):
        return "°"
    if _VOICES.fullmatch(name) or units in ("v", "voices"):
        return "voices"
    if name == "beats_per_minute":
        return "BPM"
    return _UNIT_ALIASES.get(units.lower(), units)


def _forward(name: str, v: float) -> float:
    """Internal value → the number in :func:`base_unit` (before ms/kHz scaling)."""
    info = _info(name)
    if _CUTOFF.fullmatch(name):
        return 440.0 * 2.0 ** ((v - 69.0) / 12.0)
    scale = info.scale
    if scale == "Quadratic":
        y = v * v
    elif scale == "Cubic":
        y = v * v * v
    elif scale == "Quartic":
        y = v**4
    elif scale == "SquareRoot":
        y = math.sqrt(max(v, 0.0))
    elif scale == "Exponential":
        y = 2.0**-v if _INVERTED.fullmatch(name) else 2.0**v
    else:
        y = v
    y = y * info.display_multiply + info.post_offset
    if info.units.strip() == "ms":
        y /= 1000.0
    return y


def _inverse(name: str, y: float) -> float:
    """The number in :func:`base_unit` → internal value (inverse of :func:`_forward`)."""
    info = _info(name)
    if _CUTOFF.fullmatch(name):
        if y <= 0:
            raise ParameterError(f"{name}: a frequency must be positive, got {y} Hz")
        return 69.0 + 12.0 * math.log2(y / 440.0)
    if info.units.strip() == "ms":
        y *= 1000.0
    y = (y - info.post_offset) / info.display_multiply
    scale = info.scale
    if scale == "Quadratic":
        return math.sqrt(max(y, 0.0))
    if scale == "Cubic":
        return math.copysign(abs(y) ** (1.0 / 3.0), y)
    if scale == "Quartic":
        return max(y, 0.0) ** 0.25
    if scale == "SquareRoot":
        return y * y
    if scale == "Exponential":
        if y <= 0:
            raise ParameterError(f"{name}: the displayed value must be positive, got {y}")
        return -math.log2(y) if _INVERTED.fullmatch(name) else math.log2(y)
    return y


def _scale_unit(unit: str, y: float) -> tuple[float, str]:
    if unit == "Hz" and abs(y) >= 1000.0:
        return y / 1000.0, "kHz"
    if unit == "s" and abs(y) < 1.0:
        return y * 1000.0, "ms"
    return y, unit


def _unscale_unit(unit: str, y: float) -> float:
    if unit == "kHz":
        return y * 1000.0
    if unit == "ms":
        return y / 1000.0
    return y


def option_names(name: str, *, context: Mapping[str, float] | None = None) -> tuple[str, ...] | None:
    """The option labels of a categorical or switch control (None for numeric controls).

    ``context`` (other values of the preset) is needed for filter styles, whose names depend on
    the filter model.
    """
    m = re.fullmatch(r"filter_(1|2|fx)_style", name)
    if m:
        model_name = f"filter_{m.group(1)}_model"
        model = (context or {}).get(model_name, _info(model_name).default)
        n = FILTER_STYLES_PER_MODEL.get(round(float(model)), 5)
        return tuple(filter_style_name(round(float(model)), k) for k in range(n))
    m = re.fullmatch(r"osc_([123])_distortion_type", name)
    if m:
        others = [k for k in (1, 2, 3) if k != int(m.group(1))]
        spec = _spec(name)
        opts = list(spec.options if spec else _info(name).options)
        if len(opts) >= 13:
            opts[7], opts[8] = f"FM <- Osc {others[0]}", f"FM <- Osc {others[1]}"
            opts[10], opts[11] = f"RM <- Osc {others[0]}", f"RM <- Osc {others[1]}"
        return tuple(opts)
    spec = _spec(name)
    if spec is not None and spec.kind == "categorical":
        return spec.options
    info = _info(name)
    if info.scale == "Indexed" and info.options and name != "effect_chain_order":
        if spec is not None and spec.kind == "bool":
            return ("Off", "On")
        if spec is None or spec.kind != "discrete":
            return info.options
    return None


def _option_offset(name: str) -> int:
    spec = _spec(name)
    if spec is not None and spec.kind == "categorical":
        return int(spec.values[0]) if spec.values else 0
    return int(_info(name).min)


def _same_float32(a: float, b: float) -> bool:
    return bool(np.float32(a) == np.float32(b))


# ---------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------
def display_value(
    name: str,
    value: float,
    *,
    context: Mapping[str, float] | None = None,
    significant: int | None = None,
) -> DisplayValue:
    """Vital's displayed text and unit for control ``name`` at internal ``value``.

    Parameters
    ----------
    name : str
        An engine control name (``filter_1_cutoff``, ``env_1_attack``, …).
    value : float
        The internal value (as stored in a preset).
    context : mapping, optional
        Other internal values of the preset (the filter model for a filter style).
    significant : int, optional
        Fixed significant digits; by default the fewest (from :data:`MIN_SIGNIFICANT`) that
        parse back to the same 32-bit float as ``value``.
    """
    v = float(value)
    if name == "effect_chain_order":
        order = decode_order(v)
        return DisplayValue(" → ".join(EFFECT_LABELS[EFFECTS[i]] for i in order))
    info = _info(name)
    opts = option_names(name, context=context)
    if opts is not None:
        k = round(v) - _option_offset(name)
        k = min(max(k, 0), len(opts) - 1)
        return DisplayValue(opts[k])
    unit = base_unit(name)
    y = _forward(name, v)
    if info.scale == "Indexed":
        text = format_number(round(y, 6), 12)
        return DisplayValue(text, "voice" if unit == "voices" and text == "1" else unit)
    shown, shown_unit = _scale_unit(unit, y)
    if significant is not None:
        return DisplayValue(format_number(shown, significant), shown_unit)
    text = format_number(shown, 17)
    for sig in range(MIN_SIGNIFICANT, MAX_SIGNIFICANT + 1):
        cand = format_number(shown, sig)
        try:
            back = _inverse(name, _unscale_unit(shown_unit, float(cand)))
        except (ParameterError, ValueError, OverflowError):
            continue
        if _same_float32(back, v):
            text = cand
            break
    return DisplayValue(text, shown_unit)


def display_text(name: str, value: float, *, context: Mapping[str, float] | None = None) -> str:
    """``str(display_value(...))``: e.g. ``"2.4 kHz"``, ``"35%"``, ``"24dB"`` (a style name)."""
    return str(display_value(name, value, context=context))


def rounded_text(name: str, value: float, *, context: Mapping[str, float] | None = None) -> str:
    """A short reading of the value (:data:`ROUNDED_SIGNIFICANT` significant digits), e.g. "37.7 ms"."""
    return str(display_value(name, value, context=context, significant=ROUNDED_SIGNIFICANT))


def knob_number(x: float) -> str:
    """``x`` in at most :data:`KNOB_CHARACTERS` characters (plus a sign), rounded, as a knob shows
    it: 2637.23 → "2637", 12.3456 → "12.35", 0.0039314 → "0.004"."""
    if not math.isfinite(x):
        raise ParameterError(f"cannot display the non-finite value {x!r}")
    for decimals in range(5, -1, -1):
        text = f"{x:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if text in ("-0", "+0"):
            text = "0"
        if len(text.lstrip("-")) <= KNOB_CHARACTERS:
            return text
    return text


def knob_value(name: str, value: float, *, context: Mapping[str, float] | None = None) -> DisplayValue:
    """The value as a Vital knob shows it: :func:`display_value`'s unit, the number in
    :data:`KNOB_CHARACTERS` characters (option names and whole-number controls unchanged)."""
    exact = display_value(name, value, context=context)
    if name == "effect_chain_order" or option_names(name, context=context) is not None:
        return exact
    if _info(name).scale == "Indexed":
        return exact
    try:
        number = float(exact.text)
    except ValueError:
        return exact
    return DisplayValue(knob_number(number), exact.unit)


def parse_display(
    name: str,
    text: str | DisplayValue,
    unit: str | None = None,
    *,
    context: Mapping[str, float] | None = None,
) -> float:
    """Inverse of :func:`display_value`: displayed text (and unit) → internal value.

    Accepts ``"2.4 kHz"``, ``("2.4", "kHz")``, option names (case-insensitive), and for
    ``effect_chain_order`` a list of effect names joined by "→" (unlisted effects follow in
    Vital's default order). A number without a unit is read in the control's base unit (Hz for
    cutoffs, seconds for times). The result is clamped and rounded to the control's valid values.
    """
    if isinstance(text, DisplayValue):
        text, unit = text.text, text.unit
    raw = str(text).strip()
    if unit:
        raw = f"{raw} {unit}"
    spec = _spec(name)
    if name == "effect_chain_order":
        return float(_parse_order(raw))
    opts = option_names(name, context=context)
    if opts is not None:
        low = [o.lower() for o in opts]
        key = raw.lower()
        if key in low:
            k = low.index(key)
        elif re.fullmatch(r"-?\d+", key):
            k = int(key) - _option_offset(name)
        else:
            raise ParameterError(
                f"{raw!r} is not an option of {name}. Hint: valid options are {', '.join(opts)}."
            )
        v = float(k + _option_offset(name))
        return spec.clamp(v) if spec is not None else v
    m = _NUMBER.match(raw.replace("−", "-"))
    if not m:
        raise ParameterError(
            f"cannot read {raw!r} as a value of {name}. Hint: write a number with an optional unit, "
            f"e.g. {display_text(name, _info(name).default)!r}."
        )
    number = float(m.group(1))
    unit_text = m.group(2).strip()
    unit_key = _UNIT_ALIASES.get(unit_text.lower())
    if unit_key is None:
        raise ParameterError(f"unknown unit {unit_text!r} for {name} (expected {base_unit(name)!r})")
    expected = base_unit(name)
    compatible = (
        {expected, ""} | ({"kHz"} if expected == "Hz" else set()) | ({"ms"} if expected == "s" else set())
    )
    if unit_key not in compatible:
        raise ParameterError(f"{name} is shown in {expected!r}, not {unit_key!r} (value {raw!r})")
    v = _inverse(name, _unscale_unit(unit_key, number))
    info = _info(name)
    if spec is not None:
        return spec.clamp(v)
    v = min(max(v, info.min), info.max)
    return float(round(v)) if info.scale == "Indexed" else v


def _parse_order(text: str) -> int:
    parts = [p.strip().lower() for p in re.split(r"→|->|,|>", text) if p.strip()]
    by_label = {EFFECT_LABELS[fx].lower(): i for i, fx in enumerate(EFFECTS)}
    by_label.update({fx.lower(): i for i, fx in enumerate(EFFECTS)})
    by_label["filter fx"] = EFFECTS.index("filter_fx")
    order: list[int] = []
    for p in parts:
        if p not in by_label:
            raise ParameterError(
                f"unknown effect {p!r} in the effect order. Hint: use {', '.join(EFFECT_LABELS.values())}."
            )
        i = by_label[p]
        if i in order:
            raise ParameterError(f"effect {p!r} is listed twice in the effect order")
        order.append(i)
    order += [i for i in range(len(EFFECTS)) if i not in order]
    return encode_order(order)


def enabled_order_code(names: list[str]) -> int:
    """The `effect_chain_order` code with ``names`` (effect keys) first, the rest in default order."""
    return _parse_order(" → ".join(names))
