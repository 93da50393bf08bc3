"""Ground truth of the benchmark items, read from their presets: the note a preset sounds
(:func:`pitch_truth`), whether its key release can be heard (:func:`release_audibility`), and how
often each oscillator's waveform repeats within a wavetable frame (:func:`waveform_multiples`).

The analysis of the methods is scored against these; none of them reads the analysis.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import TYPE_CHECKING

import numpy as np

from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import NOTE_OFF_MARGIN_S
from synthmatch.vital.preset import Preset, osc_read_by

if TYPE_CHECKING:
    from synthmatch.bench.suites import Item

#: Sounding notes outside this range (C1-C8) are not scored for pitch: below C1 a one-shot is a
#: rumble more than a note, and the analysis searches 25 Hz-4.2 kHz.
PITCH_TRUTH_RANGE = (24, 108)
_PITCH_DESTINATIONS = ("transpose", "tune")
_SAMPLE_DISTORTIONS = (9, 12)  # FM <- Sample, RM <- Sample
_PITCH_BREAKING_MORPHS = (3, 4, 10)  # Harmonic Stretch, Inharmonic Stretch, Shepard Tone
_SOURCE_LEVELS = frozenset({"osc_1_level", "osc_2_level", "osc_3_level", "sample_level"})
#: Unison stack styles that move the lowest voice (Center Drop 12 / 24), measured on renders of
#: the init preset: the dropped voice sounds for any voice count, one voice included.
_STACK_DROP_SEMIS = {1: -12.0, 2: -24.0}
#: Stack styles that spread the voices over a chord (Power Chord, 2x Power Chord, Major, Minor):
#: with 3 voices or more a fifth or a third sounds (measured); with 1-2 voices they stay in unison.
_STACK_CHORDS = (5, 6, 7, 8)
#: Unison voices spread over ± (detune² / 100) × detune range semitones (measured on init-preset
#: renders). Beyond half a semitone the outer voices sound at neighbouring notes: a cluster, not a
#: note (and an even voice count has no voice at the centre at all).
MAX_UNISON_SPREAD_SEMIS = 0.5
_LFO_SYNC_KEYTRACK = 4  # lfo_N_sync option "Keytrack"
_UNISON_CONTROLS = ("unison_detune", "detune_range")


def pitch_truth(preset: Preset, note: int, multiples: dict[int, int] | None = None) -> tuple[int | None, str]:
    """The MIDI note a preset sounds when ``note`` is played, when it has a single one.

    Read from the parameters, never from audio. The audible sources are the oscillators (and the
    sample) within 20 dB of the loudest (levels are quadratic). The pitch is well defined only
    when no audible source is the sample (noise or an arbitrary recording); every audible
    oscillator follows the keyboard, has no inharmonic spectral morph, no FM/RM from the sample,
    no chord stack of its unison voices, and no modulated transpose or tune; all of them, and the
    oscillators they FM/RM from, sit at the same pitch class (within 30 cents); and the lowest of
    them is within 12 dB of the loudest (otherwise its octave is a matter of taste). The note is
    then the lowest oscillator's pitch (the period of the mix; a Center Drop stack lowers it by one
    or two octaves, octave and harmonic stacks only add voices above it), rounded. Unison voices
    spread wider than :data:`MAX_UNISON_SPREAD_SEMIS` either way are a cluster, not a note; an
    FM/RM source must follow the keyboard too; a keytracked (audio-rate) LFO that modulates
    anything audible is a pitch source of its own. A level that is a modulation destination can
    move by the sum of its connections' amounts: the answer must be the same at every corner of
    those ranges (each modulated level at its lowest or highest; corners where all is silent do
    not count), else the item is ``"level modulated"``.
    ``multiples`` (from :func:`waveform_multiples`) says, per oscillator, how many times its
    waveform repeats within one cycle of its wavetable frame (a frame holding only every third
    harmonic sounds a twelfth above the note): the period of the mix is then the greatest common
    divisor of the oscillators' fundamentals. Without it every frame counts as one cycle.
    Returns (note or None, reason), the reason being ``"ok"`` or why the item has no single pitch.
    """
    spread: dict[str, float] = {}
    for m in preset.modulations:
        if m.audible and m.destination in _SOURCE_LEVELS:
            spread[m.destination] = spread.get(m.destination, 0.0) + abs(m.amount)
    static = _pitch_truth_at(preset, note, {}, multiples)
    for corner in itertools.product((-1.0, 1.0), repeat=len(spread)):
        shift = {name: sign * amount for sign, (name, amount) in zip(corner, spread.items())}
        at = _pitch_truth_at(preset, note, shift, multiples)
        # a corner where every source is silent has no pitch to disagree with
        if at != static and at[1] != "silent":
            return None, "level modulated"
    return static


def _keytracked_lfo(source: str, values: dict[str, float]) -> int | None:
    """The LFO number when ``source`` is an LFO whose rate follows the keyboard (audio rate)."""
    name, _, num = source.partition("_")
    if name != "lfo" or not num.isdigit():
        return None
    return int(num) if round(values.get(f"lfo_{num}_sync", 1.0)) == _LFO_SYNC_KEYTRACK else None


def _source_powers(values: dict[str, float], shift: dict[str, float]) -> dict[int, float]:
    """Power (level squared) of each switched-on source: oscillators 1-3, and 0 for the sample."""

    def level(src: str) -> float:
        return min(1.0, max(0.0, values.get(f"{src}_level", 0.0) + shift.get(f"{src}_level", 0.0)))

    amp = {k: level(f"osc_{k}") ** 2 for k in (1, 2, 3) if values.get(f"osc_{k}_on", 0.0) >= 0.5}
    if values.get("sample_on", 0.0) >= 0.5:
        amp[0] = level("sample") ** 2
    return amp


def _osc_semis(values: dict[str, float], k: int) -> float:
    """Oscillator ``k``'s pitch in semitones from the played note (voice transpose aside): its
    transpose and tune, and a Center Drop stack's drop."""
    stack = round(values.get(f"osc_{k}_stack_style", 0.0))
    return (
        values.get(f"osc_{k}_transpose", 0.0)
        + values.get(f"osc_{k}_tune", 0.0)
        + _STACK_DROP_SEMIS.get(stack, 0.0)
    )


