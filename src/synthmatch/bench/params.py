"""Parameter metrics: how close a method's preset is to the true preset, control by control.

Only items whose preset is known (``id-rand``, and ``id-hand``'s presets) have them. Every metric
is computed by :func:`parameter_metrics` from the two presets alone (no render):

* ``mae_<group>``: mean absolute error of the continuous controls on the spec's normalized [0, 1]
  scale, per module group (:data:`MODULE_GROUPS`), and ``mae_all`` over every group, counting
  only the controls active in the truth (:meth:`~synthmatch.vital.preset.Preset.active`, the
  rule that builds a dataset's ``active_x``/``active_c`` masks);
* ``acc_categorical``, ``acc_discrete``, ``acc_switch``: the share of active categorical,
  discrete (integer) and on/off controls with exactly the true value;
* ``acc_wavetable``: the share of the truth's sounding oscillators whose predicted wavetable has
  the same content (:func:`~synthmatch.vital.wavetables.table_fingerprint`);
* ``mod_precision``, ``mod_recall``, ``mod_f1``: the sounding modulation connections as
  (source, destination) pairs, amounts ignored; ``mod_amount_error``: the mean absolute amount
  difference over the matched pairs (the amounts of a pair's connections summed);
* ``effect_order_tau``: Kendall's τ between the two processing orders
  (:func:`~synthmatch.vital.effects.decode_order`) of the effects switched on in both (at least 2).

A metric that is undefined for an item (no active control of a group, no connection on either
side, fewer than two common effects) is NaN and left out of the aggregate
(:func:`summarize_parameters`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from synthmatch.vital.effects import EFFECTS, decode_order
from synthmatch.vital.modulation import sounding
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import ParamSpace, ParamSpec, default_space

#: Module group of each :attr:`ParamSpec.module <synthmatch.vital.spec.ParamSpec.module>`
#: (full-match patterns, first match wins). ``None``: not scored by the MAE and accuracies
#: (connections and the effect order have metrics of their own).
MODULE_GROUPS: dict[str, str | None] = {
    r"mod_\d+": None,
    r"effect_order": None,
    r"osc_[123]|sample": "oscillators",
    r"filter_[12]": "filters",
    r"env_\d": "envelopes",
    r"lfo_\d|random_\d": "lfos",
    "|".join(EFFECTS): "effects",  # filter_fx is an effect of the chain
    r".*": "voice",  # voice, global and macro controls
}
#: The groups in report order.
GROUPS: tuple[str, ...] = ("oscillators", "filters", "envelopes", "lfos", "effects", "voice")
#: Every metric :func:`parameter_metrics` returns, in report order.
METRICS: tuple[str, ...] = (
    *(f"mae_{g}" for g in GROUPS),
    "mae_all",
    "acc_categorical",
    "acc_discrete",
    "acc_switch",
    "acc_wavetable",
    "mod_precision",
    "mod_recall",
    "mod_f1",
    "mod_amount_error",
    "effect_order_tau",
)
_ACC_OF_KIND = {"categorical": "acc_categorical", "discrete": "acc_discrete", "bool": "acc_switch"}


def param_group(spec: ParamSpec) -> str | None:
    """The module group of a parameter (:data:`MODULE_GROUPS`), None for connections and the order."""
    for pattern, group in MODULE_GROUPS.items():
        if re.fullmatch(pattern, spec.module):
            return group
    return None  # unreachable: the last pattern matches everything


def _mean(x: list[float]) -> float:
    return float(np.mean(x)) if x else math.nan


def parameter_metrics(
    predicted: Preset, truth: Preset, *, space: ParamSpace | None = None
) -> dict[str, float]:
    """Every metric of :data:`METRICS` for ``predicted`` against ``truth`` (see the module docstring).

    Returns
    -------
    dict of str to float
        NaN where a metric is undefined for this pair.
    """
    from synthmatch.vital.wavetables import table_fingerprint

    space = space or default_space()
    active = truth.active(space=space)
    pv, tv = predicted.all_values(space=space), truth.all_values(space=space)
    errors: dict[str, list[float]] = {g: [] for g in GROUPS}
    hits: dict[str, list[float]] = {m: [] for m in _ACC_OF_KIND.values()}
    for spec in space.specs:
        group = param_group(spec)
        if group is None or not active.get(spec.name, False):
            continue
        p, t = pv.get(spec.name, spec.default), tv.get(spec.name, spec.default)
        if spec.kind == "continuous":
            errors[group].append(abs(spec.to_normalized(p) - spec.to_normalized(t)))
        elif spec.kind == "categorical":
            hits["acc_categorical"].append(float(spec.category_index(p) == spec.category_index(t)))
        else:
            hits[_ACC_OF_KIND[spec.kind]].append(float(spec.clamp(p) == spec.clamp(t)))
    out = {f"mae_{g}": _mean(e) for g, e in errors.items()}
    out["mae_all"] = _mean([x for e in errors.values() for x in e])
    out.update({m: _mean(h) for m, h in hits.items()})
    sounding_oscs = [k for k in range(3) if tv.get(f"osc_{k + 1}_on", 0.0) >= 0.5]
    out["acc_wavetable"] = _mean(
        [
            float(
                k < len(predicted.wavetables)
                and k < len(truth.wavetables)
                and table_fingerprint(predicted.wavetables[k]) == table_fingerprint(truth.wavetables[k])
            )
            for k in sounding_oscs
        ]
    )
    out.update(connection_metrics(predicted, truth))
    out["effect_order_tau"] = effect_order_tau(pv, tv)
    return out


def _connections(preset: Preset) -> dict[tuple[str, str], float]:
    """The sounding connections as {(source, destination): summed amount}."""
    pairs: dict[tuple[str, str], float] = {}
    for m, on in zip(preset.modulations, sounding(preset.modulations, preset.slot_assignment())):
        if on:
            pairs[(m.source, m.destination)] = pairs.get((m.source, m.destination), 0.0) + m.amount
    return pairs


def connection_metrics(predicted: Preset, truth: Preset) -> dict[str, float]:
    """Precision, recall and F1 of the (source, destination) pairs, and the mean amount error
    over the matched pairs. Both sides without connections: precision, recall and F1 are 1."""
    p, t = _connections(predicted), _connections(truth)
    both = p.keys() & t.keys()
    if not p and not t:
        return {"mod_precision": 1.0, "mod_recall": 1.0, "mod_f1": 1.0, "mod_amount_error": math.nan}
    precision = len(both) / len(p) if p else math.nan
    recall = len(both) / len(t) if t else math.nan
    f1 = 2 * len(both) / (len(p) + len(t))
    amount = _mean([abs(p[k] - t[k]) for k in sorted(both)])
    return {"mod_precision": precision, "mod_recall": recall, "mod_f1": f1, "mod_amount_error": amount}


def effect_order_tau(predicted: Mapping[str, float], truth: Mapping[str, float]) -> float:
    """Kendall's τ between the processing orders of the effects on in both value sets (NaN when
    fewer than two are)."""
    common = [
        i
        for i, fx in enumerate(EFFECTS)
        if predicted.get(f"{fx}_on", 0.0) >= 0.5 and truth.get(f"{fx}_on", 0.0) >= 0.5
    ]
    if len(common) < 2:
        return math.nan
    rank_p = {e: r for r, e in enumerate(decode_order(predicted.get("effect_chain_order", 0.0)))}
    rank_t = {e: r for r, e in enumerate(decode_order(truth.get("effect_chain_order", 0.0)))}
    score = 0
    for a in range(len(common)):
        for b in range(a + 1, len(common)):
            x, y = common[a], common[b]
            score += 1 if (rank_p[x] - rank_p[y]) * (rank_t[x] - rank_t[y]) > 0 else -1
    return score / (len(common) * (len(common) - 1) / 2)


def parameter_rows(
    predicted: Sequence[Preset | None], truths: Sequence[Preset | None]
) -> list[dict[str, float]]:
    """:func:`parameter_metrics` per item (``{}`` where either preset is missing)."""
    space = default_space()
    return [
        parameter_metrics(p, t, space=space) if p is not None and t is not None else {}
        for p, t in zip(predicted, truths)
    ]


def bootstrap_mean_ci(
    values: Iterable[float], *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, lower, upper) with a percentile bootstrap 95% interval of the mean (finite values)."""
    x = np.asarray([v for v in values if math.isfinite(v)], float)
    if len(x) == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), (n_boot, len(x)))].mean(axis=1)
    return float(x.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarize_parameters(rows: Mapping[str, Sequence[Mapping[str, float]]]) -> dict[str, Any]:
    """Per method, each metric's mean over the items where it is defined, with a bootstrap 95%
    interval, and the number of those items: ``{method: {metric: [mean, lo, hi, n]}}``. Means,
    not medians: accuracies and F1 of one item take few values, and their medians jump. Methods
    with no item scored are left out."""
    out: dict[str, Any] = {}
    for method, items in rows.items():
        if not any(items):
            continue
        table = {}
        for m in METRICS:
            vals = [r[m] for r in items if m in r and math.isfinite(r[m])]
            table[m] = [*bootstrap_mean_ci(vals), len(vals)]
        out[method] = table
    return out


def format_parameter_table(summary: Mapping[str, Mapping[str, Sequence[float]]]) -> list[str]:
    """Markdown lines: one row per metric, one column per method (mean and 95% interval)."""
    if not summary:
        return []
    methods = list(summary)
    lines = [
        "Parameter metrics against the true preset (means over the items with a known preset where "
        "the metric is defined, bootstrap 95% intervals). MAE: normalized [0, 1] scale, controls "
        "active in the truth, lower is better; accuracies, connection precision/recall/F1 and "
        "effect-order τ: higher is better; amount error: lower is better.",
        "",
        "| metric | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 1) + "|",
    ]
    for m in METRICS:
        cells = []
        for method in methods:
            mean, lo, hi, n = summary[method].get(m, (math.nan, math.nan, math.nan, 0))
            cells.append("—" if not math.isfinite(mean) else f"{mean:.3f} [{lo:.3f}, {hi:.3f}] (n={n:.0f})")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return [*lines, ""]
