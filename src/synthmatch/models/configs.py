"""Named, frozen configurations of the learned estimator (torch-free).

An :class:`EstimatorConfig` holds everything that defines a trained model: the model
(:class:`ModelConfig`: encoder name and options, trunk, head sizes), the training
(:class:`TrainConfig`) and the data it is trained on (:class:`DataConfig`, used to build the
dataset when it is missing). Every config round-trips through ``to_dict``/``from_dict`` (JSON) and
is stored in checkpoints and model cards. :mod:`synthmatch.models.builders` turns them into modules.

Named configurations (:data:`CONFIGS`, :func:`get_config`):

* ``debug`` — a few thousand weights; trains on a dozen items in seconds (tests);
* ``debug-ast`` — ``debug`` with the ``ast`` spectrogram transformer as its encoder (tests);
* ``small`` — sized to train on this 2-core CPU on 50k items in about two hours (one thread
  trains 156 items/s beside a running dataset build, so an epoch of 47.5k training items takes
  about 300 s and 20 epochs about 1.7 h) and to export to under 25 MB with its wavetables
  (15 MB of ONNX plus at most 6 MB of tables);
* ``large`` — a wider CNN and trunk, bigger batches and vocabulary, for a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synthmatch.data.config import Config
from synthmatch.errors import ParameterError

#: The base of every config here (nested configs, tuples as lists, JSON round trip).
FrozenConfig = Config


@dataclass(frozen=True)
class DataConfig(FrozenConfig):
    """The training data: how to build it when the dataset folder is missing, and the split.

    The validation split holds the items whose index hashes below ``val_fraction``
    (:func:`synthmatch.train.split.is_validation`), so it is the same whatever the shard
    order, the number of items or the machine.
    """

    n_items: int = 50_000
    seed: int = 1
    sampler: str = "mix"
    probe_sampler: str = "range"
    render_seconds: float = 4.0
    shard_size: int = 1000
    val_fraction: float = 0.05
    split_salt: int = 0


@dataclass(frozen=True)
class ModelConfig(FrozenConfig):
    """The network: an encoder from the registry, a trunk, and head sizes.

    ``encoder_options`` go to the encoder's own config (:class:`LogMelCNNConfig` for ``logmel-cnn``,
    :class:`SpectrogramTransformerConfig` for ``ast``, :class:`PretrainedEncoderConfig` for the
    ``pretrained-*`` adapters).
    ``wavetable_vocab`` is V (classes including "other"); ``wavetable_max_mb`` caps the gzip'd
    size of the vocabulary's tables shipped beside the model.
    """

    encoder: str = "logmel-cnn"
    encoder_options: dict[str, Any] = field(default_factory=dict)
    hidden: int = 384
    trunk_layers: int = 2
    dropout: float = 0.1
    mdn_components: int = 4
    sigma_min: float = 0.002
    mod_rank: int = 32
    wavetable_vocab: int = 256
    wavetable_max_mb: float = 6.0


@dataclass(frozen=True)
class TrainConfig(FrozenConfig):
    """Optimisation and losses.

    ``loss_weights`` multiply each head's loss (``cont``, ``bool``, ``disc``, ``cat``, ``order``,
    ``mod``, ``mod_amount``, ``wt``); within a head, parameters are weighted by ``ParamSpec.weight``
    and only active ones count. The modulation presence loss is a binary cross-entropy summed over
    the sources × destinations map and divided by the number of sources, with positives weighted
    by ``mod_pos_weight`` (connections are sparse), plus ``mod_sparsity`` times the summed
    presence probabilities.

    ``threads`` is torch's CPU thread count. It is 1 by default: on the 2-core machine, shared with
    a dataset build, two threads trained 24 items/s and one thread 156 items/s (threads that wait
    for each other spin while the other cores are busy).
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1
    checkpoint_every_s: float = 600.0
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {
            "cont": 1.0,
            "bool": 1.0,
            "disc": 1.0,
            "cat": 1.0,
            "order": 0.5,
            "mod": 1.0,
            "mod_amount": 1.0,
            "wt": 1.0,
        }
    )
    mod_pos_weight: float = 10.0
    mod_sparsity: float = 0.01
    #: The most effects an item may switch on in each of the first epochs (a curriculum from dry
    #: presets to the full chain: ``(1, 2, 3)`` trains on items with at most one effect, then two,
    #: then three, then on every item); empty: every epoch on every item.
    curriculum: tuple[int, ...] = ()


