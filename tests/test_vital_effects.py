"""Effect-order permutation codec (Vital's encodeOrderToFloat / decodeFloatToOrder)."""

from __future__ import annotations

import itertools
import random

import pytest

from synthmatch.errors import ParameterError
from synthmatch.vital.effects import EFFECTS, decode_order, encode_order, order_names


def test_default_order_is_code_zero():
    assert decode_order(0) == list(range(9))
    assert order_names(0)[0] == "chorus" and order_names(0)[-1] == "reverb"


def test_round_trip_all_permutations_of_a_subset_and_random_full():
    for perm in itertools.permutations(range(6)):
        order = [*perm, 6, 7, 8]
        assert decode_order(encode_order(order)) == order
    rng = random.Random(0)
    for _ in range(2000):
        order = list(range(9))
        rng.shuffle(order)
        code = encode_order(order)
        assert 0 <= code < 362880
        assert decode_order(code) == order


def test_codes_measured_against_the_engine():
    # VITA_NOTES §6: swapping chorus and flanger is code 261000; reverb before distortion is 260650.
    assert decode_order(261000) == [6, 1, 2, 3, 4, 5, 0, 7, 8]
    assert [EFFECTS[i] for i in decode_order(260650)][:2] == ["reverb", "chorus"]
    assert encode_order([6, 1, 2, 3, 4, 5, 0, 7, 8]) == 261000


def test_invalid_orders_raise():
    with pytest.raises(ParameterError, match="permutation"):
        encode_order([0, 0, 1, 2, 3, 4, 5, 6, 7])
    with pytest.raises(ParameterError, match="outside"):
        decode_order(400000)
