"""Golden model of the FP16 arithmetic shared by the vector and activation units.

All functions are vectorized over numpy arrays of IEEE-754 binary16 bit patterns
(``uint16``) and return bit patterns. Every operation is correctly rounded,
round-to-nearest-even, with subnormals kept (no flush to zero), overflow to infinity, and
every NaN result the canonical ``0x7E00``.

Exactness: numpy's binary16 add, subtract and multiply are correctly rounded. A fused
multiply-add is computed in float64, where the product of two binary16 values is exact and
the sum, for every binary16 operand triple, rounds to the same binary16 value as the exact
sum would (the test suite checks this against SoftFloat), then rounded once to binary16.
"""

import numpy as np

from rtl.spec.binary16 import (CANONICAL_NAN, NEG_INF, NEG_ZERO, ONE, POS_INF, bits,
                               canonical, from_float, is_nan, to_float)

__all__ = [
    "CANONICAL_NAN", "ONE", "POS_INF", "NEG_INF", "NEG_ZERO",
    "bits", "from_float", "to_float", "canonical", "is_nan",
    "add", "sub", "mul", "fma", "minimum_number", "maximum_number",
    "eq", "lt", "le", "abs_", "neg", "select",
    "from_int32", "to_int",
]


def _h(values):
    return bits(values).view(np.float16)


def _result(values):
    return canonical(np.asarray(values, dtype=np.float16).view(np.uint16))


def add(a, b):
    with np.errstate(all="ignore"):
        return _result(_h(a) + _h(b))


def sub(a, b):
    with np.errstate(all="ignore"):
        return _result(_h(a) - _h(b))


def mul(a, b):
    with np.errstate(all="ignore"):
        return _result(_h(a) * _h(b))


def fma(a, b, c):
    """``a * b + c`` with one rounding."""
    with np.errstate(all="ignore"):
        exact = to_float(a) * to_float(b) + to_float(c)
        return _result(exact.astype(np.float16))


def _total_key(values):
    # Order of the non-NaN values with -0 below +0: -inf ... -0 | +0 ... +inf.
    values = bits(values).astype(np.int32)
    mag = values & 0x7FFF
    return np.where(values & 0x8000, -mag - 1, mag)


def _pick(a, b, take_a):
    a, b = bits(a), bits(b)
    a_nan, b_nan = is_nan(a), is_nan(b)
    out = np.where(take_a, a, b)
    out = np.where(a_nan, b, np.where(b_nan, a, out))
    return canonical(out)


def minimum_number(a, b):
    """IEEE 754-2019 minimumNumber: -0 < +0; a NaN operand yields the other operand."""
    return _pick(a, b, _total_key(a) <= _total_key(b))


def maximum_number(a, b):
    """IEEE 754-2019 maximumNumber: -0 < +0; a NaN operand yields the other operand."""
    return _pick(a, b, _total_key(a) >= _total_key(b))


def eq(a, b):
    """Quiet equality: false with a NaN, +0 == -0. Returns a bool array (the lane mask)."""
    return _h(a) == _h(b)


def lt(a, b):
    return _h(a) < _h(b)


def le(a, b):
    return _h(a) <= _h(b)


def abs_(a):
    return canonical(bits(a) & 0x7FFF)


def neg(a):
    return canonical(bits(a) ^ 0x8000)


def select(mask, a, b):
    """``a`` where ``mask`` is set, else ``b``."""
    return canonical(np.where(np.asarray(mask, dtype=bool), bits(a), bits(b)))


def from_int32(x, shift):
    """One correct rounding of ``x * 2**-shift`` for int32 ``x`` and ``0 <= shift <= 63``."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if np.any((x < -(1 << 31)) | (x >= 1 << 31)):
        raise ValueError("x must be int32")
    if np.any((shift < 0) | (shift > 63)):
        raise ValueError("shift must be from 0 to 63")
    with np.errstate(all="ignore"):
        exact = np.ldexp(x.astype(np.float64), -shift)  # exact: at most 31 significant bits
        return _result(exact.astype(np.float16))


def to_int(a, bits_, signed):
    """Round to nearest even, then saturate to the ``bits_``-bit integer range; NaN gives 0.

    Returns an int64 array of the integer values (pack them with
    :func:`sw.golden.packing.pack` for the VMM).
    """
    if bits_ not in (8, 4, 2):
        raise ValueError(f"bits must be one of (8, 4, 2), not {bits_!r}")
    low, high = (-(1 << (bits_ - 1)), (1 << (bits_ - 1)) - 1) if signed else (0, (1 << bits_) - 1)
    value = to_float(a)
    with np.errstate(all="ignore"):
        rounded = np.clip(np.rint(value), low, high)
    return np.where(np.isnan(value), 0, rounded).astype(np.int64)
