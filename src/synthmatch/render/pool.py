"""A pool of render workers: spawned processes, each holding one pristine engine (the zygote).

Each item is rendered by :func:`synthmatch.render.engine.render_task` in a forked child of a
worker (see :mod:`synthmatch.render.engine`), so an engine crash or hang costs that item only and
is reported with its reason. Results are bit-identical whichever worker renders an item.

The caller may pass its own executor (e.g. a Ray-backed one); by default a spawn-context
``ProcessPoolExecutor`` is used so every worker starts from a clean interpreter.

A :class:`Measure` runs a function of each render's audio (e.g. a search objective) in the worker
that rendered it, so the process that owns the pool only collects results: with many workers,
scoring every render in one parent process is what limits the render rate.
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.render.engine import RenderOutcome, preset_json_of, render_task, zygote
from synthmatch.render.probe import DEFAULT_PROBE, Probe

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)``; raising from it cancels the job."""


#: How often a worker checks that the process that owns its pool is still alive (seconds).
PARENT_CHECK_S = 0.5


def _die_with_parent() -> None:
    """End this worker soon after the process that owns the pool dies (a killed job must not leave
    engine processes behind).

    A watchdog thread polls the parent's pid: an orphan is re-parented, so the pid changes. The
    kernel's parent-death signal (``PR_SET_PDEATHSIG``) is not used: it fires when the *thread*
    that spawned the worker ends, and a pool first used from a short-lived thread (a benchmark's
    item thread, a web request) spawns its workers there, so they would die with that thread and
    break the pool. The thread holds no lock while it sleeps, so the worker can still fork.
    """
    parent = os.getppid()
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(PARENT_CHECK_S):
            if os.getppid() != parent:
                os._exit(1)

    watcher = threading.Thread(target=watch, name="synthmatch-parent-watch", daemon=True)
    watcher.start()

    def end_watch() -> None:  # a worker that exits normally finalises with no thread left running
        stop.set()
        watcher.join()

    atexit.register(end_watch)


def _init_worker(sample_rate: int) -> None:
    # One engine per worker, built first thing in a fresh interpreter, so zygotes are identical
    # across workers and runs. BLAS threads would only fight the renders for cores.
    _die_with_parent()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    zygote(sample_rate)


@dataclass(frozen=True)
class Measure:
    """A picklable function of a render's mono audio, run in the worker after each render.

    Build it with :meth:`of`: the function is pickled once, and workers unpickle it once per
    ``key`` (a few are cached), so each task carries its bytes but not its set-up cost. The
    result lands in :attr:`RenderOutcome.measured`; it is computed only for an ``ok`` render whose
    samples are all finite. An exception raised by the function fails that task like a worker
    fault.
    """

    key: str
    blob: bytes

    @classmethod
    def of(cls, fn: Callable[[np.ndarray], Any]) -> Measure:
        blob = pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(hashlib.sha1(blob).hexdigest(), blob)


_MEASURES: OrderedDict[str, Callable[[np.ndarray], Any]] = OrderedDict()
_MAX_MEASURES = 8  # searches sharing a pool at once (bench --parallel-items)
_MEASURES_LOCK = threading.Lock()  # a thread executor runs tasks side by side in one process


def _measure_fn(measure: Measure) -> Callable[[np.ndarray], Any]:
    with _MEASURES_LOCK:
        fn = _MEASURES.get(measure.key)
        if fn is None:
            while len(_MEASURES) >= _MAX_MEASURES:
                _MEASURES.popitem(last=False)
            fn = _MEASURES[measure.key] = pickle.loads(measure.blob)
        _MEASURES.move_to_end(measure.key)
        return fn


def measured_task(task: Callable[..., RenderOutcome], measure: Measure, *args: Any) -> RenderOutcome:
    """Run ``task(*args)``, then ``measure`` on its mono audio, in the same (worker) process.

    Every argument is top-level, so an executor that passes large ones by reference (Ray's object
    store, see :class:`synthmatch.data.ray_backend.RayExecutor`) sees the preset and the measure."""
    out = task(*args)
    if out.ok:
        mono = out.mono
        if np.all(np.isfinite(mono)):
            out.measured = _measure_fn(measure)(mono)
    return out


def _submit(
    executor: Executor, measure: Measure | None, task: Callable[..., RenderOutcome], *args: Any
) -> Future[RenderOutcome]:
    if measure is None:
        return executor.submit(task, *args)
    return executor.submit(measured_task, task, measure, *args)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS says, else the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    return usable_cores()


