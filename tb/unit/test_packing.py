"""Packing of int8/int4/int2 tensors: known bytes, round trips and rejected input."""

import numpy as np
import pytest

from sw.golden.packing import pack, unpack, value_range


@pytest.mark.parametrize("values, bits, signed, expected", [
    ([1, -1],               4, True,  [0xF1]),        # element 0 in the low nibble
    ([-8, 7],               4, True,  [0x78]),
    ([15, 0, 3, 12],        4, False, [0x0F, 0xC3]),
    ([0, 1, 2, 3],          2, False, [0b11100100]),
    ([-2, -1, 0, 1],        2, True,  [0b01001110]),
    ([-128, 127, -1],       8, True,  [0x80, 0x7F, 0xFF]),
    ([255, 0],              8, False, [0xFF, 0x00]),
])
def test_known_bytes(values, bits, signed, expected):
    packed = pack(np.array(values), bits, signed)
    assert packed.dtype == np.uint8
    assert packed.tolist() == expected
    assert unpack(packed, bits, signed).tolist() == values


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("signed", [True, False])
def test_round_trip(bits, signed, seed):
    rng = np.random.default_rng(seed)
    low, high = value_range(bits, signed)
    values = rng.integers(low, high + 1, size=(5, 7, 8 * 4))
    packed = pack(values, bits, signed)
    assert packed.shape == (5, 7, 4 * bits)
    assert np.array_equal(unpack(packed, bits, signed), values)


def test_ranges():
    assert value_range(8, True) == (-128, 127)
    assert value_range(8, False) == (0, 255)
    assert value_range(4, True) == (-8, 7)
    assert value_range(2, False) == (0, 3)


@pytest.mark.parametrize("call, error, message", [
    (lambda: pack([8, 0], 4, True),     ValueError,
     r"values: value 8 is outside the signed 4-bit range \[-8, 7\]"),
    (lambda: pack([-1, 0], 4, False),   ValueError,
     r"values: value -1 is outside the unsigned 4-bit range"),
    (lambda: pack([1, 2, 3], 2, False), ValueError, r"multiple of 4 to fill whole bytes"),
    (lambda: pack([1.5, 2.0], 4, True), TypeError, r"values must be integers"),
    (lambda: pack([1], 16, True),       ValueError, r"bits must be one of \(8, 4, 2\), not 16"),
    (lambda: unpack(np.array([1], dtype=np.int8), 8, True), TypeError, r"data must be uint8"),
])
def test_rejects(call, error, message):
    with pytest.raises(error, match=message):
        call()
