"""Datasets of (preset, audio features): samplers, sharded resumable builds (process pool or Ray), readers.

Quick start::

    from synthmatch.data import build_dataset, open_dataset
    build_dataset("data/lhs-10k", n=10_000, sampler="lhs", seed=0, workers=8)
    ds = open_dataset("data/lhs-10k")
    item = ds[0]                 # vectors, mel, stats, probe, preset reference
    preset = ds.preset(0)        # the exact Preset that was rendered
    for batch in ds.iter_batches(256, shuffle=True):
        ...

See docs/DATASETS.md for the format and the scaling plan.
"""

from synthmatch.data.assets import AssetStore, DatasetError
from synthmatch.data.build import BuildReport, build_dataset, make_job
from synthmatch.data.probes import PROBE_SAMPLERS, ProbeSampler, make_probe_sampler, register_probe_sampler
from synthmatch.data.reader import Dataset, Item, open_dataset
from synthmatch.data.samplers import (
    SAMPLERS,
    Draw,
    LHSConfig,
    MixConfig,
    PresetSamplerConfig,
    Sampler,
    TrainConfig,
    make_sampler,
    register_sampler,
    sampler_names,
)
from synthmatch.data.stats import STAT_NAMES
from synthmatch.data.worker import REJECTION_REASONS, Job, item_task

__all__ = [
    "PROBE_SAMPLERS",
    "REJECTION_REASONS",
    "SAMPLERS",
    "STAT_NAMES",
    "AssetStore",
    "BuildReport",
    "Dataset",
    "DatasetError",
    "Draw",
    "Item",
    "Job",
    "LHSConfig",
    "MixConfig",
    "PresetSamplerConfig",
    "ProbeSampler",
    "Sampler",
    "TrainConfig",
    "build_dataset",
    "item_task",
    "make_job",
    "make_probe_sampler",
    "make_sampler",
    "open_dataset",
    "register_probe_sampler",
    "register_sampler",
    "sampler_names",
]