def _audible(amp: dict[int, float]) -> list[int]:
    """The sources within 20 dB of the loudest (levels are quadratic: power 0.1 of the top)."""
    top = max(amp.values(), default=0.0)
    return [k for k, a in amp.items() if top > 0.0 and a >= 0.1 * top]


def _pitch_truth_at(
    preset: Preset, note: int, shift: dict[str, float], multiples: dict[int, int] | None = None
) -> tuple[int | None, str]:
    """:func:`pitch_truth` with the source levels moved by ``shift`` (clipped to [0, 1])."""
    v = preset.values
    amp = _source_powers(v, shift)
    top = max(amp.values(), default=0.0)
    if top <= 0.0:
        return None, "silent"
    audible = _audible(amp)
    if 0 in audible:
        return None, "sample"
    modulated = {m.destination for m in preset.modulations if m.amount != 0.0}
    if {"voice_transpose", "voice_tune"} & modulated:
        return None, "pitch modulated"
    involved = list(audible)
    for k in audible:
        morph = round(v.get(f"osc_{k}_spectral_morph_type", 0.0))
        if morph in _PITCH_BREAKING_MORPHS and v.get(f"osc_{k}_spectral_morph_amount", 0.0) > 0.02:
            return None, "inharmonic morph"
        dist = round(v.get(f"osc_{k}_distortion_type", 0.0))
        if dist in _SAMPLE_DISTORTIONS and v.get(f"osc_{k}_distortion_amount", 0.0) > 0.02:
            return None, "FM/RM from the sample"
        other = osc_read_by(k, dist)
        if other is not None and other not in involved:
            involved.append(other)
    semis: dict[int | str, float] = {}
    for k in involved:
        if v.get(f"osc_{k}_midi_track", 1.0) < 0.5:  # an FM/RM source too
            return None, "not keyboard-tracked"
        if any(f"osc_{k}_{d}" in modulated for d in _PITCH_DESTINATIONS):
            return None, "pitch modulated"
        voices = v.get(f"osc_{k}_unison_voices", 1.0)
        if voices >= 2:
            if any(f"osc_{k}_{c}" in modulated for c in _UNISON_CONTROLS):
                return None, "wide unison"
            spread = v.get(f"osc_{k}_unison_detune", 0.0) ** 2 / 100.0 * v.get(f"osc_{k}_detune_range", 2.0)
            if spread > MAX_UNISON_SPREAD_SEMIS:
                return None, "wide unison"
        stack = round(v.get(f"osc_{k}_stack_style", 0.0))
        if stack in _STACK_CHORDS and voices >= 3:
            return None, "chord"
        semis[k] = _osc_semis(v, k)
    # A keytracked LFO runs at audio rate, at the note plus its own transpose: whatever it
    # modulates, its period joins the mix's. When it is lower than every oscillator, how far it
    # pulls the period down depends on the modulation depth: no single pitch to score then.
    lowest_osc = min(semis.values())
    for m in preset.modulations:
        n = _keytracked_lfo(m.source, v) if m.audible else None
        if n is not None:
            semis[m.source] = v.get(f"lfo_{n}_keytrack_transpose", 0.0) + v.get(f"lfo_{n}_keytrack_tune", 0.0)
            if semis[m.source] < lowest_osc - 0.3:
                return None, "audio-rate modulation"
    lowest = min(semis.values())
    for s in semis.values():
        d = s - lowest
        if abs(d - 12.0 * round(d / 12.0)) > 0.3:
            return None, "chord"
    low = [k for k in audible if semis[k] - lowest < 0.5]
    if not low or max(amp[k] for k in low) < 10 ** (-12 / 20) * top:
        return None, "octave ambiguous"
    # each audible oscillator's fundamental in units of the lowest nominal pitch: octaves apart,
    # times how often its waveform repeats within a frame; the mix repeats at their gcd
    ints = [(multiples or {}).get(k, 1) * 2 ** round((semis[k] - lowest) / 12.0) for k in audible]
    lowest += 12.0 * math.log2(math.gcd(*ints))
    out = round(note + v.get("voice_transpose", 0.0) + v.get("voice_tune", 0.0) + lowest)
    if not PITCH_TRUTH_RANGE[0] <= out <= PITCH_TRUTH_RANGE[1]:
        return None, "outside C1-C8"
    return out, "ok"


