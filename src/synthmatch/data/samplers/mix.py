"""The ``mix`` sampler: per item, one of the other registered samplers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthmatch.data.config import Config
from synthmatch.data.samplers.base import Draw, Sampler, item_rng, make_sampler, register_sampler
from synthmatch.errors import ParameterError
from synthmatch.vital.spec import ParamSpace


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
