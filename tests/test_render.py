"""The deterministic render recipe, the pool, crash isolation and timeouts."""

from __future__ import annotations

import concurrent.futures
import hashlib
import time

import numpy as np
import pytest

from synthmatch.errors import ParameterError
from synthmatch.render import engine
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import Probe
from synthmatch.vital.modulation import Modulation
from tests.conftest import SHORT_PROBE, train_preset_files


def _md5(a: np.ndarray) -> str:
    return hashlib.md5(a.tobytes()).hexdigest()


def _random_preset(init_preset):
    """A preset whose sound depends on random sources, random phase and reverb (all leak state)."""
    p = init_preset.with_values(
        osc_1_random_phase=1.0, osc_1_unison_voices=4, reverb_on=1, reverb_dry_wet=0.5
    )
    p.modulations = [
        Modulation("random_1", "filter_1_cutoff", amount=0.6),
        Modulation("random", "osc_1_tune", amount=0.3),
    ]
    p.values["filter_1_on"] = 1.0
    return p


def test_probe_validation():
    with pytest.raises(ParameterError, match="leaks into the next"):
        Probe(note_seconds=4.0, render_seconds=4.0)
    with pytest.raises(ParameterError, match="velocity"):
        Probe(velocity=0)
    assert Probe.parse("note=48,note_seconds=1").note == 48
    assert Probe.from_dict(Probe().to_dict()) == Probe()


def test_bit_identical_across_calls_workers_and_processes(init_preset, render_pool):
    presets = [_random_preset(init_preset), init_preset.with_values(filter_1_on=1, filter_1_cutoff=70.0)]
    # the same items, several times, interleaved so both workers render each of them
    first = render_pool.render(presets * 3, SHORT_PROBE)
    assert all(o.ok for o in first)
    for k in range(2):
        assert len({_md5(first[k + 2 * r].audio) for r in range(3)}) == 1
    with RenderPool(workers=1) as other:  # a different process
        again = other.render(presets, SHORT_PROBE)
    assert [_md5(o.audio) for o in again] == [_md5(o.audio) for o in first[:2]]
    assert np.max(np.abs(first[0].audio)) > 0.01  # not trivially silent


def test_engine_crash_costs_one_item(init_preset, monkeypatch):
    """A real engine segfault (unknown modulation name via the API) in one item of a job."""
    original = engine._render_on

    def crashing(synth, preset_json, probe):
        if '"crash_me"' in preset_json:
            synth.connect_modulation("lfo_1", "no_such_destination")  # the engine segfaults on render
        return original(synth, preset_json, probe)

    monkeypatch.setattr(engine, "_render_on", crashing)
    good = init_preset.to_json()
    bad = good.replace('"preset_name": "', '"preset_name": "crash_me').replace(
        '"preset_name"', '"crash_me"', 1
    )
    assert '"crash_me"' in bad
    # a thread executor runs tasks in this process, so the monkeypatch reaches the forked child
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        pool = RenderPool(executor=ex, timeout_s=30)
        outs = pool.render([good, bad, good, good], SHORT_PROBE)
    assert [o.status for o in outs] == ["ok", "crash", "ok", "ok"]
    assert "SIGSEGV" in outs[1].reason or "crashed" in outs[1].reason
    assert _md5(outs[0].audio) == _md5(outs[2].audio) == _md5(outs[3].audio)


def test_timeout_kills_the_item_only(init_preset):
    heavy = init_preset.with_values(osc_1_unison_voices=16, reverb_on=1).to_json()
    out = engine.render_isolated(heavy, Probe(note_seconds=1.0, render_seconds=2.0), timeout_s=0.01)
    assert out.status == "timeout" and "killed" in out.reason
    again = engine.render_isolated(init_preset.to_json(), SHORT_PROBE, timeout_s=30)
    assert again.ok


def test_load_failure_is_reported(init_preset):
    out = engine.render_isolated(
        '{"synth_version": "99999999.0.0", "settings": {}}', SHORT_PROBE, timeout_s=30
    )
    assert out.status in ("load_failed", "error") and out.audio is None


