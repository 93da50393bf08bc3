"""Metrics: audio distances with exact, documented definitions (``docs/BENCHMARK.md``).

All functions take ``(target, estimate, sample_rate=44100)`` mono arrays; see
:mod:`synthmatch.metrics.audio` for the conventions (44.1 kHz scoring, zero-padding, epsilons).
"""

from __future__ import annotations

from synthmatch.metrics.audio import (
    METRICS,
    MSS_MEL_SCALES,
    SCORE_SR,
    MelTarget,
    MetricSpec,
    PreparedMSSMel,
    a_mean,
    compute_metrics,
    f0_error_cents,
    mel_loss,
    metric_names,
    mfccd,
    mss_mel,
    mss_mel_prepared,
    mstft_loss,
    prepare_mss_mel,
    register_metric,
    rms_cos,
    sot,
    stft_loss,
    wmfcc,
)

__all__ = [
    "METRICS",
    "MSS_MEL_SCALES",
    "SCORE_SR",
    "MelTarget",
    "MetricSpec",
    "PreparedMSSMel",
    "a_mean",
    "compute_metrics",
    "f0_error_cents",
    "mel_loss",
    "metric_names",
    "mfccd",
    "mss_mel",
    "mss_mel_prepared",
    "mstft_loss",
    "prepare_mss_mel",
    "register_metric",
    "rms_cos",
    "sot",
    "stft_loss",
    "wmfcc",
]
