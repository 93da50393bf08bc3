"""Audio encoders of the estimator, registered by name (torch).

An encoder maps a log-mel ``mel`` [B, n_mels, T] (dB, the dataset's ``LogMelConfig``) and the
probe ``probe`` [B, 3] (:data:`synthmatch.models.layout.PROBE_CONVENTION`) to an embedding
[B, E]. It declares ``name``, ``config_type`` (a :class:`~synthmatch.models.configs.FrozenConfig`)
and ``embedding_dim``, and is built with ``cls(config, n_mels=...)``. Register new ones with
``@register_encoder("name")``: the builder and the CLI take their choices from :data:`ENCODERS`.

Registered here: ``logmel-cnn`` (:class:`LogMelCNN`, the default) and ``ast``
(:class:`SpectrogramTransformer`, AST-style patches). The adapters of pretrained encoders,
``pretrained-ast``, ``pretrained-mert`` and ``pretrained-clap`` (:mod:`synthmatch.models.pretrained`,
``transformers`` in the ``pretrained`` extra), are imported the first time one is asked for. Every
encoder accepts any T ≥ its ``min_frames`` so the ONNX export keeps a dynamic time axis.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from synthmatch.errors import ParameterError
from synthmatch.models.configs import FrozenConfig, LogMelCNNConfig, SpectrogramTransformerConfig

#: name -> encoder class.
ENCODERS: dict[str, type[nn.Module]] = {}

#: Encoders registered by a module imported on first use (its dependencies are optional).
_LAZY: dict[str, str] = {
    "pretrained-ast": "synthmatch.models.pretrained",
    "pretrained-mert": "synthmatch.models.pretrained",
    "pretrained-clap": "synthmatch.models.pretrained",
}


def register_encoder(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make an encoder available by ``name``."""

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if name in ENCODERS:
            raise ValueError(f"encoder {name!r} registered twice")
        cls.name = name  # type: ignore[attr-defined]
        ENCODERS[name] = cls
        return cls

    return deco


def encoder_names() -> list[str]:
    return sorted(set(ENCODERS) | set(_LAZY))


def encoder_class(name: str) -> type[nn.Module]:
    if name not in ENCODERS and name in _LAZY:
        importlib.import_module(_LAZY[name])
    try:
        return ENCODERS[name]
    except KeyError:
        raise ParameterError(
            f"unknown encoder {name!r}; choose one of {', '.join(encoder_names())}"
        ) from None


class FiLM(nn.Module):
    """Feature-wise affine modulation of [B, C, ...] by the probe: ``x * (1 + gamma) + beta``.

    Starts as the identity (zero-initialised), so the probe's influence is learned.
    """

    def __init__(self, channels: int, cond_dim: int = 3) -> None:
        super().__init__()
        self.proj = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(cond).chunk(2, dim=-1)
        shape = (*gamma.shape, *([1] * (x.dim() - 2)))
        return x * (1.0 + gamma.reshape(shape)) + beta.reshape(shape)


class _ConvBlock(nn.Module):
    """3×3 conv that halves both axes (stride 2 in the first block, else a 2×2 max pool), batch norm,
    FiLM from the probe, GELU. Pooling before the norm and activation keeps the elementwise work at
    the lower resolution (on CPU it costs more than the convolutions)."""

    def __init__(self, cin: int, cout: int, *, film: bool, strided: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=2 if strided else 1, padding=1, bias=False)
        self.pool = nn.Identity() if strided else nn.MaxPool2d(2)
        self.norm = nn.BatchNorm2d(cout, affine=not film)
        self.film = FiLM(cout) if film else None
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.pool(self.conv(x)))
        if self.film is not None:
            x = self.film(x, probe)
        return self.act(x)


class _TemporalBlock(nn.Module):
    """A residual dilated 1-D convolution over time."""

    def __init__(self, dim: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, 3, padding=dilation, dilation=dilation)
        self.norm = nn.BatchNorm1d(dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.norm(self.conv(x)))


