"""Fast renders of many variants of one preset (for search), still deterministic and isolated.

Loading a preset costs 10–1400 ms (wavetable re-rendering), often more than the render. A search
evaluates hundreds of variants that differ only in control values, so each worker keeps a *base
child*: a fork of its zygote that has loaded the base preset once. Every variant is rendered in
a grandchild forked from the base child, which sets the changed controls with ``set()``, runs the
warm-up and renders. Each grandchild starts from the same state, so a (base, changes, probe)
triple always gives the same audio, and a crash or hang costs one variant.

Only controls can change this way (values, modulation amounts); wavetables, LFO shapes and
connections need a new base preset. The audio matches a full load of the changed preset to within
parameter-smoothing residue (the warm-up settles it); final results are re-rendered canonically.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.render import engine
from synthmatch.render.engine import RenderOutcome, _read_pipe, _signal_name, _write_all, zygote
from synthmatch.render.probe import WARMUP_NOTE_S, WARMUP_RENDER_S, Probe

_LEN = struct.Struct("<Q")
_MAX_BASES = 4


@dataclass
class _Base:
    pid: int
    req_w: int
    resp_r: int


_BASES: OrderedDict[str, _Base] = OrderedDict()


def _read_exact(fd: int, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _base_loop(req_r: int, resp_w: int, base_json: str, sample_rate: int) -> None:  # pragma: no cover - fork
    import faulthandler

    faulthandler.disable()
    os.setpgid(0, 0)
    synth = zygote(sample_rate)
    loaded = synth.load_json(base_json)
    controls = synth.get_controls() if loaded else {}
    while True:
        try:
            (n,) = _LEN.unpack(_read_exact(req_r, _LEN.size))
            changes, probe_d = pickle.loads(_read_exact(req_r, n))
        except EOFError:
            os._exit(0)
        if not loaded:
            msg = b"the engine refused the base preset JSON (load_json returned False)"
            _write_all(resp_w, engine._HEADER.pack(engine._LOAD_FAILED, len(msg)) + msg)
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for name, value in changes.items():
                    controls[name].set(float(value))
                p = Probe.from_dict(probe_d)
                synth.render(p.note, p.velocity, WARMUP_NOTE_S, WARMUP_RENDER_S)
                audio = np.ascontiguousarray(
                    synth.render(p.note, p.velocity, p.note_seconds, p.render_seconds), dtype=np.float32
                )
                payload = audio.tobytes()
                _write_all(resp_w, engine._HEADER.pack(engine._OK, len(payload)))
                _write_all(resp_w, payload)
            except BaseException as exc:
                msg = repr(exc).encode()
                _write_all(resp_w, engine._HEADER.pack(engine._ERR, len(msg)) + msg)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            msg = f"engine crashed ({_signal_name(os.WTERMSIG(status))})".encode()
            _write_all(resp_w, engine._HEADER.pack(engine._ERR + 10, len(msg)) + msg)


def _start_base(base_json: str, sample_rate: int) -> _Base:
    zygote(sample_rate)
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    with engine._ZYGOTE_LOCK:
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(req_w)
        os.close(resp_r)
        _base_loop(req_r, resp_w, base_json, sample_rate)
    os.close(req_r)
    os.close(resp_w)
    return _Base(pid, req_w, resp_r)


def _stop_base(base: _Base) -> None:
    for fd in (base.req_w, base.resp_r):
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        os.killpg(base.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        os.waitpid(base.pid, 0)
    except ChildProcessError:
        pass


def _base_for(base_json: str, sample_rate: int) -> tuple[str, _Base]:
    key = hashlib.sha1(f"{sample_rate}:{base_json}".encode()).hexdigest()
    base = _BASES.get(key)
    if base is None:
        while len(_BASES) >= _MAX_BASES:
            _stop_base(_BASES.popitem(last=False)[1])
        base = _BASES[key] = _start_base(base_json, sample_rate)
    _BASES.move_to_end(key)
    return key, base


def _read_frame(fd: int, deadline: float) -> tuple[int, bytes] | None:
    head = _read_pipe(fd, deadline, engine._HEADER.size)
    if head is None:
        return None
    kind, length = engine._HEADER.unpack(head)
    payload = _read_pipe(fd, deadline, length) if length else b""
    if payload is None:
        return None
    return kind, payload


def render_variant(
    base_json: str, changes: dict[str, float], probe: Probe, *, timeout_s: float = 60.0
) -> RenderOutcome:
    """Render ``base_json`` with control ``changes`` applied (see the module docstring)."""
    t0 = time.monotonic()
    key, base = _base_for(base_json, probe.sample_rate)
    blob = pickle.dumps((dict(changes), probe.to_dict()))
    try:
        _write_all(base.req_w, _LEN.pack(len(blob)) + blob)
        frame = _read_frame(base.resp_r, t0 + timeout_s)
    except OSError as exc:
        frame = None
        reason = f"base engine process failed: {exc!r}"
    else:
        reason = f"render took longer than {timeout_s:g} s; killed"
    if frame is None:
        _stop_base(_BASES.pop(key))
        status = "timeout" if "longer" in reason else "crash"
        return RenderOutcome(status, reason=reason, seconds=time.monotonic() - t0)  # type: ignore[arg-type]
    kind, payload = frame
    elapsed = time.monotonic() - t0
    if kind == engine._OK:
        return RenderOutcome(
            "ok", audio=np.frombuffer(payload, np.float32).reshape(2, -1).copy(), seconds=elapsed
        )
    if kind == engine._LOAD_FAILED:
        return RenderOutcome("load_failed", reason=payload.decode(errors="replace"), seconds=elapsed)
    status = "crash" if kind == engine._ERR + 10 else "error"
    return RenderOutcome(status, reason=payload.decode(errors="replace"), seconds=elapsed)  # type: ignore[arg-type]


def variant_task(
    base_json: str, changes: dict[str, float], probe: dict[str, Any], timeout_s: float = 60.0
) -> RenderOutcome:
    """Picklable unit of work for executors."""
    return render_variant(base_json, changes, Probe.from_dict(probe), timeout_s=timeout_s)
