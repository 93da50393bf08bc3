"""Command-line behaviour: progress bars, and errors that name the problem and the fix."""

from __future__ import annotations

import pytest

from synthmatch.cli.progress import progress_bar


def test_a_lazy_bar_stays_silent_until_work_starts(capsys):
    with pytest.raises(ValueError), progress_bar("matching", total=160, unit="render", lazy=True):
        raise ValueError("bad input, found before any render")
    assert capsys.readouterr().err == ""  # the error is all the user sees
    with progress_bar("matching", total=160, unit="render", lazy=True) as progress:
        progress(3, 160)
    err = capsys.readouterr().err
    assert "matching" in err and "3/160" in err


def test_an_eager_bar_shows_at_once_and_follows_a_changing_total(capsys):
    with progress_bar("benchmark", total=None, unit="match") as progress:
        assert "benchmark" in capsys.readouterr().err  # long jobs say they started
        progress(1, 4)
        progress(4, 4)
    assert "4/4" in capsys.readouterr().err


def test_match_refuses_an_output_path_it_cannot_write_before_searching(tmp_path, capsys):
    from synthmatch.cli import main

    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    target = tmp_path / "never_read.wav"  # the -o check comes first, so no search starts
    assert main(["match", str(target), "-o", str(taken)]) == 1
    assert "a file of that name exists" in capsys.readouterr().err
    assert main(["match", str(target), "-o", str(taken / "sub")]) == 1
    assert "is not a writable folder" in capsys.readouterr().err
    assert taken.read_text() == "not a folder"  # nothing was lost or created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_an_unwritable_output_is_an_error_message_not_a_traceback(tmp_path, capsys, monkeypatch):
    import synthmatch.cli.render as render_cli
    from synthmatch.cli import main

    def run(args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x.wav"))

    monkeypatch.setattr(render_cli, "run", run)
    assert main(["render", str(tmp_path / "p.vital")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: [Errno 13] Permission denied") and "Hint:" in err


@pytest.mark.vita
def test_render_makes_the_output_folder_and_writes_the_probe_length(tmp_path, init_preset, capsys):
    import soundfile as sf

    from synthmatch.cli import main

    preset = tmp_path / "init.vital"
    init_preset.write(preset)
    out = tmp_path / "new" / "dir" / "init.wav"
    probe = "note=60,note_seconds=0.25,render_seconds=0.5"
    assert main(["render", str(preset), "-o", str(out), "--probe", probe]) == 0
    audio, sr = sf.read(out)
    assert sr == 44100 and audio.shape == (22050, 2)  # 0.5 s, stereo
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["match", "x.wav", "--budget", "-1"], "argument --budget: -1 must be >= 0"),
        (["match", "x.wav", "--seconds", "-2"], "argument --seconds: -2 must be > 0"),
        (["match", "x.wav", "--note", "200"], "200 is not a MIDI note number"),
        (["match", "x.wav", "--note", "C4"], "'C4' must be 'auto' or a MIDI note number"),
        (["match", "x.wav", "--refiner", "adam"], "invalid choice: 'adam'"),
        (["match", "x.wav", "--candidates", "two"], "'two' is not an integer"),
        (["dataset", "build", "--n", "0", "--out", "d"], "argument --n: 0 must be >= 1"),
        (["bench", "run", "--workers", "0", "--out", "b"], "argument --workers: 0 must be >= 1"),
    ],
)
def test_out_of_range_options_are_usage_errors_before_any_work(argv, says, capsys):
    from synthmatch.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert says in capsys.readouterr().err
