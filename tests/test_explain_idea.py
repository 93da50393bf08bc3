"""The idea: the category and why, and a short signal-flow summary that leaves out what is not heard."""

from __future__ import annotations

import json

import pytest

from synthmatch.explain.descriptors import SoundDescription
from synthmatch.explain.display import rounded_text
from synthmatch.explain.idea import CATEGORIES, MAX_SENTENCE_CHARS, Idea, the_idea
from synthmatch.vital.effects import EFFECTS, encode_order
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.wavetables import basic_frame, wavetable_from_frames

C4 = 261.6


def _description(**kw: object) -> SoundDescription:
    base: dict[str, object] = {
        "brightness_hz": 1200.0,
        "attack_s": 0.005,
        "decay_s": 0.0,
        "sustain_db": -0.5,
        "release_s": 0.1,
        "pitch_hz": C4,
        "pitch_note": "C4",
        "noisiness": 0.02,
        "movement": 0.02,
    }
    base.update(kw)
    return SoundDescription(**base)  # type: ignore[arg-type]


def _busy_preset() -> Preset:
    """Two oscillators, a moving filter, vibrato, a macro and four effects in a custom order."""
    p = Preset.init()
    v = p.values
    v.update(osc_2_on=1.0, osc_2_destination=0.0, osc_2_transpose=-12.0, osc_2_unison_voices=7.0)
    v.update(osc_1_distortion_type=7.0, filter_1_on=1.0, filter_1_cutoff=70.0, filter_1_keytrack=0.5)
    v.update(env_2_decay=0.6, env_2_sustain=0.0, env_1_decay=0.8, env_1_sustain=0.0)
    for fx in ("reverb", "chorus", "delay", "distortion"):
        v[f"{fx}_on"] = 1.0
    v["delay_style"] = 2.0
    first = [EFFECTS.index(fx) for fx in ("reverb", "delay", "chorus")]
    v["effect_chain_order"] = float(encode_order(first + [i for i in range(len(EFFECTS)) if i not in first]))
    p.modulations += [
        Modulation(source="env_2", destination="filter_1_cutoff", amount=0.5),
        Modulation(source="lfo_1", destination="osc_1_tune", amount=0.1),
        Modulation(source="lfo_2", destination="filter_1_cutoff", amount=-0.2),
        Modulation(source="macro_control_1", destination="reverb_dry_wet", amount=0.3),
        Modulation(source="lfo_3", destination="osc_1_wave_frame", amount=0.3),
    ]
    return p


# ---------------------------------------------------------------------------------------
# category
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expected", "facts", "words"),
    [
        ("pluck", {"attack_s": 0.004, "decay_s": 0.6, "sustain_db": -60.0}, ("4 ms", "600 ms")),
        ("pad", {"attack_s": 0.8, "sustain_db": -1.0, "release_s": 1.2}, ("800 ms", "1.2 s")),
        ("bass", {"pitch_hz": 65.4, "pitch_note": "C2", "decay_s": 0.3, "sustain_db": -8.0}, ("65.4 Hz",)),
        (
            "percussion",
            {"pitch_hz": None, "decay_s": 0.2, "sustain_db": -70.0, "noisiness": 0.5},
            ("200 ms",),
        ),
        ("fx", {"pitch_hz": None, "sustain_db": -2.0, "noisiness": 0.5, "movement": 0.4}, ("noisy",)),
        ("keys", {"decay_s": 0.8, "sustain_db": -12.0}, ("800 ms", "12 dB")),
        ("lead", {"brightness_hz": 2500.0}, ("2.5 kHz",)),
        ("strings", {"attack_s": 0.06}, ("60 ms",)),
        ("brass", {"attack_s": 0.06, "brightness_hz": 2000.0}, ("60 ms", "2.0 kHz")),
    ],
)
def test_category_from_description(expected: str, facts: dict[str, object], words: tuple[str, ...]) -> None:
    idea = the_idea(Preset.init(), description=_description(**facts))
    assert idea.category == expected
    assert expected in CATEGORIES
    for w in words:
        assert w in idea.category_reason, idea.category_reason


