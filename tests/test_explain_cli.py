"""`synthmatch explain`: the command writes the tutorial, the recipe and the files it loads."""

from __future__ import annotations

import json

import pytest

from synthmatch.cli import main
from synthmatch.vital.preset import Preset
from synthmatch.vital.wavetables import basic_frame, wavetable_from_frames


@pytest.fixture()
def preset_file(tmp_path):
    p = Preset.init()
    p.values.update(osc_1_random_phase=0.0, filter_1_on=1.0, filter_1_cutoff=84.0, env_1_sustain=0.0)
    p.wavetables[0] = wavetable_from_frames(basic_frame("triangle")[None], name="Tri")
    p.meta["preset_name"] = "Test Pluck"
    return p.write(tmp_path / "pluck.vital")


def test_explain_without_render(preset_file, tmp_path, capsys):
    out = tmp_path / "tut"
    assert main(["explain", str(preset_file), "-o", str(out), "--no-render"]) == 0
    assert (out / "tutorial.md").exists() and (out / "wavetable_osc1.vitaltable").exists()
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["title"] == "Test Pluck" and recipe["description"] is None
    assert "wrote" in capsys.readouterr().out


@pytest.mark.vita
def test_explain_with_render_describes_the_sound(preset_file, tmp_path):
    out = tmp_path / "tut"
    rc = main(["explain", str(preset_file), "-o", str(out), "--probe", "note_seconds=0.4,render_seconds=0.8"])
    assert rc == 0
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["description"]["pitch_note"] == "C4"
    md = (out / "tutorial.md").read_text()
    assert "## The idea" in md and "## Build it (" in md
    assert recipe["measured"]["build_steps"] >= 1 and recipe["idea"]["category"]
    assert {s["tier"] for s in recipe["steps"]} <= {"build", "detail", "silent"}
    page = (out / "tutorial.html").read_text()
    assert "<section class='sm-tutorial'>" in page and "<svg" in page and "<pre>" not in page


@pytest.mark.vita
def test_explain_quick_describes_without_tiers(preset_file, tmp_path):
    out = tmp_path / "tut"
    rc = main(
        [
            "explain",
            str(preset_file),
            "-o",
            str(out),
            "--quick",
            "--probe",
            "note_seconds=0.4,render_seconds=0.8",
        ]
    )
    assert rc == 0
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["description"]["pitch_note"] == "C4" and recipe["measured"] is None
    assert "## The sound" in (out / "tutorial.md").read_text()


def test_explain_default_output_folder_and_bad_llm(preset_file):
    with pytest.raises(SystemExit):
        main(["explain", str(preset_file), "--llm", "not-a-provider"])
    assert main(["explain", str(preset_file), "--no-render"]) == 0
    assert (preset_file.parent / "pluck_tutorial" / "tutorial.md").exists()
