"""Decode the estimator's outputs into a :class:`~synthmatch.vital.preset.Preset` (numpy only).

The outputs are the ONNX model's (names in :data:`synthmatch.models.layout.OUTPUT_NAMES`, shapes in
:meth:`EstimatorLayout.output_shapes`), as numpy arrays with a batch axis; ``row`` picks one item.

* **Mode** (``sample=None``): for each continuous parameter the mean of its most probable mixture
  component; the most probable class of each discrete, categorical and wavetable head; switches
  on when their probability is above 1/2; effects in decreasing score order; every connection
  whose presence probability is above ``threshold``, most probable first, at most
  ``layout.max_connections``.
* **Sample** (``sample=k``): a component drawn from the mixture weights, then a value from its
  Gaussian (clipped to [0, 1]); classes drawn from their softmax; switches and connections from
  their Bernoulli probabilities; the effect order from the Plackett–Luce distribution (Gumbel
  perturbation of the scores). ``rng`` defaults to ``np.random.default_rng([k, row])``, so draw
  ``k`` of a row is reproducible.

Then, as every dataset item was made (:func:`synthmatch.data.samplers.base.finish_preset`):
parameters with a fixed prior get their fixed value, and parameters that are inactive in the
decoded preset get their default. Wavetables come from the vocabulary (``tables``, aligned with
``layout.wavetable_vocab``); the "other" class, and every oscillator when ``tables`` is None,
keeps the ``base`` preset's table (default: Vital's init preset), as do the LFO shapes and the
sample. Connections are decoded with amount, unipolar, power 0 and mono (the outputs hold no
more).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from synthmatch.errors import ParameterError
from synthmatch.models.layout import N_OSCILLATORS, EstimatorLayout, column_index
from synthmatch.vital.effects import encode_order
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import ParamSpace, default_space

#: Presence probability above which a connection is kept in the mode.
DEFAULT_THRESHOLD = 0.5


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


def _pick(logits: np.ndarray, rng: np.random.Generator | None) -> int:
    """The argmax of ``logits`` [shape=(n,)], or a class drawn from their softmax."""
    if rng is None:
        return int(np.argmax(logits))
    p = _softmax(logits.astype(np.float64))
    return int(min(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"), len(p) - 1))


def _row(outputs: Mapping[str, np.ndarray], name: str, row: int) -> np.ndarray:
    try:
        arr = np.asarray(outputs[name])
    except KeyError:
        raise ParameterError(
            f"estimator outputs lack {name!r}; got {sorted(outputs)}. Hint: pass every output of the model."
        ) from None
    if not 0 <= row < arr.shape[0]:
        raise ParameterError(f"row {row} outside the batch of {arr.shape[0]} items")
    return arr[row].astype(np.float64)


def _continuous(
    outputs: Mapping[str, np.ndarray], layout: EstimatorLayout, row: int, rng: np.random.Generator | None
) -> np.ndarray:
    """Normalized values [shape=(Nc,)] in [0, 1]."""
    logit_pi = _row(outputs, "mdn_logit_pi", row)
    mu = _row(outputs, "mdn_mu", row)
    log_sigma = _row(outputs, "mdn_log_sigma", row)
    if mu.shape[0] != layout.n_continuous:
        raise ParameterError(
            f"mdn_mu holds {mu.shape[0]} parameters; the layout lists {layout.n_continuous}. "
            "Hint: decode with the layout from the model's own model_card.json."
        )
    n = mu.shape[0]
    if rng is None:
        k = np.argmax(logit_pi, axis=1)
        value = mu[np.arange(n), k]
    else:
        p = _softmax(logit_pi)
        u = rng.random((n, 1))
        k = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)
        value = mu[np.arange(n), k] + np.exp(log_sigma[np.arange(n), k]) * rng.standard_normal(n)
    return np.clip(value, 0.0, 1.0)


def _connections(
    outputs: Mapping[str, np.ndarray],
    layout: EstimatorLayout,
    row: int,
    rng: np.random.Generator | None,
    threshold: float,
) -> list[Modulation]:
    p = _sigmoid(_row(outputs, "mod_logits", row))
    amount = np.clip(_row(outputs, "mod_amount", row), -1.0, 1.0)
    if p.shape != (layout.n_sources, layout.n_destinations):
        raise ParameterError(
            f"mod_logits has shape {p.shape}; the layout has {layout.n_sources} sources × "
            f"{layout.n_destinations} destinations"
        )
    keep = p > threshold if rng is None else rng.random(p.shape) < p
    s_idx, d_idx = np.nonzero(keep)
    order = np.argsort(-p[s_idx, d_idx], kind="stable")[: layout.max_connections]
    return [
        Modulation(
            source=layout.mod_sources[int(s_idx[i])],
            destination=layout.mod_destinations[int(d_idx[i])],
            amount=float(amount[s_idx[i], d_idx[i]]),
        ).validate()
        for i in order
    ]


def decode(
    outputs: Mapping[str, np.ndarray],
    layout: EstimatorLayout,
    *,
    row: int = 0,
    sample: int | None = None,
    rng: np.random.Generator | None = None,
    tables: Sequence[dict[str, Any]] | None = None,
    base: Preset | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    space: ParamSpace | None = None,
) -> Preset:
    """The preset that the estimator's outputs describe for batch item ``row``.

    Parameters
    ----------
    outputs : mapping of str to np.ndarray
        The model's outputs (see :data:`synthmatch.models.layout.OUTPUT_NAMES`), each [B, ...].
    layout : EstimatorLayout
        The layout the model was trained with (from its ``model_card.json``).
    row : int
        Which batch item to decode.
    sample : int, optional
        None for the mode; ``k`` for the k-th draw (see the module docstring).
    rng : np.random.Generator, optional
        The draw's random stream (default ``np.random.default_rng([sample, row])``); ignored for the mode.
    tables : sequence of dict, optional
        The vocabulary's wavetables, aligned with ``layout.wavetable_vocab``
        (:func:`synthmatch.models.vocab.load_wavetables`).
    base : Preset, optional
        Where the "other" wavetable class, the LFO shapes and the sample come from (default: init).
    threshold : float
        Presence probability above which a connection is kept (mode only).
    space : ParamSpace, optional

    Returns
    -------
    Preset
        A complete, valid preset (it passes ``check_vital_json`` once written).
    """
    space = space or default_space()
    layout.check_space(space)
    if tables is not None and len(tables) != len(layout.wavetable_vocab):
        raise ParameterError(
            f"{len(tables)} wavetables for a vocabulary of {len(layout.wavetable_vocab)}. "
            "Hint: pass the tables of the model's own wavetables.npz."
        )
    if sample is not None and rng is None:
        rng = np.random.default_rng([int(sample), int(row)])
    draw = rng if sample is not None else None
    base = base or Preset.init(space=space)

    ix = column_index(layout, space)
    x, c = base.to_vector(space=space)
    x[ix.continuous] = _continuous(outputs, layout, row, draw)
    pb = _sigmoid(_row(outputs, "bool_logits", row))
    x[ix.bools] = pb > 0.5 if draw is None else draw.random(pb.shape) < pb
    logits = _row(outputs, "discrete_logits", row)
    off = layout.discrete_offsets
    for i, col in enumerate(ix.discrete):
        x[col] = _pick(logits[off[i] : off[i + 1]], draw) / max(layout.discrete_levels[i] - 1, 1)
    logits = _row(outputs, "cat_logits", row)
    off = layout.categorical_offsets
    for i, col in enumerate(ix.categorical):
        c[col] = _pick(logits[off[i] : off[i + 1]], draw)
    scores = _row(outputs, "order_scores", row)
    if draw is not None:
        scores = scores + draw.gumbel(size=scores.shape)
    x[ix.effect_order] = encode_order(np.argsort(-scores, kind="stable").tolist()) / ix.order_max
    c[ix.mod_source] = 0  # connections come from the modulation map, not from slots
    preset = Preset.from_vector(x, c, assets=base, space=space)
    preset.meta = {"preset_name": "synthmatch estimate"}
    for name in layout.fixed:
        s = space[name]
        fixed = s.sample_value()
        preset.values[name] = s.default if fixed is None else fixed
    preset.values = space.validate_values(preset.values)
    preset.modulations = _connections(outputs, layout, row, draw, threshold)
    if tables is not None:
        wt = _row(outputs, "wt_logits", row)
        for j in range(N_OSCILLATORS):
            k = _pick(wt[j], draw)
            if k < len(tables):
                preset.wavetables[j] = tables[k]
    active = preset.active(space=space)
    for name in space.control_names():
        s = space[name]
        if s.prior != "fixed" and not active[name]:
            preset.values[name] = s.default
    return preset
