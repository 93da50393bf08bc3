"""Adapters of pretrained audio encoders from ``transformers`` (the ``pretrained`` extra; torch).

Three encoders of the registry (:mod:`synthmatch.models.encoders`), each configured by
:class:`~synthmatch.models.configs.PretrainedEncoderConfig` (``path``, ``embedding_dim``, ``freeze``):

* ``pretrained-ast`` — ``ASTModel`` (Audio Spectrogram Transformer);
* ``pretrained-clap`` — ``ClapAudioModel`` (CLAP's HTS-AT audio tower; from a whole ``ClapModel``
  folder its ``audio_model`` is kept and the text tower dropped);
* ``pretrained-mert`` — a HuBERT-like model (``HubertModel``, or ``Wav2Vec2Model``), the architecture
  of MERT.

Weights come only from ``path``, a local folder written by ``save_pretrained`` (``config.json`` and
the weights): ``from_pretrained(path, local_files_only=True)``. Nothing is downloaded; a missing
folder, file or another kind of model is a :class:`~synthmatch.errors.ParameterError` that says how
to provide it. ``transformers`` is imported only when an adapter is built, so this module and the
registry load without it.

The estimator's input is our log-mel ``mel`` [B, n_mels, T] (dB re a full-scale sine, the
dataset's ``LogMelConfig``: 44.1 kHz, hop 512, so about 86 frames/s, Slaney mel bands from
20 Hz to Nyquist), not the features these models were trained on. The adapters map it honestly but
not exactly:

* AST expects Kaldi filterbanks (natural log, ``num_mel_bins`` bands at 16 kHz, 100 frames/s)
  normalised as ``(fbank - mean) / (2 std)``, padded or cut to ``max_length`` frames. The adapter
  maps our bands to the model's with a trainable linear map, initialised as linear interpolation
  over band index (not over Hz: the two mel scales cover different ranges) times the dB → ln and
  normalisation constants (``preprocessor_config.json``'s ``mean``/``std`` when the folder has
  one), and pads with each item's quietest value (silence) or cuts to ``max_length`` frames.
  Frames are not resampled in time (86 vs 100 frames/s).
* CLAP expects dB log-mels (64 bands at 48 kHz, 50 Hz–14 kHz, 100 frames/s), at most
  ``spec_size · spec_size / num_mel_bins`` frames (it stretches shorter input itself). Same
  trainable band map (identity when the band counts match), no level change, padded with silence
  to that length (as the feature extractor's ``pad`` mode does) or cut. A fused model
  (``enable_fusion``) gets the whole clip as its global view and no local crops.
* MERT (HuBERT) takes raw audio at 24 kHz through a convolutional feature encoder; a log-mel
  cannot be fed to that encoder. The adapter skips it: each log-mel frame, scaled like the
  ``logmel-cnn``'s input, goes through a trainable linear map (randomly initialised) to the
  feature encoder's output width, then through the model's own feature projection and
  transformer (75 frames/s in MERT, 86 here). The pretrained transformer so sees inputs unlike
  its training ones until the map is learned. MERT's published folders declare their own
  ``model_type`` and code, which is not run here (no ``trust_remote_code``); such weights load
  once saved as a ``HubertModel``.

Each adapter pools the model's output (AST and CLAP: their pooled output; MERT: the mean over
frames), appends the probe [B, 3] and projects to ``embedding_dim`` (Linear, GELU, Linear). With
``freeze`` the pretrained weights do not train and stay in eval mode (no dropout); the input map
and the projection train. A checkpoint of such an estimator rebuilds the model from ``path``, so
the folder must be present when a checkpoint loads. These adapters feed the estimator in torch;
their ONNX export traces the lengths of the export batch (padding and cutting are Python branches)
and is not checked.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from synthmatch.errors import MissingExtraError, ParameterError
from synthmatch.models.configs import FrozenConfig, PretrainedEncoderConfig
from synthmatch.models.encoders import register_encoder

#: Files that hold a ``save_pretrained`` model's weights (one of them must be in the folder).
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)

#: ``ASTFeatureExtractor``'s normalisation of AudioSet filterbanks (used when the folder has no
#: ``preprocessor_config.json``).
AST_MEAN, AST_STD = -4.2677393, 4.5689974

#: dB (10 log10) to natural log.
_DB_TO_LN = math.log(10.0) / 10.0


def _transformers(encoder: str) -> Any:
    try:
        import transformers
    except ImportError:
        raise MissingExtraError("transformers", "pretrained", f"the {encoder} encoder") from None
    return transformers


def check_weights_folder(path: str, *, encoder: str, model_types: tuple[str, ...]) -> dict[str, Any]:
    """The folder's ``config.json`` after checking that ``path`` holds a saved model of ``model_types``.

    Raises
    ------
    ParameterError
        No path, a missing folder, no ``config.json``, no weights file, or another kind of model;
        the message says how to provide the weights.
    """
    how = (
        "Hint: on a machine with the weights, save them with `Model.from_pretrained(...).save_pretrained(DIR)` "
        f"and set model.encoder_options.path to DIR; {encoder} loads local files only and downloads nothing."
    )
    if not str(path or "").strip():
        raise ParameterError(f"{encoder} needs model.encoder_options.path, a folder with the model. {how}")
    root = pathlib.Path(path).expanduser()
    if not root.is_dir():
        raise ParameterError(f"{encoder}: the weights folder {root} does not exist. {how}")
    cfg_file = root / "config.json"
    if not cfg_file.is_file():
        raise ParameterError(f"{encoder}: {root} has no config.json, so it is not a saved model. {how}")
    if not any((root / f).is_file() for f in WEIGHT_FILES):
        raise ParameterError(
            f"{encoder}: {root} has a config.json but no weights ({', '.join(WEIGHT_FILES)}). {how}"
        )
    config = json.loads(cfg_file.read_text())
    kind = config.get("model_type")
    if kind not in model_types:
        raise ParameterError(
            f"{encoder}: {root} holds a {kind!r} model; expected {' or '.join(map(repr, model_types))}. "
            "Hint: point model.encoder_options.path at a folder of that kind, or pick the matching "
            "pretrained-* encoder."
        )
    return config


def band_map(n_in: int, n_out: int) -> torch.Tensor:
    """[n_out, n_in] linear interpolation over band index: output band j reads input position
    ``j · (n_in - 1) / (n_out - 1)`` (the identity when ``n_in == n_out``)."""
    if n_out == 1 or n_in == 1:
        return torch.full((n_out, n_in), 1.0 / n_in)
    pos = torch.arange(n_out, dtype=torch.float64) * (n_in - 1) / (n_out - 1)
    lo = pos.floor().long().clamp(max=n_in - 2)
    frac = pos - lo
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    m[torch.arange(n_out), lo] = 1.0 - frac
    m[torch.arange(n_out), lo + 1] += frac
    return m.float()


def _fit_frames(mel: torch.Tensor, frames: int) -> torch.Tensor:
    """Cut [B, M, T] to ``frames`` frames, or pad it with each item's quietest value (silence)."""
    mel = mel[..., :frames]
    missing = frames - mel.shape[-1]
    if missing > 0:
        floor = mel.amin(dim=(1, 2), keepdim=True).expand(mel.shape[0], mel.shape[1], missing)
        mel = torch.cat([mel, floor], dim=-1)
    return mel


