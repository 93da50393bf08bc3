"""The search objective: how far a render is from the target (lower is better).

MSS-mel (the benchmark's headline metric, :mod:`synthmatch.metrics`) plus a pitch term for a pitched
target: MSS-mel alone barely sees pitch, and a match at the wrong note is useless to a musician.
The scores are picklable, so the render workers can compute them (see
:class:`~synthmatch.search.refine.WorkerScore`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.render.probe import Probe

#: The pitch term: this many dB per semitone of median f0 difference between candidate and
#: target, capped at 12 semitones; an unvoiced candidate counts as 12.
PITCH_PENALTY_DB_PER_SEMITONE = 0.5
PITCH_PENALTY_CAP_SEMITONES = 12.0


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """``audio`` cut or zero-padded to ``n`` samples, as float32 [shape=(n,)]."""
    out = np.zeros(n, np.float32)
    m = min(n, len(audio))
    out[:m] = audio[:m]
    return out


def candidate_f0(audio: np.ndarray, sample_rate: int) -> float | None:
    """Median YIN f0 (Hz) of a candidate render's voiced frames, or None when none is voiced."""
    from synthmatch.audio.analysis import pitch_track
    from synthmatch.errors import AudioError

    try:
        tr = pitch_track(audio, sample_rate)
    except AudioError:
        return None
    f0 = tr.f0_hz[tr.voiced & (tr.f0_hz > 0)]
    return float(np.median(f0)) if len(f0) else None


class PitchMemo:
    """:func:`candidate_f0` of each candidate render, measured once.

    One match reads a render's f0 up to three times (the objective's pitch term, pitch alignment,
    the in-tune check), each a YIN pass of tens of ms. The memo is keyed by the array object and
    holds a reference to it, so an id is never reused while its entry lives; keep one per match.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._seen: dict[int, tuple[np.ndarray, float | None]] = {}

    def __call__(self, audio: np.ndarray) -> float | None:
        hit = self._seen.get(id(audio))
        if hit is not None and hit[0] is audio:
            return hit[1]
        f0 = candidate_f0(audio, self.sample_rate)
        self.remember(audio, f0)
        return f0

    def remember(self, audio: np.ndarray, f0: float | None) -> None:
        """Keep an f0 measured elsewhere (e.g. by the render worker) for this array."""
        self._seen[id(audio)] = (audio, f0)


def pitch_penalty(audio: np.ndarray, sample_rate: int, target_f0: float) -> float:
    """The pitch term of the search objective (dB) for a candidate render."""
    return _pitch_term(candidate_f0(audio, sample_rate), target_f0)


def _pitch_term(f0: float | None, target_f0: float) -> float:
    semis = (
        PITCH_PENALTY_CAP_SEMITONES
        if f0 is None
        else min(abs(12.0 * math.log2(f0 / target_f0)), PITCH_PENALTY_CAP_SEMITONES)
    )
    return PITCH_PENALTY_DB_PER_SEMITONE * semis


class TargetScore:
    """The search objective against a target (lower is better): MSS-mel, plus the pitch term
    (:data:`PITCH_PENALTY_DB_PER_SEMITONE`) when the target is pitched (``target_f0`` in Hz).

    A :class:`~synthmatch.search.refine.WorkerScore`: the render workers compute it and send the
    render's f0 back with the score, which ``noted`` puts into the searching process's
    :class:`PitchMemo` so that pitch alignment and the in-tune check do not measure it again. A
    pickle carries the target audio and a copy prepares its spectrograms once; the copy measures
    f0 without a memo (a worker's memo would keep every render alive).
    """

    def __init__(
        self,
        target: np.ndarray,
        probe: Probe,
        *,
        target_f0: float | None,
        f0_of: Callable[[np.ndarray], float | None] | None = None,
    ) -> None:
        from synthmatch.metrics import prepare_mss_mel

        self.n_samples = probe.n_samples
        self.sample_rate = probe.sample_rate
        self.target_f0 = target_f0
        self.target = fit_length(target, probe.n_samples)
        self.prepared = prepare_mss_mel(self.target, probe.sample_rate)
        self.f0_of: Callable[[np.ndarray], float | None] | None = f0_of or PitchMemo(probe.sample_rate)

    def __getstate__(self) -> dict[str, Any]:
        # the target, not its spectrograms (about 3x the bytes); a copy prepares them once
        return {k: v for k, v in self.__dict__.items() if k not in ("prepared", "f0_of")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from synthmatch.metrics import prepare_mss_mel

        self.__dict__.update(state, f0_of=None)
        self.prepared = prepare_mss_mel(self.target, self.sample_rate)

    def measure(self, y: np.ndarray) -> tuple[float, dict[str, float | None]]:
        """(score, note): the note holds the render's f0 when it was measured on the render itself."""
        from synthmatch.metrics import mss_mel_prepared

        fitted = fit_length(y, self.n_samples)
        s = mss_mel_prepared(self.prepared, fitted)
        if not self.target_f0:
            return s, {}
        if len(y) != self.n_samples:  # another length: measured as fitted to the probe, not kept
            return s + _pitch_term(candidate_f0(fitted, self.sample_rate), self.target_f0), {}
        f0 = self.f0_of(y) if self.f0_of is not None else candidate_f0(y, self.sample_rate)
        return s + _pitch_term(f0, self.target_f0), {"f0": f0}

    def __call__(self, y: np.ndarray) -> float:
        return self.measure(y)[0]

    def noted(self, y: np.ndarray, note: dict[str, float | None]) -> None:
        if "f0" in note and isinstance(self.f0_of, PitchMemo):
            self.f0_of.remember(y, note["f0"])


@dataclass(frozen=True)
class FinalScore:
    """Every metric of a final candidate's render against the target, plus ``objective`` (the
    search objective: MSS-mel and the pitch term). Picklable, so the render workers compute it
    for the finals side by side (a :class:`~synthmatch.render.pool.Measure`; about 0.3 s each)."""

    target: np.ndarray
    sample_rate: int
    n_samples: int
    target_f0: float | None

    def __call__(self, mono: np.ndarray) -> dict[str, float]:
        from synthmatch.metrics import compute_metrics

        y = fit_length(mono, self.n_samples)
        metrics = compute_metrics(self.target, y, self.sample_rate)
        metrics["objective"] = metrics["mss_mel"] + (
            pitch_penalty(y, self.sample_rate, self.target_f0) if self.target_f0 else 0.0
        )
        return metrics


def make_score(
    target: np.ndarray,
    probe: Probe,
    *,
    target_f0: float | None,
    f0_of: Callable[[np.ndarray], float | None] | None = None,
) -> TargetScore:
    """The search objective against ``target`` (see :class:`TargetScore`). ``f0_of`` measures a
    render's f0 (a :class:`PitchMemo` shares it with the other steps); a render of another length
    than the probe's is measured as fitted to it, without the memo."""
    return TargetScore(target, probe, target_f0=target_f0, f0_of=f0_of)
