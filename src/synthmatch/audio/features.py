"""Audio features: the declared log-mel configuration and a registry of embeddings.

An embedding maps a mono clip to a fixed-size float32 vector compared by L2 distance (the retrieval
library's faiss index). Embeddings register by name and carry a dataclass config, so a library can
store ``{name, config}`` and rebuild the same embedding at query time::

    @register_embedding("my-encoder")
    class MyEncoder:
        def __init__(self, **config): self.config = MyConfig(**config); self.dim = ...
        def embed(self, samples, sample_rate, *, probe=None): ...  # -> float32 [shape=(dim,)]
        def embed_batch(self, batch, sample_rate=44100): ...  # -> float32 [shape=(B, dim)]

    get_embedding("my-encoder", **config)

``probe`` is the :class:`~synthmatch.render.probe.Probe` the clip was played at: embeddings of the
audio alone ignore it; one conditioned on it (``estimator``, :mod:`synthmatch.audio.learned`, with
``needs_probe = True``) refuses a clip without it. An embedding
that can also be computed from a dataset's stored log-mel, with no render, has a classmethod
``for_stored_mels(*, mel, seconds, **config)`` and a method ``embed_mels(mels, *, probes=None)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import librosa
import numpy as np
import scipy.fft
import scipy.sparse

from synthmatch.dsp import hann_window, mel_filterbank, power_spectrum, power_to_db, resample, stft

if TYPE_CHECKING:
    from synthmatch.render.probe import Probe

__all__ = [
    "EMBEDDINGS",
    "Embedding",
    "HandcraftedConfig",
    "HandcraftedEmbedding",
    "LogMelConfig",
    "LogMelStatsConfig",
    "LogMelStatsEmbedding",
    "available_embeddings",
    "get_embedding",
    "log_mel",
    "register_embedding",
]


@dataclass(frozen=True)
class LogMelConfig:
    """The declared log-mel feature (stored with datasets and used by models).

    Attributes
    ----------
    sample_rate : int
        Sample rate in Hz the signal is expected at.
    n_fft : int
        FFT size (and Hann window length) in samples.
    hop_length : int
        Hop in samples.
    n_mels : int
        Number of mel bands (Slaney mel scale).
    fmin, fmax : float, float | None
        Band edges in Hz (``fmax=None``: Nyquist).
    top_db : float
        Floor, in dB below a full-scale sine.
    """

    sample_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 64
    fmin: float = 20.0
    fmax: float | None = None
    top_db: float = 80.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> LogMelConfig:
        """Inverse of :meth:`to_dict` (missing keys take their defaults; None gives the defaults)."""
        return cls(**(d or {}))


def _power_spectrogram(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred (zero-padded) power STFT scaled so a full-scale sine peaks at 1.0 in its bin.

    Returns ``[shape=(frames, n_fft // 2 + 1)]`` float32.
    """
    spec = stft(np.asarray(y, dtype=np.float32), n_fft=n_fft, hop_length=hop)
    scale = (float(hann_window(n_fft).sum()) / 2.0) ** 2
    return (power_spectrum(spec) / scale).astype(np.float32)


def log_mel(samples: np.ndarray, cfg: LogMelConfig | None = None) -> np.ndarray:
    """Log-mel spectrogram in dB relative to a full-scale sine, floored at ``-cfg.top_db``.

    Power STFT (Hann, centred, zero padding) normalised so that a full-scale sine reads 0 dB in its
    bin, projected on unit-peak triangular mel filters (so a full-scale sine reads about 0 dB in its
    band), ``10 log10``, floored at ``-top_db`` dB. The level is absolute (not normalised to the
    clip's maximum), so quiet and loud sounds differ.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
        Mono signal at ``cfg.sample_rate``.
    cfg : LogMelConfig, optional
        Analysis settings (defaults when None).

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + n // hop_length), dtype=float32]
        dB values in [-top_db, about +6].
    """
    cfg = cfg or LogMelConfig()
    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    power = _power_spectrogram(y, cfg.n_fft, cfg.hop_length)
    fb = mel_filterbank(
        sample_rate=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=float(cfg.fmin),
        fmax=cfg.fmax,
        norm=None,
    )
    db = power_to_db(fb @ power.T, eps=1e-30).astype(np.float32)
    return np.maximum(db, np.float32(-cfg.top_db))


# --- embedding registry ------------------------------------------------------------------------------------


