"""Losses and validation metrics of the estimator, head by head (torch).

Every head's loss is a weighted mean over the *active* parameters of the batch (activity masks
from :func:`synthmatch.models.layout.training_targets`), each parameter weighted by its
``ParamSpec.weight``:

* ``cont`` — mixture-density negative log-likelihood of the normalized value;
* ``bool`` — binary cross-entropy; ``disc``/``cat``/``wt`` — cross-entropy over each parameter's
  own classes (a segmented softmax over the concatenated logits);
* ``order`` — Plackett–Luce negative log-likelihood of the processing order of the effects that
  are on (the order of effects that are off does not change the sound), per item;
* ``mod`` — binary cross-entropy of connection presence over the sources × destinations map
  (positives weighted by ``mod_pos_weight``, on logits shifted by ``log(mod_pos_weight)`` so that
  the model's logits stay calibrated; summed and divided by the number of sources) plus
  ``mod_sparsity`` × the summed presence probabilities; ``mod_amount`` — squared error of the
  amount on the cells that hold a connection.

The total is ``sum(loss_weights[g] * loss[g])``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from synthmatch.models.layout import N_OSCILLATORS, EstimatorLayout

#: Loss groups, in reporting order.
GROUPS: tuple[str, ...] = ("cont", "bool", "disc", "cat", "order", "mod", "mod_amount", "wt")
_MASKED = -1e4  # a finite "minus infinity": keeps gradients finite where a class or effect is masked
_LOG_2PI = math.log(2 * math.pi)


def _segments(sizes: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather index [n, max_size] into concatenated logits, and the validity mask of each slot."""
    n, width = len(sizes), max(sizes, default=1)
    index = np.zeros((n, width), dtype=np.int64)
    valid = np.zeros((n, width), dtype=bool)
    start = 0
    for i, s in enumerate(sizes):
        index[i, :s] = np.arange(start, start + s)
        valid[i, :s] = True
        start += s
    return torch.from_numpy(index), torch.from_numpy(valid)


