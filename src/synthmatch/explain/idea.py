"""The idea: what a sound is and how it is built, in a paragraph read in 20 seconds.

:func:`the_idea` names the category the sound falls in (:data:`CATEGORIES`) with the facts that
put it there, and sums the preset up in 3–6 short sentences in signal-flow order:

    sources → filter (and what moves it) → envelopes → modulation that animates it → effects

Settings are quoted as Vital shows them (:func:`synthmatch.explain.display.rounded_text`);
measured facts (from a :class:`~synthmatch.explain.descriptors.SoundDescription`) in ms, s, Hz
and dB. Without a description the category comes from the amp envelope's settings (Vital:
stage time in seconds = value⁴, heard amplitude = envelope value²).

With ``impacts`` (recipe step name → how many dB further the render moves from the full preset
when that step is reverted), parts are mentioned from the most to the least audible, and a part
(an oscillator, a filter, an envelope, an LFO, a connection row, an effect) whose measured steps
all stay below :data:`AUDIBLE_DB` is left out. A part with no measured step is kept: its
settings are the init preset's and the activity rules say it sounds. The amp envelope is always
described: every note passes through it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthmatch.errors import PresetError
from synthmatch.explain.activity import effective_active, sounding_modulations
from synthmatch.explain.descriptors import SoundDescription, note_name
from synthmatch.explain.display import display_text, rounded_text
from synthmatch.vital import tables
from synthmatch.vital.effects import EFFECTS, order_names
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset, osc_read_by
from synthmatch.vital.wavetables import wave_source_frames

__all__ = ["AUDIBLE_DB", "CATEGORIES", "Idea", "the_idea"]

#: A part whose steps all move the render less than this (dB) when reverted is not mentioned:
#: below half a decibel a change is not reliably heard.
AUDIBLE_DB = 0.5
#: Each sentence stays this short, so the paragraph reads in about 20 seconds.
MAX_SENTENCE_CHARS = 300

# --- category thresholds (times in s, levels in dB below the note's peak) ------------------
#: Onsets shorter than this are heard as an instant start rather than a fade-in.
FAST_ATTACK_S = 0.02
#: Attacks from this long are heard as a swell (the descriptors' "swelling" bound).
SLOW_ATTACK_S = 0.15
#: A held level this far below the peak means the note dies away while held (the descriptors'
#: "plucked" bound).
DIES_AWAY_DB = -30.0
#: A held level within this of the peak is heard as holding; further down the note decays.
SUSTAINED_DB = -3.0
#: A decay shorter than this is an attack transient, not the falling level of keys.
KEYS_MIN_DECAY_S = 0.1
#: Pitched notes that die away within this are plucks; longer ones ring like a piano (keys).
PLUCK_MAX_DECAY_S = 1.5
#: A cross-modulated (FM/RM) or inharmonic note that rings this long is a bell.
BELL_MIN_DECAY_S = 0.8
#: Unpitched notes that die away within this are percussion; longer ones are effects.
PERCUSSION_MAX_DECAY_S = 1.0
#: A release this long leaves a tail after the key goes up, as pads do.
LONG_RELEASE_S = 0.5
#: Pitches up to this are bass: C3 (130.8 Hz), an octave under the probe's C4, and lower.
BASS_MAX_HZ = 131.0
#: Without a description: every pitched oscillator this far down puts the probe's C4 at C3
#: (130.8 Hz) or lower, i.e. at or under :data:`BASS_MAX_HZ`.
BASS_TRANSPOSE_SEMITONES = -12.0
#: An envelope sweeping the pitch this far blurs it (the kick drum's drop, the zap of an effect).
PITCH_SWEEP_SEMITONES = 12.0
#: A spectral centroid from this is bright (the descriptors' "bright" bound).
BRIGHT_HZ = 1500.0
#: Spectral flatness from this is noisy (the descriptors' "noisy" bound).
NOISY_FLATNESS = 0.3
#: Spectral movement from this is an evolving timbre (the descriptors' "evolving" bound).
EVOLVING_MOVEMENT = 0.25
#: A sustained, not bright tone with more unison voices than this is a wide sheet: a pad.
LEAD_MAX_UNISON = 4
#: Largest harmonic-amplitude error (relative to the fundamental, harmonics 2–16) for a frame
#: to read as a textbook saw/square/triangle/sine.
WAVE_MATCH_TOLERANCE = 0.05

_HARMONICS = np.arange(2, 17)
_WAVE_TEMPLATES: dict[str, np.ndarray] = {
    "sine": np.zeros(len(_HARMONICS)),
    "saw": 1.0 / _HARMONICS,
    "square": np.where(_HARMONICS % 2 == 1, 1.0 / _HARMONICS, 0.0),
    "triangle": np.where(_HARMONICS % 2 == 1, 1.0 / _HARMONICS**2, 0.0),
}
_PART = re.compile(
    r"(osc_[123]|filter_(?:1|2|fx)|env_\d|lfo_\d|random_\d|macro_control_\d|modulation_\d+|sample)(?:_|$)"
)
_PITCH = re.compile(r"(osc_[123]|sample|voice)_(transpose|tune)")
_LEVEL = re.compile(r"(osc_[123]|sample)_level|volume|voice_amplitude")
#: Oscillator distortion types that modulate by another source ("FM <- Osc 2", "RM <- Sample").
_CROSS = {7: "frequency", 8: "frequency", 9: "frequency", 10: "ring", 11: "ring", 12: "ring"}
_SYNC_WORDS = {2: " dotted", 3: " triplet"}
_DELAY_WORDS = ("a delay", "a stereo delay", "a ping-pong delay", "a mid ping-pong delay")


@dataclass
class Idea:
    """The first tier of the tutorial: the category, why, and the signal flow in a few sentences."""

    category: str
    category_reason: str
    sentences: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The paragraph: the category sentence, then the signal-flow sentences."""
        return " ".join([f"This is {self.category_reason}.", *self.sentences])

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "category_reason": self.category_reason,
            "sentences": list(self.sentences),
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Idea:
        return cls(
            category=str(d["category"]),
            category_reason=str(d.get("category_reason", "")),
            sentences=[str(s) for s in d.get("sentences", [])],
        )


