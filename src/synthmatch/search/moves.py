"""Structural moves: the discrete neighbours of a preset that continuous search cannot reach.

CMA-ES moves knobs; it cannot pick another wavetable, switch a filter on, change the unison
count, transpose by an octave, add a modulation or reorder the effects. Between its rounds the
match takes one *structural step* (:func:`structural_step`): it renders a few neighbours of the
best preset so far, each one discrete change away, and keeps the best if it beats the preset.

Moves register by name (:func:`register_move`); each turns a preset and the target's
:class:`MoveContext` into ``[(what changed, neighbour)]``. :data:`MOVE_ORDER` is the order they
are asked in, and a step renders at most :data:`MOVES_PER_STEP` neighbours.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from synthmatch.vital.effects import EFFECTS, decode_order, encode_order
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.wavetables import wave_source_frames, wavetable_from_frames

if TYPE_CHECKING:
    from synthmatch.search.refine import Budget, Evaluation, Objective
    from synthmatch.search.target import Target

#: Neighbours rendered per structural step (full renders: one preset load each).
MOVES_PER_STEP = 8
#: Harmonics compared when looking for the wavetable nearest the target's spectrum.
SPECTRUM_HARMONICS = 32
#: Unison voices a single-voice oscillator is tried with.
UNISON_TRY = 3
#: Amount of a modulation connection a move adds (of the destination's range).
ADDED_AMOUNT = 0.25
#: Reverb mix (dry/wet) a move switches the reverb on with: a room, not a wash.
REVERB_MIX = 0.2

_OSCS = (1, 2, 3)


@dataclass(frozen=True)
class MoveContext:
    """What the moves know of the target: its harmonic amplitudes at the middle of the note
    (relative, [shape=(H,)]; None when unpitched), the resynthesised single-cycle frame of its
    attack [shape=(2048,)], the roll-off of its partials (MIDI note), and its vibrato (rate in
    Hz, depth in cents; None when it has none: :func:`vibrato_of`)."""

    harmonics: np.ndarray | None
    attack_frame: np.ndarray | None
    rolloff_note: float
    vibrato: tuple[float, float] | None = None


def context_for(target: Target) -> MoveContext:
    """The target's :class:`MoveContext` (one short harmonic analysis, no render)."""
    from synthmatch.search.resynth import _rolloff_midi, frames_from_amplitudes, harmonic_frames

    f0 = target.f0 or 440.0 * 2.0 ** ((target.probe.note - 69) / 12.0)
    mid = 0.5 * target.probe.note_seconds
    amps, _ = harmonic_frames(target.samples, target.sample_rate, f0=f0, times=np.array([0.05, mid]))
    vibrato = vibrato_of(target.samples, target.sample_rate) if target.f0 else None
    if not np.any(amps > 0):
        return MoveContext(None, None, 100.0, vibrato)
    attack = frames_from_amplitudes(amps[:1])[0]
    roll = float(_rolloff_midi(amps[:1], f0)[0])
    return MoveContext(amps[1] if target.f0 else None, attack, roll, vibrato)


#: Vibrato: rates searched (Hz), the least depth (cents) and voiced length (s) that count, and the
#: share of the pitch track's 1.5-12 Hz energy the peak must hold.
VIBRATO_RATES = (3.0, 9.0)
VIBRATO_MIN_CENTS = 6.0
VIBRATO_MIN_SECONDS = 0.6
VIBRATO_PEAK_SHARE = 0.3
#: Pitch-track frames further than this from the run's median (cents) are tracker errors.
VIBRATO_MAX_CENTS = 100.0


