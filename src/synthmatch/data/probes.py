"""Probe samplers: which note, velocity and note length each dataset item is played with.

``fixed`` (the default) plays every item with one probe. ``range`` draws the note, the velocity
and the note length per item from ``(seed, index)``; the render length and the sample rate stay
those of the base probe, so every item's audio and features have the same shape.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from synthmatch.data.config import Config
from synthmatch.errors import ParameterError
from synthmatch.render.probe import DEFAULT_PROBE, NOTE_OFF_MARGIN_S, Probe


class ProbeSampler(abc.ABC):
    """Base class: ``probe(seed=, index=)`` → :class:`~synthmatch.render.probe.Probe`."""

    name: ClassVar[str]
    config_type: ClassVar[type[Config]]

    def __init__(self, base: Probe = DEFAULT_PROBE, config: Config | Mapping[str, Any] | None = None) -> None:
        if config is None or isinstance(config, Mapping):
            config = self.config_type.from_dict(config)
        self.base = base
        self.config = config

    @abc.abstractmethod
    def probe(self, *, seed: int, index: int) -> Probe:
        """The probe of item ``index``."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base.to_dict(), "config": self.config.to_dict()}


PROBE_SAMPLERS: dict[str, type[ProbeSampler]] = {}


def register_probe_sampler(cls: type[ProbeSampler]) -> type[ProbeSampler]:
    PROBE_SAMPLERS[cls.name] = cls
    return cls


def make_probe_sampler(
    name: str = "fixed", base: Probe = DEFAULT_PROBE, config: Config | Mapping[str, Any] | None = None
) -> ProbeSampler:
    """Build the probe sampler registered as ``name``."""
    try:
        cls = PROBE_SAMPLERS[name]
    except KeyError:
        raise ParameterError(
            f"unknown probe sampler {name!r}; choose one of {', '.join(sorted(PROBE_SAMPLERS))}"
        ) from None
    return cls(base, config)


@dataclass(frozen=True)
class FixedProbeConfig(Config):
    """The ``fixed`` probe sampler has no options."""


@register_probe_sampler
class FixedProbeSampler(ProbeSampler):
    """Every item uses the base probe."""

    name = "fixed"
    config_type = FixedProbeConfig

    def probe(self, *, seed: int, index: int) -> Probe:
        return self.base


@dataclass(frozen=True)
class RangeProbeConfig(Config):
    """Uniform ranges (inclusive) for the note, the velocity and the note length in seconds.

    The note length is capped at ``render_seconds - 0.05`` of the base probe (a note still held
    at the end of a render leaks into the next one).
    """

    notes: tuple[int, int] = (36, 84)
    velocities: tuple[float, float] = (0.4, 1.0)
    note_seconds: tuple[float, float] = (0.25, 2.0)


@register_probe_sampler
class RangeProbeSampler(ProbeSampler):
    """Note, velocity and note length drawn per item."""

    name = "range"
    config_type = RangeProbeConfig
    config: RangeProbeConfig

    def __init__(self, base: Probe = DEFAULT_PROBE, config: Config | Mapping[str, Any] | None = None) -> None:
        super().__init__(base, config)
        lo, hi = self.config.note_seconds
        cap = base.render_seconds - NOTE_OFF_MARGIN_S
        if not 0 < lo <= hi:
            raise ParameterError(f"note_seconds range {self.config.note_seconds} must satisfy 0 < lo <= hi")
        self.note_seconds = (min(lo, cap), min(hi, cap))
        n0, n1 = self.config.notes
        if not 0 <= n0 <= n1 <= 127:
            raise ParameterError(f"notes range {self.config.notes} must lie in [0, 127]")
        v0, v1 = self.config.velocities
        if not 0 < v0 <= v1 <= 1:
            raise ParameterError(f"velocities range {self.config.velocities} must lie in (0, 1]")

    def probe(self, *, seed: int, index: int) -> Probe:
        from synthmatch.data.samplers import item_rng

        rng = item_rng(seed, index, 0, "probe")
        n0, n1 = self.config.notes
        v0, v1 = self.config.velocities
        s0, s1 = self.note_seconds
        return self.base.replace(
            note=int(rng.integers(n0, n1 + 1)),
            velocity=float(rng.uniform(v0, v1)),
            note_seconds=float(rng.uniform(s0, s1)),
        )
