"""The learned estimator at inference: audio → whole Vital presets in one pass, with no torch.

A trained estimator is a folder (written by ``synthmatch train estimator``):

- ``estimator.onnx`` — the network, run with ``onnxruntime`` on the CPU;
- ``model_card.json`` — its configuration, the parameter-space hash it was trained on, the head
  layout, the log-mel settings, the probe convention, the data it saw and the command that
  rebuilds it;
- ``wavetables.npz`` — the wavetables its wavetable heads choose from.

:class:`Estimator` loads one and turns a target (its samples and probe) into presets: the mode of
its distributions and draws from them. :class:`EstimatorSource` offers them to ``match`` as the
proposal source ``"estimator"``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

from synthmatch.errors import SpecMismatchError, SynthmatchError
from synthmatch.search.proposals import Origin, Proposal, register_source

if TYPE_CHECKING:
    from synthmatch.render.probe import Probe
    from synthmatch.search.target import Target
    from synthmatch.vital.preset import Preset

#: Where a shipped estimator lives in the package, and the variable that points elsewhere.
ESTIMATOR_ENV = "SYNTHMATCH_ESTIMATOR"
MODEL_FILE = "estimator.onnx"
CARD_FILE = "model_card.json"
WAVETABLES_FILE = "wavetables.npz"
#: Revision of what :meth:`Estimator.presets` makes of the network's outputs (decoding, retuning):
#: part of :attr:`Estimator.fingerprint`, so the benchmark does not reuse answers of another.
DECODE_REVISION = 3


def default_estimator_path() -> pathlib.Path:
    """``$SYNTHMATCH_ESTIMATOR``, else the estimator shipped in the package."""
    env = os.environ.get(ESTIMATOR_ENV)
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parent.parent / "resources" / "estimator"


class Estimator:
    """A trained estimator loaded for inference (see the module docstring).

    Raises :class:`~synthmatch.errors.SynthmatchError` for a folder that is not one, and
    :class:`~synthmatch.errors.SpecMismatchError` for a model trained on another parameter space.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, threads: int = 1) -> None:
        from synthmatch.audio.features import LogMelConfig
        from synthmatch.vital.spec import default_space

        self.path = pathlib.Path(path) if path is not None else default_estimator_path()
        missing = [f for f in (MODEL_FILE, CARD_FILE) if not (self.path / f).is_file()]
        if missing:
            raise SynthmatchError(
                f"no estimator at {self.path} (missing {', '.join(missing)}). Hint: train one with "
                "`synthmatch train estimator --config small --dataset DIR --out DIR` and pass its folder "
                f"(--estimator DIR or ${ESTIMATOR_ENV})."
            )
        self.card: dict[str, Any] = json.loads((self.path / CARD_FILE).read_text())
        space = default_space()
        if self.card.get("spec_hash") != space.spec_hash:
            raise SpecMismatchError(
                f"the estimator at {self.path} was trained on parameter space {self.card.get('spec_hash')}, "
                f"this synthmatch declares {space.spec_hash}. Hint: retrain it with "
                "`synthmatch train estimator` on a dataset built by this version."
            )
        self.mel_config = LogMelConfig.from_dict(self.card["log_mel"])
        #: The training renders' length: a target is cut or padded to it.
        self.render_seconds = float(self.card["data"]["probe"]["render_seconds"])
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise SynthmatchError(
                "the learned estimator needs onnxruntime, which is not installed. Hint: pip install onnxruntime"
            ) from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.path / MODEL_FILE), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._decoding: tuple[Any, Any] | None = None

    @functools.cached_property
    def fingerprint(self) -> str:
        """What identifies this model's answers (the benchmark's key for logged attempts); read on
        first use, so a match does not hash the model file."""
        return hashlib.sha256(
            (self.path / MODEL_FILE).read_bytes()
            + (self.path / CARD_FILE).read_bytes()
            + f"decode {DECODE_REVISION}".encode()
        ).hexdigest()[:16]

    @property
    def name(self) -> str:
        return str(self.card.get("name") or self.path.name)

    def features(self, samples: np.ndarray, probe: Probe) -> dict[str, np.ndarray]:
        """The model's inputs for one target: ``mel`` [1, n_mels, frames] and ``probe`` [1, 3].

        The target is cut or zero-padded to the training renders' length first, so it is seen as
        the training items were."""
        from synthmatch.audio.features import log_mel
        from synthmatch.search.scoring import fit_length

        n = round(self.render_seconds * self.mel_config.sample_rate)
        mel = np.asarray(log_mel(fit_length(samples, n), self.mel_config), np.float32)
        from synthmatch.models.layout import probe_vector

        vec = probe_vector(note=probe.note, velocity=probe.velocity, note_seconds=probe.note_seconds)
        return {"mel": mel[None], "probe": vec}

    def predict(self, samples: np.ndarray, probe: Probe) -> dict[str, np.ndarray]:
        """The network's outputs for one target, by name (batch of one)."""
        outs = self.session.run(self.output_names, self.features(samples, probe))
        return dict(zip(self.output_names, outs))

    def decoding(self) -> tuple[Any, Any]:
        """(the head layout, the wavetables of its vocabulary or None), loaded once."""
        if self._decoding is None:
            from synthmatch.models.layout import EstimatorLayout
            from synthmatch.models.vocab import load_wavetables

            layout = EstimatorLayout.from_dict(self.card["layout"])
            tables = None
            if (self.path / WAVETABLES_FILE).is_file():
                _, tables = load_wavetables(self.path / WAVETABLES_FILE)
            self._decoding = (layout, tables)
        return self._decoding

    def presets(
        self, samples: np.ndarray, probe: Probe, *, n: int = 1, f0: float | None = None
    ) -> list[Preset]:
        """The mode, then draws ``1 .. n - 1`` from the predicted distributions, as presets (each
        draw is reproducible: :func:`synthmatch.models.decode.decode`). With the target's ``f0``
        (Hz, a pitched target), each is retuned onto it (:func:`retuned`)."""
        from synthmatch.models.decode import DEFAULT_THRESHOLD, decode

        layout, tables = self.decoding()
        outputs = self.predict(samples, probe)
        threshold = float(self.card.get("decode", {}).get("mod_threshold", DEFAULT_THRESHOLD))
        out = [
            decode(outputs, layout, row=0, sample=k or None, tables=tables, threshold=threshold)
            for k in range(max(1, n))
        ]
        return [retuned(p, f0, probe.note) for p in out] if f0 else out


