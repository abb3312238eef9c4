"""Golden model of the fused post-processing pass (mirrors ``rtl/core/post.py``).

A vector of int32 partial sums becomes packed integers through the same steps, each
rounded as the separate vector- and activation-unit passes round it:
``fp16(psum * 2**-shift)``, ``fma(., scale, bias)``, ``fp16(res * 2**-res_shift) + .``
(or ``-0 + .``), ``afu(act, ., p0, p1)``, and CVT_INT to ``prec`` (packed little-endian).
"""

from dataclasses import dataclass

import numpy as np

from rtl.spec.binary16 import NEG_INF, NEG_ZERO, POS_INF
from rtl.spec.codes import AfuOp, Precision, VcuOp

from . import fp16
from .afu import ActivationUnit
from .vcu import VectorUnit

__all__ = ["PostParams", "PostChain", "IDENTITY"]

#: The activation that changes nothing: CLAMP to [-inf, +inf] (a NaN stays a NaN).
IDENTITY = (AfuOp.CLAMP, NEG_INF, POS_INF)


@dataclass(frozen=True)
class PostParams:
    """Parameters of a fused pass (``post_params_layout`` in the RTL).

    ``scale`` and ``bias`` are per-lane binary16 bit patterns; ``p0`` and ``p1`` binary16
    bit patterns; ``prec`` a :class:`~rtl.spec.codes.Precision` code."""
    shift: int
    scale: np.ndarray
    bias: np.ndarray
    residual: bool = False
    res_shift: int = 0
    act: int = IDENTITY[0]
    p0: int = IDENTITY[1]
    p1: int = IDENTITY[2]
    prec: int = Precision.INT8
    out_signed: bool = True


class PostChain:
    """Golden fused post-processing of ``rows``-lane vectors."""

    def __init__(self, rows):
        self.rows = rows
        self._vcu = VectorUnit(rows)
        self._afu = ActivationUnit(rows)

    def execute(self, params, psum, res=None):
        """Post-process vectors: ``psum`` int32 of shape ``(n, rows)``, ``res`` integers of
        the same shape (used when ``params.residual``). Returns the packed integers, one
        Python int per vector (``rows * bits`` bits, lane 0 in the low bits)."""
        psum = np.asarray(psum, dtype=np.int64).reshape(-1, self.rows)
        n = len(psum)
        value = fp16.from_int32(psum, params.shift)
        scale = np.broadcast_to(fp16.bits(params.scale), value.shape)
        bias = np.broadcast_to(fp16.bits(params.bias), value.shape)
        value = fp16.fma(value, scale, bias)
        if params.residual:
            res = np.asarray(res, dtype=np.int64).reshape(n, self.rows)
            addend = fp16.from_int32(res, params.res_shift)
        else:
            addend = np.full(value.shape, NEG_ZERO, dtype=np.uint16)
        value = fp16.add(addend, value)
        value = self._afu.execute(params.act, value, params.p0, params.p1)
        packed, _ = self._vcu.execute(VcuOp.CVT_INT, value, value, value, fmt=params.prec,
                                      out_signed=params.out_signed)
        # the reserved precision code packs nothing: every bit of the vector is 0
        bits = self.rows * (Precision(params.prec).bits if params.prec in tuple(Precision)
                            else 8)
        words = [int.from_bytes(np.asarray(v, dtype="<u2").tobytes(), "little") for v in packed]
        return [w & ((1 << bits) - 1) for w in words]