#: The key release of an item counts as audible (and its note length is scored) when moving it
#: by this many seconds, either way, changes the loudness envelope by at least RELEASE_AUDIBLE_DB.
RELEASE_SHIFT_S = 0.1
RELEASE_AUDIBLE_DB = 3.0


def release_audibility(items: list[Item], pool: RenderPool) -> list[bool | None]:
    """Whether each item's key release can be heard, decided by rendering its own preset.

    The preset is rendered again with the key released :data:`RELEASE_SHIFT_S` earlier and later.
    The release is audible when both renders' RMS envelopes (23 ms frames, frames within 40 dB of
    the peak) differ from the item's by at least :data:`RELEASE_AUDIBLE_DB` somewhere. It is not
    when the note has faded before the key-up, when the release curve starts flat, or when
    effects and modulation hide it: then no estimate of the note length can be judged, since
    other lengths sound the same. None for items without a known preset.
    """
    from synthmatch.audio.envelope import envelope_db

    todo, presets, probes = [], [], []
    for k, it in enumerate(items):
        if it.preset is None or it.probe is None:
            continue
        pr = it.probe
        early = max(pr.note_seconds - RELEASE_SHIFT_S, 0.02)
        late = min(pr.note_seconds + RELEASE_SHIFT_S, pr.render_seconds - NOTE_OFF_MARGIN_S)
        for t in (early, late):
            todo.append(k)
            presets.append(it.preset)
            probes.append(dataclasses.replace(pr, note_seconds=t))
    outs = pool.render(presets, probes)
    audible: list[bool | None] = [None] * len(items)
    refs = {k: envelope_db(items[k].audio, items[k].sample_rate)[0] for k in set(todo)}
    for k, out in zip(todo, outs):
        if not out.ok:
            audible[k] = False
            continue
        ref = refs[k]
        env, _ = envelope_db(out.mono[: len(items[k].audio)], items[k].sample_rate)
        n = min(len(ref), len(env))
        loud = np.maximum(ref[:n], env[:n]) >= ref.max() - 40.0
        differs = bool(np.any(np.abs(ref[:n] - env[:n])[loud] >= RELEASE_AUDIBLE_DB))
        audible[k] = differs if audible[k] is None else (audible[k] and differs)
    return audible


