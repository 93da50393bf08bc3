"""The Vital sound-matching benchmark (``../shared/docs/BENCHMARK.md``), as `synthmatch bench run`.

Suites build :class:`Item` targets; methods turn a target into a preset and the probe they chose
(from the audio alone); every (item, method) pair is rendered at that probe and scored with every
metric of :mod:`synthmatch.metrics`. The report gives medians with bootstrap 95% intervals, win
rates against each baseline, renders and seconds per match, analysis accuracy, and spectrogram
comparisons.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import math
import os
import pathlib
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthmatch import __version__
from synthmatch.bench.machine import ENGINE_SPEED_PRESETS, engine_speed, machine_info
from synthmatch.errors import SynthmatchError
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import DEFAULT_PROBE, NOTE_OFF_MARGIN_S, Probe
from synthmatch.search.build import RESERVED_EVAL_SEEDS
from synthmatch.vital.preset import Preset, osc_read_by

#: Seeds reserved for generated suites (libraries and training data refuse them).
ID_RAND_SEED = 20261122
STRESS_SEED = 20261123
assert {ID_RAND_SEED, STRESS_SEED} <= RESERVED_EVAL_SEEDS

HEADLINE = "mss_mel"
BASELINES = ("init", "random", "knn", "search-from-init", "search-big", "match-big", "external")
#: The budget of ``search-big`` and ``match-big``, in multiples of the default budget.
#: BENCHMARK.md's ``search-big`` is "the refiner with 20x the default budget (the 'what search alone
#: can reach' line)": the refiner alone, with no retrieval to start it, so from the init preset, as
#: ``search-from-init`` is at 1x. ``match-big`` is this project's stricter extra line: the whole
#: matcher (retrieval, re-rank, pruning, refiner) at 20x the budget, what more renders buy ``match``.
SEARCH_BIG_FACTOR = 20
#: Method names accepted for backward compatibility: ``search-big-from-init`` was the name of
#: ``search-big`` until the protocol's reading was settled (``match-big`` had the name ``search-big``).
METHOD_ALIASES = {"search-big-from-init": "search-big"}
#: What ``match``'s median MSS-mel must be, at most, as a multiple of each baseline's on the same
#: items (the acceptance figures of the matching issue); the report prints each ratio against it.
MATCH_TARGETS = {"knn": 0.7, "search-from-init": 0.8, "search-big": 1.25}
#: A per-item ratio at or under this counts as "within" the 20x lines in the report.
WITHIN_RATIO = 1.25


@dataclass
class Item:
    """One benchmark target. ``preset``/``probe`` are the ground truth when known (in-domain)."""

    name: str
    audio: np.ndarray  # mono [n] at the benchmark sample rate
    sample_rate: int
    probe: Probe | None = None
    preset: Preset | None = None
    release_audible: bool | None = None  # see release_audibility()
    waveform_multiples: dict[int, int] | None = None  # see waveform_multiples()


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
    from synthmatch.audio.analysis import _envelope_db

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
    refs = {k: _envelope_db(items[k].audio, items[k].sample_rate)[0] for k in set(todo)}
    for k, out in zip(todo, outs):
        if not out.ok:
            audible[k] = False
            continue
        ref = refs[k]
        env, _ = _envelope_db(out.mono[: len(items[k].audio)], items[k].sample_rate)
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

    from synthmatch.audio.analysis import _spectral_lines

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
    lines = _spectral_lines(spec, bin_hz, floor_width_hz=max(f_nominal / 2.0, 20.0))
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


# ---------------------------------------------------------------------------------------
# Suites.
# ---------------------------------------------------------------------------------------
def _render_items(
    names: list[str], presets: list[Preset], probes: list[Probe], pool: RenderPool
) -> list[Item]:
    items = []
    for name, p, pr, out in zip(names, presets, probes, pool.render(presets, probes)):
        if out.ok and np.max(np.abs(out.mono)) > 1e-4:
            items.append(Item(name, out.mono, pr.sample_rate, pr, p))
    for it, audible in zip(items, release_audibility(items, pool)):
        it.release_audible = audible
    for it, multiples in zip(items, waveform_multiples(items, pool)):
        it.waveform_multiples = multiples
    return items


#: The sampler of the id-rand suite.
RAND_SAMPLER = "mix"


def suite_id_rand(n: int, pool: RenderPool, *, seed: int = ID_RAND_SEED) -> list[Item]:
    """Presets of the project's sampler with a reserved seed; 60% at note 60, the rest at notes 36–84."""
    from synthmatch.data.samplers import make_sampler

    sampler = make_sampler(RAND_SAMPLER)
    presets = [sampler.sample(seed=seed, index=i) for i in range(n)]
    probes = [rand_probe(seed, i) for i in range(n)]
    return _render_items([f"id-rand-{i:04d}" for i in range(n)], presets, probes, pool)


def rand_probe(seed: int, index: int) -> Probe:
    """The probe of id-rand item ``index``: 60% at note 60, the rest at notes 36–84; the key held
    0.3–2.5 s, velocity 0.5–1, 4-second renders."""
    rng = np.random.default_rng([seed, index, 7])
    note = 60 if rng.random() < 0.6 else int(rng.integers(36, 85))
    note_s = float(rng.uniform(0.3, 2.5))
    return Probe(note=note, velocity=float(rng.uniform(0.5, 1.0)), note_seconds=note_s, render_seconds=4.0)


