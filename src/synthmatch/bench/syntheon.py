"""The ``syntheon`` bench method: syntheon's Vital inferencer (gudgud96/syntheon, Apache-2.0), the
one open tool that turns a sound into a Vital preset, run as an outside baseline.

syntheon pins packages older than synthmatch's (torch 1.12, torchvision 0.13, librosa 0.9), so it
lives in its own virtual environment, installed on first use by :func:`ensure_syntheon_env` from
the package registry with the versions of :data:`PACKAGES` and :data:`NO_DEPS_PACKAGES`, never in
synthmatch's environment. Each item is written to a WAV file and handed to syntheon in a subprocess of that
environment (:func:`run_syntheon`, running ``syntheon_runner.py``); its ``.vital`` is read by
:meth:`Preset.from_file` and scored like every other method's preset, rendered by Vital at the
item's detected probe. A crash, a time-out or an unreadable preset is a failed attempt (no preset),
logged with its reason. ``docs/SYNTHEON.md`` says what the environment changes relative to upstream.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.bench.methods import MethodContext, MethodFn, _timed, register_method
from synthmatch.bench.suites import Item
from synthmatch.bench.syntheon_runner import CHECK_PREFIX
from synthmatch.errors import SynthmatchError
from synthmatch.render.probe import Probe
from synthmatch.vital.preset import Preset

log = logging.getLogger(__name__)

#: The environment variable naming the syntheon virtual environment's folder.
VENV_ENV = "SYNTHMATCH_SYNTHEON_VENV"
#: The folder used when :data:`VENV_ENV` is not set.
DEFAULT_VENV = pathlib.Path("~/.cache/synthmatch/syntheon-venv")
#: Installed with their dependencies, the versions the adapter is checked with. syntheon's pins of
#: torch 1.12.1, torchvision 0.13.1 and torchaudio 0.12.1 have no wheels for Python 3.11. torch is
#: pinned exactly: that version's CPU wheel is the one the project's machines hold, and any other
#: pulls the CUDA packages. librosa is syntheon's own pin.
PACKAGES = (
    "torch==2.13.0",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "librosa==0.9.1",
    "setuptools==80.10.2",  # librosa 0.9.1 imports pkg_resources, which setuptools 81 dropped
    "resampy==0.4.3",  # librosa 0.9.1's resampler
    "soundfile==0.14.0",
    "PyYAML==6.0.4",
    "onnxruntime==1.32.0",  # torchcrepeV2 runs CREPE's ONNX model, shipped in its wheel
    "hmmlearn==0.3.3",  # torchcrepeV2's Viterbi decoding
)
#: Installed without their declared dependencies, whose pins are the ones replaced above.
#: syntheon 0.1.0 ships its Vital checkpoint (``inferencer/vital/checkpoints/model.pt``).
NO_DEPS_PACKAGES = ("syntheon==0.1.0", "torchcrepeV2==0.2.0", "nnAudio==0.3.1")
#: The file in the environment recording what was installed there and the versions it runs on.
MARKER = "synthmatch-syntheon.json"
#: The script run by the environment's Python (stdlib-only at import, no synthmatch), in isolated
#: mode (``-I``): without it, the script's folder would come first on ``sys.path``, and
#: ``import syntheon`` would find this module instead of the package.
RUNNER = pathlib.Path(__file__).resolve().with_name("syntheon_runner.py")
#: Seconds one item may take. syntheon takes about 17 s on two idle CPU cores and up to 52 s on busy
#: ones (CREPE "full" on 4 s of audio at 10 ms steps, most of it); the limit only catches a hang.
DEFAULT_TIMEOUT_S = 600.0
#: Seconds one pip step of the install may take.
INSTALL_TIMEOUT_S = 1800.0

Run = Callable[..., subprocess.CompletedProcess]


class SyntheonEnvError(SynthmatchError):
    """The syntheon environment is missing or cannot be installed."""


def syntheon_venv(venv: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """The syntheon environment's folder: ``venv``, else ``$SYNTHMATCH_SYNTHEON_VENV``, else
    ``~/.cache/synthmatch/syntheon-venv``."""
    chosen = venv or os.environ.get(VENV_ENV) or DEFAULT_VENV
    return pathlib.Path(chosen).expanduser()


def venv_python(venv: pathlib.Path) -> pathlib.Path:
    """The environment's Python."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirements() -> list[str]:
    """What the environment holds, as the marker records it."""
    return [*PACKAGES, *(f"{p} (no deps)" for p in NO_DEPS_PACKAGES)]


