"""`synthmatch bench run` end to end on a tiny suite, and the report statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from synthmatch.bench.protocol import bootstrap_ci, run_benchmark
from synthmatch.render.probe import Probe
from synthmatch.vital.preset import Preset


def test_bootstrap_ci_brackets_the_median():
    vals = list(np.linspace(0, 10, 41))
    med, lo, hi = bootstrap_ci(vals)
    assert med == pytest.approx(5.0) and lo <= med <= hi and hi - lo < 5
    assert all(np.isnan(bootstrap_ci([])))


@pytest.fixture(scope="module")
def tiny_lib(tmp_path_factory, render_pool):
    from synthmatch.audio.features import get_embedding
    from synthmatch.search.library import build_library

    init = Preset.init()
    presets = [
        init.with_values(osc_1_random_phase=0.0, filter_1_on=1, filter_1_cutoff=c)
        for c in (55.0, 75.0, 95.0, 115.0)
    ]
    lib = build_library(
        presets,
        probe=Probe(note_seconds=0.5, render_seconds=1.0),
        embedding=get_embedding("handcrafted"),
        pool=render_pool,
    )
    return lib.save(tmp_path_factory.mktemp("benchlib") / "lib")


def test_bench_runs_end_to_end(tiny_lib, tmp_path, monkeypatch):
    hand = tmp_path / "hand"
    hand.mkdir()
    init = Preset.init()
    init.with_values(osc_1_random_phase=0.0, filter_1_on=1, filter_1_cutoff=70.0).write(hand / "a.vital")
    init.with_values(osc_1_random_phase=0.0, osc_1_transpose=12).write(hand / "b.vital")
    ood = tmp_path / "ood"
    ood.mkdir()
    t = np.arange(44100) / 44100
    sf.write(
        ood / "sine_a4.wav", (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-2 * t)).astype(np.float32), 44100
    )
    (ood / "notes.json").write_text(json.dumps({"sine_a4.wav": {"midi_note": 69}}))
    out = tmp_path / "report"
    report = run_benchmark(
        suites=["id-hand", "ood"],
        methods=["match", "init", "knn", "random"],
        out=out,
        budget=4,
        hand_dir=str(hand),
        ood_dir=str(ood),
        library=str(tiny_lib),
        workers=2,
    )
    assert (out / "report.md").exists() and (out / "report.json").exists()
    assert list(out.glob("spectrogram_id-hand_*.png"))
    suites = {s["suite"]: s for s in report["suites"]}
    hand_s = suites["id-hand"]
    assert hand_s["n_items"] == 2
    for method in ("match", "init", "knn", "random"):
        med, lo, hi = hand_s["metrics"][method]["mss_mel"]
        assert np.isfinite(med) and lo <= med <= hi
    assert hand_s["metrics"]["match"]["renders_per_match"] <= 4 + 1
    assert 0.0 <= hand_s["win_rate_mss_mel"]["match"]["init"] <= 1.0
    assert suites["ood"]["analysis"]["exact_note_rate"] == 1.0  # the A4 sine is found
    md = (out / "report.md").read_text()
    assert "Suite `id-hand`" in md and "| match |" in md

    # Resume: a second run with the same settings reuses every logged attempt (matching again
    # would raise here), even after a line was cut short by a kill, and scores the same.
    log = out / "attempts_id-hand_match.jsonl"
    assert len(log.read_text().splitlines()) == 2
    with log.open("a") as f:
        f.write('{"item": "a", "key": ')
    from synthmatch.search.match import Matcher

    def no_match(*a, **k):
        raise AssertionError("attempt should have been reused")

    monkeypatch.setattr(Matcher, "match", no_match)
    again = run_benchmark(
        suites=["id-hand"],
        methods=["match"],
        out=out,
        budget=4,
        hand_dir=str(hand),
        library=str(tiny_lib),
        workers=2,
    )
    assert again["suites"][0]["metrics"]["match"]["mss_mel"] == hand_s["metrics"]["match"]["mss_mel"]
    with pytest.raises(AssertionError, match="reused"):  # another budget is another setting
        run_benchmark(
            suites=["id-hand"],
            methods=["match"],
            out=out,
            budget=5,
            hand_dir=str(hand),
            library=str(tiny_lib),
            workers=2,
        )


def test_sounding_note_follows_the_main_oscillator():
    from synthmatch.bench.protocol import sounding_note

    init = Preset.init()
    assert sounding_note(init, 60) == 60
    assert sounding_note(init.with_values(osc_1_transpose=-12), 48) == 36
    louder2 = init.with_values(osc_2_on=1, osc_2_level=1.0, osc_1_level=0.3, osc_2_transpose=7)
    assert sounding_note(louder2, 60) == 67
    assert sounding_note(init.with_values(osc_1_midi_track=0), 60) is None
