"""The stages of a match, as functions over typed values.

:func:`synthmatch.search.match.Matcher.match` runs them in order, all under one render budget
and/or time limit:

1. **analyze** (:func:`~synthmatch.search.target.analyze_target`): the target's note, note
   length and velocity → the probe;
2. **propose** (:func:`propose`): each configured source's proposals, nearest first, no renders;
3. **rerank** (:func:`rerank`): render the proposals at the probe and score them; proposals that
   sound off a pitched target are also tried retuned onto it (:func:`pitch_aligned`);
4. **choose starts** (:func:`choose_starts`): the best distinct proposals, with an in-tune one
   among them for a pitched target (:func:`with_an_in_tune_start`);
5. **prune** (:func:`prune_modules`) and **refine** (:func:`refine_starts`): each start tried
   with its modules switched off, then refined by the registered refiner, side by side;
6. **finalize** (:func:`finalize`): K distinct candidates, the best of each start first, rendered
   canonically and scored with every metric, ranked by the search objective.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from synthmatch.render.pool import Measure, RenderPool
from synthmatch.search.proposals import Origin, Proposal, ProposalSource
from synthmatch.search.refine import Budget, BudgetExhausted, Evaluation, Objective, Refiner
from synthmatch.search.scoring import FinalScore, candidate_f0, fit_length
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import MODULE_SWITCHES, SOURCE_SWITCHES, default_space

if TYPE_CHECKING:
    from synthmatch.search.config import MatchConfig
    from synthmatch.search.moves import MoveContext
    from synthmatch.search.target import Target

#: Pitch alignment: a re-ranked candidate whose render sounds at least this many cents off a
#: pitched target's f0 is also tried retuned onto it, with ``voice_transpose`` moved by the whole
#: semitones and ``voice_tune`` set to the rest. Both are global pitch controls the refiner never
#: searches: library presets are sampled with octave transposes and random fine tunes, so most
#: starts sound some cents off the target, and the mel spectrograms of the benchmark see that in
#: every upper partial.
ALIGN_MIN_CENTS = 5.0
#: Only the best this many re-ranked candidates get a retuned copy (each copy costs a render;
#: aligning all 12 or the best 6 scores the same on a development suite).
ALIGN_TOP = 6
#: Pruning a start's modules leaves at least this many renders of its share to the refiner.
PRUNE_RESERVE = 16
#: A module is switched off only when that lowers the start's score by at least this fraction:
#: smaller gains are within what the refiner's own randomness moves a match.
PRUNE_MIN_GAIN = 0.05
#: A candidate render within this many cents of a pitched target's f0 is in tune; when no start
#: of the refinement is, the last start is the best in-tune candidate (when there is one). The
#: pitch term caps at 6 dB, so an unpitched or far-off candidate whose envelope fits can outrank
#: every in-tune one whose envelope does not (the bundled C4 pluck: a noise burst at 7.2 dB beats
#: pitched presets that ring too long at 9.4 dB; refined from the in-tune start, 3.2 dB).
IN_TUNE_CENTS = 50.0
#: An alternative candidate from another start (:func:`distinct` ``by_lineage``) is offered only
#: when its score is within this factor of the best's; otherwise the next best distinct result
#: takes the place, even from the same start. On the bundled examples the other starts' best
#: score 1.1 to 1.65 times the best's, except three at 3.0 to 4.5 times (on the C4 pluck, a preset
#: that ignores the key and plays 19 semitones under it, and one 9 semitones off); retuning such
#: alternatives onto the target keeps none of them: the far-off ones do not follow the transpose.
ALT_LINEAGE_WITHIN = 2.0
#: Share of a start's planned renders its first refinement round spends, before the structural
#: step (:func:`refine_in_rounds`).
FIRST_ROUND = 0.45
#: The second round's refiner seed is the first's plus this.
SECOND_ROUND_SEED = 1000
#: Round two searches the controls whose values went with the score in round one: the strongest
#: half by rank correlation, at least 6, when round one rendered at least 12 presets.
AUDIBLE_SHARE = 0.5
MIN_AUDIBLE = 6
MIN_SENSITIVITY_SAMPLES = 12


@dataclass
class Candidate:
    """One answer of a match: a preset, its canonical render and every metric against the target.

    ``metrics["objective"]`` is what candidates are ranked by (:attr:`score`)."""

    preset: Preset
    audio: np.ndarray  # mono [shape=(n,)] at the probe's sample rate (canonical render)
    metrics: dict[str, float]
    origin: Origin  # how it was found, e.g. "library #123 pruned + cmaes"

    @property
    def score(self) -> float:
        """The search objective (dB, lower is better): MSS-mel plus the pitch term."""
        return self.metrics.get("objective", math.inf)


def propose(target: Target, sources: list[ProposalSource], k: int) -> list[Proposal]:
    """Every source's ``k`` nearest proposals, taken in turns (each source's first, in the order of
    ``sources``, then each one's second, …), so a budget that renders only the first few still
    hears every source."""
    lists = [source.propose(target, k) for source in sources]
    return [p for turn in itertools.zip_longest(*lists) for p in turn if p is not None]


def rerank(
    proposals: list[Proposal],
    target: Target,
    objective: Objective,
    budget: Budget,
    config: MatchConfig,
    *,
    f0_of: Callable[[np.ndarray], float | None],
) -> list[Evaluation]:
    """Render the first proposals at the target's probe (at most a third of the budget) and score
    them; for a pitched target, the best :data:`ALIGN_TOP` that sound off it are also tried
    retuned onto it."""
    n = min(len(proposals), max(1, budget.remaining() // 3))
    first = proposals[:n]
    evals = objective.evaluate_presets([p.preset for p in first], budget, origins=[p.origin for p in first])
    if target.f0 and config.align_pitch:
        best_first = sorted((e for e in evals if math.isfinite(e.score)), key=lambda e: e.score)
        aligned = pitch_aligned(best_first[:ALIGN_TOP], target.f0, target.sample_rate, f0_of=f0_of)
        if aligned:
            evals += objective.evaluate_presets(
                [p.preset for p in aligned], budget, origins=[p.origin for p in aligned]
            )
    return evals


def choose_starts(
    evals: list[Evaluation],
    target: Target,
    config: MatchConfig,
    *,
    f0_of: Callable[[np.ndarray], float | None],
) -> list[Evaluation]:
    """The ``config.starts`` best distinct evaluations; for a pitched target, the last is the best
    in-tune one when none of them is in tune (:func:`with_an_in_tune_start`)."""
    ranked = distinct(evals, config.starts)
    if target.f0 and len(ranked) >= 2:
        ranked = with_an_in_tune_start(ranked, evals, target.f0, target.sample_rate, f0_of=f0_of)
    return ranked


def refine_starts(
    starts: list[Evaluation],
    objective: Objective,
    budget: Budget,
    config: MatchConfig,
    refiner: Refiner,
    *,
    moves: MoveContext | None = None,
) -> None:
    """Prune (when ``config.prune``) and refine each start with an even share of the budget.

    With ``moves`` (the target's :class:`~synthmatch.search.moves.MoveContext`), a render budget
    and a refiner that moves presets (not ``"none"``), each start is refined in two rounds
    (:func:`refine_in_rounds`) with a structural step between them.
    With a render budget, the starts run side by side (:func:`refine_side_by_side`: the same
    result as one after the other, with fewer idle workers) unless ``config.side_by_side`` is
    off; with a time limit alone, the first start gets all of it."""
    planned = planned_shares(budget.remaining(), len(starts))

    def refine_start(j: int, ev: Evaluation, obj: Objective, sub: Budget) -> None:
        if config.prune:
            ev = prune_modules(ev, obj, sub)
        obj.origin = ev.origin.refined_by(refiner.name)
        if moves is None or config.budget is None or refiner.name == "none":
            refiner.refine(ev.preset, obj, sub, seed=config.seed + j, start_eval=ev)
            return
        refine_in_rounds(ev, obj, sub, refiner, moves, seed=config.seed + j, first=planned[j])

    if config.side_by_side and config.budget is not None and len(starts) >= 2:
        refine_side_by_side(starts, refine_start, objective, budget)
        return
    n_starts = max(1, len(starts))
    for j, ev in enumerate(starts):
        share = (
            start_share(budget.remaining(), n_starts - j) if config.budget is not None else budget.remaining()
        )
        refine_start(j, ev, objective, budget.sub(share))


def planned_shares(total: int, n: int) -> list[int]:
    """Each start's share of ``total`` renders if every start spends its own in full (what a
    start's rounds are sized from, the same one after the other as side by side)."""
    shares, given = [], 0
    for j in range(n):
        shares.append(start_share(total - given, n - j))
        given += shares[-1]
    return shares


def refine_in_rounds(
    start: Evaluation,
    objective: Objective,
    budget: Budget,
    refiner: Refiner,
    moves: MoveContext,
    *,
    seed: int,
    first: int,
) -> None:
    """Refine ``start`` in two rounds with a structural step between them.

    Round one spends :data:`FIRST_ROUND` of the start's planned share ``first`` on the refiner's
    own dimensions; the structural step (:func:`~synthmatch.search.moves.structural_step`) renders
    the best preset's discrete neighbours; round two refines the best of them with the rest, on
    the dimensions round one found the score to hear (:func:`audible_controls`)."""
    from synthmatch.search.moves import structural_step

    seen = len(objective.history)
    best = refiner.refine(
        start.preset, objective, budget.sub(int(FIRST_ROUND * first)), seed=seed, start_eval=start
    )
    best = best if best is not None and best.score <= start.score else start
    round_one = objective.history[seen:]
    stepped = structural_step(best, objective, budget, moves)
    controls = None
    if stepped is best:  # the same preset: round one's samples say which knobs it hears
        controls = audible_controls(start.preset, round_one)
    objective.origin = stepped.origin if stepped.origin.refiner else stepped.origin.refined_by(refiner.name)
    kwargs = {"controls": controls} if controls else {}
    refiner.refine(
        stepped.preset, objective, budget, seed=seed + SECOND_ROUND_SEED, start_eval=stepped, **kwargs
    )


def audible_controls(start: Preset, evals: list[Evaluation]) -> list[str] | None:
    """The refiner's controls the score moved with in ``evals`` (round one's renders around
    ``start``), most first: each control's Spearman correlation with the score over the finite
    evaluations, the strongest :data:`AUDIBLE_SHARE` kept (at least :data:`MIN_AUDIBLE`). None
    when there are too few evaluations to tell."""
    from scipy.stats import rankdata

    from synthmatch.search.refine import control_value, search_dims

    ok = [e for e in evals if math.isfinite(e.score)]
    dims = search_dims(start)
    if len(ok) < MIN_SENSITIVITY_SAMPLES or len(dims) <= MIN_AUDIBLE:
        return None
    scores = rankdata([e.score for e in ok], method="ordinal")
    strength = []
    for d in dims:
        x = np.array([control_value(e.preset, d.control) for e in ok])
        if np.ptp(x) <= 0:
            strength.append(0.0)
            continue
        r = np.corrcoef(rankdata(x, method="ordinal"), scores)[0, 1]
        strength.append(abs(float(r)) if math.isfinite(r) else 0.0)
    order = np.argsort(strength)[::-1]
    keep = max(MIN_AUDIBLE, math.ceil(AUDIBLE_SHARE * len(dims)))
    return [dims[i].control for i in order[:keep]]


def finalize(
    objective: Objective, target: Target, config: MatchConfig, pool: RenderPool
) -> tuple[list[Candidate], int]:
    """``config.candidates`` distinct finals from the search's history, rendered canonically (a
    variant render is rendered again with a full load) and scored with every metric by the render
    workers, ranked by the objective. Returns (candidates, renders spent here)."""
    finals = distinct(objective.history, config.candidates, by_lineage=True)
    again = [e for e in finals if not e.canonical]
    final_score = FinalScore(target.samples, target.sample_rate, target.probe.n_samples, target.f0)
    outs = pool.render([e.preset.to_json() for e in again], target.probe, measure=Measure.of(final_score))
    rendered = dict(zip(map(id, again), outs))
    candidates = []
    for e in finals:
        out = rendered.get(id(e))
        if out is not None and not out.ok:
            continue
        y = fit_length(out.mono if out is not None else e.audio, target.probe.n_samples)
        # every metric, computed by the worker that rendered it (at the same time as the others)
        metrics = out.measured if out is not None and out.measured is not None else final_score(y)
        e.preset.meta["preset_name"] = "synthmatch match"
        candidates.append(Candidate(e.preset, y, metrics, e.origin))
    candidates.sort(key=lambda c: c.score)
    return candidates, len(again)


def pitch_aligned(
    evals: list[Evaluation],
    target_f0: float,
    sample_rate: int,
    *,
    f0_of: Callable[[np.ndarray], float | None] | None = None,
) -> list[Proposal]:
    """Retuned copies of the candidates whose renders sound off ``target_f0``.

    Returns a proposal (the preset with ``voice_transpose`` + ``voice_tune`` moved by the measured
    offset; its origin records the move) for every evaluation whose render's f0 is at least :data:`ALIGN_MIN_CENTS` off the target; the
    whole semitones go to ``voice_transpose`` (kept within its range) and the rest, within ±0.5
    semitone, to ``voice_tune``. ``f0_of`` measures a render's f0 (default :func:`candidate_f0`).
    """
    f0_of = f0_of or (lambda audio: candidate_f0(audio, sample_rate))
    space = default_space()
    tr, tune = space["voice_transpose"], space["voice_tune"]
    out = []
    for e in evals:
        if e.audio is None or not math.isfinite(e.score):
            continue
        f0 = f0_of(e.audio)
        if f0 is None:
            continue
        semis = 12.0 * math.log2(target_f0 / f0)
        if 100.0 * abs(semis) < ALIGN_MIN_CENTS:
            continue
        old_vt = e.preset.values.get("voice_transpose", tr.default)
        pitch = old_vt + e.preset.values.get("voice_tune", tune.default) + semis
        vt = float(round(pitch))
        vtune = pitch - vt  # within ±0.5 semitone, inside voice_tune's ±1 range
        if not tr.min <= vt <= tr.max:
            continue
        shift = int(vt - old_vt)
        cents = round(100.0 * vtune)
        moved = ((f"transposed {shift:+d}",) if shift else ()) + ((f"tuned {cents:+d}c",) if cents else ())
        out.append(
            Proposal(e.preset.with_values(voice_transpose=vt, voice_tune=vtune), e.origin.edited(*moved))
        )
    return out


def prune_modules(start: Evaluation, objective: Objective, budget: Budget) -> Evaluation:
    """``start``, or a copy with some of its modules switched off if that scores better.

    The refiner moves continuous values only, so a start that carries a module the target lacks
    (a reverb tail, a noise layer, a second oscillator) keeps it. This tries each switched-on
    module of :data:`~synthmatch.vital.spec.MODULE_SWITCHES` off, one render each in one batch (a
    source only while another stays on), then all the ones that helped by :data:`PRUNE_MIN_GAIN`
    or more off together, and returns the best of these and ``start``. It renders nothing when
    ``budget`` cannot pay for every try. ``Matcher.match(prune=True)`` runs it on each start.
    """
    values = start.preset.values
    on = [name for name in MODULE_SWITCHES if values.get(name, 0.0) >= 0.5]
    sources_on = [name for name in on if name in SOURCE_SWITCHES]
    tries = [name for name in on if name not in SOURCE_SWITCHES or len(sources_on) >= 2]
    need = len(tries) + PRUNE_RESERVE
    if not tries or not math.isfinite(start.score) or budget.available(need) < need:
        return start
    origin = objective.origin
    objective.origin = start.origin.edited("pruned")
    try:
        evals = objective.evaluate_variants(start.preset, [{name: 0.0} for name in tries], budget)
        enough = start.score * (1.0 - PRUNE_MIN_GAIN)
        helped = [name for name, e in zip(tries, evals) if e.score <= enough]
        best = min([start, *(e for e in evals if e.score <= enough)], key=lambda e: e.score)
        # Together only if the sources left on are not all of them (silence scores nothing).
        if len(helped) >= 2 and not set(sources_on) <= set(helped):
            both = objective.evaluate_variants(start.preset, [dict.fromkeys(helped, 0.0)], budget)
            best = min([best, *both], key=lambda e: e.score)
    finally:
        objective.origin = origin
    return best


def distinct(
    evals: list[Evaluation],
    k: int,
    *,
    min_param_dist: float = 0.05,
    by_lineage: bool = False,
    lineage_within: float = ALT_LINEAGE_WITHIN,
) -> list[Evaluation]:
    """Up to ``k`` best evaluations, no two of them near-duplicates, best first.

    Two presets are near-duplicates when every numeric parameter differs by less than
    ``min_param_dist`` of its range and every categorical choice is the same. With
    ``by_lineage``, the best of each lineage (:attr:`Origin.lineage`) whose score is within ``lineage_within``
    times the best's comes first (alternatives built from other starts, not the same search a few
    steps apart), and the rest of the ``k`` is filled with the best remaining ones.
    """
    ranked = sorted((e for e in evals if math.isfinite(e.score)), key=lambda e: e.score)
    chosen: list[tuple[Evaluation, np.ndarray, np.ndarray]] = []

    def take(e: Evaluation) -> bool:
        x, c = e.preset.to_vector()
        if any(
            np.array_equal(c, oc) and float(np.max(np.abs(x - ox))) < min_param_dist for _, ox, oc in chosen
        ):
            return False
        chosen.append((e, x, c))
        return True

    seen: set[Any] = set()
    for e in ranked if by_lineage else ():
        if len(chosen) == k or e.score > lineage_within * max(ranked[0].score, 0.0):
            break
        if e.origin.lineage not in seen and take(e):
            seen.add(e.origin.lineage)
    taken = {id(e) for e, _, _ in chosen}
    for e in ranked:
        if len(chosen) == k:
            break
        if id(e) not in taken:
            take(e)
    return sorted((e for e, _, _ in chosen), key=lambda e: e.score)


def with_an_in_tune_start(
    ranked: list[Evaluation],
    evals: list[Evaluation],
    target_f0: float,
    sample_rate: int,
    *,
    f0_of: Callable[[np.ndarray], float | None] | None = None,
) -> list[Evaluation]:
    """``ranked`` with its last start replaced by the best in-tune candidate when none of them is in tune."""
    f0_of = f0_of or (lambda audio: candidate_f0(audio, sample_rate))

    def in_tune(e: Evaluation) -> bool:
        if e.audio is None or not math.isfinite(e.score):
            return False
        f0 = f0_of(e.audio)
        return f0 is not None and abs(1200.0 * math.log2(f0 / target_f0)) <= IN_TUNE_CENTS

    if any(in_tune(e) for e in ranked):
        return ranked
    chosen = {id(e) for e in ranked}
    for e in sorted((e for e in evals if math.isfinite(e.score)), key=lambda e: e.score):
        if id(e) not in chosen and in_tune(e):
            return [*ranked[:-1], e]
    return ranked


def start_share(left: int, starts_left: int) -> int:
    """The renders a refinement start gets: an even share of what is ``left`` for it and the
    ``starts_left - 1`` starts after it (one after the other or side by side alike)."""
    return left // starts_left


def refine_side_by_side(
    starts: list[Evaluation],
    refine_start: Callable[[int, Evaluation, Objective, Budget], None],
    objective: Objective,
    budget: Budget,
) -> None:
    """Refine several starts at once, one thread each, with the result of one after the other.

    One after the other, start ``j`` gets ``remaining // (n - j)`` renders of what the starts
    before it left, and each CMA-ES generation waits for its slowest render while the other
    workers idle. Side by side, the starts' renders fill each other's gaps. Each start gets
    :meth:`Objective.branch` (its own history and origin tag, merged back in start order) and the
    share it would get if the starts before it spent theirs in full; a start that would run past
    that share first waits for the starts before it to end and takes what they really left
    (:attr:`Budget.settle`). Every render's score depends on its preset and the target only, so
    each start makes the same moves and the merged history is the same as one after the other.

    ``refine_start(j, start, objective, budget)`` runs in a thread. An exception in one (e.g. a
    progress callback that cancels) cancels the others and is raised here once all have ended;
    so is a KeyboardInterrupt (Ctrl-C) that arrives while waiting.
    """
    n = len(starts)
    total = budget.remaining()
    branches = [objective.branch() for _ in starts]
    ended = [threading.Event() for _ in starts]
    subs: list[Budget] = []
    given = 0
    for j in range(n):
        share = start_share(total - given, n - j)
        given += share
        subs.append(budget.sub(share))

    def settle(j: int, sub: Budget) -> None:
        for e in ended[:j]:
            e.wait()
        exact = start_share(total - sum(s.used for s in subs[:j]), n - j)
        sub.max_renders = max(exact, sub.max_renders or 0)

    for j in range(1, n):
        subs[j].settle = functools.partial(settle, j)
    errors: list[BaseException | None] = [None] * n

    def run(j: int) -> None:
        try:
            refine_start(j, starts[j], branches[j], subs[j])
        except BudgetExhausted:
            pass
        except BaseException as exc:  # handed to the calling thread
            errors[j] = exc
            budget.cancelled.set()
        finally:
            ended[j].set()

    threads = [
        threading.Thread(target=run, args=(j,), name=f"synthmatch-start-{j}", daemon=True) for j in range(n)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:  # Ctrl-C: stop the starts, keep what they found
        budget.cancelled.set()
        for t in threads:
            t.join()
        raise
    finally:
        objective.absorb(branches)
    for exc in errors:
        if exc is not None:
            raise exc
