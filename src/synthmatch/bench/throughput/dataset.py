"""Dataset-build throughput (``bench dataset``): ``dataset build`` against raw renders of the same
presets, in one run.

For each worker count, one warm :class:`~synthmatch.render.pool.RenderPool` runs, alternately:

* **build** — :func:`~synthmatch.data.build.build_dataset` of ``n`` items into a temp folder
  (sampling, rendering, rejection, features, stats, optional FLAC in the workers; shards written
  by the main process);
* **raw** — ``RenderPool.imap`` over exactly the preset JSONs that build rendered (every attempt,
  rejected ones included), prepared beforehand in the main process, nothing else.

Each worker count gets a fresh pool, a warm-up (workers started, one untimed build of the same
items), then ``repeats`` alternating build/raw runs. CPU per render is also reported from the
workers' own accounting (engine children vs the pipeline in the worker vs the main process),
which other load on the machine does not distort.

Both count the same renders, so ``ratio = build renders/s ÷ raw renders/s`` is the share of raw
engine throughput the dataset pipeline keeps. Medians over ``repeats``.
"""

from __future__ import annotations

import collections
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from synthmatch.bench.machine import describe, machine_info
from synthmatch.data.build import build_dataset, make_job
from synthmatch.data.probes import make_probe_sampler
from synthmatch.data.reader import Dataset
from synthmatch.data.samplers import make_sampler
from synthmatch.data.worker import Job, item_task
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import DEFAULT_PROBE, Probe


def _attempts_per_item(ds: Dataset, n: int) -> list[int]:
    """How many renders the build spent on each item (accepted attempt + 1, or all attempts of a failed item)."""
    accepted = dict(zip(ds.column("index").tolist(), ds.column("attempt").tolist()))
    failed = {f["index"]: len(f["rejections"]) for f in ds.manifest.get("failed", [])}
    return [accepted[i] + 1 if i in accepted else failed.get(i, 0) for i in range(n)]


def _rendered(ds: Dataset, job: Job, n: int) -> tuple[list[str], list[Probe]]:
    """The preset JSON and probe of every render the build did, rejected attempts included."""
    sampler = make_sampler(job.sampler, job.sampler_config)
    probes = make_probe_sampler(job.probe_sampler, Probe.from_dict(job.probe), job.probe_config)
    jsons: list[str] = []
    probe_list: list[Probe] = []
    for i, k in enumerate(_attempts_per_item(ds, n)):
        probe = probes.probe(seed=job.seed, index=i)
        for a in range(k):
            jsons.append(sampler.draw(seed=job.seed, index=i, attempt=a).preset.to_json())
            probe_list.append(probe)
    return jsons, probe_list


