"""Build retrieval libraries from a sampler or from a dataset built by `synthmatch dataset build`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from synthmatch import __version__
from synthmatch.errors import ParameterError
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import DEFAULT_PROBE, Probe
from synthmatch.search.library import Library, build_library

#: Seeds the evaluation suites use; libraries and training data must never be built with them.
RESERVED_EVAL_SEEDS = frozenset({20261122, 20261123})


def _embedding(name: str) -> Any:
    from synthmatch.audio.features import EMBEDDINGS, get_embedding

    if getattr(EMBEDDINGS.get(name), "needs_probe", False):
        # a rendered library embeds each render without its probe (build_library)
        raise ParameterError(
            f"the {name!r} embedding is conditioned on each clip's probe; build its library from a "
            f"dataset's stored log-mels (synthmatch library build --dataset DIR --embedding {name})"
        )
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
    emb = _embedding(embedding)  # before the pool: an embedding that cannot be rendered fails at once
    with RenderPool(workers=workers, sample_rate=probe.sample_rate) as pool:
        return build_library(
            presets,
            probe=probe,
            embedding=emb,
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


#: Which of a dataset's items a library built from it holds: all of them, or the estimator's
#: training or validation split (:func:`synthmatch.train.split.is_validation`).
SPLITS = ("all", "train", "validation")


def dataset_split(
    ds: Any,
    split: str = "all",
    *,
    val_fraction: float | None = None,
    split_salt: int | None = None,
    items: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The positions of ``ds``'s items in ``split`` (int array) and a record of the split.

    ``val_fraction`` and ``split_salt`` default to the estimator's
    (:class:`synthmatch.models.configs.DataConfig`), so ``split="train"`` holds exactly the items
    the estimator trains on, never its validation items. ``items`` keeps the dataset's first
    ``items`` items only (by index): what an estimator trained while the dataset was still being
    built read (its card's ``data.items``)."""
    import numpy as np

    from synthmatch.models.configs import DataConfig
    from synthmatch.train.split import is_validation

    if split not in SPLITS:
        raise ParameterError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    fraction = DataConfig().val_fraction if val_fraction is None else float(val_fraction)
    salt = DataConfig().split_salt if split_salt is None else int(split_salt)
    indices = ds.indices()
    first = np.ones(len(indices), dtype=bool)
    cap: dict[str, Any] = {}
    if items is not None:
        if int(items) > len(indices):
            raise ParameterError(
                f"the dataset holds {len(indices)} items in complete shards, fewer than {items}. "
                "Hint: wait for its build to complete more shards, or pass a smaller --items."
            )
        first = np.zeros(len(indices), dtype=bool)  # the items with the smallest indices (a build
        first[np.argsort(indices, kind="stable")[: int(items)]] = True  # skips failed renders' indices)
        cap = {"items": int(items)}
    if split == "all":
        return np.nonzero(first)[0], {"split": "all", **cap}
    val = is_validation(indices, fraction=fraction, salt=salt)
    keep = (~val if split == "train" else val) & first
    return np.nonzero(keep)[0], {"split": split, "val_fraction": fraction, "split_salt": salt, **cap}


def build_from_dataset(
    path: str | os.PathLike[str],
    *,
    embedding: str = "handcrafted",
    probe: Probe = DEFAULT_PROBE,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    split: str = "all",
    val_fraction: float | None = None,
    split_salt: int | None = None,
    embedding_config: dict[str, Any] | None = None,
    items: int | None = None,
) -> Library:
    """A library of a dataset's presets (the items of ``split``, see :func:`dataset_split`).

    An embedding computed from the dataset's stored log-mel (one with ``for_stored_mels``, e.g.
    ``logmel-stats`` or ``estimator``, whose ``embedding_config`` names the model) is built with no
    render (:func:`build_from_stored_mels`; ``probe``, ``workers`` and ``checkpoint`` are then
    unused). Any other embedding renders every preset at ``probe`` (the library's probe;
    ``checkpoint`` makes that build resumable, see :func:`~synthmatch.search.library.build_library`)."""
    from synthmatch.audio.features import EMBEDDINGS
    from synthmatch.data.reader import Dataset

    if hasattr(EMBEDDINGS.get(embedding), "for_stored_mels"):
        return build_from_stored_mels(
            path,
            embedding=embedding,
            embedding_config=embedding_config,
            progress=progress,
            split=split,
            val_fraction=val_fraction,
            split_salt=split_salt,
            items=items,
        )
    if embedding_config:
        raise ParameterError(f"embedding_config is for embeddings of stored log-mels, not {embedding!r}")
    ds = Dataset.open(path)
    positions, split_info = dataset_split(
        ds, split, val_fraction=val_fraction, split_salt=split_salt, items=items
    )
    presets = [ds.preset(int(i)) for i in positions]
    return _render_library(
        presets,
        probe,
        embedding,
        workers,
        progress,
        {"dataset": str(path), "manifest": ds.describe(), **split_info, "n": len(presets)},
        checkpoint,
    )


