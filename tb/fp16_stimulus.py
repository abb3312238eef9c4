"""binary16 stimulus shared by the FP16 testbenches: edge classes and random operands
biased towards the cases that break rounding (cancellation, halfway points, overflow and
underflow boundaries)."""

import numpy as np

from sw.golden import fp16

__all__ = ["EDGES", "random_operands", "fma_operands_hard", "fma_ties", "halfway_adds",
           "fma_window_cases", "add_window_cases", "int32_edges"]

#: Edge classes: signed zeros, smallest and largest subnormals, smallest normal, largest
#: finite, infinities, NaNs (quiet, signalling, negative, all-ones payload), units.
EDGES = np.array([
    0x0000, 0x8000,                 # +-0
    0x0001, 0x8001,                 # smallest subnormal
    0x03FF, 0x83FF,                 # largest subnormal
    0x0400, 0x8400,                 # smallest normal
    0x7BFF, 0xFBFF,                 # largest finite
    0x7C00, 0xFC00,                 # +-inf
    0x7E00, 0x7C01, 0xFE00, 0x7FFF,  # NaNs
    0x3C00, 0xBC00, 0x3C01, 0x3BFF,  # 1, -1, 1 + ulp, 1 - ulp/2
    0x1000, 0x0200, 0x5BFF, 0x7800,  # 2**-11, half the largest subnormal, 255.9, 32768
], dtype=np.uint16)


def random_operands(rng, shape):
    """Random bit patterns: a third uniform over all 2**16 codes, a third with exponents
    near each other (to exercise cancellation and alignment), a third small magnitudes
    and subnormals."""
    u = rng.integers(0, 1 << 16, size=shape, dtype=np.uint32).astype(np.uint16)
    exp = rng.integers(12, 19, size=shape).astype(np.uint16)  # around 1.0
    near = (rng.integers(0, 2, size=shape).astype(np.uint16) << 15) | (exp << 10) \
        | rng.integers(0, 1024, size=shape).astype(np.uint16)
    tiny = (rng.integers(0, 2, size=shape).astype(np.uint16) << 15) \
        | rng.integers(0, 0x0C00, size=shape).astype(np.uint16)
    pick = rng.integers(0, 3, size=shape)
    return np.where(pick == 0, u, np.where(pick == 1, near, tiny)).astype(np.uint16)


def fma_operands_hard(rng, shape):
    """``(a, b, c)`` with ``c`` close to ``-a * b``: massive cancellation, where a fused
    multiply-add differs most from a multiply followed by an add."""
    a = random_operands(rng, shape)
    b = random_operands(rng, shape)
    prod = fp16.mul(a, b)
    nudge = rng.integers(-3, 4, size=shape).astype(np.int32)
    c = ((prod.astype(np.int32) + nudge) & 0xFFFF).astype(np.uint16) ^ 0x8000
    return a, b, c


def fma_ties(rng, count):
    """``(a, b, c)`` where ``a * b`` lies exactly halfway between two binary16 values and
    ``c`` is tiny: the addend alone decides the rounding, so any intermediate rounding of
    ``a * b + c`` (for example through float32) gives a wrong result."""
    found = [np.empty(0, dtype=np.uint16)] * 2
    while len(found[0]) < count:
        a = rng.integers(0x4400, 0x4C00, size=200000).astype(np.uint16)  # 4 to 32
        b = rng.integers(0x4400, 0x4C00, size=200000).astype(np.uint16)
        exact = fp16.to_float(a) * fp16.to_float(b)
        down = fp16.to_float(fp16.from_float(exact))
        ulp = np.ldexp(1.0, np.floor(np.log2(np.abs(exact))).astype(int) - 10)
        tie = np.abs(exact - down) == ulp / 2
        found = [np.concatenate([found[0], a[tie]]), np.concatenate([found[1], b[tie]])]
    a, b = found[0][:count], found[1][:count]
    tiny = rng.integers(0x0001, 0x0010, size=count).astype(np.uint16)  # below 2**-20
    sign = rng.integers(0, 2, size=count).astype(np.uint16) << 15
    return a, b, tiny | sign