class Embedding(Protocol):
    """What an embedding class provides (see the module docstring)."""

    name: str
    dim: int
    config: Any

    def embed(self, samples: np.ndarray, sample_rate: int, *, probe: Probe | None = None) -> np.ndarray: ...

    def embed_batch(self, batch: Sequence[np.ndarray], sample_rate: int = 44100) -> np.ndarray: ...


#: Registered embedding classes by name.
EMBEDDINGS: dict[str, type] = {}

_T = TypeVar("_T", bound=type)


def register_embedding(name: str) -> Callable[[_T], _T]:
    """Class decorator registering an embedding under ``name`` (sets ``cls.name``)."""

    def deco(cls: _T) -> _T:
        if name in EMBEDDINGS and EMBEDDINGS[name] is not cls:
            raise ValueError(f"embedding {name!r} is already registered by {EMBEDDINGS[name].__qualname__}.")
        cls.name = name  # type: ignore[attr-defined]
        EMBEDDINGS[name] = cls
        return cls

    return deco


def available_embeddings() -> list[str]:
    """Names of the registered embeddings, sorted."""
    return sorted(EMBEDDINGS)


def get_embedding(name: str, **config: Any) -> Any:
    """Build the embedding registered as ``name`` with config fields as keyword arguments."""
    try:
        cls = EMBEDDINGS[name]
    except KeyError:
        raise KeyError(f"unknown embedding {name!r}; available: {available_embeddings()}.") from None
    return cls(**config)


# --- hand-crafted embedding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandcraftedConfig:
    """Settings of :class:`HandcraftedEmbedding` (all part of its identity: a library stores them).

    Attributes
    ----------
    sample_rate : int
        Rate in Hz the features are computed at (inputs at other rates are resampled).
    seconds : float
        Clips are cut or zero-padded to this length, so time features line up with the probe.
    n_fft, hop_length : int
        STFT size and hop in samples (46 ms / 11.6 ms at 44.1 kHz).
    n_mels : int
        Mel bands of the spectral-shape blocks (30 Hz .. 16 kHz).
    n_coarse_mels : int
        Bands of the time-segment block (``n_mels`` pooled; must divide ``n_mels``).
    n_segments : int
        Time segments, with geometrically growing lengths (the attack gets short ones).
    n_envelope : int
        Points of the RMS envelope, geometrically spaced in time.
    n_mfcc : int
        MFCCs 1..n_mfcc (c0, the level, is left out).
    """

    sample_rate: int = 44100
    seconds: float = 4.0
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 32
    n_coarse_mels: int = 16
    n_segments: int = 8
    n_envelope: int = 24
    n_mfcc: int = 13

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> HandcraftedConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**(d or {}))


_FLOOR_DB = -80.0  # level floor, dB below the clip's loudest mel bin / frame
_ENV_FLOOR_DB = -60.0


