"""Search throughput (``bench search``): one search in two settings, where it computes its
objective (in the searching process or in the render workers) or how a whole match runs its
refinement starts (one after the other or side by side), in interleaved rounds."""

from __future__ import annotations

import pathlib
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from synthmatch.bench.machine import describe, machine_info
from synthmatch.errors import SynthmatchError
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import DEFAULT_PROBE

#: What ``bench search`` compares: two settings of the same search, run in interleaved rounds
#: (label -> the keyword arguments that select it). ``scoring``: where a search scores its renders,
#: in the searching process or in the render workers. ``starts`` (the whole match only): the
#: refinement starts one after the other, or side by side.
SEARCH_COMPARISONS: dict[str, dict[str, dict[str, bool]]] = {
    "scoring": {
        "scored here": {"score_in_workers": False},
        "scored in the workers": {"score_in_workers": True},
    },
    "starts": {
        "starts one after the other": {"side_by_side": False},
        "starts side by side": {"side_by_side": True},
    },
}


@dataclass
class SearchThroughputReport:
    target: str
    renders: int  # per search
    rounds: int
    probe: dict[str, Any]
    rate: dict[str, float]  # "W workers, MODE" -> renders/s (median over rounds)
    parent_cpu_ms: dict[str, float]  # same keys -> CPU ms of the searching process per render (median)
    seconds: dict[str, float]  # same keys -> wall seconds per search (median)
    same_results: bool  # every search found the same scores in both modes
    what: str = "refiner"  # "refiner": CMA-ES from the init preset; "match": the default match
    compare: str = "scoring"  # the key of SEARCH_COMPARISONS
    machine: dict[str, Any] = field(default_factory=machine_info)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        what = (
            "CMA-ES from the init preset" if self.what == "refiner" else "the whole match (synthmatch.match)"
        )
        lines = [
            describe(self.machine),
            f"target: {self.target}, {what}, {self.renders} render budget per search, "
            f"{self.rounds} rounds, probe: {self.probe}",
        ]
        keys = list(self.seconds)
        for key, rate in self.rate.items():
            ms = self.parent_cpu_ms[key]
            lines.append(
                f"{key}: {self.seconds[key]:.2f} s per search, {rate:.2f} renders/s (medians); searching "
                f"process {ms:.1f} CPU ms per render, so it alone caps a search at {1000.0 / max(ms, 1e-9):.0f} renders/s"
            )
        for a, b in zip(keys[::2], keys[1::2]):  # each worker count's two settings
            lines.append(f"{b} / {a}: {self.seconds[b] / self.seconds[a]:.3f} of the time per search")
        lines.append(f"same scores in both modes: {'yes' if self.same_results else 'NO'}")
        return "\n".join(lines)


def measure_search(
    target: str | pathlib.Path,
    *,
    workers: tuple[int, ...] = (2,),
    renders: int = 96,
    rounds: int = 3,
    whole_match: bool = False,
    compare: str = "scoring",
) -> SearchThroughputReport:
    """Run the same CMA-ES search from the init preset towards ``target`` (an audio file) in both
    settings of ``compare`` (:data:`SEARCH_COMPARISONS`; by default with the objective computed
    here and in the render workers), interleaved over ``rounds`` after one untimed warm-up search
    per pool and setting; report times, render rates and the searching process's CPU time.
    ``whole_match`` runs the default match (bundled library, ``renders`` as its budget) instead;
    ``compare="starts"`` needs it."""
    if compare not in SEARCH_COMPARISONS:
        raise SynthmatchError(f"unknown comparison {compare!r}; choose from {sorted(SEARCH_COMPARISONS)}")
    if compare == "starts" and not whole_match:
        raise SynthmatchError(
            "only a whole match has refinement starts to compare. Hint: add --match to --compare starts."
        )
    modes = SEARCH_COMPARISONS[compare]
    from synthmatch.search.library import Library, default_library_path
    from synthmatch.search.match import Matcher, make_score, read_target, target_f0_of
    from synthmatch.search.refine import Budget, CMAESRefiner, Objective
    from synthmatch.vital.preset import Preset

    _, samples, an, probe = read_target(target, sample_rate=DEFAULT_PROBE.sample_rate)
    start = Preset.init()
    library = Library.load(default_library_path()) if whole_match else None

    def search(pool: RenderPool, mode: str, n: int) -> tuple[float, float, float, list[float]]:
        setting = modes[mode]
        in_workers = setting.get("score_in_workers")
        c0, t0 = time.process_time(), time.perf_counter()
        if whole_match:
            with Matcher(library=library, pool=pool, score_in_workers=in_workers) as m:
                res = m.match(str(target), budget=n, side_by_side=setting.get("side_by_side", True))
            done, got = res.renders, [c.metrics["objective"] for c in res.candidates]
        else:
            score = make_score(samples, probe, target_f0=target_f0_of(an))
            obj = Objective(score=score, pool=pool, probe=probe, score_in_workers=in_workers)
            CMAESRefiner().refine(start, obj, Budget(max_renders=n), seed=0)
            done, got = obj.renders, [e.score for e in obj.history]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return wall, done / wall, 1000.0 * cpu / done, got

    walls: dict[str, list[float]] = {}
    rates: dict[str, list[float]] = {}
    cpu_ms: dict[str, list[float]] = {}
    first: dict[int, list[float]] = {}  # the scores of each pool's first timed search
    same = True
    for w in workers:
        with RenderPool(workers=w, sample_rate=probe.sample_rate) as pool:
            for mode in modes:  # start the workers, their base engines and measures
                search(pool, mode, max(w, 4))
            for _ in range(rounds):
                for mode in modes:
                    wall, rate, ms, got = search(pool, mode, renders)
                    key = f"{w} workers, {mode}"
                    walls.setdefault(key, []).append(wall)
                    rates.setdefault(key, []).append(rate)
                    cpu_ms.setdefault(key, []).append(ms)
                    same = same and first.setdefault(w, got) == got
    return SearchThroughputReport(
        target=str(target),
        renders=renders,
        rounds=rounds,
        probe=probe.to_dict(),
        rate={k: statistics.median(v) for k, v in rates.items()},
        parent_cpu_ms={k: statistics.median(v) for k, v in cpu_ms.items()},
        seconds={k: statistics.median(v) for k, v in walls.items()},
        same_results=same,
        what="match" if whole_match else "refiner",
        compare=compare,
    )
