"""The search baselines of `synthmatch bench` (cmaes-all, random-search, ga), their settings keys,
and the ood suite's --n-ood subset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from synthmatch.bench import BenchConfig, Item, make_methods, run_benchmark, settings_key
from synthmatch.bench import methods as bench_methods
from synthmatch.errors import SynthmatchError
from tests.test_bench import tiny_lib  # noqa: F401  (the module's tiny library fixture)

BASELINES = ["cmaes-all", "random-search", "ga"]


def tone(seconds: float = 0.5, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(44100 * seconds)) / 44100
    return (0.5 * np.sin(2 * np.pi * hz * t) * np.exp(-3 * t)).astype(np.float32)


def test_search_baselines_spend_their_renders_on_match_objective_and_repeat(
    tiny_lib,  # noqa: F811
    render_pool,
    monkeypatch,
):
    import synthmatch.search.refine as refine
    from synthmatch.search.match import Matcher, read_target
    from synthmatch.vital.spec import default_space

    monkeypatch.setattr(bench_methods, "GA_RENDERS", 10)
    cuts = []
    real_dims = refine.search_dims
    monkeypatch.setattr(
        refine, "search_dims", lambda p, **kw: cuts.append(kw["max_dims"]) or real_dims(p, **kw)
    )
    item = Item("tone", tone(), 44100)
    _, _, analysis, probe = read_target((item.audio, 44100), sample_rate=44100)
    with Matcher(library=str(tiny_lib), pool=render_pool) as m:
        methods = make_methods(BASELINES, matcher=m, budget=6)
        runs = {name: (fn(item), fn(item)) for name, fn in methods.items()}
    for name, (a, b) in runs.items():
        assert a.renders == b.renders == (10 if name == "ga" else 6), name
        assert a.preset is not None and a.preset.values == b.preset.values, name
        # the probe and note of match's reading of the target
        assert a.probe == probe and a.detected_note == analysis.midi_note
    # cmaes-all cuts no dimension (the match's refiner keeps the 24 most important)
    assert cuts and all(c >= len(default_space()) for c in cuts)


def test_search_baselines_keys_name_what_decides_their_results(tiny_lib, render_pool, monkeypatch):  # noqa: F811
    from synthmatch.search.match import MATCH_REVISION, REFINER_REVISION, Matcher

    monkeypatch.setattr(bench_methods, "GA_RENDERS", 10)
    with Matcher(library=str(tiny_lib), pool=render_pool) as m:

        def key(method: str) -> dict:
            return json.loads(settings_key(method, budget=8, matcher=m))

        cmaes_all, random_search, ga = (key(name) for name in BASELINES)
        assert "renders" not in key("match")  # only the methods that declare settings carry them
    revision = bench_methods.SEARCH_BASELINES_REVISION
    assert cmaes_all["budget"] == 8 and cmaes_all["revision"] == MATCH_REVISION and "library" in cmaes_all
    assert cmaes_all["search_baselines"] == revision
    assert random_search["budget"] == 8 and random_search["revision"] == REFINER_REVISION
    assert random_search["sampler"] == "mix" and "library" not in random_search
    # the GA's own render count, not the run's budget
    assert "budget" not in ga and ga["renders"] == 10 and ga["revision"] == MATCH_REVISION and "library" in ga


def test_a_logged_ga_attempt_is_reused_until_its_render_count_changes(tiny_lib, tmp_path, monkeypatch):  # noqa: F811
    from synthmatch.search.population import GARefiner

    ood = tmp_path / "ood"
    ood.mkdir()
    sf.write(ood / "tone.wav", tone(), 44100)
    monkeypatch.setattr(bench_methods, "GA_RENDERS", 8)

    def bench(budget: int) -> dict:
        config = BenchConfig(
            suites=("ood",),
            methods=("ga",),
            budget=budget,
            ood_dir=str(ood),
            library=str(tiny_lib),
            workers=2,
            engine_speed_presets=0,
        )
        return run_benchmark(config, out=tmp_path / "out")

    first = bench(4)
    assert first["suites"][0]["metrics"]["ga"]["renders_per_match"] == 8
    refined = []
    real = GARefiner.refine
    monkeypatch.setattr(GARefiner, "refine", lambda self, *a, **k: refined.append(1) or real(self, *a, **k))
    bench(5)  # another --budget: the GA's result does not depend on it
    assert refined == []
    monkeypatch.setattr(bench_methods, "GA_RENDERS", 9)
    bench(5)
    assert refined == [1]


def test_spread_picks_evenly_over_a_sorted_list():
    from synthmatch.bench.suites import spread

    # ood-real/test: 65 notes, 5 per instrument: 8 picks from 8 instruments
    assert spread(65, 8) == [0, 8, 16, 24, 32, 41, 49, 57]
    assert len({i // 5 for i in spread(65, 8)}) == 8
    assert spread(3, 8) == spread(3, None) == [0, 1, 2] and spread(5, 2) == [0, 2]


def test_n_ood_limits_the_ood_suite_from_the_command_line(tiny_lib, tmp_path, capsys):  # noqa: F811
    from synthmatch.cli import main

    ood = tmp_path / "ood"
    ood.mkdir()
    for k, name in enumerate("abcde"):
        sf.write(ood / f"{name}.wav", tone(0.3, 220.0 * (k + 1)), 44100)
    out = tmp_path / "report"
    argv = ["bench", "run", "--suites", "ood", "--ood-dir", str(ood), "--methods", "init", "--out", str(out)]
    argv += ["--library", str(tiny_lib), "--workers", "2", "--engine-speed-presets", "0"]
    assert main([*argv, "--n-ood", "2"]) == 0
    assert json.loads((out / "scores_ood.json").read_text())["items"] == ["a", "c"]
    assert json.loads((out / "report.json").read_text())["meta"]["command_settings"]["n_ood"] == 2
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main([*argv, "--n-ood", "0"])
    assert "--n-ood" in capsys.readouterr().err
    with pytest.raises(SynthmatchError, match="n_ood=0 must be at least 1"):
        BenchConfig(suites=("ood",), ood_dir=str(ood), n_ood=0)
