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

import abc
import dataclasses
import functools
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from synthmatch.data.assets import Asset
from synthmatch.data.config import Config
from synthmatch.data.sources import (
    BASIC_SAW,
    SourcePreset,
    bank_asset,
    init_lfo_asset,
    init_sample_asset,
    lfo_shape_assets,
    load_source_presets,
    resolve_train_dir,
    wavetable_bank,
)
from synthmatch.errors import ParameterError
from synthmatch.vital.effects import EFFECTS, decode_order, encode_order
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import ParamSpace, ParamSpec, default_space


def _tag(name: str) -> int:
    return zlib.crc32(name.encode())


def item_rng(seed: int, index: int, attempt: int, purpose: str) -> np.random.Generator:
    """The random stream of one item attempt for one purpose (pure function of its arguments)."""
    if seed < 0 or index < 0 or attempt < 0:
        raise ParameterError(f"seed, index and attempt must be >= 0 (got {seed}, {index}, {attempt})")
    return np.random.default_rng([int(seed), int(index), int(attempt), _tag(purpose)])


# ---------------------------------------------------------------------------------------
# What a sampler returns.
# ---------------------------------------------------------------------------------------
@dataclass
class Draw:
    """A sampled preset with its keyed assets and how it was made.

    ``assets`` holds the 3 wavetables, 8 LFO shapes and the sample, in that order; the preset's
    asset objects are ``json.loads`` of their canonical text.
    """

    preset: Preset
    assets: tuple[Asset, ...]
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def wavetable_keys(self) -> list[str]:
        return [a.key for a in self.assets[:3]]

    @property
    def lfo_shape_keys(self) -> list[str]:
        return [a.key for a in self.assets[3:11]]

    @property
    def sample_key(self) -> str:
        return self.assets[11].key


def _activity_holds(spec: ParamSpec, values: Mapping[str, float]) -> bool:
    return all(c.holds(values) for c in spec.activity.conditions)


def activity(
    values: Mapping[str, float], mods: Sequence[Modulation], space: ParamSpace
) -> tuple[dict[str, bool], set[str]]:
    """(which parameters matter, which sources sound) for values and connections (Preset's rules)."""
    p = Preset(values=dict(values), modulations=list(mods))
    return p.active(space=space), p.used_sources()


def _osc_on(values: Mapping[str, float], k: int) -> bool:
    return values.get(f"osc_{k}_on", 0.0) >= 0.5


@functools.lru_cache(maxsize=4)
def _controls(space: ParamSpace) -> tuple[ParamSpec, ...]:
    return tuple(space[n] for n in space.control_names())


def finish_preset(
    values: Mapping[str, float],
    modulations: Sequence[Modulation],
    *,
    wavetables: Sequence[Asset],
    lfo_shapes: Sequence[Asset],
    sample: Asset,
    name: str,
    space: ParamSpace,
    canonical: bool = True,
) -> tuple[Preset, tuple[Asset, ...]]:
    """Apply the spec's fixed priors, clamp, canonicalize, and assemble the preset.

    With ``canonical`` parameters that are inactive (their module is off, their source is not
    routed, …) are reset to their default, unrouted LFOs get the init shape, oscillators that are
    off get the basic saw and an unused sample the init sample.
    """
    controls = _controls(space)
    vals = {s.name: float(values.get(s.name, s.default)) for s in controls}
    for s in controls:
        if s.prior == "fixed":
            fixed = s.sample_value()
            if fixed is not None:
                vals[s.name] = fixed
    vals = space.validate_values(vals)
    mods = [m.validate() for m in modulations][: space.n_mod_slots]
    wts, shapes, smp = list(wavetables), list(lfo_shapes), sample
    if canonical:
        # Activity as the Vital model defines it (Preset.active: conditions, routed sources,
        # oscillators read by FM/RM). Defaults are valid values and linked parameters (filter
        # model/style) share their activity, so the reset keeps the values valid.
        active, used = activity(vals, mods, space)
        for s in controls:
            if s.prior != "fixed" and not active[s.name]:
                vals[s.name] = s.default
        saw = bank_asset(wavetable_bank(), BASIC_SAW)
        for k in (1, 2, 3):
            if not _osc_on(vals, k):
                wts[k - 1] = saw
        for k in range(1, 9):
            if f"lfo_{k}" not in used:
                shapes[k - 1] = init_lfo_asset()
        if vals.get("sample_on", 0.0) < 0.5:
            smp = init_sample_asset()
    assets = (*wts, *shapes, smp)
    if len(assets) != 12:
        raise ParameterError(
            f"a preset needs 3 wavetables, 8 LFO shapes and a sample; got {len(assets)} assets"
        )
    preset = Preset(
        values=vals,
        modulations=mods,
        wavetables=[a.obj() for a in wts],
        lfo_shapes=[a.obj() for a in shapes],
        sample=smp.obj(),
        meta={"preset_name": name},
    )
    return preset, assets


