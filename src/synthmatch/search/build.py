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


def _render_library(
    presets: list[Any],
    probe: Probe,
    embedding: str,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
    source: dict[str, Any],
    checkpoint: str | os.PathLike[str] | None = None,
) -> Library:
    """Render ``presets`` at ``probe`` on a fresh pool, embed them, record ``source`` as provenance
    (``checkpoint``: see :func:`~synthmatch.search.library.build_library`)."""
    with RenderPool(workers=workers, sample_rate=probe.sample_rate) as pool:
        return build_library(
            presets,
            probe=probe,
            embedding=_embedding(embedding),
            pool=pool,
            progress=progress,
            provenance={"source": source},
            checkpoint=checkpoint,
        )


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
    checkpoint: str | os.PathLike[str] | None = None,
) -> Library:
    """Sample ``n`` presets with a registered sampler, render them at ``probe`` and embed them
    (``checkpoint`` makes the build resumable, see :func:`~synthmatch.search.library.build_library`)."""
    from synthmatch.data.samplers import make_sampler

    if seed in RESERVED_EVAL_SEEDS:
        raise ParameterError(f"seed {seed} is reserved for evaluation suites; use another seed for a library")
    s = make_sampler(sampler, sampler_config)
    presets = [s.sample(seed=seed, index=i) for i in range(n)]
    return _render_library(
        presets,
        probe,
        embedding,
        workers,
        progress,
        {"sampler": s.describe(), "seed": seed, "n": n},
        checkpoint,
    )


def build_from_dataset(
    path: str | os.PathLike[str],
    *,
    embedding: str = "handcrafted",
    probe: Probe = DEFAULT_PROBE,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
) -> Library:
    """Render every preset of a dataset at ``probe`` (the library's probe) and embed it
    (``checkpoint`` makes the build resumable, see :func:`~synthmatch.search.library.build_library`)."""
    from synthmatch.data.reader import Dataset

    ds = Dataset.open(path)
    presets = [ds.preset(i) for i in range(len(ds.indices()))]
    return _render_library(
        presets,
        probe,
        embedding,
        workers,
        progress,
        {"dataset": str(path), "manifest": ds.describe()},
        checkpoint,
    )


def compact_table_pool(n_bank: int = 48, *, seed: int = 0) -> list[dict[str, Any]]:
    """A small pool of wavetables: the 4 basic shapes plus ``n_bank`` tables of the CC0 bank."""
    import numpy as np

    from synthmatch.vital.wavetables import WavetableBank

    bank = WavetableBank.default()
    idx = list(range(4))
    rest = list(range(4, len(bank)))
    if rest:
        rng = np.random.default_rng(seed)
        idx += sorted(rng.choice(rest, size=min(n_bank, len(rest)), replace=False).tolist())
    return [bank.get(i) for i in idx]


def with_compact_assets(preset: Any, pool: list[dict[str, Any]], *, seed: int, index: int) -> Any:
    """A copy of ``preset`` whose wavetables come from ``pool`` and whose sample is the init noise.

    Tables already in the pool are kept; others are replaced by a pool table drawn from
    (seed, index), so the structure of hand-made presets (envelopes, filters, routing, effects)
    is kept while the library stays small enough to ship.
    """
    import json

    import numpy as np

    from synthmatch.vital.tables import init_preset_json
    from synthmatch.vital.wavetables import table_fingerprint

    keys = {table_fingerprint(t) for t in pool}
    rng = np.random.default_rng([seed, index, 99])
    out = preset.copy()
    for k, wt in enumerate(out.wavetables):
        if table_fingerprint(wt) not in keys:
            out.wavetables[k] = json.loads(json.dumps(pool[int(rng.integers(len(pool)))]))
    out.sample = init_preset_json()["settings"]["sample"]
    return out


def build_default_library(
    *,
    n: int = 2000,
    seed: int = 1,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Library:
    """The library shipped with the package: half Latin-hypercube, half preset-informed presets
    (training split only), all with wavetables from a compact pool (see :func:`with_compact_assets`)."""
    from synthmatch.data.samplers import make_sampler

    if seed in RESERVED_EVAL_SEEDS:
        raise ParameterError(f"seed {seed} is reserved for evaluation suites")
    pool_tables = compact_table_pool()
    lhs = make_sampler("lhs", {"p_basic_table": 0.6, "p_bank_table": 0.4, "p_train_table": 0.0})
    informed = make_sampler("preset")
    presets = []
    for i in range(n):
        sampler = lhs if i % 2 == 0 else informed
        presets.append(
            with_compact_assets(sampler.sample(seed=seed, index=i), pool_tables, seed=seed, index=i)
        )
    source = {
        "recipe": "synthmatch.search.build.build_default_library",
        "n": n,
        "seed": seed,
        "samplers": [lhs.describe(), informed.describe()],
        "table_pool": len(pool_tables),
    }
    return _render_library(presets, DEFAULT_PROBE, "handcrafted", workers, progress, source)
