"""Batches for training the estimator: a deterministic epoch plan and a reader of dataset rows (numpy).

An epoch's plan is a pure function of ``(seed, epoch)``: the shard order is shuffled, the chosen
items within each shard are shuffled, and the positions are cut into batches. A run resumed in
the middle of an epoch rebuilds the same plan and skips the batches it already trained on. Reads
stay within one or two shards per batch (memory-mapped columns), so they are local on disk.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from synthmatch.data.reader import Dataset
from synthmatch.models.layout import EstimatorLayout, probe_vector, training_targets

#: Dataset columns a training batch reads.
FIELDS: tuple[str, ...] = ("x", "c", "active_x", "active_c", "mel", "note", "velocity", "note_seconds")


class BatchReader:
    """Reads rows of a dataset by position and turns them into model inputs and targets.

    Parameters
    ----------
    ds : Dataset
    layout : EstimatorLayout
    wavetable_class : np.ndarray int64 [shape=(len(ds), 3)]
        Each item's wavetable classes (:func:`synthmatch.models.layout.wavetable_classes`).
    """

    def __init__(self, ds: Dataset, layout: EstimatorLayout, wavetable_class: np.ndarray) -> None:
        self.ds = ds
        self.layout = layout
        self.wavetable_class = np.asarray(wavetable_class)
        self.offsets = np.concatenate([[0], np.cumsum(ds.shard_sizes(), dtype=np.int64)]).astype(np.int64)
        if self.wavetable_class.shape != (len(ds), 3):
            raise ValueError(
                f"wavetable_class has shape {self.wavetable_class.shape}; expected ({len(ds)}, 3)"
            )

    @functools.cached_property
    def n_effects(self) -> np.ndarray:
        """int64 [len(ds)]: how many of the 9 effects each item switches on (the curriculum's
        measure of how far an item is from a dry preset), read once, shard by shard."""
        from synthmatch.models.layout import column_index

        cols = column_index(self.layout, self.ds.space).effect_switches
        parts = [
            (np.asarray(self.ds.shard_columns(k, ("x",))["x"])[:, cols] >= 0.5).sum(axis=1)
            for k in range(self.ds.n_shards)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def shard_of(self, positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, positions, side="right") - 1

    def rows(self, positions: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """The :data:`FIELDS` columns of ``positions`` (in that order); ``mel`` as float32."""
        pos = np.asarray(positions, dtype=np.int64)
        shards = self.shard_of(pos)
        parts: dict[str, list[np.ndarray]] = {f: [] for f in FIELDS}
        order: list[np.ndarray] = []
        for k in np.unique(shards):
            sel = np.nonzero(shards == k)[0]
            rows = pos[sel] - self.offsets[k]
            sort = np.argsort(rows, kind="stable")
            cols = self.ds.shard_columns(int(k), FIELDS)
            for f in FIELDS:
                parts[f].append(np.asarray(cols[f][rows[sort]]))
            order.append(sel[sort])
        back = np.argsort(np.concatenate(order), kind="stable")
        out = {f: np.concatenate(v)[back] for f, v in parts.items()}
        out["mel"] = out["mel"].astype(np.float32)
        return out

    def batch(self, positions: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Model inputs (``mel`` [B, n_mels, T], ``probe`` [B, 3]) and targets for ``positions``."""
        pos = np.asarray(positions, dtype=np.int64)
        r = self.rows(pos)
        out = training_targets(r, self.layout, wavetable_class=self.wavetable_class[pos], space=self.ds.space)
        out["mel"] = r["mel"]
        out["probe"] = probe_vector(note=r["note"], velocity=r["velocity"], note_seconds=r["note_seconds"])
        return out


def epoch_plan(
    reader: BatchReader,
    positions: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    max_effects: int | None = None,
) -> list[np.ndarray]:
    """The batches of one epoch over ``positions`` (deterministic in ``seed`` and ``epoch``).

    ``max_effects`` keeps only the items with at most that many effects on (a curriculum epoch:
    :func:`curriculum_limit`). Batches of one item are merged into the previous batch (batch norm
    needs two).
    """
    pos = np.asarray(positions, dtype=np.int64)
    if max_effects is not None:
        pos = pos[reader.n_effects[pos] <= max_effects]
    if not len(pos):
        return []
    if shuffle:
        rng = np.random.default_rng([int(seed), int(epoch)])
        shards = reader.shard_of(pos)
        keys = np.unique(shards)
        rng.shuffle(keys)
        pos = np.concatenate([rng.permutation(pos[shards == k]) for k in keys])
    batches = [pos[i : i + batch_size] for i in range(0, len(pos), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < 2:
        last = batches.pop()
        batches[-1] = np.concatenate([batches[-1], last])
    return batches


def curriculum_limit(curriculum: Sequence[int], epoch: int) -> int | None:
    """The most effects an item may switch on in ``epoch`` (0-based) of a run with this curriculum
    (the limits of its first epochs, e.g. ``(1, 2, 3)``: dry and single-effect presets first,
    then up to two, three, then every item), or None when the epoch trains on everything."""
    return int(curriculum[epoch]) if 0 <= epoch < len(curriculum) else None
