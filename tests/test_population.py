"""Population searches: the GA's genome and operators (on arrays, no render), and both searches
with the engine in the loop on a short probe."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthmatch.search.population import (
    BLX_ALPHA,
    GARefiner,
    Genes,
    crossover,
    mutate,
    random_search,
    snap,
    tournament,
)
from synthmatch.search.refine import Budget, BudgetExhausted, Objective
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset

#: A toy genome: 6 continuous genes, 2 ordered discrete genes of 5 values, 1 categorical of 3.
LEVELS = np.array([0, 0, 0, 0, 0, 0, 5, 5, 3])
UNORDERED = np.array([False] * 8 + [True])


def on_grid(x: np.ndarray, levels: np.ndarray) -> bool:
    disc = levels >= 2
    k = x[disc] * (levels[disc] - 1)
    return bool(np.all((x >= 0) & (x <= 1)) and np.allclose(k, np.round(k), atol=1e-12))


def test_snap_clips_and_rounds_discrete_genes_to_their_values():
    x = snap(np.array([-0.2, 0.37, 1.4, 0.0, 0.5, 0.99, 0.3, 0.9, 0.8]), LEVELS)
    assert x[0] == 0.0 and x[1] == 0.37 and x[2] == 1.0
    assert x[6] == 0.25 and x[7] == 1.0 and x[8] == 1.0  # 5 values: k/4; 3 values: k/2


def test_mutation_changes_a_gene_at_least_and_each_chosen_discrete_gene_to_another_value():
    rng = np.random.default_rng(0)
    x = snap(np.full(len(LEVELS), 0.5), LEVELS)
    for _ in range(50):
        child = mutate(x, rng, levels=LEVELS, unordered=UNORDERED, rate=0.0)
        assert np.count_nonzero(child != x) == 1 and on_grid(child, LEVELS)
    # every gene chosen: each one moves, discrete genes to another of their values (in range)
    for _ in range(50):
        child = mutate(x, rng, levels=LEVELS, unordered=UNORDERED, rate=1.0, sigma=0.01)
        assert np.all(child != x) and on_grid(child, LEVELS)
    # a discrete gene at an end of its range steps inwards
    edge = snap(np.ones(len(LEVELS)), LEVELS)
    child = mutate(edge, rng, levels=LEVELS, unordered=UNORDERED, rate=1.0, sigma=0.001)
    assert child[6] == child[7] == 0.75


def test_crossover_blends_continuous_genes_and_takes_discrete_ones_from_a_parent():
    rng = np.random.default_rng(1)
    a = snap(rng.random(len(LEVELS)), LEVELS)
    b = snap(rng.random(len(LEVELS)), LEVELS)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    for _ in range(100):
        c = crossover(a, b, rng, levels=LEVELS)
        cont = LEVELS == 0
        widened = BLX_ALPHA * (hi - lo) + 1e-12
        assert np.all(c[cont] >= np.maximum(lo - widened, 0)[cont])
        assert np.all(c[cont] <= np.minimum(hi + widened, 1)[cont])
        assert np.all((c[~cont] == a[~cont]) | (c[~cont] == b[~cont])) and on_grid(c, LEVELS)


def test_tournament_prefers_the_better_member():
    rng = np.random.default_rng(2)
    scores = np.array([3.0, 1.0, 2.0, math.inf])
    wins = [tournament(scores, rng, size=3) for _ in range(300)]
    # the worst wins only a tournament of itself alone (1 in 64)
    assert wins.count(1) > wins.count(2) > wins.count(0) > wins.count(3)
    assert tournament(scores, rng, size=64) == 1


def quadratic_search(seed: int, renders: int = 600):
    """The GA on a quadratic whose minimum is on the discrete genes' grid, with a fake budget."""
    goal = snap(np.array([0.8, 0.1, 0.6, 0.3, 0.9, 0.45, 0.75, 0.25, 1.0]), LEVELS)
    f = lambda x: float(np.sum((x - goal) ** 2))  # noqa: E731
    seen: list[np.ndarray] = []

    def evaluate(xs):
        if len(seen) >= renders:
            raise BudgetExhausted
        xs = xs[: renders - len(seen)]
        seen.extend(xs)
        return [f(x) for x in xs]

    x0 = snap(np.zeros(len(LEVELS)), LEVELS)
    best_x, best_s = GARefiner(population=20).evolve(
        x0, f(x0), evaluate, levels=LEVELS, unordered=UNORDERED, seed=seed
    )
    assert best_s == f(best_x) == min(f(x) for x in seen)
    return f(x0), best_x, best_s, seen


