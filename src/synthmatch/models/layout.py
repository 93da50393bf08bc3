"""The estimator's output layout, generated from the parameter space (torch-free).

:class:`EstimatorLayout` lists which parameter feeds which head of the learned estimator, in
order. Nothing else in :mod:`synthmatch.models` knows a parameter index: heads, losses, targets,
the ONNX output shapes and :func:`synthmatch.models.decode.decode` all read this layout.

Groups (``ParamSpace`` kinds; ``mod_*`` slot parameters go to the modulation map instead):

* ``continuous`` — continuous parameters, a mixture density on the [0, 1] normalized scale;
* ``bools`` — switches, one logit each;
* ``discrete`` — ordered integers (transposes, voice counts), a class over ``max - min + 1`` levels;
* ``categorical`` — option lists (filter model, distortion type, …), a class over the options;
* ``effect_order`` — ``effect_chain_order``, one Plackett–Luce score per effect;
* ``modulation`` — a dense sources × destinations map (presence logit and amount);
* ``wavetables`` — per oscillator a class over a vocabulary of wavetable asset keys, plus "other".

Parameters whose sampling prior is ``fixed`` (random phase, volume, oversampling, the transpose
quantize bit masks, …) are in no head: every dataset item holds their fixed value
(:func:`synthmatch.data.samplers.base.finish_preset`), so there is nothing to learn, and
:func:`~synthmatch.models.decode.decode` sets them to that value. Leaving them out keeps, e.g.,
four 8192-level bit-mask classes (33 MB of weights) out of the model.

The probe convention (:data:`PROBE_CONVENTION`, :func:`probe_vector`) is the model's second
input: ``(note / 127, velocity, note_seconds / 4.0)``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch.errors import ParameterError, SpecMismatchError
from synthmatch.vital.effects import EFFECTS, decode_order
from synthmatch.vital.spec import NO_CONNECTION, ParamSpace, default_space

#: Number of oscillators with a wavetable.
N_OSCILLATORS = 3
#: The name of the effect-order parameter (a permutation code, see :mod:`synthmatch.vital.effects`).
EFFECT_ORDER_PARAM = "effect_chain_order"
#: The probe input of the model: ``probe = (note / 127, velocity, note_seconds / 4.0)``.
PROBE_CONVENTION: dict[str, Any] = {
    "fields": ["note", "velocity", "note_seconds"],
    "scales": [127.0, 1.0, 4.0],
    "formula": "probe = (note / 127, velocity, note_seconds / 4.0)",
}
#: ONNX output names, in the order the exported model returns them.
OUTPUT_NAMES: tuple[str, ...] = (
    "embedding",
    "mdn_logit_pi",
    "mdn_mu",
    "mdn_log_sigma",
    "bool_logits",
    "discrete_logits",
    "cat_logits",
    "order_scores",
    "mod_logits",
    "mod_amount",
    "wt_logits",
)
#: ONNX input names.
INPUT_NAMES: tuple[str, ...] = ("mel", "probe")


def probe_vector(
    *, note: float | np.ndarray, velocity: float | np.ndarray, note_seconds: float | np.ndarray
) -> np.ndarray:
    """The model's probe input [shape=(B, 3), float32] under :data:`PROBE_CONVENTION`.

    ``note`` is the MIDI note (0–127), ``velocity`` in (0, 1], ``note_seconds`` the held length in s.
    """
    cols = [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (note, velocity, note_seconds)]
    scales = PROBE_CONVENTION["scales"]
    return np.stack([c / s for c, s in zip(cols, scales)], axis=1).astype(np.float32)


@dataclass(frozen=True)
class EstimatorLayout:
    """Which parameters the estimator predicts, by head, in output order (see the module docstring).

    Build it with :meth:`from_space`; store it with :meth:`to_dict` (JSON) and read it back with
    :meth:`from_dict`. ``wavetable_vocab`` holds V - 1 wavetable asset keys; class V - 1 is "other"
    (decoding keeps the start preset's table).
    """

    spec_hash: str
    continuous: tuple[str, ...]
    continuous_weights: tuple[float, ...]
    bools: tuple[str, ...]
    bool_weights: tuple[float, ...]
    discrete: tuple[str, ...]
    discrete_min: tuple[int, ...]
    discrete_levels: tuple[int, ...]
    discrete_weights: tuple[float, ...]
    categorical: tuple[str, ...]
    categorical_sizes: tuple[int, ...]
    categorical_weights: tuple[float, ...]
    effect_order: str
    effects: tuple[str, ...]
    effect_switches: tuple[str, ...]
    effect_order_weight: float
    mod_sources: tuple[str, ...]
    mod_destinations: tuple[str, ...]
    max_connections: int
    mod_amount_weight: float
    oscillator_switches: tuple[str, ...]
    wavetable_vocab: tuple[str, ...]
    wavetable_names: tuple[str, ...]
    fixed: tuple[str, ...]

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_space(
        cls,
        space: ParamSpace | None = None,
        wavetable_vocab: Sequence[str] = (),
        *,
        wavetable_names: Sequence[str] | None = None,
    ) -> EstimatorLayout:
        """The layout of ``space`` (default: :func:`~synthmatch.vital.spec.default_space`).

        Parameters
        ----------
        space : ParamSpace, optional
        wavetable_vocab : sequence of str
            Wavetable asset keys, most frequent first (see :mod:`synthmatch.models.vocab`).
        wavetable_names : sequence of str, optional
            Display names aligned with ``wavetable_vocab`` (default: the keys).
        """
        space = space or default_space()
        vocab = tuple(str(k) for k in wavetable_vocab)
        if len(set(vocab)) != len(vocab):
            raise ParameterError(
                "wavetable_vocab holds a key twice. Hint: build it with build_wavetable_vocab."
            )
        names = tuple(wavetable_names) if wavetable_names is not None else vocab
        if len(names) != len(vocab):
            raise ParameterError(f"{len(names)} wavetable names for {len(vocab)} vocabulary keys")
        groups: dict[str, list[Any]] = {g: [] for g in ("continuous", "bools", "discrete", "categorical")}
        fixed: list[str] = []
        order = None
        for s in space.specs:
            if s.module.startswith("mod_"):
                continue
            if s.prior == "fixed":
                fixed.append(s.name)
            elif s.name == EFFECT_ORDER_PARAM:
                order = s
            elif s.kind == "continuous":
                groups["continuous"].append(s)
            elif s.kind == "bool":
                groups["bools"].append(s)
            elif s.kind == "discrete":
                groups["discrete"].append(s)
            else:
                groups["categorical"].append(s)
        if order is None:
            raise ParameterError(f"the space has no {EFFECT_ORDER_PARAM!r}; the effect-order head needs it")
        if space.n_mod_slots < 1:
            raise ParameterError("the space has no modulation slots; the modulation head needs mod_1_*")
        src, dst = space["mod_1_source"], space["mod_1_destination"]
        switches = tuple(f"{fx}_on" for fx in EFFECTS)
        oscs = tuple(f"osc_{k}_on" for k in range(1, N_OSCILLATORS + 1))
        for n in (*switches, *oscs):
            space[n]  # raises for a space without them
        return cls(
            spec_hash=space.spec_hash,
            continuous=tuple(s.name for s in groups["continuous"]),
            continuous_weights=tuple(s.weight for s in groups["continuous"]),
            bools=tuple(s.name for s in groups["bools"]),
            bool_weights=tuple(s.weight for s in groups["bools"]),
            discrete=tuple(s.name for s in groups["discrete"]),
            discrete_min=tuple(round(s.min) for s in groups["discrete"]),
            discrete_levels=tuple(round(s.max) - round(s.min) + 1 for s in groups["discrete"]),
            discrete_weights=tuple(s.weight for s in groups["discrete"]),
            categorical=tuple(s.name for s in groups["categorical"]),
            categorical_sizes=tuple(len(s.values) for s in groups["categorical"]),
            categorical_weights=tuple(s.weight for s in groups["categorical"]),
            effect_order=order.name,
            effects=tuple(EFFECTS),
            effect_switches=switches,
            effect_order_weight=order.weight,
            mod_sources=tuple(o for o in src.options if o != NO_CONNECTION),
            mod_destinations=tuple(o for o in dst.options if o != NO_CONNECTION),
            max_connections=space.n_mod_slots,
            mod_amount_weight=space["mod_1_amount"].weight,
            oscillator_switches=oscs,
            wavetable_vocab=vocab,
            wavetable_names=names,
            fixed=tuple(fixed),
        )

    def with_vocab(self, keys: Sequence[str], names: Sequence[str] | None = None) -> EstimatorLayout:
        """A copy with another wavetable vocabulary."""
        names = tuple(names) if names is not None else tuple(keys)
        if len(names) != len(keys):
            raise ParameterError(f"{len(names)} wavetable names for {len(keys)} vocabulary keys")
        return dataclasses.replace(self, wavetable_vocab=tuple(keys), wavetable_names=names)

    # -- sizes ----------------------------------------------------------------------------
    @property
    def n_continuous(self) -> int:
        return len(self.continuous)

    @property
    def n_bools(self) -> int:
        return len(self.bools)

    @property
    def n_discrete_logits(self) -> int:
        return int(sum(self.discrete_levels))

    @property
    def n_cat_logits(self) -> int:
        return int(sum(self.categorical_sizes))

    @property
    def n_effects(self) -> int:
        return len(self.effects)

    @property
    def n_sources(self) -> int:
        return len(self.mod_sources)

    @property
    def n_destinations(self) -> int:
        return len(self.mod_destinations)

    @property
    def n_wavetable_classes(self) -> int:
        """V: the vocabulary plus the "other" class (the last one)."""
        return len(self.wavetable_vocab) + 1

    @property
    def other_wavetable(self) -> int:
        """The class index of "other" (keep the start preset's table)."""
        return len(self.wavetable_vocab)

    @property
    def discrete_offsets(self) -> np.ndarray:
        """Start of each discrete parameter's logits in ``discrete_logits`` [shape=(n_discrete + 1,)]."""
        return np.concatenate([[0], np.cumsum(self.discrete_levels, dtype=np.int64)]).astype(np.int64)

    @property
    def categorical_offsets(self) -> np.ndarray:
        """Start of each categorical parameter's logits in ``cat_logits`` [shape=(n_categorical + 1,)]."""
        return np.concatenate([[0], np.cumsum(self.categorical_sizes, dtype=np.int64)]).astype(np.int64)

    def output_shapes(self, *, embedding_dim: int, mdn_components: int) -> dict[str, tuple[str | int, ...]]:
        """The shape of each ONNX output (``"B"`` is the batch axis)."""
        nc, k = self.n_continuous, int(mdn_components)
        return {
            "embedding": ("B", int(embedding_dim)),
            "mdn_logit_pi": ("B", nc, k),
            "mdn_mu": ("B", nc, k),
            "mdn_log_sigma": ("B", nc, k),
            "bool_logits": ("B", self.n_bools),
            "discrete_logits": ("B", self.n_discrete_logits),
            "cat_logits": ("B", self.n_cat_logits),
            "order_scores": ("B", self.n_effects),
            "mod_logits": ("B", self.n_sources, self.n_destinations),
            "mod_amount": ("B", self.n_sources, self.n_destinations),
            "wt_logits": ("B", N_OSCILLATORS, self.n_wavetable_classes),
        }

    # -- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EstimatorLayout:
        names = {f.name: f for f in dataclasses.fields(cls)}
        missing, unknown = set(names) - set(d), set(d) - set(names)
        if missing or unknown:
            raise ParameterError(
                f"not an EstimatorLayout: missing {sorted(missing)}, unknown {sorted(unknown)}. "
                "Hint: the layout was written by another synthmatch version; retrain or use that version."
            )
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kwargs)

    @functools.cached_property
    def layout_hash(self) -> str:
        """A short hash of the whole layout (names, sizes, vocabulary): what the outputs mean."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def check_space(self, space: ParamSpace | None = None) -> None:
        """Raise :class:`SpecMismatchError` unless the layout was made for ``space``."""
        space = space or default_space()
        if self.spec_hash != space.spec_hash:
            raise SpecMismatchError(
                f"the estimator layout was made for parameter space {self.spec_hash}, but this synthmatch "
                f"declares {space.spec_hash}: its outputs would be decoded against the wrong parameters. "
                "Hint: retrain with `synthmatch train estimator`, or use the synthmatch version it was trained with."
            )


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


# ---------------------------------------------------------------------------------------
# Training targets.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnIndex:
    """Column indices of each head's parameters in the dataset's ``x`` / ``c`` arrays."""

    continuous: np.ndarray
    bools: np.ndarray
    discrete: np.ndarray
    categorical: np.ndarray
    effect_order: int
    effect_switches: np.ndarray
    oscillator_switches: np.ndarray
    mod_source: np.ndarray
    mod_destination: np.ndarray
    mod_amount: np.ndarray
    order_max: float


@functools.lru_cache(maxsize=8)
def column_index(layout: EstimatorLayout, space: ParamSpace) -> ColumnIndex:
    """Where each head's parameters sit in ``space``'s numeric / categorical vectors (cached)."""
    layout.check_space(space)
    num = {n: i for i, n in enumerate(space.layout.numeric)}
    cat = {n: i for i, n in enumerate(space.layout.categorical)}

    def ix(table: Mapping[str, int], names: Sequence[str]) -> np.ndarray:
        return np.asarray([table[n] for n in names], dtype=np.int64)

    slots = range(1, space.n_mod_slots + 1)
    return ColumnIndex(
        continuous=ix(num, layout.continuous),
        bools=ix(num, layout.bools),
        discrete=ix(num, layout.discrete),
        categorical=ix(cat, layout.categorical),
        effect_order=num[layout.effect_order],
        effect_switches=ix(num, layout.effect_switches),
        oscillator_switches=ix(num, layout.oscillator_switches),
        mod_source=ix(cat, [f"mod_{k}_source" for k in slots]),
        mod_destination=ix(cat, [f"mod_{k}_destination" for k in slots]),
        mod_amount=ix(num, [f"mod_{k}_amount" for k in slots]),
        order_max=float(space[layout.effect_order].max),
    )


def wavetable_classes(keys: Sequence[Sequence[str]], layout: EstimatorLayout) -> np.ndarray:
    """Each oscillator's wavetable class [shape=(N, 3), int64]: its vocabulary index, else "other".

    ``keys`` holds, per item, the 3 wavetable asset keys of ``preset_ref["wavetables"]``
    (:func:`synthmatch.models.vocab.item_wavetable_keys`).
    """
    lookup = {k: i for i, k in enumerate(layout.wavetable_vocab)}
    other = layout.other_wavetable
    out = np.full((len(keys), N_OSCILLATORS), other, dtype=np.int64)
    for r, row in enumerate(keys):
        for j, k in enumerate(list(row)[:N_OSCILLATORS]):
            out[r, j] = lookup.get(k, other)
    return out


def training_targets(
    batch: Mapping[str, np.ndarray],
    layout: EstimatorLayout,
    *,
    wavetable_class: np.ndarray | None = None,
    space: ParamSpace | None = None,
) -> dict[str, np.ndarray]:
    """Targets and activity masks of a dataset batch, head by head (numpy).

    Parameters
    ----------
    batch : mapping
        ``x`` float [B, n_numeric], ``c`` int [B, n_categorical], ``active_x`` / ``active_c``
        bool (the dataset's columns, e.g. from ``Dataset.iter_batches``).
    layout : EstimatorLayout
    wavetable_class : np.ndarray [shape=(B, 3)], optional
        From :func:`wavetable_classes`; None gives "other" with a zero mask.
    space : ParamSpace, optional

    Returns
    -------
    dict of np.ndarray
        ``cont`` float32 [B, Nc] (normalized value) and ``cont_mask`` float32 [B, Nc];
        ``bool`` / ``bool_mask`` float32 [B, Nb]; ``disc`` int64 [B, Nd] (level index) / ``disc_mask``;
        ``cat`` int64 [B, Ncat] / ``cat_mask``; ``order`` int64 [B, 9] (effect indices, first
        processed first) / ``order_mask`` float32 [B, 9] (effect on, by effect index);
        ``mod`` float32 [B, S, D] (connection present) / ``mod_amount`` float32 [B, S, D] in [-1, 1];
        ``wt`` int64 [B, 3] / ``wt_mask`` float32 [B, 3] (oscillator on).
    """
    space = space or default_space()
    ix = column_index(layout, space)
    x = np.asarray(batch["x"], dtype=np.float32)
    c = np.asarray(batch["c"]).astype(np.int64)
    ax = np.asarray(batch["active_x"], dtype=bool)
    ac = np.asarray(batch["active_c"], dtype=bool)
    n = x.shape[0]
    levels = np.asarray(layout.discrete_levels, dtype=np.float64)
    disc = np.rint(x[:, ix.discrete].astype(np.float64) * (levels - 1)).astype(np.int64)
    codes = np.rint(x[:, ix.effect_order].astype(np.float64) * ix.order_max).astype(np.int64)
    order = np.stack([decode_order(int(k)) for k in codes]) if n else np.zeros((0, len(EFFECTS)), np.int64)
    src = c[:, ix.mod_source] - 1  # option 0 is "none"
    dst = c[:, ix.mod_destination] - 1
    amt = x[:, ix.mod_amount] * 2.0 - 1.0
    mod = np.zeros((n, layout.n_sources, layout.n_destinations), dtype=np.float32)
    amount = np.zeros_like(mod)
    rows, slots = np.nonzero((src >= 0) & (dst >= 0))
    mod[rows, src[rows, slots], dst[rows, slots]] = 1.0
    np.add.at(amount, (rows, src[rows, slots], dst[rows, slots]), amt[rows, slots])
    np.clip(amount, -1.0, 1.0, out=amount)
    osc_on = x[:, ix.oscillator_switches] >= 0.5
    if wavetable_class is None:
        wt = np.full((n, N_OSCILLATORS), layout.other_wavetable, dtype=np.int64)
        wt_mask = np.zeros((n, N_OSCILLATORS), dtype=np.float32)
    else:
        wt = np.asarray(wavetable_class, dtype=np.int64).reshape(n, N_OSCILLATORS)
        wt_mask = osc_on.astype(np.float32)
    return {
        "cont": x[:, ix.continuous],
        "cont_mask": ax[:, ix.continuous].astype(np.float32),
        "bool": (x[:, ix.bools] >= 0.5).astype(np.float32),
        "bool_mask": ax[:, ix.bools].astype(np.float32),
        "disc": np.clip(disc, 0, (levels - 1).astype(np.int64)),
        "disc_mask": ax[:, ix.discrete].astype(np.float32),
        "cat": c[:, ix.categorical],
        "cat_mask": ac[:, ix.categorical].astype(np.float32),
        "order": order.astype(np.int64),
        "order_mask": (x[:, ix.effect_switches] >= 0.5).astype(np.float32),
        "mod": mod,
        "mod_amount": amount,
        "wt": wt,
        "wt_mask": wt_mask,
    }