@dataclass(frozen=True)
class LogMelCNNConfig(FrozenConfig):
    """Options of the ``logmel-cnn`` encoder (:class:`synthmatch.models.encoders.LogMelCNN`).

    The log-mel (dB) is scaled as ``(mel + mel_offset) / mel_scale``; ``time_pool`` averages
    frames before the first convolution; each of ``channels`` is a conv block that halves both
    axes (3×3 conv, stride 2 or 2×2 max pool, batch norm, FiLM from the probe, GELU); then ``temporal_layers`` dilated 1-D
    convolutions over time and mean/max/attention pooling give ``embedding_dim`` features.
    The input needs at least ``time_pool * 2 ** len(channels)`` frames.
    """

    channels: tuple[int, ...] = (16, 32, 64, 128)
    time_pool: int = 2
    embedding_dim: int = 256
    temporal_layers: int = 2
    mel_offset: float = 40.0
    mel_scale: float = 40.0
    film: bool = True


@dataclass(frozen=True)
class SpectrogramTransformerConfig(FrozenConfig):
    """Options of the ``ast`` encoder (:class:`synthmatch.models.encoders.SpectrogramTransformer`).

    The log-mel (dB), scaled as ``(mel + mel_offset) / mel_scale``, is cut into ``patch_mels`` ×
    ``patch_frames`` patches every ``stride_mels`` bands and ``stride_frames`` frames (a strided
    convolution to ``dim`` features). Learned frequency and time position embeddings are added; the
    time table holds ``max_time_patches`` positions and later patches share the last one, so any
    length above ``patch_frames`` frames is accepted. A class token and a probe token join the
    patches through ``layers`` pre-norm transformer layers of ``heads`` heads (MLP ``mlp_ratio`` ×
    ``dim``); the class token and the mean of the patch tokens give ``embedding_dim`` features.
    """

    patch_mels: int = 16
    patch_frames: int = 16
    stride_mels: int = 16
    stride_frames: int = 16
    dim: int = 192
    layers: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.0
    max_time_patches: int = 64
    embedding_dim: int = 256
    mel_offset: float = 40.0
    mel_scale: float = 40.0


@dataclass(frozen=True)
class PretrainedEncoderConfig(FrozenConfig):
    """Options of the pretrained adapters (``pretrained-ast``, ``pretrained-mert``, ``pretrained-clap``;
    :mod:`synthmatch.models.pretrained`).

    ``path`` is a local folder written by ``transformers``' ``save_pretrained`` (``config.json`` and the
    weights); nothing is downloaded. ``embedding_dim`` is the size of the projection after pooling.
    With ``freeze`` the pretrained weights stay fixed (and in eval mode) and only the input map and the
    projection train.
    """

    path: str = ""
    embedding_dim: int = 256
    freeze: bool = True


@dataclass(frozen=True)
class EstimatorConfig(FrozenConfig):
    """A named estimator configuration: model, training and data."""

    name: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)


CONFIGS: dict[str, EstimatorConfig] = {
    "debug": EstimatorConfig(
        name="debug",
        model=ModelConfig(
            encoder_options={"channels": (8, 16), "embedding_dim": 32, "temporal_layers": 1, "time_pool": 2},
            hidden=64,
            trunk_layers=1,
            dropout=0.0,
            mdn_components=2,
            mod_rank=4,
            wavetable_vocab=16,
            wavetable_max_mb=2.0,
        ),
        train=TrainConfig(epochs=3, batch_size=8, lr=3e-3, warmup_steps=0, checkpoint_every_s=0.0),
        data=DataConfig(n_items=48, shard_size=16, val_fraction=0.2),
    ),
    "small": EstimatorConfig(name="small"),
    "large": EstimatorConfig(
        name="large",
        model=ModelConfig(
            encoder_options={
                "channels": (32, 64, 128, 256, 256),
                "embedding_dim": 512,
                "temporal_layers": 3,
                "time_pool": 1,
            },
            hidden=1024,
            trunk_layers=3,
            mdn_components=8,
            mod_rank=64,
            wavetable_vocab=512,
            wavetable_max_mb=24.0,
        ),
        train=TrainConfig(epochs=40, batch_size=256, lr=1e-3, warmup_steps=1000, threads=8),
        data=DataConfig(n_items=1_000_000, shard_size=2000, val_fraction=0.02),
    ),
}


CONFIGS["debug-ast"] = CONFIGS["debug"].replace(
    name="debug-ast",
    model=CONFIGS["debug"].model.replace(
        encoder="ast",
        encoder_options={"dim": 32, "layers": 1, "heads": 2, "max_time_patches": 32, "embedding_dim": 32},
    ),
)


def config_names() -> list[str]:
    return list(CONFIGS)


def get_config(name: str) -> EstimatorConfig:
    """The named configuration (``debug``, ``debug-ast``, ``small``, ``large``)."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ParameterError(
            f"unknown estimator config {name!r}; choose one of {', '.join(CONFIGS)}"
        ) from None
