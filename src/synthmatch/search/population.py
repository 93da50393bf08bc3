"""Population searches with the engine in the loop: random search and a genetic algorithm.

Both are baselines for the benchmark (``bench run --methods random-search,ga``): searches that
know nothing of the target but its score, spending renders on the same objective as ``match``.

:func:`random_search` renders presets drawn by the caller (the project's sampler) and keeps the
best. The ``ga`` refiner (:class:`GARefiner`) evolves every searchable control of a start
preset (:class:`Genes`), continuous and discrete alike, with variant renders of the start (one
preset load per worker, then ``set()`` only: about twice as fast as a full load). Its operators
work on plain arrays (:meth:`GARefiner.evolve`), so they can be checked without rendering.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from synthmatch.search.refine import Budget, BudgetExhausted, Evaluation, Objective, register_refiner
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import ParamSpace, default_space

#: Members of a generation: with the benchmark's 5000 renders, about 100 generations of 48
#: children (a multiple of 2, 4, 8 and 16 render workers, so no worker idles in a generation).
POPULATION = 50
#: The best members carried unchanged into the next generation (not rendered again): the best
#: found is never lost, and a second one keeps a second lineage among the parents.
ELITES = 2
#: Members drawn per tournament; the best of them is a parent. Three is the usual moderate
#: pressure: two barely prefers the better half, and larger tournaments make a population of 50
#: copies of its best within a few generations.
TOURNAMENT = 3
#: Share of children made by crossover of two parents; the rest are mutated copies of one parent,
#: which lets a good member improve alone.
CROSSOVER_RATE = 0.9
#: BLX-alpha blend of continuous genes: a child's gene is drawn uniformly from the parents'
#: interval widened by alpha times its length on each side. (sqrt(3) - 1) / 2 = 0.366 is the
#: width at which a child's variance equals its parents' (for independent parents), so crossover
#: alone neither shrinks nor spreads the population; selection and mutation decide that.
BLX_ALPHA = (math.sqrt(3.0) - 1.0) / 2.0
#: Standard deviation of a Gaussian mutation step, in each control's normalised range: a tenth of
#: the range is a change one hears that keeps the child near its parent (the cmaes refiner starts
#: at 0.08 for the same reason).
MUTATION_SIGMA = 0.1
#: Genes a child mutates on average (the per-gene rate is this over the genome's length, and one
#: gene at least always mutates, so no child repeats its parent). One gene per child is the
#: classic rate for separable problems (Muehlenbein, 1992): most controls of a start from the
#: library are about right, and a child that changes many at once rarely sounds like its parents.
MUTATION_GENES = 1.0
#: Genes each member of the first generation mutates on average, around the start: enough
#: distinct changes for crossover to recombine from the first generation on.
INIT_GENES = 8.0


# ---------------------------------------------------------------------------------------
# Random search.
# ---------------------------------------------------------------------------------------
def random_search(
    draw: Callable[[int], Preset], objective: Objective, budget: Budget, *, batch: int | None = None
) -> Evaluation | None:
    """Render ``draw(0)``, ``draw(1)``, … at the objective's probe until ``budget`` is spent.

    Returns the best evaluation (the first of equal scores), or None when nothing rendered.
    Renders go to the pool ``batch`` at a time (default: 4 per worker). The renders' audio is
    dropped once scored: a search of thousands would hold gigabytes."""
    batch = batch or 4 * max(1, getattr(objective.pool, "workers", 1))
    best: Evaluation | None = None
    drawn = 0
    try:
        while (n := min(batch, budget.remaining())) > 0:
            evals = objective.evaluate_presets([draw(drawn + k) for k in range(n)], budget)
            drawn += len(evals)
            for e in evals:
                e.audio = None
                if math.isfinite(e.score) and (best is None or e.score < best.score):
                    best = e
            if len(evals) < n:
                break
    except BudgetExhausted:
        pass
    return best


# ---------------------------------------------------------------------------------------
# The genetic algorithm's genome.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Genes:
    """The genome of a start preset: each gene one control, normalised to [0, 1].

    The genes are every control of the parameter space that the search may set (a range, and a
    prior other than ``fixed``: volume, BPM, the wheels, random phase and the voice's transpose
    and tune stay as the start has them, as the cmaes refiner leaves them), whether active or
    not (a mutation may switch a module on), plus the amounts of the start's audible modulation
    connections. Continuous genes take any value; a discrete, bool or categorical gene with
    ``n`` values takes ``k / (n - 1)`` only (:func:`snap`). Wavetables, shapes and connections
    are the start's: variant renders cannot change them.

    Attributes
    ----------
    controls : tuple of str
        The engine control of each gene (``modulation_K_amount`` for a connection's amount).
    levels : np.ndarray int [shape=(n_genes,)]
        Values of each gene: 0 for a continuous gene, ``n >= 2`` for a discrete one.
    unordered : np.ndarray bool [shape=(n_genes,)]
        Categorical and bool genes: their values have no order, so a mutation draws another one.
    start : Preset
        The preset the genes are read from, and the base of the variant renders.
    space : ParamSpace
        The specs that map each control to [0, 1].
    """

    controls: tuple[str, ...]
    levels: np.ndarray
    unordered: np.ndarray
    start: Preset
    space: ParamSpace

    @classmethod
    def of(cls, start: Preset, *, space: ParamSpace | None = None) -> Genes:
        space = space or default_space()
        controls, levels, unordered = [], [], []
        for spec in space.specs:
            if spec.module.startswith("mod_") or spec.prior == "fixed" or spec.span <= 0:
                continue
            n = 0
            if spec.kind == "categorical":
                n = len(spec.values)
            elif spec.kind in ("discrete", "bool"):
                n = round(spec.span) + 1
            if spec.kind != "continuous" and n < 2:
                continue
            controls.append(spec.name)
            levels.append(n)
            unordered.append(spec.kind in ("categorical", "bool"))
        for m, slot in zip(start.modulations, start.slot_assignment()):
            if m.audible:
                controls.append(f"modulation_{slot}_amount")
                levels.append(0)
                unordered.append(False)
        return cls(tuple(controls), np.array(levels, np.int64), np.array(unordered, bool), start, space)

    def __len__(self) -> int:
        return len(self.controls)

    def encode(self) -> np.ndarray:
        """The start preset's genome [shape=(n_genes,)]."""
        amounts = {
            f"modulation_{slot}_amount": m.amount
            for m, slot in zip(self.start.modulations, self.start.slot_assignment())
        }
        x = np.empty(len(self))
        for i, name in enumerate(self.controls):
            if name in amounts:
                x[i] = (amounts[name] + 1.0) / 2.0
            else:
                spec = self.space[name]
                x[i] = spec.to_normalized(self.start.values.get(name, spec.default))
        return snap(x, self.levels)

    def decode(self, x: np.ndarray) -> dict[str, float]:
        """Every gene's control value (engine units) for genome ``x``, with the space's
        cross-control rules applied (a filter style the filter model has)."""
        values, amounts = {}, {}
        for name, xi in zip(self.controls, x):
            if name.startswith("modulation_"):
                amounts[name] = -1.0 + 2.0 * min(max(float(xi), 0.0), 1.0)
            else:
                values[name] = self.space[name].from_normalized(float(xi))
        return {**self.space.validate_values(values), **amounts}

    @functools.cached_property
    def start_values(self) -> dict[str, float]:
        """The start's value of every gene, as :meth:`decode` gives it."""
        return self.decode(self.encode())

    def changes(self, x: np.ndarray) -> dict[str, float]:
        """The control changes that turn the start preset into genome ``x`` (the genes whose
        value differs from the start's; genes equal to the start's are left to the preset)."""
        start = self.start_values
        return {k: v for k, v in self.decode(x).items() if v != start[k]}


def snap(x: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``x`` clipped to [0, 1], each discrete gene (``levels >= 2``) rounded to its nearest
    ``k / (levels - 1)``."""
    x = np.clip(x, 0.0, 1.0)
    disc = levels >= 2
    steps = (levels[disc] - 1).astype(float)
    x[disc] = np.round(x[disc] * steps) / steps
    return x


# ---------------------------------------------------------------------------------------
# The genetic algorithm's operators.
# ---------------------------------------------------------------------------------------
def tournament(scores: np.ndarray, rng: np.random.Generator, *, size: int = TOURNAMENT) -> int:
    """The index of the best (lowest) of ``size`` members drawn at random, with replacement."""
    drawn = rng.integers(0, len(scores), size)
    return int(drawn[np.argmin(scores[drawn])])


def crossover(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, *, levels: np.ndarray, alpha: float = BLX_ALPHA
) -> np.ndarray:
    """A child of parents ``a`` and ``b``: continuous genes by BLX-``alpha`` (:data:`BLX_ALPHA`),
    discrete genes from either parent with equal odds (uniform crossover)."""
    u = rng.uniform(-alpha, 1.0 + alpha, len(a))
    child = a + u * (b - a)
    disc = levels >= 2
    child[disc] = np.where(rng.random(int(disc.sum())) < 0.5, a[disc], b[disc])
    return snap(child, levels)


def mutate(
    x: np.ndarray,
    rng: np.random.Generator,
    *,
    levels: np.ndarray,
    unordered: np.ndarray,
    rate: float,
    sigma: float = MUTATION_SIGMA,
) -> np.ndarray:
    """``x`` with each gene mutated with probability ``rate`` (one gene at least).

    A continuous gene takes a Gaussian step of ``sigma``; an ordered discrete gene the same step
    rounded to its values, and one value up or down when the step rounds to none; a categorical
    or bool gene another of its values, drawn uniformly. Genes stay in [0, 1]."""
    d = len(x)
    hit = rng.random(d) < rate
    if not hit.any():
        hit[rng.integers(0, d)] = True
    out = x.copy()
    step = rng.normal(0.0, sigma, d)
    out[hit] = x[hit] + step[hit]
    out = snap(out, levels)
    steps = np.maximum(levels - 1, 1).astype(float)
    stuck = hit & (levels >= 2) & ~unordered & (out == x)
    move = np.where(step >= 0, 1.0, -1.0) / steps
    bounced = np.where((x + move < 0) | (x + move > 1), x - move, x + move)
    out[stuck] = snap(bounced, levels)[stuck]
    for i in np.flatnonzero(hit & unordered):
        n = int(levels[i])
        k = round(float(x[i]) * (n - 1))
        out[i] = ((k + int(rng.integers(1, n))) % n) / (n - 1)
    return out


@register_refiner("ga")
class GARefiner:
    """A genetic algorithm over every searchable control of the start preset (:class:`Genes`).

    Generational, with elitism: the first generation is the start and ``population - 1``
    mutants of it (:data:`INIT_GENES` genes each on average); each next one is the ``elites``
    best members unchanged and ``population - elites`` children. A child's parents are
    tournament winners (:data:`TOURNAMENT`); with probability ``crossover_rate`` it is their
    crossover (BLX-alpha on continuous genes, uniform on discrete ones: :func:`crossover`), else
    a copy of the first; then it mutates (:func:`mutate`: :data:`MUTATION_GENES` genes on average,
    Gaussian steps of :data:`MUTATION_SIGMA`, other values for categorical genes). Each
    generation's children are rendered in one batch of variant renders of the start, so the
    pool stays busy; the search ends when the budget does (a last generation may be cut short).
    A failed render scores infinity. The random draws come from ``np.random.default_rng(seed)``,
    so a search repeats exactly. The constants' reasons are given where they are declared.
    """

    def __init__(
        self,
        *,
        population: int = POPULATION,
        elites: int = ELITES,
        tournament_size: int = TOURNAMENT,
        crossover_rate: float = CROSSOVER_RATE,
        alpha: float = BLX_ALPHA,
        sigma: float = MUTATION_SIGMA,
        mutation_genes: float = MUTATION_GENES,
        init_genes: float = INIT_GENES,
    ) -> None:
        if not 0 <= elites < population:
            raise ValueError(f"elites={elites} must be in [0, population={population})")
        self.population = population
        self.elites = elites
        self.tournament_size = tournament_size
        self.crossover_rate = crossover_rate
        self.alpha = alpha
        self.sigma = sigma
        self.mutation_genes = mutation_genes
        self.init_genes = init_genes

    def evolve(
        self,
        x0: np.ndarray,
        score0: float,
        evaluate: Callable[[list[np.ndarray]], Sequence[float]],
        *,
        levels: np.ndarray,
        unordered: np.ndarray,
        seed: int = 0,
    ) -> tuple[np.ndarray, float]:
        """Evolve from genome ``x0`` (scored ``score0``); returns the best genome and its score.

        ``evaluate(genomes)`` scores a generation's children (lower is better); it returns fewer
        scores than genomes, or raises :class:`~synthmatch.search.refine.BudgetExhausted`, when
        the budget ends, and the search stops there."""
        rng = np.random.default_rng(seed)
        d = len(x0)
        kw = {"levels": levels, "unordered": unordered, "sigma": self.sigma}
        best_x, best_s = x0, _finite(score0)
        parents, parent_scores = [x0], [best_s]
        children = [
            mutate(x0, rng, rate=min(1.0, self.init_genes / d), **kw) for _ in range(self.population - 1)
        ]
        rate = min(1.0, self.mutation_genes / d)
        try:
            while children:
                scores = [_finite(s) for s in evaluate(children)]
                for x, s in zip(children, scores):
                    if s < best_s:
                        best_x, best_s = x, s
                if len(scores) < len(children):
                    break
                pop = parents + children
                fit = np.array(parent_scores + scores)
                keep = np.argsort(fit, kind="stable")[: self.elites]
                parents, parent_scores = [pop[i] for i in keep], [float(fit[i]) for i in keep]
                children = []
                for _ in range(self.population - self.elites):
                    a = pop[tournament(fit, rng, size=self.tournament_size)]
                    if rng.random() < self.crossover_rate:
                        b = pop[tournament(fit, rng, size=self.tournament_size)]
                        a = crossover(a, b, rng, levels=levels, alpha=self.alpha)
                    children.append(mutate(a, rng, rate=rate, **kw))
        except BudgetExhausted:
            pass
        return best_x, best_s

    def refine(
        self,
        start: Preset,
        objective: Objective,
        budget: Budget,
        *,
        seed: int = 0,
        start_eval: Evaluation | None = None,
    ) -> Evaluation | None:
        genes = Genes.of(start)
        best: Evaluation | None = start_eval

        def evaluate(xs: list[np.ndarray]) -> list[float]:
            nonlocal best
            evals = objective.evaluate_variants(start, [genes.changes(x) for x in xs], budget)
            for e in evals:
                e.audio = None  # thousands of renders of several seconds would hold gigabytes
                if best is None or e.score < best.score:
                    best = e
            return [e.score for e in evals]

        try:
            if best is None:
                best = objective.evaluate_variants(start, [{}], budget)[0]
        except BudgetExhausted:
            return best
        if len(genes):
            self.evolve(
                genes.encode(),
                best.score,
                evaluate,
                levels=genes.levels,
                unordered=genes.unordered,
                seed=seed,
            )
        return best


def _finite(score: float) -> float:
    return float(score) if math.isfinite(score) else math.inf
