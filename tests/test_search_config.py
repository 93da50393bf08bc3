"""MatchConfig, the proposal-source registry, and the public API at the package root."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from synthmatch.search.config import MatchConfig
from synthmatch.search.proposals import SOURCES, Origin, Proposal, register_source
from synthmatch.vital.preset import Preset


def test_match_config_validates_every_setting():
    MatchConfig()  # the defaults pass
    MatchConfig(budget=None, seconds=5.0)
    for bad, says in [
        ({"budget": None}, "give a render budget"),
        ({"budget": -1}, "budget must be 0"),
        ({"budget": 0, "seconds": 5.0}, "budget=0 renders nothing"),
        ({"seconds": 0.0}, "seconds must be > 0"),
        ({"candidates": 0}, "candidates must be at least 1"),
        ({"starts": 0}, "starts must be at least 1"),
        ({"rerank": 0}, "rerank must be at least 1"),
        ({"note": 128}, "note must be a MIDI note number 0-127"),
        ({"workers": 0}, "workers must be at least 1"),
        ({"sources": ()}, "at least one proposal source"),
    ]:
        with pytest.raises(ValueError, match=says):
            MatchConfig(**bad)
    with pytest.raises(TypeError, match="unknown match settings"):
        MatchConfig().replace(budjet=3)


def test_match_config_round_trips_and_is_frozen():
    cfg = MatchConfig(budget=64, note=45, sources=["library"], refiner_options={"sigma0": 0.1})
    assert cfg.sources == ("library",)
    assert MatchConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown match settings"):
        MatchConfig.from_dict({**cfg.to_dict(), "speed": 2})
    with pytest.raises(AttributeError):
        cfg.budget = 3  # type: ignore[misc]
    assert cfg.replace(budget=32).budget == 32 and cfg.budget == 64


def test_match_refuses_settings_out_of_range_before_loading_anything(tmp_path):
    from synthmatch.search.match import Matcher

    with Matcher() as m:
        with pytest.raises(ValueError, match="budget must be 0"):
            m.match(tmp_path / "not_there.wav", budget=-1)  # the settings fail first, not the file
        with pytest.raises(ValueError, match="fixed when the Matcher is made"):
            m.match(tmp_path / "not_there.wav", workers=7)


def test_the_cli_the_bench_and_the_api_read_the_one_declaration():
    import inspect

    import synthmatch
    from synthmatch.cli import build_parser
    from synthmatch.cli.match import config_from_args

    parser = build_parser()
    defaults = MatchConfig()
    args = parser.parse_args(["match", "x.wav"])
    assert config_from_args(args) == defaults  # every default of the command is the config's
    assert parser.parse_args(["bench", "run", "--out", "o"]).budget == defaults.budget
    assert inspect.signature(synthmatch.match).parameters["config"].default is None
    args = parser.parse_args(["match", "x.wav", "--seconds", "5", "--note", "45", "--no-prune"])
    cfg = config_from_args(args)
    assert (cfg.budget, cfg.seconds, cfg.note, cfg.prune) == (None, 5.0, 45, False)


def test_origin_is_data_and_reads_as_text():
    o = Origin("library", 311).edited("tuned -11c").edited("pruned").refined_by("cmaes")
    assert str(o) == "library #311 tuned -11c pruned + cmaes"
    assert o.lineage == ("library", 311) == Origin("library", 311).lineage
    assert o.to_dict() == {
        "source": "library",
        "index": 311,
        "edits": ["tuned -11c", "pruned"],
        "refiner": "cmaes",
    }
    assert str(Origin()) == "search" and Origin().lineage == "search"


@pytest.fixture()
def const_source():
    """A proposal source registered by the test: the init preset with its filter on."""

    @register_source("test-const")
    class ConstSource:
        def __init__(self, matcher):
            self.matcher = matcher

        def propose(self, target, k):
            p = Preset.init().with_values(filter_1_on=1, filter_1_cutoff=70.0)
            return [Proposal(p, Origin("test-const", 0), 0.0)][:k]

    yield ConstSource
    del SOURCES["test-const"]


def test_a_source_registered_in_a_test_is_picked_up_by_the_cli(const_source, capsys):
    from synthmatch.cli import build_parser
    from synthmatch.cli.match import config_from_args

    parser = build_parser()
    args = parser.parse_args(["match", "x.wav", "--sources", "test-const,library"])
    assert config_from_args(args).sources == ("test-const", "library")
    with pytest.raises(SystemExit):
        parser.parse_args(["match", "x.wav", "--sources", "nowhere"])
    assert "test-const" in capsys.readouterr().err  # the error lists the registered sources


def test_a_registered_source_feeds_the_match(const_source, render_pool):
    from synthmatch.search.match import Matcher

    sr = 44100
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 220.0 * t) * np.exp(-3 * t)).astype(np.float32)
    with Matcher(pool=render_pool, sources=("test-const",), refiner="none") as m:
        res = m.match((tone, sr), budget=4, candidates=1, align_pitch=False, prune=False)
    assert res.settings["sources"] == ["test-const"]
    assert res.best.origin == Origin("test-const", 0)
    assert res.renders == 1  # one proposal, rendered once, canonical already
    assert res.to_dict()["candidates"][0]["found"]["source"] == "test-const"


def test_the_package_root_offers_the_public_api(render_pool):
    import synthmatch
    from synthmatch.explain.recipe import Recipe
    from synthmatch.render.probe import Probe

    assert set(synthmatch.__all__) >= {"match", "render", "explain", "Preset", "Probe", "MatchConfig"}
    assert synthmatch.MatchConfig is MatchConfig and synthmatch.Preset is Preset
    assert (pathlib.Path(synthmatch.__file__).parent / "py.typed").exists()
    probe = Probe(note=60, velocity=0.8, note_seconds=0.2, render_seconds=0.3)
    audio = synthmatch.render(Preset.init(), probe)
    assert audio.shape == (2, probe.n_samples) and audio.dtype == np.float32
    assert np.array_equal(audio, synthmatch.render(Preset.init(), probe))  # deterministic
    assert callable(synthmatch.render) and synthmatch.render.RenderPool is not None  # still a package
    recipe = synthmatch.explain(Preset.init().with_values(filter_1_on=1), measure=False)
    assert isinstance(recipe, Recipe) and recipe.steps
    with pytest.raises(Exception, match="Preset or the path"):
        synthmatch.explain(42)


def test_candidates_are_shown_with_the_score_they_are_ranked_by():
    from synthmatch.cli.match import candidate_lines
    from synthmatch.render.probe import Probe
    from synthmatch.search.match import MatchResult
    from synthmatch.search.report import render_html
    from synthmatch.search.stages import Candidate

    probe = Probe(note=60, velocity=0.8, note_seconds=0.2, render_seconds=0.3)
    quiet = np.zeros(probe.n_samples, np.float32)
    in_tune = Candidate(Preset.init(), quiet, {"mss_mel": 12.1, "objective": 12.1}, Origin("library", 1))
    off = Candidate(Preset.init(), quiet, {"mss_mel": 11.5, "objective": 13.5}, Origin("library", 2))
    res = MatchResult(quiet, 44100, probe, {}, [in_tune, off], renders=2, timings={"total": 1.0})
    lines = candidate_lines(res)
    assert "candidate 1: score 12.100 dB  (library #1)" in lines[1]
    assert "candidate 2: score 13.500 dB = MSS-mel 11.500 + pitch 2.000  (library #2)" in lines[2]
    page = render_html(res)
    assert "<th>#</th><th>score</th>" in page and page.index("<b>12.1</b>") < page.index("<b>13.5</b>")
    assert "<th>objective</th>" not in page  # shown once, as the score


def test_the_readme_python_example_uses_only_the_public_api():
    import ast
    import re

    import synthmatch

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"## From Python\n\n```python\n(.*?)```", readme, re.S).group(1)
    tree = ast.parse(code)  # it is valid Python
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "synthmatch"
    }
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert used and used <= set(synthmatch.__all__), used - set(synthmatch.__all__)
    assert all(isinstance(n, ast.Import) and [a.name for a in n.names] == ["synthmatch"] for n in imports)
    assert all(hasattr(synthmatch, name) for name in used)


def test_the_estimator_source_says_what_to_do_when_no_model_is_there(tmp_path, monkeypatch):
    from synthmatch.errors import SynthmatchError
    from synthmatch.search.estimator import ESTIMATOR_ENV, Estimator

    assert "estimator" in SOURCES  # registered with the package
    monkeypatch.setenv(ESTIMATOR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(SynthmatchError, match="synthmatch train estimator"):
        Estimator()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "estimator.onnx").write_bytes(b"")
    (tmp_path / "m" / "model_card.json").write_text('{"spec_hash": "0000"}')
    from synthmatch.errors import SpecMismatchError

    with pytest.raises(SpecMismatchError, match="retrain"):
        Estimator(tmp_path / "m")


def test_retuned_moves_the_global_pitch_so_the_first_sounding_oscillator_plays_the_target():
    from synthmatch.search.estimator import retuned

    a3 = 220.0  # MIDI 57
    p = Preset.init().with_values(osc_1_transpose=12.0, osc_1_tune=0.25)
    out = retuned(p, a3, 57)
    assert out.values["voice_transpose"] == -12.0 and out.values["voice_tune"] == pytest.approx(-0.25)
    up = retuned(p, a3 * 2 ** (7.4 / 12), 57)  # a fifth and 40 cents up
    assert up.values["voice_transpose"] == -5.0 and up.values["voice_tune"] == pytest.approx(0.15)
    assert p.values.get("voice_transpose", 0.0) == 0.0  # a copy
    off = Preset.init().with_values(osc_1_on=0.0, osc_2_on=1.0, osc_2_transpose=-24.0)
    assert retuned(off, a3, 57).values["voice_transpose"] == 24.0  # the first oscillator that sounds


def test_the_shipped_estimator_loads_fits_the_size_budget_and_answers_a_sound(monkeypatch):
    import json

    from synthmatch.render.probe import Probe
    from synthmatch.search.estimator import ESTIMATOR_ENV, Estimator, default_estimator_path
    from synthmatch.vital.preset import check_vital_json

    monkeypatch.delenv(ESTIMATOR_ENV, raising=False)
    path = default_estimator_path()
    assert sum(f.stat().st_size for f in path.iterdir()) <= 25 * 2**20  # the package's model budget
    est = Estimator()  # the spec hash matches, or this raises
    assert est.path == path and est.card["config_name"] == "small" and est.card["data"]["items"] >= 10_000
    t = np.arange(44100 * 2) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-2 * t)).astype(np.float32)
    presets = est.presets(tone, Probe(note=57), n=2, f0=220.0)
    assert len(presets) == 2 and all(check_vital_json(json.loads(p.to_json())) == [] for p in presets)
