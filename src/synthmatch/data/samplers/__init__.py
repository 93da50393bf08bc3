"""Samplers: functions from ``(seed, index, attempt)`` to complete, valid Vital presets.

Every sampler is deterministic and stateless per item: item ``index`` of a dataset with ``seed``
is the same preset whichever process, worker or run draws it, and whatever the dataset size. A
rejected render is retried with ``attempt + 1`` for the same index. This is what makes process
pools, Ray and killed-and-resumed builds produce identical datasets.

Registered samplers (``SAMPLERS``; the CLI takes its choices from it):

``lhs``
    A Latin hypercube over the sampled parameters of the space (:mod:`scipy.stats.qmc`), one
    design per block of ``block_size`` items drawn from ``(seed, block, attempt)``, so 10M items
    never need one giant matrix. Module switches are on with declared probabilities (osc 1
    always, osc 2/3 40 %, filters 50 %, each effect 20–30 %); categorical parameters, effect orders
    and wavetables are stratified by the same design. A few modulation connections from declared
    sources to sensible destinations, LFO shapes from the declared library.
``preset``
    Preset-informed: perturbs and recombines the hand-made presets of the training split
    (continuous noise scaled by each parameter's range, discrete steps, categorical resampling,
    module swaps between presets with their connections and wavetables).
``train``
    The training presets themselves (item ``i`` is preset ``i mod n``): the reference distribution.
``mix``
    Picks ``lhs`` or ``preset`` per item with declared weights.

Every sampler finishes the same way (:func:`finish_preset`): fixed priors of the spec applied
(random phase 0, volume, oversampling…), values clamped and rounded, parameters that cannot
change the sound reset to their defaults (so equal sounds have equal vectors), LFO shapes of
unrouted LFOs and wavetables of oscillators that are off reset to cheap init assets.
"""

from __future__ import annotations

from synthmatch.data.samplers.base import (
    SAMPLERS,
    Draw,
    Sampler,
    activity,
    finish_preset,
    item_rng,
    make_sampler,
    register_sampler,
    sampler_names,
)
from synthmatch.data.samplers.lhs import (
    DEFAULT_P_ON,
    DEFAULT_RANGES,
    LHSConfig,
    LHSSampler,
    WavetablePicker,
    lhs_block,
)
from synthmatch.data.samplers.mix import MixConfig, MixSampler
from synthmatch.data.samplers.modulations import MOD_SOURCES, MOD_TARGETS, sample_modulations
from synthmatch.data.samplers.presets import (
    RECOMBINE_GROUPS,
    TOGGLE_SWITCHES,
    PresetSampler,
    PresetSamplerConfig,
    TrainConfig,
    TrainPresetSampler,
)

__all__ = [
    "DEFAULT_P_ON",
    "DEFAULT_RANGES",
    "MOD_SOURCES",
    "MOD_TARGETS",
    "RECOMBINE_GROUPS",
    "SAMPLERS",
    "TOGGLE_SWITCHES",
    "Draw",
    "LHSConfig",
    "LHSSampler",
    "MixConfig",
    "MixSampler",
    "PresetSampler",
    "PresetSamplerConfig",
    "Sampler",
    "TrainConfig",
    "TrainPresetSampler",
    "WavetablePicker",
    "activity",
    "finish_preset",
    "item_rng",
    "lhs_block",
    "make_sampler",
    "register_sampler",
    "sample_modulations",
    "sampler_names",
]