def test_bell_needs_cross_modulation_and_a_long_decay() -> None:
    p = Preset.init()
    p.values.update(osc_2_on=1.0, osc_1_distortion_type=7.0)  # FM <- Osc 2
    ringing = _description(decay_s=2.5, sustain_db=-50.0, pitch_hz=523.0, pitch_note="C5")
    idea = the_idea(p, description=ringing)
    assert idea.category == "bell"
    assert "frequency-modulated by oscillator 2" in idea.category_reason
    # the same note without FM is a long-ringing keys sound, not a bell
    assert the_idea(Preset.init(), description=ringing).category == "keys"


def test_silent_description() -> None:
    assert the_idea(Preset.init(), description=SoundDescription(tags=["silent"])).category == "silence"


def test_category_without_description_reads_the_amp_envelope() -> None:
    pad = Preset.init()
    pad.values.update(env_1_attack=0.95, env_1_release=0.95)  # 0.95**4 = 0.81 s each
    idea = the_idea(pad)
    assert idea.category == "pad"
    assert rounded_text("env_1_attack", 0.95) in idea.category_reason

    pluck = Preset.init()
    pluck.values.update(env_1_sustain=0.0, env_1_decay=0.8)
    assert the_idea(pluck).category == "pluck"

    bass = Preset.init()
    bass.values["osc_1_transpose"] = -24.0
    idea = the_idea(bass)
    assert idea.category == "bass"
    assert "-24 semitones" in idea.category_reason
    bass.values.update(osc_2_on=1.0, osc_2_destination=0.0)  # a second oscillator at the played pitch
    assert the_idea(bass).category == "lead"
    bass.values["osc_2_transpose"] = -12.0  # every oscillator an octave or more down
    assert the_idea(bass).category == "bass"

    noise = Preset.init()
    noise.values.update(osc_1_on=0.0, sample_on=1.0, env_1_sustain=0.0, env_1_decay=0.6)
    assert the_idea(noise).category == "percussion"

    kick = Preset.init()
    kick.values.update(osc_1_transpose=-36.0, env_1_sustain=0.0, env_1_decay=0.6)
    kick.modulations.append(Modulation(source="env_2", destination="osc_1_transpose", amount=0.5))
    idea = the_idea(kick)
    assert idea.category == "percussion"
    assert "Envelope 2 sweeps its pitch by up to 48 semitones" in idea.category_reason


# ---------------------------------------------------------------------------------------
# sentences
# ---------------------------------------------------------------------------------------
def test_impacts_leave_out_an_inaudible_oscillator_and_order_by_importance() -> None:
    p = Preset.init()
    p.values.update(osc_2_on=1.0, osc_2_transpose=-12.0)
    assert "oscillator 2" in the_idea(p).sentences[0].lower()

    quiet = the_idea(p, impacts={"osc_2_on": 0.1, "osc_2_transpose": 0.3, "osc_1_level": 2.0})
    assert "oscillator 2" not in quiet.text.lower()
    assert "oscillator 1" in quiet.sentences[0].lower()

    loud = the_idea(p, impacts={"osc_2_on": 6.0, "osc_1_level": 1.0}).sentences[0].lower()
    assert loud.index("oscillator 2") < loud.index("oscillator 1")


def test_impacts_leave_out_an_inaudible_connection_and_effect() -> None:
    p = _busy_preset()
    full = the_idea(p).text
    assert "vibrato from LFO 1" in full and "chorus" in full
    idea = the_idea(p, impacts={"modulation_2": 0.2, "chorus_on": 0.1, "chorus_dry_wet": 0.4})
    assert "vibrato" not in idea.text
    assert "chorus" not in idea.text
    assert "reverb" in idea.text


