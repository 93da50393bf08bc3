"""The ``lhs`` sampler: a Latin hypercube over the sampled parameters, and its wavetable pools."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthmatch.data.assets import Asset
from synthmatch.data.config import Config
from synthmatch.data.samplers.base import Draw, Sampler, _tag, finish_preset, item_rng, register_sampler
from synthmatch.data.samplers.modulations import _lfo_shapes_for, sample_modulations
from synthmatch.data.sources import (
    bank_asset,
    init_sample_asset,
    load_source_presets,
    resolve_train_dir,
    wavetable_bank,
)
from synthmatch.errors import ParameterError
from synthmatch.vital.spec import ParamSpace, ParamSpec


# ---------------------------------------------------------------------------------------
# Wavetable pools.
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _train_tables(preset_dir: str) -> tuple[Asset, ...]:
    seen: dict[str, Asset] = {}
    for p in load_source_presets(preset_dir):
        for a in p.wavetables:
            seen.setdefault(a.key, a)
    return tuple(seen.values())


class WavetablePicker:
    """Maps a number u in [0, 1) to a wavetable: basic shapes, the bank, or the training tables.

    ``[0, p_basic)`` → the 4 basic shapes, then ``p_bank`` → the bank's folder tables, the rest
    → the training presets' own tables; within each part ``u`` indexes uniformly, so a stratified
    ``u`` (one LHS column) covers the pools evenly.
    """

    def __init__(
        self,
        *,
        p_basic: float,
        p_bank: float,
        p_train: float,
        wavetable_dir: str | None,
        preset_dir: str | None,
    ) -> None:
        total = p_basic + p_bank + p_train
        if total <= 0 or min(p_basic, p_bank, p_train) < 0:
            raise ParameterError(
                f"wavetable probabilities must be >= 0 with a positive sum (got basic={p_basic}, "
                f"bank={p_bank}, train={p_train})"
            )
        self.bank = wavetable_bank(wavetable_dir)
        n_folder = len(self.bank) - len(self.bank.BUILTIN)
        if n_folder == 0:
            p_bank = 0.0
        self.train_dir = str(resolve_train_dir(preset_dir)) if p_train > 0 else ""
        total = p_basic + p_bank + p_train
        self.edges = np.cumsum([p_basic / total, p_bank / total, p_train / total])
        self.n_folder = n_folder

    def pick(self, u: float) -> Asset:
        u = min(max(float(u), 0.0), math.nextafter(1.0, 0.0))
        part = int(np.searchsorted(self.edges, u, side="right"))
        lo = 0.0 if part == 0 else float(self.edges[part - 1])
        width = float(self.edges[min(part, 2)]) - lo
        frac = (u - lo) / width if width > 0 else 0.0
        if part == 0:
            return bank_asset(self.bank, min(int(frac * 4), 3))
        if part == 1:
            return bank_asset(self.bank, 4 + min(int(frac * self.n_folder), self.n_folder - 1))
        pool = _train_tables(self.train_dir)
        return pool[min(int(frac * len(pool)), len(pool) - 1)]


# ---------------------------------------------------------------------------------------
# Latin hypercube sampler.
# ---------------------------------------------------------------------------------------
#: Probability that each module switch is on.
DEFAULT_P_ON: dict[str, float] = {
    "osc_1_on": 1.0,
    "osc_2_on": 0.4,
    "osc_3_on": 0.4,
    "sample_on": 0.1,
    "filter_1_on": 0.5,
    "filter_2_on": 0.5,
    "filter_fx_on": 0.2,
    "chorus_on": 0.25,
    "compressor_on": 0.2,
    "delay_on": 0.25,
    "distortion_on": 0.25,
    "eq_on": 0.2,
    "flanger_on": 0.2,
    "phaser_on": 0.2,
    "reverb_on": 0.3,
}

#: Normalized sub-ranges [lo, hi] of [0, 1] the LHS samples for some parameters (full-match
#: regexes), chosen so a 4 s probe hears the sound: attacks up to ~2.9 s, envelopes delays/holds
#: up to ~0.1 s, transposes within ±24 semitones, at most 8 unison voices (render cost grows
#: with voices), audible oscillator levels, cutoffs above ~120 Hz.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    r"env_\d_attack": (0.0, 0.55),
    r"env_\d_(delay|hold)": (0.0, 0.4),
    r"env_\d_(decay|release)": (0.0, 0.7),
    r"(osc_[123]|sample)_transpose": (0.25, 0.75),
    r"osc_[123]_unison_voices": (0.0, 0.5),
    r"osc_[123]_level|sample_level": (0.2, 1.0),
    r"filter_[12]_cutoff": (0.3, 1.0),
}


@dataclass(frozen=True)
class LHSConfig(Config):
    """Options of the ``lhs`` sampler (see the module docstring)."""

    block_size: int = 256
    p_on: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_P_ON))
    ranges: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_RANGES))
    p_basic_table: float = 0.5
    p_bank_table: float = 0.4
    p_train_table: float = 0.1
    mean_modulations: float = 2.0
    max_modulations: int = 6
    canonical: bool = True
    wavetable_dir: str | None = None
    preset_dir: str | None = None


@functools.lru_cache(maxsize=8)
def lhs_block(seed: int, block: int, attempt: int, dims: int, block_size: int) -> np.ndarray:
    """The LHS design of one block of items [shape=(block_size, dims)], values in [0, 1)."""
    from scipy.stats import qmc  # imported here: scipy.stats costs ~0.8 s to import

    rng = np.random.default_rng([int(seed), int(block), int(attempt), _tag("lhs-block")])
    try:
        engine = qmc.LatinHypercube(d=dims, rng=rng)
    except TypeError:  # scipy < 1.15
        engine = qmc.LatinHypercube(d=dims, seed=rng)
    design = engine.random(block_size)
    design.setflags(write=False)
    return design


def _range_for(name: str, ranges: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    import re

    for pattern, (lo, hi) in ranges.items():
        if re.fullmatch(pattern, name):
            return float(lo), float(hi)
    return 0.0, 1.0


@register_sampler
class LHSSampler(Sampler):
    """Latin hypercube over the sampled parameters, with module probabilities and connections."""

    name = "lhs"
    config_type = LHSConfig
    config: LHSConfig

    def __init__(self, config: Config | Mapping[str, Any] | None = None, *, space: ParamSpace | None = None):
        super().__init__(config, space=space)
        cfg = self.config
        if cfg.block_size < 1:
            raise ParameterError(f"block_size must be >= 1, got {cfg.block_size}")
        unknown = [n for n in cfg.p_on if n not in self.space]
        if unknown:
            raise ParameterError(f"p_on names unknown parameters {unknown}")
        #: The parameters the design covers, in space order (fixed priors are not sampled).
        self.params: tuple[ParamSpec, ...] = tuple(
            self.space[n] for n in self.space.control_names() if self.space[n].prior != "fixed"
        )
        self.ranges = [_range_for(s.name, cfg.ranges) for s in self.params]
        self.dims = len(self.params) + 3  # + one wavetable column per oscillator
        self.picker = WavetablePicker(
            p_basic=cfg.p_basic_table,
            p_bank=cfg.p_bank_table,
            p_train=cfg.p_train_table,
            wavetable_dir=cfg.wavetable_dir,
            preset_dir=cfg.preset_dir,
        )

    def row(self, *, seed: int, index: int, attempt: int = 0) -> np.ndarray:
        """The design row of one item attempt [shape=(dims,)]."""
        bs = self.config.block_size
        block, pos = divmod(int(index), bs)
        return lhs_block(int(seed), block, int(attempt), self.dims, bs)[pos]

    def values_from_row(self, u: np.ndarray) -> dict[str, float]:
        """Map a design row to internal values (categories and integers by equal-width strata)."""
        p_on = self.config.p_on
        out: dict[str, float] = {}
        for s, (lo, hi), x in zip(self.params, self.ranges, u):
            x = float(x)
            if s.name in p_on:
                out[s.name] = 1.0 if x < p_on[s.name] else 0.0
                continue
            x = lo + x * (hi - lo)
            if s.kind == "categorical":
                out[s.name] = s.values[min(int(x * len(s.values)), len(s.values) - 1)]
            elif s.kind in ("discrete", "bool"):
                n_int = round(s.span) + 1
                out[s.name] = s.min + min(int(x * n_int), n_int - 1)
            else:
                out[s.name] = s.min + x * s.span
        return out

    def draw(self, *, seed: int, index: int, attempt: int = 0) -> Draw:
        cfg = self.config
        u = self.row(seed=seed, index=index, attempt=attempt)
        values = self.values_from_row(u[: len(self.params)])
        rng = item_rng(seed, index, attempt, "lhs-extras")
        mods = sample_modulations(
            rng, values, mean=cfg.mean_modulations, maximum=cfg.max_modulations, space=self.space
        )
        shapes = _lfo_shapes_for(rng, mods)
        wts = [self.picker.pick(u[len(self.params) + k]) for k in range(3)]
        preset, assets = finish_preset(
            values,
            mods,
            wavetables=wts,
            lfo_shapes=shapes,
            sample=init_sample_asset(),
            name=f"lhs-{seed}-{index}",
            space=self.space,
            canonical=cfg.canonical,
        )
        return Draw(preset, assets, {"sampler": self.name})
