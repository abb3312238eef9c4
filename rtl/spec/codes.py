"""Precision codes and unit opcodes: one definition for the RTL, the golden model, the
compiler and the testbenches.

The enums are Amaranth enums with an explicit shape (usable as signal shapes and in
``m.Case``) and are :class:`int` subclasses, so their members are plain integers to Python
code and testbenches.
"""

from amaranth.lib import enum

__all__ = ["PRECISIONS", "Precision", "RESERVED_PRECISION", "VcuOp", "AfuOp", "VloadMode"]


#: Bit widths the multiply datapath can be built for: int8, int4 and int2.
PRECISIONS = (8, 4, 2)


class Precision(enum.IntEnum, shape=2):
    """Element precision of a weight tile, of the activations it serves, of a VSTORE and
    of a vector-unit CVT_INT. Code 3 is reserved (:data:`RESERVED_PRECISION`)."""
    INT8 = 0
    INT4 = 1
    INT2 = 2

    @property
    def bits(self):
        """Bits per element."""
        return PRECISIONS[self.value]

    @classmethod
    def from_bits(cls, bits):
        """The code of ``bits`` (8, 4 or 2); :class:`ValueError` for any other value."""
        if not isinstance(bits, int) or isinstance(bits, bool) or bits not in PRECISIONS:
            raise ValueError(f"bits must be one of {PRECISIONS}, not {bits!r}")
        return cls(PRECISIONS.index(bits))


#: The precision code the hardware reserves: a weight tile with it contributes no
#: products, a CVT_INT with it gives zero lanes.
RESERVED_PRECISION = 3


class VcuOp(enum.IntEnum, shape=5):
    """Vector-unit operation; codes 14 to 31 are reserved (canonical NaN lanes)."""
    ADD     = 0   # a + b
    SUB     = 1   # a - b
    MUL     = 2   # a * b
    FMA     = 3   # a * b + c, one rounding
    MIN     = 4   # minimumNumber(a, b)
    MAX     = 5   # maximumNumber(a, b)
    EQ      = 6   # mask = a == b (quiet)
    LT      = 7   # mask = a < b
    LE      = 8   # mask = a <= b
    ABS     = 9   # |a|
    NEG     = 10  # -a
    SEL     = 11  # mask ? a : b
    CVT_I32 = 12  # int32 {b: high half, a: low half} * 2**-shift
    CVT_INT = 13  # a to int8/int4/int2 (fmt, out_signed), packed from bit 0


class AfuOp(enum.IntEnum, shape=3):
    """Activation-unit operation; 7 is reserved (canonical NaN lanes)."""
    RELU       = 0  # +0 for negative x (-0 and -inf included), else x
    CLAMP      = 1  # minimumNumber(maximumNumber(x, p0), p1); ReLU6 is p0 = 0, p1 = 6
    LEAKY_RELU = 2  # x * p0 (one rounding) where the sign bit is set, else x
    GELU       = 3  # tables of rtl/spec/afu_tables.py
    SIGMOID    = 4
    TANH       = 5
    EXP        = 6


class VloadMode(enum.IntEnum, shape=2):
    """What a VLOAD reads: binary16 lanes, or integers of a precision (code - 1)."""
    FP16 = 0
    INT8 = 1
    INT4 = 2
    INT2 = 3

    @property
    def bits(self):
        """Bits per element in MEM."""
        return 16 if self is VloadMode.FP16 else PRECISIONS[self.value - 1]

    @classmethod
    def of(cls, precision):
        """The mode that reads integers of ``precision`` (a :class:`Precision` code)."""
        return cls(Precision(precision).value + 1)
