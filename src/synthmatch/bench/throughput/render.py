"""Render throughput (``bench render``): the pool and its recipe against a plain loop of `vita` renders.

The baseline is what a user would write by hand: one ``vita.Synth`` in one process, and for each
preset ``load_json`` then one ``render`` at the probe. The pool adds the deterministic recipe
(warm-up render, fork per item, crash isolation) and the process plumbing. Both run on the same
presets in the same invocation, several rounds each, and the report gives medians and the
per-core overhead ``1 - (pool renders/s / workers) / (plain renders/s)``.
"""

from __future__ import annotations

import pathlib
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from synthmatch.bench.machine import describe, machine_info, plain_loop_seconds
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import DEFAULT_PROBE, Probe


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
