"""The trained estimator's encoder embedding, registered as ``"estimator"``: a learned retrieval
space conditioned on the probe (note, velocity, note length), so it is pitch-aware.

A library built from a dataset's stored log-mels with it (``synthmatch library build --dataset DIR
--embedding estimator --estimator EST``) is queried with a target's audio and the probe the target
was played at (the bench's ``knn-learned``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from synthmatch.audio.features import LogMelConfig, _fit_clip, register_embedding

if TYPE_CHECKING:
    from synthmatch.render.probe import Probe

__all__ = ["EstimatorEmbedding", "EstimatorEmbeddingConfig"]


@dataclass(frozen=True)
class EstimatorEmbeddingConfig:
    """Settings of :class:`EstimatorEmbedding` (a library stores them).

    Attributes
    ----------
    path : str | None
        The trained estimator's folder (``synthmatch train estimator --out``); None: the default one
        (:func:`synthmatch.search.estimator.default_estimator_path`).
    fingerprint : str | None
        :attr:`~synthmatch.search.estimator.Estimator.fingerprint` of the model the vectors come
        from: a model with another fingerprint is refused. None accepts the model at ``path`` (a new
        embedding records its fingerprint in its config).
    """

    path: str | None = None
    fingerprint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> EstimatorEmbeddingConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**(d or {}))


@register_embedding("estimator")
class EstimatorEmbedding:
    """The trained estimator's encoder output ``embedding`` [E] (ONNX, no torch), L2-normalised so
    the library's L2 distance ranks as the cosine distance.

    The network reads the log-mel *and* the probe (note, velocity, note length), so the vector
    describes the sound as played at that probe: a clip is embedded with the probe it was played at
    (``probe`` is required), and a dataset item with its own (:meth:`embed_mels`, from its stored
    log-mel with no render). Its inputs are those of
    :meth:`~synthmatch.search.estimator.Estimator.predict`: the clip cut or zero-padded to the
    model's training renders, so the vectors of a clip and of its stored log-mel agree (up to the
    stored precision). ``threads``: onnxruntime's threads (not part of the config).
    """

    name = "estimator"
    #: A clip is embedded with its probe (a library of renders at one probe cannot be built with it).
    needs_probe = True
    #: Log-mels per onnxruntime call in :meth:`embed_mels`.
    batch_size = 64

    def __init__(self, *, path: str | None = None, fingerprint: str | None = None, threads: int = 1) -> None:
        from synthmatch.errors import SpecMismatchError
        from synthmatch.search.estimator import Estimator

        self.estimator = Estimator(path, threads=threads)
        got = self.estimator.fingerprint
        if fingerprint is not None and fingerprint != got:
            raise SpecMismatchError(
                f"vectors of the estimator model {fingerprint} were asked for, but the model at "
                f"{self.estimator.path} is {got}. Hint: query with the model the library was built with, "
                "or rebuild the library (synthmatch library build --dataset DIR --embedding estimator "
                f"--estimator {self.estimator.path})."
            )
        self.config = EstimatorEmbeddingConfig(path=str(self.estimator.path.resolve()), fingerprint=got)
        mel = self.estimator.mel_config
        self._n_samples = round(self.estimator.render_seconds * mel.sample_rate)
        self.n_frames = 1 + self._n_samples // mel.hop_length
        self.dim = int(
            self._run(self.fit_frames(np.zeros((1, mel.n_mels, 1))), np.full((1, 3), 0.5)).shape[1]
        )

    @property
    def training_split(self) -> dict[str, Any]:
        """The validation split the model trained with (``val_fraction``, ``split_salt``, from its
        card) and how many of the dataset's items it read (``items``), so a library of "the items
        it saw" holds exactly those."""
        data = (self.estimator.card.get("config") or {}).get("data") or {}
        split = {k: data[k] for k in ("val_fraction", "split_salt") if k in data}
        seen = (self.estimator.card.get("data") or {}).get("items")
        return {**split, "items": int(seen)} if seen else split

    @classmethod
    def for_stored_mels(cls, *, mel: LogMelConfig, seconds: float, **config: Any) -> EstimatorEmbedding:
        """The embedding of log-mels stored with ``mel`` settings (``seconds`` is not used: stored
        log-mels are cut or padded to the model's frames); refuses other settings than the model's."""
        from synthmatch.errors import SpecMismatchError

        emb = cls(**config)
        if mel != emb.estimator.mel_config:
            raise SpecMismatchError(
                f"the stored log-mels ({mel}) are not the estimator's input ({emb.estimator.mel_config}). "
                "Hint: use a dataset built with the estimator's log-mel settings."
            )
        return emb

    def fit_frames(self, mels: np.ndarray) -> np.ndarray:
        """Log-mels [shape=(B, n_mels, T)] cut or padded (at the floor, as silence reads) to the
        frames of the model's training renders, as float32."""
        mel = self.estimator.mel_config
        m = np.asarray(mels, dtype=np.float32)[:, :, : self.n_frames]
        if m.ndim != 3 or m.shape[1] != mel.n_mels:
            raise ValueError(f"log-mels of shape (B, {mel.n_mels}, T) expected, got {np.shape(mels)}.")
        pad = self.n_frames - m.shape[2]
        return np.pad(m, ((0, 0), (0, 0), (0, pad)), constant_values=-mel.top_db) if pad else m

    def embed_mels(self, mels: np.ndarray, *, probes: Sequence[Probe] | None = None) -> np.ndarray:
        """Embed log-mels computed with the model's :class:`LogMelConfig` (a dataset's stored
        ``mel``), each played at its probe.

        Parameters
        ----------
        mels : np.ndarray [shape=(B, n_mels, T)]
            dB values; T is cut or padded at the floor to :attr:`n_frames`.
        probes : sequence of Probe [len B]
            The probe each was played at (required).

        Returns
        -------
        np.ndarray [shape=(B, dim), dtype=float32], unit rows.
        """
        from synthmatch.models.layout import probe_vector

        if probes is None or len(probes) != len(mels) or any(p is None for p in probes):
            raise _missing_probe(f"{0 if probes is None else len(probes)} probes for {len(mels)} log-mels")
        vec = probe_vector(
            note=np.array([p.note for p in probes]),
            velocity=np.array([p.velocity for p in probes]),
            note_seconds=np.array([p.note_seconds for p in probes]),
        )
        return self._run(self.fit_frames(mels), vec)

    def embed(self, samples: np.ndarray, sample_rate: int, *, probe: Probe | None = None) -> np.ndarray:
        """Embed one mono clip played at ``probe`` (required) [shape=(dim,), float32, unit norm]."""
        if probe is None:
            raise _missing_probe("a clip without its probe")
        est = self.estimator
        y = _fit_clip(samples, sample_rate, sample_rate=est.mel_config.sample_rate, n_samples=self._n_samples)
        feats = est.features(y, probe)
        return self._run(feats["mel"], feats["probe"])[0]

    def embed_batch(
        self, batch: Sequence[np.ndarray], sample_rate: int = 44100, *, probes: Sequence[Probe] | None = None
    ) -> np.ndarray:
        """Embed several clips, each at its probe (same result as :meth:`embed` on each)."""
        if probes is None or len(probes) != len(batch):
            raise _missing_probe(f"{0 if probes is None else len(probes)} probes for {len(batch)} clips")
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed(b, sample_rate, probe=p) for b, p in zip(batch, probes)])

    def _run(self, mels: np.ndarray, probe_vec: np.ndarray) -> np.ndarray:
        """Unit vectors [shape=(B, dim)] of model inputs ``mel`` [B, n_mels, T], ``probe`` [B, 3]."""
        out = [
            self.estimator.session.run(
                ["embedding"],
                {
                    "mel": np.ascontiguousarray(mels[a : a + self.batch_size], np.float32),
                    "probe": np.ascontiguousarray(probe_vec[a : a + self.batch_size], np.float32),
                },
            )[0]
            for a in range(0, len(mels), self.batch_size)
        ]
        v = np.concatenate(out).astype(np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def _missing_probe(what: str) -> Exception:
    from synthmatch.errors import SynthmatchError

    return SynthmatchError(
        f"the estimator embedding is conditioned on the probe (note, velocity, note length), and got {what}. "
        "Hint: pass probe= (the Probe the clip was played at; a bench target's is its analysis's), or "
        "build the library from a dataset's stored log-mels (each item's own probe)."
    )