# --- small text helpers ------------------------------------------------------------------
def _part_of(name: str) -> str:
    """The part a recipe step belongs to: "osc_2", "filter_1", "lfo_3", "modulation_4", "reverb"…"""
    m = _PART.match(name)
    if m:
        return m.group(1)
    for fx in EFFECTS:
        if name.startswith(fx + "_"):
            return fx
    return name


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fit(head: str, items: list[str], *, joiner: Callable[[list[str]], str] = _join, noun: str = "") -> str:
    """``head`` + the items joined, dropping the last (least important) items to stay short."""
    kept = list(items)
    while kept:
        more = len(items) - len(kept)
        rest = f"{more} more" + (f" {noun}{'s' * (more > 1)}" if noun else "")
        text = _cap(head + joiner(kept + ([rest] if more else [])) + ".")
        if len(text) <= MAX_SENTENCE_CHARS:
            return text
        kept.pop()
    return _cap(head + items[0])[: MAX_SENTENCE_CHARS - 1] + "…"


def _label(name: str) -> str:
    info = tables.controls().get(name)
    return info.display_name if info is not None else name


def _source_label(source: str) -> str:
    # Imported here: the recipe module may build on this one.
    from synthmatch.explain.recipe import SOURCE_LABELS

    return SOURCE_LABELS.get(source, source)


#: Attacks shorter than this read "starts within 2 ms" (a "0 ms" attack reads as a typo).
QUICK_ATTACK_S = 0.002


def _seconds(s: float) -> str:
    """A measured time: "4 ms", "600 ms", "1.2 s"."""
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s"


def _wave_shape(table: Mapping[str, Any]) -> str | None:
    """ "saw", "square", "triangle" or "sine" when the first frame's harmonics read as one, else None."""
    try:
        frames = wave_source_frames(dict(table))
    except (PresetError, ValueError):
        return None
    if frames is None or not len(frames):
        return None
    mag = np.abs(np.fft.rfft(frames[0].astype(np.float64)))
    if mag[1] <= 1e-6 * max(float(mag.max()), 1e-30):
        return None
    ratio = mag[_HARMONICS] / mag[1]
    errors = {name: float(np.max(np.abs(ratio - ideal))) for name, ideal in _WAVE_TEMPLATES.items()}
    best = min(errors, key=lambda k: errors[k])
    return best if errors[best] <= WAVE_MATCH_TOLERANCE else None


