"""Build a dataset: plan shards, render the missing items in workers, write shards atomically.

Item ``i`` is a pure function of ``(job, i)`` (:func:`synthmatch.data.worker.item_task`), so a
build can be split, killed, resumed and run on any executor — a local process pool, Ray, or one
the caller passes — and always produces the same items. Resuming keeps every complete shard and
renders only the missing ones; an item whose every attempt was rejected is counted and reported
(never silently dropped).
"""

from __future__ import annotations

import collections
import logging
import os
import pathlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthmatch.data.assets import AssetStore, DatasetError
from synthmatch.data.samplers import make_sampler
from synthmatch.data.shards import (
    ASSETS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    SHARDS,
    clean_temp,
    complete_shards,
    now_iso,
    read_manifest,
    shard_name,
    shard_ranges,
    versions,
    write_json_atomic,
    write_shard,
)
from synthmatch.data.stats import STAT_NAMES
from synthmatch.data.worker import ItemResult, Job, compute_log_mel, feature_config, item_task
from synthmatch.errors import SpecMismatchError
from synthmatch.render.probe import DEFAULT_PROBE, Probe
from synthmatch.vital.spec import default_space

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` with the items of this run; raising from it cancels the build."""


@dataclass
class BuildReport:
    """What a build did. ``items`` counts accepted items in the whole dataset."""

    out: pathlib.Path
    n: int
    items: int
    failed: list[dict[str, Any]]
    rejections: dict[str, int]
    attempts: int
    shards_written: int
    shards_kept: int
    items_rendered: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        return self.items_rendered / self.seconds if self.seconds > 0 else 0.0


def _features_dict(features: Any) -> dict[str, Any] | None:
    if features is None or isinstance(features, Mapping):
        return None if features is None else dict(features)
    return features.to_dict()


def _features_for(features: Any, probe: Probe) -> dict[str, Any]:
    """The log-mel config of a build: the declared defaults at the probe's sample rate, or as given."""
    d = _features_dict(features)
    cfg = feature_config({"sample_rate": probe.sample_rate, **(d or {})})
    if cfg.sample_rate != probe.sample_rate:
        raise DatasetError(
            f"the log-mel config expects {cfg.sample_rate} Hz but the probe renders at {probe.sample_rate} Hz. "
            f"Hint: set features sample_rate={probe.sample_rate} or change the probe's sample_rate."
        )
    return cfg.to_dict()


def make_job(
    *,
    sampler: str = "lhs",
    sampler_config: Mapping[str, Any] | None = None,
    seed: int = 0,
    probe: Probe = DEFAULT_PROBE,
    probe_sampler: str = "fixed",
    probe_config: Mapping[str, Any] | None = None,
    features: Any = None,
    feature_dtype: str = "float16",
    keep_audio: bool = False,
    max_attempts: int = 8,
    min_rms_db: float = -60.0,
    timeout_s: float = 60.0,
) -> Job:
    """A validated :class:`Job` (the sampler and probe sampler are built once to check options)."""
    if seed < 0:
        raise DatasetError(f"seed must be >= 0, got {seed}")
    if max_attempts < 1:
        raise DatasetError(f"max_attempts must be >= 1, got {max_attempts}")
    if feature_dtype not in ("float16", "float32"):
        raise DatasetError(f"feature_dtype must be 'float16' or 'float32', got {feature_dtype!r}")
    s = make_sampler(sampler, sampler_config)
    job = Job(
        sampler=sampler,
        sampler_config=s.config.to_dict(),
        seed=int(seed),
        probe=probe.to_dict(),
        probe_sampler=probe_sampler,
        probe_config=dict(probe_config or {}),
        features=_features_for(features, probe),
        feature_dtype=feature_dtype,
        keep_audio=bool(keep_audio),
        max_attempts=int(max_attempts),
        min_rms_db=float(min_rms_db),
        timeout_s=float(timeout_s),
    )
    from synthmatch.data.probes import make_probe_sampler

    job = job.replace(
        probe_config=make_probe_sampler(probe_sampler, probe, job.probe_config).config.to_dict()
    )
    return job


def _array_shapes(job: Job) -> dict[str, list[int]]:
    space = default_space()
    probe = Probe.from_dict(job.probe)
    mel = compute_log_mel(
        np.zeros(probe.n_samples, dtype=np.float32), feature_config(job.features), "float32"
    )
    return {
        "values": [len(space.control_names())],
        "x": [len(space.layout.numeric)],
        "c": [len(space.layout.categorical)],
        "active_x": [len(space.layout.numeric)],
        "active_c": [len(space.layout.categorical)],
        "mel": list(mel.shape),
        "stats": [len(STAT_NAMES)],
    }


def _new_manifest(job: Job, *, n: int, shard_size: int) -> dict[str, Any]:
    space = default_space()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "status": "building",
        "spec_hash": space.spec_hash,
        "n": int(n),
        "shard_size": int(shard_size),
        "seed": job.seed,
        "sampler": {"name": job.sampler, "config": job.sampler_config},
        "probe": job.probe,
        "probe_sampler": {"name": job.probe_sampler, "config": job.probe_config},
        "features": {"type": "log_mel", "config": job.features, "dtype": job.feature_dtype},
        "keep_audio": job.keep_audio,
        "max_attempts": job.max_attempts,
        "min_rms_db": job.min_rms_db,
        "job": job.identity(),
        "layout": {
            "controls": space.control_names(),
            "numeric": list(space.layout.numeric),
            "categorical": list(space.layout.categorical),
            "categorical_sizes": space.categorical_sizes,
            "stats": list(STAT_NAMES),
        },
        "arrays": _array_shapes(job),
        "versions": versions(),
        "created": now_iso(),
    }


def _check_resumable(old: Mapping[str, Any], new: Mapping[str, Any], root: pathlib.Path) -> None:
    if old.get("spec_hash") != new["spec_hash"]:
        raise SpecMismatchError(
            f"{root} was built for parameter space {old.get('spec_hash')}, but this synthmatch declares "
            f"{new['spec_hash']}. Hint: build into a new --out folder."
        )
    diffs = [k for k in new["job"] if old.get("job", {}).get(k) != new["job"][k]]
    if old.get("shard_size") != new["shard_size"]:
        diffs.append("shard_size")
    if diffs:
        raise DatasetError(
            f"{root} holds a dataset built with other options ({', '.join(sorted(diffs))} differ); resuming it "
            "with these would mix items. Hint: repeat the original options or build into a new --out folder."
        )


def _open_executor(
    executor: Executor | None, workers: int | None, ray_address: str | None, sample_rate: int
) -> tuple[Executor, int, Callable[[], None]]:
    """(executor, tasks to keep in flight, close)."""
    if executor is not None:
        w = int(getattr(executor, "_max_workers", 0) or workers or os.cpu_count() or 1)
        return executor, 4 * w, lambda: None
    if ray_address:
        from synthmatch.data.ray_backend import RayExecutor

        rex = RayExecutor(ray_address, num_cpus=workers)
        return rex, 2 * rex.cpus + 2, rex.shutdown
    from synthmatch.render.pool import RenderPool

    pool = RenderPool(workers=workers, sample_rate=sample_rate)
    return pool.executor, 4 * pool.workers, pool.close


def build_dataset(
    out: str | os.PathLike[str],
    *,
    n: int,
    job: Job | None = None,
    shard_size: int = 1000,
    workers: int | None = None,
    executor: Executor | None = None,
    ray_address: str | None = None,
    progress: ProgressCallback | None = None,
    part: tuple[int, int] | None = None,
    **job_options: Any,
) -> BuildReport:
    """Build (or resume) a dataset of ``n`` items in ``out``.

    Parameters
    ----------
    out : path
        Dataset folder (created). If it holds a build with the same options, complete shards are
        kept and only missing shards are rendered.
    n : int
        Items requested. Item ``i`` is the same whatever ``n``, executor or number of workers.
    job : Job, optional
        What to build; or pass :func:`make_job` options (``sampler``, ``sampler_config``, ``seed``,
        ``probe``, ``probe_sampler``, ``probe_config``, ``features``, ``feature_dtype``,
        ``keep_audio``, ``max_attempts``, ``min_rms_db``, ``timeout_s``) as keywords.
    shard_size : int
        Items per shard.
    workers : int, optional
        Local worker processes (default: CPU count), or CPUs of a local Ray instance.
    executor : Executor, optional
        Run tasks here (the caller owns it), e.g. a warm ``RenderPool(...).executor``.
    ray_address : str, optional
        Run on Ray: ``"local"`` starts a local instance, anything else connects to a cluster.
    progress : callable, optional
        ``progress(done, total)`` over this run's items; raising from it cancels the build
        (complete shards stay, and a later call resumes).
    part : (i, k), optional
        Build only shards ``s`` with ``s % k == i``: ``k`` independent drivers (e.g. a batch
        array job) fill one dataset folder together; a last run without ``part`` checks and
        finalizes it.
    """
    if n < 0:
        raise DatasetError(f"n must be >= 0, got {n}")
    if job is None:
        job = make_job(**job_options)
    elif job_options:
        raise DatasetError(f"pass either job= or job options, not both ({sorted(job_options)})")
    root = pathlib.Path(out)
    root.mkdir(parents=True, exist_ok=True)
    manifest = _new_manifest(job, n=n, shard_size=shard_size)
    if (root / MANIFEST).exists():
        old = read_manifest(root)
        _check_resumable(old, manifest, root)
        manifest["created"] = old.get("created", manifest["created"])
        manifest["runs"] = list(old.get("runs", []))
    manifest.setdefault("runs", []).append(
        {"started": now_iso(), "n": int(n), "versions": manifest["versions"]}
    )
    write_json_atomic(root / MANIFEST, manifest)
    store = AssetStore(root / ASSETS)
    store.clean_temp()
    clean_temp(root)

    ranges = shard_ranges(n, shard_size)
    existing = complete_shards(root)
    for k, summary in list(existing.items()):
        if k >= len(ranges) or (summary["start"], summary["stop"]) != ranges[k]:
            log.info("removing shard %d: its range does not match n=%d", k, n)
            shutil.rmtree(root / SHARDS / shard_name(k), ignore_errors=True)
            del existing[k]
    if part is not None:
        i_part, n_parts = (int(v) for v in part)
        if not 0 <= i_part < n_parts:
            raise DatasetError(f"part {i_part}/{n_parts} is invalid; use i/k with 0 <= i < k")
    todo = [k for k in range(len(ranges)) if k not in existing and (part is None or k % n_parts == i_part)]
    total = sum(ranges[k][1] - ranges[k][0] for k in todo)
    job = job.replace(session=uuid.uuid4().hex)
    job_dict = job.to_dict()

    t0 = time.monotonic()
    cpu0 = time.process_time()
    timings: collections.Counter[str] = collections.Counter()
    written = 0
    if todo:
        ex, in_flight, close = _open_executor(
            executor, workers, ray_address, Probe.from_dict(job.probe).sample_rate
        )
        try:
            for k, results in _run(ex, job_dict, ranges, todo, in_flight, store, progress, total, timings):
                start, stop = ranges[k]
                tw = time.monotonic()
                write_shard(
                    root, k, start, stop, results, arrays=manifest["arrays"], feature_dtype=job.feature_dtype
                )
                timings["write_s"] += time.monotonic() - tw
                written += 1
        finally:
            close()
    seconds = time.monotonic() - t0
    timings["main_cpu_s"] = time.process_time() - cpu0

    summaries = complete_shards(root)
    reasons: collections.Counter[str] = collections.Counter()
    failed: list[dict[str, Any]] = []
    for s in summaries.values():
        reasons.update(s["rejections"])
        failed += s["failed"]
    items = sum(s["n_items"] for s in summaries.values())
    attempts = sum(s["attempts"] for s in summaries.values())
    manifest.update(
        status="complete" if len(summaries) == len(ranges) else "partial",
        completed=now_iso(),
        counts={
            "items": items,
            "failed_items": len(failed),
            "attempts": attempts,
            "rejected_attempts": sum(reasons.values()),
            "rejections": dict(sorted(reasons.items())),
        },
        failed=failed,
        shards=[
            {"name": shard_name(k), "start": s["start"], "stop": s["stop"], "n_items": s["n_items"]}
            for k, s in sorted(summaries.items())
        ],
        render_seconds=round(sum(s["render_s"] for s in summaries.values()), 3),
        worker_seconds=round(sum(s["task_s"] for s in summaries.values()), 3),
        cpu_seconds={
            "render": round(sum(s.get("cpu_render_s", 0.0) for s in summaries.values()), 3),
            "pipeline": round(sum(s.get("cpu_worker_s", 0.0) for s in summaries.values()), 3),
        },
    )
    write_json_atomic(root / MANIFEST, manifest)
    return BuildReport(
        out=root,
        n=n,
        items=items,
        failed=failed,
        rejections=dict(reasons),
        attempts=attempts,
        shards_written=written,
        shards_kept=len(ranges) - len(todo),
        items_rendered=total,
        seconds=seconds,
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def _run(
    ex: Executor,
    job: dict[str, Any],
    ranges: list[tuple[int, int]],
    todo: list[int],
    in_flight: int,
    store: AssetStore,
    progress: ProgressCallback | None,
    total: int,
    timings: collections.Counter[str],
) -> Iterator[tuple[int, list[ItemResult]]]:
    """Submit the items of the ``todo`` shards in order; yield each shard's results when complete."""
    indices = ((k, i) for k in todo for i in range(*ranges[k]))
    buffers: dict[int, list[ItemResult]] = {k: [] for k in todo}
    pending: dict[Future[ItemResult], int] = {}
    done = 0
    exhausted = False
    try:
        while pending or not exhausted:
            while not exhausted and len(pending) < in_flight:
                nxt = next(indices, None)
                if nxt is None:
                    exhausted = True
                    break
                k, i = nxt
                pending[ex.submit(item_task, job, i)] = k
            if not pending:
                break
            tw = time.monotonic()
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            timings["wait_s"] += time.monotonic() - tw
            for fut in finished:
                k = pending.pop(fut)
                try:
                    res = fut.result()
                except Exception as exc:
                    raise DatasetError(
                        f"a worker failed on an item of shard {k}: {exc!r}. Complete shards are kept; "
                        "run the same command again to resume."
                    ) from exc
                store.put_many(res.new_assets.items())
                res.new_assets = {}
                timings["cpu_render_s"] += res.cpu_render_s
                timings["cpu_worker_s"] += res.cpu_worker_s
                buffers[k].append(res)
                done += 1
                if progress is not None:
                    progress(done, total)
                start, stop = ranges[k]
                if len(buffers[k]) == stop - start:
                    yield k, buffers.pop(k)
    finally:
        for fut in pending:
            fut.cancel()
