"""The train/validation split of a dataset, by a hash of each item's index (numpy only).

An item is in the validation split when ``splitmix64(index ^ salt)`` falls in the lowest
``fraction`` of the 64-bit range. The split depends only on the item index: it is the same
whatever the shard order, the number of items built so far or the machine, and it never moves an
item when a dataset grows. Retrieval baselines trained "on the same data" use the same split.
"""

from __future__ import annotations

import numpy as np

from synthmatch.errors import ParameterError

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK


def is_validation(indices: np.ndarray, *, fraction: float, salt: int = 0) -> np.ndarray:
    """Which item indices belong to the validation split [shape=(n,), bool].

    Parameters
    ----------
    indices : np.ndarray of int [shape=(n,)]
        Dataset item indices (``Dataset.indices()``), not positions.
    fraction : float
        Share of items in the validation split, in [0, 1).
    salt : int
        Another salt gives another split.
    """
    if not 0.0 <= fraction < 1.0:
        raise ParameterError(f"validation fraction {fraction} must be in [0, 1)")
    idx = np.asarray(indices, dtype=np.int64).astype(np.uint64)
    h = _splitmix64(idx ^ np.uint64(int(salt) & 0xFFFFFFFFFFFFFFFF))
    u = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return u < fraction
