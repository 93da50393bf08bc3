"""A small base for configuration dataclasses (``to_dict``/``from_dict``): the data module's samplers
and probes, and the estimator's nested configs (:mod:`synthmatch.models.configs`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from synthmatch.errors import ParameterError

C = TypeVar("C", bound="Config")


@dataclasses.dataclass(frozen=True)
class Config:
    """Frozen dataclass config; JSON-able through :meth:`to_dict` / :meth:`from_dict`. A field may
    hold another config (nested as a dict)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Config):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = [list(x) if isinstance(x, tuple) else x for x in v]
            elif isinstance(v, Mapping):
                v = {k: (list(x) if isinstance(x, tuple) else x) for k, x in v.items()}
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls: type[C], d: Mapping[str, Any] | None) -> C:
        d = dict(d or {})
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(names)
        if unknown:
            raise ParameterError(
                f"unknown {cls.__name__} options {sorted(unknown)}. Hint: valid options are {sorted(names)}."
            )
        kwargs: dict[str, Any] = {}
        for k, v in d.items():
            f = names[k]
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if isinstance(default, Config):
                v = v if isinstance(v, Config) else type(default).from_dict(v)
            elif isinstance(v, list) and isinstance(default, tuple):
                v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
            elif isinstance(v, Mapping):
                v = {kk: (tuple(x) if isinstance(x, list) else x) for kk, x in v.items()}
            kwargs[k] = v
        return cls(**kwargs)

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)
