"""Library, refiners and `match()` on a tiny library built in the test."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from synthmatch.errors import SpecMismatchError, SynthmatchError
from synthmatch.render.probe import Probe
from synthmatch.search.library import Library, build_library, compact_record, preset_from_record
from synthmatch.search.match import Matcher
from synthmatch.search.proposals import Origin
from synthmatch.search.refine import Budget, Evaluation, apply_changes, search_dims
from synthmatch.search.stages import distinct
from synthmatch.search.target import probe_for
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset, check_vital_json

LIB_PROBE = Probe(note=60, velocity=0.8, note_seconds=0.4, render_seconds=1.0)


def _tiny_presets() -> list[Preset]:
    init = Preset.init()
    out = []
    for k, cutoff in enumerate((50.0, 65.0, 80.0, 95.0, 110.0, 125.0)):
        p = init.with_values(
            osc_1_random_phase=0.0,
            filter_1_on=1,
            filter_1_cutoff=cutoff,
            env_1_decay=0.3 + 0.1 * k,
            env_1_sustain=0.2,
        )
        if k % 2:
            p.modulations = [Modulation("env_2", "filter_1_cutoff", amount=0.3)]
        out.append(p)
    return out


@pytest.fixture(scope="module")
def tiny_library(tmp_path_factory, render_pool):
    from synthmatch.audio.features import get_embedding

    lib = build_library(
        _tiny_presets(), probe=LIB_PROBE, embedding=get_embedding("handcrafted"), pool=render_pool
    )
    path = lib.save(tmp_path_factory.mktemp("lib") / "tiny")
    return path


def test_an_interrupted_library_build_resumes_from_its_checkpoint(render_pool, tmp_path):
    from synthmatch.audio.features import get_embedding

    presets = _tiny_presets()
    emb = get_embedding("handcrafted")
    log = tmp_path / "lib.progress.jsonl"
    rendered: list[int] = []

    class Counting:  # the pool, counting what each call renders
        def imap(self, items, probe, progress=None):
            rendered.append(len(items))
            return render_pool.imap(items, probe, progress=progress)

    def stop_after_3(done, total):
        if done > 3:
            raise KeyboardInterrupt

    def build(progress=None, **kw):
        return build_library(
            presets, probe=LIB_PROBE, embedding=emb, pool=Counting(), progress=progress, checkpoint=log, **kw
        )

    with pytest.raises(KeyboardInterrupt):
        build(stop_after_3)
    assert len(log.read_text().splitlines()) == 1 + 3  # a header, then one line per finished item
    with log.open("a") as fh:
        fh.write('{"i": 5, "embe')  # a line cut short by a kill
    seen = []
    lib = build(lambda done, total: seen.append((done, total)))
    assert rendered == [len(presets), len(presets) - 3]  # the second run rendered the rest only
    assert seen[0] == (4, len(presets)) and seen[-1] == (len(presets), len(presets))
    whole = build_library(presets, probe=LIB_PROBE, embedding=emb, pool=render_pool)
    np.testing.assert_array_equal(lib.embeddings, whole.embeddings)  # the same library
    assert lib.records == whole.records
    with pytest.raises(SynthmatchError, match="logs another library build"):
        build(provenance={"source": "another sampler"})


def test_saving_a_library_never_replaces_a_folder_that_is_not_one(tiny_library, tmp_path):
    lib = Library.load(tiny_library)
    mine = tmp_path / "my_sounds"
    mine.mkdir()
    (mine / "kick.wav").write_bytes(b"keep me")
    with pytest.raises(SynthmatchError, match="is not a synthmatch library"):
        lib.save(mine)
    assert (mine / "kick.wav").read_bytes() == b"keep me"
    lib.save(tmp_path / "lib")
    lib.save(tmp_path / "lib")  # an existing library is replaced
    assert len(Library.load(tmp_path / "lib")) == len(lib)


def test_compact_record_round_trip():
    p = _tiny_presets()[1]
    assets: dict = {}
    q = preset_from_record(compact_record(p, assets), assets)
    assert q.values == p.values
    assert [(m.source, m.destination, m.amount) for m in q.modulations] == [("env_2", "filter_1_cutoff", 0.3)]
    assert q.to_vital()["settings"]["wavetables"] == p.to_vital()["settings"]["wavetables"]


def test_library_save_load_and_mismatch(tiny_library, tmp_path):
    lib = Library.load(tiny_library)
    assert len(lib) == 6 and lib.embeddings.shape[0] == 6
    idx, dist = lib.search(lib.embeddings[3], 2)
    assert idx[0] == 3 and dist[0] == pytest.approx(0.0, abs=1e-6)
    meta = json.loads((tiny_library / "library.json").read_text())
    meta["spec_hash"] = "0000"
    bad = tmp_path / "bad"
    lib.save(bad)
    (bad / "library.json").write_text(json.dumps(meta))
    with pytest.raises(SpecMismatchError, match="rebuild the library"):
        Library.load(bad)
    with pytest.raises(SynthmatchError, match="not a synthmatch library"):
        Library.load(tmp_path)


def test_search_dims_are_active_and_ranked():
    p = _tiny_presets()[1]
    dims = search_dims(p)
    names = [d.control for d in dims]
    assert "filter_1_cutoff" in names and "modulation_1_amount" in names
    assert "osc_2_level" not in names  # osc 2 is off
    assert "volume" not in names  # fixed prior
    weights = [d.weight for d in dims]
    assert weights == sorted(weights, reverse=True)
    q = apply_changes(p, {"modulation_1_amount": -0.5, "filter_1_cutoff": 70.0})
    assert q.modulations[0].amount == -0.5 and q.values["filter_1_cutoff"] == 70.0


def test_distinct_drops_near_duplicates():
    p = _tiny_presets()[0]
    evals = [
        Evaluation(p, 1.0, None),
        Evaluation(p.copy(), 1.001, None),
        Evaluation(_tiny_presets()[4], 2.0, None),
    ]
    chosen = distinct(evals, 3)
    assert [e.score for e in chosen] == [1.0, 2.0]


def test_distinct_by_lineage_offers_other_starts_first():
    a, b, c = _tiny_presets()[0], _tiny_presets()[2], _tiny_presets()[4]
    evals = [
        Evaluation(a, 1.0, None, Origin("library", 3, ("tuned -11c", "pruned"), "cmaes")),
        Evaluation(b, 1.1, None, Origin("library", 3, refiner="cmaes")),  # distinct parameters, same start
        Evaluation(c, 2.5, None, Origin("library", 7, refiner="cmaes")),
        Evaluation(a.copy(), 0.5, None, Origin()),
    ]
    assert str(evals[0].origin) == "library #3 tuned -11c pruned + cmaes"
    assert evals[0].origin.lineage == evals[1].origin.lineage == ("library", 3)
    assert Origin().lineage == "search" and str(Origin()) == "search"
    # by parameters alone the same search fills the list; by lineage another start comes in,
    # the best stays first, and near-duplicates stay out either way
    assert [e.score for e in distinct(evals, 2)] == [0.5, 1.1]
    assert [e.score for e in distinct(evals, 3)] == [0.5, 1.1, 2.5]
    assert [e.score for e in distinct(evals, 3, by_lineage=True)] == [0.5, 1.1, 2.5]
    evals[3] = Evaluation(a.copy(), 0.5, None, Origin("library", 3, refiner="cmaes"))
    # another start far worse than the best (5x) is not offered ahead of the same search's
    assert [e.score for e in distinct(evals, 2, by_lineage=True)] == [0.5, 1.1]
    assert [e.score for e in distinct(evals, 2, by_lineage=True, lineage_within=5.0)] == [0.5, 2.5]
    assert [e.score for e in distinct(evals, 4, by_lineage=True)] == [0.5, 1.1, 2.5]
    evals[2] = Evaluation(c, 0.9, None, Origin("library", 7, refiner="cmaes"))  # within 2x: second
    assert [e.score for e in distinct(evals, 2, by_lineage=True)] == [0.5, 0.9]


def test_budget_children_share_the_count():
    b = Budget(max_renders=10)
    c = b.sub(4)
    assert c.remaining() == 4
    from synthmatch.search.refine import _charge

    _charge(c, 3)
    assert b.used == 3 and c.remaining() == 1


def test_refiners_reuse_the_start_evaluation(render_pool):
    from synthmatch.metrics.audio import mss_mel
    from synthmatch.search.refine import Objective, get_refiner

    start, target_preset = _tiny_presets()[:2]
    target = render_pool.render([target_preset], LIB_PROBE)[0].mono
    obj = Objective(score=lambda y: mss_mel(target, y, 44100), pool=render_pool, probe=LIB_PROBE)
    first = obj.evaluate_presets([start], Budget(max_renders=1))[0]
    assert obj.renders == 1
    # a known start costs nothing: with no renders left, the start itself comes back
    for name in ("none", "cmaes"):
        assert get_refiner(name).refine(start, obj, Budget(max_renders=0), start_eval=first) is first
    assert obj.renders == 1
    # every render of the budget goes to new candidates, none to the start again
    best = get_refiner("cmaes", popsize=4).refine(start, obj, Budget(max_renders=8), start_eval=first)
    assert obj.renders == 9 and best.score <= first.score
    assert all(e.preset.to_json() != start.to_json() for e in obj.history[1:])


def test_scoring_in_the_workers_gives_the_same_search_and_shares_the_f0s(render_pool, monkeypatch):
    import importlib
    import pickle

    import synthmatch.search.scoring as scoring
    from synthmatch.search.refine import Objective, get_refiner

    sm = importlib.import_module("synthmatch.search.match")  # the package exports a match() too
    start, target_preset = _tiny_presets()[:2]
    target = render_pool.render([target_preset], LIB_PROBE)[0].mono
    runs = {}
    for in_workers in (False, True):
        score = sm.make_score(target, LIB_PROBE, target_f0=261.63)
        obj = Objective(score=score, pool=render_pool, probe=LIB_PROBE, score_in_workers=in_workers)
        assert (obj.measure is not None) == in_workers
        first = obj.evaluate_presets([start], Budget(max_renders=1))[0]
        get_refiner("cmaes", popsize=4).refine(start, obj, Budget(max_renders=8), start_eval=first)
        runs[in_workers] = (obj.history, score)
    (here, _), (there, score) = runs[False], runs[True]
    assert len(here) == len(there) == 9
    assert [e.score for e in here] == [e.score for e in there]  # bit for bit, so the same search
    assert all(math.isfinite(e.score) for e in there)
    # the workers' f0s are in this process's memo: pitch alignment measures nothing again
    calls = []
    monkeypatch.setattr(scoring, "candidate_f0", lambda audio, rate: calls.append(1))
    assert all(score.f0_of(e.audio) == pytest.approx(261.63, rel=0.03) for e in there)  # C4, ±50 c
    assert calls == []
    # a pickled copy (what a worker gets) carries no memo, which would keep every render alive
    assert pickle.loads(pickle.dumps(score)).f0_of is None
    # a plain callable is computed here
    plain = Objective(score=lambda y: 0.0, pool=render_pool, probe=LIB_PROBE)
    assert plain.measure is None
    # by default, in the workers when they fill the cores; else here, on a core they leave free
    import synthmatch.search.refine as refine

    for cores, in_workers in ((2, True), (3, False)):  # the pool has 2 workers
        monkeypatch.setattr(refine, "usable_cores", lambda cores=cores: cores)
        auto = Objective(score=score, pool=render_pool, probe=LIB_PROBE)
        assert (auto.measure is not None) == in_workers


def test_match_end_to_end(tiny_library, render_pool, tmp_path):
    target_preset = _tiny_presets()[2].with_values(filter_1_cutoff=84.0)
    probe = Probe(note=55, velocity=0.8, note_seconds=0.4, render_seconds=1.0)
    target = render_pool.render([target_preset], probe)[0].mono
    with Matcher(library=tiny_library, pool=render_pool, sources=("library",)) as m:
        res = m.match((target, 44100), budget=14, candidates=2, rerank=4, starts=1)
    assert res.probe.note == 55  # detected from the audio
    assert all(c.origin.source == "library" for c in res.candidates)  # e.g. "library #2 + cmaes"
    assert 1 <= len(res.candidates) <= 2
    assert res.renders <= 14 + 2  # budget + canonical re-renders of the finals
    best = res.best.metrics["mss_mel"]
    assert math.isfinite(best) and res.best.metrics["objective"] == min(
        c.metrics["objective"] for c in res.candidates
    )
    # refinement never returns something worse than the best re-ranked library item
    from synthmatch.metrics import mss_mel

    lib = Library.load(tiny_library)
    knn_scores = [
        mss_mel(res.target, render_pool.render([lib.preset(i)], res.probe)[0].mono, 44100)
        for i in range(len(lib))
    ]
    assert best <= min(knn_scores) + 1e-6
    from synthmatch.search.report import write_outputs

    assert res.analysis["warnings"] == []  # a clean render
    res.analysis["warnings"] = ["clipping: 3% <at> full scale"]  # as load_audio words them
    paths = write_outputs(res, tmp_path / "out", tutorial=False)
    doc = json.loads(paths["json"].read_text())
    assert doc["probe"]["note"] == 55 and doc["candidates"][0]["metrics"]["mss_mel"] == pytest.approx(best)
    assert check_vital_json(json.loads(paths["preset"].read_text())) == []
    html = paths["report"].read_text()
    assert (
        html.count("data:audio/wav;base64,") == 1 + len(res.candidates) and "data:image/png;base64," in html
    )
    assert "<li>clipping: 3% &lt;at&gt; full scale</li>" in html  # the report says what loading noticed


def test_match_cancel_returns_best_so_far(tiny_library, render_pool):
    target = render_pool.render([_tiny_presets()[0]], LIB_PROBE)[0].mono
    with Matcher(library=tiny_library, pool=render_pool) as m:
        calls = {"n": 0}

        def progress(done: int, total: int) -> None:
            calls["n"] += 1
            if done >= 6:
                raise KeyboardInterrupt

        res = m.match((target, 44100), budget=40, candidates=1, rerank=6, progress=progress)
    assert res.interrupted and res.candidates and res.renders < 40


def test_probe_for_clamps():
    class A:
        midi_note = None
        note_length_s = 10.0
        release_s = 10.0
        velocity = 2.0

    p = probe_for(A(), duration_s=0.2)
    assert (
        p.note == 60 and p.render_seconds == 1.0 and p.note_seconds < p.render_seconds and p.velocity == 1.0
    )


def test_silent_target_is_refused(tiny_library, render_pool):
    from synthmatch.errors import AudioError

    with Matcher(library=tiny_library, pool=render_pool) as m, pytest.raises(AudioError):
        m.match((np.zeros(44100, np.float32), 44100), budget=4)


def test_a_match_whose_renders_all_fail_says_why(tiny_library):
    from synthmatch.errors import SynthmatchError
    from synthmatch.render.engine import RenderOutcome

    class BrokenPool:  # what a spawn pool gives when its workers cannot import the main module
        workers = 2

        def render(self, presets, probe, measure=None):
            return [RenderOutcome("error", reason="worker failed: BrokenProcessPool('terminated')")] * len(
                presets
            )

    tone = 0.5 * np.sin(2 * np.pi * 220.0 * np.arange(22050) / 44100).astype(np.float32)
    with Matcher(library=tiny_library, pool=BrokenPool()) as m, pytest.raises(SynthmatchError) as err:
        m.match((tone, 44100), budget=8)
    text = str(err.value)
    assert "renders failed" in text and "BrokenProcessPool" in text and "__main__" in text


def test_pitch_aligned_retunes_candidates_onto_the_target():
    from synthmatch.search.stages import ALIGN_MIN_CENTS, pitch_aligned

    sr = 44100
    t = np.arange(int(0.5 * sr)) / sr

    def tone(hz: float) -> np.ndarray:
        return (0.3 * sum(np.sin(2 * np.pi * h * hz * t) / h for h in range(1, 8))).astype(np.float32)

    target = 220.0
    base = Preset.init()
    evals = [
        Evaluation(base, 1.0, tone(440.0), Origin("octave up")),
        Evaluation(base, 1.0, tone(target * 2 ** (-3 / 12)), Origin("minor third down")),
        Evaluation(base, 1.0, tone(target * 2 ** (0.45 / 12)), Origin("between notes")),
        Evaluation(base, 1.0, tone(target * 2 ** (-0.8 / 12)), Origin("80 cents flat")),
        Evaluation(base, 1.0, tone(target * 2 ** (0.02 / 12)), Origin("in tune")),
        Evaluation(base, 1.0, None, Origin("failed render")),
        Evaluation(base.with_values(voice_transpose=40.0), 1.0, tone(110.0), Origin("would leave the range")),
        Evaluation(
            base.with_values(voice_transpose=-5.0, voice_tune=0.3),
            1.0,
            tone(target * 2 ** (0.2 / 12)),
            Origin("tuned"),
        ),
    ]
    assert ALIGN_MIN_CENTS > 2
    out = {
        str(p.origin): (p.preset.values["voice_transpose"], p.preset.values["voice_tune"])
        for p in pitch_aligned(evals, target, sr)
    }
    assert set(out) == {
        "octave up transposed -12",
        "minor third down transposed +3",
        "between notes tuned -45c",
        "80 cents flat transposed +1 tuned -20c",
        "tuned tuned +10c",
    }
    expected = {  # (voice_transpose, voice_tune) in semitones
        "octave up transposed -12": (-12.0, 0.0),
        "minor third down transposed +3": (3.0, 0.0),
        "between notes tuned -45c": (0.0, -0.45),
        "80 cents flat transposed +1 tuned -20c": (1.0, -0.2),
        "tuned tuned +10c": (-5.0, 0.1),
    }
    for origin, (vt, tune) in expected.items():
        assert out[origin][0] == vt
        assert out[origin][1] == pytest.approx(tune, abs=0.02)  # YIN measures to about a cent
    assert base.values.get("voice_transpose", 0.0) == 0.0  # candidates are copied, not changed


def test_an_in_tune_candidate_takes_the_last_start_when_no_start_is_in_tune():
    from synthmatch.search.stages import IN_TUNE_CENTS, with_an_in_tune_start

    sr = 44100
    t = np.arange(int(0.5 * sr)) / sr
    rng = np.random.default_rng(0)

    def tone(hz: float) -> np.ndarray:
        return (0.3 * sum(np.sin(2 * np.pi * h * hz * t) / h for h in range(1, 8))).astype(np.float32)

    target = 261.6
    base = Preset.init()
    noise = Evaluation(base, 2.0, (0.1 * rng.standard_normal(len(t))).astype(np.float32), Origin("noise"))
    low = Evaluation(base, 2.5, tone(target / 2 ** (8.5 / 12)), Origin("8.5 semitones low"))
    sharp = Evaluation(base, 3.0, tone(target * 2 ** (0.8 / 12)), Origin("80 cents sharp"))
    in_tune = Evaluation(base, 9.0, tone(target * 2 ** (0.2 / 12)), Origin("20 cents sharp"))
    worse_in_tune = Evaluation(base, 9.5, tone(target), Origin("in tune"))
    evals = [noise, low, sharp, in_tune, worse_in_tune, Evaluation(base, math.inf, None, Origin("failed"))]
    assert 20 < IN_TUNE_CENTS < 80

    out = with_an_in_tune_start([noise, low], evals, target, sr)
    assert [str(e.origin) for e in out] == ["noise", "20 cents sharp"]  # the best in-tune one
    assert [str(e.origin) for e in with_an_in_tune_start([noise, in_tune], evals, target, sr)] == [
        "noise",
        "20 cents sharp",
    ]  # one start in tune already: unchanged
    assert with_an_in_tune_start([noise, low], [noise, low, sharp], target, sr) == [
        noise,
        low,
    ]  # none in tune


def test_pitch_memo_measures_each_render_once(monkeypatch):

    import synthmatch.search.scoring as sm
    from synthmatch.search.stages import with_an_in_tune_start

    sr = 44100
    t = np.arange(int(0.5 * sr)) / sr
    a = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    b = a.copy()  # same content, another render
    calls = []
    real = sm.candidate_f0
    monkeypatch.setattr(sm, "candidate_f0", lambda audio, rate: calls.append(id(audio)) or real(audio, rate))
    memo = sm.PitchMemo(sr)
    assert memo(a) == pytest.approx(220.0, rel=0.002)
    assert memo(a) == memo(a) and memo(b) == memo(a)
    assert calls == [id(a), id(b)]  # once per array, whatever the number of questions
    # the objective's pitch term and the helpers share one memo
    probe = Probe(note=57, velocity=0.8, note_seconds=0.4, render_seconds=0.5)
    score = sm.make_score(a, probe, target_f0=220.0, f0_of=memo)
    calls.clear()
    score(a)
    with_an_in_tune_start([Evaluation(Preset.init(), 1.0, a, Origin("a"))], [], 220.0, sr, f0_of=memo)
    assert calls == []


def test_match_reports_the_trimmed_lead_so_the_release_maps_back_to_the_clip(tiny_library, render_pool):
    from synthmatch.audio.analysis import analyze

    sr = 44100
    lead, held = 0.3, 0.8
    t = np.arange(int(held * sr)) / sr
    tail = np.arange(int(0.6 * sr)) / sr  # an exponential release: -70 dB after 0.6 s
    tone = 0.3 * np.sin(2 * np.pi * 220.0 * t)
    fade = 0.3 * np.sin(2 * np.pi * 220.0 * (held + tail)) * 10.0 ** (-70.0 * tail / 0.6 / 20.0)
    clip = np.concatenate([np.zeros(int(lead * sr)), tone, fade, np.zeros(int(0.3 * sr))]).astype(np.float32)
    with Matcher(library=tiny_library, pool=render_pool) as m:
        res = m.match((clip, sr), budget=4)
    trimmed = res.analysis["trimmed_start_s"]
    assert trimmed == pytest.approx(lead, abs=0.01)  # the silent lead, less the loader's 5 ms pre-roll
    # in the clip's own time, the matcher's release is where the analysis of the whole clip puts it
    whole = analyze(clip, sr).release_s
    assert whole == pytest.approx(lead + held, abs=0.1)
    assert res.analysis["release_s"] + trimmed == pytest.approx(whole, abs=0.02)


class _ScoredSwitches:
    """An objective whose score is a sum of what each module's switch costs, with no renders."""

    def __init__(self, cost_when_off: dict[str, float]):
        self.cost_when_off = cost_when_off
        self.origin = Origin()
        self.tried: list[dict[str, float]] = []

    def evaluate_variants(self, base, changes, budget):
        from synthmatch.search.refine import _charge, apply_changes

        _charge(budget, len(changes))
        self.tried += changes
        out = []
        for c in changes:
            p = apply_changes(base, c)
            score = 5.0 + sum(v for k, v in self.cost_when_off.items() if p.values[k] < 0.5)
            out.append(Evaluation(p, score, None, self.origin))
        return out


