"""The deterministic render recipe, with crash isolation.

Recipe ("snapshot fork"): a worker process builds one fresh ``vita.Synth`` (the *zygote*) and
never renders with it. Every render forks a child from the zygote; the child loads the preset,
runs a short warm-up render so parameter smoothing settles, renders the probe, sends the audio
back through a pipe and exits. Because every child starts from the same engine state:

* identical preset + probe ⇒ bit-identical audio, whatever was rendered before — including
  presets with random LFOs, random phase and reverb, whose state otherwise leaks between renders
  (VITA_NOTES §2);
* a segfault, an abort or a hang costs that one item: the child dies or is killed, the worker
  reports the reason and goes on.

Across processes the zygote is identical as long as it is the first engine object built in a
fresh (spawned) process, which :mod:`synthmatch.render.pool` guarantees. Where ``os.fork`` is
missing the recipe falls back to a fresh Synth per render in-process (no crash isolation).
"""

from __future__ import annotations

import faulthandler
import json
import os
import select
import signal
import struct
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from synthmatch.errors import EngineUnavailableError
from synthmatch.render.probe import WARMUP_NOTE_S, WARMUP_RENDER_S, Probe

Status = Literal["ok", "crash", "timeout", "load_failed", "error"]

_ZYGOTES: dict[int, Any] = {}
_ZYGOTE_LOCK = threading.Lock()
_HEADER = struct.Struct("<BQ")  # status byte, payload length
_OK, _ERR, _LOAD_FAILED = 0, 1, 2


def _vita() -> Any:
    try:
        import vita
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EngineUnavailableError(
            f"the Vital engine bindings (`vita`) cannot be imported: {exc}. Hint: pip install vita"
        ) from exc
    return vita


def engine_version() -> str:
    return str(_vita().__version__)


@dataclass
class RenderOutcome:
    """The result of rendering one item.

    ``audio`` is float32 [shape=(2, n_samples)] when ``status == "ok"``, else None and ``reason``
    says what happened.
    """

    status: Status
    audio: np.ndarray | None = None
    reason: str = ""
    seconds: float = 0.0
    #: What the pool's :class:`~synthmatch.render.pool.Measure` returned for this render, computed
    #: in the worker that rendered it (None without a measure, or when the render is not usable).
    measured: Any = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def mono(self) -> np.ndarray:
        """The mono mean of the two channels [shape=(n_samples,)] (how the benchmark scores)."""
        if self.audio is None:
            raise ValueError(f"no audio: render {self.status} ({self.reason})")
        return self.audio.mean(axis=0)


def zygote(sample_rate: int) -> Any:
    """This process's pristine engine for ``sample_rate`` (built on first use, never rendered)."""
    with _ZYGOTE_LOCK:  # one zygote per process and rate, even with a thread executor
        synth = _ZYGOTES.get(sample_rate)
        if synth is None:
            synth = _vita().Synth()
            synth.set_sample_rate(sample_rate)
            _ZYGOTES[sample_rate] = synth
        return synth


def _render_on(synth: Any, preset_json: str, probe: Probe) -> np.ndarray:
    if not synth.load_json(preset_json):
        raise _LoadFailed("the engine refused the preset JSON (load_json returned False)")
    synth.render(probe.note, probe.velocity, WARMUP_NOTE_S, WARMUP_RENDER_S)
    audio = synth.render(probe.note, probe.velocity, probe.note_seconds, probe.render_seconds)
    return np.ascontiguousarray(audio, dtype=np.float32)


class _LoadFailed(Exception):
    pass


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _child(write_fd: int, preset_json: str, probe: Probe) -> None:  # pragma: no cover - runs in fork
    faulthandler.disable()  # an engine crash is expected and reported by the parent
    code = 0
    try:
        audio = _render_on(zygote(probe.sample_rate), preset_json, probe)
        payload = audio.tobytes()
        _write_all(write_fd, _HEADER.pack(_OK, len(payload)))
        _write_all(write_fd, payload)
    except _LoadFailed as exc:
        msg = str(exc).encode()
        _write_all(write_fd, _HEADER.pack(_LOAD_FAILED, len(msg)) + msg)
    except BaseException:
        msg = traceback.format_exc(limit=3).encode()
        try:
            _write_all(write_fd, _HEADER.pack(_ERR, len(msg)) + msg)
        except OSError:
            code = 1
    finally:
        os._exit(code)