def _weighted_mean(values: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    w = mask * weight
    return (values * w).sum() / w.sum().clamp_min(1e-8)


class EstimatorLoss(nn.Module):
    """The estimator's loss for one :class:`EstimatorLayout` (see the module docstring)."""

    def __init__(
        self,
        layout: EstimatorLayout,
        *,
        loss_weights: Mapping[str, float],
        mod_pos_weight: float,
        mod_sparsity: float,
    ) -> None:
        super().__init__()
        unknown = set(loss_weights) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown loss groups {sorted(unknown)}; groups are {GROUPS}")
        self.loss_weights = {g: float(loss_weights.get(g, 1.0)) for g in GROUPS}
        self.mod_pos_weight = float(mod_pos_weight)
        self.mod_sparsity = float(mod_sparsity)
        self.n_sources = layout.n_sources
        f32 = torch.float32
        self.register_buffer("w_cont", torch.tensor(layout.continuous_weights, dtype=f32), persistent=False)
        self.register_buffer("w_bool", torch.tensor(layout.bool_weights, dtype=f32), persistent=False)
        self.register_buffer("w_disc", torch.tensor(layout.discrete_weights, dtype=f32), persistent=False)
        self.register_buffer("w_cat", torch.tensor(layout.categorical_weights, dtype=f32), persistent=False)
        for name, sizes in (("disc", layout.discrete_levels), ("cat", layout.categorical_sizes)):
            index, valid = _segments(sizes)
            self.register_buffer(f"{name}_index", index, persistent=False)
            self.register_buffer(f"{name}_valid", valid, persistent=False)
        self.order_weight = float(layout.effect_order_weight)
        self.amount_weight = float(layout.mod_amount_weight)

    def _segmented_log_softmax(self, logits: torch.Tensor, name: str) -> torch.Tensor:
        index, valid = getattr(self, f"{name}_index"), getattr(self, f"{name}_valid")
        gathered = logits[:, index]  # [B, n, width]
        return torch.log_softmax(gathered.masked_fill(~valid, _MASKED), dim=-1)

    def forward(
        self, out: Mapping[str, torch.Tensor], t: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(total, {group: loss})`` for outputs and targets (both keyed as the module docstring says)."""
        parts: dict[str, torch.Tensor] = {}
        # continuous: mixture NLL
        y = t["cont"].unsqueeze(-1)
        log_sigma = out["mdn_log_sigma"]
        log_n = -0.5 * ((y - out["mdn_mu"]) * torch.exp(-log_sigma)) ** 2 - log_sigma - 0.5 * _LOG_2PI
        nll = -torch.logsumexp(torch.log_softmax(out["mdn_logit_pi"], dim=-1) + log_n, dim=-1)
        parts["cont"] = _weighted_mean(nll, t["cont_mask"], self.w_cont)
        # switches
        bce = F.binary_cross_entropy_with_logits(out["bool_logits"], t["bool"], reduction="none")
        parts["bool"] = _weighted_mean(bce, t["bool_mask"], self.w_bool)
        # discrete and categorical: a softmax per parameter
        for name, logits_key, w in (
            ("disc", "discrete_logits", self.w_disc),
            ("cat", "cat_logits", self.w_cat),
        ):
            logp = self._segmented_log_softmax(out[logits_key], name)
            ce = -logp.gather(-1, t[name].unsqueeze(-1)).squeeze(-1)
            parts[name] = _weighted_mean(ce, t[f"{name}_mask"], w)
        parts["order"] = self.order_weight * plackett_luce_nll(
            out["order_scores"], t["order"], t["order_mask"]
        )
        # modulation map
        logits = out["mod_logits"]
        presence = t["mod"]
        # Weighting positives by w moves the optimal logit up by log(w); the loss sees the logits
        # shifted by log(w), so the model's own logits stay calibrated probabilities.
        bce = F.binary_cross_entropy_with_logits(
            logits + math.log(self.mod_pos_weight),
            presence,
            reduction="none",
            pos_weight=torch.tensor(self.mod_pos_weight, device=logits.device),
        )
        b = logits.shape[0]
        parts["mod"] = (bce.sum() + self.mod_sparsity * torch.sigmoid(logits).sum()) / (b * self.n_sources)
        err = (out["mod_amount"] - t["mod_amount"]) ** 2
        parts["mod_amount"] = self.amount_weight * (err * presence).sum() / presence.sum().clamp_min(1.0)
        # wavetables
        ce = F.cross_entropy(
            out["wt_logits"].reshape(-1, out["wt_logits"].shape[-1]), t["wt"].reshape(-1), reduction="none"
        ).reshape(b, N_OSCILLATORS)
        parts["wt"] = (ce * t["wt_mask"]).sum() / t["wt_mask"].sum().clamp_min(1e-8)
        total = sum(self.loss_weights[g] * parts[g] for g in GROUPS)
        return total, parts


def plackett_luce_nll(scores: torch.Tensor, order: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean Plackett–Luce NLL of the order of the masked-in items, over items with at least two.

    Parameters
    ----------
    scores : torch.Tensor [shape=(B, n)]
        One score per effect (by effect index).
    order : torch.Tensor int64 [shape=(B, n)]
        Effect indices, first processed first.
    mask : torch.Tensor [shape=(B, n)]
        1 for effects that take part (by effect index).
    """
    s = scores.gather(1, order)
    m = mask.gather(1, order) > 0
    masked = s.masked_fill(~m, _MASKED)
    # log-sum-exp of the scores of this and every later effect that takes part
    rest = torch.logcumsumexp(masked.flip(1), dim=1).flip(1)
    terms = torch.where(m, rest - s, torch.zeros_like(s))
    n_on = m.sum(dim=1)
    per_item = terms.sum(dim=1) / (n_on - 1).clamp_min(1)
    has = (n_on >= 2).to(scores.dtype)
    return (per_item * has).sum() / has.sum().clamp_min(1.0)


@torch.no_grad()
def batch_metrics(
    out: Mapping[str, torch.Tensor], t: Mapping[str, torch.Tensor], layout: EstimatorLayout
) -> dict[str, float]:
    """Sums and counts for validation metrics (add them over batches, then :func:`finish_metrics`).

    Mode predictions against the targets, on active parameters: ``cont_abs_err`` (MAE of the most
    probable component's mean, on the normalized scale), accuracies of switches, discrete and
    categorical classes and wavetables, pairwise effect-order agreement among effects that are on
    (Kendall's τ = 2·agreement − 1), and connection precision/recall at probability 1/2.
    """
    sums: dict[str, float] = {}

    def add(key: str, num: torch.Tensor, den: torch.Tensor) -> None:
        sums[key + "/num"] = sums.get(key + "/num", 0.0) + float(num)
        sums[key + "/den"] = sums.get(key + "/den", 0.0) + float(den)

    k = out["mdn_logit_pi"].argmax(-1, keepdim=True)
    mode = out["mdn_mu"].gather(-1, k).squeeze(-1)
    add("cont_mae", ((mode - t["cont"]).abs() * t["cont_mask"]).sum(), t["cont_mask"].sum())
    hit = ((out["bool_logits"] > 0).float() == t["bool"]).float()
    add("bool_acc", (hit * t["bool_mask"]).sum(), t["bool_mask"].sum())
    for name, logits_key, offsets in (
        ("disc", "discrete_logits", layout.discrete_offsets),
        ("cat", "cat_logits", layout.categorical_offsets),
    ):
        logits = out[logits_key]
        pred = (
            torch.stack(
                [
                    logits[:, int(offsets[i]) : int(offsets[i + 1])].argmax(-1)
                    for i in range(len(offsets) - 1)
                ],
                dim=1,
            )
            if len(offsets) > 1
            else torch.zeros_like(t[name])
        )
        add(f"{name}_acc", ((pred == t[name]).float() * t[f"{name}_mask"]).sum(), t[f"{name}_mask"].sum())
    wt_hit = (out["wt_logits"].argmax(-1) == t["wt"]).float()
    add("wt_acc", (wt_hit * t["wt_mask"]).sum(), t["wt_mask"].sum())
    # effect order: pairs of effects that are on, ordered the same way
    scores, mask = out["order_scores"], t["order_mask"]
    rank = torch.argsort(t["order"], dim=1)  # rank[b, e] = position of effect e
    both = mask.unsqueeze(2) * mask.unsqueeze(1)
    pair = torch.triu(torch.ones_like(both[0]), diagonal=1).unsqueeze(0) * both
    truth = rank.unsqueeze(2) < rank.unsqueeze(1)
    pred = scores.unsqueeze(2) > scores.unsqueeze(1)
    add("order_pair_acc", ((truth == pred).float() * pair).sum(), pair.sum())
    present = t["mod"] > 0
    for threshold in MOD_THRESHOLDS:  # presence probability above which a connection is kept
        on = out["mod_logits"] > math.log(threshold / (1.0 - threshold))
        tp = (on & present).sum()
        at = "" if threshold == 0.5 else f"@{threshold:g}"
        add(f"mod_precision{at}", tp, on.sum())
        add(f"mod_recall{at}", tp, present.sum())
    return sums


#: Presence thresholds at which the modulation map's precision and recall are measured; the model
#: card keeps the one with the best F1 on the validation split (:func:`best_mod_threshold`).
MOD_THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)


def best_mod_threshold(metrics: Mapping[str, float]) -> tuple[float, float] | None:
    """(threshold, F1) of :data:`MOD_THRESHOLDS` with the highest connection F1 in ``metrics``
    (:func:`finish_metrics` of a validation pass), or None when none was measured."""
    best = None
    for threshold in MOD_THRESHOLDS:
        at = "" if threshold == 0.5 else f"@{threshold:g}"
        p, r = metrics.get(f"mod_precision{at}"), metrics.get(f"mod_recall{at}")
        if p is None or r is None or not (math.isfinite(p) and math.isfinite(r)):
            continue  # not measured (None in a JSON record), or nothing counted (NaN)
        f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
        if best is None or f1 > best[1]:
            best = (threshold, f1)
    return best


def finish_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """Ratios from :func:`batch_metrics` sums (NaN where nothing was counted)."""
    keys = sorted({k.rsplit("/", 1)[0] for k in sums})
    out = {}
    for k in keys:
        den = sums[k + "/den"]
        out[k] = sums[k + "/num"] / den if den > 0 else float("nan")
    if "order_pair_acc" in out:
        out["order_kendall_tau"] = 2 * out["order_pair_acc"] - 1
    return out