def rand_suite_label(seed: int) -> str:
    """The id-rand suite's name in reports and logs: ``id-rand`` for the evaluation seed, else
    ``id-rand-dev<seed>`` (a development seed, for tuning; its figures are not benchmark results)."""
    return "id-rand" if seed == ID_RAND_SEED else f"id-rand-dev{seed}"


def suite_id_hand(folder: str | os.PathLike[str], pool: RenderPool, *, n: int | None = None) -> list[Item]:
    """The hand-made presets of a folder (the public test split) rendered at the default probe."""
    files = sorted(pathlib.Path(folder).rglob("*.vital"))[:n]
    presets = [Preset.from_file(f) for f in files]
    return _render_items([f.stem for f in files], presets, [DEFAULT_PROBE] * len(files), pool)


def suite_ood(folder: str | os.PathLike[str], *, sample_rate: int = 44100) -> list[Item]:
    """Any folder of audio files (``notes.json`` next to them may give ground-truth notes)."""
    from synthmatch.audio.io import load_audio

    root = pathlib.Path(folder)
    notes = json.loads((root / "notes.json").read_text()) if (root / "notes.json").exists() else {}
    items = []
    for f in sorted(root.iterdir()):
        if f.suffix.lower() not in (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"):
            continue
        loaded = load_audio(f, sample_rate=sample_rate)
        truth = notes.get(f.name, {}).get("midi_note")
        probe = Probe(note=int(truth), note_seconds=1.0, render_seconds=4.0) if truth is not None else None
        items.append(Item(f.stem, loaded.samples, sample_rate, probe, None))
    return items


def suite_stress(n: int, pool: RenderPool, *, seed: int = STRESS_SEED) -> list[Item]:
    """Effects-heavy, modulation-heavy, very short and very long notes, extreme pitches."""
    from synthmatch.data.samplers import make_sampler
    from synthmatch.vital.effects import EFFECTS

    sampler = make_sampler("lhs", {"mean_modulations": 5.0, "max_modulations": 10})
    presets, probes = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        p = sampler.sample(seed=seed, index=i)
        kind = i % 4
        if kind == 0:  # effects-heavy
            for fx in EFFECTS:
                p.values[f"{fx}_on"] = 1.0
        note = int(rng.choice([24, 28, 96, 100])) if kind == 3 else int(rng.integers(36, 85))
        note_s = (
            float(rng.uniform(0.05, 0.29))
            if kind == 1
            else float(rng.uniform(3.0, 3.9))
            if kind == 2
            else 1.0
        )
        presets.append(p)
        probes.append(Probe(note=note, note_seconds=note_s, render_seconds=4.0))
    return _render_items([f"stress-{i:03d}" for i in range(n)], presets, probes, pool)


# ---------------------------------------------------------------------------------------
# Methods.
# ---------------------------------------------------------------------------------------
@dataclass
class Attempt:
    preset: Preset | None
    probe: Probe
    renders: int
    seconds: float
    detected_note: int | None = None
    release_s: float | None = None  # detected key release, seconds from the clip's start


MethodFn = Callable[[Item], Attempt]


def canonical_methods(names: list[str]) -> list[str]:
    """``names`` with old names replaced by the current ones (:data:`METHOD_ALIASES`), in order,
    without repeats, so logs and reports always use one name per method."""
    out: list[str] = []
    for n in names:
        n = METHOD_ALIASES.get(n, n)
        if n not in out:
            out.append(n)
    return out


def make_methods(
    names: list[str],
    *,
    matcher: Any,
    budget: int,
    external_dir: str | None = None,
) -> dict[str, MethodFn]:
    from synthmatch.audio.analysis import analyze
    from synthmatch.data.samplers import make_sampler
    from synthmatch.search.match import probe_for
    from synthmatch.search.refine import Budget, Objective, get_refiner

    def detect(item: Item) -> tuple[Probe, Any]:
        an = analyze(item.audio, item.sample_rate)
        return probe_for(an, duration_s=len(item.audio) / item.sample_rate, sample_rate=item.sample_rate), an

    def timed(pick: Callable[[Item, Probe, Any], tuple[Preset | None, int]]) -> MethodFn:
        """A method from ``pick(item, probe, analysis) -> (preset, renders)``: detect, time, wrap."""

        def method(item: Item) -> Attempt:
            t0 = time.monotonic()
            probe, an = detect(item)
            preset, renders = pick(item, probe, an)
            return Attempt(preset, probe, renders, time.monotonic() - t0, an.midi_note, an.release_s)

        return method

    def run_match(item: Item, b: int) -> Attempt:
        t0 = time.monotonic()
        res = matcher.match((item.audio, item.sample_rate), budget=b, candidates=1)
        release = res.analysis["release_s"]
        if release is not None:  # the matcher measures it from the trimmed clip's start
            release += res.analysis["trimmed_start_s"]
        return Attempt(
            res.best.preset, res.probe, res.renders, time.monotonic() - t0, res.analysis["midi_note"], release
        )

    # made on first use: it reads the training presets, which the other methods do not need
    rand_sampler = functools.lru_cache(maxsize=1)(lambda: make_sampler("mix"))

    def pick_random(item: Item, probe: Probe, an: Any) -> tuple[Preset, int]:
        # crc32, not hash(): str hashes are salted per process, and the baseline must repeat
        return rand_sampler().sample(seed=7, index=zlib.crc32(item.name.encode()) % 100_000), 0

    def pick_knn(item: Item, probe: Probe, an: Any) -> tuple[Preset, int]:
        (i, _), *_ = matcher.candidates(item.audio, item.sample_rate, 1)
        return matcher.library.preset(i), 0

    def search_from_init(renders: int) -> Callable[[Item, Probe, Any], tuple[Preset, int]]:
        def pick(item: Item, probe: Probe, an: Any) -> tuple[Preset, int]:
            from synthmatch.search.match import make_score, target_f0_of

            obj = Objective(
                score=make_score(item.audio, probe, target_f0=target_f0_of(an)),
                pool=matcher.pool,
                probe=probe,
            )
            best = get_refiner("cmaes").refine(Preset.init(), obj, Budget(max_renders=renders))
            return (best.preset if best else Preset.init()), obj.renders

        return pick

    def pick_external(item: Item, probe: Probe, an: Any) -> tuple[Preset | None, int]:
        f = pathlib.Path(external_dir or ".") / f"{item.name}.vital"
        return (Preset.from_file(f) if f.exists() else None), 0

    table: dict[str, MethodFn] = {
        "match": lambda item: run_match(item, budget),
        "init": timed(lambda item, probe, an: (Preset.init(), 0)),
        "random": timed(pick_random),
        "knn": timed(pick_knn),
        "search-from-init": timed(search_from_init(budget)),
        "search-big": timed(search_from_init(budget * SEARCH_BIG_FACTOR)),
        "match-big": lambda item: run_match(item, budget * SEARCH_BIG_FACTOR),
        "external": timed(pick_external),
    }
    names = canonical_methods(names)
    unknown = set(names) - set(table)
    if unknown:
        raise SynthmatchError(f"unknown methods {sorted(unknown)}; choose from {sorted(table)}")
    return {n: table[n] for n in names}


# ---------------------------------------------------------------------------------------
# Statistics and the run.
# ---------------------------------------------------------------------------------------
def bootstrap_ci(values: list[float], *, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(median, lower, upper) with a percentile bootstrap 95% interval of the median."""
    x = np.asarray([v for v in values if math.isfinite(v)], float)
    if len(x) == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    meds = np.median(x[rng.integers(0, len(x), (n_boot, len(x)))], axis=1)
    return float(np.median(x)), float(np.percentile(meds, 2.5)), float(np.percentile(meds, 97.5))


def ratio_of_medians_ci(
    a: list[float], b: list[float], *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(median(a) / median(b), lower, upper): the ratio with a paired percentile bootstrap 95%
    interval (items resampled together), over the items where both are finite."""
    pairs = np.asarray([(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)], float)
    if len(pairs) == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(pairs), (n_boot, len(pairs)))
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = np.median(pairs[idx, 0], axis=1) / np.median(pairs[idx, 1], axis=1)
    ratio = float(np.median(pairs[:, 0]) / np.median(pairs[:, 1]))
    return ratio, float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def match_ratios(scores: dict[str, list[dict[str, float]]], *, method: str = "match") -> dict[str, Any]:
    """``method`` against every other method on the headline metric, over the items both scored:
    the ratio of medians with its interval, wins, items within :data:`WITHIN_RATIO` of the other,
    and the target of :data:`MATCH_TARGETS` where there is one."""
    if method not in scores:
        return {}
    out: dict[str, Any] = {}
    mine = [r.get(HEADLINE, math.nan) for r in scores[method]]
    for base, rows in scores.items():
        if base == method:
            continue
        theirs = [r.get(HEADLINE, math.nan) for r in rows]
        both = [(x, y) for x, y in zip(mine, theirs) if math.isfinite(x) and math.isfinite(y)]
        ratio, lo, hi = ratio_of_medians_ci(mine, theirs)
        out[base] = {
            "ratio": ratio,
            "ci": [lo, hi],
            "n": len(both),
            "wins": sum(x < y for x, y in both),
            "within": sum(x <= WITHIN_RATIO * y for x, y in both),
            "target": MATCH_TARGETS.get(base),
        }
    return out


@dataclass
class SuiteResult:
    suite: str
    items: list[str]
    scores: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # method -> per item metrics
    cost: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # method -> (renders, seconds)
    analysis: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)  # kept in memory for figures