# --- what the preset holds ---------------------------------------------------------------
@dataclass
class _Context:
    preset: Preset
    values: Mapping[str, float]
    active: dict[str, bool]
    rows: list[tuple[int, Modulation]]
    impacts: Mapping[str, float] | None
    part_impact: dict[str, float]

    def text(self, name: str) -> str:
        return rounded_text(name, self.values[name], context=self.values)

    def step_heard(self, name: str) -> bool:
        """False only when ``name`` was measured below :data:`AUDIBLE_DB`."""
        return self.impacts is None or self.impacts.get(name, AUDIBLE_DB) >= AUDIBLE_DB

    def heard(self, part: str) -> bool:
        """False only when every measured step of ``part`` is below :data:`AUDIBLE_DB`."""
        return self.part_impact.get(part, AUDIBLE_DB) >= AUDIBLE_DB

    def by_importance(self, parts: list[str]) -> list[str]:
        """Measured parts from the loudest, then unmeasured ones in their given order."""
        measured = sorted((p for p in parts if p in self.part_impact), key=lambda p: -self.part_impact[p])
        return measured + [p for p in parts if p not in self.part_impact]

    def heard_rows(self, keep: Callable[[Modulation], bool]) -> list[tuple[int, Modulation]]:
        rows = {f"modulation_{n}": (n, m) for n, m in self.rows if keep(m)}
        return [rows[p] for p in self.by_importance(list(rows)) if self.heard(p)]


def _context(preset: Preset, impacts: Mapping[str, float] | None) -> _Context:
    flags = sounding_modulations(preset.modulations)
    rows = [(n, m) for n, m in enumerate((m for m, on in zip(preset.modulations, flags) if on), start=1)]
    part_impact: dict[str, float] = {}
    for name, db in (impacts or {}).items():
        part = _part_of(name)
        part_impact[part] = max(part_impact.get(part, -math.inf), float(db))
    return _Context(preset, preset.values, effective_active(preset), rows, impacts, part_impact)


def _sources(ctx: _Context) -> list[str]:
    """The sounding, audible sources ("osc_1", "sample"), most important first."""
    v = ctx.values
    # A level at 0 still sounds when a connection opens it (a macro or an envelope on the level).
    opened = {m.destination for _, m in ctx.rows}
    parts = [p for p in ("osc_1", "osc_2", "osc_3", "sample") if ctx.active[f"{p}_level"]]
    parts = [p for p in parts if v[f"{p}_level"] > 0 or f"{p}_level" in opened]
    return [p for p in ctx.by_importance(parts) if ctx.heard(p)]


def _source_name(part: str) -> str:
    return "the sample" if part == "sample" else f"oscillator {part[-1]}"


def _is_noise(ctx: _Context) -> bool:
    return "noise" in str(ctx.preset.sample.get("name", "")).lower()


def _rate(ctx: _Context, prefix: str) -> str:
    """How often an LFO or random LFO repeats, as shown: "every 1/4", "every 500 ms"."""
    sync = round(ctx.values.get(f"{prefix}_sync", 0.0))
    if sync == 0:
        return f"every {ctx.text(f'{prefix}_frequency')}"
    if sync == 4:
        return "at the note's frequency"
    return f"every {ctx.text(f'{prefix}_tempo')}{_SYNC_WORDS.get(sync, '')}"


def _amount(m: Modulation) -> str:
    return f"amount {rounded_text('modulation_1_amount', m.amount)}"


