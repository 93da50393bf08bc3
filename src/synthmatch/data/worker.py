"""The unit of work of a dataset build: one item, from ``(job, index)`` to arrays ready to write.

:func:`item_task` runs in a worker (a :class:`~synthmatch.render.pool.RenderPool` process or a
Ray worker). For attempts 0, 1, … it draws the item's preset, renders it with
:func:`synthmatch.render.engine.render_task` (the deterministic, crash-isolated recipe), rejects
unusable audio with a counted reason, and for the first usable attempt computes everything the
shard stores: vectors, activity mask, log-mel features, render stats, the preset reference and,
optionally, FLAC bytes. The main process only writes.

Assets (wavetables, LFO shapes, samples) travel to the main process once per worker and build
session: each result carries the text of the assets this worker has not sent before.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthmatch.data.config import Config
from synthmatch.data.probes import ProbeSampler, make_probe_sampler
from synthmatch.data.refs import encode_flac, preset_ref
from synthmatch.data.samplers import Sampler, make_sampler
from synthmatch.data.stats import degenerate_reason, render_stats
from synthmatch.render.engine import audio_problem, render_task
from synthmatch.render.probe import Probe

#: Reasons a render attempt can be rejected (render statuses, then audio checks).
REJECTION_REASONS: tuple[str, ...] = (
    "crash",
    "timeout",
    "load_failed",
    "error",
    "non-finite",
    "silent",
    "clipped",
    "degenerate-quiet",
    "degenerate-dc",
)


@dataclass(frozen=True)
class Job(Config):
    """Everything a worker needs to produce any item of a build (JSON-able; sent with every task).

    ``features`` is a :class:`synthmatch.audio.features.LogMelConfig` as a dict (None: its
    defaults). ``session`` identifies one build run (asset de-duplication); it is not part of what
    makes two builds the same.
    """

    sampler: str = "lhs"
    sampler_config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    probe: dict[str, Any] = field(default_factory=lambda: Probe().to_dict())
    probe_sampler: str = "fixed"
    probe_config: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] | None = None
    feature_dtype: str = "float16"
    keep_audio: bool = False
    max_attempts: int = 8
    min_rms_db: float = -60.0
    timeout_s: float = 60.0
    session: str = ""

    def identity(self) -> dict[str, Any]:
        """What defines the items (everything but the run-specific fields)."""
        d = self.to_dict()
        for k in ("session", "timeout_s"):
            d.pop(k)
        return d


@dataclass
class ItemResult:
    """What a worker returns for one item. Arrays are None when every attempt was rejected."""

    index: int
    attempt: int
    rejections: list[str]
    probe: dict[str, Any] | None = None
    values: np.ndarray | None = None  # float64 [n_controls]
    x: np.ndarray | None = None  # float32 [n_numeric]
    c: np.ndarray | None = None  # int16 [n_categorical]
    active_x: np.ndarray | None = None  # bool [n_numeric]
    active_c: np.ndarray | None = None  # bool [n_categorical]
    mel: np.ndarray | None = None  # feature_dtype [n_mels, frames]
    stats: np.ndarray | None = None  # float32 [len(STAT_NAMES)]
    ref: dict[str, Any] | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    flac: bytes | None = None
    new_assets: dict[str, str] = field(default_factory=dict)
    render_s: float = 0.0
    task_s: float = 0.0
    cpu_render_s: float = 0.0  # CPU of the forked render children (engine load + warm-up + render)
    cpu_worker_s: float = 0.0  # CPU of the worker itself (sampling, features, stats, encoding)

    @property
    def ok(self) -> bool:
        return self.attempt >= 0


@dataclass
class _Context:
    sampler: Sampler
    probes: ProbeSampler
    mel_config: Any


_CONTEXTS: dict[str, _Context] = {}
_SENT: dict[str, set[str]] = {}


def feature_config(features: dict[str, Any] | None) -> Any:
    """The :class:`LogMelConfig` of a job (its defaults when ``features`` is None)."""
    from synthmatch.audio.features import LogMelConfig

    return LogMelConfig() if features is None else LogMelConfig.from_dict(features)


def compute_log_mel(mono: np.ndarray, cfg: Any, dtype: str) -> np.ndarray:
    """Log-mel features of a mono render [shape=(n_mels, frames)], stored as ``dtype``."""
    from synthmatch.audio.features import log_mel

    return np.asarray(log_mel(mono, cfg), dtype=np.float32).astype(dtype)


def _context(job: Job) -> _Context:
    key = json.dumps(job.identity(), sort_keys=True)
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = _Context(
            sampler=make_sampler(job.sampler, job.sampler_config),
            probes=make_probe_sampler(job.probe_sampler, Probe.from_dict(job.probe), job.probe_config),
            mel_config=feature_config(job.features),
        )
        _CONTEXTS.clear()  # one build at a time per worker
        _CONTEXTS[key] = ctx
    return ctx


def item_task(job: dict[str, Any] | Job, index: int) -> ItemResult:
    """Produce item ``index`` of ``job`` (see the module docstring). Picklable; runs in any worker."""
    t0 = time.monotonic()
    c0 = os.times()
    job = job if isinstance(job, Job) else Job.from_dict(job)
    ctx = _context(job)
    space = ctx.sampler.space
    probe = ctx.probes.probe(seed=job.seed, index=index)
    rejections: list[str] = []
    render_s = 0.0
    tried: set[str] = set()
    for attempt in range(job.max_attempts):
        draw = ctx.sampler.draw(seed=job.seed, index=index, attempt=attempt)
        preset_json = draw.preset.to_json(space=space)
        digest = hashlib.sha1(preset_json.encode()).hexdigest()
        if digest in tried:  # renders are deterministic: the same preset would fail the same way
            break
        tried.add(digest)
        outcome = render_task(preset_json, probe.to_dict(), job.timeout_s)
        render_s += outcome.seconds
        if not outcome.ok or outcome.audio is None:
            rejections.append(outcome.status)
            continue
        audio = outcome.audio
        problem = audio_problem(audio)
        if problem is not None:
            rejections.append(problem)
            continue
        stats = render_stats(audio, sample_rate=probe.sample_rate, note_seconds=probe.note_seconds)
        problem = degenerate_reason(audio, stats, min_rms_db=job.min_rms_db)
        if problem is not None:
            rejections.append(problem)
            continue
        mel = compute_log_mel(audio.mean(axis=0), ctx.mel_config, job.feature_dtype)
        x, c = draw.preset.to_vector(space=space)
        active = draw.preset.active(space=space)
        sent = _SENT.setdefault(job.session, set())
        new_assets = {a.key: a.text for a in draw.assets if a.key not in sent}
        sent.update(new_assets)
        flac = encode_flac(audio, probe.sample_rate) if job.keep_audio else None
        return ItemResult(
            index=index,
            attempt=attempt,
            rejections=rejections,
            probe=probe.to_dict(),
            values=np.array([draw.preset.values[n] for n in space.control_names()], dtype=np.float64),
            x=x.astype(np.float32),
            c=c.astype(np.int16),
            active_x=np.array([active[n] for n in space.layout.numeric], dtype=bool),
            active_c=np.array([active[n] for n in space.layout.categorical], dtype=bool),
            mel=mel,
            stats=stats,
            ref=preset_ref(draw),
            detail=draw.detail,
            flac=flac,
            new_assets=new_assets,
            render_s=render_s,
            task_s=time.monotonic() - t0,
            **_cpu_since(c0),
        )
    return ItemResult(
        index=index,
        attempt=-1,
        rejections=rejections,
        probe=probe.to_dict(),
        render_s=render_s,
        task_s=time.monotonic() - t0,
        **_cpu_since(c0),
    )


def _cpu_since(c0: os.times_result) -> dict[str, float]:
    """CPU seconds since ``c0``: reaped render children, and this worker process."""
    c1 = os.times()
    return {
        "cpu_render_s": (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system),
        "cpu_worker_s": (c1.user + c1.system) - (c0.user + c0.system),
    }


def forget_session(session: str) -> None:
    """Drop a session's sent-asset record (tests, long-lived workers)."""
    _SENT.pop(session, None)