def score_attempts(items: list[Item], attempts: list[Attempt], pool: RenderPool) -> list[dict[str, float]]:
    from synthmatch.metrics import compute_metrics
    from synthmatch.search.match import _fit

    rows: list[dict[str, float]] = [{} for _ in items]
    todo = [(k, a) for k, a in enumerate(attempts) if a.preset is not None]
    outs = pool.render([a.preset for _, a in todo], [a.probe for _, a in todo])
    for (k, a), out in zip(todo, outs):
        if out.ok:
            n = max(len(items[k].audio), a.probe.n_samples)
            rows[k] = compute_metrics(_fit(items[k].audio, n), _fit(out.mono, n), items[k].sample_rate)
    return rows


class AttemptLog:
    """Append-only JSON-lines record of finished attempts, so an interrupted run resumes.

    One file per (suite, method) in the report folder. A line is reused only when its ``key`` (the
    settings that decide the result: method, budget, library, spec, search revision) equals the
    current one and its ``inputs`` (:func:`analysis_inputs`: what the note analysis hands the
    method for that item) equal the item's now. So changing a setting re-runs the items instead of
    mixing results, and a change to the analysis re-runs exactly the items whose probe or f0 it
    moves.

    ``legacy_key`` is the key of lines written before lines carried their inputs (the analysis
    revision was then part of the key): such a line is reused while that revision is still
    current, and an upgraded line with the item's inputs is appended to the log.
    """

    def __init__(
        self, folder: pathlib.Path, suite: str, method: str, key: str, *, legacy_key: str | None = None
    ) -> None:
        self.path = folder / f"attempts_{suite}_{method}.jsonl"
        self.key = key
        self.rows: dict[str, dict[str, Any]] = {}
        self._cut = False  # the last line was cut short: the next one starts on a line of its own
        if self.path.exists():
            text = self.path.read_text()
            self._cut = bool(text) and not text.endswith("\n")
            for line in text.splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill
                    continue
                if row.get("key") == key and "inputs" in row:
                    self.rows[row["item"]] = row
                elif legacy_key is not None and row.get("key") == legacy_key:
                    self.rows.setdefault(row["item"], row)

    def reuse(self, item: str, inputs: str) -> Attempt | None:
        """The logged attempt on ``item`` when it was made from the same ``inputs``, else None."""
        row = self.rows.get(item)
        if row is None:
            return None
        if "inputs" not in row:  # a legacy line, valid under the current analysis revision
            a = self._decode(row)
            self.add(item, a, inputs)
            return a
        return self._decode(row) if row["inputs"] == inputs else None

    @staticmethod
    def _decode(row: dict[str, Any]) -> Attempt:
        preset = Preset.from_vital(row["preset"]) if row["preset"] is not None else None
        return Attempt(
            preset,
            Probe.from_dict(row["probe"]),
            int(row["renders"]),
            float(row["seconds"]),
            row["detected_note"],
            row.get("release_s"),
        )

    def add(self, item: str, a: Attempt, inputs: str) -> None:
        row = {
            "item": item,
            "key": self.key,
            "inputs": inputs,
            "preset": a.preset.to_vital() if a.preset is not None else None,
            "probe": a.probe.to_dict(),
            "renders": a.renders,
            "seconds": a.seconds,
            "detected_note": a.detected_note,
            "release_s": a.release_s,
        }
        self.rows[item] = row
        with self.path.open("a") as f:
            f.write(("\n" if self._cut else "") + json.dumps(row) + "\n")
        self._cut = False


