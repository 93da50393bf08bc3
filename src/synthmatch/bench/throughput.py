"""Render throughput: the pool and its recipe against a plain loop of `vita` renders.

The baseline is what a user would write by hand: one ``vita.Synth`` in one process, and for each
preset ``load_json`` then one ``render`` at the probe. The pool adds the deterministic recipe
(warm-up render, fork per item, crash isolation) and the process plumbing. Both run on the same
presets in the same invocation, several rounds each, and the report gives medians and the
per-core overhead ``1 - (pool renders/s / workers) / (plain renders/s)``.
"""

from __future__ import annotations

import multiprocessing
import pathlib
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from synthmatch.bench.machine import describe, machine_info
from synthmatch.errors import SynthmatchError
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import DEFAULT_PROBE, Probe


def _plain_loop(preset_jsons: list[str], probe: dict[str, Any]) -> float:
    """Runs in a fresh spawned process: load + render each preset on one Synth; returns seconds."""
    import vita

    synth = vita.Synth()
    synth.set_sample_rate(probe["sample_rate"])
    t0 = time.perf_counter()
    for js in preset_jsons:
        synth.load_json(js)
        synth.render(probe["note"], probe["velocity"], probe["note_seconds"], probe["render_seconds"])
    return time.perf_counter() - t0


def plain_loop_seconds(preset_jsons: list[str], probe: Probe) -> float:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as p:
        return float(p.apply(_plain_loop, (preset_jsons, probe.to_dict())))


@dataclass
class ThroughputReport:
    n_presets: int
    rounds: int
    probe: dict[str, Any]
    plain_renders_per_s: float
    pool: dict[int, float]  # workers -> renders/s (median)
    overhead_per_core: dict[int, float]  # workers -> 1 - (rate / workers) / plain
    failures: int
    machine: dict[str, Any] = field(default_factory=machine_info)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        lines = [
            describe(self.machine),
            f"presets: {self.n_presets}, rounds: {self.rounds}, probe: {self.probe}",
            f"plain vita loop (1 process): {self.plain_renders_per_s:.2f} renders/s (median)",
        ]
        for w, rate in sorted(self.pool.items()):
            lines.append(
                f"pool, {w} worker(s): {rate:.2f} renders/s (median) = {rate / w:.2f} per worker; "
                f"overhead per core vs plain: {100 * self.overhead_per_core[w]:+.1f}%"
            )
        lines.append(f"failed renders: {self.failures}")
        return "\n".join(lines)


def mixed_presets(folder: str | pathlib.Path, n: int, *, seed: int = 0) -> list[str]:
    """``n`` preset JSON texts drawn from a folder of `.vital` files (written through our codec)."""
    from synthmatch.vital.preset import Preset

    files = sorted(pathlib.Path(folder).rglob("*.vital"))
    if not files:
        raise FileNotFoundError(f"no .vital files under {folder}")
    rng = random.Random(seed)
    picked = rng.sample(files, min(n, len(files)))
    return [Preset.from_file(f).to_json() for f in picked]


def measure(
    preset_jsons: list[str],
    *,
    probe: Probe = DEFAULT_PROBE,
    workers: tuple[int, ...] = (1, 2),
    rounds: int = 3,
) -> ThroughputReport:
    """Measure plain-loop and pool throughput on the same presets, interleaved over ``rounds``."""
    n = len(preset_jsons)
    plain: list[float] = []
    pool_rates: dict[int, list[float]] = {w: [] for w in workers}
    failures = 0
    pools = {w: RenderPool(workers=w, sample_rate=probe.sample_rate) for w in workers}
    try:
        for w, pool in pools.items():  # start workers and their engines before timing
            list(pool.imap(preset_jsons[: max(w, 1)], probe))
        for _ in range(rounds):
            plain.append(n / plain_loop_seconds(preset_jsons, probe))
            for w, pool in pools.items():
                t0 = time.perf_counter()
                outs = pool.render(preset_jsons, probe)
                pool_rates[w].append(n / (time.perf_counter() - t0))
                failures += sum(not o.ok for o in outs)
    finally:
        for pool in pools.values():
            pool.close()
    plain_rate = statistics.median(plain)
    med = {w: statistics.median(r) for w, r in pool_rates.items()}
    return ThroughputReport(
        n_presets=n,
        rounds=rounds,
        probe=probe.to_dict(),
        plain_renders_per_s=plain_rate,
        pool=med,
        overhead_per_core={w: 1.0 - (med[w] / w) / plain_rate for w in med},
        failures=failures,
    )


# ---------------------------------------------------------------------------------------
# Search throughput: where the objective is computed.
# ---------------------------------------------------------------------------------------
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
