"""Running match jobs: a bounded queue, a few runner threads, one render pool for all of them.

A job goes ``queued → running → done`` (or ``failed``, ``cancelled``, ``interrupted``). While it
runs, the runner first writes the sources' instant answer (``budget=0``: the estimator's preset
where there is one), then the search's result, its files (:func:`synthmatch.search.report.write_outputs`)
and the tutorial. Progress goes to the store, throttled; a cancel stops the search at its next
batch of renders and keeps the best result so far.
"""

from __future__ import annotations

import contextlib
import logging
import math
import pathlib
import queue
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

from synthmatch.search.match import MatchResult
from synthmatch.service.store import Job, JobStore
from synthmatch.service.validation import ServiceError

__all__ = ["JobRunner", "result_summary"]

log = logging.getLogger(__name__)

#: Progress is written to the store at most this often (s) while a job runs.
PROGRESS_EVERY_S = 0.25


def result_summary(result: MatchResult, *, provisional: bool = False) -> dict[str, Any]:
    """The JSON the API gives for a match result (without URLs: the app adds them)."""
    cands = []
    for i, c in enumerate(result.candidates, start=1):
        cands.append(
            {
                "rank": i,
                "score": c.score if c.metrics else None,
                "metrics": {k: float(v) for k, v in c.metrics.items()},
                "origin": str(c.origin),
                "rendered": bool(c.audio.size),
            }
        )
    an = result.analysis
    return {
        "provisional": provisional,
        "best": cands[0] if cands else None,
        "candidates": cands,
        "analysis": {
            "midi_note": an.get("midi_note"),
            "pitched": an.get("pitched"),
            "note_seconds": result.probe.note_seconds,
            "probe_note": result.probe.note,
        },
        "renders": result.renders,
        "seconds": round(float(result.timings.get("total", 0.0)), 3),
        "interrupted": result.interrupted,
    }


class _Cancelled(KeyboardInterrupt):
    """Raised in the progress callback to stop a search (the match returns its best so far)."""