def _measure(
    pool: RenderPool, job: Job, *, n: int, repeats: int, folder: str, tick: Callable[[], None]
) -> dict[str, Any]:
    """Warm up ``pool``, then time ``repeats`` build and raw runs in ABBA order."""
    shard_size = max(1, n // 4)
    # Warm-up: start every worker (engine, imports, sampler sources), then one untimed build of the
    # same items (per-table caches filled, as in the steady state of a long build).
    warm = job.replace(session="warmup").to_dict()
    for f in [pool.executor.submit(item_task, warm, 10_000_000 + k) for k in range(2 * pool.workers)]:
        f.result()
    build_dataset(f"{folder}/warmup", n=n, job=job, shard_size=shard_size, executor=pool.executor)
    warm_ds = Dataset(f"{folder}/warmup")
    jsons, probes = _rendered(warm_ds, job, n)
    expected = int(warm_ds.manifest["counts"]["attempts"])

    build_s: list[float] = []
    raw_s: list[float] = []
    renders: list[int] = []
    items: list[int] = []
    cpu: collections.Counter[str] = collections.Counter()

    def run_build(r: int) -> None:
        t0 = time.perf_counter()
        rep = build_dataset(f"{folder}/r{r}", n=n, job=job, shard_size=shard_size, executor=pool.executor)
        build_s.append(time.perf_counter() - t0)
        cpu.update({k: v for k, v in rep.timings.items() if "cpu" in k})
        renders.append(rep.attempts)
        items.append(rep.items)

    def run_raw() -> None:
        t0 = time.perf_counter()
        outcomes = list(pool.imap(jsons, probes))
        raw_s.append(time.perf_counter() - t0)
        if len(outcomes) != expected:
            raise RuntimeError(f"raw run rendered {len(outcomes)} presets, the build {expected}")

    for r in range(repeats):
        # ABBA order (build first in even repeats, raw first in odd ones), so a drift in the machine's
        # load hits both sides alike.
        first_build = r % 2 == 0
        for is_build in (first_build, not first_build):
            if is_build:
                run_build(r)
            else:
                run_raw()
            tick()
    b, rw = statistics.median(build_s), statistics.median(raw_s)
    att = statistics.median(renders)
    return {
        "build_s": [round(x, 3) for x in build_s],
        "raw_s": [round(x, 3) for x in raw_s],
        "renders": renders,
        "items": items,
        "build_items_per_s": round(statistics.median(i / t for i, t in zip(items, build_s)), 3),
        "build_renders_per_s": round(att / b, 3),
        "raw_renders_per_s": round(att / rw, 3),
        "ratio": round(rw / b, 3),
        # CPU per render from the workers' own accounting (not distorted by other load)
        "cpu_ms_per_render": {
            "render": round(1000 * cpu["cpu_render_s"] / sum(renders), 1),
            "pipeline": round(1000 * cpu["cpu_worker_s"] / sum(renders), 1),
            "main": round(1000 * cpu["main_cpu_s"] / sum(renders), 1),
        },
        "cpu_efficiency": round(
            cpu["cpu_render_s"] / max(cpu["cpu_render_s"] + cpu["cpu_worker_s"], 1e-9), 3
        ),
    }


def bench_throughput(
    *,
    n: int = 24,
    workers: Sequence[int] = (1, 2),
    repeats: int = 3,
    sampler: str = "lhs",
    sampler_config: dict[str, Any] | None = None,
    seed: int = 0,
    probe: Probe = DEFAULT_PROBE,
    keep_audio: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Measure build and raw throughput per worker count (see the module docstring)."""
    job = make_job(
        sampler=sampler, sampler_config=sampler_config, seed=seed, probe=probe, keep_audio=keep_audio
    )
    total_runs = len(workers) * repeats * 2
    state = {"runs": 0}

    def tick() -> None:
        state["runs"] += 1
        if progress is not None:
            progress(state["runs"], total_runs)

    results: dict[str, Any] = {
        "n": n,
        "repeats": repeats,
        "sampler": sampler,
        "seed": seed,
        "probe": probe.to_dict(),
        "keep_audio": keep_audio,
        "machine": machine_info(),
        "workers": {},
    }
    with tempfile.TemporaryDirectory(prefix="synthmatch-bench-") as tmp:
        for w in workers:
            with RenderPool(workers=w, sample_rate=probe.sample_rate) as pool:
                results["workers"][str(w)] = _measure(
                    pool, job, n=n, repeats=repeats, folder=f"{tmp}/w{w}", tick=tick
                )
    ws = [str(w) for w in workers]
    base = results["workers"][ws[0]]
    for w in ws[1:]:
        cur = results["workers"][w]
        cur["build_scaling_vs_" + ws[0]] = round(cur["build_items_per_s"] / base["build_items_per_s"], 3)
        cur["raw_scaling_vs_" + ws[0]] = round(cur["raw_renders_per_s"] / base["raw_renders_per_s"], 3)
    return results


def format_bench(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`bench_throughput`."""
    p = result["probe"]
    lines = [
        describe(result["machine"]),
        f"dataset build vs raw renders: n={result['n']} items, sampler {result['sampler']}, "
        f"probe note {p['note']} {p['render_seconds']:g} s @ {p['sample_rate']} Hz, median of {result['repeats']}",
        f"{'workers':>7s} {'renders':>8s} {'raw r/s':>8s} {'build r/s':>9s} {'items/s':>8s} {'ratio':>6s} {'scaling':>8s}"
        "   CPU ms/render: engine + pipeline (main) = efficiency",
    ]
    for w, r in result["workers"].items():
        scaling = next((v for k, v in r.items() if k.startswith("build_scaling_vs_")), 1.0)
        c = r["cpu_ms_per_render"]
        lines.append(
            f"{w:>7s} {statistics.median(r['renders']):8.0f} {r['raw_renders_per_s']:8.2f} "
            f"{r['build_renders_per_s']:9.2f} {r['build_items_per_s']:8.2f} {100 * r['ratio']:5.1f}% {scaling:7.2f}x"
            f"   {c['render']:.0f} + {c['pipeline']:.0f} ({c['main']:.0f}) = {100 * r['cpu_efficiency']:.1f}%"
        )
    return "\n".join(lines)
