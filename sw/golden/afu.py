"""Golden model of the FP16 activation unit (mirrors ``rtl/core/afu.py``).

Operations, one per instruction over all lanes (``p0`` and ``p1`` are binary16
parameters of the instruction):

- RELU: ``+0`` for negative inputs (``-0`` and ``-inf`` included), else ``x``;
- CLAMP: ``minimumNumber(maximumNumber(x, p0), p1)`` (ReLU6 is ``p0 = 0, p1 = 6``);
- LEAKY_RELU: ``x`` when the sign bit is clear, else ``x * p0`` (one rounding);
- GELU, SIGMOID, TANH, EXP: piecewise-linear tables (:mod:`sw.golden.afu_tables`).

A NaN input gives the canonical NaN for every operation; the reserved opcode 7 gives
canonical NaN lanes.
"""

import enum

import numpy as np

from . import fp16
from .afu_tables import table

__all__ = ["AfuOp", "ActivationUnit"]


class AfuOp(enum.IntEnum):
    """Activation-unit operation (3 bits; 7 is reserved)."""
    RELU       = 0
    CLAMP      = 1
    LEAKY_RELU = 2
    GELU       = 3
    SIGMOID    = 4
    TANH       = 5
    EXP        = 6


_TABLES = {AfuOp.GELU: "gelu", AfuOp.SIGMOID: "sigmoid", AfuOp.TANH: "tanh",
           AfuOp.EXP: "exp"}


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
            y = table(_TABLES[op]).evaluate(x)
        else:
            y = np.full(x.shape, fp16.CANONICAL_NAN)
        return np.where(nan, np.uint16(fp16.CANONICAL_NAN), y).astype(np.uint16)