def _read_pipe(fd: int, deadline: float, n: int | None = None) -> bytes | None:
    """Read ``n`` bytes (or, with ``n=None``, everything until EOF) from ``fd``.

    None if the deadline passes first, or if EOF comes before ``n`` bytes.
    """
    buf = bytearray()
    while n is None or len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, (1 << 20) if n is None else min(n - len(buf), 1 << 20))
        if not chunk:
            return bytes(buf) if n is None else None
        buf += chunk
    return bytes(buf)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def render_isolated(preset_json: str, probe: Probe, *, timeout_s: float = 60.0) -> RenderOutcome:
    """Render one preset with the snapshot-fork recipe (see the module docstring)."""
    t0 = time.monotonic()
    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        return render_in_process(preset_json, probe)
    zygote(probe.sample_rate)  # build before forking so every child shares it
    read_fd, write_fd = os.pipe()
    # Never fork while another thread is inside the engine (it may hold allocator locks the child
    # would inherit locked): zygote construction and forks share one lock.
    with _ZYGOTE_LOCK:
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        _child(write_fd, preset_json, probe)
    os.close(write_fd)
    try:
        data = _read_pipe(read_fd, t0 + timeout_s)
    finally:
        os.close(read_fd)
    if data is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return RenderOutcome(
            "timeout",
            reason=f"render took longer than {timeout_s:g} s; killed",
            seconds=time.monotonic() - t0,
        )
    _, status = os.waitpid(pid, 0)
    elapsed = time.monotonic() - t0
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return RenderOutcome("crash", reason=f"engine crashed ({_signal_name(sig)})", seconds=elapsed)
    if len(data) < _HEADER.size:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        return RenderOutcome(
            "crash", reason=f"engine process exited with code {code} and no result", seconds=elapsed
        )
    kind, length = _HEADER.unpack_from(data)
    payload = data[_HEADER.size : _HEADER.size + length]
    if kind == _OK:
        audio = np.frombuffer(payload, dtype=np.float32).reshape(2, -1).copy()
        return RenderOutcome("ok", audio=audio, seconds=elapsed)
    if kind == _LOAD_FAILED:
        return RenderOutcome("load_failed", reason=payload.decode(errors="replace"), seconds=elapsed)
    return RenderOutcome("error", reason=payload.decode(errors="replace"), seconds=elapsed)


def render_in_process(preset_json: str, probe: Probe) -> RenderOutcome:
    """Fallback recipe without fork: a fresh Synth per render (deterministic without random sources)."""
    t0 = time.monotonic()
    synth = _vita().Synth()
    synth.set_sample_rate(probe.sample_rate)
    try:
        audio = _render_on(synth, preset_json, probe)
    except _LoadFailed as exc:
        return RenderOutcome("load_failed", reason=str(exc), seconds=time.monotonic() - t0)
    return RenderOutcome("ok", audio=audio, seconds=time.monotonic() - t0)


def render_task(preset_json: str, probe: dict[str, Any], timeout_s: float = 60.0) -> RenderOutcome:
    """The unit of work executors run (process pool, Ray): picklable arguments in, outcome out."""
    return render_isolated(preset_json, Probe.from_dict(probe), timeout_s=timeout_s)


def preset_json_of(preset: Any) -> str:
    """Accept a :class:`~synthmatch.vital.preset.Preset`, a dict or JSON text; return JSON text."""
    if isinstance(preset, str):
        return preset
    if isinstance(preset, dict):
        return json.dumps(preset)
    if hasattr(preset, "to_json"):
        return str(preset.to_json())
    raise TypeError(f"cannot render a {type(preset).__name__}; pass a Preset, a dict or JSON text")


def audio_problem(audio: np.ndarray, *, silence_db: float = -80.0, clip_level: float = 0.999) -> str | None:
    """Why a render is unusable ('non-finite', 'silent', 'clipped'), or None when it is fine."""
    if not np.all(np.isfinite(audio)):
        return "non-finite"
    from synthmatch.dsp import db_to_amp

    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= db_to_amp(silence_db):
        return "silent"
    if np.mean(np.abs(audio) >= clip_level) > 1e-3:
        return "clipped"
    return None
