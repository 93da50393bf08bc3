"""Build retrieval libraries from a sampler or from a dataset built by `synthmatch dataset build`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from synthmatch.errors import ParameterError
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import DEFAULT_PROBE, Probe
from synthmatch.search.library import Library, build_library

#: Seeds the evaluation suites use; libraries and training data must never be built with them.
RESERVED_EVAL_SEEDS = frozenset({20261122, 20261123})


def _embedding(name: str) -> Any:
    from synthmatch.audio.features import get_embedding

    return get_embedding(name)


def build_from_sampler(
    sampler: str,
    *,
    n: int,
    seed: int = 1,
    embedding: str = "handcrafted",
    probe: Probe = DEFAULT_PROBE,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    sampler_config: dict[str, Any] | None = None,
) -> Library:
    """Sample ``n`` presets with a registered sampler, render them at ``probe`` and embed them."""
    from synthmatch.data.samplers import make_sampler

    if seed in RESERVED_EVAL_SEEDS:
        raise ParameterError(f"seed {seed} is reserved for evaluation suites; use another seed for a library")
    s = make_sampler(sampler, sampler_config)
    presets = [s.sample(seed=seed, index=i) for i in range(n)]
    with RenderPool(workers=workers, sample_rate=probe.sample_rate) as pool:
        return build_library(
            presets,
            probe=probe,
            embedding=_embedding(embedding),
            pool=pool,
            progress=progress,
            provenance={"source": {"sampler": s.describe(), "seed": seed, "n": n}},
        )


def build_from_dataset(
    path: str | os.PathLike[str],
    *,
    embedding: str = "handcrafted",
    probe: Probe = DEFAULT_PROBE,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Library:
    """Render every preset of a dataset at ``probe`` (the library's probe) and embed it."""
    from synthmatch.data.reader import Dataset

    ds = Dataset.open(path)
    presets = [ds.preset(i) for i in range(len(ds.indices()))]
    with RenderPool(workers=workers, sample_rate=probe.sample_rate) as pool:
        return build_library(
            presets,
            probe=probe,
            embedding=_embedding(embedding),
            pool=pool,
            progress=progress,
            provenance={"source": {"dataset": str(path), "manifest": ds.describe()}},
        )