@register_embedding("handcrafted")
class HandcraftedEmbedding:
    """Compact, deterministic features for k-NN retrieval of one-shot synth sounds (L2 distance).

    Every level is in dB relative to the clip's own maximum, so the vector ignores the overall gain
    (like MSS-mel, which uses ``ref=np.max``). Layout, in order (defaults in brackets):

    ====================  ===========================================================  ===========
    block                 content                                                      scale
    ====================  ===========================================================  ===========
    ``mel_mean`` [32]     mean log-mel over the frames within 60 dB of the loudest     dB / 20
    ``mel_std`` [32]      std of the log-mel over the same frames                      dB / 6
    ``mel_segments``      mean log-mel (16 pooled bands) in 8 time segments whose      dB / 20
    [128]                 lengths double: edges 0, 31, 62, 125, 250, 500 ms, 1, 2, 4 s
    ``envelope`` [24]     RMS level in 24 geometric time slots (11.6 ms .. 4 s),
                          floored at -60 dB                                            dB / 15
    ``mfcc`` [26]         mean and std of MFCC 1..13 (DCT-II of the 32-band log-mel)   dB / 12
    ``centroid`` [8]      log2 spectral centroid per segment (octaves re 1 kHz)        oct / 1.5
    ``flatness`` [8]      spectral flatness per segment, in dB                         dB / 20
    ====================  ===========================================================  ===========

    Each block is divided by its scale and multiplied by ``1 / sqrt(block size)``, so every block
    contributes comparably to the squared L2 distance whatever its size. The scales were set on
    renders of the 211 training presets (note 60, 4 s) so that each of the 7 blocks carries 10-20%
    of the mean squared distance between random pairs: spectral shape (mean, spread, MFCC), its
    evolution over time (segments, centroid, flatness) and the loudness envelope all count.
    ``dim`` = 258 by default.
    """

    name = "handcrafted"

    def __init__(self, **config: Any) -> None:
        self.config = HandcraftedConfig(**config)
        c = self.config
        if c.n_mels % c.n_coarse_mels:
            raise ValueError(f"n_coarse_mels ({c.n_coarse_mels}) must divide n_mels ({c.n_mels}).")
        self._blocks: dict[str, int] = {
            "mel_mean": c.n_mels,
            "mel_std": c.n_mels,
            "mel_segments": c.n_coarse_mels * c.n_segments,
            "envelope": c.n_envelope,
            "mfcc": 2 * c.n_mfcc,
            "centroid": c.n_segments,
            "flatness": c.n_segments,
        }
        self.dim = int(sum(self._blocks.values()))
        n_samples = round(c.seconds * c.sample_rate)
        n_frames = 1 + n_samples // c.hop_length
        frame_t = np.arange(n_frames) * c.hop_length / c.sample_rate
        self._n_samples = n_samples
        segment_of = _slot_index(frame_t, _geometric_edges(c.seconds, c.n_segments, first=1 / 32))
        self._seg_avg, self._seg_empty = _slot_averager(segment_of, c.n_segments)
        env_edges = _geometric_edges(c.seconds, c.n_envelope, first=None)
        self._env_avg, self._env_empty = _slot_averager(_slot_index(frame_t, env_edges), c.n_envelope)
        self._slot_centers = 0.5 * (env_edges[:-1] + env_edges[1:])
        self._frame_t = frame_t
        self._freqs = librosa.fft_frequencies(sr=c.sample_rate, n_fft=c.n_fft).astype(np.float32)
        self._fb = mel_filterbank(
            sample_rate=c.sample_rate,
            n_fft=c.n_fft,
            n_mels=c.n_mels,
            fmin=30.0,
            fmax=min(16000.0, c.sample_rate / 2),
            norm=None,
        )

    @property
    def blocks(self) -> dict[str, int]:
        """Block names and sizes, in vector order."""
        return dict(self._blocks)

    def embed(self, samples: np.ndarray, sample_rate: int, *, probe: Probe | None = None) -> np.ndarray:
        """Embed one clip (``probe`` is not used: the features are of the audio alone).

        Parameters
        ----------
        samples : np.ndarray [shape=(n,)]
            Mono signal.
        sample_rate : int
            Its sample rate in Hz.

        Returns
        -------
        np.ndarray [shape=(dim,), dtype=float32]
        """
        c = self.config
        y = _fit_clip(samples, sample_rate, sample_rate=c.sample_rate, n_samples=self._n_samples)

        power = _power_spectrogram(y, c.n_fft, c.hop_length)  # [T, F]
        mel = (self._fb @ power.T).T  # [T, n_mels]
        mel_db = power_to_db(mel, eps=1e-20)
        mel_db = np.maximum(mel_db - mel_db.max(), _FLOOR_DB)
        frame_power = power.sum(axis=1)
        frame_db = power_to_db(frame_power, eps=1e-20)
        frame_db = frame_db - frame_db.max()
        active = frame_db >= -60.0

        act = mel_db[active]
        mel_mean = act.mean(axis=0)
        mel_std = act.std(axis=0)
        mfcc = scipy.fft.dct(act, type=2, norm="ortho", axis=1)[:, 1 : c.n_mfcc + 1]

        group = c.n_mels // c.n_coarse_mels
        coarse = mel_db.reshape(len(mel_db), c.n_coarse_mels, group).mean(axis=2)
        seg_mean = self._seg_avg @ coarse
        seg_mean[self._seg_empty] = _FLOOR_DB

        env_power = self._env_avg @ frame_power
        empty = self._env_empty  # slots shorter than a hop: read the envelope at their centre
        env_power[empty] = np.interp(self._slot_centers[empty], self._frame_t, frame_power)
        env_db = power_to_db(env_power, eps=1e-20) - power_to_db(max(frame_power.max(), 1e-20))
        env_db = np.maximum(env_db, _ENV_FLOOR_DB)

        seg_power = self._seg_avg @ power  # [S, F]
        seg_power[self._seg_empty] = 0.0
        total = seg_power.sum(axis=1)
        centroid = (seg_power @ self._freqs) / np.maximum(total, 1e-20)
        centroid_oct = np.where(total > 1e-20, np.log2(np.maximum(centroid, 20.0) / 1000.0), 0.0)
        geo = np.exp(np.mean(np.log(seg_power + 1e-20), axis=1))
        flat_db = power_to_db(geo, eps=1e-20, ref=np.maximum(seg_power.mean(axis=1), 1e-20))
        flat_db = np.where(total > 1e-20, np.maximum(flat_db, -60.0), -60.0)

        parts = {
            "mel_mean": mel_mean / 20.0,
            "mel_std": mel_std / 6.0,
            "mel_segments": seg_mean.reshape(-1) / 20.0,
            "envelope": env_db / 15.0,
            "mfcc": np.concatenate([mfcc.mean(axis=0), mfcc.std(axis=0)]) / 12.0,
            "centroid": centroid_oct / 1.5,
            "flatness": flat_db / 20.0,
        }
        vec = np.concatenate([parts[k] / np.sqrt(n) for k, n in self._blocks.items()])
        return vec.astype(np.float32)

    def embed_batch(self, batch: Sequence[np.ndarray], sample_rate: int = 44100) -> np.ndarray:
        """Embed several clips (same result as :meth:`embed` on each).

        Returns
        -------
        np.ndarray [shape=(len(batch), dim), dtype=float32]
        """
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed(b, sample_rate) for b in batch])