def read_marker(venv: pathlib.Path) -> dict[str, Any] | None:
    """The environment's marker when it records the current :func:`requirements`, else None."""
    try:
        marker = json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("requirements") != requirements():
        return None
    return marker if venv_python(venv).exists() else None


def subprocess_env() -> dict[str, str]:
    """The environment of syntheon's processes: this one without what would make its Python read
    synthmatch's packages or the user's site-packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@contextlib.contextmanager
def _locked(venv: pathlib.Path) -> Iterator[None]:
    """Holds a lock beside ``venv`` so that two processes do not install it at once."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(venv.parent / f".{venv.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def install_commands(venv: pathlib.Path, *, python: str) -> list[list[str]]:
    """The commands installing the environment at ``venv`` with the interpreter ``python``."""
    vpy = str(venv_python(venv))
    pip = [vpy, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    return [
        [python, "-m", "venv", str(venv)],
        [*pip, *PACKAGES],
        [*pip, "--no-deps", *NO_DEPS_PACKAGES],
    ]


def check_command(venv: pathlib.Path) -> list[str]:
    """The command importing syntheon in the environment and printing the versions it runs on."""
    return [str(venv_python(venv)), "-I", str(RUNNER), "--check"]


def _fix(venv: pathlib.Path) -> str:
    return (
        f"Hint: the environment is installed from the package registry into {venv} on first use "
        "(about 2 GB); check the network and the disk, or point "
        f"{VENV_ENV} at another folder, then run again. By hand: "
        "python -c 'from synthmatch.bench.syntheon import ensure_syntheon_env; ensure_syntheon_env()'."
    )


def _step(cmd: list[str], *, what: str, venv: pathlib.Path, run: Run, timeout_s: float) -> str:
    """Runs one install step; its stdout, or a :class:`SyntheonEnvError` naming the step."""
    try:
        done = run(cmd, capture_output=True, text=True, timeout=timeout_s, env=subprocess_env())
    except subprocess.TimeoutExpired:
        raise SyntheonEnvError(f"{what} did not finish in {timeout_s:.0f} s. {_fix(venv)}") from None
    except OSError as exc:
        raise SyntheonEnvError(f"{what} could not start ({exc}). {_fix(venv)}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout or "").strip().splitlines()[-8:])
        raise SyntheonEnvError(f"{what} failed (exit {done.returncode}):\n{tail}\n{_fix(venv)}")
    return str(done.stdout or "")


def ensure_syntheon_env(
    *,
    venv: str | os.PathLike[str] | None = None,
    install: bool = True,
    python: str | None = None,
    run: Run = subprocess.run,
    timeout_s: float = INSTALL_TIMEOUT_S,
) -> pathlib.Path:
    """The syntheon environment's folder, installed there first if it is not (idempotent).

    Parameters
    ----------
    venv : path, optional
        The folder (default: :func:`syntheon_venv`).
    install : bool
        Install when missing; False raises instead.
    python : str, optional
        The interpreter the environment is made from (default: this one; torch 2.13.0's wheel
        needs Python 3.11).
    run : callable
        ``subprocess.run`` or a stand-in (tests).
    timeout_s : float
        Seconds each install step may take.

    Raises
    ------
    SyntheonEnvError
        The environment is missing and ``install`` is False, the folder is not one to install
        into, or a step of the install failed (the message names it and the fix).
    """
    folder = syntheon_venv(venv)
    if read_marker(folder) is not None:
        return folder
    if not install:
        raise SyntheonEnvError(f"the syntheon environment at {folder} is missing or outdated. {_fix(folder)}")
    with _locked(folder):
        if read_marker(folder) is not None:  # another process installed it meanwhile
            return folder
        if folder.exists() and any(folder.iterdir()) and not (folder / "pyvenv.cfg").exists():
            raise SyntheonEnvError(
                f"{folder} exists and is not a virtual environment; syntheon will not install into it. "
                f"Hint: set {VENV_ENV} to an empty or new folder."
            )
        log.warning("installing syntheon's environment into %s (once; a few minutes)", folder)
        steps = install_commands(folder, python=python or sys.executable)
        names = (
            "creating the virtual environment",
            "installing syntheon's dependencies",
            "installing syntheon",
        )
        for cmd, what in zip(steps, names):
            _step(cmd, what=what, venv=folder, run=run, timeout_s=timeout_s)
        out = _step(
            check_command(folder), what="importing syntheon", venv=folder, run=run, timeout_s=timeout_s
        )
        lines = [ln for ln in out.splitlines() if ln.startswith(CHECK_PREFIX)]
        if not lines:
            raise SyntheonEnvError(f"importing syntheon printed no check line. {_fix(folder)}")
        versions = json.loads(lines[-1][len(CHECK_PREFIX) :])
        marker = {"requirements": requirements(), "versions": versions}
        (folder / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
    return folder


@dataclass(frozen=True)
class SyntheonRun:
    """What one syntheon run gave: the ``.vital`` it wrote, or why there is none."""

    vital: pathlib.Path | None
    failure: str | None
    seconds: float


def syntheon_command(*, python: pathlib.Path, wav: pathlib.Path, out: pathlib.Path) -> list[str]:
    """The command writing syntheon's preset for ``wav`` to ``out``."""
    return [str(python), "-I", str(RUNNER), str(wav), str(out)]


def _reason(text: str) -> str:
    """The last line of a failed run's output (a traceback's exception), shortened."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


def run_syntheon(
    *,
    audio: np.ndarray,
    sample_rate: int,
    workdir: pathlib.Path,
    venv: pathlib.Path,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    run: Run = subprocess.run,
) -> SyntheonRun:
    """Runs syntheon on ``audio`` in the environment at ``venv``; never raises for its failures.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        The target, mono, full scale 1.0. It is written as a float WAV at ``sample_rate``;
        syntheon resamples it to its 16 kHz and keeps the first 4 s (shorter clips are padded).
    sample_rate : int
        In Hz.
    workdir : pathlib.Path
        An existing folder for the WAV file and the preset.
    venv : pathlib.Path
        The syntheon environment (:func:`ensure_syntheon_env`).
    timeout_s : float
        Seconds the run may take; a run past it is killed and counted failed.
    run : callable
        ``subprocess.run`` or a stand-in (tests).

    Returns
    -------
    SyntheonRun
        The ``.vital`` path (in ``workdir``), or None and the reason: the environment is missing,
        the process could not start, timed out or failed (its last line of output), or wrote nothing.
    """
    from synthmatch.audio.io import save_wav

    t0 = time.monotonic()

    def failed(reason: str) -> SyntheonRun:
        return SyntheonRun(None, reason, time.monotonic() - t0)

    python = venv_python(venv)
    if not python.exists():
        return failed(f"no syntheon environment at {venv} ({python} is missing)")
    wav = save_wav(
        workdir / "target.wav", np.asarray(audio, dtype=np.float32), int(sample_rate), subtype="FLOAT"
    )
    out = workdir / "syntheon.vital"
    cmd = syntheon_command(python=python, wav=wav, out=out)
    try:
        done = run(cmd, capture_output=True, text=True, timeout=timeout_s, env=subprocess_env(), cwd=workdir)
    except subprocess.TimeoutExpired:
        return failed(f"timed out after {timeout_s:g} s")
    except OSError as exc:
        return failed(f"could not start {python}: {exc}")
    if done.returncode != 0:
        return failed(f"exit {done.returncode}: {_reason(done.stderr or done.stdout)}")
    if not out.is_file():
        return failed(f"exit 0 but no preset written at {out}")
    return SyntheonRun(out, None, time.monotonic() - t0)


Runner = Callable[..., SyntheonRun]


def syntheon_method(
    *, venv: pathlib.Path, timeout_s: float = DEFAULT_TIMEOUT_S, runner: Runner = run_syntheon
) -> MethodFn:
    """The bench method: syntheon's preset for the item, at the item's detected probe.

    A failed run or a preset the codec refuses gives an attempt with no preset (scored as a
    failure), and the reason is logged as a warning."""

    def pick(item: Item, probe: Probe, an: Any) -> tuple[Preset | None, int]:
        with tempfile.TemporaryDirectory(prefix="synthmatch-syntheon-") as tmp:
            res = runner(
                audio=item.audio,
                sample_rate=item.sample_rate,
                workdir=pathlib.Path(tmp),
                venv=venv,
                timeout_s=timeout_s,
            )
            if res.vital is None:
                log.warning("syntheon failed on %s: %s", item.name, res.failure)
                return None, 0
            try:
                preset = Preset.from_file(res.vital)
            except SynthmatchError as exc:
                log.warning("syntheon's preset for %s is unreadable: %s", item.name, exc)
                return None, 0
        if preset.issues:
            log.info("syntheon's preset for %s: %s", item.name, "; ".join(preset.issues))
        return preset, 0

    return _timed(pick)


@register_method(
    "syntheon",
    description=f"syntheon 0.1.0's Vital inferencer, in its own venv at ${VENV_ENV}, installed on first use",
    # logged attempts are reused only from an environment of the same versions
    settings=lambda: {"syntheon": requirements()},
)
def _syntheon(context: MethodContext) -> MethodFn:
    return syntheon_method(venv=ensure_syntheon_env())
