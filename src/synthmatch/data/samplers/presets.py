"""Samplers that start from the hand-made presets of the training split: ``preset`` and ``train``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.data.config import Config
from synthmatch.data.samplers.base import (
    Draw,
    Sampler,
    _osc_on,
    _tag,
    activity,
    finish_preset,
    item_rng,
    register_sampler,
)
from synthmatch.data.sources import (
    SourcePreset,
    bank_asset,
    load_source_presets,
    resolve_train_dir,
    wavetable_bank,
)
from synthmatch.errors import ParameterError
from synthmatch.vital.effects import EFFECTS, decode_order, encode_order
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.spec import ParamSpace

#: Module groups swapped between presets by recombination (values, connections into the module,
#: and its assets: an oscillator's wavetable, an LFO's shape, the sample).
RECOMBINE_GROUPS: tuple[str, ...] = (
    "osc_1",
    "osc_2",
    "osc_3",
    "sample",
    "filter_1",
    "filter_2",
    "filter_fx",
    "env_1",
    "env_2",
    "env_3",
    "lfo_1",
    "lfo_2",
    *(fx for fx in EFFECTS if fx != "filter_fx"),
)

#: Switches that perturbation may toggle (osc 1 stays as the preset has it).
TOGGLE_SWITCHES: tuple[str, ...] = (
    "osc_2_on",
    "osc_3_on",
    "filter_1_on",
    "filter_2_on",
    *(f"{fx}_on" for fx in EFFECTS),
)


@dataclass(frozen=True)
class PresetSamplerConfig(Config):
    """Options of the ``preset`` sampler.

    ``sigma`` is the standard deviation of the Gaussian noise added to a perturbed continuous
    parameter, as a fraction of its range; ``p_perturb`` the chance that an active continuous
    parameter is perturbed.
    """

    preset_dir: str | None = None
    wavetable_dir: str | None = None
    sigma: float = 0.05
    p_perturb: float = 0.5
    p_step_discrete: float = 0.1
    p_resample_categorical: float = 0.05
    p_toggle: float = 0.05
    p_recombine: float = 0.5
    max_swaps: int = 3
    p_bank_table: float = 0.1
    mod_sigma: float = 0.1
    canonical: bool = True


def _module_of_destination(dst: str, space: ParamSpace) -> str:
    return space[dst].module if dst in space else ""


@register_sampler
class PresetSampler(Sampler):
    """Perturbs and recombines the hand-made presets of the training split."""

    name = "preset"
    config_type = PresetSamplerConfig
    config: PresetSamplerConfig

    def __init__(self, config: Config | Mapping[str, Any] | None = None, *, space: ParamSpace | None = None):
        super().__init__(config, space=space)
        cfg = self.config
        if cfg.sigma < 0 or not 0 <= cfg.p_recombine <= 1:
            raise ParameterError(
                f"sigma must be >= 0 and p_recombine in [0, 1] (got {cfg.sigma}, {cfg.p_recombine})"
            )
        self.preset_dir = str(resolve_train_dir(cfg.preset_dir))
        self.sources: tuple[SourcePreset, ...] = load_source_presets(self.preset_dir)
        self.bank = wavetable_bank(cfg.wavetable_dir)
        self._controls = [self.space[n] for n in self.space.control_names()]

    def base_index(self, *, seed: int, index: int) -> int:
        """Which training preset item ``index`` starts from: a fresh permutation per epoch of n items."""
        n = len(self.sources)
        epoch, pos = divmod(int(index), n)
        perm = np.random.default_rng([int(seed), epoch, _tag("preset-epoch")]).permutation(n)
        return int(perm[pos])

    def draw(self, *, seed: int, index: int, attempt: int = 0) -> Draw:
        cfg = self.config
        space = self.space
        rng = item_rng(seed, index, attempt, "preset")
        n = len(self.sources)
        b = self.base_index(seed=seed, index=index)
        if attempt > 0 and rng.random() < 0.5:
            b = int(rng.integers(n))
        base = self.sources[b]
        values = dict(base.values)
        mods = list(base.modulations)
        wts = list(base.wavetables)
        shapes = list(base.lfo_shapes)
        smp = base.sample
        detail: dict[str, Any] = {"sampler": self.name, "base": base.name}

        if n > 1 and rng.random() < cfg.p_recombine:
            d = int(rng.integers(n - 1))
            donor = self.sources[d if d < b else d + 1]
            k = int(rng.integers(1, max(cfg.max_swaps, 1) + 1))
            groups = [str(g) for g in rng.choice(RECOMBINE_GROUPS, size=k, replace=False)]
            for g in groups:
                for s in self._controls:
                    if s.module == g:
                        values[s.name] = donor.values[s.name]
                mods = [m for m in mods if _module_of_destination(m.destination, space) != g]
                mods += [m for m in donor.modulations if _module_of_destination(m.destination, space) == g]
                if g.startswith("osc_"):
                    i = int(g[-1]) - 1
                    wts[i] = donor.wavetables[i]
                elif g.startswith("lfo_"):
                    i = int(g[-1]) - 1
                    shapes[i] = donor.lfo_shapes[i]
                elif g == "sample":
                    smp = donor.sample
            detail.update(donor=donor.name, swapped=groups)

        values = self._perturb(rng, values, mods)
        mods = [
            dataclasses.replace(
                m, amount=float(np.clip(m.amount + rng.normal(0.0, cfg.mod_sigma), -1.0, 1.0))
            )
            if cfg.mod_sigma > 0
            else m
            for m in mods
        ]
        for k in (1, 2, 3):
            if _osc_on(values, k) and rng.random() < cfg.p_bank_table:
                wts[k - 1] = bank_asset(self.bank, int(rng.integers(len(self.bank))))
        preset, assets = finish_preset(
            values,
            mods,
            wavetables=wts,
            lfo_shapes=shapes,
            sample=smp,
            name=f"{self.name}-{seed}-{index}",
            space=space,
            canonical=cfg.canonical,
        )
        return Draw(preset, assets, detail)

    def _perturb(
        self, rng: np.random.Generator, values: dict[str, float], mods: Sequence[Modulation]
    ) -> dict[str, float]:
        cfg = self.config
        active, _ = activity(values, mods, self.space)
        out = dict(values)
        for s in self._controls:
            if s.prior == "fixed" or not active[s.name]:
                continue
            v = values[s.name]
            if s.name in TOGGLE_SWITCHES:
                if rng.random() < cfg.p_toggle:
                    out[s.name] = 1.0 - round(v)
            elif s.name == "effect_chain_order":
                if rng.random() < cfg.p_step_discrete:
                    order = decode_order(v)
                    i = int(rng.integers(len(order) - 1))
                    order[i], order[i + 1] = order[i + 1], order[i]
                    out[s.name] = float(encode_order(order))
            elif s.kind == "continuous":
                if cfg.sigma > 0 and rng.random() < cfg.p_perturb:
                    x = s.to_normalized(v) + rng.normal(0.0, cfg.sigma)
                    x = abs(x) if x < 0 else (2.0 - x if x > 1 else x)  # reflect at the edges
                    out[s.name] = s.from_normalized(x)
            elif s.kind == "discrete":
                if rng.random() < cfg.p_step_discrete:
                    out[s.name] = s.clamp(v + (1 if rng.random() < 0.5 else -1))
            elif s.kind == "categorical":
                if rng.random() < cfg.p_resample_categorical:
                    out[s.name] = s.values[int(rng.integers(len(s.values)))]
            elif s.kind == "bool" and rng.random() < cfg.p_resample_categorical:
                out[s.name] = 1.0 - round(v)
        return out


@dataclass(frozen=True)
class TrainConfig(Config):
    """Options of the ``train`` sampler (the training presets as they are)."""

    preset_dir: str | None = None
    canonical: bool = True


@register_sampler
class TrainPresetSampler(Sampler):
    """Item ``i`` is training preset ``i mod n`` (fixed priors applied): the reference distribution."""

    name = "train"
    config_type = TrainConfig
    config: TrainConfig

    def __init__(self, config: Config | Mapping[str, Any] | None = None, *, space: ParamSpace | None = None):
        super().__init__(config, space=space)
        self.sources = load_source_presets(str(resolve_train_dir(self.config.preset_dir)))

    def draw(self, *, seed: int, index: int, attempt: int = 0) -> Draw:
        item_rng(seed, index, attempt, "train")  # argument checks only; nothing is random here
        base = self.sources[int(index) % len(self.sources)]
        preset, assets = finish_preset(
            base.values,
            base.modulations,
            wavetables=base.wavetables,
            lfo_shapes=base.lfo_shapes,
            sample=base.sample,
            name=base.name.rsplit("/", 1)[-1].removesuffix(".vital"),
            space=self.space,
            canonical=self.config.canonical,
        )
        return Draw(preset, assets, {"sampler": self.name, "base": base.name})