def analysis_inputs(item: Item) -> str:
    """What the note analysis hands the methods for ``item``, as a short hash.

    Two readings, each the probe and the f0 the search aims at, plus the detected note and release
    the report scores: the matcher's (:func:`synthmatch.search.match.read_target`, on the clip
    with its silent end trimmed) and the baselines' (``analyze`` on the clip as given). Every float
    goes in exactly (``repr``): the analysis is deterministic, so unchanged code gives the same hash.
    """
    from synthmatch.audio.analysis import analyze
    from synthmatch.search.match import probe_for, read_target, target_f0_of

    sr = item.sample_rate
    _, _, an_m, probe_m = read_target((item.audio, sr), sample_rate=sr)
    an_b = analyze(item.audio, sr)
    probe_b = probe_for(an_b, duration_s=len(item.audio) / sr, sample_rate=sr)
    parts = [
        (probe.to_dict(), target_f0_of(an), an.midi_note, an.release_s)
        for an, probe in ((an_m, probe_m), (an_b, probe_b))
    ]
    return format(zlib.crc32(repr(parts).encode()), "08x")


def _analysis_record(it: Item, a: Attempt) -> dict[str, Any]:
    """What the analysis found on one item against its truth (the played note for audio-only items)."""
    if it.preset is not None and it.probe is not None:
        truth, reason = pitch_truth(it.preset, it.probe.note, it.waveform_multiples)
        true_s: float | None = it.probe.note_seconds
    else:
        truth, reason, true_s = (it.probe.note if it.probe else None), None, None
    return {
        "item": it.name,
        "played_note": it.probe.note if it.probe else None,
        "true_note": truth,
        "pitch_truth": reason,
        "detected_note": a.detected_note,
        "true_note_s": true_s,
        "release_audible": it.release_audible,
        "detected_note_s": a.release_s,
    }


