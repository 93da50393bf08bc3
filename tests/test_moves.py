"""Structural moves (search.moves) and the second round's audible controls (search.stages)."""

from __future__ import annotations

import numpy as np
import pytest

from synthmatch.search.moves import MOVES_PER_STEP, MoveContext, neighbours, structural_step
from synthmatch.search.proposals import Origin
from synthmatch.search.refine import Budget, BudgetExhausted, Evaluation
from synthmatch.search.stages import audible_controls
from synthmatch.vital.effects import EFFECTS, decode_order
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset, check_vital_json
from synthmatch.vital.wavetables import basic_frame

SAW = np.abs(np.fft.rfft(basic_frame("saw")))[1:33]
CTX = MoveContext(harmonics=SAW, attack_frame=basic_frame("square"), rolloff_note=90.0)


def _changed(a: Preset, b: Preset) -> set[str]:
    keys = set(a.values) | set(b.values)
    out = {k for k in keys if a.values.get(k) != b.values.get(k)}
    if a.modulations != b.modulations:
        out.add("modulations")
    if any(x is not y and x != y for x, y in zip(a.wavetables, b.wavetables)):
        out.add("wavetables")
    return out


def test_every_neighbour_of_the_init_preset_is_one_valid_structural_change():
    import json

    p = Preset.init()
    tries = neighbours(p, CTX, limit=100)
    whats = [w for w, _ in tries]
    assert whats[:2] == ["transposed -12", "transposed +12"]
    assert "filter 1 on" in whats and "reverb on" in whats and "osc 1 unison 3" in whats
    assert any(w.startswith("osc 1 resynthesised") for w in whats)
    assert any(w.startswith("osc 1 wavetable ") for w in whats)  # the vocabulary's nearest
    for what, q in tries:
        assert check_vital_json(json.loads(q.to_json())) == [], what
        assert _changed(p, q), what
        for m in q.modulations:
            m.validate()
    assert len(neighbours(p, CTX)) == min(MOVES_PER_STEP, len(tries))


def test_the_octave_move_stays_within_the_transpose_range():
    p = Preset.init().with_values(voice_transpose=40.0)
    assert [w for w, _ in neighbours(p, CTX, limit=2)] == ["transposed -12", "osc 1 resynthesised"]


def test_effects_swap_two_effects_of_the_chain():
    p = Preset.init().with_values(chorus_on=1.0, reverb_on=1.0)
    (what, q), *_ = [t for t in neighbours(p, CTX, limit=100) if "↔" in t[0]]
    assert what == "chorus ↔ reverb"
    before, after = decode_order(p.values["effect_chain_order"]), decode_order(q.values["effect_chain_order"])
    c, r = EFFECTS.index("chorus"), EFFECTS.index("reverb")
    assert after.index(c) == before.index(r) and after.index(r) == before.index(c)


def test_modulation_moves_add_a_filter_envelope_and_remove_the_weakest_connection():
    p = Preset.init().with_values(filter_1_on=1.0)
    p.modulations = [
        Modulation("lfo_1", "osc_1_level", amount=0.5),
        Modulation("env_3", "osc_1_pan", amount=0.1),
    ]
    tries = dict(neighbours(p, CTX, limit=100))
    added = tries["env 2 → filter 1 cutoff"]
    assert [(m.source, m.destination) for m in added.modulations][-1] == ("env_2", "filter_1_cutoff")
    removed = tries["env_3 → osc_1_pan removed"]
    assert [m.source for m in removed.modulations] == ["lfo_1"]


class _FakeObjective:
    """Scores a preset by its voice transpose's distance from -12 (no render)."""

    def __init__(self) -> None:
        self.rendered = 0

    def evaluate_presets(self, presets, budget, *, origins=None):
        n = budget.available(len(presets))
        if n <= 0:
            raise BudgetExhausted
        budget.used += n
        self.rendered += n
        return [
            Evaluation(p, abs(p.values["voice_transpose"] + 12.0) + 1.0, None, o)
            for p, o in zip(presets[:n], origins or [Origin()] * n)
        ]