# ---------------------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------------------
class Sampler(abc.ABC):
    """Base class: ``draw(seed=, index=, attempt=)`` → :class:`Draw`. Subclasses register by name."""

    name: ClassVar[str]
    config_type: ClassVar[type[Config]]

    def __init__(self, config: Config | Mapping[str, Any] | None = None, *, space: ParamSpace | None = None):
        if config is None or isinstance(config, Mapping):
            config = self.config_type.from_dict(config)
        if not isinstance(config, self.config_type):
            raise ParameterError(
                f"sampler {self.name!r} takes a {self.config_type.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.space = space or default_space()

    @abc.abstractmethod
    def draw(self, *, seed: int, index: int, attempt: int = 0) -> Draw:
        """The preset of item ``index`` (attempt ``attempt``) of a dataset built with ``seed``."""

    def sample(self, *, seed: int, index: int, attempt: int = 0) -> Preset:
        """Like :meth:`draw`, the preset only."""
        return self.draw(seed=seed, index=index, attempt=attempt).preset

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "config": self.config.to_dict()}


SAMPLERS: dict[str, type[Sampler]] = {}


def register_sampler(cls: type[Sampler]) -> type[Sampler]:
    """Class decorator: make a sampler available by its ``name``."""
    if cls.name in SAMPLERS:
        raise ValueError(f"sampler {cls.name!r} registered twice")
    SAMPLERS[cls.name] = cls
    return cls


def sampler_names() -> list[str]:
    return sorted(SAMPLERS)


def make_sampler(
    name: str, config: Config | Mapping[str, Any] | None = None, *, space: ParamSpace | None = None
) -> Sampler:
    """Build the sampler registered as ``name``."""
    try:
        cls = SAMPLERS[name]
    except KeyError:
        raise ParameterError(
            f"unknown sampler {name!r}; choose one of {', '.join(sampler_names())}"
        ) from None
    return cls(config, space=space)


# ---------------------------------------------------------------------------------------
# Modulation connections (declared sources → sensible destinations).
# ---------------------------------------------------------------------------------------
#: Sources the generators connect (their parameters become active when routed).
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


# ---------------------------------------------------------------------------------------
# Preset-informed sampler.
# ---------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------
# Mixture.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MixConfig(Config):
    """Options of the ``mix`` sampler: component weights and each component's options."""

    weights: dict[str, float] = field(default_factory=lambda: {"lhs": 0.5, "preset": 0.5})
    components: dict[str, dict[str, Any]] = field(default_factory=dict)


@register_sampler
class MixSampler(Sampler):
    """Per item, one registered sampler chosen with ``weights`` (the same for every attempt)."""

    name = "mix"
    config_type = MixConfig
    config: MixConfig

    def __init__(self, config: Config | Mapping[str, Any] | None = None, *, space: ParamSpace | None = None):
        super().__init__(config, space=space)
        w = {k: float(v) for k, v in self.config.weights.items() if float(v) > 0}
        if not w or "mix" in w:
            raise ParameterError(
                f"mix weights must name other samplers with positive weights, got {self.config.weights}"
            )
        self.names = sorted(w)
        total = sum(w.values())
        self.edges = np.cumsum([w[k] / total for k in self.names])
        self.components = {
            k: make_sampler(k, self.config.components.get(k), space=self.space) for k in self.names
        }

    def component(self, *, seed: int, index: int) -> str:
        u = item_rng(seed, index, 0, "mix").random()
        return self.names[min(int(np.searchsorted(self.edges, u, side="right")), len(self.names) - 1)]

    def draw(self, *, seed: int, index: int, attempt: int = 0) -> Draw:
        name = self.component(seed=seed, index=index)
        d = self.components[name].draw(seed=seed, index=index, attempt=attempt)
        d.detail = {**d.detail, "sampler": self.name, "component": name}
        return d
