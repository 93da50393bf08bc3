"""Small inline SVG figures of a preset, for the tutorial and the report.

Each figure is a self-contained ``<svg>`` string (no scripts, no external files, no fonts to
load) computed with numpy from a :class:`synthmatch.vital.Preset`, and a one-sentence caption
with the numbers the picture shows. The same preset always gives byte-identical SVG: every
coordinate is written with one decimal, and nothing depends on time, randomness or locale.

* :func:`wavetable_figure`: an oscillator's keyframes drawn one behind the other, as in
  Vital's 3D wavetable view (first in front, in blue; last at the back, in orange).
* :func:`envelope_figure`: an envelope over a held note and its release, from Vital's envelope
  (stage time in seconds = value⁴; a stage of curve power ``p`` moves along
  ``(exp(p x) - 1) / (exp(p) - 1)`` of its way; the attack uses ``-p``, as the engine does).
  Envelope 1 is drawn as the amplitude one hears (the envelope squared: the voice's amplitude
  is envelope 1 squared, see :mod:`synthmatch.search.resynth`); other envelopes as their value.
* :func:`filter_figure`: filter 1 or 2's magnitude response from an analog prototype of Vital's
  state-variable filter (see :func:`filter_response_db`); approximate, as the caption says.
* :func:`modulation_figure`: the routes that change the sound, sources → destinations.

:func:`figures_for` picks the ones worth showing for a preset.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.errors import ParameterError, PresetError
from synthmatch.explain.activity import sounding_modulations
from synthmatch.explain.display import display_text, format_number, rounded_text
from synthmatch.vital import tables
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import filter_style_name
from synthmatch.vital.wavetables import wave_source_frames

__all__ = [
    "Figure",
    "envelope_curve",
    "envelope_figure",
    "figures_for",
    "filter_figure",
    "filter_response_db",
    "modulation_figure",
    "wavetable_figure",
]

#: Most keyframes drawn in a wavetable figure (evenly chosen when the table has more).
MAX_FRAMES = 16
#: Points drawn per frame: 256 for up to 8 frames, 128 above (keeps a figure under 40 KB).
FRAME_POINTS = (256, 128)
#: Vital's envelope stage times are ``seconds = value ** ENV_TIME_EXPONENT``.
ENV_TIME_EXPONENT = 4.0
#: Resonance range of Vital's state-variable filter: Q = interpolate(0.5, 16, resonance³).
MIN_Q, MAX_Q = 0.5, 16.0
#: Filter models drawn (Analog, Dirty, Ladder, Digital, Diode); Formant, Comb and Phaser
#: responses are not low/band/high mixes, so no figure is drawn for them.
DRAWN_FILTER_MODELS = (0, 1, 2, 3, 4)

_FONT = "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"
_INK, _MUTED, _GRID, _AXIS = "#222222", "#666666", "#e6e6e6", "#9a9a9a"
_BLUE, _ORANGE = (31, 95, 168), (217, 95, 2)
_BLUE_HEX, _ORANGE_HEX = "#1f5fa8", "#d95f02"
_MODELS = ("Analog", "Dirty", "Ladder", "Digital", "Diode", "Formant", "Comb", "Phaser")
_ENV_SOURCE = re.compile(r"env_([1-6])")
_CUTOFF_DEST = re.compile(r"filter_(1|2|fx)_cutoff")


@dataclass(frozen=True)
class Figure:
    """One picture of a preset.

    Attributes
    ----------
    key : str
        Stable identifier: ``wavetable_osc1``, ``envelope_amp``, ``envelope_filter``,
        ``filter_1``, ``modulation`` (see the figure functions).
    title : str
        A short heading ("Oscillator 1 wavetable").
    svg : str
        A complete ``<svg>`` element (viewBox, width/height, ``role="img"``, ``<title>``).
    caption : str
        One plain sentence saying what the picture shows, with its numbers.
    """

    key: str
    title: str
    svg: str
    caption: str


# ---------------------------------------------------------------------------------------
# SVG helpers
# ---------------------------------------------------------------------------------------
def _n(x: float) -> str:
    text = f"{float(x):.1f}"
    return "0.0" if text == "-0.0" else text


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _points(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in zip(xs, ys))


def _text(x: float, y: float, s: str, *, anchor: str = "start", fill: str = _MUTED, size: int = 11) -> str:
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" fill="{fill}" font-size="{size}">'
        f"{_esc(s)}</text>"
    )


def _line(x1: float, y1: float, x2: float, y2: float, *, stroke: str = _GRID, dash: bool = False) -> str:
    style = ' stroke-dasharray="4 3"' if dash else ""
    return (
        f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}" '
        f'stroke-width="1"{style}/>'
    )


def _figure(key: str, title: str, caption: str, *, width: int, height: int, body: Sequence[str]) -> Figure:
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="{_FONT}" font-size="11">'
        f"<title>{_esc(title)}</title><desc>{_esc(caption)}</desc>"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>' + "".join(body) + "</svg>"
    )
    return Figure(key, title, svg, caption)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> str:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b))
    return f"#{r:02x}{g:02x}{bl:02x}"


def _shown(name: str, value: float, values: Mapping[str, float]) -> str:
    """Vital's displayed text, rounded to 3 significant digits when it is longer than 4."""
    text = display_text(name, value, context=values)
    digits = sum(ch.isdigit() for ch in text.lstrip("-+0.").split(" ")[0])
    return rounded_text(name, value, context=values) if digits > 4 else text


