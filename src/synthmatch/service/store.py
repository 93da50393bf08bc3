"""Jobs of the service, kept in SQLite beside their files, so a restarted server loses none.

One row per job (``jobs`` table); a job's files live in ``DATA/jobs/<id>/`` under names the server
chooses (``target.<ext>``, ``preset.vital``, ...). Every write commits at once (WAL journal), so a
server killed at any moment leaves each job in the last state it reached; :meth:`JobStore.recover`
then resumes the jobs that were queued or running.
"""

from __future__ import annotations

import json
import pathlib
import secrets
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FINAL_STATES", "Job", "JobStore"]

#: States a job never leaves.
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    filename TEXT NOT NULL,
    target TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    options TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    warnings TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    result TEXT,
    client TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created);
"""


@dataclass
class Job:
    """One match job as stored (``result``: the latest best result, ``None`` before one exists)."""

    id: str
    kind: str
    state: str
    filename: str
    target: str
    created: float
    updated: float
    options: dict[str, Any]
    done: int = 0
    total: int = 0
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    result: dict[str, Any] | None = None
    client: str = ""
    attempts: int = 0

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobStore:
    """Thread-safe access to the jobs database at ``DATA/jobs.sqlite`` and the job folders."""

    def __init__(self, data_dir: str | pathlib.Path) -> None:
        self.root = pathlib.Path(data_dir)
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.root / "jobs.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._columns = [d[0] for d in self._db.execute("SELECT * FROM jobs LIMIT 0").description]
        self._changed = threading.Condition(self._lock)
        self.version = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- paths ---------------------------------------------------------------------------
    def folder(self, job_id: str) -> pathlib.Path:
        """The job's folder (``job_id`` comes from :meth:`new_id`, never from a client)."""
        if not job_id.startswith("m_") or not job_id[2:].isalnum():
            raise KeyError(job_id)
        return self.root / "jobs" / job_id

    @staticmethod
    def new_id() -> str:
        return "m_" + secrets.token_hex(6)

    # -- rows ----------------------------------------------------------------------------
    def add(self, job: Job) -> Job:
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, kind, state, filename, target, created, updated, options, done, total,"
                " message, warnings, error, result, client, attempts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job.id,
                    job.kind,
                    job.state,
                    job.filename,
                    job.target,
                    job.created,
                    job.updated,
                    json.dumps(job.options),
                    job.done,
                    job.total,
                    job.message,
                    json.dumps(job.warnings),
                    job.error,
                    None if job.result is None else json.dumps(job.result),
                    job.client,
                    job.attempts,
                ),
            )
            self._notify()
        return job

    def update(self, job_id: str, **fields: Any) -> Job:
        """Change some fields of a job (and its ``updated`` time); returns the job."""
        fields["updated"] = time.time()
        cols, vals = [], []
        for k, v in fields.items():
            if k in ("options", "warnings", "result"):
                v = None if v is None else json.dumps(v)
            cols.append(f"{k} = ?")
            vals.append(v)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {', '.join(cols)} WHERE id = ?", (*vals, job_id))
            self._notify()
            return self.get(job_id)

    def get(self, job_id: str) -> Job:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            return self._job(row)

    def list(self, *, limit: int = 50) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
            return [self._job(r) for r in rows]

    def in_states(self, *states: str) -> list[Job]:
        marks = ",".join("?" for _ in states)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created", states
            ).fetchall()
            return [self._job(r) for r in rows]

    def count(self, *states: str) -> int:
        marks = ",".join("?" for _ in states)
        with self._lock:
            (n,) = self._db.execute(f"SELECT COUNT(*) FROM jobs WHERE state IN ({marks})", states).fetchone()
            return int(n)

    def _job(self, row: tuple[Any, ...]) -> Job:
        d = dict(zip(self._columns, row))
        d["options"] = json.loads(d["options"])
        d["warnings"] = json.loads(d["warnings"])
        d["result"] = None if d["result"] is None else json.loads(d["result"])
        return Job(**d)

    # -- change notification -------------------------------------------------------------
    def _notify(self) -> None:
        self.version += 1
        self._changed.notify_all()

    def wait_change(self, version: int, timeout: float) -> int:
        """Block until the store changed after ``version`` (or ``timeout`` s); the new version."""
        with self._changed:
            if self.version == version:
                self._changed.wait(timeout)
            return self.version

    # -- restart -------------------------------------------------------------------------
    def recover(self, *, max_attempts: int = 2) -> tuple[list[str], list[str]]:
        """After a restart: jobs left queued or running are queued again (resumed from their
        stored upload), unless they already failed to finish ``max_attempts`` times, which end
        ``interrupted`` with their best result so far. Returns (resumed ids, interrupted ids)."""
        resumed, interrupted = [], []
        for job in self.in_states("queued", "running"):
            if job.attempts >= max_attempts:
                self.update(
                    job.id,
                    state="interrupted",
                    message=f"the server stopped {job.attempts} times while this job ran; its best result so far is kept",
                )
                interrupted.append(job.id)
            else:
                if job.state == "running":
                    note = "resumed after a server restart (the search started over)"
                    self.update(job.id, state="queued", done=0, message=note, warnings=[*job.warnings, note])
                else:
                    self.update(job.id, state="queued", done=0)
                resumed.append(job.id)
        return resumed, interrupted