def test_the_ga_improves_on_a_quadratic_within_bounds_and_budget_and_repeats_with_its_seed():
    start, best_x, best_s, seen = quadratic_search(seed=3)
    assert len(seen) == 600  # the budget, the last generation cut short
    assert best_s < 0.02 * start
    assert all(on_grid(x, LEVELS) for x in seen)
    assert best_x[8] == 1.0  # the categorical gene found its value
    again = quadratic_search(seed=3)
    assert again[2] == best_s and np.array_equal(again[1], best_x)
    assert all(np.array_equal(a, b) for a, b in zip(again[3], seen))
    assert quadratic_search(seed=4)[2] != best_s


def test_genes_cover_every_searchable_control_and_decode_to_the_changes_of_a_genome():
    lfo = Modulation("lfo_1", "filter_1_cutoff", amount=0.5)
    start = Preset.init().with_values(filter_1_on=1)
    start.modulations.append(lfo)
    genes = Genes.of(start)
    names = set(genes.controls)
    # continuous and discrete controls alike, active or not; fixed-prior controls left as they are
    assert {"filter_1_cutoff", "osc_2_on", "filter_1_model", "osc_1_unison_voices"} <= names
    assert not names & {"volume", "voice_transpose", "voice_tune", "beats_per_minute"}
    assert "modulation_1_amount" in names and genes.start_values["modulation_1_amount"] == pytest.approx(0.5)
    x = genes.encode()
    assert genes.changes(x) == {} and on_grid(x, genes.levels)
    i = {n: k for k, n in enumerate(genes.controls)}
    y = x.copy()
    y[i["filter_1_model"]] = 4 / 7  # Diode: two styles
    y[i["filter_1_style"]] = 4 / 5
    y[i["osc_2_on"]] = 1.0
    y[i["modulation_1_amount"]] = 0.25
    assert genes.changes(y) == {
        "filter_1_model": 4.0,
        "filter_1_style": 1.0,  # the last style the model has
        "osc_2_on": 1.0,
        "modulation_1_amount": -0.5,
    }


@pytest.fixture(scope="module")
def target_objective(render_pool, short_probe):
    """A target rendered from a known preset, and a factory of objectives against it."""
    from synthmatch.search.match import make_score

    truth = Preset.init().with_values(osc_1_random_phase=0.0, filter_1_on=1, filter_1_cutoff=60.0)
    (out,) = render_pool.render([truth], short_probe)

    def objective() -> Objective:
        score = make_score(out.mono, short_probe, target_f0=None)
        return Objective(score=score, pool=render_pool, probe=short_probe)

    return objective


def test_the_ga_refiner_spends_its_budget_on_variants_of_the_start_and_repeats(target_objective):
    start = Preset.init().with_values(osc_1_random_phase=0.0, filter_1_on=1, filter_1_cutoff=100.0)
    results = []
    for _ in range(2):
        obj = target_objective()
        best = GARefiner(population=6).refine(start, obj, Budget(max_renders=12), seed=5)
        assert obj.renders == 12 and best is not None and math.isfinite(best.score)
        assert best.score == min(e.score for e in obj.history)
        assert all(e.audio is None for e in obj.history[1:])  # dropped once scored
        results.append((best.score, best.preset.values))
    assert results[0] == results[1]


def test_random_search_keeps_the_first_best_of_its_draws_within_the_budget(target_objective):
    base = Preset.init().with_values(osc_1_random_phase=0.0, filter_1_on=1)
    draws: list[int] = []

    def draw(i: int) -> Preset:
        draws.append(i)
        return base.with_values(filter_1_cutoff=30.0 + 15.0 * i)

    obj = target_objective()
    best = random_search(draw, obj, Budget(max_renders=7), batch=3)
    assert draws == list(range(7)) and obj.renders == 7
    scores = [e.score for e in obj.history]
    assert best is obj.history[int(np.argmin(scores))] and best.preset.values["filter_1_cutoff"] == 60.0
    assert all(e.audio is None for e in obj.history)
    assert random_search(draw, target_objective(), Budget(max_renders=0)) is None
