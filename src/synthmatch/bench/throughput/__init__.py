"""Throughput benchmarks: how fast the engine, the render pool, a search and a dataset build go.

``bench render`` (:mod:`.render`): the render pool against a plain loop of `vita` renders;
``bench search`` (:mod:`.search`): one search in two settings; ``bench dataset``
(:mod:`.dataset`): a dataset build against raw renders of the same presets; ``bench estimator``
(:mod:`.estimator`): the learned estimator's inference time per sound. Each report names the
machine it ran on (:mod:`synthmatch.bench.machine`).
"""

from __future__ import annotations

from synthmatch.bench.throughput.dataset import bench_throughput, format_bench
from synthmatch.bench.throughput.estimator import format_estimator, measure_estimator
from synthmatch.bench.throughput.render import ThroughputReport, measure, mixed_presets
from synthmatch.bench.throughput.search import SEARCH_COMPARISONS, SearchThroughputReport, measure_search

__all__ = [
    "SEARCH_COMPARISONS",
    "SearchThroughputReport",
    "ThroughputReport",
    "bench_throughput",
    "format_bench",
    "format_estimator",
    "measure",
    "measure_estimator",
    "measure_search",
    "mixed_presets",
]
