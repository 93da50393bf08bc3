"""The sampler protocol and registry, the per-item random streams, and :func:`finish_preset`.

A sampler maps ``(seed, index, attempt)`` to a :class:`Draw`; :func:`item_rng` gives each item
attempt its own random stream for each purpose, so items never depend on one another.
"""

from __future__ import annotations

import abc
import functools
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from synthmatch.data.assets import Asset
from synthmatch.data.config import Config
from synthmatch.data.sources import BASIC_SAW, bank_asset, init_lfo_asset, init_sample_asset, wavetable_bank
from synthmatch.errors import ParameterError
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
