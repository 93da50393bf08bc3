"""A pool of render workers: spawned processes, each holding one pristine engine (the zygote).

Each item is rendered by :func:`synthmatch.render.engine.render_task` in a forked child of a
worker (see :mod:`synthmatch.render.engine`), so an engine crash or hang costs that item only and
is reported with its reason. Results are bit-identical whichever worker renders an item.

The caller may pass its own executor (e.g. a Ray-backed one); by default a spawn-context
``ProcessPoolExecutor`` is used so every worker starts from a clean interpreter.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from typing import Any

from synthmatch.render.engine import RenderOutcome, preset_json_of, render_task, zygote
from synthmatch.render.probe import DEFAULT_PROBE, Probe

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)``; raising from it cancels the job."""


def _die_with_parent() -> None:
    """Linux: have the kernel terminate this worker if the process that owns the pool dies
    (a killed job must not leave engine processes behind). Best effort elsewhere."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _init_worker(sample_rate: int) -> None:
    # One engine per worker, built first thing in a fresh interpreter, so zygotes are identical
    # across workers and runs. BLAS threads would only fight the renders for cores.
    _die_with_parent()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    zygote(sample_rate)


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1))


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

    def submit(self, preset: Any, probe: Probe = DEFAULT_PROBE) -> Future[RenderOutcome]:
        """Submit one render; the future's result is a :class:`RenderOutcome` (never raises for engine faults)."""
        return self.executor.submit(render_task, preset_json_of(preset), probe.to_dict(), self.timeout_s)

    def imap(
        self,
        presets: Sequence[Any],
        probes: Probe | Sequence[Probe] = DEFAULT_PROBE,
        *,
        progress: ProgressCallback | None = None,
        max_in_flight: int | None = None,
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
                    pending[self.submit(presets[next_i], probe_list[next_i])] = next_i
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
    ) -> list[RenderOutcome]:
        """Render all items; outcomes in input order."""
        out: list[RenderOutcome | None] = [None] * len(presets)
        for i, outcome in self.imap(presets, probes, progress=progress):
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
    pool: RenderPool, base_json: str, changes: dict[str, float], probe: Probe = DEFAULT_PROBE
) -> Future[RenderOutcome]:
    """Submit a render of ``base_json`` with control ``changes`` (see :mod:`synthmatch.render.session`)."""
    from synthmatch.render.session import variant_task

    return pool.executor.submit(variant_task, base_json, dict(changes), probe.to_dict(), pool.timeout_s)
