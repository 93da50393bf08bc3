"""Vital's effects and the `effect_chain_order` permutation codec.

`effect_chain_order` is an Indexed control over [0, 9! - 1]; it stores a permutation of the 9
effects as a Lehmer-style code (Vital's ``encodeOrderToFloat`` / ``decodeFloatToOrder``).
Code 0 is the default order chorus → compressor → … → reverb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from synthmatch.errors import ParameterError

#: Effect names by Vital's Effect enum index; also the prefix of each effect's controls.
EFFECTS: tuple[str, ...] = (
    "chorus",
    "compressor",
    "delay",
    "distortion",
    "eq",
    "filter_fx",
    "flanger",
    "phaser",
    "reverb",
)

#: Names as Vital's interface labels the effects.
EFFECT_LABELS: dict[str, str] = {
    "chorus": "Chorus",
    "compressor": "Compressor",
    "delay": "Delay",
    "distortion": "Distortion",
    "eq": "EQ",
    "filter_fx": "Filter",
    "flanger": "Flanger",
    "phaser": "Phaser",
    "reverb": "Reverb",
}

N_EFFECTS = len(EFFECTS)
MAX_ORDER_CODE = math.factorial(N_EFFECTS) - 1


def encode_order(order: Sequence[int]) -> int:
    """Encode a processing order (effect indices, first processed first) as Vital's code.

    Parameters
    ----------
    order : sequence of int [shape=(9,)]
        A permutation of ``range(9)``.
    """
    order = [int(o) for o in order]
    if sorted(order) != list(range(len(order))):
        raise ParameterError(
            f"effect order {order} is not a permutation of 0..{len(order) - 1}. "
            "Hint: list each effect index exactly once."
        )
    code = 0
    for i in range(1, len(order)):
        code = code * (i + 1) + sum(order[i] < order[j] for j in range(i))
    return code


def decode_order(code: float | int, n: int = N_EFFECTS) -> list[int]:
    """Decode Vital's `effect_chain_order` value into a processing order of effect indices."""
    icode = round(float(code))
    if not 0 <= icode <= math.factorial(n) - 1:
        raise ParameterError(
            f"effect_chain_order {code} is outside [0, {math.factorial(n) - 1}]. "
            "Hint: use encode_order() to build a valid code."
        )
    order = list(range(n))
    for i in range(n):
        rem = n - i
        idx = rem - 1
        inv = icode % rem
        icode //= rem
        p = order[idx - inv]
        order[idx - inv : idx] = order[idx - inv + 1 : idx + 1]
        order[idx] = p
    return order


def order_names(code: float | int) -> list[str]:
    """The effect names in processing order for an `effect_chain_order` value."""
    return [EFFECTS[i] for i in decode_order(code)]