# --- statistics of the declared log-mel (computable from a dataset's stored features) ----------------------


@dataclass(frozen=True)
class LogMelStatsConfig(LogMelConfig):
    """Settings of :class:`LogMelStatsEmbedding`: the log-mel it reads (a :class:`LogMelConfig`,
    whose fields it inherits, so a dataset's stored ``mel`` can be used as it is) and its statistics.

    Attributes
    ----------
    sample_rate, n_fft, hop_length, n_mels, fmin, fmax, top_db
        The log-mel (:class:`LogMelConfig`).
    seconds : float
        Clips are cut or zero-padded to this length (a dataset's render length), so the frames
        line up with the stored ones.
    n_coarse_mels : int
        Bands of the time-segment block (``n_mels`` pooled; must divide ``n_mels``).
    n_segments : int
        Time segments whose lengths double (the attack gets short ones).
    n_envelope : int
        Points of the loudness envelope, geometrically spaced in time.
    floor_db : float
        Levels are floored this many dB below the clip's loudest mel bin. It is above the
        log-mel's own floor (``top_db`` below full scale), so a clip peaking within
        ``top_db - floor_db`` dB of full scale gives nearly the same vector at any gain.
    """

    seconds: float = 4.0
    n_coarse_mels: int = 16
    n_segments: int = 8
    n_envelope: int = 24
    floor_db: float = 60.0

    @property
    def mel(self) -> LogMelConfig:
        """The log-mel settings."""
        names = {f.name for f in dataclasses.fields(LogMelConfig)}
        return LogMelConfig(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})

    @property
    def n_frames(self) -> int:
        """Frames of a clip of ``seconds`` (centred STFT)."""
        return 1 + round(self.seconds * self.sample_rate) // self.hop_length