class RenderPool:
    """Render many presets in parallel with crash isolation and per-item timeouts.

    Parameters
    ----------
    workers : int, optional
        Worker processes (default: CPU count). Ignored when ``executor`` is given.
    timeout_s : float
        Per-item limit; an item that takes longer is killed and reported as ``timeout``.
    executor : concurrent.futures.Executor, optional
        Run tasks on this executor instead of an own process pool (the caller owns it).
    sample_rate : int
        Sample rate the workers' engines are prepared for (others are built on demand).
    """

    def __init__(
        self,
        *,
        workers: int | None = None,
        timeout_s: float = 60.0,
        executor: Executor | None = None,
        sample_rate: int = DEFAULT_PROBE.sample_rate,
    ) -> None:
        self.timeout_s = float(timeout_s)
        self.workers = int(workers or default_workers())
        self._own = executor is None
        if executor is None:
            executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(sample_rate,),
            )
        self.executor: Executor = executor

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def submit(
        self, preset: Any, probe: Probe = DEFAULT_PROBE, *, measure: Measure | None = None
    ) -> Future[RenderOutcome]:
        """Submit one render; the future's result is a :class:`RenderOutcome` (never raises for
        engine faults). With ``measure``, the worker also fills the outcome's ``measured``."""
        return _submit(
            self.executor, measure, render_task, preset_json_of(preset), probe.to_dict(), self.timeout_s
        )

    def imap(
        self,
        presets: Sequence[Any],
        probes: Probe | Sequence[Probe] = DEFAULT_PROBE,
        *,
        progress: ProgressCallback | None = None,
        max_in_flight: int | None = None,
        measure: Measure | None = None,
    ) -> Iterator[tuple[int, RenderOutcome]]:
        """Yield ``(index, outcome)`` as renders finish, keeping at most ``max_in_flight`` queued."""
        n = len(presets)
        if isinstance(probes, Probe):
            probe_list: Sequence[Probe] = [probes] * n
        else:
            probe_list = probes
            if len(probe_list) != n:
                raise ValueError(f"{n} presets but {len(probe_list)} probes")
        limit = max_in_flight or 4 * self.workers
        pending: dict[Future[RenderOutcome], int] = {}
        next_i = done = 0
        try:
            while next_i < n or pending:
                while next_i < n and len(pending) < limit:
                    pending[self.submit(presets[next_i], probe_list[next_i], measure=measure)] = next_i
                    next_i += 1
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    i = pending.pop(fut)
                    try:
                        outcome = fut.result()
                    except Exception as exc:  # the worker itself failed (rare: the engine runs in a child)
                        outcome = RenderOutcome("error", reason=f"worker failed: {exc!r}")
                    done += 1
                    if progress is not None:
                        progress(done, n)
                    yield i, outcome
        finally:
            for fut in pending:
                fut.cancel()

    def render(
        self,
        presets: Sequence[Any],
        probes: Probe | Sequence[Probe] = DEFAULT_PROBE,
        *,
        progress: ProgressCallback | None = None,
        measure: Measure | None = None,
    ) -> list[RenderOutcome]:
        """Render all items; outcomes in input order."""
        out: list[RenderOutcome | None] = [None] * len(presets)
        for i, outcome in self.imap(presets, probes, progress=progress, measure=measure):
            out[i] = outcome
        return [o for o in out if o is not None]


_DEFAULT: RenderPool | None = None
_DEFAULT_LOCK = threading.Lock()


def shared_pool() -> RenderPool:
    """A process-wide pool (created on first use, closed at exit) for one-off renders."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = RenderPool()
            atexit.register(_DEFAULT.close)
        return _DEFAULT


def render(preset: Any, probe: Probe = DEFAULT_PROBE, *, timeout_s: float = 60.0) -> RenderOutcome:
    """Render one preset with the deterministic recipe in an isolated worker."""
    pool = shared_pool()
    return pool.executor.submit(render_task, preset_json_of(preset), probe.to_dict(), timeout_s).result()


def submit_variant(
    pool: RenderPool,
    base_json: str,
    changes: dict[str, float],
    probe: Probe = DEFAULT_PROBE,
    *,
    measure: Measure | None = None,
) -> Future[RenderOutcome]:
    """Submit a render of ``base_json`` with control ``changes`` (see :mod:`synthmatch.render.session`)."""
    from synthmatch.render.session import variant_task

    return _submit(
        pool.executor, measure, variant_task, base_json, dict(changes), probe.to_dict(), pool.timeout_s
    )