def test_pruning_switches_off_the_modules_that_cost_the_match():
    from synthmatch.search.stages import PRUNE_RESERVE, prune_modules

    start = Preset.init().with_values(osc_2_on=1, reverb_on=1, delay_on=1, chorus_on=1, flanger_on=1)
    assert start.values["osc_1_on"] == 1
    ev = Evaluation(start, 5.0, None, Origin("library", 7))
    costs = {"reverb_on": -1.0, "delay_on": -0.5, "osc_2_on": 0.7, "chorus_on": 0.1, "flanger_on": -0.1}
    obj = _ScoredSwitches(costs)  # flanger off gains 2%: less than PRUNE_MIN_GAIN, so it stays on
    best = prune_modules(ev, obj, Budget(max_renders=PRUNE_RESERVE + 10))
    tried = [next(iter(c)) for c in obj.tried[:-1]]
    assert sorted(tried) == ["chorus_on", "delay_on", "flanger_on", "osc_1_on", "osc_2_on", "reverb_on"]
    assert obj.tried[-1] == {"reverb_on": 0.0, "delay_on": 0.0}  # the two that helped, together
    assert best.score == 3.5 and str(best.origin) == "library #7 pruned"
    assert all(best.preset.values[k] == 1 for k in ("osc_2_on", "chorus_on", "flanger_on"))
    assert obj.origin == Origin()  # the refiner's label is left as it was

    # a lone source is never switched off, and nothing is tried when the budget cannot pay for it
    lone = Evaluation(Preset.init().with_values(reverb_on=1), 5.0, None, Origin("library", 8))
    obj = _ScoredSwitches({"osc_1_on": -4.0, "reverb_on": 0.2})
    assert prune_modules(lone, obj, Budget(max_renders=PRUNE_RESERVE + 1)) is lone
    assert obj.tried == [{"reverb_on": 0.0}]
    obj = _ScoredSwitches({"reverb_on": -1.0})
    assert prune_modules(lone, obj, Budget(max_renders=PRUNE_RESERVE)) is lone and obj.tried == []
    assert prune_modules(lone, obj, Budget(max_renders=PRUNE_RESERVE + 1)).score == 4.0
    # a start run beside others settles its share first (what it would get after them)
    settled = []
    short = Budget(max_renders=PRUNE_RESERVE)
    short.settle = lambda b: settled.append(b) or setattr(b, "max_renders", PRUNE_RESERVE + 1)
    obj = _ScoredSwitches({"reverb_on": -1.0})
    assert prune_modules(lone, obj, short).score == 4.0 and settled == [short]