# --- sentences ---------------------------------------------------------------------------
def _osc_clause(ctx: _Context, k: int) -> str:
    v, p = ctx.values, f"osc_{k}"
    table = ctx.preset.wavetables[k - 1]
    name, shape = str(table.get("name") or ""), _wave_shape(table)
    if shape:
        what = f'a {shape}-like wave ("{name}")' if name else f"a {shape}-like wave"
    else:
        what = f'the "{name}" wavetable' if name else "a wavetable"
    details = [f"oscillator {k} plays {what}"]
    if v[f"{p}_transpose"] != 0 and ctx.step_heard(f"{p}_transpose"):
        details.append(f"transposed {ctx.text(f'{p}_transpose')}")
    if round(v[f"{p}_unison_voices"]) > 1 and ctx.step_heard(f"{p}_unison_voices"):
        details.append(f"{ctx.text(f'{p}_unison_voices')} detuned {ctx.text(f'{p}_unison_detune')}")
    kind = round(v[f"{p}_distortion_type"])
    if kind and ctx.step_heard(f"{p}_distortion_type"):
        label, amount = display_text(f"{p}_distortion_type", kind), ctx.text(f"{p}_distortion_amount")
        if kind in _CROSS:
            details.append(f"{_cross_clause(ctx, k, kind)} ({label}, {amount})")
        else:
            details.append(
                f"hard-synced ({label}, {amount})" if kind == 1 else f"warped with {label} ({amount})"
            )
    morph = round(v[f"{p}_spectral_morph_type"])
    if morph and ctx.step_heard(f"{p}_spectral_morph_type"):
        details.append(f"{ctx.text(f'{p}_spectral_morph_type')} spectral morph")
    for _, m in ctx.heard_rows(lambda m: m.destination == f"{p}_wave_frame"):
        sweep = " (a PWM-like sweep)" if m.source.startswith("lfo_") else ""
        details.append(f"its wave frame moved by {_source_label(m.source)}{sweep}")
    return ", ".join(details)


def _sample_clause(ctx: _Context) -> str:
    name = str(ctx.preset.sample.get("name") or "")
    what = f'the sample plays "{name}"' if name else "the sample plays"
    what += ", a noise source" if _is_noise(ctx) else ""
    if ctx.values["sample_transpose"] != 0 and ctx.step_heard("sample_transpose"):
        what += f", transposed {ctx.text('sample_transpose')}"
    return what


def _sources_sentence(ctx: _Context, sources: list[str]) -> str:
    clauses = [_sample_clause(ctx) if p == "sample" else _osc_clause(ctx, int(p[-1])) for p in sources]
    if not clauses:
        return "No oscillator or sample is switched on, so the preset makes no sound of its own."
    return _fit("", clauses, joiner="; ".join)


def _filter_kind(ctx: _Context, k: int) -> str:
    v, p = ctx.values, f"filter_{k}"
    model, style = ctx.text(f"{p}_model"), ctx.text(f"{p}_style")
    kind = f"{model} {style} filter"
    if round(v[f"{p}_model"]) in (0, 1, 2, 3) and round(v[f"{p}_style"]) in (0, 1):
        blend = v[f"{p}_blend"]
        response = "low-pass" if blend < 0.5 else "band-pass" if blend <= 1.5 else "high-pass"
        kind = f"{model} {style} {response}"
    return ("an " if kind[:1] in "AEIOU" else "a ") + kind


def _filter_inputs(ctx: _Context, k: int, sources: list[str]) -> list[str]:
    """The sources routed to filter ``k`` ("FILTER k" or "FILTER 1+2")."""
    key = {p: "sample_destination" if p == "sample" else f"{p}_destination" for p in sources}
    return [_source_name(p) for p in sources if round(ctx.values[key[p]]) in (k - 1, 2)]


def _filter_sentence(ctx: _Context, k: int, sources: list[str]) -> str | None:
    v, p = ctx.values, f"filter_{k}"
    if not ctx.active[f"{p}_cutoff"] or not ctx.heard(p):
        return None
    inputs = _filter_inputs(ctx, k, sources)
    if (
        v[f"{p}_filter_input"] >= 0.5
        and v[f"filter_{3 - k}_on"] >= 0.5
        and _filter_inputs(ctx, 3 - k, sources)
    ):
        inputs.append(f"the output of filter {3 - k}")
    if not inputs:
        return None
    if len(inputs) > 1 and all(i.startswith("oscillator") for i in inputs):
        inputs = [f"oscillators {_join([i[-1] for i in inputs])}"]
    verb = "goes" if len(inputs) == 1 and not inputs[0].startswith("oscillators") else "go"
    head = f"{_join(inputs)} {verb} through filter {k}, {_filter_kind(ctx, k)} at {ctx.text(f'{p}_cutoff')}"
    head += f" with {ctx.text(f'{p}_resonance')} resonance"
    for control, word in (("drive", "driven"), ("keytrack", "keytracked")):
        if v[f"{p}_{control}"] != 0 and ctx.step_heard(f"{p}_{control}"):
            head += f", {word} {ctx.text(f'{p}_{control}')}"
    moves = []
    span = tables.controls()[f"{p}_cutoff"].max - tables.controls()[f"{p}_cutoff"].min
    for _, m in ctx.heard_rows(lambda m: m.destination == f"{p}_cutoff"):
        src, way = _source_label(m.source), "up" if m.amount >= 0 else "down"
        if m.source.startswith("env_"):
            depth = f"{abs(m.amount) * span:.3g}"
            moves.append(f"{src} sweeps it {way} on every note ({_amount(m)}, up to {depth} semitones)")
        elif m.source.startswith("lfo_"):
            moves.append(f"{src} wobbles it ({_rate(ctx, m.source)}, {_amount(m)})")
        elif m.source.startswith("random_"):
            moves.append(f"{src} moves it at random ({_rate(ctx, m.source)}, {_amount(m)})")
        else:
            moves.append(f"{src} moves it {way} ({_amount(m)})")
    if not moves:
        return _fit("", [head], joiner="".join)
    return _fit(head + "; ", moves)


