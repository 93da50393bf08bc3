"""What each Vital control does to the sound: a declarative table of one-line "why"s.

Entries are data: a pattern over internal control names, a template, and optionally a
condition (a name from :data:`CONDITIONS`). The first entry whose pattern and condition match
gives the line. Templates may use:

``{value}``   the displayed value with its unit ("2.4 kHz"),
``{label}``   the control label as Vital shows it,
``{init}``    the init preset's displayed value,
``{n}``       the module number (oscillator, filter, envelope, LFO…).

Modulation connections have their own table (:data:`MODULATION_KNOWLEDGE`), matched on source
and destination, with ``{source}``, ``{destination}`` and ``{depth}`` (how far the connection
moves the destination, in its own units where that reads well: "up to 24 semitones").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Condition = Callable[[str, float, float, Mapping[str, float]], bool]


def _filter_prefix(name: str) -> str:
    m = re.match(r"(filter_(?:1|2|fx))_", name)
    return m.group(1) if m else ""


def _blend(values: Mapping[str, float], name: str) -> float:
    return float(values.get(_filter_prefix(name) + "_blend", 0.0))


def _standard_filter(values: Mapping[str, float], name: str) -> bool:
    model = round(float(values.get(_filter_prefix(name) + "_model", 0.0)))
    style = round(float(values.get(_filter_prefix(name) + "_style", 0.0)))
    return model in (0, 1, 2, 3) and style in (0, 1)


#: Named conditions an entry may require: ``(name, value, init_value, values) -> bool``.
CONDITIONS: dict[str, Condition] = {
    "up": lambda n, v, i, vals: v > i,
    "down": lambda n, v, i, vals: v < i,
    "on": lambda n, v, i, vals: v >= 0.5,
    "off": lambda n, v, i, vals: v < 0.5,
    "zero": lambda n, v, i, vals: abs(v) < 1e-9,
    # envelope stage times are quartic: seconds = v⁴
    "quick": lambda n, v, i, vals: v**4 < 0.01,
    "slow": lambda n, v, i, vals: v**4 >= 0.05,
    "lowpass": lambda n, v, i, vals: _standard_filter(vals, n) and _blend(vals, n) < 0.5,
    "bandpass": lambda n, v, i, vals: _standard_filter(vals, n) and 0.5 <= _blend(vals, n) <= 1.5,
    "highpass": lambda n, v, i, vals: _standard_filter(vals, n) and _blend(vals, n) > 1.5,
}


@dataclass(frozen=True)
class Entry:
    """One line of knowledge: ``pattern`` (full match on the control name) → ``text``."""

    pattern: str
    text: str
    when: str | None = None


_F = r"filter_(?:1|2|fx)"
_O = r"osc_[123]"

#: The knowledge table for single controls (first match wins).
KNOWLEDGE: tuple[Entry, ...] = (
    # --- oscillators -----------------------------------------------------------------
    Entry(
        rf"{_O}_on", "adds oscillator {n} as a sound source; the mix of sources sets the core timbre", "on"
    ),
    Entry(rf"{_O}_on", "silences oscillator {n}, so the sound comes from the other sources only", "off"),
    Entry(rf"{_O}_wavetable", "the wavetable sets the raw harmonic content that every later module shapes"),
    Entry(rf"{_O}_level", "sets how loud oscillator {n} is in the mix ({value})"),
    Entry(rf"{_O}_transpose", "shifts oscillator {n} by {value}, setting which octave or interval it adds"),
    Entry(
        rf"{_O}_tune",
        "detunes oscillator {n} by {value}; the slow beating against the others thickens the sound",
    ),
    Entry(
        rf"{_O}_unison_voices",
        "stacks {value} of oscillator {n}; with detune they make the sound wide and thick",
    ),
    Entry(
        rf"{_O}_unison_detune",
        "spreads the unison voices' pitches ({value}): more detune is wider and more chorused",
    ),
    Entry(rf"{_O}_unison_blend", "balances the centre voice against the detuned unison voices ({value})"),
    Entry(rf"{_O}_stack_style", "stacks the unison voices as {value} instead of a plain detuned cluster"),
    Entry(rf"{_O}_stereo_spread", "how far the voices spread across the stereo field ({value})"),
    Entry(rf"{_O}_wave_frame", "picks position {value} in the wavetable, i.e. which waveform plays"),
    Entry(
        rf"{_O}_spectral_morph_type",
        "reshapes the oscillator's spectrum with {value} for a different harmonic colour",
    ),
    Entry(rf"{_O}_spectral_morph_amount", "how strongly the frequency morph reshapes the spectrum ({value})"),
    Entry(rf"{_O}_distortion_type", "warps the waveform with {value}, adding harmonics and edge"),
    Entry(
        rf"{_O}_distortion_amount",
        "how strongly the oscillator warp acts ({value}): more is brighter and harsher",
    ),
    Entry(
        rf"{_O}_destination", "routes oscillator {n} to {value}; it is shaped only by what it passes through"
    ),
    Entry(rf"{_O}_pan", "places oscillator {n} in the stereo field ({value})"),
    Entry(
        rf"{_O}_phase",
        "sets where the waveform starts ({value}), which changes the attack click and how oscillators sum",
    ),
    Entry(rf"{_O}_random_phase", "no phase randomisation: every note starts the same way", "zero"),
    Entry(
        rf"{_O}_random_phase",
        "randomises the start phase per note ({value}): livelier, but no two notes are identical",
    ),
    Entry(
        rf"{_O}_midi_track",
        "oscillator {n} ignores the played note: a fixed pitch, as for drones and drums",
        "off",
    ),
    Entry(
        rf"{_O}_smooth_interpolation",
        "smooths between wavetable frames for gliding, not stepped, timbre changes",
    ),
    # --- sample ----------------------------------------------------------------------
    Entry(
        r"sample_on",
        "adds the sample oscillator, a recorded or noise source for texture and transients",
        "on",
    ),
    Entry(r"sample_audio", "the sample the sample oscillator plays"),
    Entry(r"sample_level", "sets how loud the sample is in the mix ({value})"),
    Entry(r"sample_transpose", "shifts the sample's pitch by {value}"),
    Entry(r"sample_keytrack", "makes the sample follow the played note", "on"),
    Entry(r"sample_loop", "loops the sample so it keeps sounding while the key is held", "on"),
    Entry(r"sample_destination", "routes the sample to {value}"),
    # --- filters ---------------------------------------------------------------------
    Entry(rf"{_F}_on", "switches the filter on so it shapes the sources routed to it", "on"),
    Entry(
        rf"{_F}_model",
        "selects the {value} filter model; each has its own slope, drive and resonance character",
    ),
    Entry(rf"{_F}_style", "sets the filter's style to {value} (its slope or response shape)"),
    Entry(
        rf"{_F}_cutoff",
        "low-pass at {value}: removes the upper harmonics above {value}, for a darker tone",
        "lowpass",
    ),
    Entry(
        rf"{_F}_cutoff",
        "high-pass at {value}: removes the lows below {value}, for a thinner sound",
        "highpass",
    ),
    Entry(
        rf"{_F}_cutoff",
        "band-pass around {value}: keeps the harmonics near {value}, for a nasal, focused tone",
        "bandpass",
    ),
    Entry(
        rf"{_F}_cutoff", "sets the filter's working frequency to {value}, where it shapes the harmonics most"
    ),
    Entry(rf"{_F}_resonance", "no resonance: a smooth cutoff with no emphasis", "zero"),
    Entry(
        rf"{_F}_resonance", "emphasises the harmonics near the cutoff ({value}); high values ring and whistle"
    ),
    Entry(rf"{_F}_drive", "drives the filter input ({value}), adding saturation and grit"),
    Entry(
        rf"{_F}_keytrack", "the cutoff follows the played note ({value}), so high notes keep their brightness"
    ),
    Entry(rf"{_F}_blend", "morphs the response between low-pass, band-pass and high-pass ({value})"),
    Entry(rf"{_F}_mix", "blends filtered and unfiltered sound ({value})"),
    Entry(rf"{_F}_formant_\w+", "moves the vowel formants ({value}) for a talking, vocal colour"),
    # --- envelopes -------------------------------------------------------------------
    Entry(
        r"env_1_attack",
        "a fast attack ({value}): the note starts immediately, with a percussive edge",
        "quick",
    ),
    Entry(r"env_1_attack", "a slow attack ({value}): the note fades in instead of starting at once", "slow"),
    Entry(r"env_1_attack", "a soft attack ({value}) takes the click off the start of the note"),
    Entry(r"env_1_decay", "after the peak the level falls to the sustain level over {value}"),
    Entry(r"env_1_sustain", "no sustain: the note dies away even while held, like a pluck or a drum", "zero"),
    Entry(r"env_1_sustain", "the level held while the key is down ({value})"),
    Entry(
        r"env_1_release", "a short release ({value}): the note stops almost as soon as the key is up", "quick"
    ),
    Entry(r"env_1_release", "how long the note rings after the key is released ({value})"),
    Entry(r"env_1_hold", "holds the peak level for {value} before the decay starts"),
    Entry(r"env_1_delay", "waits {value} after the key press before the attack starts"),
    Entry(r"env_\d_\w+_power", "bends the curve of this envelope stage ({value}): punchier or softer"),
    Entry(
        r"env_\d_(attack|decay|sustain|release|hold|delay)",
        "shapes how envelope {n}'s targets move over each note ({value})",
    ),
    # --- LFOs and random -------------------------------------------------------------
    Entry(r"lfo_\d_shape", "the LFO shape: how the modulation moves within each cycle"),
    Entry(r"lfo_\d_frequency", "LFO {n} repeats every {value}"),
    Entry(r"lfo_\d_tempo", "LFO {n} is synced to the song tempo at {value}"),
    Entry(r"lfo_\d_sync", "LFO {n}'s rate is set in {value} mode"),
    Entry(r"lfo_\d_sync_type", "'{value}' mode: how LFO {n} starts and repeats on each note"),
    Entry(r"lfo_\d_(delay|fade)_time", "LFO {n} comes in gradually ({value}), like delayed vibrato"),
    Entry(r"lfo_\d_smooth_\w+", "smooths LFO {n}'s corners ({value}) for softer movement"),
    Entry(r"lfo_\d_phase", "starts LFO {n} at {value} of its cycle"),
    Entry(r"random_\d_style", "random LFO {n} moves as {value}"),
    Entry(r"random_\d_(frequency|tempo)", "how fast random LFO {n} changes ({value})"),
    Entry(r"macro_control_\d", "the macro's position ({value}); it drives every connection from Macro {n}"),
    # --- effects ---------------------------------------------------------------------
    Entry(r"chorus_on", "chorus layers delayed, wobbling copies of the sound: wider and lusher", "on"),
    Entry(r"chorus_dry_wet", "how much chorus is mixed in ({value})"),
    Entry(r"chorus_(frequency|tempo)", "how fast the chorus copies wobble ({value})"),
    Entry(r"chorus_mod_depth", "how far the chorus copies wobble in pitch ({value})"),
    Entry(r"compressor_on", "the compressor evens out the level: more punch and sustain", "on"),
    Entry(r"compressor_\w+", "shapes how the compressor squeezes the level ({value})"),
    Entry(r"delay_on", "adds echoes of the sound", "on"),
    Entry(r"delay_feedback", "how many echoes repeat ({value})"),
    Entry(r"delay_dry_wet", "how loud the echoes are ({value})"),
    Entry(r"delay_(aux_)?(frequency|tempo)", "the time between echoes ({value})"),
    Entry(r"delay_style", "{value} echoes: how the repeats are placed in stereo"),
    Entry(r"distortion_on", "distortion adds harmonics and grit", "on"),
    Entry(r"distortion_drive", "{value} of drive: more added harmonics, a more aggressive sound"),
    Entry(r"distortion_type", "{value} sets the character of the distortion"),
    Entry(r"distortion_mix", "blends distorted and clean sound ({value})"),
    Entry(r"eq_on", "the EQ boosts or cuts frequency ranges to balance the tone", "on"),
    Entry(r"eq_low_gain", "raises the lows by {value}: fuller, heavier", "up"),
    Entry(r"eq_low_gain", "cuts the lows by {value}: lighter, less boomy", "down"),
    Entry(r"eq_high_gain", "raises the highs by {value}: brighter, airier", "up"),
    Entry(r"eq_high_gain", "cuts the highs by {value}: darker, softer", "down"),
    Entry(r"eq_band_gain", "boosts or cuts a band of mids ({value})"),
    Entry(r"flanger_on", "the flanger sweeps comb-filter notches: a jet-like whoosh", "on"),
    Entry(r"flanger_dry_wet", "how strong the flanging is ({value})"),
    Entry(r"phaser_on", "the phaser sweeps notches through the spectrum: a swirling movement", "on"),
    Entry(r"phaser_dry_wet", "how strong the phasing is ({value})"),
    Entry(r"reverb_on", "reverb places the sound in a space and adds a tail", "on"),
    Entry(r"reverb_dry_wet", "how much reverb is heard ({value})"),
    Entry(r"reverb_decay_time", "the reverb tail lasts about {value}"),
    Entry(r"reverb_size", "the size of the simulated room ({value})"),
    Entry(r"filter_fx_\w+", "shapes the effects-chain filter ({value})"),
    Entry(r"effect_chain_order", "effects process in this order; moving one earlier changes what it acts on"),
    # --- global ----------------------------------------------------------------------
    Entry(r"volume", "the master output level ({value})"),
    Entry(r"voice_transpose", "transposes the whole patch by {value}"),
    Entry(r"voice_tune", "fine-tunes the whole patch by {value}"),
    Entry(r"velocity_track", "how much playing harder makes the note louder ({value})"),
    Entry(
        r"oversampling", "renders with {value} oversampling: cleaner highs from distortion and FM, more CPU"
    ),
    Entry(r"beats_per_minute", "the tempo that synced LFOs and effects follow ({value})"),
    Entry(r"stereo_routing", "how much of the stereo image goes through the mono-summed path ({value})"),
)


@dataclass(frozen=True)
class ModEntry:
    """Knowledge about a connection: ``source`` and ``destination`` patterns → ``text``."""

    source: str
    destination: str
    text: str


_PITCH = r"(osc_[123]|sample|voice)_(transpose|tune)|(lfo_\d|random_\d)_keytrack_\w+"
_CUTOFF = r"filter_(1|2|fx)_cutoff"
_LEVEL = r"(osc_[123]|sample)_level|volume|voice_amplitude"
_TIMBRE = r"osc_[123]_(wave_frame|spectral_morph_amount|distortion_amount|distortion_phase)"

#: The knowledge table for modulation connections (first match wins).
MODULATION_KNOWLEDGE: tuple[ModEntry, ...] = (
    ModEntry(r".*", r"modulation_\d+_\w+", "{source} scales the depth of another connection"),
    ModEntry(
        r"env_\d", _CUTOFF, "the envelope sweeps the cutoff on every note ({depth}): a filter pluck or swell"
    ),
    ModEntry(r"env_\d", _PITCH, "a pitch sweep on every note ({depth}), as in kicks, zaps and risers"),
    ModEntry(r"env_\d", _LEVEL, "shapes this source's loudness over each note"),
    ModEntry(r"env_\d", _TIMBRE, "the timbre changes over each note as the envelope moves"),
    ModEntry(r"lfo_\d", _PITCH, "a repeating pitch wobble ({depth}): vibrato"),
    ModEntry(r"lfo_\d", _CUTOFF, "a repeating filter sweep ({depth}): wobble or wah"),
    ModEntry(r"lfo_\d", _LEVEL, "a repeating change in loudness: tremolo"),
    ModEntry(r"lfo_\d", r".*pan", "moves the sound from side to side: auto-pan"),
    ModEntry(r"lfo_\d", _TIMBRE, "a cycling change of timbre that keeps the sound moving"),
    ModEntry(
        r"random(_\d)?",
        r".*",
        "random changes of {destination} ({depth}), so the sound never repeats exactly",
    ),
    ModEntry(r"velocity", r".*", "playing harder changes {destination} ({depth})"),
    ModEntry(
        r"macro_control_\d", r".*", "a performance knob: turning {source} changes {destination} ({depth})"
    ),
    ModEntry(r"note(_in_octave)?", r".*", "{destination} follows the played pitch ({depth})"),
    ModEntry(
        r"(mod_wheel|pitch_wheel|aftertouch|slide|lift)",
        r".*",
        "{source} controls {destination} while you play",
    ),
    ModEntry(r".*", r".*", "{source} moves {destination} ({depth})"),
)


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _module_number(name: str) -> str:
    m = re.match(r"(?:osc|filter|env|lfo|random|macro_control)_(\d|fx)", name)
    return m.group(1) if m else ""


def explain_setting(
    name: str,
    value: float,
    *,
    init_value: float,
    values: Mapping[str, float],
    display: str,
    label: str,
    init_display: str = "",
) -> str | None:
    """The one-line "why" for setting control ``name`` to ``value`` (None if none is known)."""
    for entry in KNOWLEDGE:
        if not re.fullmatch(entry.pattern, name):
            continue
        if entry.when is not None and not CONDITIONS[entry.when](name, value, init_value, values):
            continue
        fields = _Fields(value=display, label=label, init=init_display, n=_module_number(name))
        return entry.text.format_map(fields)
    return None


def explain_modulation(
    source: str, destination: str, *, source_label: str, destination_label: str, depth: str
) -> str:
    """The one-line "why" for a modulation connection."""
    for entry in MODULATION_KNOWLEDGE:
        if re.fullmatch(entry.source, source) and re.fullmatch(entry.destination, destination):
            fields = _Fields(source=source_label, destination=destination_label, depth=depth)
            return entry.text.format_map(fields)
    return f"{source_label} moves {destination_label} ({depth})"  # pragma: no cover - table ends with .*