@register_encoder("logmel-cnn")
class LogMelCNN(nn.Module):
    """A small 2-D CNN over the log-mel, conditioned on the probe by FiLM, with global pooling.

    Shapes: ``mel`` [B, n_mels, T] → conv blocks [B, C, n_mels / 2^L, T' / 2^L] → frequency folded
    into channels and projected to E → dilated temporal blocks → mean, max and attention pooling
    over time (any T ≥ :attr:`min_frames`) → ``embedding`` [B, E].
    """

    name: ClassVar[str]
    config_type: ClassVar[type[FrozenConfig]] = LogMelCNNConfig

    def __init__(self, config: LogMelCNNConfig, *, n_mels: int) -> None:
        super().__init__()
        if not config.channels:
            raise ParameterError("logmel-cnn needs at least one conv block (channels)")
        if n_mels % (2 ** len(config.channels)):
            raise ParameterError(
                f"logmel-cnn with {len(config.channels)} blocks halves the {n_mels} mel bands that many times; "
                f"n_mels must be a multiple of {2 ** len(config.channels)}. Hint: use fewer channels."
            )
        self.config = config
        self.mel_offset = float(config.mel_offset)
        self.mel_scale = float(config.mel_scale)
        self.time_pool = nn.AvgPool2d((1, config.time_pool)) if config.time_pool > 1 else nn.Identity()
        blocks = []
        cin = 1
        for i, c in enumerate(config.channels):
            blocks.append(_ConvBlock(cin, c, film=config.film, strided=i == 0))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        folded = cin * (n_mels // 2 ** len(config.channels))
        e = int(config.embedding_dim)
        self.fold = nn.Sequential(nn.Conv1d(folded, e, 1), nn.GELU())
        self.temporal = nn.Sequential(*[_TemporalBlock(e, 2**i) for i in range(config.temporal_layers)])
        self.attn = nn.Conv1d(e, 1, 1)
        self.out = nn.Sequential(nn.Linear(3 * e + 3, e), nn.GELU(), nn.Linear(e, e))
        self.embedding_dim = e
        self.min_frames = int(config.time_pool) * 2 ** len(config.channels)

    def forward(self, mel: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
        x = ((mel + self.mel_offset) / self.mel_scale).unsqueeze(1)
        x = self.time_pool(x)
        for block in self.blocks:
            x = block(x, probe)
        b, c, f, t = x.shape
        h = self.temporal(self.fold(x.reshape(b, c * f, t)))
        w = torch.softmax(self.attn(h), dim=-1)
        pooled = torch.cat([h.mean(dim=-1), h.amax(dim=-1), (h * w).sum(dim=-1), probe], dim=-1)
        return self.out(pooled)


class _TransformerLayer(nn.Module):
    """A pre-norm transformer layer: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``.

    Attention is written out (matmul, softmax) rather than taken from ``nn.MultiheadAttention``,
    whose fused inference path the ONNX exporter does not trace; the sequence length stays dynamic.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = max(1, round(dim * mlp_ratio))
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        qkv = self.qkv(self.norm1(x)).reshape(b, -1, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, -1, self.heads * self.head_dim)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.mlp(self.norm2(x)))


@register_encoder("ast")
class SpectrogramTransformer(nn.Module):
    """An AST-style spectrogram transformer: log-mel patches, learned positions, probe token, pooling.

    Shapes: ``mel`` [B, n_mels, T] → patch embedding (strided conv) [B, D, F', T'] + frequency
    position [D, F'] + time position [D, T'] (positions past ``max_time_patches`` share the last
    one) → tokens [B, 2 + F'·T', D] with a class token and the probe's token in front → pre-norm
    transformer layers → final norm → class token ⊕ mean of the patch tokens → ``embedding`` [B, E].
    Any T ≥ :attr:`min_frames` (one patch) is accepted.
    """

    name: ClassVar[str]
    config_type: ClassVar[type[FrozenConfig]] = SpectrogramTransformerConfig

    def __init__(self, config: SpectrogramTransformerConfig, *, n_mels: int) -> None:
        super().__init__()
        c = config
        if (
            min(c.patch_mels, c.patch_frames, c.stride_mels, c.stride_frames, c.max_time_patches, c.layers)
            < 1
        ):
            raise ParameterError(
                "ast: patch sizes, strides, max_time_patches and layers must be >= 1, got "
                f"patch {c.patch_mels}x{c.patch_frames}, stride {c.stride_mels}x{c.stride_frames}, "
                f"max_time_patches {c.max_time_patches}, layers {c.layers}"
            )
        if c.patch_mels > n_mels:
            raise ParameterError(
                f"ast: a patch of {c.patch_mels} mel bands does not fit in {n_mels} bands. Hint: patch_mels <= {n_mels}."
            )
        if c.heads < 1 or c.dim % c.heads:
            raise ParameterError(f"ast: dim ({c.dim}) must be a multiple of heads ({c.heads})")
        self.config = config
        self.mel_offset = float(c.mel_offset)
        self.mel_scale = float(c.mel_scale)
        d = int(c.dim)
        n_freq = (n_mels - c.patch_mels) // c.stride_mels + 1
        self.patch = nn.Conv2d(1, d, (c.patch_mels, c.patch_frames), stride=(c.stride_mels, c.stride_frames))
        self.freq_pos = nn.Parameter(torch.randn(1, d, n_freq, 1) * 0.02)
        self.time_pos = nn.Parameter(torch.randn(1, d, 1, c.max_time_patches) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.probe_token = nn.Linear(3, d)
        self.layers = nn.ModuleList(
            [_TransformerLayer(d, c.heads, c.mlp_ratio, c.dropout) for _ in range(c.layers)]
        )
        self.norm = nn.LayerNorm(d)
        e = int(c.embedding_dim)
        self.out = nn.Sequential(nn.Linear(2 * d, e), nn.GELU(), nn.Linear(e, e))
        self.embedding_dim = e
        self.min_frames = int(c.patch_frames)
        self.max_time_patches = int(c.max_time_patches)

    def forward(self, mel: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
        x = self.patch(((mel + self.mel_offset) / self.mel_scale).unsqueeze(1))  # [B, D, F', T']
        steps = torch.arange(x.shape[-1], device=x.device).clamp(max=self.max_time_patches - 1)
        x = x + self.freq_pos + self.time_pos.index_select(3, steps)
        patches = x.flatten(2).transpose(1, 2)  # [B, F'·T', D]
        b = patches.shape[0]
        tokens = torch.cat([self.cls.expand(b, -1, -1), self.probe_token(probe).unsqueeze(1), patches], dim=1)
        for layer in self.layers:
            tokens = layer(tokens)
        tokens = self.norm(tokens)
        return self.out(torch.cat([tokens[:, 0], tokens[:, 2:].mean(dim=1)], dim=-1))