def _envelope_sentence(ctx: _Context) -> str:
    v = ctx.values
    attack, release = v["env_1_attack"] ** 4, v["env_1_release"] ** 4
    start = ("fades in", "starts quickly", "starts at once")[
        (attack < SLOW_ATTACK_S) + (attack < FAST_ATTACK_S)
    ]
    sustain_db = 40 * math.log10(max(v["env_1_sustain"], 1e-6))
    if sustain_db <= DIES_AWAY_DB:
        hold = f"dies away over {ctx.text('env_1_decay')} while the key is held (sustain {ctx.text('env_1_sustain')})"
    elif sustain_db <= SUSTAINED_DB:
        hold = f"falls over {ctx.text('env_1_decay')} to sustain {ctx.text('env_1_sustain')}"
    else:
        hold = f"holds full level while the key is down (sustain {ctx.text('env_1_sustain')})"
    tail = "rings for {} after release" if release >= LONG_RELEASE_S else "stops within {} of release"
    amp = f"Envelope 1, the amp envelope, {start} (attack {ctx.text('env_1_attack')}), {hold} and "
    amp += tail.format(ctx.text("env_1_release"))
    others = []
    for part in ["env_1", *ctx.by_importance([f"env_{k}" for k in range(2, 7)])]:
        rows = ctx.heard_rows(lambda m, s=part: m.source == s)
        if rows and ctx.heard(part):
            dests = _join(list(dict.fromkeys(_label(m.destination) for _, m in rows)))
            stages = ("attack", "decay", "sustain")
            times = ", ".join(f"{stage} {ctx.text(f'{part}_{stage}')}" for stage in stages)
            who = "it also" if part == "env_1" else f"Envelope {part[-1]} ({times})"
            others.append(f"{who} drives {dests}")
    if not others:
        return _fit("", [amp], joiner="".join)
    return _fit(amp + "; ", others, joiner="; ".join)


def _modulation_clause(ctx: _Context, m: Modulation) -> str:
    src, dest = _source_label(m.source), m.destination
    timed = m.source.startswith(("lfo_", "random_"))
    detail = f"{_rate(ctx, m.source)}, {_amount(m)}" if timed else _amount(m)
    if m.source.startswith("lfo_"):
        shape = str(ctx.preset.lfo_shapes[int(m.source[-1]) - 1].get("name") or "")
        detail = f"{shape}, {detail}" if shape else detail
    if m.source.startswith("lfo_") and _PITCH.fullmatch(dest):
        return f"vibrato from {src} on {_label(dest)} ({detail})"
    if m.source.startswith("lfo_") and _LEVEL.fullmatch(dest):
        return f"tremolo from {src} on {_label(dest)} ({detail})"
    if m.source.startswith("lfo_") and dest.endswith("_pan"):
        return f"auto-pan from {src} ({detail})"
    if m.source.startswith("random") and _PITCH.fullmatch(dest):
        return f"random pitch drift from {src} ({detail})"
    if re.fullmatch(r"modulation_\d+_\w+", dest):
        return f"{src} scales the depth of another connection ({detail})"
    if m.source.startswith("macro_control_"):
        return f"{src} (at {ctx.text(m.source)}) moves {_label(dest)} ({detail})"
    return f"{src} moves {_label(dest)} ({detail})"


