"""Audio distances of the sound-matching benchmark, each defined exactly in its docstring.

Conventions shared by every metric here:

- Inputs are mono float arrays ``[shape=(n,)]`` at one sample rate. Scores are computed at
  44100 Hz (:data:`SCORE_SR`): other rates are resampled first (polyphase, deterministic).
- When the two signals differ in length, the shorter is zero-padded at the end to the longer.
- The first argument is the **target** (the reference), the second the **estimate** (the match).
  This matters for the asymmetric ones (spectral convergence inside the Combes losses).
- Every division and logarithm is guarded, so silence gives finite values (never NaN).
- STFTs (:func:`synthmatch.dsp.stft`) use a periodic Hann window. Frames are centred:
  librosa-style zero padding for the benchmark's own metrics (MSS-mel, wMFCC, SOT, RMS-cos) and
  torch/auraloss-style reflect padding for the Combes losses, to match how those figures are
  reported in the literature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.fft

from synthmatch.dsp import kaldi_mel_filterbank, mel_filterbank, power_spectrum, power_to_db, resample, stft
from synthmatch.errors import AudioError, EmptyAudioError

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

#: Sample rate (Hz) at which every score is computed.
SCORE_SR = 44100
#: MSS-mel scales as (window s, hop s, mels); n_fft = window. In samples at 44.1 kHz (floor):
#: (441, 220, 32), (1102, 441, 64), (4410, 2205, 128).
MSS_MEL_SCALES: tuple[tuple[float, float, int], ...] = (
    (0.010, 0.005, 32),
    (0.025, 0.010, 64),
    (0.100, 0.050, 128),
)
_MSS_TOP_DB = 80.0
_MSS_AMIN = 1e-10
_SOT_EPS = 1e-8  # per-bin magnitude floor: a silent frame becomes a uniform distribution
_COMBES_EPS = 1e-8  # floor on the squared magnitude, inside the square root (auraloss)
_MSTFT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
_F0_NO_OVERLAP_CENTS = 1200.0

MetricFn = Callable[[np.ndarray, np.ndarray, int], float]


@dataclass(frozen=True)
class MetricSpec:
    """A registered audio metric.

    Attributes
    ----------
    name : str
        Registry key (also the key in :func:`compute_metrics`' result).
    fn : Callable[[np.ndarray, np.ndarray, int], float]
        ``fn(target, estimate, sample_rate) -> float``.
    higher_is_better : bool
        True for similarities (``rms_cos``), False for distances.
    unit : str
        Unit of the value.
    description : str
        One-line definition.
    """

    name: str
    fn: MetricFn
    higher_is_better: bool
    unit: str
    description: str


#: All metrics by name, in registration order (the headline ``mss_mel`` first).
METRICS: dict[str, MetricSpec] = {}


def register_metric(
    name: str, *, higher_is_better: bool, unit: str, description: str
) -> Callable[[MetricFn], MetricFn]:
    """Decorator adding ``fn(target, estimate, sample_rate) -> float`` to :data:`METRICS`."""

    def deco(fn: MetricFn) -> MetricFn:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is already registered.")
        METRICS[name] = MetricSpec(name, fn, higher_is_better, unit, description)
        return fn

    return deco


def compute_metrics(
    target: np.ndarray,
    estimate: np.ndarray,
    sample_rate: int = SCORE_SR,
    *,
    names: Iterable[str] | None = None,
) -> dict[str, float]:
    """Compute several metrics on one (target, estimate) pair.

    Parameters
    ----------
    target, estimate : np.ndarray [shape=(n,)]
        Mono signals at ``sample_rate``; lengths may differ (the shorter is zero-padded).
    sample_rate : int
        Sample rate in Hz of both signals.
    names : iterable of str, optional
        Metric names from :data:`METRICS`; all of them when None.

    Returns
    -------
    dict[str, float]
        Metric name → value (units in ``METRICS[name].unit``), in the order requested.
    """
    wanted = list(METRICS) if names is None else list(names)
    unknown = [n for n in wanted if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; available: {sorted(METRICS)}.")
    t, e = _pair(target, estimate, sample_rate)
    values: dict[str, float] = {}

    def value(name: str) -> float:
        if name not in values:
            if name == "a_mean":  # reuse the four parts when they are computed anyway
                values[name] = _combine_a_mean(*(value(p) for p in _A_MEAN_PARTS))
            else:
                values[name] = float(METRICS[name].fn(t, e, SCORE_SR))
        return values[name]

    return {n: value(n) for n in wanted}


# --- input handling ------------------------------------------------------------------------------------------


def _signal(x: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise AudioError(
            f"the {what} must be mono with shape (n,), got shape {arr.shape}. Hint: mix it to mono first."
        )
    if arr.size == 0:
        raise EmptyAudioError(f"the {what} holds no samples.")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise AudioError(f"the {what} holds NaN or infinite samples; metrics need finite audio.")
    return arr


def _at_score_rate(x: np.ndarray, sample_rate: int) -> np.ndarray:
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}.")
    if sample_rate == SCORE_SR:
        return x
    return resample(x, orig_sr=int(sample_rate), target_sr=SCORE_SR).astype(np.float32)


def _pad_to(x: np.ndarray, n: int) -> np.ndarray:
    return x if len(x) >= n else np.pad(x, (0, n - len(x)))


def _pair(target: np.ndarray, estimate: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate, resample to 44.1 kHz and zero-pad the shorter signal at the end."""
    t = _at_score_rate(_signal(target, "target"), sample_rate)
    e = _at_score_rate(_signal(estimate, "estimate"), sample_rate)
    n = max(len(t), len(e))
    return _pad_to(t, n), _pad_to(e, n)


# --- MSS-mel (headline) --------------------------------------------------------------------------------------


def _mss_scales(sample_rate: int) -> list[tuple[int, int, int]]:
    return [(int(w * sample_rate), int(h * sample_rate), m) for w, h, m in MSS_MEL_SCALES]


def _mel_db(x: np.ndarray, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
    """``power_to_db(melspectrogram(x), ref=np.max, top_db=80)`` as librosa computes it.

    Returns ``[shape=(n_mels, frames)]`` float32 in dB (0 at the maximum, floor -80).
    """
    fb = mel_filterbank(sample_rate=SCORE_SR, n_fft=n_fft, n_mels=n_mels)
    mel = fb @ power_spectrum(stft(x, n_fft=n_fft, hop_length=hop)).T
    db = power_to_db(mel, eps=_MSS_AMIN)
    db -= power_to_db(float(mel.max()), eps=_MSS_AMIN)
    return np.maximum(db, db.max() - _MSS_TOP_DB)


class MelTarget:
    """A target prepared for many :func:`mss_mel_prepared` calls (its spectrograms are cached).

    Build it with :func:`prepare_mss_mel`. Holds the target at 44.1 kHz and its three log-mel
    spectrograms; an estimate longer than the target triggers one recomputation for that length
    (cached too).
    """

    __slots__ = ("_cache", "n_samples", "sample_rate", "samples")

    def __init__(self, samples: np.ndarray, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)
        self.samples = samples
        self.samples.setflags(write=False)
        self.n_samples = len(samples)
        self._cache: dict[int, list[np.ndarray]] = {}

    def specs(self, n: int) -> list[np.ndarray]:
        """Log-mel spectrograms of the target zero-padded to ``n >= n_samples`` samples."""
        if n not in self._cache:
            x = _pad_to(self.samples, n)
            self._cache[n] = [_mel_db(x, *s) for s in _mss_scales(SCORE_SR)]
        return self._cache[n]


#: Alias of :class:`MelTarget` (the name some callers use).
PreparedMSSMel = MelTarget


def prepare_mss_mel(target: np.ndarray, sample_rate: int = SCORE_SR) -> MelTarget:
    """Precompute the target side of :func:`mss_mel`.

    Parameters
    ----------
    target : np.ndarray [shape=(n,)]
        Mono target signal.
    sample_rate : int
        Its sample rate in Hz; estimates passed to :func:`mss_mel_prepared` must use the same rate.

    Returns
    -------
    MelTarget
    """
    prepared = MelTarget(_at_score_rate(_signal(target, "target"), sample_rate).copy(), sample_rate)
    prepared.specs(prepared.n_samples)
    return prepared


def mss_mel_prepared(prepared: MelTarget, estimate: np.ndarray) -> float:
    """:func:`mss_mel` against a prepared target (same value, about half the cost).

    Parameters
    ----------
    prepared : MelTarget
        From :func:`prepare_mss_mel`.
    estimate : np.ndarray [shape=(n,)]
        Mono estimate at ``prepared.sample_rate``.

    Returns
    -------
    float
        MSS-mel distance in dB.
    """
    e = _at_score_rate(_signal(estimate, "estimate"), prepared.sample_rate)
    n = max(len(e), prepared.n_samples)
    e = _pad_to(e, n)
    total = 0.0
    for tgt, (n_fft, hop, n_mels) in zip(prepared.specs(n), _mss_scales(SCORE_SR)):
        total += float(np.mean(np.abs(_mel_db(e, n_fft, hop, n_mels) - tgt)))
    return total / len(MSS_MEL_SCALES)


@register_metric(
    "mss_mel",
    higher_is_better=False,
    unit="dB",
    description="multi-scale log-mel L1 (Hayes et al. 2025): (10,5,32),(25,10,64),(100,50,128) ms/ms/mels",
)
def mss_mel(target: np.ndarray, estimate: np.ndarray, sample_rate: int = SCORE_SR) -> float:
    """Multi-scale mel spectrogram distance (the benchmark's headline metric).

    At each scale (window, hop, mels) = (10 ms, 5 ms, 32), (25 ms, 10 ms, 64), (100 ms, 50 ms, 128),
    with n_fft = window (441, 1102, 4410 samples; hops 220, 441, 2205), Hann, centred: the librosa
    power mel spectrogram of each signal goes through ``power_to_db(ref=np.max, top_db=80)``; the
    scale's value is the mean absolute difference over mels and frames. The result is the mean
    over the three scales. Symmetric; 0 for identical signals; invariant to the overall gain.

    Parameters
    ----------
    target, estimate : np.ndarray [shape=(n,)]
        Mono signals.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    float
        Distance in dB (0..80).
    """
    return mss_mel_prepared(prepare_mss_mel(target, sample_rate), estimate)


# --- wMFCC ---------------------------------------------------------------------------------------------------


@register_metric(
    "wmfcc",
    higher_is_better=False,
    unit="MFCC units (dB-scaled cepstrum)",
    description="DTW L1 distance of 20 MFCCs (128 mels, n_fft 2205, hop 441), normalized by path length",
)
def wmfcc(target: np.ndarray, estimate: np.ndarray, sample_rate: int = SCORE_SR) -> float:
    """Dynamic-time-warped MFCC distance.

    20 MFCCs per frame (``librosa.feature.mfcc``: 128 mels, n_fft 2205, hop 441, power mel →
    ``power_to_db`` with librosa's defaults → orthonormal DCT-II); L1 (cityblock) frame cost;
    ``librosa.sequence.dtw`` with the standard steps; the accumulated cost at the end of the path
    divided by the path length (number of aligned frame pairs).

    Returns
    -------
    float
        Mean L1 distance between aligned MFCC frames (sum over the 20 coefficients), in MFCC units.
    """
    t, e = _pair(target, estimate, sample_rate)
    kw = {"sr": SCORE_SR, "n_mfcc": 20, "n_fft": 2205, "hop_length": 441, "n_mels": 128}
    mt = librosa.feature.mfcc(y=t, **kw)
    me = librosa.feature.mfcc(y=e, **kw)
    cost, path = librosa.sequence.dtw(X=mt, Y=me, metric="cityblock")
    return float(cost[-1, -1] / max(len(path), 1))


# --- SOT -----------------------------------------------------------------------------------------------------


@register_metric(
    "sot",
    higher_is_better=False,
    unit="Hz",
    description="spectral optimal transport: mean over STFT frames (2205/882) of the 1-Wasserstein distance in Hz",
)
def sot(target: np.ndarray, estimate: np.ndarray, sample_rate: int = SCORE_SR) -> float:
    """Spectral optimal transport distance.

    STFT magnitudes (n_fft 2205, hop 882, Hann, centred with zero padding). Each frame's magnitude
    spectrum plus a floor of 1e-8 per bin is normalised to sum 1 (so a silent frame is the uniform
    distribution and gives no NaN). Per frame the 1-Wasserstein distance between the two
    distributions over frequency is ``sum_k |CDF_t[k] - CDF_e[k]| * bin_width`` with
    ``bin_width = 44100 / 2205 = 20 Hz``; the result is the mean over frames. Symmetric.

    Returns
    -------
    float
        Mean transport distance in Hz (how far, on average, spectral mass has to move).
    """
    t, e = _pair(target, estimate, sample_rate)
    n_fft = 2205

    def cdf(x: np.ndarray) -> np.ndarray:
        mag = np.abs(stft(x, n_fft=n_fft, hop_length=882)).astype(np.float64) + _SOT_EPS
        return np.cumsum(mag / mag.sum(axis=1, keepdims=True), axis=1)

    bin_hz = SCORE_SR / n_fft
    return float(np.mean(np.sum(np.abs(cdf(t) - cdf(e))[:, :-1], axis=1)) * bin_hz)


# --- RMS-cos -------------------------------------------------------------------------------------------------


@register_metric(
    "rms_cos",
    higher_is_better=True,
    unit="cosine similarity (-)",
    description="cosine similarity of the RMS envelopes (frame 2205, hop 1102)",
)
def rms_cos(target: np.ndarray, estimate: np.ndarray, sample_rate: int = SCORE_SR) -> float:
    """Cosine similarity of the RMS envelopes (``librosa.feature.rms``, frame 2205, hop 1102).

    Returns
    -------
    float
        In [0, 1]; 1 for envelopes of the same shape (any gain). Two silent signals give 1.0, one
        silent signal against a non-silent one gives 0.0.
    """
    t, e = _pair(target, estimate, sample_rate)
    # librosa's own RMS, as the metric is defined; :func:`synthmatch.dsp.frame_rms` follows the same
    # envelope in float64 (not float32), so its values differ in the last bits.
    a = librosa.feature.rms(y=t, frame_length=2205, hop_length=1102)[0].astype(np.float64)
    b = librosa.feature.rms(y=e, frame_length=2205, hop_length=1102)[0].astype(np.float64)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    tiny = 1e-12
    if na < tiny and nb < tiny:
        return 1.0
    return float(np.dot(a, b) / max(na * nb, tiny))


# --- Combes et al. (neural proxy literature) ------------------------------------------------------------------


def _combes_mag(x: np.ndarray, n_fft: int, hop: int, win_length: int) -> np.ndarray:
    """auraloss magnitude: torch-style STFT (reflect pad), ``sqrt(max(|X|^2, 1e-8))``, float64."""
    spec = stft(x, n_fft=n_fft, hop_length=hop, win_length=win_length, pad_mode="reflect")
    p = power_spectrum(spec).astype(np.float64)
    return np.sqrt(np.maximum(p, _COMBES_EPS))


def _sc_plus_logmag(y_mag: np.ndarray, x_mag: np.ndarray) -> float:
    """Spectral convergence ‖Y−X‖_F / ‖Y‖_F plus mean |ln Y − ln X| (Y = target)."""
    diff = y_mag - x_mag
    # Plain sums rather than np.linalg.norm: its BLAS call is slow on a busy multi-core box.
    sc = np.sqrt(np.sum(diff * diff)) / max(float(np.sqrt(np.sum(y_mag * y_mag))), 1e-12)
    log_mag = np.mean(np.abs(np.log(np.maximum(y_mag, 1e-12)) - np.log(np.maximum(x_mag, 1e-12))))
    return float(sc + log_mag)


@register_metric(
    "stft_loss",
    higher_is_better=False,
    unit="- (SC + mean |ln| magnitude ratio)",
    description="auraloss STFT loss (fft 1024, hop 256): spectral convergence + log-magnitude L1",
)
def stft_loss(target: np.ndarray, estimate: np.ndarray, sample_rate: int = SCORE_SR) -> float:
    """STFT loss of Combes et al. (auraloss ``STFTLoss`` defaults), per item.

    Magnitudes ``sqrt(max(|STFT|^2, 1e-8))`` with n_fft 1024, hop 256, periodic Hann of 1024,
    centred with reflect padding. Value = ``‖Y−X‖_F / ‖Y‖_F + mean |ln Y − ln X|`` with Y the
    target's magnitudes and X the estimate's. Not symmetric (normalised by the target).

    Returns
    -------
    float
        Dimensionless (spectral convergence ratio + mean absolute natural-log magnitude ratio).
    """
    t, e = _pair(target, estimate, sample_rate)
    return _sc_plus_logmag(_combes_mag(t, 1024, 256, 1024), _combes_mag(e, 1024, 256, 1024))


@register_metric(
    "mstft_loss",
    higher_is_better=False,
    unit="- (SC + mean |ln| magnitude ratio)",
    description="auraloss multi-resolution STFT loss: (1024,120,600),(2048,240,1200),(512,50,240), mean",
)
def mstft_loss(target: np.ndarray, estimate: np.ndarray, sample_rate: int = SCORE_SR) -> float:
    """Multi-resolution STFT loss: :func:`stft_loss`'s formula at (fft, hop, win) = (1024, 120, 600),
    (2048, 240, 1200), (512, 50, 240) (window zero-padded to the FFT size, centred), averaged.

    Returns
    -------
    float
        Dimensionless.
    """
    t, e = _pair(target, estimate, sample_rate)
    vals = [
        _sc_plus_logmag(_combes_mag(t, n, h, w), _combes_mag(e, n, h, w)) for n, h, w in _MSTFT_RESOLUTIONS
    ]
    return float(np.mean(vals))


@register_metric(
    "mel_loss",
    higher_is_better=False,
    unit="- (SC + mean |ln| magnitude ratio)",
    description="auraloss mel-STFT loss: fft 1024, hop 256, 128 Slaney mels on magnitudes",
)
def mel_loss(target: np.ndarray, estimate: np.ndarray, sample_rate: int = SCORE_SR) -> float:
    """Mel STFT loss: the floored magnitudes of :func:`stft_loss` (fft 1024, hop 256) projected on
    128 Slaney mel filters (``librosa.filters.mel``), then the same SC + log-magnitude formula.

    Returns
    -------
    float
        Dimensionless.
    """
    t, e = _pair(target, estimate, sample_rate)
    fb = mel_filterbank(sample_rate=SCORE_SR, n_fft=1024, n_mels=128).astype(np.float64)
    return _sc_plus_logmag(fb @ _combes_mag(t, 1024, 256, 1024).T, fb @ _combes_mag(e, 1024, 256, 1024).T)


def _mfcc39(x: np.ndarray) -> np.ndarray:
    """Combes' MFCCs: pre-emphasis 0.97, |STFT|^2 (1024/512, symmetric Hann, reflect), 128 Kaldi
    mels, 10 log10(max(., 1e-8)), orthonormal DCT-II, coefficients 1..39. ``[shape=(39, frames)]``."""
    pre = x[1:].astype(np.float64) - 0.97 * x[:-1].astype(np.float64)
    power = power_spectrum(stft(pre, n_fft=1024, hop_length=512, periodic=False, pad_mode="reflect"))
    fb = kaldi_mel_filterbank(sample_rate=SCORE_SR, n_fft=1024, n_mels=128)
    mel_db = power_to_db(fb @ power.T, eps=1e-8)
    return scipy.fft.dct(mel_db, type=2, norm="ortho", axis=0)[1:40]


@register_metric(
    "mfccd",
    higher_is_better=False,
    unit="dB (mean |ΔMFCC|)",
    description="L1 of 39 MFCCs (40 from 128 mels, c0 dropped) after pre-emphasis 0.97 (Combes et al.)",
)
def mfccd(target: np.ndarray, estimate: np.ndarray, sample_rate: int = SCORE_SR) -> float:
    """MFCC distance of Combes et al.: mean absolute difference of 39 MFCCs.

    Pre-emphasis ``y[n] = x[n+1] - 0.97 x[n]``; power STFT with n_fft 1024, hop 512, symmetric Hann
    of 1024, centred with reflect padding; 128 Kaldi-style mel filters over 0-22050 Hz;
    ``10 log10(max(mel, 1e-8))``; orthonormal DCT-II keeping 40 coefficients, c0 dropped;
    mean |difference| over coefficients and frames. Symmetric.

    Returns
    -------
    float
        Mean absolute MFCC difference (cepstrum of dB values).
    """
    t, e = _pair(target, estimate, sample_rate)
    if len(t) < 2:
        return 0.0
    return float(np.mean(np.abs(_mfcc39(t) - _mfcc39(e))))


@register_metric(
    "a_mean",
    higher_is_better=False,
    unit="-",
    description="(stft_loss + mstft_loss + mel_loss + 0.25 * mfccd) / 4 (Combes et al.)",
)
def a_mean(target: np.ndarray, estimate: np.ndarray, sample_rate: int = SCORE_SR) -> float:
    """Mean of the four Combes metrics: ``(stft + mstft + mel + 0.25 * mfccd) / 4``.

    Returns
    -------
    float
        Dimensionless.
    """
    t, e = _pair(target, estimate, sample_rate)
    return _combine_a_mean(*(METRICS[p].fn(t, e, SCORE_SR) for p in _A_MEAN_PARTS))


_A_MEAN_PARTS = ("stft_loss", "mstft_loss", "mel_loss", "mfccd")


def _combine_a_mean(stft: float, mstft: float, mel: float, mfcc_d: float) -> float:
    return float((stft + mstft + mel + 0.25 * mfcc_d) / 4.0)


# --- f0 --------------------------------------------------------------------------------------------------------


@register_metric(
    "f0_error_cents",
    higher_is_better=False,
    unit="cents",
    description="mean |f0 difference| in cents over frames voiced in both (YIN, 11.6 ms hop)",
)
def f0_error_cents(target: np.ndarray, estimate: np.ndarray, sample_rate: int = SCORE_SR) -> float:
    """Pitch error between two signals, in cents.

    Both signals go through :func:`synthmatch.audio.analysis.pitch_track` (YIN, 25-4200 Hz, hop
    11.6 ms). Over the frames voiced in both: mean of ``|1200 log2(f0_estimate / f0_target)|``.
    When no frame is voiced in both: 0.0 if neither signal has a voiced frame (both unpitched),
    otherwise 1200.0 (one octave, a fixed penalty for "one is pitched, the other is not").

    Returns
    -------
    float
        Mean absolute pitch difference in cents.
    """
    from synthmatch.audio.analysis import pitch_track

    t, e = _pair(target, estimate, sample_rate)
    pt, pe = pitch_track(t, SCORE_SR), pitch_track(e, SCORE_SR)
    both = pt.voiced & pe.voiced
    if not both.any():
        return 0.0 if not (pt.voiced.any() or pe.voiced.any()) else _F0_NO_OVERLAP_CENTS
    return float(np.mean(np.abs(1200.0 * np.log2(pe.f0_hz[both] / pt.f0_hz[both]))))


def metric_names(*, higher_is_better: bool | None = None) -> Sequence[str]:
    """Registered metric names, optionally only those where higher is (or is not) better."""
    return [
        n for n, s in METRICS.items() if higher_is_better is None or s.higher_is_better == higher_is_better
    ]
