"""`synthmatch bench run` end to end on a tiny suite, its config and registries, and the report statistics."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re

import numpy as np
import pytest
import soundfile as sf

from synthmatch.bench import BenchConfig, bootstrap_ci, run_benchmark
from synthmatch.errors import SynthmatchError
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
    config = BenchConfig(
        suites=("id-hand", "ood"),
        methods=("match", "init", "knn", "random"),
        budget=4,
        hand_dir=str(hand),
        ood_dir=str(ood),
        library=str(tiny_lib),
        workers=2,
        engine_speed_presets=1,
    )
    report = run_benchmark(config, out=out)
    assert (out / "report.md").exists() and (out / "report.json").exists()
    assert list(out.glob("spectrogram_id-hand_*.png"))
    # the machine the seconds per match come from, in the report and in the scores file
    machine = report["meta"]["machine"]
    assert machine["usable_cores"] >= 1 and isinstance(machine["cpu_model"], str)
    assert json.loads((out / "scores_id-hand.json").read_text())["machine"] == machine
    # the engine's speed before the suites and after each: a slow machine is told from slow code
    speeds = report["meta"]["engine_speed"]
    assert len(speeds) == 3 and all(s["renders_per_s"] > 0 and s["presets"] == 1 for s in speeds)
    assert json.loads((out / "scores_ood.json").read_text())["engine_speed"] == speeds[1:]
    assert '"engine_speed"' in (out / "report.md").read_text()
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
    # match against each baseline, with the acceptance target where one is declared
    ratios = hand_s["match_ratios"]
    assert set(ratios) == {"init", "knn", "random"} and ratios["knn"]["n"] == 2
    assert "| knn | " in md and "≤ 0.7 (" in md

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

    def rerun(budget: int) -> dict:
        return run_benchmark(
            BenchConfig(
                suites=("id-hand",),
                methods=("match",),
                budget=budget,
                hand_dir=str(hand),
                library=str(tiny_lib),
                workers=2,
                engine_speed_presets=0,
            ),
            out=out,
        )

    again = rerun(4)
    assert again["suites"][0]["metrics"]["match"]["mss_mel"] == hand_s["metrics"]["match"]["mss_mel"]
    with pytest.raises(AssertionError, match="reused"):  # another budget is another setting
        rerun(5)

    # A change to the analysis re-runs exactly the items whose probe or f0 it moves.
    import synthmatch.audio.analysis as analysis
    import synthmatch.bench.run as bench_run

    monkeypatch.undo()
    real_inputs, real_match, matched = bench_run.analysis_inputs, Matcher.match, []

    def counting_match(self, audio, **kw):
        matched.append(1)
        return real_match(self, audio, **kw)

    monkeypatch.setattr(Matcher, "match", counting_match)
    monkeypatch.setattr(
        bench_run, "analysis_inputs", lambda it: "moved" if it.name == "a" else real_inputs(it)
    )
    rerun(4)
    lines = log.read_text().splitlines()
    assert len(matched) == 1 and len(lines) == 2 + 1 + 1  # the cut line stays apart from the new one
    assert json.loads(lines[-1])["inputs"] == "moved"

    # Lines written before lines carried their inputs are reused (and upgraded) under the analysis
    # revision they name, and re-run under another.
    monkeypatch.setattr(bench_run, "analysis_inputs", real_inputs)
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")]
    legacy = json.loads(json.dumps(rows[-1]))
    del legacy["inputs"]
    legacy["key"] = json.dumps(
        {**json.loads(legacy["key"]), "analysis": analysis.ANALYSIS_REVISION}, sort_keys=True
    )
    log.write_text(json.dumps(legacy) + "\n")
    matched.clear()
    rerun(4)
    upgraded = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(matched) == 1  # item "b" had no line
    assert [r["item"] for r in upgraded] == ["a", "a", "b"] and upgraded[1]["inputs"] == rows[0]["inputs"]
    log.write_text(json.dumps(legacy) + "\n")
    monkeypatch.setattr(analysis, "ANALYSIS_REVISION", analysis.ANALYSIS_REVISION + 1)
    matched.clear()
    rerun(4)
    assert len(matched) == 2


def test_pitch_truth_is_the_lowest_audible_oscillator_of_a_single_pitch():
    from synthmatch.bench.truth import pitch_truth
    from synthmatch.vital.modulation import Modulation

    init = Preset.init()
    assert pitch_truth(init, 60) == (60, "ok")
    assert pitch_truth(init.with_values(osc_1_transpose=-12), 48) == (36, "ok")
    # an octave stack sounds at its lower oscillator; a fifth is a chord
    octave = init.with_values(osc_2_on=1, osc_2_level=0.9, osc_2_transpose=-12)
    assert pitch_truth(octave, 60) == (48, "ok")
    assert pitch_truth(octave.with_values(osc_2_transpose=7), 60) == (None, "chord")
    # a much quieter lower octave makes the octave a matter of taste; an inaudible one is ignored
    assert pitch_truth(octave.with_values(osc_2_level=0.3), 60)[1] == "octave ambiguous"
    assert pitch_truth(octave.with_values(osc_2_level=0.1), 60) == (60, "ok")
    assert pitch_truth(init.with_values(osc_1_midi_track=0), 60) == (None, "not keyboard-tracked")
    assert pitch_truth(init.with_values(sample_on=1, sample_level=0.7), 60) == (None, "sample")
    assert pitch_truth(init.with_values(osc_1_transpose=-48), 60) == (None, "outside C1-C8")
    wobble = init.copy()
    wobble.modulations.append(Modulation("lfo_1", "osc_1_tune", 0.3))
    assert pitch_truth(wobble, 60) == (None, "pitch modulated")
    # a silent lower octave whose level an envelope raises may be heard: no single answer
    swell = octave.with_values(osc_2_level=0.0)
    assert pitch_truth(swell, 60) == (60, "ok")
    swell.modulations.append(Modulation("env_2", "osc_2_level", 0.8))
    assert pitch_truth(swell, 60) == (None, "level modulated")
    # a level modulation that cannot change the answer keeps it
    tremolo = init.copy()
    tremolo.modulations.append(Modulation("lfo_1", "osc_1_level", 0.2))
    assert pitch_truth(tremolo, 60) == (60, "ok")
    tremolo.modulations[0].amount = 1.0  # down to silence at one corner: still one pitch when heard
    assert pitch_truth(tremolo, 60) == (60, "ok")


def test_pitch_truth_reads_unison_stacks_fm_sources_and_audio_rate_lfos():
    from synthmatch.bench.truth import pitch_truth
    from synthmatch.vital.modulation import Modulation

    init = Preset.init()
    # Center Drop 12/24 lower the centre voice (one voice included); octave stacks add voices above
    assert pitch_truth(init.with_values(osc_1_stack_style=1), 60) == (48, "ok")
    assert pitch_truth(init.with_values(osc_1_stack_style=2, osc_1_unison_voices=4), 60) == (36, "ok")
    assert pitch_truth(init.with_values(osc_1_stack_style=3, osc_1_unison_voices=4), 60) == (60, "ok")
    # chord stacks sound a fifth or a third from 3 voices up
    assert pitch_truth(init.with_values(osc_1_stack_style=5, osc_1_unison_voices=2), 60) == (60, "ok")
    assert pitch_truth(init.with_values(osc_1_stack_style=5, osc_1_unison_voices=3), 60) == (None, "chord")
    # the default detune spreads the voices ±0.4 semitone; ±2.4 is a cluster, not a note
    assert pitch_truth(init.with_values(osc_1_unison_voices=7), 60) == (60, "ok")
    wide = init.with_values(osc_1_unison_voices=7, osc_1_detune_range=12.0)
    assert pitch_truth(wide, 60) == (None, "wide unison")
    assert pitch_truth(wide.with_values(osc_1_unison_voices=1), 60) == (60, "ok")
    # an FM source that ignores the keyboard sets a pitch of its own
    fm = init.with_values(osc_1_distortion_type=7, osc_1_distortion_amount=0.5, osc_2_on=1, osc_2_level=0.0)
    assert pitch_truth(fm, 60) == (60, "ok")
    assert pitch_truth(fm.with_values(osc_2_midi_track=0), 60) == (None, "not keyboard-tracked")
    # a keytracked LFO runs at audio rate: an octave below the oscillator, it may pull the period down
    am = init.with_values(lfo_1_sync=4, lfo_1_keytrack_transpose=-12)
    am.modulations.append(Modulation("lfo_1", "osc_1_level", 0.5))
    assert pitch_truth(am, 60) == (None, "audio-rate modulation")
    assert pitch_truth(am.with_values(lfo_1_keytrack_transpose=12), 60) == (60, "ok")
    assert pitch_truth(am.with_values(lfo_1_keytrack_transpose=7), 60) == (None, "chord")
    assert pitch_truth(am.with_values(lfo_1_sync=1), 60) == (60, "ok")  # a tempo LFO is a tremolo


def test_release_audibility_renders_the_item_with_the_key_moved(render_pool):
    from synthmatch.bench import Item, release_audibility

    probe = Probe(note_seconds=0.5, render_seconds=1.0)
    init = Preset.init().with_values(osc_1_random_phase=0.0)
    pluck = init.with_values(env_1_sustain=0.0, env_1_decay=0.5)  # fades in 0.06 s, long before the key-up
    presets = [init, pluck]
    outs = render_pool.render(presets, [probe, probe])
    items = [Item(f"i{k}", o.mono, 44100, probe, p) for k, (p, o) in enumerate(zip(presets, outs))]
    items.append(Item("ood", outs[0].mono, 44100, None, None))
    assert release_audibility(items, render_pool) == [True, False, None]


def test_pitch_truth_uses_the_period_of_each_waveform():
    from synthmatch.bench.truth import pitch_truth

    init = Preset.init()
    # a frame that repeats 3 times per cycle sounds a twelfth up, 2 times an octave up
    assert pitch_truth(init, 48, {1: 3}) == (67, "ok")
    assert pitch_truth(init, 48, {1: 2}) == (60, "ok")
    assert pitch_truth(init, 48, {}) == pitch_truth(init, 48) == (48, "ok")
    # with an octave-up oscillator beside it: fundamentals 3 and 2 (in units of the note) repeat at 1
    pair = init.with_values(osc_2_on=1, osc_2_level=0.9, osc_2_transpose=12)
    assert pitch_truth(pair, 48, {1: 3}) == (48, "ok")
    assert pitch_truth(pair, 48, {1: 4}) == (60, "ok")  # 4 and 2: the octave-up one sets the period


def test_waveform_multiples_finds_frames_that_repeat_within_a_cycle(render_pool):
    from synthmatch.bench import Item, waveform_multiples
    from synthmatch.vital.wavetables import FRAME_SIZE, basic_frame, wavetable_from_frames

    t = np.arange(FRAME_SIZE) / FRAME_SIZE
    thirds = (
        np.sin(2 * np.pi * 3 * t) + 0.5 * np.sin(2 * np.pi * 9 * t) + 0.3 * np.sin(2 * np.pi * 15 * t)
    ) / 1.8
    probe = Probe(note=48, note_seconds=0.5, render_seconds=1.0)
    saw = Preset.init().with_values(osc_1_random_phase=0.0)
    saw.wavetables[0] = wavetable_from_frames(basic_frame("saw")[None])
    every_third = saw.copy()
    every_third.wavetables[0] = wavetable_from_frames(thirds[None].astype(np.float32))
    chord = saw.with_values(osc_2_on=1, osc_2_level=0.9, osc_2_transpose=7)  # no single pitch
    presets = [saw, every_third, chord]
    outs = render_pool.render(presets, [probe] * 3)
    items = [Item(f"i{k}", o.mono, 44100, probe, p) for k, (p, o) in enumerate(zip(presets, outs))]
    items.append(Item("ood", outs[0].mono, 44100, None, None))
    assert waveform_multiples(items, render_pool) == [{}, {1: 3}, None, None]


def test_id_rand_development_seed_is_reported_apart_from_the_evaluation_suite(tiny_lib, tmp_path):
    from synthmatch.bench.suites import ID_RAND_SEED, rand_suite_label

    assert rand_suite_label(ID_RAND_SEED) == "id-rand"
    report = _dev_rand_bench(tiny_lib, tmp_path / "dev", methods=["init"], n_rand=2)
    (suite,) = report["suites"]
    assert suite["suite"] == "id-rand-dev777"
    assert report["meta"]["command_settings"]["rand_seed"] == 777
    assert (tmp_path / "dev" / "attempts_id-rand-dev777_init.jsonl").exists()


def test_search_big_is_the_refiner_from_init_at_20x_the_budget(tiny_lib, render_pool):
    from synthmatch.bench import SEARCH_BIG_FACTOR, Item, make_methods, settings_key
    from synthmatch.search.match import MATCH_REVISION, REFINER_REVISION, Matcher

    t = np.arange(22050) / 44100
    item = Item("tone", (0.5 * np.sin(2 * np.pi * 220 * t) * np.exp(-3 * t)).astype(np.float32), 44100)
    with Matcher(library=str(tiny_lib), pool=render_pool) as m:
        # the old name of search-big is still accepted, and means the same method
        methods = make_methods(
            ["search-from-init", "search-big-from-init", "search-big"], matcher=m, budget=2
        )
        assert list(methods) == ["search-from-init", "search-big"]
        small, big = methods["search-from-init"](item), methods["search-big"](item)
        key = json.loads(settings_key("search-big", budget=2, matcher=m))
        match_big = json.loads(settings_key("match-big", budget=2, matcher=m))
    assert small.renders == 2 and big.renders == 2 * SEARCH_BIG_FACTOR
    assert small.probe == big.probe and big.preset is not None
    # the refiner's settings decide its result, so its revision is part of the key (no library)
    assert key["budget"] == 2 and key["revision"] == REFINER_REVISION and "library" not in key
    # the whole matcher at 20x depends on the library and the match pipeline
    assert match_big["revision"] == MATCH_REVISION and "library" in match_big
    # the two revisions move apart: a change to the match pipeline alone keeps the baselines' logs valid
    assert REFINER_REVISION < MATCH_REVISION
    assert json.loads(settings_key("match", budget=2, matcher=m))["revision"] == MATCH_REVISION


def test_match_ratios_pair_the_items_and_bracket_the_ratio_of_medians():
    from synthmatch.bench.stats import MATCH_TARGETS, match_ratios, ratio_of_medians_ci

    rng = np.random.default_rng(0)
    base = list(rng.uniform(4.0, 10.0, 60))
    mine = [0.6 * b for b in base]
    ratio, lo, hi = ratio_of_medians_ci(mine, base)
    # every item is 0.6x its pair: every resample's ratio of medians is exactly 0.6 too
    assert ratio == pytest.approx(0.6) and lo == pytest.approx(0.6) and hi == pytest.approx(0.6)
    scores = {
        "match": [{"mss_mel": x} for x in mine] + [{}],  # an item match failed to render is left out
        "knn": [{"mss_mel": b} for b in base] + [{"mss_mel": 1.0}],
        "search-big": [{"mss_mel": x} for x in [0.5 * b for b in base[:30]] + base[30:]] + [{}],
    }
    r = match_ratios(scores)
    assert set(r) == {"knn", "search-big"}
    assert r["knn"]["n"] == 60 and r["knn"]["wins"] == 60 and r["knn"]["within"] == 60
    assert r["knn"]["target"] == MATCH_TARGETS["knn"] == 0.7
    sb = r["search-big"]
    assert sb["wins"] == 30 and sb["within"] == 30 + 30  # 1.2x is within 1.25x, 0.6x is a win
    assert sb["ci"][0] <= sb["ratio"] <= sb["ci"][1]
    assert match_ratios({"knn": scores["knn"]}) == {}


def test_methods_that_do_not_sample_need_no_training_presets(tmp_path, monkeypatch):
    from synthmatch.bench import Item, make_methods

    monkeypatch.setenv("SYNTHMATCH_TRAIN_PRESETS", str(tmp_path / "missing"))
    # a machine with only the test split (a device or cluster node) can still run the other methods
    methods = make_methods(["init", "random"], matcher=None, budget=2)
    t = np.arange(4410) / 44100
    item = Item("tone", (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 44100)
    assert methods["init"](item).renders == 0
    with pytest.raises(SynthmatchError, match="missing"):
        methods["random"](item)  # the sampler is made, and fails, only where it is used


def test_bench_config_checks_its_fields_and_round_trips_through_a_dict():
    from synthmatch.search.match import DEFAULT_BUDGET

    config = BenchConfig(
        suites=["id-hand"],
        methods=["match", "search-big-from-init", "match"],
        shard=[1, 4],
        hand_dir=pathlib.Path("presets"),
    )
    # lists become tuples, old method names the current ones, paths strings
    assert config.suites == ("id-hand",) and config.methods == ("match", "search-big")
    assert config.shard == (1, 4) and config.hand_dir == "presets"
    assert config.budget == DEFAULT_BUDGET == BenchConfig().budget  # the matcher's default budget
    as_dict = config.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict and as_dict["shard"] == [1, 4]
    assert BenchConfig.from_dict(as_dict) == config and BenchConfig.from_dict({}) == BenchConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.budget = 3  # type: ignore[misc]
    for bad, says in [
        ({"shard": (2, 2)}, "shard 2/2 is not K/N with 0 <= K < N"),
        ({"shard": (0, 0)}, "shard 0/0 is not K/N"),
        ({"budget": 0}, "budget=0 must be at least 1"),
        ({"n_rand": 0}, "n_rand=0 must be at least 1"),
        ({"n_hand": 0}, "n_hand=0 must be at least 1"),
        ({"workers": 0}, "workers=0 must be at least 1"),
        ({"parallel_items": 0}, "parallel_items=0 must be at least 1"),
        ({"engine_speed_presets": -1}, "engine_speed_presets=-1 must be at least 0"),
        ({"suites": ("id-hand", "nope")}, "unknown suite 'nope'; choose from id-rand, id-hand, ood, stress"),
        ({"methods": ("match", "nope")}, "unknown methods ['nope']"),
        ({"methods": "match"}, "must be a list of names"),
        ({"methods": ()}, "a benchmark needs suites and methods"),
        ({"suites": ("ood",)}, "the ood suite needs --ood-dir"),
    ]:
        with pytest.raises(SynthmatchError, match=re.escape(says)):
            BenchConfig(**bad)
    with pytest.raises(SynthmatchError, match="unknown benchmark settings"):
        BenchConfig.from_dict({"budgets": 3})


def test_a_suite_and_a_method_registered_in_a_test_run_from_the_command_line(tiny_lib, tmp_path, capsys):
    from synthmatch.bench import METHODS, SUITES, Attempt, Item, register_method, register_suite
    from synthmatch.cli import main
    from synthmatch.render.probe import DEFAULT_PROBE

    @register_suite("test-tone", description="one sine")
    def tone(config, pool):
        t = np.arange(DEFAULT_PROBE.n_samples) / DEFAULT_PROBE.sample_rate
        audio = (0.3 * np.sin(2 * np.pi * 220.0 * t) * np.exp(-2.0 * t)).astype(np.float32)
        return "test-tone", [Item("tone", audio, DEFAULT_PROBE.sample_rate)]

    @register_method("test-const", description="the init preset, whatever the target")
    def const(context):
        return lambda item: Attempt(Preset.init(), DEFAULT_PROBE, 0, 0.0)

    out = tmp_path / "report"
    argv = ["bench", "run", "--suites", "test-tone", "--methods", "test-const,init", "--out", str(out)]
    argv += ["--library", str(tiny_lib), "--workers", "2", "--engine-speed-presets", "0"]
    try:
        assert main(argv) == 0
    finally:
        del METHODS["test-const"], SUITES["test-tone"]
    scores = json.loads((out / "scores_test-tone.json").read_text())
    assert list(scores["scores"]) == ["test-const", "init"] and scores["items"] == ["tone"]
    assert np.isfinite(scores["scores"]["test-const"][0]["mss_mel"])
    # a method that declares nothing but its name is keyed by its name, version and space alone
    assert set(json.loads(scores["keys"]["test-const"])) == {"method", "version", "spec"}
    assert "| test-const |" in (out / "report.md").read_text()
    # once unregistered, the name is a usage error before any work
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "argument --suites: unknown suites test-tone; choose from id-rand, id-hand" in err


def _dev_rand_bench(lib, out, *, methods, n_rand, budget=4, **kw):
    """A run of a tiny development id-rand suite (seed 777) on the tiny library, 2 workers."""
    config = BenchConfig(
        suites=("id-rand",),
        methods=tuple(methods),
        budget=budget,
        n_rand=n_rand,
        rand_seed=777,
        library=str(lib),
        workers=2,
        engine_speed_presets=0,
        **kw,
    )
    return run_benchmark(config, out=out)


def test_shards_split_a_suite_and_their_logs_make_the_whole_run(tiny_lib, tmp_path):
    def bench(out, shard=None):
        return _dev_rand_bench(tiny_lib, tmp_path / out, methods=["init"], n_rand=3, shard=shard)

    log = "attempts_id-rand-dev777_init.jsonl"
    items = []
    for k in range(2):
        report = bench(f"s{k}", (k, 2))
        assert report["meta"]["command_settings"]["shard"] == [k, 2]
        items.append(
            [json.loads(line)["item"] for line in (tmp_path / f"s{k}" / log).read_text().splitlines()]
        )
    assert items == [["id-rand-0000", "id-rand-0002"], ["id-rand-0001"]]
    (tmp_path / "all").mkdir()
    merged = (tmp_path / "s0" / log).read_text() + (tmp_path / "s1" / log).read_text()
    (tmp_path / "all" / log).write_text(merged)
    (suite,) = bench("all")["suites"]
    assert (tmp_path / "all" / log).read_text() == merged  # every item came from the shards' logs
    assert suite["n_items"] == 3 and suite["metrics"]["init"]["n_scored"] == 3
    with pytest.raises(SynthmatchError, match="shard 2/2"):
        bench("bad", (2, 2))

    # The shards' scores alone (no logs, no renders) make the same report as the whole run.
    from synthmatch.bench import merge_scores

    merged_report = merge_scores(
        [tmp_path / "s0", tmp_path / "s1" / "scores_id-rand-dev777.json"], tmp_path / "m"
    )
    (joined,) = merged_report["suites"]
    # both shards ran here: one machine, the one each shard's scores file names
    shard_machine = json.loads((tmp_path / "s0" / "scores_id-rand-dev777.json").read_text())["machine"]
    assert merged_report["meta"]["machines"] == [shard_machine]
    assert joined["suite"] == "id-rand-dev777" and joined["n_items"] == 3
    assert joined["metrics"] == suite["metrics"] and joined["analysis"] == suite["analysis"]
    assert (tmp_path / "m" / "report.md").read_text().startswith("# synthmatch benchmark report")
    # scores made with other settings are not mixed
    other = json.loads((tmp_path / "s1" / "scores_id-rand-dev777.json").read_text())
    other["keys"]["init"] = "another revision"
    (tmp_path / "s1" / "scores_id-rand-dev777.json").write_text(json.dumps(other))
    with pytest.raises(SynthmatchError, match="other settings"):
        merge_scores([tmp_path / "s0", tmp_path / "s1"], tmp_path / "m2")
    (tmp_path / "junk.json").write_text("[1, 2]")
    with pytest.raises(SynthmatchError, match="not a scores file"):
        merge_scores([tmp_path / "junk.json"], tmp_path / "m3")
    with pytest.raises(SynthmatchError, match="no scores_"):
        merge_scores([tmp_path / "m3"], tmp_path / "m4")


@pytest.mark.ray
def test_a_bench_run_on_ray_gives_the_same_attempts_as_the_process_pool(tiny_lib, tmp_path):
    pytest.importorskip(
        "ray", reason="ray is not installed (pip install 'synthmatch[ray]'); the Ray backend is untested"
    )

    def bench(out, ray_address=None):
        # match makes full renders (the re-rank) and variant renders (CMA-ES)
        _dev_rand_bench(
            tiny_lib, tmp_path / out, methods=["match"], n_rand=2, budget=6, ray_address=ray_address
        )
        return [json.loads(line) for line in (tmp_path / out / "attempts_id-rand-dev777_match.jsonl").open()]

    here, ray = bench("pool"), bench("ray", "local")
    assert [a["item"] for a in here] == [a["item"] for a in ray] == ["id-rand-0000", "id-rand-0001"]
    assert [a["preset"] for a in here] == [a["preset"] for a in ray]  # the same searches
    meta = json.loads((tmp_path / "ray" / "report.json").read_text())["meta"]
    assert meta["command_settings"]["ray_address"] == "local"


def test_search_throughput_compares_where_the_objective_is_computed(tmp_path):
    from synthmatch.bench.throughput import measure_search

    sr = 44100
    t = np.arange(int(0.6 * sr)) / sr
    tone = 0.3 * np.sin(2 * np.pi * 220.0 * t) * np.exp(-3.0 * t)
    sf.write(tmp_path / "tone.wav", tone.astype(np.float32), sr)
    for whole_match in (False, True):  # CMA-ES from init; the default match on the bundled library
        rep = measure_search(
            tmp_path / "tone.wav", workers=(1,), renders=6, rounds=1, whole_match=whole_match
        )
        assert set(rep.rate) == {"1 workers, scored here", "1 workers, scored in the workers"}
        assert all(r > 0 for r in rep.rate.values()) and all(ms > 0 for ms in rep.parent_cpu_ms.values())
        assert all(s > 0 for s in rep.seconds.values())
        assert rep.same_results  # the same search either way: only where the CPU time goes changes
        assert "same scores in both modes: yes" in rep.format()
        assert rep.what == ("match" if whole_match else "refiner")
        assert rep.format().startswith("machine: ") and rep.to_dict()["machine"]["usable_cores"] >= 1
    # how a match runs its starts: one after the other or side by side, with the same results
    rep = measure_search(
        tmp_path / "tone.wav", workers=(2,), renders=24, rounds=1, whole_match=True, compare="starts"
    )
    assert list(rep.seconds) == ["2 workers, starts one after the other", "2 workers, starts side by side"]
    assert rep.same_results and rep.compare == "starts"
    assert "2 workers, starts side by side / 2 workers, starts one after the other: " in rep.format()
    with pytest.raises(SynthmatchError, match="--match"):
        measure_search(tmp_path / "tone.wav", workers=(1,), renders=6, rounds=1, compare="starts")


def test_a_render_throughput_report_names_its_machine():
    from synthmatch.bench.throughput import ThroughputReport

    rep = ThroughputReport(
        n_presets=4,
        rounds=1,
        probe={},
        plain_renders_per_s=4.0,
        pool={1: 3.0},
        overhead_per_core={1: 0.25},
        failures=0,
        machine={"cpu_model": "AMD EPYC 7B13", "usable_cores": 2, "cpus": 2, "platform": "Linux"},
    )
    first, *rest = rep.format().splitlines()
    assert first == "machine: AMD EPYC 7B13, 2 cores usable of 2, Linux"
    assert "overhead per core vs plain: +25.0%" in rest[2]
    assert rep.to_dict()["machine"]["cpu_model"] == "AMD EPYC 7B13"


def test_the_cpu_model_is_read_from_cpuinfo_and_named_in_printed_reports(tmp_path):
    from synthmatch.bench.machine import cpu_model, describe, machine_info

    x86 = tmp_path / "x86"
    x86.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\n"
    )
    assert cpu_model(x86) == "AMD EPYC 7B13"
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nProcessor\t: ARMv7 Processor rev 4 (v7l)\n")
    assert cpu_model(arm) == "ARMv7 Processor rev 4 (v7l)"
    info = machine_info()
    assert set(info) == {"platform", "cpu_model", "cpus", "usable_cores", "python"}
    assert 1 <= info["usable_cores"] <= (info["cpus"] or info["usable_cores"])
    line = describe({**info, "cpu_model": "AMD EPYC 7B13"})
    assert line.startswith("machine: AMD EPYC 7B13, ") and f"{info['usable_cores']} cores usable" in line
    assert describe({**info, "cpu_model": ""}).startswith("machine: unknown CPU, ")


def test_merge_joins_methods_run_separately_on_the_same_items(tmp_path):
    from synthmatch.bench import merge_scores

    def record(name, note):
        return {
            "item": name,
            "true_note": 60,
            "detected_note": note,
            "true_note_s": None,
            "detected_note_s": None,
        }

    def write(folder, items, scores, keys, analysis_note):
        (tmp_path / folder).mkdir()
        data = {
            "suite": "id-hand",
            "items": items,
            "scores": {m: [{"mss_mel": v} for v in vals] for m, vals in scores.items()},
            "keys": keys,
            "cost": {m: [[10, 1.0]] * len(items) for m in scores},
            "analysis": [record(n, analysis_note) for n in items],
        }
        (tmp_path / folder / "scores_id-hand.json").write_text(json.dumps(data))

    # a finished run of match and knn on a, b, c; search-from-init run later on b, c and d
    write(
        "run",
        ["a", "b", "c"],
        {"match": [1.0, 2.0, 3.0], "knn": [4.0, 4.0, 4.0]},
        {"match": "k1", "knn": "k2"},
        60,
    )
    write("later", ["b", "c", "d"], {"search-from-init": [4.0, 5.0, 9.0]}, {"search-from-init": "k3"}, None)
    report = merge_scores([tmp_path / "later", tmp_path / "run"], tmp_path / "m")
    (suite,) = report["suites"]
    assert suite["n_items"] == 4
    merged = json.loads((tmp_path / "m" / "scores_id-hand.json").read_text())
    assert merged["items"] == ["a", "b", "c", "d"]
    assert merged["keys"] == {"match": "k1", "knn": "k2", "search-from-init": "k3"}
    assert [r.get("mss_mel") for r in merged["scores"]["search-from-init"]] == [None, 4.0, 5.0, 9.0]
    assert [r.get("mss_mel") for r in merged["scores"]["match"]] == [1.0, 2.0, 3.0, None]
    # the analysis record of an item comes from the match where one ran, whatever the file order
    assert [a["detected_note"] for a in merged["analysis"]] == [60, 60, 60, None]
    assert suite["metrics"]["search-from-init"]["n_scored"] == 3
    assert suite["metrics"]["search-from-init"]["renders_per_match"] == 10
    assert "id-hand: match ran on 3 of the 4 items" in report["meta"]["notes"]
    # match against search-from-init is paired on b and c only: medians 2.5 / 4.5
    r = suite["match_ratios"]["search-from-init"]
    assert r["n"] == 2 and r["wins"] == 2 and r["ratio"] == pytest.approx(2.5 / 4.5)
    # a method scored differently for one item in two files is refused, as are other settings
    write("clash", ["c"], {"match": [3.5]}, {"match": "k1"}, 60)
    with pytest.raises(SynthmatchError, match="different 'match' scores"):
        merge_scores([tmp_path / "run", tmp_path / "clash"], tmp_path / "m2")
    write("other", ["d"], {"match": [3.0]}, {"match": "another revision"}, 60)
    with pytest.raises(SynthmatchError, match="other settings"):
        merge_scores([tmp_path / "run", tmp_path / "other"], tmp_path / "m3")


def test_knn_train_retrieves_from_the_library_it_is_given(tiny_lib, tmp_path):
    report = _dev_rand_bench(
        tiny_lib, tmp_path / "kt", methods=["knn", "knn-train"], n_rand=2, train_library=str(tiny_lib)
    )
    scores = json.loads((tmp_path / "kt" / "scores_id-rand-dev777.json").read_text())
    # the same library as the matcher's: the same answers, keyed by the training library too
    assert scores["scores"]["knn"] == scores["scores"]["knn-train"]
    assert "train_library" in json.loads(scores["keys"]["knn-train"])
    assert report["suites"][0]["metrics"]["knn-train"]["n_scored"] == 2
    with pytest.raises(SynthmatchError, match="--train-library"):
        _dev_rand_bench(tiny_lib, tmp_path / "none", methods=["knn-train"], n_rand=1)