def halfway_adds(rng, count):
    """Pairs whose exact sum lies halfway between two binary16 values."""
    exp = rng.integers(11, 29, size=count).astype(np.uint16)
    man = rng.integers(0, 1024, size=count).astype(np.uint16)
    a = (exp << 10) | man
    b = (exp - 11) << 10   # half an ulp of a
    sign = rng.integers(0, 2, size=count).astype(np.uint16) << 15
    return a | sign, b | sign


def _significands(rng, shape):
    """Mantissa fields biased to the extremes: 0 (powers of two), 1, all ones, random."""
    man = rng.integers(0, 1024, size=shape)
    pick = rng.integers(0, 6, size=shape)
    return np.where(pick == 0, 0, np.where(pick == 1, 1, np.where(pick == 2, 1023, man)))


def fma_window_cases(rng, count):
    """``(a, b, c)`` for the narrow FMA window (rtl/core/fp16.py): the addend's exponent
    within 30 binades either side of the product's (the window's edges, where its bits
    start to fall into the sticky bit or the product does), powers of two and all-ones
    significands, near-total cancellation (``c`` within 3 ulps of ``-a * b``), one factor
    subnormal (a product with few significant bits), tiny and huge addends."""
    def signs():
        return rng.integers(0, 2, size=count).astype(np.int64) << 15

    def finite(exp):
        return signs() | (np.clip(exp, 0, 30) << 10) | _significands(rng, count)

    ea, eb = rng.integers(1, 31, size=count), rng.integers(1, 31, size=count)
    a, b = finite(ea), finite(eb)
    # One factor subnormal (or a tiny normal) in a third of the triples.
    sub = signs() | rng.integers(0, 0x0800, size=count)
    which = rng.integers(0, 6, size=count)
    a = np.where(which == 0, sub, a)
    b = np.where(which == 1, sub, b)
    a, b = a.astype(np.uint16), b.astype(np.uint16)
    pexp = ((a >> 10) & 31).astype(np.int64) + ((b >> 10) & 31) - 15
    c = finite(pexp + rng.integers(-30, 31, size=count))
    cancel = (fp16.mul(a, b).astype(np.int64) + rng.integers(-3, 4, size=count)) & 0xFFFF
    tiny = signs() | rng.integers(0, 0x0400, size=count)    # zeros and subnormals
    huge = finite(rng.integers(24, 31, size=count))
    kind = rng.integers(0, 8, size=count)
    c = np.where(kind < 2, cancel ^ 0x8000, np.where(kind == 2, tiny,
                                                     np.where(kind == 3, huge, c)))
    return a, b, c.astype(np.uint16)


def add_window_cases(rng, count):
    """``(a, b)`` for ADD in the narrow window: exponents within 16 binades of each
    other, powers of two and all-ones significands, near-total cancellation and
    subnormals."""
    def finite(exp):
        return (rng.integers(0, 2, size=count).astype(np.int64) << 15) \
            | (np.clip(exp, 0, 30) << 10) | _significands(rng, count)

    ea = rng.integers(0, 31, size=count)
    a = finite(ea)
    b = finite(ea + rng.integers(-16, 17, size=count))
    cancel = (a ^ 0x8000) + rng.integers(-3, 4, size=count)
    b = np.where(rng.integers(0, 4, size=count) == 0, cancel & 0xFFFF, b)
    return a.astype(np.uint16), b.astype(np.uint16)


def int32_edges():
    """int32 values around rounding and range boundaries for CVT_I32."""
    values = [0, 1, -1, 2047, 2048, 2049, 2050, 2051, 4095, 4097, 6145, 65504, 65519,
              65520, 65535, -65520, (1 << 31) - 1, -(1 << 31), 1 << 30, -(1 << 30),
              0x7FFF8000, 0x00C00001,
              # An exact half of a subnormal ulp plus a bit that only a sticky bit below
              # the 2**-48 window keeps (shifts above 48).
              (1 << 24) | 1, (1 << 25) | 1, (3 << 24) | 1, (1 << 30) | 1, (3 << 29) | 1,
              -((1 << 24) | 1), -((3 << 28) | 1), 1 << 24, 3 << 24]
    return np.array(values, dtype=np.int64)