def test_filter_movement_sentence() -> None:
    p = Preset.init()
    p.values.update(filter_1_on=1.0, filter_1_cutoff=70.0)
    p.modulations.append(Modulation(source="env_2", destination="filter_1_cutoff", amount=0.5))
    idea = the_idea(p)
    (sentence,) = [s for s in idea.sentences if "filter 1" in s]
    assert sentence.startswith("Oscillator 1 goes through filter 1")
    assert rounded_text("filter_1_cutoff", 70.0) in sentence  # the cutoff as Vital shows it, in Hz
    assert "Envelope 2 sweeps it up on every note (amount 0.5" in sentence
    assert sentence.index("filter 1") < sentence.index("Envelope 2")
    # the envelopes sentence says what Envelope 2 drives
    assert any("Envelope 2 (attack" in s and "drives Filter 1 Cutoff" in s for s in idea.sentences)


def test_effect_order_sentence() -> None:
    p = Preset.init()
    p.values.update(chorus_on=1.0, reverb_on=1.0)
    default = the_idea(p).sentences[-1]
    assert default.startswith("Effects: ")
    assert default.index("chorus") < default.index("reverb")

    first = [EFFECTS.index("reverb"), EFFECTS.index("chorus")]
    p.values["effect_chain_order"] = float(encode_order(first + [i for i in range(9) if i not in first]))
    custom = the_idea(p).sentences[-1]
    assert custom.startswith("Effects, in this custom order: ")
    assert custom.index("reverb") < custom.index("chorus")
    inaudible_order = the_idea(p, impacts={"effect_chain_order": 0.1}).sentences[-1]
    assert inaudible_order.startswith("Effects: ")


def test_signal_flow_order_and_displayed_values() -> None:
    idea = the_idea(_busy_preset())
    heads = [s.split(" ")[0] for s in idea.sentences]
    assert heads == ["Oscillator", "Oscillators", "Envelope", "Modulation:", "Effects,"]
    assert "FM <- Osc 2" in idea.sentences[0]
    assert "7 voices" in idea.sentences[0]
    assert "(attack 0.5 ms)" in idea.sentences[2]  # env_1_attack 0.1495 shown as Vital shows it
    assert "0.1495" not in idea.text


def test_wave_shape_read_from_the_first_frame() -> None:
    p = Preset.init()
    p.wavetables[0] = wavetable_from_frames(basic_frame("square")[None, :], name="Box")
    assert 'a square-like wave ("Box")' in the_idea(p).sentences[0]
    p.wavetables[0] = wavetable_from_frames(basic_frame("sine")[None, :], name="Pure")
    assert 'a sine-like wave ("Pure")' in the_idea(p).sentences[0]


@pytest.mark.parametrize("make", [Preset.init, _busy_preset])
def test_sentences_are_short_non_empty_and_deterministic(make: object) -> None:
    preset = make()  # type: ignore[operator]
    idea = the_idea(preset, description=_description())
    assert 3 <= len(idea.sentences) <= 6
    for s in idea.sentences:
        assert s.strip() and len(s) <= MAX_SENTENCE_CHARS, s
    assert the_idea(preset, description=_description()) == idea
    assert idea.text.startswith(f"This is {idea.category_reason}.")


def test_long_lists_are_cut_to_fit() -> None:
    p = Preset.init()
    dests = ["osc_1_level", "osc_1_pan", "osc_1_tune", "osc_1_unison_detune", "volume", "osc_1_phase"]
    for k, dest in enumerate(dests * 2):
        p.modulations.append(Modulation(source=f"lfo_{k % 8 + 1}", destination=dest, amount=0.2))
    (sentence,) = [s for s in the_idea(p).sentences if s.startswith("Modulation:")]
    assert len(sentence) <= MAX_SENTENCE_CHARS
    assert sentence.endswith(" more connections.")


def test_round_trip() -> None:
    idea = the_idea(_busy_preset(), description=_description(decay_s=0.6, sustain_db=-60.0))
    d = json.loads(json.dumps(idea.to_dict()))
    assert d["text"] == idea.text
    assert Idea.from_dict(d) == idea
