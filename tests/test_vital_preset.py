"""The preset codec: reading, bad input, writing presets real Vital opens, engine load-back."""

from __future__ import annotations

import json

import pytest

from synthmatch.errors import PresetError, UnknownModulationError
from synthmatch.vital import tables
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset, check_vital_json


def _rich_preset(init_preset: Preset) -> Preset:
    p = init_preset.with_values(
        osc_2_on=1,
        osc_2_transpose=12,
        filter_1_on=1,
        filter_1_cutoff=80.25,
        filter_1_model=2,
        reverb_on=1,
        reverb_dry_wet=0.4,
        effect_chain_order=260650,
        osc_1_unison_voices=5,
    )
    p.modulations = [
        Modulation("env_2", "filter_1_cutoff", amount=0.5),
        Modulation("lfo_1", "osc_1_wave_frame", amount=-0.25, bipolar=True, power=1.5),
    ]
    return p


def test_written_preset_passes_real_vital_checks(init_preset, tmp_path):
    p = _rich_preset(init_preset)
    path = p.write(tmp_path / "rich.vital")
    doc = json.loads(path.read_text())
    assert check_vital_json(doc) == []
    assert doc["synth_version"] == "1.5.5"
    s = doc["settings"]
    assert len(s["wavetables"]) == 3 and all(w["version"] == "1.5.5" for w in s["wavetables"])
    assert len(s["lfos"]) == 8 and len(s["modulations"]) == 64 and "sample" in s
    assert all(isinstance(s[name], float) for name in tables.controls())
    assert s["modulations"][0] == {"source": "env_2", "destination": "filter_1_cutoff"}
    assert s["modulation_1_amount"] == 0.5 and s["modulation_2_bipolar"] == 1.0


def test_written_preset_loads_into_the_engine_with_its_values(init_preset):
    import vita

    p = _rich_preset(init_preset)
    synth = vita.Synth()
    assert synth.load_json(p.to_json())
    controls = synth.get_controls()
    for name, value in p.values.items():
        assert controls[name].value() == pytest.approx(value, abs=1e-5), name
    assert controls["modulation_1_amount"].value() == pytest.approx(0.5)
    back = Preset.from_vital(synth.to_json())
    assert [(m.source, m.destination) for m in back.modulations] == [
        ("env_2", "filter_1_cutoff"),
        ("lfo_1", "osc_1_wave_frame"),
    ]
    assert back.values == pytest.approx(p.values, abs=1e-5)


def test_read_write_read_is_stable(init_preset):
    p = _rich_preset(init_preset)
    q = Preset.from_vital(p.to_json())
    assert q.values == p.values
    assert [(m.source, m.destination, m.amount, m.power) for m in q.modulations] == [
        (m.source, m.destination, m.amount, m.power) for m in p.modulations
    ]
    assert q.to_vital() == p.to_vital()


def test_out_of_range_and_unknown_values_are_fixed_and_reported(init_preset):
    doc = init_preset.to_vital()
    doc["settings"]["filter_1_cutoff"] = 500.0
    doc["settings"]["osc_1_destination"] = 9.0
    doc["settings"]["osc_1_spectral_morph_phase"] = 0.3
    p = Preset.from_vital(doc)
    assert p.values["filter_1_cutoff"] == 136.0
    assert p.values["osc_1_destination"] == 4.0
    assert p.extras["osc_1_spectral_morph_phase"] == 0.3
    text = " | ".join(p.issues)
    assert "filter_1_cutoff=500 outside" in text and "osc_1_spectral_morph_phase" in text
    with pytest.raises(PresetError, match="filter_1_cutoff=500"):
        Preset.from_vital(doc, strict=True)


def test_unknown_modulation_names_are_dropped_or_raise(init_preset):
    doc = init_preset.to_vital()
    doc["settings"]["modulations"][0] = {"source": "lfo_99", "destination": "filter_1_cutoff"}
    p = Preset.from_vital(doc)
    assert p.modulations == [] and "lfo_99" in p.issues[0]
    with pytest.raises(UnknownModulationError, match="lfo_99"):
        Preset.from_vital(doc, strict=True)
    bad = init_preset.copy()
    bad.modulations = [Modulation("lfo_1", "filter_9_cutoff", amount=1.0)]
    with pytest.raises(UnknownModulationError, match="crash the engine"):
        bad.to_vital()