def run_suite(
    suite: str,
    items: list[Item],
    methods: dict[str, MethodFn],
    pool: RenderPool,
    *,
    parallel_items: int = 1,
    progress: Callable[[int, int], None] | None = None,
    log_dir: pathlib.Path | None = None,
    settings_key: Callable[[str], str] | None = None,
    legacy_key: Callable[[str], str] | None = None,
) -> SuiteResult:
    """Run every method on every item and score the results.

    With ``log_dir``, finished attempts are appended to ``attempts_<suite>_<method>.jsonl`` there
    and reused by a later run with the same settings (``settings_key(method)``) and the same
    analysis of the item (:func:`analysis_inputs`): a killed run resumes where it stopped.
    ``legacy_key(method)`` is the key of lines written before they carried their inputs
    (:class:`AttemptLog`).
    """
    res = SuiteResult(suite, [it.name for it in items])
    total = len(items) * len(methods)
    done = 0
    inputs_of = functools.lru_cache(maxsize=None)(lambda k: analysis_inputs(items[k]))
    for name, fn in methods.items():
        log = (
            AttemptLog(
                log_dir,
                suite,
                name,
                (settings_key or str)(name),
                legacy_key=legacy_key(name) if legacy_key else None,
            )
            if log_dir
            else None
        )
        results: dict[str, Attempt] = {}
        if log is not None:
            for k, it in enumerate(items):
                if it.name in log.rows and (a := log.reuse(it.name, inputs_of(k))) is not None:
                    results[it.name] = a
        todo = [(k, it) for k, it in enumerate(items) if it.name not in results]
        done += len(items) - len(todo)
        if progress and len(todo) < len(items):
            progress(done, total)
        with ThreadPoolExecutor(max(1, parallel_items)) as ex:
            for (k, it), a in zip(todo, ex.map(fn, [it for _, it in todo])):
                results[it.name] = a
                if log is not None:
                    log.add(it.name, a, inputs_of(k))
                done += 1
                if progress:
                    progress(done, total)
        attempts = [results[it.name] for it in items]
        res.attempts[name] = attempts
        res.scores[name] = score_attempts(items, attempts, pool)
        res.cost[name] = [(a.renders, a.seconds) for a in attempts]
        if name == "match" or not res.analysis:
            res.analysis = [_analysis_record(it, a) for it, a in zip(items, attempts)]
    return res


def summarize(res: SuiteResult) -> dict[str, Any]:
    methods = list(res.scores)
    metric_names = sorted({m for rows in res.scores.values() for r in rows for m in r})
    table: dict[str, Any] = {}
    for meth in methods:
        rows = res.scores[meth]
        table[meth] = {m: bootstrap_ci([r.get(m, math.nan) for r in rows]) for m in metric_names}
        # a method merged over only some items has no cost on the others (nan)
        renders = [c[0] for c in res.cost[meth] if math.isfinite(c[0])]
        secs = [c[1] for c in res.cost[meth] if math.isfinite(c[1])]
        table[meth]["renders_per_match"] = float(np.median(renders)) if renders else math.nan
        table[meth]["seconds_per_match"] = float(np.median(secs)) if secs else math.nan
        table[meth]["n_scored"] = sum(1 for r in rows if r)
    wins: dict[str, dict[str, float]] = {}
    for meth in methods:
        wins[meth] = {}
        for base in methods:
            if base == meth:
                continue
            pairs = [
                (a.get(HEADLINE), b.get(HEADLINE))
                for a, b in zip(res.scores[meth], res.scores[base])
                if a.get(HEADLINE) is not None and b.get(HEADLINE) is not None
            ]
            wins[meth][base] = float(np.mean([x < y for x, y in pairs])) if pairs else math.nan
    an = [a for a in res.analysis if a["true_note"] is not None]
    pitched = [a for a in an if a["detected_note"] is not None]
    note_acc = float(np.mean([a["true_note"] == a["detected_note"] for a in an])) if an else math.nan
    timed = [a for a in res.analysis if a["true_note_s"] is not None and a["detected_note_s"] is not None]
    len_err = [abs(a["true_note_s"] - a["detected_note_s"]) for a in timed]
    len_err_obs = [abs(a["true_note_s"] - a["detected_note_s"]) for a in timed if a.get("release_audible")]
    reasons: dict[str, int] = {}
    for a in res.analysis:
        if a.get("pitch_truth") not in (None, "ok"):
            reasons[a["pitch_truth"]] = reasons.get(a["pitch_truth"], 0) + 1
    return {
        "suite": res.suite,
        "n_items": len(res.items),
        "metrics": table,
        "win_rate_mss_mel": wins,
        "match_ratios": match_ratios(res.scores),
        "analysis": {
            "items_with_truth": len(an),
            "detected_pitched": len(pitched),
            "exact_note_rate": note_acc,
            "exact_note_rate_pitched": float(np.mean([a["true_note"] == a["detected_note"] for a in pitched]))
            if pitched
            else math.nan,
            "median_note_length_error_s": float(np.median(len_err)) if len_err else math.nan,
            "audible_releases": len(len_err_obs),
            "median_note_length_error_audible_s": float(np.median(len_err_obs)) if len_err_obs else math.nan,
            "no_single_pitch": reasons,
        },
    }


