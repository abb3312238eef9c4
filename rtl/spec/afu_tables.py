"""Generator of the activation unit's piecewise-linear function tables.

A table function maps a binary16 ``x`` to ``fma(d, c1, c0)`` (one rounding), with the
coefficient pair ``(c0, c1)`` chosen by the bits of ``x``:

- ``e_lo <= exponent <= e_hi``: one of ``2**k`` segments per binade and sign, selected by
  the top ``k`` mantissa bits; ``d = x - x0`` where ``x0`` is ``x`` with its low
  ``10 - k`` mantissa bits cleared (exact);
- ``exponent < e_lo`` (small magnitudes, zeros, subnormals): a per-sign pair, ``d = x``;
- ``exponent > e_hi`` (large magnitudes, infinities): a per-sign pair, ``d = x``.

Whenever ``c1`` is ``+0`` (``0x0000``) the result is ``c0`` itself, which also covers
infinite inputs. A NaN input gives the canonical NaN. The layout of one function's table
(``entries`` coefficient pairs, ``c0`` in the low 16 bits of a 32-bit word) is::

    [segments: sign, exponent - e_lo, top k mantissa bits], small+, small-, large+, large-

Segment coefficients are least-squares fits rounded to binary16, then refined by trying
neighbouring binary16 values to minimise the segment's largest error in units in the last
place (ulp) of the exact result. Everything here is deterministic, so the RTL's ROMs and
the golden model use the same tables.
"""

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from . import binary16 as b16

__all__ = ["TableSpec", "SPECS", "FUNCTIONS", "Table", "table", "rom", "reference", "ulp"]


@dataclass(frozen=True)
class TableSpec:
    """Parameters of one table function.

    Attributes
    ----------
    k : int
        Segments per binade and sign: ``2**k``.
    e_lo, e_hi : int
        Biased exponents covered by segments (1 to 30).
    small, large : tuple of ((c0, c1), (c0, c1))
        binary16 coefficient pairs for positive and negative ``x`` below and above them.
    """
    k: int
    e_lo: int
    e_hi: int
    small: tuple
    large: tuple


def _gelu(x):
    x = np.asarray(x, dtype=np.float64)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    finite = np.where(np.isinf(x), 0.0, x)
    value = 0.5 * finite * (1.0 + erf(finite / math.sqrt(2.0)))
    return np.where(np.isinf(x), np.where(x > 0, np.inf, -0.0), value)


def _sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _exp(x):
    with np.errstate(over="ignore"):
        return np.exp(x)


#: float64 references of the table functions.
reference = {"gelu": _gelu, "sigmoid": _sigmoid, "tanh": np.tanh, "exp": _exp}

_ONE, _HALF, _QUARTER, _ZERO, _NZERO = 0x3C00, 0x3800, 0x3400, 0x0000, 0x8000
_NONE, _NINF, _INF = 0xBC00, 0xFC00, 0x7C00

SPECS = {
    # A small-magnitude rule y = x * c1 + (-0) keeps the sign of a zero input.
    # gelu(x) = x/2 + x**2/sqrt(2 pi) + ...: x/2 below 2**-12 (relative error < 2**-12);
    # x above 8 (1 - Phi(8) ~ 6e-16); -0 below -8 (|gelu(-8)| ~ 5e-15).
    "gelu":    TableSpec(k=6, e_lo=3, e_hi=17,
                         small=((_NZERO, 0x3800), (_NZERO, 0x3800)),
                         large=((_NZERO, _ONE), (_NZERO, _ZERO))),
    # sigmoid(x) = 1/2 + x/4 - ...: below 2**-6 the cubic term is under 2**-22;
    # 1 above 32, +0 below -32 (sigmoid(-32) ~ 1e-14).
    "sigmoid": TableSpec(k=6, e_lo=9, e_hi=19,
                         small=((_HALF, _QUARTER), (_HALF, _QUARTER)),
                         large=((_ONE, _ZERO), (_ZERO, _ZERO))),
    # tanh(x) = x - x**3/3: x below 2**-6 (relative error < 2**-13); +-1 above 8.
    "tanh":    TableSpec(k=5, e_lo=9, e_hi=17,
                         small=((_NZERO, _ONE), (_NZERO, _ONE)),
                         large=((_ONE, _ZERO), (_NONE, _ZERO))),
    # exp(x) = 1 + x below 2**-10 (error < 2**-21); +inf above 16, +0 below -32.
    "exp":     TableSpec(k=6, e_lo=5, e_hi=19,
                         small=((_ONE, _ONE), (_ONE, _ONE)),
                         large=((_INF, _ZERO), (_ZERO, _ZERO))),
}

FUNCTIONS = tuple(SPECS)


