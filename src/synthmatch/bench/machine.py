"""The machine a benchmark ran on, recorded with every report.

Speeds measured in different sessions can come from different processors of the same "2-core"
kind (this project's timings moved by 1.5x between sessions with the code unchanged), so every
report names the CPU model: a ratio across reports is only meaningful on the same one.
"""

from __future__ import annotations

import os
import pathlib
import platform
import subprocess
from typing import Any


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
