"""Make the bundled example sounds (all made by the project itself).

    python tools/make_examples.py

* ``examples/sounds/`` — Vital sounds rendered from presets designed here in code (pluck, bass,
  pad, lead), at assorted notes: targets for `synthmatch match` and the README.
* ``examples/ood/`` — sounds that are not Vital: a Karplus–Strong plucked string, a synthetic
  sung vowel (glottal pulses through formant resonators), a noise burst, a struck bell made of
  inharmonic partials. Ground-truth notes are in ``examples/ood/notes.json``.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from synthmatch.render import Probe, RenderPool
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.wavetables import basic_frame, wavetable_from_frames

ROOT = pathlib.Path(__file__).resolve().parents[1] / "examples"
SR = 44100


def _with_table(p: Preset, osc: int, shape: str) -> Preset:
    p.wavetables[osc - 1] = wavetable_from_frames(basic_frame(shape)[None], name=f"Basic {shape.title()}")
    return p


def vital_examples() -> dict[str, tuple[Preset, Probe]]:
    init = Preset.init()
    pluck = init.with_values(
        osc_1_random_phase=0,
        filter_1_on=1,
        filter_1_cutoff=62,
        filter_1_resonance=0.35,
        env_1_attack=0.05,
        env_1_decay=0.75,
        env_1_sustain=0.0,
        env_1_release=0.6,
        env_2_attack=0.0,
        env_2_decay=0.6,
        env_2_sustain=0.0,
    )
    pluck.modulations = [Modulation("env_2", "filter_1_cutoff", amount=0.35)]
    bass = _with_table(
        init.with_values(
            osc_1_random_phase=0,
            osc_1_transpose=-12,
            osc_2_on=1,
            osc_2_random_phase=0,
            osc_2_level=0.6,
            filter_1_on=1,
            filter_1_model=2,
            filter_1_cutoff=70,
            filter_1_resonance=0.5,
            filter_1_drive=6,
            env_1_attack=0.02,
            env_1_decay=0.9,
            env_1_sustain=0.55,
            env_1_release=0.35,
        ),
        2,
        "square",
    )
    pad = init.with_values(
        osc_1_random_phase=0,
        osc_1_unison_voices=7,
        osc_1_unison_detune=3.0,
        env_1_attack=1.0,
        env_1_release=1.1,
        filter_1_on=1,
        filter_1_cutoff=78,
        reverb_on=1,
        reverb_dry_wet=0.35,
        chorus_on=1,
    )
    lead = _with_table(
        init.with_values(
            osc_1_random_phase=0,
            osc_1_distortion_type=6,
            osc_1_distortion_amount=0.6,
            filter_1_on=1,
            filter_1_model=3,
            filter_1_cutoff=88,
            delay_on=1,
            delay_dry_wet=0.2,
            env_1_attack=0.1,
            env_1_sustain=0.8,
            lfo_1_frequency=2.5,
            lfo_1_sync=0,
        ),
        1,
        "square",
    )
    lead.modulations = [Modulation("lfo_1", "osc_1_tune", amount=0.02, bipolar=True)]
    for name, p in (("pluck", pluck), ("bass", bass), ("pad", pad), ("lead", lead)):
        p.meta["preset_name"] = f"example {name}"
    return {
        "pluck_c4": (pluck, Probe(note=60, note_seconds=0.6, render_seconds=2.0)),
        "bass_a1": (bass, Probe(note=33, note_seconds=1.0, render_seconds=2.0)),
        "pad_e4": (pad, Probe(note=64, note_seconds=2.5, render_seconds=4.0)),
        "lead_g4": (lead, Probe(note=67, note_seconds=1.5, render_seconds=2.5)),
    }


def karplus_strong(f0: float, seconds: float, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(SR * seconds)
    period = round(SR / f0)
    buf = rng.uniform(-1, 1, period)
    out = np.zeros(n)
    for i in range(n):
        out[i] = buf[i % period]
        buf[i % period] = 0.996 * 0.5 * (buf[i % period] + buf[(i + 1) % period])
    return out


def vowel(f0: float, seconds: float, formants=((730, 90), (1090, 110), (2440, 160))) -> np.ndarray:
    n = int(SR * seconds)
    t = np.arange(n) / SR
    vib = 1 + 0.004 * np.sin(2 * np.pi * 5.5 * t)
    phase = np.cumsum(f0 * vib / SR)
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
    y = pulses
    for fc, bw in formants:
        r = np.exp(-np.pi * bw / SR)
        a = [1, -2 * r * np.cos(2 * np.pi * fc / SR), r * r]
        y = lfilter([1 - r], a, y) + 0.0 * y
    env = np.minimum(1, t / 0.08) * np.minimum(1, (seconds - t) / 0.15)
    return y * np.clip(env, 0, 1)


def noise_burst(seconds: float, *, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(SR * seconds)
    t = np.arange(n) / SR
    return rng.normal(0, 1, n) * np.exp(-t / 0.12)


def bell(f0: float, seconds: float) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    partials = ((1.0, 1.0, 1.6), (2.76, 0.6, 0.9), (5.4, 0.4, 0.5), (8.93, 0.25, 0.3))
    return sum(a * np.sin(2 * np.pi * f0 * r * t) * np.exp(-t / d) for r, a, d in partials)


def _norm(y: np.ndarray, peak: float = 0.7) -> np.ndarray:
    return (peak * y / max(np.max(np.abs(y)), 1e-9)).astype(np.float32)


def main() -> None:
    (ROOT / "sounds").mkdir(parents=True, exist_ok=True)
    (ROOT / "ood").mkdir(parents=True, exist_ok=True)
    ex = vital_examples()
    with RenderPool(workers=2) as pool:
        outs = pool.render([p for p, _ in ex.values()], [pr for _, pr in ex.values()])
    notes = {}
    for (name, (_preset, probe)), out in zip(ex.items(), outs):
        assert out.ok, out.reason
        sf.write(ROOT / "sounds" / f"{name}.wav", out.audio.T, SR, subtype="PCM_16")
        notes[f"{name}.wav"] = {"midi_note": probe.note, "note_seconds": probe.note_seconds}
    (ROOT / "sounds" / "notes.json").write_text(json.dumps(notes, indent=1))
    ood = {
        "plucked_string_a3.wav": (karplus_strong(220.0, 2.0), 57),
        "vowel_a_c3.wav": (vowel(130.81, 1.5), 48),
        "noise_burst.wav": (noise_burst(1.0), None),
        "bell_e5.wav": (bell(659.26, 2.5), 76),
    }
    for name, (y, _note) in ood.items():
        sf.write(ROOT / "ood" / name, _norm(y), SR, subtype="PCM_16")
    (ROOT / "ood" / "notes.json").write_text(
        json.dumps({k: {"midi_note": v[1]} for k, v in ood.items()}, indent=1)
    )
    print(f"wrote {len(ex)} Vital examples and {len(ood)} OOD sounds under {ROOT}")


if __name__ == "__main__":
    main()