@dataclass(frozen=True)
class Table:
    """Coefficients of one function: ``c0`` and ``c1`` arrays of binary16 bit patterns."""
    name: str
    spec: TableSpec
    c0: np.ndarray
    c1: np.ndarray

    @property
    def entries(self):
        return len(self.c0)

    def index(self, x):
        """Entry index and ``d`` (bit patterns) for each binary16 ``x``."""
        s = self.spec
        x = b16.bits(x)
        sign = (x >> 15).astype(np.int64)
        exp = ((x >> 10) & 0x1F).astype(np.int64)
        man = (x & 0x3FF).astype(np.int64)
        nexp = s.e_hi - s.e_lo + 1
        segments = 2 * nexp << s.k
        seg = ((sign * nexp + (exp - s.e_lo)) << s.k) + (man >> (10 - s.k))
        index = np.where(exp < s.e_lo, segments + sign,
                         np.where(exp > s.e_hi, segments + 2 + sign, seg))
        # d = x - x0: the low mantissa bits at x's scale, with x's sign (exact in binary16).
        low = man & ((1 << (10 - s.k)) - 1)
        d = b16.from_float(np.where(sign == 1, -1.0, 1.0)
                            * np.ldexp(low.astype(np.float64), exp - 25))
        in_table = (exp >= s.e_lo) & (exp <= s.e_hi)
        return index, np.where(in_table, d, x).astype(np.uint16)


def _fma(a, b, c):
    """One rounding of ``a * b + c`` (exact in float64 for binary16 operands' products;
    the sum rounds as the exact one would, see sw/golden/fp16.py)."""
    with np.errstate(all="ignore"):
        return b16.from_float(b16.to_float(a) * b16.to_float(b) + b16.to_float(c))


def ulp(values):
    """binary16 ulp at each float64 value (2**-24 in the subnormal range)."""
    mag = np.minimum(np.maximum(np.abs(values), 2.0 ** -14), 65504.0)
    return np.ldexp(1.0, np.floor(np.log2(mag)).astype(int) - 10)


def _fit(name, spec):
    f = reference[name]
    nexp = spec.e_hi - spec.e_lo + 1
    npts = 1 << (10 - spec.k)
    sign = np.repeat([1.0, -1.0], nexp << spec.k)[:, None]
    exp = np.tile(np.repeat(np.arange(spec.e_lo, spec.e_hi + 1), 1 << spec.k), 2)[:, None]
    top = np.tile(np.arange(1 << spec.k), 2 * nexp)[:, None]
    scale = np.ldexp(1.0, exp - 25)
    x0 = sign * (1024 + (top << (10 - spec.k))) * scale
    d = sign * np.arange(npts)[None, :] * scale
    target = f(x0 + d)
    # Least squares per segment, in float64.
    dm, tm = d.mean(axis=1, keepdims=True), target.mean(axis=1, keepdims=True)
    var = ((d - dm) ** 2).sum(axis=1, keepdims=True)
    slope = ((d - dm) * (target - tm)).sum(axis=1, keepdims=True) / var
    icpt = tm - slope * dm
    # Refine around the rounded fit: binary16 neighbours of each coefficient.
    c0 = b16.from_float(icpt[:, 0]).astype(np.int32)
    c1 = b16.from_float(slope[:, 0]).astype(np.int32)
    steps = np.arange(-3, 4)
    cand0 = (c0[:, None, None] + steps[None, :, None]) & 0xFFFF
    cand1 = (c1[:, None, None] + steps[None, None, :]) & 0xFFFF
    cand0 = np.broadcast_to(cand0, (len(c0), 7, 7)).reshape(len(c0), 49).astype(np.uint16)
    cand1 = np.broadcast_to(cand1, (len(c0), 7, 7)).reshape(len(c0), 49).astype(np.uint16)
    dbits = b16.from_float(d)
    y = _fma(dbits[:, None, :], cand1[:, :, None], cand0[:, :, None])
    yf = b16.to_float(y)
    with np.errstate(invalid="ignore"):
        err = np.abs(yf - target[:, None, :]) / ulp(target)[:, None, :]
        exact = b16.from_float(target)[:, None, :] == y
    err = np.where(exact, 0.0, np.where(np.isnan(err), np.inf, err))
    best = np.argmax(-err.max(axis=2), axis=1)
    rows = np.arange(len(c0))
    c0, c1 = cand0[rows, best], cand1[rows, best]
    c0 = np.concatenate([c0, [spec.small[0][0], spec.small[1][0],
                              spec.large[0][0], spec.large[1][0]]]).astype(np.uint16)
    c1 = np.concatenate([c1, [spec.small[0][1], spec.small[1][1],
                              spec.large[0][1], spec.large[1][1]]]).astype(np.uint16)
    return c0, c1


@cache
def table(name):
    """The :class:`Table` of function ``name`` (computed once)."""
    if name not in SPECS:
        raise ValueError(f"name must be one of {FUNCTIONS}, not {name!r}")
    c0, c1 = _fit(name, SPECS[name])
    return Table(name, SPECS[name], c0, c1)


@cache
def rom():
    """All tables in one ROM: ``(words, bases)``, words ``c1 << 16 | c0`` and the first
    entry of each function."""
    words, bases, base = [], {}, 0
    for name in FUNCTIONS:
        t = table(name)
        bases[name] = base
        words.append((t.c1.astype(np.uint32) << 16) | t.c0.astype(np.uint32))
        base += t.entries
    return np.concatenate(words), bases
