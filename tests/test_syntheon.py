"""The ``syntheon`` bench method: its environment, its runs and their failures, with stand-ins for
the subprocess (fast, no network), and one real run when the environment is installed (slow)."""

from __future__ import annotations

import json
import logging
import pathlib
import subprocess

import numpy as np
import pytest
import soundfile as sf

from synthmatch.bench import syntheon as sy
from synthmatch.bench.methods import METHODS, make_methods
from synthmatch.bench.suites import Item
from synthmatch.vital.preset import Preset

SR = 44_100


def _tone(seconds: float = 1.0, f0: float = 220.0) -> np.ndarray:
    """A decaying sawtooth-like tone, loud enough for the note analysis."""
    t = np.arange(int(SR * seconds)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    return (0.5 * x * np.exp(-2.0 * t) / np.max(np.abs(x))).astype(np.float32)


def _item(name: str = "tone") -> Item:
    return Item(name, _tone(), SR)


def _fake_venv(folder: pathlib.Path) -> pathlib.Path:
    """A folder that reads as an installed environment (a python file and a current marker)."""
    python = sy.venv_python(folder)
    python.parent.mkdir(parents=True)
    python.write_text("")
    (folder / "pyvenv.cfg").write_text("")
    (folder / sy.MARKER).write_text(json.dumps({"requirements": sy.requirements(), "versions": {}}))
    return folder


def _done(cmd: list[str], rc: int = 0, out: str = "", err: str = "") -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(cmd, rc, out, err)


# ---------------------------------------------------------------------------------------------
# the environment
# ---------------------------------------------------------------------------------------------
def test_venv_folder_argument_then_variable_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv(sy.VENV_ENV, raising=False)
    assert sy.syntheon_venv() == sy.DEFAULT_VENV.expanduser()
    monkeypatch.setenv(sy.VENV_ENV, str(tmp_path / "env"))
    assert sy.syntheon_venv() == tmp_path / "env"
    assert sy.syntheon_venv(tmp_path / "arg") == tmp_path / "arg"


def test_install_commands_pin_cpu_torch_and_skip_syntheons_pins(tmp_path):
    make, deps, nodeps = sy.install_commands(tmp_path / "env", python="/usr/bin/python3")
    assert make == ["/usr/bin/python3", "-m", "venv", str(tmp_path / "env")]
    assert deps[:3] == [str(sy.venv_python(tmp_path / "env")), "-m", "pip"]
    assert "torch==2.13.0" in deps and "--no-deps" not in deps
    assert "--no-deps" in nodeps and "syntheon==0.1.0" in nodeps and "torchcrepeV2==0.2.0" in nodeps
    assert not any(p.lower().startswith(("torchaudio", "torchvision")) for p in deps + nodeps)


def test_missing_environment_without_install_names_folder_and_fix(tmp_path):
    with pytest.raises(sy.SyntheonEnvError, match=sy.VENV_ENV) as exc:
        sy.ensure_syntheon_env(venv=tmp_path / "env", install=False)
    assert str(tmp_path / "env") in str(exc.value)


def test_installed_environment_is_reused_without_running_anything(tmp_path):
    venv = _fake_venv(tmp_path / "env")

    def run(*args, **kwargs):
        raise AssertionError("nothing may run for an installed environment")

    assert sy.ensure_syntheon_env(venv=venv, run=run) == venv


def test_install_runs_each_step_once_and_writes_the_marker(tmp_path):
    venv = tmp_path / "env"
    calls: list[list[str]] = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        assert "PYTHONPATH" not in kwargs["env"]
        if cmd[1:3] == ["-m", "venv"]:
            sy.venv_python(venv).parent.mkdir(parents=True)
            sy.venv_python(venv).write_text("")
            (venv / "pyvenv.cfg").write_text("")
        if cmd[-1] == "--check":
            return _done(cmd, out="STFT kernels created\n" + sy.CHECK_PREFIX + '{"syntheon": "0.1.0"}\n')
        return _done(cmd)

    assert sy.ensure_syntheon_env(venv=venv, python="py", run=run) == venv
    assert [c[-1] for c in calls] == [
        str(venv),
        *[c[-1] for c in sy.install_commands(venv, python="py")[1:]],
        "--check",
    ]
    marker = sy.read_marker(venv)
    assert marker is not None and marker["versions"] == {"syntheon": "0.1.0"}
    sy.ensure_syntheon_env(venv=venv, run=run)
    assert len(calls) == 4  # idempotent


def test_failed_install_step_names_the_step_and_the_fix(tmp_path):
    def run(cmd, **kwargs):
        if "pip" in cmd:
            return _done(cmd, rc=1, err="ERROR: No matching distribution found for torch==2.13.0")
        return _done(cmd)

    with pytest.raises(sy.SyntheonEnvError, match="installing syntheon's dependencies failed") as exc:
        sy.ensure_syntheon_env(venv=tmp_path / "env", python="py", run=run)
    assert "No matching distribution" in str(exc.value) and "Hint:" in str(exc.value)
    assert sy.read_marker(tmp_path / "env") is None


def test_install_refuses_a_folder_that_is_not_a_venv(tmp_path):
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "notes.txt").write_text("mine")
    with pytest.raises(sy.SyntheonEnvError, match="not a virtual environment"):
        sy.ensure_syntheon_env(venv=tmp_path / "env", run=lambda *a, **k: _done(a[0]))
    assert (tmp_path / "env" / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------------------------------
# one run
# ---------------------------------------------------------------------------------------------
def test_run_writes_the_target_and_returns_the_preset(tmp_path):
    venv = _fake_venv(tmp_path / "env")
    work = tmp_path / "work"
    work.mkdir()
    seen = {}

    def run(cmd, **kwargs):
        seen.update(cmd=cmd, **kwargs)
        x, sr = sf.read(cmd[3])
        assert sr == SR and len(x) == SR
        pathlib.Path(cmd[4]).write_text("{}")
        return _done(cmd)

    res = sy.run_syntheon(audio=_tone(), sample_rate=SR, workdir=work, venv=venv, timeout_s=5, run=run)
    assert res.failure is None and res.vital == work / "syntheon.vital"
    assert seen["cmd"] == sy.syntheon_command(
        python=sy.venv_python(venv), wav=work / "target.wav", out=work / "syntheon.vital"
    )
    assert seen["cmd"][1:3] == ["-I", str(sy.RUNNER)] and sy.RUNNER.is_file()
    assert seen["timeout"] == 5 and seen["env"]["PYTHONNOUSERSITE"] == "1"


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("crash", "exit 1: RuntimeError: boom"),
        ("timeout", "timed out after 5 s"),
        ("silent", "no preset written"),
        ("nostart", "could not start"),
    ],
)
def test_run_failures_give_a_reason_and_no_preset(tmp_path, behaviour, reason):
    venv = _fake_venv(tmp_path / "env")

    def run(cmd, **kwargs):
        if behaviour == "crash":
            return _done(cmd, rc=1, err="Traceback (most recent call last):\n  ...\nRuntimeError: boom\n")
        if behaviour == "timeout":
            raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])
        if behaviour == "nostart":
            raise PermissionError("not executable")
        return _done(cmd)

    res = sy.run_syntheon(audio=_tone(), sample_rate=SR, workdir=tmp_path, venv=venv, timeout_s=5, run=run)
    assert res.vital is None and reason in res.failure


