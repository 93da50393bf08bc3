"""Refinement: black-box search with the real engine in the loop.

An :class:`Objective` scores presets against the target (the benchmark's headline metric, MSS-mel,
lower is better), renders batches in parallel on the worker pool, and keeps the budget (renders,
seconds) and the best preset seen. A score that follows :class:`WorkerScore` is computed in the
render workers (a :class:`~synthmatch.render.pool.Measure`), so the search's own process does not
cap the render rate of a many-core pool; any other callable is computed here.

Refiners are registered strategies; ``cmaes`` optimises the most important active continuous
parameters of a start preset with CMA-ES in our own normalised coordinates, using the pool's
variant renders (one preset load per worker, then ``set()`` only).
Discrete choices (module on/off, filter model, wavetable, connections) are fixed within a refiner's
run: :mod:`synthmatch.search.stages` enumerates them through several starts and, between two
rounds of the refiner, through the structural moves of :mod:`synthmatch.search.moves`.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from synthmatch.render.pool import Measure, RenderPool, submit_variant, usable_cores
from synthmatch.render.probe import Probe
from synthmatch.search.proposals import Origin
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import ParamSpace, default_space


class BudgetExhausted(Exception):
    """Raised inside a refiner when the render budget or time limit is spent."""


@dataclass
class Budget:
    """A render budget and/or a wall-clock limit, plus a cancel flag (Ctrl-C)."""

    max_renders: int | None = 200
    max_seconds: float | None = None
    started: float = field(default_factory=time.monotonic)
    used: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)
    parent: Budget | None = None  # a sub-budget charges and checks its parent too
    #: Called (once) by :meth:`available` when this budget's renders fall short of a request: it
    #: may raise ``max_renders`` to the budget's final size (:mod:`synthmatch.search.stages` gives
    #: each refinement start run side by side such a budget).
    settle: Callable[[Budget], None] | None = field(default=None, repr=False)

    def remaining(self) -> int:
        if self.cancelled.is_set():
            return 0
        if self.max_seconds is not None and time.monotonic() - self.started >= self.max_seconds:
            return 0
        return max(0, self.max_renders - self.used) if self.max_renders is not None else 1 << 30

    def available(self, want: int) -> int:
        """How many of ``want`` renders this budget pays for now (``min(want, remaining())``).

        A provisional budget settles first when it falls short, so that a search run beside
        others takes exactly the renders it would have taken after them."""
        left = self.remaining()
        if left < want and self.settle is not None:
            settle, self.settle = self.settle, None
            settle(self)
            left = self.remaining()
        return min(want, left)

    def exhausted(self) -> bool:
        return self.remaining() <= 0

    def sub(self, renders: int) -> Budget:
        """A child budget of at most ``renders`` that shares the deadline and cancel flag."""
        limit = min(renders, self.remaining())
        return Budget(
            max_renders=limit, max_seconds=None, started=self.started, cancelled=self.cancelled, parent=self
        )


_CHARGE_LOCK = threading.Lock()  # searches side by side charge one parent budget


def _charge(budget: Budget, n: int) -> None:
    with _CHARGE_LOCK:
        b: Budget | None = budget
        while b is not None:
            b.used += n
            b = b.parent


def _deadline_hit(budget: Budget) -> bool:
    b: Budget | None = budget
    while b is not None:
        if b.max_seconds is not None and time.monotonic() - b.started >= b.max_seconds:
            return True
        if b.cancelled.is_set():
            return True
        b = b.parent
    return False


@dataclass
class Evaluation:
    preset: Preset
    score: float
    audio: np.ndarray | None  # mono [n]
    origin: Origin = field(default_factory=Origin)  # how it was found, e.g. "library #12 + cmaes"
    #: ``audio`` is the preset's canonical render (a full load, not a variant of a loaded base):
    #: rendering the preset again gives the same samples, bit for bit.
    canonical: bool = False


@runtime_checkable
class WorkerScore(Protocol):
    """A score the render workers can compute: picklable, with ``measure(mono) -> (score, note)``,
    where ``note`` is a picklable by-product the searching process may reuse (e.g. the render's
    f0), handed back to it through ``noted(mono, note)``. ``score(mono)`` equals
    ``measure(mono)[0]``, bit for bit."""

    def __call__(self, mono: np.ndarray) -> float: ...

    def measure(self, mono: np.ndarray) -> tuple[float, Any]: ...

    def noted(self, mono: np.ndarray, note: Any) -> None: ...


class Objective:
    """Scores presets against a target on a render pool, within a budget.

    Parameters
    ----------
    score : callable
        ``score(mono_audio) -> float`` (lower is better), e.g. prepared MSS-mel against the target.
    score_in_workers : bool, optional
        Compute a :class:`WorkerScore` in the render workers instead of here. Results are the
        same bit for bit; only where the CPU time goes changes. Default (None): in the workers when
        the pool has at least as many workers as this machine has cores; with fewer, this process
        scores on a core the workers leave free (measured with ``synthmatch bench search``: 1
        worker on 2 cores renders 32% faster scoring here, 2 workers about the same either way,
        and one process scoring for 16 workers caps the search at 30-40 renders/s).
    """

    def __init__(
        self,
        *,
        score: Callable[[np.ndarray], float],
        pool: RenderPool,
        probe: Probe,
        progress: Callable[[int, int], None] | None = None,
        total: int = 0,
        score_in_workers: bool | None = None,
    ) -> None:
        self.score_fn = score
        if score_in_workers is None:
            score_in_workers = getattr(pool, "workers", 1) >= usable_cores()
        self.measure = (
            Measure.of(score.measure) if score_in_workers and isinstance(score, WorkerScore) else None
        )
        self.pool = pool
        self.probe = probe
        self.progress = progress
        #: ``progress`` is also told the best score so far when it takes a ``best`` keyword.
        self._progress_takes_best = _takes_keyword(progress, "best")
        self.best_score = math.inf
        self.total = total
        self.renders = 0
        self.failures = 0
        self.last_failure = ""  # the reason the last failed render gave
        self.history: list[Evaluation] = []
        #: Origin given to evaluations that do not name their own (set by the match's stages).
        self.origin = Origin()
        self._base: tuple[Preset, str] | None = None  # the last base preset and its JSON
        self._trunk: Objective | None = None  # the objective a branch counts its renders in
        self._lock = threading.Lock()

    def branch(self) -> Objective:
        """A view of this objective for one of several searches run side by side (threads).

        It scores and renders the same way and counts its renders here (progress included), but
        keeps its own history, origin tag, base preset and failures; :meth:`absorb` merges them
        back, so the merged history does not depend on how the searches interleaved."""
        child = Objective.__new__(Objective)
        child.__dict__.update(self.__dict__)
        child.renders = child.failures = 0
        child.last_failure = ""
        child.history = []
        child._base = None
        child._trunk = self
        child._lock = threading.Lock()
        return child

    def absorb(self, branches: list[Objective]) -> None:
        """Merge branches' histories and failures, in the order given (see :meth:`branch`)."""
        for b in branches:
            self.history.extend(b.history)
            self.failures += b.failures
            self.last_failure = b.last_failure or self.last_failure

    def _tick(self, n: int, best: float = math.inf) -> None:
        if self._trunk is not None:
            self.renders += n
            self._trunk._tick(n, best)
            return
        with self._lock:  # branches tick from their threads
            self.renders += n
            self.best_score = min(self.best_score, best)
            if self.progress is not None:
                if self._progress_takes_best:
                    self.progress(self.renders, max(self.total, self.renders), best=self.best_score)
                else:
                    self.progress(self.renders, max(self.total, self.renders))

    def _score_outcome(self, out: Any) -> tuple[float, np.ndarray | None]:
        if not out.ok:
            self.failures += 1
            self.last_failure = f"{out.status}: {out.reason}"
            return math.inf, None
        mono = out.mono
        if out.measured is not None:  # scored in the worker, which measures finite renders only
            score, note = out.measured
            self.score_fn.noted(mono, note)  # type: ignore[attr-defined]
            return float(score), mono
        if not np.all(np.isfinite(mono)):
            self.failures += 1
            self.last_failure = "the render is not finite (NaN or inf samples)"
            return math.inf, None
        return float(self.score_fn(mono)), mono

    def evaluate_presets(
        self, presets: list[Preset], budget: Budget, *, origins: list[Origin] | None = None
    ) -> list[Evaluation]:
        """Full renders (any change, incl. wavetables and connections)."""
        n = budget.available(len(presets))
        if n <= 0 or _deadline_hit(budget):
            raise BudgetExhausted
        presets = presets[:n]
        _charge(budget, n)
        outs = self.pool.render([p.to_json() for p in presets], self.probe, measure=self.measure)
        evals = []
        tags = origins or [self.origin] * len(presets)
        for p, out, tag in zip(presets, outs, tags):
            s, mono = self._score_outcome(out)
            evals.append(Evaluation(p, s, mono, tag, canonical=mono is not None))
        self.history.extend(evals)  # before the progress callback, which may cancel (Ctrl-C)
        self._tick(n, min((e.score for e in evals), default=math.inf))
        return evals

    def evaluate_variants(
        self, base: Preset, changes: list[dict[str, float]], budget: Budget
    ) -> list[Evaluation]:
        """Renders of ``base`` with control changes (fast path: no preset load per render)."""
        n = budget.available(len(changes))
        if n <= 0 or _deadline_hit(budget):
            raise BudgetExhausted
        changes = changes[:n]
        _charge(budget, n)
        if self._base is None or self._base[0] is not base:  # a refiner reuses one base per run
            self._base = (base, base.to_json())
        base_json = self._base[1]
        futs = [submit_variant(self.pool, base_json, c, self.probe, measure=self.measure) for c in changes]
        evals = []
        for c, fut in zip(changes, futs):
            s, mono = self._score_outcome(fut.result())
            evals.append(Evaluation(apply_changes(base, c), s, mono, self.origin))
        self.history.extend(evals)
        self._tick(n, min((e.score for e in evals), default=math.inf))
        return evals

    def best(self) -> Evaluation | None:
        ok = [e for e in self.history if math.isfinite(e.score)]
        return min(ok, key=lambda e: e.score) if ok else None