class JobRunner:
    """Runs the store's match jobs (see the module docstring).

    Parameters
    ----------
    store : JobStore
        Where jobs and their files live.
    max_running : int
        Matches run side by side (they share one render pool).
    max_queued : int
        Jobs waiting at most; :meth:`submit` answers 429 beyond it.
    workers : int, optional
        Render worker processes (default: the usable cores).
    tutorial : bool
        Write each result's tutorial, measured by ablation renders.
    matcher : Matcher, optional
        Match with this (default: a :class:`~synthmatch.search.match.Matcher` made on first use).
    """

    def __init__(
        self,
        store: JobStore,
        *,
        max_running: int = 1,
        max_queued: int = 16,
        workers: int | None = None,
        tutorial: bool = True,
        matcher: Any = None,
    ) -> None:
        self.store = store
        self.max_running = max_running
        self.max_queued = max_queued
        self.workers = workers
        self.tutorial = tutorial
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._cancel: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._matcher: Any = matcher
        self._matcher_lock = threading.Lock()
        self._stopping = threading.Event()
        self._admit_lock = threading.Lock()
        self._result_lock = threading.Lock()
        self._instant_done: set[str] = set()
        self._admitting = 0
        self._instant: queue.Queue[str | None] = queue.Queue()

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> dict[str, list[str]]:
        """Recover jobs a previous server left, then start the runner threads."""
        resumed, interrupted = self.store.recover()
        for job_id in resumed:
            self._queue.put(job_id)
        for k in range(self.max_running):
            t = threading.Thread(target=self._loop, name=f"synthmatch-job-{k}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._instant_loop, name="synthmatch-instant", daemon=True)
        t.start()
        self._instant_thread = t
        return {"resumed": resumed, "interrupted": interrupted}

    def stop(self) -> None:
        self._stopping.set()
        for ev in self._cancel.values():
            ev.set()
        for _ in self._threads:
            self._queue.put(None)
        self._instant.put(None)
        for t in [*self._threads, getattr(self, "_instant_thread", None)]:
            if t is not None:
                t.join(timeout=30)
        if self._matcher is not None:
            self._matcher.close()

    @property
    def matcher(self) -> Any:
        with self._matcher_lock:
            if self._matcher is None:
                from synthmatch.search.match import Matcher

                self._matcher = Matcher(workers=self.workers) if self.workers else Matcher()
            return self._matcher

    # -- requests ------------------------------------------------------------------------
    def submit(self, job_id: str) -> None:
        """Queue a stored job (state ``queued``); its instant answer is worked out meanwhile."""
        self._instant.put(job_id)
        self._queue.put(job_id)

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """A place in the queue for one upload while it is checked and stored: raises 429 when
        the queue (waiting jobs plus uploads being admitted) is full, atomically."""
        with self._admit_lock:
            waiting = self.store.count("queued") + self._admitting
            if waiting >= self.max_queued:
                raise ServiceError(
                    429,
                    "queue_full",
                    f"the server is busy: {waiting} matches are waiting (at most {self.max_queued}). "
                    "Hint: try again in a minute.",
                    headers={"Retry-After": "30"},
                )
            self._admitting += 1
        try:
            yield
        finally:
            with self._admit_lock:
                self._admitting -= 1

    def cancel(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job.final:
            return
        ev = self._cancel.get(job_id)
        if ev is not None:
            ev.set()
        if job.state == "queued":
            self.store.update(job_id, state="cancelled", message="cancelled before it started")

    # -- work ----------------------------------------------------------------------------
    def _instant_loop(self) -> None:
        """The sources' answers with no render, for jobs still waiting: a first result within
        seconds of the upload, whatever the queue holds."""
        while not self._stopping.is_set():
            job_id = self._instant.get()
            if job_id is None:
                return
            try:
                job = self.store.get(job_id)
                if job.state == "queued" and job.result is None:
                    self._instant_answer(job_id)
            except Exception:  # a bonus: the search reports real errors
                log.warning("instant answer of %s failed: %s", job_id, traceback.format_exc())

    def _instant_answer(self, job_id: str) -> None:
        with self._result_lock:  # one instant answer per job, by whichever thread comes first
            if job_id in self._instant_done:
                return
            self._instant_done.add(job_id)
        job = self.store.get(job_id)
        try:
            quick = self.matcher.match(
                str(self.store.folder(job_id) / job.target), budget=0, **_settings(job)
            )
        except Exception:
            return
        with self._result_lock:  # never over a search's result
            if quick.candidates and self.store.get(job_id).result is None:
                quick.best.preset.write(self.store.folder(job_id) / "preset.vital")
                self.store.update(job_id, result=result_summary(quick, provisional=True))

    def _loop(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                job = self.store.get(job_id)
            except KeyError:
                continue
            if job.state != "queued":
                continue
            try:
                self._run(job_id)
            except Exception as exc:  # a job's failure never stops the runner
                log.error("job %s failed: %s", job_id, traceback.format_exc())
                self.store.update(job_id, state="failed", error=_failure_message(exc), message="failed")

    def _run(self, job_id: str) -> None:
        from synthmatch.search.report import write_outputs

        job = self.store.get(job_id)
        cancel = self._cancel.setdefault(job_id, threading.Event())
        folder = self.store.folder(job_id)
        target = folder / job.target
        budget = int(job.options.get("budget", 64))
        settings = _settings(job)
        self.store.update(
            job_id,
            state="running",
            attempts=job.attempts + 1,
            done=0,
            total=budget,
            message="analysing the sound",
        )
        m = self.matcher
        if self.store.get(job_id).result is None:
            self._instant_answer(job_id)
        last = [0.0]

        def progress(done: int, total: int, best: float = math.inf) -> None:
            if cancel.is_set():
                raise _Cancelled
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S or done >= total:
                last[0] = now
                fields: dict[str, Any] = {"done": int(done), "total": int(total), "message": "searching"}
                if math.isfinite(best):
                    fields["message"] = f"searching: best so far {best:.2f} dB"
                self.store.update(job_id, **fields)

        result = m.match(str(target), budget=budget, progress=progress, **settings)
        with self._result_lock:
            self.store.update(
                job_id,
                message="writing the preset and the tutorial",
                done=result.renders,
                total=max(budget, result.renders),
                result={**result_summary(result), "provisional": True},
            )
        write_outputs(result, folder, tutorial=self.tutorial, pool=m.pool)
        summary = result_summary(result)
        warnings = list(dict.fromkeys([*job.warnings, *(result.analysis.get("warnings") or [])]))
        if cancel.is_set() or self._stopping.is_set():
            state, message = "cancelled", "cancelled: the best result so far is kept"
        else:
            state, message = "done", f"done: {result.renders} renders in {summary['seconds']:.1f} s"
        self.store.update(job_id, state=state, result=summary, warnings=warnings, message=message)
        self._cancel.pop(job_id, None)
        self._instant_done.discard(job_id)


def _settings(job: Job) -> dict[str, Any]:
    """The match settings of a job's options (besides its budget)."""
    note = job.options.get("note", "auto")
    return {
        "note": None if note == "auto" else int(note),
        "candidates": int(job.options.get("candidates", 3)),
    }


def _failure_message(exc: Exception) -> str:
    from synthmatch.errors import SynthmatchError

    if isinstance(exc, SynthmatchError):
        return str(exc)
    return f"the match failed unexpectedly ({type(exc).__name__}: {exc}). Hint: try another file; if it persists, report it."


def job_files(folder: pathlib.Path) -> dict[str, bool]:
    """Which of a job's downloadable files exist."""
    names = ("preset.vital", "match.wav", "target.wav", "tutorial.md", "tutorial.html", "report.html")
    return {n: (folder / n).is_file() for n in names}
