"""The Vital sound-matching benchmark, as ``synthmatch bench`` (figures and commands: ``docs/BENCHMARKS.md``).

Suites (:mod:`.suites`) build :class:`Item` targets, with ground truth read from their presets
(:mod:`.truth`); methods (:mod:`.methods`) turn a target into a preset and the probe they chose,
from the audio alone; every (item, method) pair is rendered at that probe and scored with every
metric of :mod:`synthmatch.metrics` (:mod:`.run`, configured by a :class:`BenchConfig`). Finished
attempts are logged for resuming (:mod:`.log`). The report (:mod:`.stats`, :mod:`.report`) gives
medians with bootstrap 95% intervals, win rates against each baseline, renders and seconds per
match, analysis accuracy, and spectrogram comparisons; :func:`merge_scores` joins the scores of
several runs. Suites and methods register by name (:func:`register_suite`,
:func:`register_method`), and ``bench run`` takes its choices from the registries.

The throughput benchmarks live in :mod:`synthmatch.bench.throughput`, the machine a report names
in :mod:`synthmatch.bench.machine`.
"""

from __future__ import annotations

from synthmatch.bench import syntheon as _syntheon  # noqa: F401  (registers the "syntheon" method)
from synthmatch.bench.log import AttemptLog, analysis_inputs, settings_key
from synthmatch.bench.merge import merge_scores
from synthmatch.bench.methods import (
    METHOD_ALIASES,
    METHODS,
    SEARCH_BIG_FACTOR,
    Attempt,
    MethodContext,
    MethodSpec,
    canonical_methods,
    make_methods,
    method_names,
    register_method,
)
from synthmatch.bench.report import format_markdown, spectrogram_figures
from synthmatch.bench.run import BenchConfig, run_benchmark, run_suite, score_attempts
from synthmatch.bench.stats import (
    HEADLINE,
    MATCH_TARGETS,
    WITHIN_RATIO,
    SuiteResult,
    bootstrap_ci,
    match_ratios,
    ratio_of_medians_ci,
    summarize,
)
from synthmatch.bench.suites import (
    ID_RAND_SEED,
    STRESS_SEED,
    SUITES,
    Item,
    SuiteSpec,
    rand_suite_label,
    register_suite,
    suite_names,
)
from synthmatch.bench.truth import pitch_truth, release_audibility, waveform_multiples

__all__ = [
    "HEADLINE",
    "ID_RAND_SEED",
    "MATCH_TARGETS",
    "METHODS",
    "METHOD_ALIASES",
    "SEARCH_BIG_FACTOR",
    "STRESS_SEED",
    "SUITES",
    "WITHIN_RATIO",
    "Attempt",
    "AttemptLog",
    "BenchConfig",
    "Item",
    "MethodContext",
    "MethodSpec",
    "SuiteResult",
    "SuiteSpec",
    "analysis_inputs",
    "bootstrap_ci",
    "canonical_methods",
    "format_markdown",
    "make_methods",
    "match_ratios",
    "merge_scores",
    "method_names",
    "pitch_truth",
    "rand_suite_label",
    "ratio_of_medians_ci",
    "register_method",
    "register_suite",
    "release_audibility",
    "run_benchmark",
    "run_suite",
    "score_attempts",
    "settings_key",
    "spectrogram_figures",
    "suite_names",
    "summarize",
    "waveform_multiples",
]