def _label(name: str) -> str:
    info = tables.controls().get(name)
    return info.display_name if info is not None else name


def _source_label(source: str) -> str:
    # Imported here: recipe imports most of the explain layer, which may import this module.
    from synthmatch.explain.recipe import SOURCE_LABELS

    return SOURCE_LABELS.get(source, source)


def _check(what: str, value: int, valid: Sequence[int]) -> None:
    if value not in valid:
        raise ParameterError(f"{what}={value!r} is not valid. Hint: use one of {', '.join(map(str, valid))}.")


def _sounding(preset: Preset) -> list[Any]:
    flags = sounding_modulations(preset.modulations)
    return [m for m, on in zip(preset.modulations, flags) if on]


# ---------------------------------------------------------------------------------------
# wavetables
# ---------------------------------------------------------------------------------------
def _keyframes(table: Any) -> tuple[list[int], np.ndarray] | None:
    """(positions, frames [shape=(n, 2048)]) of a Wave Source table sorted by position, else None."""
    try:
        frames = wave_source_frames(table)
        if frames is None:
            return None
        comps = [c for g in table["groups"] for c in g["components"]]
        positions = [int(k.get("position", 0)) for k in comps[0]["keyframes"]]
    except (PresetError, KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None
    if len(frames) == 0 or len(positions) != len(frames) or not np.all(np.isfinite(frames)):
        return None
    order = sorted(range(len(positions)), key=lambda i: (positions[i], i))
    return [positions[i] for i in order], frames[order]


def wavetable_figure(preset: Preset, *, osc: int) -> Figure | None:
    """Oscillator ``osc``'s wavetable keyframes drawn as waveforms, first in front.

    Frames are coloured from blue (first) to orange (last), fading towards the back; the
    keyframe nearest the Wave Frame knob is drawn thicker. At most :data:`MAX_FRAMES` frames
    are drawn (evenly chosen), each with at most 256 points.

    Returns
    -------
    Figure or None
        None when the oscillator is off or its table has no readable Wave Source frames
        (tables built from other sources in Vital's editor).
    """
    _check("osc", osc, (1, 2, 3))
    values = preset.values
    if values.get(f"osc_{osc}_on", 0.0) < 0.5 or len(preset.wavetables) < osc:
        return None
    table = preset.wavetables[osc - 1]
    read = _keyframes(table)
    if read is None:
        return None
    positions, frames = read
    total = len(frames)
    chosen = np.unique(np.round(np.linspace(0, total - 1, min(total, MAX_FRAMES))).astype(int))
    m = len(chosen)
    n_points = FRAME_POINTS[0] if m <= 8 else FRAME_POINTS[1]
    samples = frames[chosen][:, (np.arange(n_points) * frames.shape[1]) // n_points].astype(np.float64)
    peak = max(float(np.max(np.abs(samples))), 1e-9)
    knob = float(values.get(f"osc_{osc}_wave_frame", 0.0))
    nearest = int(np.argmin([abs(positions[i] - knob) for i in chosen]))

    width, height = 420, 236
    left, right, bottom = 36.0, 16.0, 214.0
    depth_x, depth_y = (96.0, 84.0) if m > 1 else (0.0, 0.0)
    half = 34.0 if m > 1 else 72.0
    frame_w = width - left - right - depth_x
    xs = np.arange(n_points) / (n_points - 1) * frame_w
    body: list[str] = []
    front_mid = bottom - half
    body.append(_line(left, front_mid, left + frame_w, front_mid))
    for j in reversed(range(m)):
        t = j / (m - 1) if m > 1 else 0.0
        x0, mid = left + t * depth_x, bottom - half - t * depth_y
        ys = mid - half * samples[j] / peak
        thick = "2.2" if (j == nearest and m > 1) else "1.3"
        opacity = f"{0.55 + 0.45 * (1.0 - t):.2f}"
        body.append(
            f'<polyline fill="none" stroke="{_mix(_BLUE, _ORANGE, t)}" stroke-width="{thick}" '
            f'stroke-opacity="{opacity}" stroke-linejoin="round" points="{_points(x0 + xs, ys)}"/>'
        )
    name = str(table.get("name") or "unnamed") if isinstance(table, dict) else "unnamed"
    knob_text = _shown(f"osc_{osc}_wave_frame", knob, values)
    counted = f"{m} of {total} keyframes" if m < total else f"{m} keyframe{'s' if m != 1 else ''}"
    body.append(_text(left, 16, f"“{name}” · {counted} · Wave Frame {knob_text}", fill=_INK))
    if m > 1:
        body.append(_text(left - 4, front_mid + 4, "first", anchor="end"))
        body.append(_text(left + depth_x + frame_w, bottom - half - depth_y - half - 4, "last", anchor="end"))
    sweepers = sorted(
        {_source_label(mod.source) for mod in _sounding(preset) if mod.destination == f"osc_{osc}_wave_frame"}
    )
    if m == 1:
        caption = f"The single frame of Oscillator {osc}'s wavetable “{name}”: one cycle of its waveform"
    else:
        caption = (
            f"{counted.capitalize()} of Oscillator {osc}'s wavetable “{name}”, from the first (blue, front) "
            f"to the last (orange, back); the one nearest the Wave Frame knob ({knob_text}) is thicker"
        )
    caption += f", swept by {' and '.join(sweepers)}." if sweepers else "."
    title = f"Oscillator {osc} wavetable"
    return _figure(f"wavetable_osc{osc}", title, caption, width=width, height=height, body=body)


# ---------------------------------------------------------------------------------------
# envelopes
# ---------------------------------------------------------------------------------------
def _power_scale(x: np.ndarray, power: float) -> np.ndarray:
    """Fraction of its way a stage of curve ``power`` has moved at time fraction ``x``."""
    x = np.clip(x, 0.0, 1.0)
    if abs(power) < 0.01:  # the engine's threshold for a straight stage
        return x
    return np.expm1(power * x) / math.expm1(power)


def _stage_seconds(values: Mapping[str, float], env: int) -> dict[str, float]:
    return {
        stage: max(float(values[f"env_{env}_{stage}"]), 0.0) ** ENV_TIME_EXPONENT
        for stage in ("delay", "attack", "hold", "decay", "release")
    }


def envelope_curve(
    values: Mapping[str, float], *, env: int, t: np.ndarray, note_seconds: float
) -> np.ndarray:
    """Vital's envelope ``env`` (its value in [0, 1]) at times ``t``, the key released at ``note_seconds``.

    Delay (0), attack (0 → 1, curve ``-attack_power``), hold (1), decay (1 → sustain, curve
    ``decay_power``), sustain; from the key-up the release falls from the value reached then
    to 0 (curve ``release_power``), and stays at 0.

    Parameters
    ----------
    values : mapping
        The preset's internal control values (``env_N_attack`` …).
    env : int
        Envelope number, 1–6.
    t : np.ndarray [shape=(n,)]
        Times in seconds from the key-down.
    note_seconds : float
        When the key is released (s).

    Returns
    -------
    np.ndarray [shape=(n,)]
        The envelope's value (not squared).
    """
    _check("env", env, tuple(range(1, 7)))
    t = np.asarray(t, dtype=np.float64)
    s = _stage_seconds(values, env)
    sustain = float(np.clip(values[f"env_{env}_sustain"], 0.0, 1.0))

    power = {st: float(values[f"env_{env}_{st}_power"]) for st in ("attack", "decay", "release")}

    def held(u: np.ndarray) -> np.ndarray:
        d, a, h = s["delay"], s["attack"], s["hold"]
        attack = _power_scale((u - d) / max(a, 1e-9), -power["attack"])
        falling = _power_scale((u - d - a - h) / max(s["decay"], 1e-9), power["decay"])
        out = np.where(u < d + a, attack, 1.0 - (1.0 - sustain) * falling)
        out = np.where(u < d, 0.0, out)
        return np.clip(out, 0.0, 1.0)

    at_release = float(held(np.array([note_seconds]))[0])
    fallen = _power_scale((t - note_seconds) / max(s["release"], 1e-9), power["release"])
    release = at_release * (1.0 - fallen)
    return np.where(t < note_seconds, held(t), np.clip(release, 0.0, 1.0))


def _cutoff_routes(preset: Preset) -> list[tuple[int, str, float]]:
    """(envelope, cutoff destination, amount) of sounding envelope → filter-cutoff routes."""
    out = []
    for mod in _sounding(preset):
        src, dst = _ENV_SOURCE.fullmatch(mod.source), _CUTOFF_DEST.fullmatch(mod.destination)
        if src and dst and preset.values.get(f"filter_{dst.group(1)}_on", 0.0) >= 0.5:
            out.append((int(src.group(1)), mod.destination, float(mod.amount)))
    return out


def _time_ticks(span: float) -> tuple[float, int]:
    for step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        if span / step <= 6.0:
            return step, max(0, -math.floor(math.log10(step) + 1e-9))
    return 20.0, 0


def envelope_figure(
    preset: Preset, *, env: int, note_seconds: float = 2.0, title: str | None = None
) -> Figure:
    """Envelope ``env`` over a note held ``note_seconds`` and its release.

    Envelope 1 (the voice's amplitude envelope) is drawn as the amplitude heard, the envelope
    squared; other envelopes as their value in [0, 1]. The key-up is a dashed line; the time
    axis ends when the release has finished (at most 3 × ``note_seconds`` + 1 s after the key-up).

    The key is ``envelope_amp`` for envelope 1, ``envelope_filter`` for the lowest-numbered
    other envelope that moves a filter cutoff (``envelope_filter_N`` for further ones), and
    ``envelope_N`` otherwise.
    """
    _check("env", env, tuple(range(1, 7)))
    if not (math.isfinite(note_seconds) and note_seconds > 0):
        raise ParameterError(f"note_seconds={note_seconds!r} must be a positive number of seconds")
    values = preset.values
    s = _stage_seconds(values, env)
    # Nothing is left to release when the envelope is at 0 at the key-up.
    releasing = envelope_curve(values, env=env, t=np.array([note_seconds]), note_seconds=note_seconds)[0] > 0
    tail = min(s["release"], 3.0 * note_seconds + 1.0) if releasing else 0.1 * note_seconds
    t_end = (note_seconds + max(tail, 0.02 * note_seconds)) * 1.04
    a_end = s["delay"] + s["attack"]
    breaks = [s["delay"], a_end, a_end + s["hold"], note_seconds, note_seconds + s["release"]]
    t = np.unique(np.concatenate([np.linspace(0.0, t_end, 241), [b for b in breaks if 0.0 <= b <= t_end]]))
    curve = envelope_curve(values, env=env, t=t, note_seconds=note_seconds)
    amplitude = env == 1
    y = curve**2 if amplitude else curve

    def shown(stage: str) -> str:
        return _shown(f"env_{env}_{stage}", float(values[f"env_{env}_{stage}"]), values)

    header = [" · ".join(f"{st} {shown(st)}" for st in ("attack", "decay", "sustain", "release"))]
    if s["delay"] > 0.0 or s["hold"] > 0.0:
        header.insert(0, " · ".join(f"{st} {shown(st)}" for st in ("delay", "hold") if s[st] > 0.0))
    extra = 14.0 * (len(header) - 1)
    width, height = 420, int(218 + extra)
    left, top, plot_w, plot_h = 40.0, 38.0 + extra, 364.0, 134.0
    body: list[str] = [_text(left, 16 + 14 * i, line, fill=_INK) for i, line in enumerate(header)]

    def px(u: np.ndarray | float) -> Any:
        return left + np.asarray(u) / t_end * plot_w

    def py(v: np.ndarray | float) -> Any:
        return top + (1.0 - np.asarray(v)) * plot_h

    for level in (0.0, 0.5, 1.0):
        body.append(_line(left, py(level), left + plot_w, py(level)))
        body.append(_text(left - 6, py(level) + 4, format_number(level, 2), anchor="end"))
    step, decimals = _time_ticks(t_end)
    for k in range(int(t_end / step + 1e-9) + 1):
        tick = k * step
        body.append(_line(px(tick), top + plot_h, px(tick), top + plot_h + 4, stroke=_AXIS))
        body.append(_text(px(tick), top + plot_h + 16, f"{tick:.{decimals}f}", anchor="middle"))
    body.append(_line(left, top + plot_h, left + plot_w, top + plot_h, stroke=_AXIS))
    body.append(_text(left + plot_w, top + plot_h + 30, "time (s)", anchor="end"))
    y_name = "amplitude (envelope²)" if amplitude else "envelope value"
    mid_y = top + plot_h / 2.0
    body.append(
        f'<text x="12.0" y="{_n(mid_y)}" transform="rotate(-90 12.0 {_n(mid_y)})" text-anchor="middle" '
        f'fill="{_MUTED}">{_esc(y_name)}</text>'
    )
    sustain = float(np.clip(values[f"env_{env}_sustain"], 0.0, 1.0))
    level = sustain**2 if amplitude else sustain
    body.append(_line(left, py(level), px(note_seconds), py(level), stroke="#b8c7dd", dash=True))
    xs, ys = px(t), py(y)
    area = f"{_n(xs[0])},{_n(py(0.0))} {_points(xs, ys)} {_n(xs[-1])},{_n(py(0.0))}"
    body.append(f'<polygon fill="{_BLUE_HEX}" fill-opacity="0.12" stroke="none" points="{area}"/>')
    body.append(
        f'<polyline fill="none" stroke="{_BLUE_HEX}" stroke-width="2" stroke-linejoin="round" '
        f'points="{_points(xs, ys)}"/>'
    )
    body.append(_line(px(note_seconds), top - 4, px(note_seconds), top + plot_h, stroke=_INK, dash=True))
    key_x, at_edge = float(px(note_seconds)), float(px(note_seconds)) > left + plot_w - 48
    body.append(
        _text(key_x + (-4 if at_edge else 4), top - 6, "key up", anchor="end" if at_edge else "start")
    )

    routes = [r for r in _cutoff_routes(preset) if r[0] == env]
    filter_envs = sorted({r[0] for r in _cutoff_routes(preset) if r[0] != 1})
    if amplitude:
        key = "envelope_amp"
    elif routes:
        key = "envelope_filter" if env == filter_envs[0] else f"envelope_filter_{env}"
    else:
        key = f"envelope_{env}"
    if title is None:
        target = f" → {_label(routes[0][1])}" if routes and not amplitude else ""
        title = f"Envelope {env} (amplitude)" if amplitude else f"Envelope {env}{target}"
    held = f"a note held {format_number(note_seconds, 3)} s"
    waits = [f"{st} ({shown(st)})" for st in ("delay", "hold") if s[st] > 0.0]
    shape = (
        (f"with a {' and a '.join(waits)}, " if waits else "")
        + f"rising over the attack ({shown('attack')}), falling over the decay ({shown('decay')}) to the "
        f"sustain level ({shown('sustain')}) and fading over the release ({shown('release')}) after the "
        "key-up (dashed line)"
    )
    if amplitude:
        caption = (
            f"Loudness under Envelope 1 for {held}: the amplitude you hear (the envelope squared, "
            f"{format_number(level, 3)} while sustained), {shape}"
        )
    else:
        caption = f"Envelope {env}'s value (0 to 1) for {held}, {shape}"
        if routes:
            dest, amount = routes[0][1], routes[0][2]
            info = tables.controls()[dest]
            span = format_number((info.max - info.min) * abs(amount), 3)
            caption += f"; it moves {_label(dest)} by up to {span} semitones"
    if releasing and s["release"] > tail:
        caption += "; the release goes on past the right edge"
    caption += "."
    return _figure(key, title, caption, width=width, height=height, body=body)


# ---------------------------------------------------------------------------------------
# filters
# ---------------------------------------------------------------------------------------
def _stage(s: np.ndarray, damping: float, v0: float, v1: float, v2: float) -> np.ndarray:
    """One SVF stage's mix ``v0·in + v1·band + v2·low`` (band = s/D, low = 1/D, D = s² + k s + 1)."""
    d = s * s + damping * s + 1.0
    return v0 + (v1 * s + v2) / d


def _pass_name(model: int, style: int, blend: float) -> str:
    b = min(max(blend - 1.0, -1.0), 1.0)
    if model == 4:
        return "low-pass with a low cut" if style == 1 else "low-pass with a low shelf"
    if style == 2:
        return "notch" if abs(b) < 0.25 else ("low-pass" if b < 0 else "high-pass") + " with a notch"
    if style == 3:
        return "pair of notches"
    if style == 4:
        return "band-pass" if b < -0.5 else ("notch" if b > 0.5 else "peak")
    if b <= -0.9:
        return "low-pass"
    if b >= 0.9:
        return "high-pass"
    if abs(b) <= 0.1:
        return "band-pass"
    return "mix of band-pass and " + ("low-pass" if b < 0 else "high-pass")


def filter_response_db(values: Mapping[str, float], *, filter: int, freqs: np.ndarray) -> np.ndarray:
    """Approximate magnitude response (dB) of filter ``filter`` at ``freqs`` (Hz).

    An analog prototype of Vital's state-variable filter at the preset's cutoff, resonance,
    style, blend and mix: ``Q = 0.5 + 15.5 · resonance³``; the blend (0–2) mixes low, band and
    high outputs per style as the engine does; the 12dB style is one stage (12 dB/octave), the
    others two (the first without resonance). The Diode model is drawn as a 24 dB/octave
    low-pass with its low shelf or low cut. Drive, key tracking and the digital filter's
    frequency warping near Nyquist are left out.

    Parameters
    ----------
    values : mapping
        The preset's internal control values.
    filter : int
        1 or 2.
    freqs : np.ndarray [shape=(n,)]
        Frequencies in Hz (positive).

    Returns
    -------
    np.ndarray [shape=(n,)]
        Gain in dB (0 dB: the input level).
    """
    _check("filter", filter, (1, 2))
    p = f"filter_{filter}_"
    cutoff_hz = 440.0 * 2.0 ** ((float(values[p + "cutoff"]) - 69.0) / 12.0)
    s = 1j * np.asarray(freqs, dtype=np.float64) / cutoff_hz
    res = float(np.clip(values[p + "resonance"], 0.0, 1.0))
    k = 1.0 / (MIN_Q + (MAX_Q - MIN_Q) * res**3)
    b = min(max(float(values[p + "blend"]) - 1.0, -1.0), 1.0)
    model, style = round(float(values[p + "model"])), round(float(values[p + "style"]))
    if model == 4:
        low_pass = _stage(s, 1.0, 0.0, 0.0, 1.0) * _stage(s, k, 0.0, 0.0, 1.0)
        blend = float(values[p + "blend"]) * 0.5
        if style == 1:
            ratio, amount = 2.0 ** (blend * 8.0 - 9.0), 1.0
        else:
            ratio, amount = 0.5, blend * blend
        h = low_pass * (1.0 - amount * ratio / (s + ratio))
    else:
        if style == 3:
            low, band, high = b * 0.5 + 0.5, 0.0, 1.0
        elif style == 2:
            low, band, high = min(1.0 - b, 1.0), 0.0, min(1.0 + b, 1.0)
        elif style == 4:
            mult = math.sqrt((1.0 - min(1.0 - b, 1.0)) ** 2 * 0.5 + 0.5)
            peak_band = -max(-b, 0.0)
            low = mult * (peak_band + 1.0)
            band, high = mult * (peak_band - b + 1.0) * 2.0, low
        else:
            low, band, high = max(-b, 0.0), math.sqrt(max(1.0 - b * b, 0.0)), max(b, 0.0)
        first = (high, band - k * high, low - high)
        second = (low, band - k * low, high - low) if style == 3 else first
        h = _stage(s, k, *first)
        if style != 0:
            h = _stage(s, 1.0, *first) * _stage(s, k, *second)
    mix = float(np.clip(values.get(p + "mix", 1.0), 0.0, 1.0))
    h = mix * h + (1.0 - mix)
    return 20.0 * np.log10(np.maximum(np.abs(h), 1e-9))


def filter_figure(preset: Preset, *, filter: int) -> Figure | None:
    """Approximate magnitude response of filter 1 or 2, in dB over 20 Hz–20 kHz (log axis).

    Returns None when the filter is off, or its model is Formant, Comb or Phaser (see
    :data:`DRAWN_FILTER_MODELS`). See :func:`filter_response_db` for the approximation.
    """
    _check("filter", filter, (1, 2))
    values = preset.values
    p = f"filter_{filter}_"
    model = round(float(values[p + "model"]))
    if values.get(p + "on", 0.0) < 0.5 or model not in DRAWN_FILTER_MODELS:
        return None
    cutoff_hz = 440.0 * 2.0 ** ((float(values[p + "cutoff"]) - 69.0) / 12.0)
    near = cutoff_hz * 2.0 ** np.linspace(-0.5, 0.5, 41)
    freqs = np.unique(np.concatenate([np.geomspace(20.0, 20000.0, 241), near[(near > 20) & (near < 20000)]]))
    db = filter_response_db(values, filter=filter, freqs=freqs)
    peak = float(np.max(db))
    lo, hi = -48.0, float(min(max(12.0, 12.0 * math.ceil(peak / 12.0)), 36.0))

    width, height = 420, 224
    left, top, plot_w, plot_h = 44.0, 40.0, 360.0, 138.0

    def px(f: np.ndarray | float) -> Any:
        return left + np.log10(np.asarray(f) / 20.0) / 3.0 * plot_w

    def py(v: np.ndarray | float) -> Any:
        return top + (hi - np.clip(np.asarray(v), lo, hi)) / (hi - lo) * plot_h

    body: list[str] = []
    for level in np.arange(lo, hi + 1e-9, 12.0):
        body.append(
            _line(left, py(level), left + plot_w, py(level), stroke="#cccccc" if level == 0 else _GRID)
        )
        body.append(_text(left - 6, py(level) + 4, f"{level:+.0f}" if level else "0 dB", anchor="end"))
    for f, name in ((20, "20"), (100, "100"), (1000, "1k"), (10000, "10k"), (20000, "20k")):
        body.append(_line(px(f), top, px(f), top + plot_h, stroke=_GRID))
        body.append(_text(px(f), top + plot_h + 16, name, anchor="middle"))
    body.append(_line(left, top + plot_h, left + plot_w, top + plot_h, stroke=_AXIS))
    body.append(_text(left + plot_w, top + plot_h + 30, "frequency (Hz)", anchor="end"))
    body.append(
        f'<polyline fill="none" stroke="{_BLUE_HEX}" stroke-width="2" stroke-linejoin="round" '
        f'points="{_points(px(freqs), py(db))}"/>'
    )
    cut_x = float(np.clip(px(cutoff_hz), left, left + plot_w))
    cutoff_text = _shown(p + "cutoff", float(values[p + "cutoff"]), values)
    body.append(_line(cut_x, top, cut_x, top + plot_h, stroke=_ORANGE_HEX, dash=True))
    at_edge = cut_x > left + plot_w - 90
    label_x, anchor = (cut_x - 4, "end") if at_edge else (cut_x + 4, "start")
    body.append(_text(label_x, top - 6, f"cutoff {cutoff_text}", anchor=anchor, fill=_INK))

    style = round(float(values[p + "style"]))
    style_name = filter_style_name(model, style)
    kind = _pass_name(model, style, float(values[p + "blend"]))
    slope = (
        "12 dB/octave "
        if style == 0 and model != 4
        else ("24 dB/octave " if style == 1 or model == 4 else "")
    )
    res_text = _shown(p + "resonance", float(values[p + "resonance"]), values)
    header = f"{_MODELS[model]} · {style_name} · {kind} · resonance {res_text}"
    body.append(_text(left, 16, header, fill=_INK))
    mix = float(np.clip(values.get(p + "mix", 1.0), 0.0, 1.0))
    mix_text = f", mix {_shown(p + 'mix', mix, values)}" if mix < 1.0 else ""
    caption = (
        f"Approximate response of Filter {filter} ({_MODELS[model]} model, {style_name} style): a {slope}{kind} "
        f"with cutoff {cutoff_text} and resonance {res_text}{mix_text}, "
        f"with its highest gain {peak:+.1f} dB (an analog-prototype approximation of Vital's filter)."
    )
    title = f"Filter {filter} response"
    return _figure(f"filter_{filter}", title, caption, width=width, height=height, body=body)


# ---------------------------------------------------------------------------------------
# modulation routes
# ---------------------------------------------------------------------------------------
def _clip_label(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def modulation_figure(preset: Preset) -> Figure | None:
    """The modulation routes that change the sound: sources (left) → destinations (right).

    Line width grows with the connection's |amount|; dashed orange lines have a negative
    amount. Labels are Vital's. Returns None when no connection changes the sound.
    """
    mods = _sounding(preset)
    if not mods:
        return None
    sources = list(dict.fromkeys(m.source for m in mods))
    dests = list(dict.fromkeys(m.destination for m in mods))
    row, top, width = 24.0, 40.0, 480
    height = int(top + row * max(len(sources), len(dests)) + 8)
    x_src, x_dst = 168.0, 300.0

    def y_of(i: int, n: int) -> float:
        offset = (max(len(sources), len(dests)) - n) * row / 2.0
        return top + offset + row * i + row / 2.0

    body = [_text(x_src, 16, "source", anchor="end", fill=_INK), _text(x_dst, 16, "destination", fill=_INK)]
    for m in sorted(mods, key=lambda m: -abs(m.amount)):
        y1 = y_of(sources.index(m.source), len(sources))
        y2 = y_of(dests.index(m.destination), len(dests))
        mid = (x_src + x_dst) / 2.0
        colour = _BLUE_HEX if m.amount >= 0 else _ORANGE_HEX
        dash = "" if m.amount >= 0 else ' stroke-dasharray="6 3"'
        body.append(
            f'<path d="M{_n(x_src)} {_n(y1)}C{_n(mid)} {_n(y1)} {_n(mid)} {_n(y2)} {_n(x_dst)} {_n(y2)}" '
            f'fill="none" stroke="{colour}" stroke-opacity="0.8" '
            f'stroke-width="{_n(1.0 + 5.0 * min(abs(m.amount), 1.0))}"{dash}/>'
        )
    for i, src in enumerate(sources):
        y = y_of(i, len(sources))
        body.append(f'<circle cx="{_n(x_src)}" cy="{_n(y)}" r="3" fill="{_INK}"/>')
        body.append(_text(x_src - 8, y + 4, _clip_label(_source_label(src)), anchor="end", fill=_INK))
    for i, dst in enumerate(dests):
        y = y_of(i, len(dests))
        body.append(f'<circle cx="{_n(x_dst)}" cy="{_n(y)}" r="3" fill="{_INK}"/>')
        body.append(_text(x_dst + 8, y + 4, _clip_label(_label(dst)), fill=_INK))
    strongest = max(mods, key=lambda m: abs(m.amount))
    amount = _shown("modulation_1_amount", float(strongest.amount), {})
    n = len(mods)
    caption = (
        f"{n} modulation route{'s' if n != 1 else ''} that change the sound, from {len(sources)} "
        f"source{'s' if len(sources) != 1 else ''} (left) to {len(dests)} "
        f"destination{'s' if len(dests) != 1 else ''} (right); thicker lines move their destination "
        f"further, the strongest being {_source_label(strongest.source)} → {_label(strongest.destination)} "
        f"(amount {amount})"
    )
    if any(m.amount < 0 for m in mods):
        caption += ", and dashed lines move it the other way (negative amount)"
    caption += "."
    title = "Modulation routes"
    return _figure("modulation", title, caption, width=width, height=height, body=body)


# ---------------------------------------------------------------------------------------
# selection
# ---------------------------------------------------------------------------------------
def figures_for(preset: Preset, *, note_seconds: float = 2.0) -> list[Figure]:
    """The figures worth showing for ``preset``, in reading order.

    Each oscillator's wavetable (oscillators that are on, with readable frames), the amplitude
    envelope (envelope 1), each other envelope routed to the cutoff of a filter that is on,
    each filter that is on (models with a drawn response), then the modulation routes.
    """
    out = [f for k in (1, 2, 3) if (f := wavetable_figure(preset, osc=k)) is not None]
    out.append(envelope_figure(preset, env=1, note_seconds=note_seconds))
    for env in sorted({r[0] for r in _cutoff_routes(preset) if r[0] != 1}):
        out.append(envelope_figure(preset, env=env, note_seconds=note_seconds))
    out += [f for k in (1, 2) if (f := filter_figure(preset, filter=k)) is not None]
    return out + [f for f in (modulation_figure(preset),) if f is not None]