def test_a_measure_runs_in_the_worker_on_usable_renders_only(init_preset, render_pool):
    import functools
    import os

    from synthmatch.render.pool import Measure, submit_variant

    # np.linalg.norm with ord=2 of the mono audio; os.getpid says which process measured it
    measure = Measure.of(functools.partial(np.linalg.norm, ord=2))
    where = Measure.of(functools.partial(_pid_of, os.getpid))
    assert Measure.of(functools.partial(np.linalg.norm, ord=2)).key == measure.key  # same fn, same key
    bad = '{"synth_version": "99999999.0.0", "settings": {}}'
    outs = render_pool.render([init_preset, bad], SHORT_PROBE, measure=measure)
    assert outs[0].ok and outs[0].measured == np.linalg.norm(outs[0].mono, ord=2)  # bit for bit
    assert not outs[1].ok and outs[1].measured is None
    assert render_pool.render([init_preset], SHORT_PROBE)[0].measured is None  # no measure, no value
    pids = {o.measured for o in render_pool.render([init_preset] * 4, SHORT_PROBE, measure=where)}
    assert pids and os.getpid() not in pids  # the workers measured, not this process
    variant = submit_variant(
        render_pool, init_preset.to_json(), {"volume": 0.5}, SHORT_PROBE, measure=measure
    )
    got = variant.result()
    assert got.ok and got.measured == np.linalg.norm(got.mono, ord=2)


def _pid_of(getpid, mono):
    return getpid()


def test_audio_problem():
    assert engine.audio_problem(np.zeros((2, 100), np.float32)) == "silent"
    assert engine.audio_problem(np.full((2, 100), np.nan, np.float32)) == "non-finite"
    assert engine.audio_problem(np.ones((2, 100), np.float32)) == "clipped"
    assert engine.audio_problem(0.1 * np.ones((2, 100), np.float32)) is None


def _snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    err = np.sum((ref - est.astype(np.float64)) ** 2)
    return float("inf") if err == 0 else 10 * np.log10(max(np.sum(ref**2), 1e-30) / err)


def test_round_trip_of_a_few_shared_presets(render_pool):
    from synthmatch.vital.preset import Preset

    files = train_preset_files(6)
    items = []
    for f in files:
        items += [f.read_text(), Preset.from_file(f).to_json()]
    outs = render_pool.render(items, Probe(note_seconds=0.5, render_seconds=1.0))
    for k in range(len(files)):
        assert outs[2 * k].ok and outs[2 * k + 1].ok
        assert _snr_db(outs[2 * k].mono, outs[2 * k + 1].mono) >= 60.0, files[k].name


@pytest.mark.slow
def test_round_trip_all_shared_presets_at_the_probe():
    """Issue 2: ≥ 90% of the 268 shared presets re-render at ≥ 60 dB through vital → Preset → vital."""
    from synthmatch.vital.preset import Preset
    from tests.conftest import SHARED

    files = sorted((SHARED / "presets").rglob("*.vital"))
    items = []
    for f in files:
        items += [f.read_text(), Preset.from_file(f).to_json()]
    with RenderPool(workers=2) as pool:
        outs = pool.render(items, Probe())
    snrs = [_snr_db(outs[2 * k].mono, outs[2 * k + 1].mono) for k in range(len(files))]
    assert sum(s >= 60 for s in snrs) >= 0.9 * len(files)


def test_workers_exit_when_the_job_is_killed(tmp_path):
    """A SIGKILLed job leaves no engine workers behind (they would hold cores and memory)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "job.py"
    script.write_text(
        "import os, sys, time\n"
        "from synthmatch.render.pool import RenderPool\n"
        "if __name__ == '__main__':\n"
        "    pool = RenderPool(workers=2)\n"
        "    pids = [pool.executor.submit(os.getpid).result() for _ in range(8)]\n"
        "    print(' '.join(map(str, sorted(set(pids)))), flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert pids
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [
            p
            for p in pids
            if os.path.exists(f"/proc/{p}") and "Z" not in open(f"/proc/{p}/stat").read().split()[2]
        ]
        time.sleep(0.2)
    assert alive == []


@pytest.mark.vita
def test_a_pool_first_used_from_a_thread_that_ends_keeps_its_workers(short_probe, init_preset):
    import threading

    from synthmatch.render.pool import RenderPool

    with RenderPool(workers=2) as pool:
        first: list = []
        t = threading.Thread(target=lambda: first.extend(pool.render([init_preset] * 2, short_probe)))
        t.start()
        t.join()  # the workers were spawned from this thread, which has now ended
        time.sleep(1.0)  # a parent-death signal tied to that thread would kill them here
        later = pool.render([init_preset] * 2, short_probe)
    assert [o.ok for o in first + later] == [True] * 4
    assert np.array_equal(first[0].audio, later[0].audio)
