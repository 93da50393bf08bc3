"""Configs to objects, in one place (torch): encoder, network, loss, optimizer and schedule.

Modules take plain arguments and already-built sub-modules; only this module reads a config.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from synthmatch.models.configs import EstimatorConfig, FrozenConfig, ModelConfig, TrainConfig
from synthmatch.models.encoders import encoder_class
from synthmatch.models.layout import EstimatorLayout
from synthmatch.models.losses import EstimatorLoss
from synthmatch.models.network import Estimator


def build_encoder(name: str, options: Mapping[str, Any] | FrozenConfig | None, *, n_mels: int) -> nn.Module:
    """The encoder registered as ``name``, with its options (a dict or its own config)."""
    cls = encoder_class(name)
    cfg_type = cls.config_type  # type: ignore[attr-defined]
    cfg = options if isinstance(options, cfg_type) else cfg_type.from_dict(options)
    return cls(cfg, n_mels=n_mels)


def build_model(config: ModelConfig | EstimatorConfig, layout: EstimatorLayout, *, n_mels: int) -> Estimator:
    """The estimator network for a layout (heads sized by it) and the log-mel's band count."""
    model = config.model if isinstance(config, EstimatorConfig) else config
    encoder = build_encoder(model.encoder, model.encoder_options, n_mels=n_mels)
    return Estimator(
        encoder=encoder,
        layout=layout,
        hidden=model.hidden,
        trunk_layers=model.trunk_layers,
        dropout=model.dropout,
        mdn_components=model.mdn_components,
        sigma_min=model.sigma_min,
        mod_rank=model.mod_rank,
    )


def build_loss(config: TrainConfig | EstimatorConfig, layout: EstimatorLayout) -> EstimatorLoss:
    train = config.train if isinstance(config, EstimatorConfig) else config
    return EstimatorLoss(
        layout,
        loss_weights=train.loss_weights,
        mod_pos_weight=train.mod_pos_weight,
        mod_sparsity=train.mod_sparsity,
    )


def build_optimizer(config: TrainConfig | EstimatorConfig, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms and the modulation map's per-cell bias."""
    train = config.train if isinstance(config, EstimatorConfig) else config
    decay, plain = [], []
    for name, p in model.named_parameters():
        (plain if p.ndim <= 1 or name.endswith("modulation.bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": train.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=train.lr)


def build_scheduler(
    config: TrainConfig | EstimatorConfig, optimizer: torch.optim.Optimizer, *, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_steps``, then a cosine decay to 5 % of the rate at ``total_steps``."""
    train = config.train if isinstance(config, EstimatorConfig) else config
    warm = max(0, int(train.warmup_steps))
    total = max(1, int(total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        frac = min(1.0, (step - warm) / max(1, total - warm))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