def _modulation_sentence(ctx: _Context) -> str | None:
    covered = re.compile(r"filter_[12]_cutoff|osc_[123]_wave_frame")

    def keep(m: Modulation) -> bool:
        return not m.source.startswith("env_") and not covered.fullmatch(m.destination)

    clauses = [_modulation_clause(ctx, m) for _, m in ctx.heard_rows(keep)]
    return _fit("Modulation: ", clauses, joiner="; ".join, noun="connection") if clauses else None


def _effect_phrase(ctx: _Context, fx: str) -> str:
    t = ctx.text
    if fx == "reverb":
        seconds = 2.0 ** ctx.values["reverb_decay_time"]  # Vital shows the decay as 2^value s
        size = "short" if seconds < 1.5 else "long" if seconds >= 4.0 else "medium"
        return f"a {size} reverb (decay {t('reverb_decay_time')}, mix {t('reverb_dry_wet')})"
    if fx == "delay":
        style = min(max(round(ctx.values["delay_style"]), 0), len(_DELAY_WORDS) - 1)
        time = t("delay_frequency") if round(ctx.values["delay_sync"]) == 0 else t("delay_tempo")
        return f"{_DELAY_WORDS[style]} ({time}, feedback {t('delay_feedback')}, mix {t('delay_dry_wet')})"
    if fx == "distortion":
        return f"{t('distortion_type')} distortion (drive {t('distortion_drive')})"
    if fx == "filter_fx":
        model, style = t("filter_fx_model"), t("filter_fx_style")
        return f"an effects filter ({model} {style} at {t('filter_fx_cutoff')})"
    if fx in ("chorus", "flanger", "phaser"):
        return f"a {fx} (mix {t(f'{fx}_dry_wet')})"
    return {"compressor": "a compressor", "eq": "an EQ"}[fx]


def _effects_sentence(ctx: _Context) -> str | None:
    enabled = [fx for fx in order_names(ctx.values["effect_chain_order"]) if ctx.values[f"{fx}_on"] >= 0.5]
    heard = [fx for fx in enabled if ctx.heard(fx)]
    if not heard:
        return None
    custom = enabled != [fx for fx in EFFECTS if fx in enabled] and ctx.step_heard("effect_chain_order")
    head = "Effects, in this custom order: " if custom and len(heard) > 1 else "Effects: "
    return _fit(head, [_effect_phrase(ctx, fx) for fx in heard], joiner=" → ".join)


# --- the category ------------------------------------------------------------------------
#: Why a sound falls in its category, per rule of :func:`_rule` (the category is the key up to
#: "_"); the fields are :class:`_Facts`'s words for each fact.
_REASONS: dict[str, str] = {
    "silence": "silence: no sound comes out at the probe note",
    "percussion": "percussion: {unpitched} and it dies away in {decay}",
    "fx": "an effect or noise sound: {unpitched}; {texture}",
    "bass": "a bass: {bass}",
    "pad": "a pad: it fades in over {attack} and rings for {release} after release",
    "pad_held": "a pad: it fades in over {attack} and holds while the key is down",
    "pad_wide": "a pad: it holds its level while the key is down, spread over {unison} unison voices",
    "strings_short": "strings-like: it swells in over {attack} and stops within {release} of release",
    "strings": "strings-like: it swells in over {attack} and holds its level while the key is down",
    "brass": "brass-like: it swells in over {attack}, holds its level and is bright ({brightness})",
    "bell": "a bell: {inharmonic}, and it rings for {decay} as it decays",
    "pluck": "a pluck: it starts within {attack} and dies away in {decay} while the key is held",
    "keys_fading": "a keys sound: it starts within {attack} and fades out over {decay} while held, like a piano",
    "keys": "a keys sound: it starts within {attack}, decays over {decay} and settles {sustain}",
    "lead_bright": "a lead: it starts within {attack} and holds its level while held; it is bright ({brightness})",
    "lead": "a lead: it starts within {attack} and holds its level while the key is down",
}
#: The categories :func:`the_idea` assigns.
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(rule.split("_")[0] for rule in _REASONS))