def build_from_stored_mels(
    path: str | os.PathLike[str],
    *,
    embedding: str = "logmel-stats",
    embedding_config: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    split: str = "all",
    val_fraction: float | None = None,
    split_salt: int | None = None,
    batch_size: int = 256,
    items: int | None = None,
) -> Library:
    """A library of a dataset's items (those of ``split``, :func:`dataset_split`) embedded from
    their stored log-mel, with no render, reading one shard at a time.

    The embedding is built with the dataset's :class:`~synthmatch.audio.features.LogMelConfig`
    and render length (its ``for_stored_mels``, with ``embedding_config``), so a query embedded
    from audio lands in the same space. Each library item is the item's exact preset
    (``ds.preset(i)``) and keeps the item's probe (``probe`` in its record; an embedding
    conditioned on the probe embeds the item with it) and dataset index (``item``): the items were
    rendered at their own notes, velocities and note lengths. The split's ``val_fraction`` and
    ``split_salt`` default to those the embedding's model trained with (``training_split``), else
    to the estimator's defaults. The provenance records the dataset, the split and the item count."""
    import numpy as np

    from synthmatch.audio.features import EMBEDDINGS, LogMelConfig
    from synthmatch.data.reader import Dataset
    from synthmatch.render.engine import engine_version
    from synthmatch.search.library import FORMAT_VERSION, compact_record
    from synthmatch.vital.spec import default_space

    ds = Dataset.open(path)
    features = ds.manifest.get("features") or {}
    if features.get("type", "log_mel") != "log_mel":
        raise ParameterError(f"dataset {path} stores {features.get('type')!r} features, not a log-mel")
    cls = EMBEDDINGS.get(embedding)
    if not hasattr(cls, "for_stored_mels"):
        stored = sorted(k for k, c in EMBEDDINGS.items() if hasattr(c, "for_stored_mels"))
        raise ParameterError(
            f"embedding {embedding!r} is not computed from stored log-mels; use one of {stored}"
        )
    emb = cls.for_stored_mels(
        mel=LogMelConfig.from_dict(features.get("config")),
        seconds=ds.probe.render_seconds,
        **(embedding_config or {}),
    )
    # an embedding by a trained model defaults to the split that model trained with
    own = getattr(emb, "training_split", {})
    val_fraction = own.get("val_fraction") if val_fraction is None else val_fraction
    split_salt = own.get("split_salt") if split_salt is None else split_salt
    items = own.get("items") if items is None else items
    positions, split_info = dataset_split(
        ds, split, val_fraction=val_fraction, split_salt=split_salt, items=items
    )
    if not len(positions):
        raise ParameterError(f"dataset {path} has no items in split {split!r}")
    offsets = np.cumsum([0, *ds.shard_sizes()])
    records: list[dict[str, Any]] = []
    assets: dict[str, Any] = {}
    vecs: list[np.ndarray] = []
    for k in range(ds.n_shards):
        rows = positions[(positions >= offsets[k]) & (positions < offsets[k + 1])] - offsets[k]
        if not len(rows):
            continue
        cols = ds.shard_columns(k, ("index", "mel"))
        for a in range(0, len(rows), batch_size):
            sel = rows[a : a + batch_size]
            probes = [ds.probe_of(int(offsets[k] + row)) for row in sel]
            vecs.append(emb.embed_mels(np.asarray(cols["mel"][sel], dtype=np.float32), probes=probes))
            for row, probe in zip(sel, probes):
                rec = compact_record(ds.preset(int(offsets[k] + row)), assets)
                rec["item"] = int(cols["index"][row])
                rec["probe"] = probe.to_dict()
                records.append(rec)
            if progress is not None:
                progress(len(records), len(positions))
    prov = {
        "format": FORMAT_VERSION,
        "spec_hash": default_space().spec_hash,
        # the dataset's declared probe; each item's own probe is in its record
        "probe": ds.probe.to_dict(),
        "item_probes": True,
        "embedding": {"name": emb.name, "config": emb.config.to_dict()},
        "size": len(records),
        "skipped": {},
        "versions": {"synthmatch": __version__, "vita": engine_version(), "numpy": np.__version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": {
            "dataset": str(path),
            "manifest": ds.describe(),
            "probe_sampler": ds.manifest.get("probe_sampler"),
            **split_info,
            "n": len(records),
            "rendered": False,
        },
    }
    return Library(np.concatenate(vecs).astype(np.float32), records, assets, prov)


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
