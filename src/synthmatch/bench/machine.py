"""The machine a benchmark ran on, recorded with every report, and how fast its engine renders.

Speeds measured at different times can come from different processors of the same "2-core" kind
(timings of unchanged code differ by 1.5x from one such machine to another), so every report
names the CPU model: a ratio across reports is only meaningful on the same one. The same CPU is
not always as fast either (a shared virtual machine ran the same 20 matches at a median of 29 s
and, ten minutes later, 39 s), so a benchmark run also times a fixed reference workload, a plain
loop of `vita` renders (:func:`plain_loop_seconds`), before and after its suites
(:func:`engine_speed`).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import pathlib
import platform
import subprocess
import time
from typing import Any

from synthmatch.render.probe import DEFAULT_PROBE, Probe

#: The engine-speed reference: this many bundled-library presets (evenly spaced), each loaded and
#: rendered once at the benchmark probe on one engine in one fresh process
#: (:func:`plain_loop_seconds`).
ENGINE_SPEED_PRESETS = 8


def cpu_model(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> str:
    """The processor's model name ("Intel(R) Xeon(R) Processor", "AMD EPYC 7B13"), or "" when the
    system does not say. Reads ``cpuinfo`` on Linux and ``sysctl`` on macOS;
    :func:`platform.processor` is empty on Linux."""
    try:
        for line in pathlib.Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Processor", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor()


def machine_info() -> dict[str, Any]:
    """Platform, CPU model, logical CPUs and the cores this process may use."""
    from synthmatch.render.pool import usable_cores

    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "usable_cores": usable_cores(),
        "python": platform.python_version(),
    }


def describe(info: dict[str, Any]) -> str:
    """One line for a printed report: ``machine: MODEL, N cores usable of M, PLATFORM``."""
    model = info.get("cpu_model") or "unknown CPU"
    return (
        f"machine: {model}, {info.get('usable_cores')} cores usable of {info.get('cpus')}, "
        f"{info.get('platform')}"
    )


def _plain_loop(preset_jsons: list[str], probe: dict[str, Any]) -> float:
    """Runs in a fresh spawned process: load + render each preset on one Synth; returns seconds."""
    import vita

    synth = vita.Synth()
    synth.set_sample_rate(probe["sample_rate"])
    t0 = time.perf_counter()
    for js in preset_jsons:
        synth.load_json(js)
        synth.render(probe["note"], probe["velocity"], probe["note_seconds"], probe["render_seconds"])
    return time.perf_counter() - t0


def plain_loop_seconds(preset_jsons: list[str], probe: Probe) -> float:
    """Seconds to load and render each preset once at ``probe`` on one ``vita.Synth`` in a fresh
    process: what a user would write by hand, the reference of the engine's speed."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as p:
        return float(p.apply(_plain_loop, (preset_jsons, probe.to_dict())))


def engine_speed(n: int = ENGINE_SPEED_PRESETS) -> dict[str, Any]:
    """How fast this machine renders now: the plain-loop rate over ``n`` bundled-library presets
    (:data:`ENGINE_SPEED_PRESETS`), in renders/s, with the UTC time it was measured.

    A benchmark records it before and after its suites: a match's seconds read against the
    engine's own speed at the time tell a slower machine from slower code."""
    jsons = _reference_presets(n)
    seconds = plain_loop_seconds(list(jsons), DEFAULT_PROBE)
    return {
        "renders_per_s": round(len(jsons) / seconds, 3),
        "presets": len(jsons),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@functools.lru_cache(maxsize=2)
def _reference_presets(n: int) -> tuple[str, ...]:
    """The JSON of :func:`engine_speed`'s presets (the library is loaded once per process)."""
    from synthmatch.search.library import Library, default_library_path

    lib = Library.load(default_library_path())
    n = max(1, min(n, len(lib)))
    step = len(lib) // n
    return tuple(lib.preset(i * step).to_json() for i in range(n))