@dataclass
class _Facts:
    """What the category rules read, with the words that quote each fact."""

    attack_s: float
    decay_s: float
    sustain_db: float
    release_s: float | None
    pitched: bool
    attack: str
    decay: str
    sustain: str
    release: str
    unpitched: str = "it has no clear pitch"
    bass: str = ""
    inharmonic: str = ""
    bright: bool | None = None
    brightness: str = ""
    noisy: str = ""
    evolving: str = ""
    unison: int = 1
    silent: bool = False


def _cross_clause(ctx: _Context, k: int, kind: int) -> str:
    """ "frequency-modulated by oscillator 2" for an FM/RM distortion type of oscillator ``k``."""
    other = osc_read_by(k, kind)
    by = "the sample" if other is None else f"oscillator {other}"
    if other is not None and ctx.values[f"osc_{other}_on"] < 0.5:
        by = f"the switched-off {by}"
    return f"{_CROSS[kind]}-modulated by {by}"


def _inharmonic(ctx: _Context, sources: list[str]) -> str:
    """Why the partials are not harmonic (FM/RM between oscillators, inharmonic morph), or ""."""
    for part in sources:
        if part == "sample":
            continue
        k = int(part[-1])
        kind = round(ctx.values[f"osc_{k}_distortion_type"])
        if kind in _CROSS:
            return f"oscillator {k} is {_cross_clause(ctx, k, kind)}"
        if round(ctx.values[f"osc_{k}_spectral_morph_type"]) == 4:
            return f"oscillator {k} uses the Inharmonic Stretch spectral morph"
    return ""


def _facts(ctx: _Context, description: SoundDescription | None, sources: list[str]) -> _Facts:
    v = ctx.values
    unison = max((round(v[f"{p}_unison_voices"]) for p in sources if p != "sample"), default=1)
    inharmonic = _inharmonic(ctx, sources)
    if description is not None:
        d = description
        below = f"{abs(d.sustain_db):.0f} dB below the peak"
        facts = _Facts(
            attack_s=d.attack_s,
            decay_s=d.decay_s,
            sustain_db=d.sustain_db,
            release_s=d.release_s,
            pitched=d.pitch_hz is not None,
            attack=_seconds(max(d.attack_s, QUICK_ATTACK_S)),
            decay=_seconds(d.decay_s),
            sustain=below,
            release=_seconds(d.release_s) if d.release_s is not None else "",
            inharmonic=inharmonic,
            bright=d.brightness_hz >= BRIGHT_HZ,
            brightness=f"spectral centroid {d.brightness_hz / 1000:.1f} kHz",
            unison=unison,
            silent="silent" in d.tags,
        )
        if d.pitch_hz is not None and d.pitch_hz <= BASS_MAX_HZ:
            note = d.pitch_note or note_name(d.pitch_hz)
            facts.bass = f"its pitch is {d.pitch_hz:.1f} Hz ({note}), at most {BASS_MAX_HZ:g} Hz"
        if d.noisiness >= NOISY_FLATNESS:
            facts.noisy = f"it is noisy (spectral flatness {d.noisiness:.2f})"
        if d.movement >= EVOLVING_MOVEMENT:
            facts.evolving = f"its timbre keeps changing (movement {d.movement:.2f})"
        return facts
    sustain = v["env_1_sustain"]
    sustain_db = 40 * math.log10(sustain) if sustain > 0 else -120.0
    facts = _Facts(
        attack_s=v["env_1_attack"] ** 4,
        decay_s=v["env_1_decay"] ** 4 if sustain_db < -0.1 else 0.0,
        sustain_db=sustain_db,
        release_s=v["env_1_release"] ** 4,
        pitched=True,
        attack=ctx.text("env_1_attack")
        if v["env_1_attack"] ** 4 >= QUICK_ATTACK_S
        else _seconds(QUICK_ATTACK_S),
        decay=ctx.text("env_1_decay"),
        sustain=f"at sustain {ctx.text('env_1_sustain')}",
        release=ctx.text("env_1_release"),
        inharmonic=inharmonic,
        unison=unison,
        silent=not sources,
    )
    tracked = [p for p in sources if v["sample_keytrack" if p == "sample" else f"{p}_midi_track"] >= 0.5]
    if sources and (not tracked or (tracked == ["sample"] and _is_noise(ctx))):
        facts.pitched = False
        noise_only = sources == ["sample"] and _is_noise(ctx)
        facts.unpitched = (
            "its only source is noise" if noise_only else "its sources do not follow the keyboard"
        )
    for _, m in ctx.rows:
        span = abs(m.amount) * (tables.controls()[m.destination].max - tables.controls()[m.destination].min)
        if m.source.startswith("env_") and _PITCH.fullmatch(m.destination) and span >= PITCH_SWEEP_SEMITONES:
            facts.pitched = False
            facts.unpitched = f"{_source_label(m.source)} sweeps its pitch by up to {span:.3g} semitones"
            break
    pitched_oscs = [p for p in tracked if p != "sample"]
    if pitched_oscs:
        top = max(pitched_oscs, key=lambda p: v[f"{p}_transpose"])  # the highest one sets the register
        if v[f"{top}_transpose"] + v["voice_transpose"] <= BASS_TRANSPOSE_SEMITONES:
            name = (
                _source_name(top)
                if len(pitched_oscs) == 1
                else f"its highest oscillator, {_source_name(top)},"
            )
            shifts = [f"{name} is transposed {ctx.text(f'{top}_transpose')}"]
            shifts += [f"the voice {ctx.text('voice_transpose')}"] if v["voice_transpose"] else []
            facts.bass = _join(shifts)
    return facts


