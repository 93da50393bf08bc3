"""`bench analysis`: the note and velocity figures of the target analysis, on tiny hand-made suites."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

from synthmatch.audio.analysis import DEFAULT_VELOCITY, midi_to_hz
from synthmatch.bench.analysis_accuracy import (
    VELOCITY_ESTIMATES,
    add_parser,
    analysis_records,
    summarize_analysis,
)
from synthmatch.bench.suites import Item
from synthmatch.render.probe import Probe

SR = 44100


def _saw(midi: int, *, gain: float = 0.5, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    f = midi_to_hz(midi)
    k = np.arange(1, int(0.45 * SR / f) + 1)
    y = (np.sin(2 * np.pi * f * k[:, None] * t[None, :]) / k[:, None]).sum(axis=0)
    return (gain * y / np.abs(y).max()).astype(np.float32)


def _record(true_note, detected, true_velocity=None, velocity=DEFAULT_VELOCITY, level=DEFAULT_VELOCITY):
    return {
        "item": f"x{true_note}-{detected}",
        "true_note": true_note,
        "pitch_truth": None,
        "detected_note": detected,
        "pitch_method": "yin",
        "true_velocity": true_velocity,
        "velocity": {"analysis": velocity, "default": DEFAULT_VELOCITY, "level": level},
        "peak_db": -6.0,
        "loudness_db": -12.0,
    }


def test_note_rates_count_exact_semitone_octave_and_unpitched():
    records = [
        _record(60, 60),
        _record(60, 61),
        _record(60, 48),
        _record(60, 84),
        _record(60, None),
        _record(None, 70),  # no single true note: not scored
    ]
    note = summarize_analysis("s", records)["note"]
    assert note["items_with_truth"] == 5
    assert note["exact"] == pytest.approx(1 / 5)
    assert note["within_semitone"] == pytest.approx(2 / 5)
    assert note["octave_errors"] == pytest.approx(2 / 5)
    assert note["unpitched"] == pytest.approx(1 / 5)
    assert [m["detected_note"] for m in note["misses"]] == [61, 48, 84, None]


def test_velocity_errors_are_in_midi_steps_against_each_estimate():
    truth = np.array([64, 80, 100, 127]) / 127
    records = [_record(60, 60, v, velocity=v, level=v + 10 / 127) for v in truth]
    records.append(_record(60, 60, None))  # velocity unknown: not scored
    vel = summarize_analysis("s", records)["velocity"]
    assert vel["items_with_truth"] == 4
    assert vel["analysis"]["mae_midi"] == pytest.approx(0.0, abs=1e-9)
    assert vel["analysis"]["correlation"] == pytest.approx(1.0)
    assert vel["level"]["mae_midi"] == pytest.approx(10.0)
    assert vel["level"]["median_ae_midi"] == pytest.approx(10.0)
    assert vel["default"]["mae_midi"] == pytest.approx((36 + 20 + 0 + 27) / 4)
    assert math.isnan(vel["default"]["correlation"])  # a constant has no correlation
    assert set(VELOCITY_ESTIMATES) <= set(vel)


def test_records_read_the_analysis_against_the_items_probe():
    items = [
        Item("a", _saw(48), SR, Probe(note=48, velocity=0.6, note_seconds=0.8, render_seconds=1.0)),
        Item(
            "b", _saw(67, gain=0.01), SR, Probe(note=67, velocity=0.9, note_seconds=0.8, render_seconds=1.0)
        ),
        Item("c", _saw(60), SR),  # an audio file without notes: no truth
    ]
    rows = analysis_records(items)
    assert [r["detected_note"] for r in rows] == [48, 67, 60]
    assert [r["true_note"] for r in rows] == [48, 67, None]
    assert [r["true_velocity"] for r in rows] == [0.6, 0.9, None]
    assert all(r["velocity"]["analysis"] == DEFAULT_VELOCITY for r in rows)
    assert rows[1]["velocity"]["level"] < DEFAULT_VELOCITY  # -40 dBFS: the level reading is lower
    only_a = analysis_records(items, true_velocities={"a": 0.5})
    assert [r["true_velocity"] for r in only_a] == [0.5, None, None]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench")
    add_parser(p.add_subparsers(dest="bench_command"))
    return p


def test_the_command_reports_an_ood_folder(tmp_path, capsys):
    import soundfile as sf

    folder = tmp_path / "ood"
    folder.mkdir()
    notes = {}
    for midi, velocity in ((45, 64), (57, 100), (69, None)):
        name = f"n{midi}.wav"
        sf.write(folder / name, _saw(midi), SR)
        notes[name] = {"midi_note": midi, **({"velocity": velocity} if velocity else {})}
    (folder / "notes.json").write_text(json.dumps(notes))
    out = tmp_path / "out"
    args = _parser().parse_args(["analysis", "--suites", "ood", "--ood-dir", str(folder), "--out", str(out)])
    assert args.func(args) == 0
    report = json.loads((out / "analysis.json").read_text())
    (suite,) = report["suites"]
    assert suite["note"]["items_with_truth"] == 3 and suite["note"]["exact"] == 1.0
    assert suite["velocity"]["items_with_truth"] == 2  # the third file's velocity is not given
    assert suite["velocity"]["default"]["mae_midi"] == pytest.approx(18.0)
    assert "| default | 18.0 |" in capsys.readouterr().out
    assert (out / "analysis.md").exists()


def test_the_command_refuses_unknown_suites(capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["analysis", "--suites", "id-rand,nope", "--out", "x"])
    assert exc.value.code == 2
    assert "nope" in capsys.readouterr().err
