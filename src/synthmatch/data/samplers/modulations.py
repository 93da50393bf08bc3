"""Modulation connections of generated presets: declared sources to sensible destinations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from synthmatch.data.assets import Asset
from synthmatch.data.samplers.base import _activity_holds
from synthmatch.data.sources import init_lfo_asset, lfo_shape_assets
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import ParamSpace

MOD_SOURCES: tuple[str, ...] = (
    "env_2",
    "env_3",
    "env_4",
    "lfo_1",
    "lfo_2",
    "lfo_3",
    "lfo_4",
    "random_1",
    "velocity",
    "note",
)

#: Destinations the generators connect, with the largest |amount| used (a fraction of the
#: destination's range: 0.125 of transpose's 96 semitones is an octave). A destination is only
#: used when it is active (its oscillator, filter or effect is on).
MOD_TARGETS: dict[str, float] = {
    **{
        f"osc_{k}_{p}": a
        for k in (1, 2, 3)
        for p, a in (
            ("level", 1.0),
            ("wave_frame", 1.0),
            ("transpose", 0.125),
            ("tune", 0.5),
            ("pan", 0.5),
            ("distortion_amount", 1.0),
            ("spectral_morph_amount", 1.0),
            ("unison_detune", 0.5),
        )
    },
    **{
        f"filter_{f}_{p}": a
        for f in ("1", "2")
        for p, a in (("cutoff", 0.6), ("resonance", 0.5), ("drive", 0.5))
    },
    "filter_fx_cutoff": 0.6,
    "sample_level": 1.0,
    "reverb_dry_wet": 1.0,
    "chorus_dry_wet": 1.0,
    "delay_dry_wet": 1.0,
    "flanger_dry_wet": 1.0,
    "phaser_dry_wet": 1.0,
    "distortion_drive": 0.5,
}

_BIPOLAR_CAPABLE = ("lfo_", "random")


def sample_modulations(
    rng: np.random.Generator,
    values: Mapping[str, float],
    *,
    mean: float,
    maximum: int,
    space: ParamSpace,
) -> list[Modulation]:
    """A few connections from :data:`MOD_SOURCES` to active :data:`MOD_TARGETS`."""
    n = min(int(rng.poisson(mean)), maximum)
    targets = [d for d in MOD_TARGETS if d in space and _activity_holds(space[d], values)]
    out: list[Modulation] = []
    seen: set[tuple[str, str]] = set()
    for _ in range(n):
        if not targets:
            break
        src = MOD_SOURCES[int(rng.integers(len(MOD_SOURCES)))]
        dst = targets[int(rng.integers(len(targets)))]
        if (src, dst) in seen:
            continue
        seen.add((src, dst))
        bipolar = src.startswith(_BIPOLAR_CAPABLE) and bool(rng.random() < 0.5)
        power = 0.0 if rng.random() < 0.7 else float(rng.uniform(-4.0, 4.0))
        amount = float(rng.uniform(-1.0, 1.0)) * MOD_TARGETS[dst]
        out.append(Modulation(src, dst, amount=amount, bipolar=bipolar, power=power))
    return out


def _lfo_shapes_for(rng: np.random.Generator, mods: Sequence[Modulation]) -> list[Asset]:
    used = Preset(values={}, modulations=list(mods)).used_sources()
    library = lfo_shape_assets()
    shapes = []
    for k in range(1, 9):
        if f"lfo_{k}" in used:
            shapes.append(library[int(rng.integers(len(library)))])
        else:
            shapes.append(init_lfo_asset())
    return shapes
