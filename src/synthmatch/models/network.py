"""The estimator network: an encoder, a probe-conditioned trunk and heads sized by the layout (torch).

:class:`Estimator` returns a tuple in :data:`~synthmatch.models.layout.OUTPUT_NAMES` order (what
the ONNX export names); :func:`as_dict` names them. Every head's size comes from an
:class:`~synthmatch.models.layout.EstimatorLayout`; no parameter index appears here.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from synthmatch.models.layout import N_OSCILLATORS, OUTPUT_NAMES, EstimatorLayout

#: Initial presence probability of a connection (connections are sparse: about 2 of 13,696 cells).
_MOD_PRIOR = 1e-3


class MixtureHead(nn.Module):
    """K Gaussians per continuous parameter on the [0, 1] scale.

    Returns ``logit_pi`` [B, N, K], ``mu`` [B, N, K] in (0, 1) and ``log_sigma`` [B, N, K]
    with ``sigma >= sigma_min``.
    """

    def __init__(self, hidden: int, n: int, k: int, *, sigma_min: float) -> None:
        super().__init__()
        self.n, self.k = n, k
        self.sigma_min = float(sigma_min)
        self.proj = nn.Linear(hidden, n * k * 3)
        with torch.no_grad():  # spread the initial means over [0, 1] so the components differ
            bias = self.proj.bias.view(n, k, 3)
            bias[..., 1] = torch.logit(torch.linspace(0.1, 0.9, k)).expand(n, k)
            bias[..., 2] = -2.0

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raw = self.proj(h).reshape(h.shape[0], self.n, self.k, 3)
        logit_pi = raw[..., 0]
        mu = torch.sigmoid(raw[..., 1])
        log_sigma = torch.log(self.sigma_min + F.softplus(raw[..., 2]))
        return logit_pi, mu, log_sigma


class ModulationHead(nn.Module):
    """A dense sources × destinations map from a low-rank bilinear form plus a per-cell bias.

    ``logits[b, s, d] = <U(h)[b, s], V[d]> / sqrt(r) + bias[s, d]`` and likewise (through tanh)
    for the amount, so the head costs ``hidden·S·r`` weights, not ``hidden·S·D``.
    """

    def __init__(self, hidden: int, n_sources: int, n_destinations: int, rank: int) -> None:
        super().__init__()
        self.s, self.d, self.r = n_sources, n_destinations, rank
        self.u = nn.Linear(hidden, 2 * n_sources * rank)
        self.v = nn.Parameter(torch.randn(2, n_destinations, rank) / math.sqrt(rank))
        self.bias = nn.Parameter(torch.zeros(2, n_sources, n_destinations))
        with torch.no_grad():
            self.bias[0].fill_(math.log(_MOD_PRIOR / (1 - _MOD_PRIOR)))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.u(h).reshape(h.shape[0], 2, self.s, self.r)
        maps = torch.einsum("bksr,kdr->bksd", u, self.v) / math.sqrt(self.r) + self.bias
        return maps[:, 0], torch.tanh(maps[:, 1])


class Estimator(nn.Module):
    """Encoder → trunk (embedding + probe) → heads. ``forward(mel [B,M,T], probe [B,3])`` → outputs tuple."""

    def __init__(
        self,
        *,
        encoder: nn.Module,
        layout: EstimatorLayout,
        hidden: int,
        trunk_layers: int,
        dropout: float,
        mdn_components: int,
        sigma_min: float,
        mod_rank: int,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        e = int(encoder.embedding_dim)
        layers: list[nn.Module] = []
        dim = e + 3
        for _ in range(max(1, trunk_layers)):
            layers += [nn.Linear(dim, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Dropout(dropout)]
            dim = hidden
        self.trunk = nn.Sequential(*layers)
        self.mdn = MixtureHead(hidden, layout.n_continuous, mdn_components, sigma_min=sigma_min)
        self.bools = nn.Linear(hidden, layout.n_bools)
        self.discrete = nn.Linear(hidden, layout.n_discrete_logits)
        self.categorical = nn.Linear(hidden, layout.n_cat_logits)
        self.order = nn.Linear(hidden, layout.n_effects)
        self.modulation = ModulationHead(hidden, layout.n_sources, layout.n_destinations, mod_rank)
        self.wavetables = nn.Linear(hidden, N_OSCILLATORS * layout.n_wavetable_classes)
        self.n_wavetable_classes = layout.n_wavetable_classes
        self.embedding_dim = e

    def forward(self, mel: torch.Tensor, probe: torch.Tensor) -> tuple[torch.Tensor, ...]:
        emb = self.encoder(mel, probe)
        h = self.trunk(torch.cat([emb, probe], dim=-1))
        logit_pi, mu, log_sigma = self.mdn(h)
        mod_logits, mod_amount = self.modulation(h)
        wt = self.wavetables(h).reshape(h.shape[0], N_OSCILLATORS, self.n_wavetable_classes)
        return (
            emb,
            logit_pi,
            mu,
            log_sigma,
            self.bools(h),
            self.discrete(h),
            self.categorical(h),
            self.order(h),
            mod_logits,
            mod_amount,
            wt,
        )


def as_dict(outputs: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """The model's outputs by name (:data:`OUTPUT_NAMES`)."""
    if len(outputs) != len(OUTPUT_NAMES):
        raise ValueError(f"expected {len(OUTPUT_NAMES)} outputs, got {len(outputs)}")
    return dict(zip(OUTPUT_NAMES, outputs))