def test_run_without_environment_fails_without_running(tmp_path):
    def run(*args, **kwargs):
        raise AssertionError("nothing may run without an environment")

    res = sy.run_syntheon(audio=_tone(), sample_rate=SR, workdir=tmp_path, venv=tmp_path / "none", run=run)
    assert res.vital is None and "no syntheon environment" in res.failure


# ---------------------------------------------------------------------------------------------
# the bench method
# ---------------------------------------------------------------------------------------------
def _runner_writing(text: str | None, failure: str | None = None):
    def runner(*, audio, sample_rate, workdir, venv, timeout_s):
        assert sample_rate == SR and len(audio) == SR
        if text is None:
            return sy.SyntheonRun(None, failure, 0.1)
        out = workdir / "syntheon.vital"
        out.write_text(text)
        return sy.SyntheonRun(out, None, 0.1)

    return runner


def test_method_reads_the_written_preset_at_the_detected_probe(tmp_path):
    written = Preset.init().with_values(env_1_attack=0.4)
    method = sy.syntheon_method(venv=tmp_path, runner=_runner_writing(written.to_json()))
    a = method(_item())
    assert a.preset is not None and a.preset.values["env_1_attack"] == pytest.approx(0.4)
    assert a.renders == 0 and a.seconds > 0
    assert a.detected_note == 57 and a.probe.note == 57  # 220 Hz: A3


@pytest.mark.parametrize(
    ("text", "failure", "logged"),
    [(None, "exit 1: RuntimeError: boom", "RuntimeError: boom"), ("not json", None, "unreadable")],
)
def test_method_counts_failures_as_attempts_without_preset(tmp_path, caplog, text, failure, logged):
    method = sy.syntheon_method(venv=tmp_path, runner=_runner_writing(text, failure))
    with caplog.at_level(logging.WARNING, logger=sy.__name__):
        a = method(_item("bad"))
    assert a.preset is None and a.probe is not None and a.seconds > 0
    assert "bad" in caplog.text and logged in caplog.text


def test_registered_method_uses_the_installed_environment(monkeypatch, tmp_path):
    assert "syntheon" in METHODS and not METHODS["syntheon"].external_dir
    monkeypatch.setenv(sy.VENV_ENV, str(_fake_venv(tmp_path / "env")))
    methods = make_methods(["syntheon"], matcher=None, budget=1)
    assert callable(methods["syntheon"])
    assert METHODS["syntheon"].settings() == {"syntheon": sy.requirements()}


def test_runner_script_imports_without_syntheon():
    from synthmatch.bench import syntheon_runner

    assert syntheon_runner.CHECK_PREFIX == sy.CHECK_PREFIX
    assert syntheon_runner.main(["only-one-argument"]) == 2


# ---------------------------------------------------------------------------------------------
# the real thing
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_syntheon_end_to_end_on_a_tone(tmp_path, render_pool):
    venv = sy.syntheon_venv()
    if sy.read_marker(venv) is None:
        pytest.skip(f"no syntheon environment at {venv} (installed by `bench run --methods syntheon`)")
    work = tmp_path / "work"
    work.mkdir()
    res = sy.run_syntheon(audio=_tone(), sample_rate=SR, workdir=work, venv=venv)
    assert res.failure is None, res.failure
    preset = Preset.from_file(res.vital)
    assert preset.values["osc_2_on"] == 0 and preset.values["osc_3_on"] == 0  # one wavetable
    attempt = METHODS["syntheon"].build(None)(_item())  # type: ignore[arg-type]
    assert attempt.preset is not None
    (out,) = render_pool.render([attempt.preset], [attempt.probe])
    assert out.ok and np.all(np.isfinite(out.mono)) and np.max(np.abs(out.mono)) > 1e-3