#: The most cycles per wavetable frame :func:`waveform_multiples` looks for.
WAVEFORM_MAX_MULTIPLE = 16
_ISOLATE_OFF = (
    "chorus_on", "compressor_on", "delay_on", "distortion_on", "eq_on", "flanger_on", "phaser_on",
    "reverb_on", "filter_1_on", "filter_2_on", "filter_fx_on", "sample_on",
)  # fmt: skip


def waveform_multiples(items: list[Item], pool: RenderPool) -> list[dict[int, int] | None]:
    """How many times each audible oscillator's waveform repeats within one cycle of its frame.

    A wavetable frame is one cycle at the note's pitch, but its content may repeat inside it (a
    frame made of only every third harmonic, a frame cut from audio holding several periods): the
    oscillator then sounds that many times higher, and :func:`pitch_truth` needs it to find the
    period of the mix. Read by rendering the item's preset with that oscillator alone (the other
    sources, filters and effects off, one unison voice, full level; its own wavetable, spectral
    morph, distortion and modulations kept) at the item's probe: the multiple is the largest m up
    to :data:`WAVEFORM_MAX_MULTIPLE` such that every strong spectral line (within 25 dB of the
    strongest, 10 dB above its surroundings) is within 3% (plus one FFT bin) of a multiple of m
    times the oscillator's nominal pitch, in the loudest 0.37 s of the render. Oscillators whose
    distortion reads another one (FM, RM, sync from it) count as 1, since alone they sound
    different. None for items without a single pitch.
    """
    from synthmatch.audio.analysis import midi_to_hz

    single = [
        it.preset is not None and it.probe is not None and pitch_truth(it.preset, it.probe.note)[1] == "ok"
        for it in items
    ]
    out: list[dict[int, int] | None] = [{} if ok else None for ok in single]
    jobs: list[tuple[dict[int, int], int, int, float]] = []
    presets, probes = [], []
    for it, found in zip(items, out):
        if found is None or it.preset is None or it.probe is None:
            continue
        v = it.preset.values
        for k in _audible(_source_powers(v, {})):
            if osc_read_by(k, v.get(f"osc_{k}_distortion_type", 0.0)) is not None:
                continue
            off = {name: 0.0 for name in _ISOLATE_OFF}
            off.update({f"osc_{j}_on": 0.0 for j in (1, 2, 3) if j != k})
            presets.append(
                it.preset.with_values(**off, **{f"osc_{k}_unison_voices": 1.0, f"osc_{k}_level": 1.0})
            )
            # the loudest 0.37 s is all that is read: no need to render the whole tail
            probes.append(
                dataclasses.replace(
                    it.probe, render_seconds=min(it.probe.render_seconds, it.probe.note_seconds + 0.5)
                )
            )
            pitch = (
                it.probe.note + v.get("voice_transpose", 0.0) + v.get("voice_tune", 0.0) + _osc_semis(v, k)
            )
            jobs.append((found, k, it.sample_rate, midi_to_hz(pitch)))
    for (found, k, sr, f_nominal), res in zip(jobs, pool.render(presets, probes)):
        m = _frame_multiple(res.mono, sr, f_nominal) if res.ok else 1
        if m > 1:
            found[k] = m
    return out


def _frame_multiple(audio: np.ndarray, sample_rate: int, f_nominal: float) -> int:
    """The largest m (1..WAVEFORM_MAX_MULTIPLE) whose grid m·f_nominal holds every strong line."""
    import scipy.fft

    from synthmatch.audio.pitch import spectral_lines

    n = 16384
    x = np.asarray(audio, dtype=np.float64)
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    hop = n // 4
    starts = np.arange(0, len(x) - n + 1, hop)
    energy = [float(np.sum(x[a : a + n] ** 2)) for a in starts]
    seg = x[starts[int(np.argmax(energy))] :][:n]
    spec = np.abs(scipy.fft.rfft(seg * np.hanning(n)))
    if spec.max() <= 0:
        return 1
    bin_hz = sample_rate / n
    lines = spectral_lines(spec, bin_hz, floor_width_hz=max(f_nominal / 2.0, 20.0))
    lines = lines[lines > 0.5 * f_nominal]
    if not len(lines):
        return 1
    best = 1
    for m in range(2, WAVEFORM_MAX_MULTIPLE + 1):
        g = m * f_nominal
        k = np.round(lines / g)
        if np.all(k >= 1) and np.all(np.abs(lines - g * k) <= 0.03 * g + bin_hz):
            best = m
    return best
