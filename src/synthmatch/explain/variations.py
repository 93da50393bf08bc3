"""Variation ideas: three concrete edits of a preset, each with the exact values to set.

One idea each for the tone (filter), the envelope (attack/sustain), and space or width
(reverb, chorus, unison). Every idea names the controls as Vital labels them, with the current
and the suggested displayed values, and carries the internal changes so it can be applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from synthmatch.explain.display import rounded_text
from synthmatch.vital import tables
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import default_space


@dataclass
class Variation:
    """One idea: ``text`` for people, ``changes`` (internal values) and ``connections`` to apply."""

    title: str
    text: str
    changes: dict[str, float] = field(default_factory=dict)
    connections: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Variation:
        return cls(
            title=str(d["title"]),
            text=str(d["text"]),
            changes={k: float(v) for k, v in dict(d.get("changes", {})).items()},
            connections=[dict(c) for c in d.get("connections", [])],
        )

    def apply(self, preset: Preset) -> Preset:
        """A copy of ``preset`` with this idea applied."""
        out = preset.copy()
        space = default_space()
        for name, v in self.changes.items():
            out.values[name] = space[name].clamp(v)
        for c in self.connections:
            out.modulations.append(Modulation(**c).validate())
        return out


def _label(name: str) -> str:
    return tables.controls()[name].display_name


def _change(values: Mapping[str, float], name: str, new: float) -> str:
    old = rounded_text(name, values[name], context=values)
    return f"**{_label(name)}** {old} → {rounded_text(name, new, context=values)}"


def _tone(p: Preset) -> Variation | None:
    v = p.values
    for k in ("1", "2"):
        if v[f"filter_{k}_on"] < 0.5:
            continue
        cutoff = v[f"filter_{k}_cutoff"]
        model, style, blend = v[f"filter_{k}_model"], v[f"filter_{k}_style"], v[f"filter_{k}_blend"]
        if round(model) in (0, 1, 2, 3) and round(style) in (0, 1) and blend < 0.5:
            if cutoff <= 112:
                new = min(cutoff + 12, 136.0)
                return Variation(
                    "Open the filter",
                    f"Open the filter: {_change(v, f'filter_{k}_cutoff', new)} (one octave up) "
                    "lets more upper harmonics through, for a brighter, more present sound.",
                    {f"filter_{k}_cutoff": new},
                )
            new = cutoff - 24
            return Variation(
                "Close the filter",
                f"Close the filter: {_change(v, f'filter_{k}_cutoff', new)} (two octaves down) "
                "removes the top end, for a darker, more muffled sound.",
                {f"filter_{k}_cutoff": new},
            )
        res = v[f"filter_{k}_resonance"]
        new = min(res + 0.3, 1.0)
        if new > res:
            return Variation(
                "More resonance",
                f"Push the resonance: {_change(v, f'filter_{k}_resonance', new)} makes the filter "
                "ring at its cutoff, for a more vocal, synthetic tone.",
                {f"filter_{k}_resonance": new},
            )
    # No filter on: add Filter 1 on the oscillators that reach it.
    routed = [o for o in "123" if v[f"osc_{o}_on"] >= 0.5 and round(v[f"osc_{o}_destination"]) in (0, 2)]
    if not routed:
        return None
    changes = {"filter_1_on": 1.0, "filter_1_cutoff": 96.0, "filter_1_resonance": 0.3}
    return Variation(
        "Add a low-pass filter",
        "Add a low-pass filter: switch **Filter 1** on, set "
        f"{_change(v, 'filter_1_cutoff', 96.0)} and {_change(v, 'filter_1_resonance', 0.3)} "
        "to round off the top end, for a darker, warmer tone.",
        changes,
    )


def _envelope(p: Preset) -> Variation | None:
    v = p.values
    if v["env_1_sustain"] < 0.05:
        return Variation(
            "Hold the note",
            f"Turn the pluck into a held note: {_change(v, 'env_1_sustain', 0.6)} keeps the sound "
            "going while the key is down, for pads and leads.",
            {"env_1_sustain": 0.6},
        )
    attack_s = v["env_1_attack"] ** 4
    if attack_s < 0.02:
        new = 0.08**0.25
        return Variation(
            "Soften the attack",
            f"Soften the attack: {_change(v, 'env_1_attack', new)} fades each note in, "
            "for a gentler, bowed or pad-like start.",
            {"env_1_attack": new},
        )
    new = 0.002**0.25
    return Variation(
        "Sharpen the attack",
        f"Sharpen the attack: {_change(v, 'env_1_attack', new)} makes each note start at once, "
        "for a punchier, more percussive sound.",
        {"env_1_attack": new},
    )


def _space(p: Preset) -> Variation | None:
    v = p.values
    if v["reverb_on"] < 0.5:
        changes = {"reverb_on": 1.0, "reverb_dry_wet": 0.35, "reverb_decay_time": 1.0}
        return Variation(
            "Add reverb",
            "Add space: switch **Reverb** on with "
            f"{_change(v, 'reverb_dry_wet', 0.35)} and {_change(v, 'reverb_decay_time', 1.0)} "
            "to place the sound in a room with a soft tail.",
            changes,
        )
    if v["chorus_on"] < 0.5:
        return Variation(
            "Add chorus",
            f"Widen it: switch **Chorus** on and set {_change(v, 'chorus_dry_wet', 0.4)} "
            "for a lusher, wider stereo image.",
            {"chorus_on": 1.0, "chorus_dry_wet": 0.4},
        )
    for o in "123":
        if v[f"osc_{o}_on"] >= 0.5 and v[f"osc_{o}_unison_voices"] < 2:
            changes = {f"osc_{o}_unison_voices": 5.0}
            text = f"Thicken oscillator {o}: {_change(v, f'osc_{o}_unison_voices', 5.0)}"
            if v[f"osc_{o}_unison_detune"] < math.sqrt(10.0):  # detune shown as v² %
                changes[f"osc_{o}_unison_detune"] = math.sqrt(20.0)
                text += f" with {_change(v, f'osc_{o}_unison_detune', math.sqrt(20.0))}"
            return Variation("Unison", text + " for a wide, supersaw-like sound.", changes)
    target = "filter_1_cutoff" if v["filter_1_on"] >= 0.5 else "osc_1_wave_frame"
    return Variation(
        "Add movement",
        f"Add movement: drag **LFO 1** onto {_label(target)} with amount 0.15 for a slow, "
        "repeating change of tone.",
        connections=[{"source": "lfo_1", "destination": target, "amount": 0.15}],
    )


_RULES: tuple[Callable[[Preset], Variation | None], ...] = (_tone, _envelope, _space)


def suggest_variations(preset: Preset, *, n: int = 3) -> list[Variation]:
    """Up to ``n`` variation ideas (tone, envelope, space), derived from ``preset``'s values."""
    out: list[Variation] = []
    for rule in _RULES:
        idea = rule(preset)
        if idea is not None:
            out.append(idea)
        if len(out) >= n:
            break
    return out
