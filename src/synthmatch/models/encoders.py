"""Audio encoders of the estimator, registered by name (torch).

An encoder maps a log-mel ``mel`` [B, n_mels, T] (dB, the dataset's ``LogMelConfig``) and the
probe ``probe`` [B, 3] (:data:`synthmatch.models.layout.PROBE_CONVENTION`) to an embedding
[B, E]. It declares ``name``, ``config_type`` (a :class:`~synthmatch.models.configs.FrozenConfig`)
and ``embedding_dim``, and is built with ``cls(config, n_mels=...)``. Register new ones with
``@register_encoder("name")``: the builder and the CLI take their choices from :data:`ENCODERS`.

The seam for an AST-style spectrogram transformer or a pretrained adapter (AST, MERT, CLAP through
``transformers``, loading only weights already on disk) is the same: a module with this
constructor and ``forward(mel, probe) -> [B, E]``; it must accept any T above its minimum so the
ONNX export keeps a dynamic time axis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from synthmatch.errors import ParameterError
from synthmatch.models.configs import FrozenConfig, LogMelCNNConfig

#: name -> encoder class.
ENCODERS: dict[str, type[nn.Module]] = {}


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
    return sorted(ENCODERS)


def encoder_class(name: str) -> type[nn.Module]:
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