def test_searches_on_threads_draw_what_they_draw_alone():
    import threading
    import time

    from synthmatch.search.refine import BudgetExhausted, CMAESRefiner, _charge, apply_changes

    class Bowl:  # a quadratic score over the searched controls, with no renders
        pool = None
        origin = Origin()

        def __init__(self):
            self.tried: list[dict[str, float]] = []

        def evaluate_variants(self, base, changes, budget):
            changes = changes[: budget.remaining()]
            if not changes:
                raise BudgetExhausted
            _charge(budget, len(changes))
            time.sleep(0.002)  # let the other thread run its CMA-ES in between
            self.tried += changes
            return [
                Evaluation(apply_changes(base, c), float(sum((v - 0.3) ** 2 for v in c.values())), None)
                for c in changes
            ]

    start = Preset.init().with_values(filter_1_on=1, env_1_decay=0.5)

    def search(seed, bowl):
        CMAESRefiner().refine(
            start, bowl, Budget(max_renders=60), seed=seed, start_eval=Evaluation(start, 9.0, None)
        )

    alone = []
    for seed in (0, 1):
        alone.append(Bowl())
        search(seed, alone[-1])
    assert alone[0].tried != alone[1].tried and len(alone[0].tried) == 60
    side = [Bowl(), Bowl()]
    threads = [threading.Thread(target=search, args=(seed, side[seed])) for seed in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert side[0].tried == alone[0].tried and side[1].tried == alone[1].tried


def test_starts_side_by_side_spend_what_they_spend_one_after_the_other():
    import time

    from synthmatch.search.refine import Objective, _charge
    from synthmatch.search.stages import refine_side_by_side

    wants = (13, 1000, 1000)  # start 0 ends early (CMA-ES converged); the others spend what they get

    def run(side: bool):
        budget = Budget(max_renders=100)
        _charge(budget, 10)  # what the re-rank spent
        spent = {}

        def refine_start(j, ev, obj, sub):
            n = 0
            while n < wants[j] and (k := sub.available(4)):
                _charge(sub, k)
                obj.history.append(Evaluation(ev.preset, float(j), None, ev.origin))
                n += k
                time.sleep(0.001)  # let the other starts run in between
            spent[j] = n

        obj = Objective(score=lambda y: 0.0, pool=None, probe=LIB_PROBE, score_in_workers=False)
        starts = [Evaluation(Preset.init(), float(j), None, Origin("library", j)) for j in range(3)]
        if side:
            refine_side_by_side(starts, refine_start, obj, budget)
        else:
            for j, ev in enumerate(starts):
                refine_start(j, ev, obj, budget.sub(budget.remaining() // (3 - j)))
        return spent, budget.used, [e.origin for e in obj.history]

    one_after_the_other = run(False)
    assert one_after_the_other[0] == {0: 16, 1: 37, 2: 37} and one_after_the_other[1] == 100
    assert run(True) == one_after_the_other  # the same shares, and the history in start order


def test_a_failing_start_stops_the_others_and_its_error_comes_back():
    import time

    from synthmatch.search.refine import BudgetExhausted, Objective, _charge, _deadline_hit
    from synthmatch.search.stages import refine_side_by_side

    spent = {}

    def refine_start(j, ev, obj, sub):
        n = 0
        try:
            while k := sub.available(2):
                if _deadline_hit(sub):
                    raise BudgetExhausted
                if j == 1 and n >= 4:
                    raise ValueError("start 1 broke")
                _charge(sub, k)
                n += k
                time.sleep(0.002)
        finally:
            spent[j] = n

    obj = Objective(score=lambda y: 0.0, pool=None, probe=LIB_PROBE, score_in_workers=False)
    starts = [Evaluation(Preset.init(), 0.0, None, Origin("library", j)) for j in range(2)]
    budget = Budget(max_renders=2000)
    with pytest.raises(ValueError, match="start 1 broke"):
        refine_side_by_side(starts, refine_start, obj, budget)
    assert budget.cancelled.is_set() and spent[1] == 4 and spent[0] < 1000


def test_match_refines_its_starts_side_by_side_with_the_same_result(tiny_library, render_pool, monkeypatch):
    import importlib

    sm = importlib.import_module("synthmatch.search.match")
    made = []

    class Recording(sm.Objective):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            made.append(self)

    monkeypatch.setattr(sm, "Objective", Recording)
    target_preset = _tiny_presets()[3].with_values(filter_1_cutoff=72.0, env_1_decay=0.62, env_1_sustain=0.5)
    target = render_pool.render([target_preset], LIB_PROBE)[0].mono
    results = {}
    with Matcher(library=tiny_library, pool=render_pool) as m:
        for side in (False, True):
            res = m.match((target, 44100), budget=30, candidates=2, rerank=4, starts=2, side_by_side=side)
            assert res.settings["side_by_side"] is side
            results[side] = res
    one, both = results[False], results[True]
    assert one.renders == both.renders and 30 <= both.renders <= 30 + len(both.candidates)
    assert [c.metrics for c in one.candidates] == [c.metrics for c in both.candidates]
    assert [c.preset.to_json() for c in one.candidates] == [c.preset.to_json() for c in both.candidates]
    # every render, in the same order: both starts were refined, with the same moves
    history = [[(e.origin, e.score) for e in obj.history] for obj in made]
    assert history[0] == history[1] and len(history[1]) == 30
    refined = {origin for origin, _ in history[1] if origin.refiner == "cmaes"}
    assert len(refined) == 2, refined


def test_finals_rendered_in_full_already_are_not_rendered_again(tiny_library, render_pool):
    target = render_pool.render([_tiny_presets()[1].with_values(env_1_decay=0.35)], LIB_PROBE)[0].mono
    with Matcher(library=tiny_library, pool=render_pool, refiner="none") as m:
        # no refinement: every final is a re-ranked library preset, rendered in full
        res = m.match((target, 44100), budget=15, candidates=2, rerank=5, align_pitch=False, prune=False)
    assert res.renders == 5 and len(res.candidates) == 2
    for c in res.candidates:
        again = render_pool.render([c.preset], res.probe)[0].mono
        assert np.array_equal(c.audio, again)  # the canonical render, bit for bit


def test_the_workers_score_the_finals_as_this_process_would(tiny_library, render_pool):
    from synthmatch.search.match import FinalScore, read_target, target_f0_of

    target_preset = _tiny_presets()[3].with_values(filter_1_cutoff=72.0, env_1_decay=0.62, env_1_sustain=0.5)
    target = render_pool.render([target_preset], LIB_PROBE)[0].mono
    with Matcher(library=tiny_library, pool=render_pool) as m:
        res = m.match((target, 44100), budget=40, candidates=3, rerank=4)
    assert res.best.metrics["objective"] >= res.best.metrics["mss_mel"]  # the pitch term is in
    _, fitted, an, probe = read_target((target, 44100), sample_rate=44100)
    here = FinalScore(fitted, 44100, probe.n_samples, target_f0_of(an))
    assert any(c.origin.refiner == "cmaes" for c in res.candidates)  # rendered again, in a worker
    for c in res.candidates:  # bit for bit what this process computes from the candidate's audio
        assert c.metrics == here(c.audio)


@pytest.mark.parametrize("moves", [True, False])
def test_a_match_spends_its_budget_with_or_without_moves(tiny_library, render_pool, moves):
    from synthmatch.search.match import Matcher

    sr = 44100
    t = np.arange(sr) / sr
    target = (0.3 * np.sin(2 * np.pi * 220.0 * t) * np.exp(-3 * t)).astype(np.float32)
    with Matcher(library=tiny_library, pool=render_pool, sources=("analysis", "library")) as m:
        res = m.match((target, sr), budget=40, candidates=1, rerank=4, moves=moves)
    assert res.settings["moves"] is moves
    assert 40 <= res.renders <= 41  # the budget, plus a final render of a variant
    assert np.isfinite(res.best.score)
