"""The vector unit's cocotb testbench environment: payload packing against the RTL
layouts, and the golden model as the scoreboard."""

import os

import numpy as np

from rtl.spec.codes import VcuOp
from rtl.spec.config import get_config
from rtl.core.vcu import vcu_instr_layout, vcu_result_layout
from sw.golden import fp16
from sw.golden.vcu import VectorUnit

from ..stream import StreamEnv

__all__ = ["VcuEnv", "built_ops", "lanes_int", "int_lanes"]


def lanes_int(values):
    """Pack a vector of uint16 lanes into one integer, lane 0 in the low bits."""
    return int.from_bytes(np.asarray(values, dtype="<u2").tobytes(), "little")


def int_lanes(value, lanes):
    """Unpack ``lanes`` uint16 lanes from the low bits of an integer (lane 0 lowest)."""
    mask = (1 << (16 * lanes)) - 1
    return np.frombuffer((value & mask).to_bytes(2 * lanes, "little"), dtype="<u2").copy()


def built_ops(text):
    """The operations of a unit built for ``VCU_OPS`` (comma-separated :class:`VcuOp`
    names; empty or unset: all)."""
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    return frozenset(VcuOp[name] for name in names) if names else frozenset(VcuOp)


class VcuEnv(StreamEnv):
    """The vector unit under test with its stream agents and golden model
    (configuration from ``VCU_CONFIG``, default ``sim``). A unit built for a subset of
    the operations (``VCU_OPS``, see :func:`built_ops`) must give the golden results for
    them and, for every other operation, canonical NaN in every lane and an empty mask,
    as for a reserved opcode."""

    def __init__(self, dut):
        super().__init__(dut, "instrs", "results")
        self.lanes = get_config(os.environ.get("VCU_CONFIG", "sim")).core.vcu_lanes
        self.ops = built_ops(os.environ.get("VCU_OPS"))
        self.golden = VectorUnit(self.lanes)
        il, rl = vcu_instr_layout(self.lanes), vcu_result_layout(self.lanes)
        self._off = {name: il[name].offset for name in
                     ("op", "a", "b", "c", "scalar", "bcast", "shift", "fmt",
                      "out_signed", "mask")}
        self._r_mask = rl["mask"].offset

    def queue(self, op, a, b, c, *, scalar=0, bcast=False, shift=0, fmt=0, out_signed=True,
              mask=None):
        """Queue a batch of instructions of one op (operands shaped (n, lanes)); the
        golden model gives their expected results."""
        a, b, c = (np.asarray(v, dtype=np.uint16).reshape(-1, self.lanes) for v in (a, b, c))
        n = a.shape[0]
        scalar = np.broadcast_to(np.asarray(scalar, dtype=np.uint16), (n,))
        bcast = np.broadcast_to(np.asarray(bcast, dtype=bool), (n,))
        shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), (n,))
        mask = np.zeros((n, self.lanes), dtype=bool) if mask is None else \
            np.asarray(mask, dtype=bool).reshape(n, self.lanes)
        result, rmask = self.golden.execute(op, a, b, c, scalar=scalar, bcast=bcast,
                                            shift=shift, fmt=fmt, out_signed=out_signed,
                                            mask=mask)
        if op in set(VcuOp) - self.ops:   # left out of the unit: as a reserved opcode
            result = np.full_like(result, fp16.CANONICAL_NAN)
            rmask = np.zeros_like(rmask)
        o = self._off
        weights = 1 << np.arange(self.lanes, dtype=object)
        for i in range(n):
            payload = (int(op) << o["op"]) | (lanes_int(a[i]) << o["a"]) \
                | (lanes_int(b[i]) << o["b"]) | (lanes_int(c[i]) << o["c"]) \
                | (int(scalar[i]) << o["scalar"]) | (int(bcast[i]) << o["bcast"]) \
                | (int(shift[i]) << o["shift"]) | (int(fmt) << o["fmt"]) \
                | (int(out_signed) << o["out_signed"]) \
                | (int(np.dot(mask[i], weights)) << o["mask"])
            expected = lanes_int(result[i]) | (int(np.dot(rmask[i], weights)) << self._r_mask)
            self.expect(payload, expected,
                        (int(op), a[i], b[i], c[i], int(scalar[i]), bool(bcast[i]),
                         int(shift[i]), fmt, out_signed))

    def describe(self, got, expected, what):
        def lanes(x):
            return [f"{(x >> (16 * i)) & 0xFFFF:04x}" for i in range(self.lanes)]
        op, a, b, c, scalar, bcast, shift, fmt, signed = what
        return (f"op {op} a={[f'{v:04x}' for v in a]} b={[f'{v:04x}' for v in b]} "
                f"c={[f'{v:04x}' for v in c]} scalar={scalar:04x} bcast={bcast} "
                f"shift={shift} fmt={fmt} signed={signed}: got {lanes(got)} mask "
                f"{got >> self._r_mask:#x}, expected {lanes(expected)} mask "
                f"{expected >> self._r_mask:#x}")

    def queue_vectors(self, v):
        n, L = len(v["op"]), self.lanes
        def field(name, default, shape=(n,)):
            return np.broadcast_to(np.asarray(v.get(name, default)), shape)
        a, b, c, mask = (field(k, 0, (n, L)) for k in ("a", "b", "c", "mask"))
        scalar, bcast, shift, fmt, out_signed = (
            field(k, d) for k, d in (("scalar", 0), ("bcast", False), ("shift", 0),
                                     ("fmt", 0), ("out_signed", True)))
        for i in range(n):
            self.queue(int(v["op"][i]), a[i], b[i], c[i], scalar=scalar[i], bcast=bcast[i],
                       shift=shift[i], fmt=int(fmt[i]), out_signed=bool(out_signed[i]),
                       mask=mask[i])

    def decode(self, payload):
        bits = payload >> self._r_mask
        return {"result": int_lanes(payload, self.lanes),
                "mask": np.array([(bits >> i) & 1 for i in range(self.lanes)], dtype=bool)}

    @property
    def instrs(self):
        return self.source

    @property
    def results(self):
        return self.sink
