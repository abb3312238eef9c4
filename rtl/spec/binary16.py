"""IEEE-754 binary16 bit patterns: the form in which the RTL, the golden model and the
compiler exchange FP16 values.

Functions are vectorized over numpy arrays of bit patterns (``uint16``). Every NaN the
machine produces is the canonical ``0x7E00``. The arithmetic is in :mod:`sw.golden.fp16`.
"""

import numpy as np

__all__ = ["CANONICAL_NAN", "ONE", "POS_INF", "NEG_INF", "NEG_ZERO",
           "bits", "from_float", "to_float", "canonical", "is_nan"]

CANONICAL_NAN = 0x7E00
ONE           = 0x3C00
POS_INF       = 0x7C00
NEG_INF       = 0xFC00
NEG_ZERO      = 0x8000


def bits(values):
    """Return ``values`` as a ``uint16`` array of bit patterns (ints are taken as bits)."""
    return np.asarray(values, dtype=np.uint16)


def from_float(values):
    """Round float values to binary16 bit patterns (NaN made canonical)."""
    with np.errstate(all="ignore"):
        return canonical(np.asarray(values, dtype=np.float64).astype(np.float16).view(np.uint16))


def to_float(values):
    """Return the float64 value of each bit pattern."""
    return bits(values).view(np.float16).astype(np.float64)


def is_nan(values):
    values = bits(values)
    return ((values & 0x7C00) == 0x7C00) & ((values & 0x03FF) != 0)


def canonical(values):
    """Replace every NaN bit pattern by ``0x7E00``."""
    values = bits(values)
    return np.where(is_nan(values), np.uint16(CANONICAL_NAN), values).astype(np.uint16)