def _rule(f: _Facts) -> str:
    """The key of :data:`_REASONS` for the facts: the first rule that matches (see the constants)."""
    dies = f.sustain_db <= DIES_AWAY_DB
    decays = f.sustain_db <= SUSTAINED_DB and f.decay_s >= KEYS_MIN_DECAY_S
    if f.silent:
        return "silence"
    if not f.pitched:
        return "percussion" if dies and f.decay_s <= PERCUSSION_MAX_DECAY_S else "fx"
    if f.bass:
        return "bass"
    if f.attack_s >= SLOW_ATTACK_S:
        if f.release_s is None:
            return "pad_held"
        return "pad" if f.release_s >= LONG_RELEASE_S else "strings_short"
    if f.inharmonic and (dies or decays) and f.decay_s >= BELL_MIN_DECAY_S:
        return "bell"
    if dies:
        return "pluck" if f.decay_s <= PLUCK_MAX_DECAY_S else "keys_fading"
    if decays:
        return "keys"
    if f.attack_s >= FAST_ATTACK_S:
        return "brass" if f.bright else "strings"
    if f.bright:
        return "lead_bright"
    return "lead" if f.unison <= LEAD_MAX_UNISON else "pad_wide"


# --- public API --------------------------------------------------------------------------
def the_idea(
    preset: Preset,
    *,
    description: SoundDescription | None = None,
    impacts: Mapping[str, float] | None = None,
) -> Idea:
    """The idea of ``preset``: its category, why, and a signal-flow summary (see the module docstring).

    Parameters
    ----------
    preset : Preset
        The sound to sum up.
    description : SoundDescription, optional
        Measurements of a render; the category then rests on them rather than on the amp
        envelope's settings.
    impacts : mapping of str to float, optional
        Recipe step name (``"osc_2_on"``, ``"osc_1_wavetable"``, ``"modulation_3"``,
        ``"effect_chain_order"``…) → its audible contribution in dB. Parts are then mentioned
        from the most audible, and parts whose steps all measure below :data:`AUDIBLE_DB` are
        left out.
    """
    ctx = _context(preset, impacts)
    sources = _sources(ctx)
    facts = _facts(ctx, description, sources)
    rule = _rule(facts)
    texture = (
        _join([x for x in (facts.noisy, facts.evolving) if x]) or "it keeps sounding while the key is held"
    )
    reason = _REASONS[rule].format(texture=texture, **vars(facts))
    sentences = [_sources_sentence(ctx, sources)]
    filters = ctx.by_importance(["filter_1", "filter_2"])
    sentences += [s for s in (_filter_sentence(ctx, int(p[-1]), sources) for p in filters) if s]
    sentences.append(_envelope_sentence(ctx))
    sentences += [s for s in (_modulation_sentence(ctx), _effects_sentence(ctx)) if s]
    if len(sentences) < 3 and sources:
        sentences.append("Nothing else shapes it: what you hear is the raw source through the amp envelope.")
    elif len(sentences) < 3:
        sentences.append("Switch on an oscillator or the sample to hear the rest of the patch.")
    return Idea(category=rule.split("_")[0], category_reason=reason, sentences=sentences)