def vibrato_of(samples: np.ndarray, sample_rate: int) -> tuple[float, float] | None:
    """(rate in Hz, depth in cents) of a periodic pitch modulation of the target's longest voiced
    run, or None. The pitch track in cents, less its 0.4 s moving average, is searched for a
    spectral peak between :data:`VIBRATO_RATES`; depth is the peak amplitude (sqrt 2 x RMS)."""
    from synthmatch.audio.analysis import pitch_track
    from synthmatch.errors import AudioError

    try:
        tr = pitch_track(samples, sample_rate)
    except AudioError:
        return None
    voiced = tr.voiced & (tr.f0_hz > 0)
    if voiced.sum() < 4 or len(tr.times_s) < 2:
        return None
    hop = float(tr.times_s[1] - tr.times_s[0])
    edges = np.diff(np.concatenate([[0], voiced.astype(int), [0]]))
    starts, stops = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    i = int(np.argmax(stops - starts))
    run = tr.f0_hz[starts[i] : stops[i]]
    if len(run) * hop < VIBRATO_MIN_SECONDS:
        return None
    cents = 1200.0 * np.log2(run / np.median(run))
    ok = np.abs(cents) <= VIBRATO_MAX_CENTS  # octave slips of the tracker are not vibrato
    if ok.mean() < 0.8:
        return None
    cents = np.interp(np.arange(len(cents)), np.flatnonzero(ok), cents[ok])
    w = max(1, round(0.4 / hop))
    detrended = cents - np.convolve(cents, np.ones(w) / w, mode="same")
    detrended = detrended[w // 2 : len(detrended) - w // 2]
    if len(detrended) < 8:
        return None
    spec = np.abs(np.fft.rfft(detrended * np.hanning(len(detrended)))) ** 2
    freqs = np.fft.rfftfreq(len(detrended), hop)
    band = (freqs >= VIBRATO_RATES[0]) & (freqs <= VIBRATO_RATES[1])
    wide = (freqs >= 1.5) & (freqs <= 12.0)
    if not band.any() or spec[wide].sum() <= 0:
        return None
    k = int(np.flatnonzero(band)[np.argmax(spec[band])])
    near = slice(max(0, k - 1), k + 2)
    depth = math.sqrt(2.0) * float(np.std(detrended))
    if spec[near].sum() < VIBRATO_PEAK_SHARE * spec[wide].sum() or depth < VIBRATO_MIN_CENTS:
        return None
    return float(freqs[k]), depth


Move = Callable[[Preset, MoveContext], list[tuple[str, Preset]]]
#: Registered moves by name.
MOVES: dict[str, Move] = {}


def register_move(name: str) -> Callable[[Move], Move]:
    def deco(fn: Move) -> Move:
        MOVES[name] = fn
        return fn

    return deco


def _loudest_osc(p: Preset) -> int | None:
    on = [k for k in _OSCS if p.values.get(f"osc_{k}_on", 0.0) >= 0.5]
    return max(on, key=lambda k: p.values.get(f"osc_{k}_level", 0.0)) if on else None


@register_move("octave")
def _octave(p: Preset, ctx: MoveContext) -> list[tuple[str, Preset]]:
    vt = p.values.get("voice_transpose", 0.0)
    return [
        (f"transposed {s:+d}", p.with_values(voice_transpose=vt + s))
        for s in (-12, 12)
        if -48 <= vt + s <= 48
    ]


def _harmonic_spectrum(frame: np.ndarray) -> np.ndarray:
    mag = np.abs(np.fft.rfft(frame))[1 : SPECTRUM_HARMONICS + 1]
    return 20.0 * np.log10(np.maximum(mag / max(float(mag.max()), 1e-12), 1e-4))


@functools.lru_cache(maxsize=1)
def _vocabulary() -> tuple[list[dict[str, Any]], np.ndarray]:
    """The shipped estimator's wavetables with the spectra of their first frames (dB, relative)."""
    from synthmatch.models.vocab import load_wavetables
    from synthmatch.search.estimator import WAVETABLES_FILE, default_estimator_path

    try:
        _, tables = load_wavetables(default_estimator_path() / WAVETABLES_FILE)
    except (OSError, ValueError):
        return [], np.zeros((0, SPECTRUM_HARMONICS))
    kept, spectra = [], []
    for t in tables:
        frames = wave_source_frames(t)
        if frames is not None and len(frames):
            kept.append(t)
            spectra.append(_harmonic_spectrum(frames[0]))
    return kept, np.array(spectra).reshape(-1, SPECTRUM_HARMONICS)


@register_move("wavetable")
def _wavetable(p: Preset, ctx: MoveContext) -> list[tuple[str, Preset]]:
    """The loudest oscillator with the target's own attack cycle, and with the wavetable of the
    vocabulary nearest the target's harmonic spectrum."""
    k = _loudest_osc(p)
    if k is None or ctx.attack_frame is None:
        return []
    out = []
    own = p.control_copy()  # its wavetable list is its own: replacing one entry leaves p's
    own.wavetables[k - 1] = wavetable_from_frames(ctx.attack_frame[None], name="synthmatch analysis")
    out.append((f"osc {k} resynthesised", own.with_values(**{f"osc_{k}_wave_frame": 0.0})))
    tables, spectra = _vocabulary()
    if ctx.harmonics is not None and len(tables):
        h = ctx.harmonics[:SPECTRUM_HARMONICS]
        target = np.full(SPECTRUM_HARMONICS, -80.0)
        target[: len(h)] = 20.0 * np.log10(np.maximum(h / max(float(h.max()), 1e-12), 1e-4))
        nearest = int(np.argmin(np.mean(np.abs(spectra - target), axis=1)))
        other = p.control_copy()
        other.wavetables[k - 1] = tables[nearest]
        out.append((f"osc {k} wavetable {tables[nearest].get('name', nearest)}", other))
    return out


@register_move("filter")
def _filter(p: Preset, ctx: MoveContext) -> list[tuple[str, Preset]]:
    """Filter 1 switched on as a low-pass over the target's roll-off when off; else the other
    slope (12 ↔ 24 dB) of its style."""
    v = p.values
    if v.get("filter_1_on", 0.0) < 0.5:
        cutoff = float(np.clip(ctx.rolloff_note + 12.0, 8.0, 136.0))
        on = p.with_values(
            filter_1_on=1.0,
            filter_1_model=0.0,
            filter_1_style=0.0,
            filter_1_blend=0.0,
            filter_1_cutoff=cutoff,
        )
        for k in _OSCS:
            on.values[f"osc_{k}_destination"] = 0.0
        return [("filter 1 on", on)]
    style = v.get("filter_1_style", 0.0)
    if style in (0.0, 1.0) and v.get("filter_1_model", 0.0) not in (5.0, 6.0, 7.0):
        return [("filter 1 slope", p.with_values(filter_1_style=1.0 - style))]
    return []


@register_move("vibrato")
def _vibrato(p: Preset, ctx: MoveContext) -> list[tuple[str, Preset]]:
    """The target's vibrato: a free LFO (in seconds, at its rate) to the loudest oscillator's
    tune, bipolar, at its depth."""
    k = _loudest_osc(p)
    if ctx.vibrato is None or k is None:
        return []
    used = {m.source for m in p.modulations if m.audible}
    free = [j for j in range(1, 9) if f"lfo_{j}" not in used]
    if not free:
        return []
    rate, depth = ctx.vibrato
    j = free[0]
    q = p.with_values(
        **{f"lfo_{j}_sync": 0.0, f"lfo_{j}_frequency": math.log2(rate), f"lfo_{j}_sync_type": 0.0}
    )
    # osc tune spans 2 semitones: an amount of 1 moves it by 2 semitones
    amount = float(np.clip(depth / 100.0 / 2.0, 0.0, 1.0))
    q.modulations = [*p.modulations, Modulation(f"lfo_{j}", f"osc_{k}_tune", amount=amount, bipolar=True)]
    return [(f"vibrato {rate:.1f} Hz {depth:.0f}c", q)]


@register_move("unison")
def _unison(p: Preset, ctx: MoveContext) -> list[tuple[str, Preset]]:
    k = _loudest_osc(p)
    if k is None:
        return []
    voices = p.values.get(f"osc_{k}_unison_voices", 1.0)
    to = float(UNISON_TRY) if voices <= 1.0 else 1.0
    return [(f"osc {k} unison {int(to)}", p.with_values(**{f"osc_{k}_unison_voices": to}))]


@register_move("modulation")
def _modulation(p: Preset, ctx: MoveContext) -> list[tuple[str, Preset]]:
    """Envelope 2 to filter 1's cutoff added (when the filter is on and nothing moves it yet);
    the audible connection of least amount removed."""
    out = []
    dests = {m.destination for m in p.modulations if m.audible}
    if p.values.get("filter_1_on", 0.0) >= 0.5 and "filter_1_cutoff" not in dests and len(p.modulations) < 60:
        added = p.control_copy()
        added.modulations = [*p.modulations, Modulation("env_2", "filter_1_cutoff", amount=ADDED_AMOUNT)]
        out.append(("env 2 → filter 1 cutoff", added))
    audible = [m for m in p.modulations if m.audible]
    if audible:
        weakest = min(audible, key=lambda m: abs(m.amount))
        removed = p.control_copy()
        removed.modulations = [m for m in p.modulations if m is not weakest]
        out.append((f"{weakest.source} → {weakest.destination} removed", removed))
    return out


@register_move("effect")
def _effect(p: Preset, ctx: MoveContext) -> list[tuple[str, Preset]]:
    """The reverb switched on (a room) when off; two effects of the chain swapped when at least
    two are on."""
    v = p.values
    out = []
    if v.get("reverb_on", 0.0) < 0.5:
        out.append(("reverb on", p.with_values(reverb_on=1.0, reverb_dry_wet=REVERB_MIX)))
    on = [i for i, fx in enumerate(EFFECTS) if v.get(f"{fx}_on", 0.0) >= 0.5]
    if len(on) >= 2:
        order = decode_order(v.get("effect_chain_order", 0.0))
        a, b = (order.index(i) for i in on[:2])
        order[a], order[b] = order[b], order[a]
        out.append(
            (
                f"{EFFECTS[on[0]]} ↔ {EFFECTS[on[1]]}",
                p.with_values(effect_chain_order=float(encode_order(order))),
            )
        )
    return out


@register_move("source")
def _source(p: Preset, ctx: MoveContext) -> list[tuple[str, Preset]]:
    """An oscillator that is off switched on with the loudest one's wavetable an octave under it."""
    k = _loudest_osc(p)
    off = [j for j in _OSCS if p.values.get(f"osc_{j}_on", 0.0) < 0.5]
    if k is None or not off:
        return []
    j = off[0]
    v = p.values
    q = p.with_values(
        **{
            f"osc_{j}_on": 1.0,
            f"osc_{j}_level": 0.5 * v.get(f"osc_{k}_level", 0.7071),
            f"osc_{j}_transpose": float(np.clip(v.get(f"osc_{k}_transpose", 0.0) - 12.0, -48, 48)),
            f"osc_{j}_destination": v.get(f"osc_{k}_destination", 0.0),
            f"osc_{j}_unison_voices": 1.0,
        }
    )
    q.wavetables[j - 1] = p.wavetables[k - 1]
    return [(f"osc {j} on, an octave under osc {k}", q)]


#: The order moves are asked in: the likeliest to pay first, since a step renders at most
#: :data:`MOVES_PER_STEP` of their neighbours.
MOVE_ORDER: tuple[str, ...] = (
    "octave",
    "vibrato",
    "wavetable",
    "filter",
    "modulation",
    "unison",
    "effect",
    "source",
)


def neighbours(p: Preset, ctx: MoveContext, *, limit: int = MOVES_PER_STEP) -> list[tuple[str, Preset]]:
    """Up to ``limit`` neighbours of ``p``, one structural change each, in :data:`MOVE_ORDER`."""
    out: list[tuple[str, Preset]] = []
    for name in MOVE_ORDER:
        out.extend(MOVES[name](p, ctx))
    return out[:limit]


def structural_step(best: Evaluation, objective: Objective, budget: Budget, ctx: MoveContext) -> Evaluation:
    """Render ``best``'s neighbours (:func:`neighbours`) and return the best of them and it."""
    from synthmatch.search.refine import BudgetExhausted

    if not math.isfinite(best.score):
        return best
    tries = neighbours(best.preset, ctx)
    if not tries:
        return best
    try:
        evals = objective.evaluate_presets(
            [q for _, q in tries], budget, origins=[best.origin.edited(what) for what, _ in tries]
        )
    except BudgetExhausted:
        return best
    return min([best, *evals], key=lambda e: e.score)