def test_structural_step_keeps_the_better_neighbour_or_the_preset():
    start = Evaluation(Preset.init(), 13.0, None, Origin("library", 3))
    obj = _FakeObjective()
    best = structural_step(start, obj, Budget(max_renders=100), CTX)
    assert best.score == 1.0 and str(best.origin) == "library #3 transposed -12"
    assert obj.rendered == MOVES_PER_STEP
    already = Evaluation(Preset.init().with_values(voice_transpose=-12.0), 0.5, None, Origin("library", 3))
    assert structural_step(already, _FakeObjective(), Budget(max_renders=100), CTX) is already
    assert structural_step(start, _FakeObjective(), Budget(max_renders=0), CTX) is start


def test_audible_controls_put_the_control_the_score_follows_first():
    start = Preset.init().with_values(filter_1_on=1.0)
    rng = np.random.default_rng(0)
    evals = []
    for _ in range(20):
        cutoff = float(rng.uniform(20, 120))
        p = start.with_values(filter_1_cutoff=cutoff, env_1_decay=float(rng.uniform(0.2, 2.0)))
        evals.append(Evaluation(p, 0.1 * cutoff + 0.01 * float(rng.normal()), None))
    controls = audible_controls(start, evals)
    assert controls is not None and controls[0] == "filter_1_cutoff"
    assert audible_controls(start, evals[:5]) is None  # too few renders to tell


def test_vibrato_is_measured_on_a_vibrato_tone_and_not_on_a_steady_one():
    from synthmatch.search.moves import vibrato_of

    sr = 44100
    t = np.arange(int(1.5 * sr)) / sr
    cents = 20.0 * np.sin(2 * np.pi * 5.0 * t)
    phase = 2 * np.pi * np.cumsum(220.0 * 2 ** (cents / 1200)) / sr
    tone = (0.4 * np.sin(phase) + 0.2 * np.sin(2 * phase)).astype(np.float32)
    rate, depth = vibrato_of(tone, sr)
    assert rate == pytest.approx(5.0, abs=0.6) and depth == pytest.approx(20.0, rel=0.35)
    steady = (0.4 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    assert vibrato_of(steady, sr) is None


def test_the_vibrato_move_adds_a_free_lfo_to_the_oscillator_tune():
    ctx = MoveContext(harmonics=SAW, attack_frame=None, rolloff_note=90.0, vibrato=(5.5, 12.0))
    p = Preset.init()
    p.modulations = [Modulation("lfo_1", "filter_1_cutoff", amount=0.3)]
    (_, q), *_ = [t for t in neighbours(p, ctx, limit=100) if t[0].startswith("vibrato")]
    m = q.modulations[-1]
    assert (m.source, m.destination, m.bipolar) == ("lfo_2", "osc_1_tune", True)
    assert m.amount == pytest.approx(0.06)  # 12 cents of a 2-semitone range
    assert q.values["lfo_2_sync"] == 0.0 and 2 ** q.values["lfo_2_frequency"] == pytest.approx(5.5)


def test_a_single_sources_level_pan_and_a_random_phase_are_not_searched():
    from synthmatch.search.refine import search_dims, unheard_controls

    p = Preset.init()  # oscillator 1 alone, its phase randomised
    assert {"osc_1_level", "osc_1_pan", "osc_1_stereo_spread", "osc_1_phase"} <= unheard_controls(p)
    assert not {"osc_1_level", "osc_1_pan"} & {d.control for d in search_dims(p, max_dims=100)}
    two = p.with_values(osc_2_on=1.0)  # the balance of two sources is heard
    assert "osc_1_level" not in unheard_controls(two) and "osc_1_pan" not in unheard_controls(two)
    effect = p.with_values(distortion_on=1.0)  # the level drives a distortion, the pan a stereo effect
    assert not {"osc_1_level", "osc_1_pan"} & unheard_controls(effect)
    assert "osc_1_stereo_spread" not in unheard_controls(p.with_values(osc_1_unison_voices=4.0))