@register_embedding("logmel-stats")
class LogMelStatsEmbedding:
    """Statistics of the declared log-mel (:func:`log_mel`), so that a library can be built from
    a dataset's stored ``mel`` column with no render (:meth:`embed_mels`), and a query embedded
    from its audio (:meth:`embed`) lands in the same space.

    Levels are in dB relative to the clip's loudest mel bin, floored ``floor_db`` below it (gain
    is ignored, as in MSS-mel). Layout, in order (defaults in brackets):

    ====================  ===========================================================  ===========
    block                 content                                                      scale
    ====================  ===========================================================  ===========
    ``mel_mean`` [64]     mean log-mel over the frames within 60 dB of the loudest     dB / 20
                          (a frame's level: the sum of its bands' powers)
    ``mel_std`` [64]      std of the log-mel over the same frames                      dB / 6
    ``mel_segments``      mean log-mel (16 pooled bands) in 8 time segments whose      dB / 20
    [128]                 lengths double (edges 0, 1/128, ..., 1/2, 1 of the clip)
    ``envelope`` [24]     frame level in 24 geometric time slots, floored at -60 dB    dB / 15
    ====================  ===========================================================  ===========

    Each block is divided by its scale and by ``sqrt(block size)``, as in
    :class:`HandcraftedEmbedding` (whose scales these are), so every block weighs comparably in
    the squared L2 distance. ``dim`` = 280 by default. Deterministic; numpy only.
    """

    name = "logmel-stats"

    def __init__(self, **config: Any) -> None:
        self.config = LogMelStatsConfig(**config)
        c = self.config
        if c.n_mels % c.n_coarse_mels:
            raise ValueError(f"n_coarse_mels ({c.n_coarse_mels}) must divide n_mels ({c.n_mels}).")
        self._blocks = {
            "mel_mean": c.n_mels,
            "mel_std": c.n_mels,
            "mel_segments": c.n_coarse_mels * c.n_segments,
            "envelope": c.n_envelope,
        }
        self.dim = int(sum(self._blocks.values()))
        frame_t = np.arange(c.n_frames) * c.hop_length / c.sample_rate
        seg_of = _slot_index(frame_t, _geometric_edges(c.seconds, c.n_segments, first=1 / 32))
        seg_avg, seg_empty = _slot_averager(seg_of, c.n_segments)
        self._seg = np.asarray(seg_avg.todense(), dtype=np.float32)  # [S, T]
        self._seg_empty = seg_empty
        env_edges = _geometric_edges(c.seconds, c.n_envelope, first=None)
        env_avg, env_empty = _slot_averager(_slot_index(frame_t, env_edges), c.n_envelope)
        env = np.asarray(env_avg.todense(), dtype=np.float64)
        # slots shorter than a hop read the envelope at their centre (linear interpolation)
        centers = 0.5 * (env_edges[:-1] + env_edges[1:])
        for k in np.nonzero(env_empty)[0]:
            env[k] = 0.0
            j = int(np.clip(np.searchsorted(frame_t, centers[k]), 1, len(frame_t) - 1))
            w = float(np.clip((centers[k] - frame_t[j - 1]) / (frame_t[j] - frame_t[j - 1]), 0.0, 1.0))
            env[k, j - 1], env[k, j] = 1.0 - w, w
        self._env = env.astype(np.float32)  # [E, T]

    @property
    def blocks(self) -> dict[str, int]:
        """Block names and sizes, in vector order."""
        return dict(self._blocks)

    def fit_frames(self, mels: np.ndarray) -> np.ndarray:
        """Log-mels [shape=(B, n_mels, T)] cut or padded (at the floor) to ``config.n_frames``."""
        c = self.config
        m = np.asarray(mels, dtype=np.float32)
        if m.ndim != 3 or m.shape[1] != c.n_mels:
            raise ValueError(f"log-mels of shape (B, {c.n_mels}, T) expected, got {m.shape}.")
        m = m[:, :, : c.n_frames]
        if m.shape[2] < c.n_frames:
            pad = np.full((len(m), c.n_mels, c.n_frames - m.shape[2]), -c.top_db, np.float32)
            m = np.concatenate([m, pad], axis=2)
        return m

    @classmethod
    def for_stored_mels(cls, *, mel: LogMelConfig, seconds: float, **config: Any) -> LogMelStatsEmbedding:
        """The embedding of log-mels stored with ``mel`` settings from renders of ``seconds``."""
        return cls(**{**mel.to_dict(), "seconds": seconds, **config})

    def embed_mels(self, mels: np.ndarray, *, probes: Sequence[Probe] | None = None) -> np.ndarray:
        """Embed log-mels computed with ``config.mel`` (e.g. a dataset's stored ``mel``).

        Parameters
        ----------
        mels : np.ndarray [shape=(B, n_mels, T)]
            dB values; T other than ``config.n_frames`` is cut or padded at the floor.
        probes : sequence of Probe, optional
            Not used (the statistics are of the audio alone).

        Returns
        -------
        np.ndarray [shape=(B, dim), dtype=float32]
        """
        c = self.config
        m = self.fit_frames(mels)
        floor = -float(c.floor_db)
        rel = np.maximum(m - m.max(axis=(1, 2), keepdims=True), floor)  # [B, F, T]
        power = np.sum(10.0 ** (m.astype(np.float64) / 10.0), axis=1)  # [B, T] frame power
        power = np.maximum(power, 1e-30)
        frame_db = 10.0 * np.log10(power / power.max(axis=1, keepdims=True))
        active = (frame_db >= -60.0).astype(np.float32)[:, None, :]  # [B, 1, T]
        count = active.sum(axis=2)
        mel_mean = (rel * active).sum(axis=2) / count
        mel_std = np.sqrt(np.maximum(((rel - mel_mean[:, :, None]) ** 2 * active).sum(axis=2) / count, 0.0))
        group = c.n_mels // c.n_coarse_mels
        coarse = rel.reshape(len(rel), c.n_coarse_mels, group, -1).mean(axis=2)  # [B, C, T]
        seg = coarse @ self._seg.T  # [B, C, S]
        seg[:, :, self._seg_empty] = floor
        env_power = power @ self._env.T.astype(np.float64)  # [B, E]
        env_db = 10.0 * np.log10(np.maximum(env_power, 1e-30) / power.max(axis=1, keepdims=True))
        parts = {
            "mel_mean": mel_mean / 20.0,
            "mel_std": mel_std / 6.0,
            "mel_segments": seg.transpose(0, 2, 1).reshape(len(m), -1) / 20.0,
            "envelope": np.maximum(env_db, _ENV_FLOOR_DB) / 15.0,
        }
        vec = np.concatenate([parts[k] / np.sqrt(n) for k, n in self._blocks.items()], axis=1)
        return vec.astype(np.float32)

    def embed(self, samples: np.ndarray, sample_rate: int, *, probe: Probe | None = None) -> np.ndarray:
        """Embed one mono clip: its log-mel (``config.mel``) over ``config.seconds``, then
        :meth:`embed_mels` (``probe`` is not used).

        Returns
        -------
        np.ndarray [shape=(dim,), dtype=float32]
        """
        c = self.config
        y = _fit_clip(
            samples, sample_rate, sample_rate=c.sample_rate, n_samples=round(c.seconds * c.sample_rate)
        )
        return self.embed_mels(log_mel(y, c.mel)[None])[0]

    def embed_batch(self, batch: Sequence[np.ndarray], sample_rate: int = 44100) -> np.ndarray:
        """Embed several clips (same result as :meth:`embed` on each) [shape=(len(batch), dim)]."""
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed(b, sample_rate) for b in batch])