def format_markdown(summaries: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = ["# synthmatch benchmark report", "", "```", json.dumps(meta, indent=1), "```", ""]
    for s in summaries:
        lines += [f"## Suite `{s['suite']}` ({s['n_items']} items)", ""]
        methods = list(s["metrics"])
        shown = [
            m
            for m in ("mss_mel", "wmfcc", "sot", "rms_cos", "a_mean", "f0_error_cents")
            if any(m in s["metrics"][x] for x in methods)
        ]
        lines.append("| method | " + " | ".join(shown) + " | renders/match | s/match |")
        lines.append("|---" * (len(shown) + 3) + "|")
        for meth in methods:
            cells = []
            for m in shown:
                med, lo, hi = s["metrics"][meth].get(m, (math.nan,) * 3)
                cells.append(f"{med:.3f} [{lo:.3f}, {hi:.3f}]")
            t = s["metrics"][meth]
            lines.append(
                f"| {meth} | "
                + " | ".join(cells)
                + f" | {t['renders_per_match']:.0f} | {t['seconds_per_match']:.2f} |"
            )
        lines += ["", "Win rate on MSS-mel (row beats column):", ""]
        lines.append("| method | " + " | ".join(methods) + " |")
        lines.append("|---" * (len(methods) + 1) + "|")
        for meth in methods:
            lines.append(
                f"| {meth} | "
                + " | ".join(
                    "—" if b == meth else f"{s['win_rate_mss_mel'][meth].get(b, math.nan):.2f}"
                    for b in methods
                )
                + " |"
            )
        ratios = s.get("match_ratios") or {}
        if ratios:
            lines += [
                "",
                f"`match` against each method on MSS-mel, over the items both scored: ratio of medians "
                f"(paired bootstrap 95% interval), wins, items within {WITHIN_RATIO}× of it:",
                "",
                "| against | match / it | 95% interval | wins | within | target |",
                "|---|---|---|---|---|---|",
            ]
            for base, r in ratios.items():
                target = r["target"]
                verdict = (
                    "" if target is None else f"≤ {target} ({'met' if r['ratio'] <= target else 'not met'})"
                )
                lines.append(
                    f"| {base} | {r['ratio']:.3f} | [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}] | "
                    f"{r['wins']} of {r['n']} | {r['within']} of {r['n']} | {verdict} |"
                )
        a = s["analysis"]
        lines += [
            "",
            f"Analysis: exact MIDI note {a['exact_note_rate']:.3f} of {a['items_with_truth']} items with a single "
            f"known pitch ({a['exact_note_rate_pitched']:.3f} of {a['detected_pitched']} detected as pitched); "
            f"median note-length error {a['median_note_length_error_s']:.3f} s over all items, "
            f"{a['median_note_length_error_audible_s']:.3f} s over the {a['audible_releases']} "
            "whose release is audible (moving it by 0.1 s changes the envelope by 3 dB or more).",
            "",
        ]
        if a.get("no_single_pitch"):
            lines += [
                "Items without a single pitch (not scored for the note): "
                + ", ".join(
                    f"{k} {v}" for k, v in sorted(a["no_single_pitch"].items(), key=lambda kv: -kv[1])
                )
                + ".",
                "",
            ]
    return "\n".join(lines)


def spectrogram_figures(
    res: SuiteResult,
    items: list[Item],
    attempts_audio: dict[str, list[np.ndarray | None]],
    out: pathlib.Path,
    *,
    n: int = 3,
) -> list[pathlib.Path]:
    from synthmatch.search.report import spectrogram_png

    paths = []
    for k, it in enumerate(items[:n]):
        sigs = [("target", it.audio)] + [(m, a[k]) for m, a in attempts_audio.items() if a[k] is not None]
        p = out / f"spectrogram_{res.suite}_{k}.png"
        p.write_bytes(spectrogram_png(sigs, it.sample_rate))
        paths.append(p)
    return paths


def _settings_key(
    method: str, budget: int, matcher: Any, external_dir: str | None, *, legacy: bool = False
) -> str:
    """What decides a method's result on an item, for reusing logged attempts (besides the item's
    analysis, which each logged line carries: :func:`analysis_inputs`).

    ``legacy``: the key of lines written before they carried their analysis, which named the
    analysis revision instead (:class:`AttemptLog`)."""
    from synthmatch.search.match import MATCH_REVISION, REFINER_REVISION
    from synthmatch.vital.spec import default_space

    parts: dict[str, Any] = {"method": method, "version": __version__, "spec": default_space().spec_hash}
    if legacy:
        from synthmatch.audio.analysis import ANALYSIS_REVISION

        parts["analysis"] = ANALYSIS_REVISION
    searches = ("match", "match-big", "search-from-init", "search-big")
    if method in searches:
        parts["budget"] = budget
        # the whole pipeline for match and match-big; the refiner alone for the search lines
        parts["revision"] = MATCH_REVISION if method in ("match", "match-big") else REFINER_REVISION
    if method in ("match", "match-big", "knn"):
        parts["library"] = zlib.crc32(
            json.dumps(matcher.library.provenance, sort_keys=True, default=str).encode()
        )
    if method == "external":
        parts["external_dir"] = str(pathlib.Path(external_dir or ".").resolve())
    return json.dumps(parts, sort_keys=True)


def run_benchmark(
    *,
    suites: list[str],
    methods: list[str],
    out: str | os.PathLike[str],
    budget: int,
    n_rand: int = 200,
    rand_seed: int | None = None,
    n_stress: int = 40,
    n_hand: int | None = None,
    hand_dir: str | None = None,
    ood_dir: str | None = None,
    external_dir: str | None = None,
    library: str | None = None,
    workers: int | None = None,
    parallel_items: int = 1,
    shard: tuple[int, int] | None = None,
    ray_address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine_speed_presets: int = ENGINE_SPEED_PRESETS,
) -> dict[str, Any]:
    """Run the protocol; write ``report.md``, ``report.json`` and spectrogram PNGs into ``out``.

    ``ray_address`` renders (and scores) on Ray: ``"local"`` starts an instance here with
    ``workers`` CPUs, anything else joins a cluster. ``workers`` then sets how many renders each
    search keeps in flight (default: the cluster's CPUs), which shapes CMA-ES's population, so pass
    the same ``workers`` as a local run to repeat its results.

    ``rand_seed`` is the id-rand sampler seed (None: the reserved evaluation seed; any other is a
    development suite, see :func:`rand_suite_label`). ``shard=(k, n)`` runs only the items whose
    index in the suite is ``k`` modulo ``n``: shards run on separate processes or machines, and
    their ``attempts_*.jsonl`` files, put together in one folder, make the whole run's log.

    ``engine_speed_presets`` times the engine on that many bundled-library presets before the
    suites and after each (:func:`~synthmatch.bench.machine.engine_speed`; 0: not timed), so a
    report's seconds per match can be read against how fast the machine was at the time.
    """
    if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise SynthmatchError(f"shard {shard[0]}/{shard[1]} is not K/N with 0 <= K < N")
    from synthmatch.data_paths import shared_dir
    from synthmatch.render.engine import engine_version
    from synthmatch.search.match import Matcher, _fit

    rand_seed = ID_RAND_SEED if rand_seed is None else rand_seed
    methods = canonical_methods(methods)
    outp = pathlib.Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    meta_machine = machine_info()  # this process's machine (on Ray, renders run elsewhere too)
    # the engine's speed now, then after each suite (0 presets: not measured)
    speeds = [engine_speed(engine_speed_presets)] if engine_speed_presets else []
    summaries = []
    with contextlib.ExitStack() as stack:
        ray_pool = None
        if ray_address:
            from synthmatch.data.ray_backend import RayExecutor

            rex = RayExecutor(ray_address, num_cpus=workers if ray_address == "local" else None)
            stack.callback(rex.shutdown)
            ray_pool = RenderPool(executor=rex, workers=workers or rex.cpus)
        matcher = stack.enter_context(Matcher(library=library, workers=workers, pool=ray_pool))
        pool = matcher.pool
        fns = make_methods(methods, matcher=matcher, budget=budget, external_dir=external_dir)
        for suite in suites:
            if suite == "id-rand":
                items = suite_id_rand(n_rand, pool, seed=rand_seed)
                suite = rand_suite_label(rand_seed)
            elif suite == "id-hand":
                items = suite_id_hand(hand_dir or shared_dir() / "presets" / "test", pool, n=n_hand)
            elif suite == "ood":
                if not ood_dir:
                    raise SynthmatchError("the ood suite needs --ood-dir (a folder of audio files)")
                items = suite_ood(ood_dir)
            elif suite == "stress":
                items = suite_stress(n_stress, pool)
            else:
                raise SynthmatchError(f"unknown suite {suite!r}; choose from id-rand, id-hand, ood, stress")
            if shard is not None:
                items = items[shard[0] :: shard[1]]
            res = run_suite(
                suite,
                items,
                fns,
                pool,
                parallel_items=parallel_items,
                progress=progress,
                log_dir=outp,
                settings_key=lambda meth: _settings_key(meth, budget, matcher, external_dir),
                legacy_key=lambda meth: _settings_key(meth, budget, matcher, external_dir, legacy=True),
            )
            summaries.append(summarize(res))
            # spectrograms for the first items: re-render what each method returned
            audio: dict[str, list[np.ndarray | None]] = {}
            for meth, atts in res.attempts.items():
                first = [a for a in atts[:3] if a.preset is not None]
                if len(first) < len(atts[:3]):
                    continue
                outs = pool.render([a.preset for a in first], [a.probe for a in first])
                audio[meth] = [
                    _fit(o.mono, len(it.audio)) if o.ok else None for o, it in zip(outs, items[:3])
                ]
            spectrogram_figures(res, items, audio, outp)
            if engine_speed_presets:
                speeds.append(engine_speed(engine_speed_presets))
            (outp / f"scores_{suite}.json").write_text(
                json.dumps(
                    {
                        "suite": suite,
                        "shard": list(shard) if shard else None,
                        # what decided each method's results: merge_scores refuses to mix settings
                        "keys": {m: _settings_key(m, budget, matcher, external_dir) for m in res.scores},
                        "items": res.items,
                        "scores": res.scores,
                        "cost": res.cost,
                        "analysis": res.analysis,
                        # where its seconds per match were measured (compare them on one CPU only)
                        "machine": meta_machine,
                        # the engine's speed before and after this suite (machine.engine_speed)
                        "engine_speed": speeds[-2:],
                    },
                    default=str,
                )
            )
    meta = {
        "command_settings": {
            "suites": suites,
            "methods": methods,
            "budget": budget,
            "n_rand": n_rand,
            "rand_seed": rand_seed,
            "n_stress": n_stress,
            "n_hand": n_hand,
            "shard": list(shard) if shard else None,
            "ray_address": ray_address,
        },
        "machine": meta_machine,
        "engine_speed": speeds,
        "versions": {"synthmatch": __version__, "vita": engine_version()},
        "wall_seconds": time.monotonic() - t0,
    }
    report = {"meta": meta, "suites": summaries}
    (outp / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (outp / "report.md").write_text(format_markdown(summaries, meta))
    return report


def merge_scores(paths: list[str | os.PathLike[str]], out: str | os.PathLike[str]) -> dict[str, Any]:
    """One report from the ``scores_<suite>.json`` files of several runs (shards run on other
    processes, machines or days), without rendering anything; ``paths`` are files or the report
    folders holding them. Write ``report.md``, ``report.json`` and the merged ``scores_<suite>.json``
    into ``out``.

    Files are joined by item name: a method run later, or on another machine, over some of the
    same items (a baseline added to a finished run) is paired with the others on the items both
    scored, and an item a method did not run gets no score for it. Every file that has a method
    must have it with the same settings key (the files written before they carried their keys
    cannot be checked, and are refused when mixed with others). An item that a method scored in
    several files must have the same scores in each. The report notes each method scored on only
    some of the items."""
    files: list[pathlib.Path] = []
    for p in map(pathlib.Path, paths):
        found = sorted(p.glob("scores_*.json")) if p.is_dir() else [p]
        if not found or not all(f.is_file() for f in found):
            raise SynthmatchError(
                f"{p}: no scores_<suite>.json here; pass the files or the report folders of `bench run`"
            )
        files += found
    by_suite: dict[str, list[tuple[pathlib.Path, dict[str, Any]]]] = {}
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SynthmatchError(f"{f}: not a scores file of `bench run` ({exc})") from exc
        if not (
            isinstance(data, dict)
            and isinstance(data.get("items"), list)
            and isinstance(data.get("scores"), dict)
        ):
            raise SynthmatchError(f"{f}: not a scores file of `bench run` (no items and scores)")
        suite = data.get("suite") or f.stem.removeprefix("scores_")
        by_suite.setdefault(suite, []).append((f, data))
    summaries, notes = [], []
    outp = pathlib.Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    for suite, parts in by_suite.items():
        # an item's analysis record (detected note, note length) comes from a match where one ran
        parts = sorted(parts, key=lambda part: "match" not in part[1]["scores"])
        methods = list(dict.fromkeys(m for _, d in parts for m in d["scores"]))
        keys = {}
        for m in methods:
            having = [(f, d) for f, d in parts if m in d["scores"]]
            seen = {json.dumps((d.get("keys") or {}).get(m)) for _, d in having}
            if len(seen) > 1:
                raise SynthmatchError(
                    f"{suite}: method {m!r} ran with other settings in "
                    f"{', '.join(str(f) for f, _ in having)} ({' vs '.join(sorted(seen))}); "
                    "merge only runs of the same settings"
                )
            keys[m] = json.loads(seen.pop())
        scores: dict[str, dict[str, Any]] = {m: {} for m in methods}  # method -> item -> scores
        cost: dict[str, dict[str, Any]] = {m: {} for m in methods}
        analysis: dict[str, Any] = {}
        for f, d in parts:
            n = len(d["items"])
            costs = d.get("cost") or {}
            records = d.get("analysis") or [None] * n
            for k, name in enumerate(d["items"]):
                for m in d["scores"]:
                    row = d["scores"][m][k]
                    if name in scores[m] and scores[m][name] != row:
                        raise SynthmatchError(
                            f"{suite}: item {name} has different {m!r} scores in two files (last: {f}); "
                            "the same run twice gives the same scores on one machine, but another CPU "
                            "model can move them slightly: merge each item's runs from one machine"
                        )
                    scores[m][name] = row
                    cost[m][name] = costs[m][k] if m in costs else (0, math.nan)
                if analysis.get(name) is None:
                    analysis[name] = records[k]
        names = sorted(analysis)
        for m in methods:
            if len(scores[m]) < len(names):
                notes.append(f"{suite}: {m} ran on {len(scores[m])} of the {len(names)} items")
        res = SuiteResult(suite, names)
        res.scores = {m: [scores[m].get(n, {}) for n in names] for m in methods}
        res.cost = {m: [tuple(cost[m].get(n, (math.nan, math.nan))) for n in names] for m in methods}
        res.analysis = [analysis[n] for n in names if analysis[n] is not None]
        summaries.append(summarize(res))
        (outp / f"scores_{suite}.json").write_text(
            json.dumps(
                {
                    "suite": suite,
                    "shard": None,
                    "keys": keys,
                    "items": names,
                    "scores": res.scores,
                    "cost": res.cost,
                    "analysis": res.analysis,
                },
                default=str,
            )
        )
    machines = {json.dumps(d.get("machine"), sort_keys=True) for parts in by_suite.values() for _, d in parts}
    meta = {
        "merged_from": [str(f) for f in files],
        "notes": notes,
        # the seconds per match of files from other machines are not comparable with each other
        "machines": [json.loads(m) for m in sorted(machines)],
        "versions": {"synthmatch": __version__},
    }
    report = {"meta": meta, "suites": summaries}
    (outp / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (outp / "report.md").write_text(format_markdown(summaries, meta))
    return report