def test_modulations_past_the_last_slot_are_reported_not_lost_silently(init_preset):
    doc = init_preset.to_vital()
    doc["settings"]["modulations"][0] = {"source": "lfo_1", "destination": "filter_1_cutoff"}
    doc["settings"]["modulations"].append({"source": "env_2", "destination": "osc_1_level"})
    doc["settings"]["modulations"].append({"source": "", "destination": ""})  # an empty extra is fine
    p = Preset.from_vital(doc)
    assert [(m.source, m.destination) for m in p.modulations] == [("lfo_1", "filter_1_cutoff")]
    assert p.issues == [
        "1 modulation(s) after slot 64 dropped: Vital has 64 slots. Hint: move them into free slots in Vital and save again."
    ]
    with pytest.raises(PresetError, match="after slot 64"):
        Preset.from_vital(doc, strict=True)


@pytest.mark.parametrize(
    ("text", "match"),
    [("not json", "invalid JSON"), ('{"a": 1}', "no 'settings'"), ("[1, 2]", "no 'settings'")],
)
def test_not_a_preset(text, match):
    with pytest.raises(PresetError, match=match):
        Preset.from_vital(text)


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(PresetError, match="does not exist"):
        Preset.from_file(tmp_path / "nope.vital")
    f = tmp_path / "bin.vital"
    f.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(PresetError, match="not a Vital preset"):
        Preset.from_file(f)


def test_missing_assets_filled_and_reported(init_preset):
    doc = init_preset.to_vital()
    del doc["settings"]["sample"]
    doc["settings"]["lfos"] = doc["settings"]["lfos"][:3]
    p = Preset.from_vital(doc)
    assert len(p.lfo_shapes) == 8 and p.sample
    assert any("sample missing" in i for i in p.issues) and any("LFO shapes" in i for i in p.issues)


def test_shared_presets_parse_and_write_valid_json():
    from tests.conftest import train_preset_files

    for f in train_preset_files(12):
        p = Preset.from_file(f)
        assert check_vital_json(p.to_vital()) == []


def test_modulation_slots_are_kept_for_amount_destinations(init_preset):
    """known issue: slots were renumbered on read, so a `modulation_K_amount` destination moved."""
    doc = init_preset.to_vital()
    s = doc["settings"]
    s["modulations"][2] = {"source": "lfo_1", "destination": "filter_1_cutoff"}
    s["modulations"][5] = {"source": "env_2", "destination": "modulation_3_amount"}
    s["modulation_3_amount"] = 0.4
    s["modulation_6_amount"] = 0.7
    p = Preset.from_vital(doc)
    assert [m.slot for m in p.modulations] == [3, 6]
    out = p.to_vital()["settings"]
    assert (
        out["modulations"][2]["source"] == "lfo_1"
        and out["modulations"][5]["destination"] == "modulation_3_amount"
    )
    assert out["modulation_3_amount"] == 0.4 and out["modulation_6_amount"] == 0.7
    assert out["modulations"][0] == {"source": "", "destination": ""}


def test_a_control_copy_is_a_copy_that_shares_only_the_assets(init_preset):
    base = _rich_preset(init_preset)
    base.meta["preset_name"] = "base"
    light, deep = base.control_copy(), base.copy()
    assert light == deep and light.to_json() == base.to_json()  # every field, nothing dropped
    # what a search changes is the copy's own
    light.values["filter_1_cutoff"] = 20.0
    light.modulations[0].amount = -1.0
    light.meta["preset_name"] = "match"
    light.wavetables[1] = deep.wavetables[0]  # assets are replaced, not edited
    assert base.values["filter_1_cutoff"] == 80.25 and base.modulations[0].amount == 0.5
    assert base.meta["preset_name"] == "base" and base.wavetables[1] == deep.wavetables[1]
    # the assets themselves are shared (that is what makes it cheap)
    assert light.wavetables[0] is base.wavetables[0] and light.lfo_shapes[0] is base.lfo_shapes[0]
