"""The activation unit's cocotb testbench environment: payload packing against the RTL
layouts, and the golden model as the scoreboard."""

import os

import numpy as np

from rtl.spec.config import get_config
from rtl.core.afu import afu_instr_layout
from sw.golden.afu import ActivationUnit

from ..stream import StreamEnv
from ..vcu.env import int_lanes, lanes_int

__all__ = ["AfuEnv"]


class AfuEnv(StreamEnv):
    """The activation unit under test (configuration from ``AFU_CONFIG``, default
    ``sim``)."""

    def __init__(self, dut):
        super().__init__(dut, "instrs", "results")
        self.lanes = get_config(os.environ.get("AFU_CONFIG", "sim")).core.afu_lanes
        self.golden = ActivationUnit(self.lanes)
        layout = afu_instr_layout(self.lanes)
        self._off = {name: layout[name].offset for name in ("op", "x", "p0", "p1")}

    def queue(self, op, x, p0=0, p1=0):
        """Queue instructions of one op: ``x`` of shape (n, lanes), parameters per
        instruction."""
        x = np.asarray(x, dtype=np.uint16).reshape(-1, self.lanes)
        n = len(x)
        p0 = np.broadcast_to(np.asarray(p0, dtype=np.uint16), (n,))
        p1 = np.broadcast_to(np.asarray(p1, dtype=np.uint16), (n,))
        y = self.golden.execute(op, x, p0, p1)
        o = self._off
        for i in range(n):
            payload = (int(op) << o["op"]) | (lanes_int(x[i]) << o["x"]) \
                | (int(p0[i]) << o["p0"]) | (int(p1[i]) << o["p1"])
            self.expect(payload, lanes_int(y[i]), (int(op), x[i], int(p0[i]), int(p1[i])))

    def queue_vectors(self, v):
        n = len(v["op"])
        x = np.broadcast_to(np.asarray(v["x"]), (n, self.lanes))
        p0, p1 = (np.broadcast_to(np.asarray(v.get(k, 0)), (n,)) for k in ("p0", "p1"))
        for i in range(n):
            self.queue(int(v["op"][i]), x[i], p0[i], p1[i])

    def decode(self, payload):
        return {"y": int_lanes(payload, self.lanes)}

    def describe(self, got, expected, what):
        def lanes(v):
            return [f"{(v >> (16 * i)) & 0xFFFF:04x}" for i in range(self.lanes)]
        op, x, p0, p1 = what
        return (f"op {op} x={[f'{v:04x}' for v in x]} p0={p0:04x} p1={p1:04x}: "
                f"got {lanes(got)}, expected {lanes(expected)}")