def _takes_keyword(fn: Any, name: str) -> bool:
    if fn is None:
        return False
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def apply_changes(base: Preset, changes: dict[str, float]) -> Preset:
    """A copy of ``base`` with engine-control changes (incl. ``modulation_K_amount``) applied."""
    out = base.control_copy()
    slot_to_index = {slot: i for i, slot in enumerate(out.slot_assignment())}
    for name, v in changes.items():
        if name.startswith("modulation_") and name.endswith("_amount"):
            out.modulations[slot_to_index[int(name.split("_")[1])]].amount = float(v)
        else:
            out.values[name] = float(v)
    return out


# ---------------------------------------------------------------------------------------
# Search dimensions.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dim:
    """One search coordinate: an engine control over [lo, hi] (internal units)."""

    control: str
    lo: float
    hi: float
    weight: float

    def to_unit(self, v: float) -> float:
        return (v - self.lo) / (self.hi - self.lo) if self.hi > self.lo else 0.0

    def from_unit(self, x: float) -> float:
        return self.lo + min(max(x, 0.0), 1.0) * (self.hi - self.lo)


def search_dims(preset: Preset, *, max_dims: int = 24, space: ParamSpace | None = None) -> list[Dim]:
    """The active continuous parameters worth searching, most important first.

    Fixed-prior controls (volume, random phase, BPM, …) are left alone, and so are the controls
    the score cannot hear in this preset (:func:`unheard_controls`); modulation amounts of the
    preset's audible connections are included.
    """
    space = space or default_space()
    active = preset.active(space=space)
    unheard = unheard_controls(preset)
    dims = []
    for spec in space.specs:
        if spec.module.startswith("mod_") or spec.kind != "continuous" or spec.prior == "fixed":
            continue
        if not active.get(spec.name) or spec.span <= 0 or spec.name in unheard:
            continue
        dims.append(Dim(spec.name, spec.min, spec.max, spec.weight))
    for m, slot in zip(preset.modulations, preset.slot_assignment()):
        if m.audible:
            dims.append(Dim(f"modulation_{slot}_amount", -1.0, 1.0, 2.0))
    dims.sort(key=lambda d: -d.weight)
    return dims[:max_dims]