def _load(encoder: str, path: str, kind: tuple[str, str | None]) -> nn.Module:
    """``from_pretrained(path, local_files_only=True)`` of the class named by ``kind``, then its
    encoder attribute (a whole ``ClapModel`` gives its ``audio_model``).

    Loading a whole CLAP folder into ``ClapAudioModel`` would match none of its weight names and
    leave the model randomly initialised, so a folder that lacks any of the model's weights is
    refused rather than half loaded.
    """
    transformers = _transformers(encoder)
    cls_name, attr = kind
    root = pathlib.Path(path).expanduser()
    model, info = getattr(transformers, cls_name).from_pretrained(
        str(root), local_files_only=True, output_loading_info=True
    )
    missing = [k for k in info.get("missing_keys", ()) if not k.endswith("num_batches_tracked")]
    if missing:
        raise ParameterError(
            f"{encoder}: {root} lacks {len(missing)} of the {cls_name}'s weights (e.g. {sorted(missing)[0]!r}); "
            "they would be random. Hint: save the whole model with save_pretrained into that folder."
        )
    return getattr(model, attr) if attr else model


class _PretrainedAdapter(nn.Module):
    """Shared parts: loading, freezing, the probe-conditioned projection (see the module docstring)."""

    name: ClassVar[str]
    config_type: ClassVar[type[FrozenConfig]] = PretrainedEncoderConfig
    #: model_type in config.json -> the transformers class, and the attribute holding the encoder
    #: (None: the model itself).
    model_types: ClassVar[Mapping[str, tuple[str, str | None]]]

    def __init__(self, config: PretrainedEncoderConfig, *, n_mels: int) -> None:
        super().__init__()
        if config.embedding_dim < 1:
            raise ParameterError(f"{self.name}: embedding_dim must be >= 1, got {config.embedding_dim}")
        self.config = config
        hf_config = check_weights_folder(config.path, encoder=self.name, model_types=tuple(self.model_types))
        self.backbone = _load(self.name, config.path, self.model_types[hf_config["model_type"]])
        self.freeze = bool(config.freeze)
        if self.freeze:
            self.backbone.requires_grad_(False)
            self.backbone.eval()
        hidden = self._setup(self.backbone.config, n_mels=n_mels)
        e = int(config.embedding_dim)
        self.out = nn.Sequential(nn.Linear(hidden + 3, e), nn.GELU(), nn.Linear(e, e))
        self.embedding_dim = e
        self.min_frames = 1

    def _setup(self, hf_config: Any, *, n_mels: int) -> int:
        """Build the input map; returns the width of the pooled features."""
        raise NotImplementedError

    def _pooled(self, mel: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def train(self, mode: bool = True) -> _PretrainedAdapter:
        super().train(mode)
        if self.freeze:
            self.backbone.eval()
        return self

    def forward(self, mel: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([self._pooled(mel), probe], dim=-1))


@register_encoder("pretrained-ast")
class PretrainedAST(_PretrainedAdapter):
    """``ASTModel`` on our log-mel mapped to its filterbank bands; pooled output [B, hidden] → [B, E]."""

    model_types: ClassVar[Mapping[str, tuple[str, str | None]]] = {
        "audio-spectrogram-transformer": ("ASTModel", None)
    }

    def _setup(self, hf_config: Any, *, n_mels: int) -> int:
        mean, std = AST_MEAN, AST_STD
        pre = pathlib.Path(self.config.path).expanduser() / "preprocessor_config.json"
        if pre.is_file():
            doc = json.loads(pre.read_text())
            mean, std = float(doc.get("mean", mean)), float(doc.get("std", std))
        self.frames = int(hf_config.max_length)
        self.bands = nn.Linear(n_mels, int(hf_config.num_mel_bins))
        with torch.no_grad():  # dB -> ln, then the feature extractor's (x - mean) / (2 std)
            self.bands.weight.copy_(band_map(n_mels, int(hf_config.num_mel_bins)) * _DB_TO_LN / (2 * std))
            self.bands.bias.fill_(-mean / (2 * std))
        return int(hf_config.hidden_size)

    def _pooled(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.bands(_fit_frames(mel, self.frames).transpose(1, 2))  # [B, max_length, bins]
        return self.backbone(input_values=x).pooler_output


@register_encoder("pretrained-clap")
class PretrainedCLAP(_PretrainedAdapter):
    """``ClapAudioModel`` on our dB log-mel mapped to its bands; pooled output [B, C] → [B, E]."""

    model_types: ClassVar[Mapping[str, tuple[str, str | None]]] = {
        "clap_audio_model": ("ClapAudioModel", None),
        "clap": ("ClapModel", "audio_model"),
    }

    def _setup(self, hf_config: Any, *, n_mels: int) -> int:
        bins = int(hf_config.num_mel_bins)
        self.frames = int(hf_config.spec_size) * (int(hf_config.spec_size) // bins)
        self.fusion = bool(hf_config.enable_fusion)
        self.bands = nn.Linear(n_mels, bins)
        with torch.no_grad():  # both sides are dB
            self.bands.weight.copy_(band_map(n_mels, bins))
            self.bands.bias.zero_()
        return int(hf_config.patch_embeds_hidden_size * 2 ** (len(hf_config.depths) - 1))

    def _pooled(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.bands(_fit_frames(mel, self.frames).transpose(1, 2)).unsqueeze(1)  # [B, 1, T, bins]
        is_longer = None
        if self.fusion:  # the global view in every channel; no item is "longer", so no local crops are read
            x = x.expand(-1, 4, -1, -1)
            is_longer = torch.zeros(x.shape[0], 1, dtype=torch.bool, device=x.device)
        return self.backbone(input_features=x, is_longer=is_longer).pooler_output


@register_encoder("pretrained-mert")
class PretrainedMERT(_PretrainedAdapter):
    """A HuBERT-like transformer (MERT's architecture) on log-mel frames, its conv feature encoder
    skipped; mean over frames [B, hidden] → [B, E]."""

    model_types: ClassVar[Mapping[str, tuple[str, str | None]]] = {
        "hubert": ("HubertModel", None),
        "wav2vec2": ("Wav2Vec2Model", None),
    }

    def _setup(self, hf_config: Any, *, n_mels: int) -> int:
        self.frame_map = nn.Linear(n_mels, int(hf_config.conv_dim[-1]))
        return int(hf_config.hidden_size)

    def _pooled(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.frame_map(((mel + 40.0) / 40.0).transpose(1, 2))  # [B, T, conv_dim[-1]]
        h = self.backbone.feature_projection(x)
        if isinstance(h, tuple):  # Wav2Vec2's projection also returns its normed input
            h = h[0]
        return self.backbone.encoder(h).last_hidden_state.mean(dim=1)
