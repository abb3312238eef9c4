"""Golden model of the FP16 activation unit (mirrors ``rtl/core/afu.py``).

Operations, one per instruction over all lanes (``p0`` and ``p1`` are binary16
parameters of the instruction):

- RELU: ``+0`` for negative inputs (``-0`` and ``-inf`` included), else ``x``;
- CLAMP: ``minimumNumber(maximumNumber(x, p0), p1)`` (ReLU6 is ``p0 = 0, p1 = 6``);
- LEAKY_RELU: ``x`` when the sign bit is clear, else ``x * p0`` (one rounding);
- GELU, SIGMOID, TANH, EXP: piecewise-linear tables (:mod:`rtl.spec.afu_tables`).

A NaN input gives the canonical NaN for every operation; the reserved opcode 7 gives
canonical NaN lanes.
"""

import numpy as np

from rtl.spec.afu_tables import reference, table, ulp
from rtl.spec.codes import AfuOp

from . import fp16

__all__ = ["ActivationUnit", "evaluate_table", "measure"]

_TABLES = {AfuOp.GELU: "gelu", AfuOp.SIGMOID: "sigmoid", AfuOp.TANH: "tanh",
           AfuOp.EXP: "exp"}


def evaluate_table(name, x):
    """The table function ``name`` of binary16 ``x`` (bit patterns in, bit patterns out):
    one rounding of ``d * c1 + c0`` with the pair the bits of ``x`` select."""
    x = fp16.bits(x)
    t = table(name)
    index, d = t.index(x)
    c0, c1 = t.c0[index], t.c1[index]
    y = np.where(c1 == 0, c0, fp16.fma(d, c1, c0))
    return np.where(fp16.is_nan(x), np.uint16(fp16.CANONICAL_NAN), y).astype(np.uint16)


def measure(name):
    """Errors of the table function over every binary16 input (NaNs excluded) against
    the float64 reference. Returns a dict: ``max_abs`` (absolute), ``max_ulp`` (in ulps
    of binary16 at the exact value) and ``exact`` (share of inputs whose result is the
    correctly rounded one). Infinite results count as exact when the correctly rounded
    value is the same infinity and as an infinite error otherwise."""
    x = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    x = x[~fp16.is_nan(x)]
    y = evaluate_table(name, x)
    ref = reference[name](fp16.to_float(x))
    rounded = fp16.from_float(ref)
    same = rounded == y
    yf = fp16.to_float(y)
    with np.errstate(invalid="ignore", over="ignore"):
        abs_err = np.where(same, 0.0, np.abs(yf - ref))
    abs_err = np.where(np.isnan(abs_err), np.inf, abs_err)
    return {"max_abs": float(abs_err.max()),
            "max_ulp": float((abs_err / ulp(ref)).max()),
            "exact": float(same.mean())}


class ActivationUnit:
    """Golden activation unit with ``lanes`` lanes."""

    def __init__(self, lanes):
        self.lanes = lanes

    def execute(self, op, x, p0=0, p1=0):
        """Apply ``op`` to ``x`` (uint16, shape ``(..., lanes)``); ``p0``/``p1`` are
        binary16 scalars or arrays of shape ``(...)``. Returns uint16 of ``x``'s shape."""
        x = fp16.bits(x)
        if x.shape[-1:] != (self.lanes,):
            raise ValueError(f"x must have shape (..., {self.lanes}), not {x.shape}")
        lead = x.shape[:-1]
        p0 = np.broadcast_to(fp16.bits(p0), lead)[..., None]
        p1 = np.broadcast_to(fp16.bits(p1), lead)[..., None]
        nan = fp16.is_nan(x)
        negative = (x >> 15) == 1
        if op == AfuOp.RELU:
            y = np.where(negative, np.uint16(0), x)
        elif op == AfuOp.CLAMP:
            y = fp16.minimum_number(fp16.maximum_number(x, p0), p1)
        elif op == AfuOp.LEAKY_RELU:
            y = np.where(negative, fp16.fma(x, p0, np.uint16(fp16.NEG_ZERO)), x)
        elif op in _TABLES:
            y = evaluate_table(_TABLES[op], x)
        else:
            y = np.full(x.shape, fp16.CANONICAL_NAN)
        return np.where(nan, np.uint16(fp16.CANONICAL_NAN), y).astype(np.uint16)
