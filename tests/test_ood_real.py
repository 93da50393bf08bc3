"""The ood-real suite: real instrument notes rendered from a soundfont by fluidsynth."""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest

from synthmatch.bench.oodreal import (
    DEFAULT_SOUNDFONT,
    NOTES_PER_PROGRAM,
    PROGRAMS,
    build_ood_real,
    midi_file,
    notes_of,
    split_of,
)


def test_the_declared_suite_has_120_notes_over_12_families_split_by_program():
    families = {p.family for p in PROGRAMS}
    assert len(PROGRAMS) * NOTES_PER_PROGRAM >= 120 and len(families) >= 12
    for family in families:  # each family has a dev program and a test program
        assert sorted(split_of(p) for p in PROGRAMS if p.family == family) == ["dev", "test"]
    assert len({p.number for p in PROGRAMS}) == len(PROGRAMS)
    for p in PROGRAMS:
        keys = [n["midi_note"] for n in notes_of(p)]
        assert keys == sorted(set(keys)) and p.low <= keys[0] and keys[-1] <= p.high


def test_a_note_is_a_format_0_midi_file():
    data = midi_file(40, 60, 100, 0.5)
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
    assert bytes([0xC0, 40]) in data and bytes([0x90, 60, 100]) in data and bytes([0x80, 60, 0]) in data


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not pathlib.Path(DEFAULT_SOUNDFONT).is_file(),
    reason="needs fluidsynth and the timgm6mb soundfont (apt-get install fluidsynth timgm6mb-soundfont)",
)
def test_a_build_writes_the_split_folders_and_rebuilds_bit_identically(tmp_path):
    from synthmatch.bench.suites import suite_ood

    two = PROGRAMS[:2]  # a keys program for dev, another for test
    a = build_ood_real(tmp_path / "a", programs=two)
    b = build_ood_real(tmp_path / "b", programs=two)
    assert a["items"] == {"dev": NOTES_PER_PROGRAM, "test": NOTES_PER_PROGRAM}
    assert a["sha256"] == b["sha256"] and len(a["sha256"]) == 2 * NOTES_PER_PROGRAM
    notes = json.loads((tmp_path / "a" / "test" / "notes.json").read_text())
    assert {v["program"] for v in notes.values()} == {two[1].number}
    items = suite_ood(tmp_path / "a" / "dev")
    first = notes_of(two[0])[0]
    assert len(items) == NOTES_PER_PROGRAM and items[0].probe.note == first["midi_note"]
    assert items[0].probe.note_seconds == first["note_seconds"]
    assert items[0].probe.velocity == pytest.approx(first["velocity"] / 127)
    assert all(0.001 < abs(it.audio).max() < 1.0 for it in items)  # audible, not clipped