def unheard_controls(preset: Preset) -> set[str]:
    """Active controls of ``preset`` the benchmark's score cannot hear.

    The score compares mono mixes whose spectrograms are each measured from their own loudest
    frame. With a single sounding source and no effect on, its level and pan only scale the whole
    sound (unless a filter's drive makes level change the timbre); a single voice's stereo spread
    spreads nothing; an oscillator's start phase is not heard when it is fully randomised per
    note. (With effects or several sources they are heard: ``tools/stereo_audibility.py``.)"""
    from synthmatch.vital.effects import EFFECTS

    v = preset.values
    sources = [f"osc_{k}" for k in (1, 2, 3) if v.get(f"osc_{k}_on", 0.0) >= 0.5]
    if v.get("sample_on", 0.0) >= 0.5:
        sources.append("sample")
    out = set()
    effects = any(v.get(f"{fx}_on", 0.0) >= 0.5 for fx in EFFECTS)
    if len(sources) == 1 and not effects:
        src = sources[0]
        out.add(f"{src}_pan")
        if not any(
            v.get(f"filter_{f}_on", 0.0) >= 0.5 and v.get(f"filter_{f}_drive", 0.0) > 0.0 for f in (1, 2)
        ):
            out.add(f"{src}_level")
    for k in (1, 2, 3):
        if v.get(f"osc_{k}_unison_voices", 1.0) <= 1.0:
            out.add(f"osc_{k}_stereo_spread")
        if v.get(f"osc_{k}_random_phase", 0.0) >= 1.0:
            out.add(f"osc_{k}_phase")
    return out


