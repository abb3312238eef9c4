"""Golden model of the FP16 vector unit (mirrors ``rtl/core/vcu.py``).

One instruction applies one operation to every lane. Operands ``a``, ``b`` and ``c`` are
per-lane binary16 vectors; with ``bcast`` set, ``scalar`` replaces ``b`` in every lane.
Each instruction produces a result vector and a lane mask (set only by the comparisons).
See docs/architecture.md, "Vector unit", for the encoding.
"""

import numpy as np

from rtl.spec.codes import Precision, VcuOp

from . import fp16
from .packing import pack

__all__ = ["VectorUnit"]


class VectorUnit:
    """Golden vector unit with ``lanes`` lanes."""

    def __init__(self, lanes):
        self.lanes = lanes

    def execute(self, op, a, b, c, *, scalar=0, bcast=False, shift=0, fmt=0,
                out_signed=True, mask=None):
        """Execute one operation on one instruction, or on a batch of instructions.

        Parameters
        ----------
        op : int
            A :class:`VcuOp` value or a reserved code; one per call.
        a, b, c : array of uint16, shape (..., lanes)
            binary16 operands; leading axes index instructions.
        scalar : int or array, shape (...)
            binary16 value replacing ``b`` in every lane where ``bcast`` is set.
        bcast : bool or array, shape (...)
        shift : int or array, shape (...)
            0 to 63, for ``CVT_I32``.
        fmt : int
            ``CVT_INT`` target: 0 int8, 1 int4, 2 int2, 3 reserved (result all zero).
        out_signed : bool
            ``CVT_INT`` saturates to the signed (else unsigned) range.
        mask : array of bool, shape (..., lanes)
            Lane mask for ``SEL``.

        Returns
        -------
        (result, mask) : uint16 array and bool array, shape (..., lanes)
        """
        a, b, c = fp16.bits(a), fp16.bits(b), fp16.bits(c)
        if a.shape[-1:] != (self.lanes,) or b.shape != a.shape or c.shape != a.shape:
            raise ValueError(f"operands must have shape (..., {self.lanes}), not "
                             f"{a.shape}, {b.shape}, {c.shape}")
        lead = a.shape[:-1]
        bcast = np.broadcast_to(np.asarray(bcast, dtype=bool), lead)[..., None]
        scalar = np.broadcast_to(fp16.bits(scalar), lead)[..., None]
        b = np.where(bcast, scalar, b).astype(np.uint16)
        no_mask = np.zeros(a.shape, dtype=bool)
        if op == VcuOp.ADD:
            return fp16.add(a, b), no_mask
        if op == VcuOp.SUB:
            return fp16.sub(a, b), no_mask
        if op == VcuOp.MUL:
            return fp16.mul(a, b), no_mask
        if op == VcuOp.FMA:
            return fp16.fma(a, b, c), no_mask
        if op == VcuOp.MIN:
            return fp16.minimum_number(a, b), no_mask
        if op == VcuOp.MAX:
            return fp16.maximum_number(a, b), no_mask
        if op in (VcuOp.EQ, VcuOp.LT, VcuOp.LE):
            flag = {VcuOp.EQ: fp16.eq, VcuOp.LT: fp16.lt, VcuOp.LE: fp16.le}[op](a, b)
            return np.where(flag, np.uint16(fp16.ONE), np.uint16(0)).astype(np.uint16), flag
        if op == VcuOp.ABS:
            return fp16.abs_(a), no_mask
        if op == VcuOp.NEG:
            return fp16.neg(a), no_mask
        if op == VcuOp.SEL:
            sel = no_mask if mask is None else np.asarray(mask, dtype=bool)
            return fp16.select(sel, a, b), no_mask
        if op == VcuOp.CVT_I32:
            x = (b.astype(np.int64) << 16) | a.astype(np.int64)
            x = np.where(x >= 1 << 31, x - (1 << 32), x)
            shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), lead)[..., None]
            return fp16.from_int32(x, shift), no_mask
        if op == VcuOp.CVT_INT:
            out = np.zeros(lead + (2 * self.lanes,), dtype=np.uint8)
            if fmt in tuple(Precision):
                bits = Precision(fmt).bits
                packed = pack(fp16.to_int(a, bits, out_signed), bits, out_signed)
                out[..., :packed.shape[-1]] = packed
            return out.view("<u2").astype(np.uint16), no_mask
        return np.full(a.shape, fp16.CANONICAL_NAN, dtype=np.uint16), no_mask