def retuned(preset: Preset, f0: float, note: int) -> Preset:
    """``preset`` moved by the global pitch controls so that its first sounding oscillator plays ``f0``.

    The estimator predicts each oscillator's transpose and tune from the audio, which is hard to
    read from a log-mel at low frequencies; the analysis measures the target's f0 directly. The
    nominal pitch of an oscillator is the played note plus its transpose and tune; the difference
    to ``f0`` goes to ``voice_transpose`` (whole semitones) and ``voice_tune`` (the rest), which
    the estimator never sets (the datasets hold them at 0) and the refiner never searches."""
    from synthmatch.audio.pitch import midi_to_hz
    from synthmatch.vital.spec import default_space

    space = default_space()
    values = preset.values
    on = next((k for k in (1, 2, 3) if values.get(f"osc_{k}_on", 0.0) >= 0.5), None)
    if on is None:
        return preset
    nominal = values.get(f"osc_{on}_transpose", 0.0) + values.get(f"osc_{on}_tune", 0.0)
    shift = 12.0 * np.log2(f0 / midi_to_hz(note)) - nominal
    vt = space["voice_transpose"].clamp(round(shift))
    return preset.with_values(voice_transpose=vt, voice_tune=space["voice_tune"].clamp(shift - vt))


@register_source("estimator")
class EstimatorSource:
    """The learned estimator's answers: its mode first, then draws from its distributions."""

    def __init__(self, matcher: Any) -> None:
        self.estimator = Estimator(getattr(matcher.config, "estimator", None))

    def propose(self, target: Target, k: int) -> list[Proposal]:
        presets = self.estimator.presets(target.samples, target.probe, n=k, f0=target.f0)
        return [Proposal(p, Origin("estimator", j)) for j, p in enumerate(presets)]