def _fit_clip(samples: np.ndarray, rate: int, *, sample_rate: int, n_samples: int) -> np.ndarray:
    """A mono clip at ``rate`` Hz resampled to ``sample_rate`` and cut or zero-padded to
    ``n_samples`` [shape=(n_samples,), float32]."""
    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    if rate != sample_rate:
        y = resample(y, orig_sr=int(rate), target_sr=sample_rate).astype(np.float32)
    y = y[:n_samples]
    if len(y) < n_samples:
        y = np.pad(y, (0, n_samples - len(y)))
    return y


def _geometric_edges(seconds: float, n: int, *, first: float | None) -> np.ndarray:
    """``n + 1`` slot edges from 0 to ``seconds`` whose lengths double (``first``) or grow geometrically.

    With ``first`` given, slot k (k >= 1) ends at ``first * 2**k`` seconds scaled so the last edge is
    ``seconds``; with None, edges are ``0`` then geometric from 11.6 ms to ``seconds``.
    """
    if first is not None:
        ends = first * 2.0 ** np.arange(n)
        ends = ends / ends[-1] * seconds
        return np.concatenate([[0.0], ends])
    return np.concatenate([[0.0], np.geomspace(512 / 44100, seconds, n)])


def _slot_index(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Slot of each time (``edges[k] <= t < edges[k+1]``; the last slot is closed)."""
    return np.clip(np.searchsorted(edges, times, side="right") - 1, 0, len(edges) - 2)


def _slot_averager(slot: np.ndarray, n_slots: int) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """Sparse matrix averaging frames per slot ``[shape=(n_slots, T)]``, and the mask of empty slots."""
    counts = np.bincount(slot, minlength=n_slots)
    weights = 1.0 / np.maximum(counts[slot], 1)
    avg = scipy.sparse.csr_matrix((weights, (slot, np.arange(len(slot)))), shape=(n_slots, len(slot)))
    return avg, counts == 0


# registers "estimator" (the module needs the names above)
import synthmatch.audio.learned  # noqa: E402, F401