def control_value(preset: Preset, control: str) -> float:
    """The value of an engine control of ``preset`` (``modulation_K_amount`` included)."""
    if control.startswith("modulation_"):
        slot = int(control.split("_")[1])
        return preset.modulations[preset.slot_assignment().index(slot)].amount
    return preset.values[control]


def _current(preset: Preset, dim: Dim) -> float:
    return control_value(preset, dim.control)


# ---------------------------------------------------------------------------------------
# Refiners (registered strategies).
# ---------------------------------------------------------------------------------------
class Refiner(Protocol):
    """A search strategy from one start preset. ``start_eval``, when given, is the start's own
    evaluation (already paid for by the caller), so the refiner does not render it again."""

    name: str

    def refine(
        self,
        start: Preset,
        objective: Objective,
        budget: Budget,
        *,
        seed: int = 0,
        start_eval: Evaluation | None = None,
    ) -> Evaluation | None: ...


REFINERS: dict[str, type] = {}


def register_refiner(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        cls.name = name  # type: ignore[attr-defined]
        REFINERS[name] = cls
        return cls

    return deco


def get_refiner(name: str, **kwargs: Any) -> Refiner:
    try:
        return REFINERS[name](**kwargs)
    except KeyError:
        raise KeyError(f"unknown refiner {name!r}; available: {sorted(REFINERS)}") from None


@register_refiner("none")
class NoRefiner:
    """Evaluate the start preset only."""

    def refine(
        self,
        start: Preset,
        objective: Objective,
        budget: Budget,
        *,
        seed: int = 0,
        start_eval: Evaluation | None = None,
    ) -> Evaluation | None:
        if start_eval is not None:
            return start_eval
        try:
            return objective.evaluate_presets([start], budget)[0]
        except BudgetExhausted:
            return None


_GLOBAL_RNG_LOCK = threading.Lock()


class _OwnRandomState:
    """One search's share of numpy's global random state.

    ``cma`` seeds and draws from numpy's global generator, which searches running on threads
    side by side (``bench run --parallel-items``) would share: their draws would interleave, and
    a search's result would depend on what ran beside it. Each ``cma`` call runs inside
    :meth:`active`, which swaps this search's state in under a lock and puts the caller's back, so
    a search draws the same numbers alone or beside others. Alone, nothing else draws between
    the calls, so the numbers are the ones ``cma`` drew before this class existed.
    """

    def __init__(self) -> None:
        self.state: Any = None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        # the legacy global state is what cma uses, so it is what must be swapped
        with _GLOBAL_RNG_LOCK:
            outer = np.random.get_state()  # noqa: NPY002
            if self.state is not None:
                np.random.set_state(self.state)  # noqa: NPY002
            try:
                yield
            finally:
                self.state = np.random.get_state()  # noqa: NPY002
                np.random.set_state(outer)  # noqa: NPY002


@register_refiner("cmaes")
class CMAESRefiner:
    """CMA-ES over the start preset's most important active continuous parameters.

    ``sigma0`` is the initial step in normalised [0, 1] coordinates (0.08: on a development suite,
    24 items at the default budget, it beat 0.15 on 17 items and lost on 7, 4.5% lower MSS-mel on
    average; a start from the library is usually close already); the population follows
    CMA-ES's default (4 + 3 ln D) rounded up to a multiple of the pool's workers.
    """

    def __init__(self, *, sigma0: float = 0.08, max_dims: int = 24, popsize: int | None = None) -> None:
        self.sigma0 = sigma0
        self.max_dims = max_dims
        self.popsize = popsize

    def refine(
        self,
        start: Preset,
        objective: Objective,
        budget: Budget,
        *,
        seed: int = 0,
        start_eval: Evaluation | None = None,
        controls: list[str] | None = None,
    ) -> Evaluation | None:
        """CMA-ES from ``start`` (``controls``: search these of its dimensions only)."""
        import cma

        dims = search_dims(start, max_dims=self.max_dims)
        if controls is not None:
            by_name = {d.control: d for d in search_dims(start, max_dims=10_000)}
            dims = [by_name[c] for c in controls if c in by_name] or dims
        best: Evaluation | None = start_eval
        try:
            if best is None:
                best = objective.evaluate_variants(start, [{}], budget)[0]
            if not dims:
                return best
            x0 = np.array([d.to_unit(_current(start, d)) for d in dims])
            x0 = np.clip(x0, 0.02, 0.98)
            pop = self.popsize or int(4 + 3 * math.log(len(dims)))
            workers = max(1, getattr(objective.pool, "workers", 1))
            pop = max(workers, int(math.ceil(pop / workers) * workers))
            rng = _OwnRandomState()
            with rng.active():
                es = cma.CMAEvolutionStrategy(
                    x0,
                    self.sigma0,
                    {
                        "bounds": [0.0, 1.0],
                        "popsize": pop,
                        "seed": seed + 1,
                        "verbose": -9,
                    },
                )
            while True:
                with rng.active():
                    if es.stop():
                        break
                    xs = es.ask()
                changes = [{d.control: d.from_unit(float(x)) for d, x in zip(dims, xv)} for xv in xs]
                evals = objective.evaluate_variants(start, changes, budget)
                if len(evals) < len(xs):  # budget ran out mid-generation
                    for e in evals:
                        if best is None or e.score < best.score:
                            best = e
                    break
                with rng.active():
                    es.tell(xs, [e.score if math.isfinite(e.score) else 1e6 for e in evals])
                for e in evals:
                    if best is None or e.score < best.score:
                        best = e
        except BudgetExhausted:
            pass
        return best
