"""The VMM's cocotb testbench environment: clock, reset, one agent per stream, payload
packing against the RTL layouts, and the golden model as the scoreboard."""

import os

import numpy as np

from rtl.config import get_config
from rtl.vmm import step_layout, result_layout, weight_layout
from sw.golden.vmm import VMM as GoldenVMM

from ..stream import StreamSink, StreamSource, run_cycles, start_clock

__all__ = ["VmmEnv"]


class VmmEnv:
    """The VMM under test with its stream agents and golden model.

    The configuration comes from ``VMM_CONFIG`` (default ``sim``), so the layouts used to
    pack payloads are the RTL's own.
    """

    def __init__(self, dut):
        self.dut  = dut
        core      = get_config(os.environ.get("VMM_CONFIG", "sim")).core
        self.rows = core.vmm_rows
        self.cols = core.vmm_cols
        self.golden = GoldenVMM(self.rows, self.cols)
        wl, sl, rl = (weight_layout(self.cols), step_layout(self.rows, self.cols),
                      result_layout(self.rows))
        self._w_prec   = wl["precision"].offset
        self._w_signed = wl["act_signed"].offset
        self._s_psum   = sl["psum"].offset
        self._s_last   = sl["last"].offset
        self._r_sums   = rl["sums"].offset
        self._r_last   = rl["last"].offset
        self.weights = StreamSource(dut, "weights")
        self.steps   = StreamSource(dut, "steps")
        self.results = StreamSink(dut, "results")
        self.agents  = [self.weights, self.steps, self.results]
        self.cycle   = 0
        self.expected = []

    async def start(self):
        await start_clock(self.dut)

    # Payload packing, with field offsets taken from the RTL layouts.

    def tile_payloads(self, tile):
        mode = (tile.precision << self._w_prec) | (int(tile.act_signed) << self._w_signed)
        return [int.from_bytes(row.tobytes(), "little") | mode for row in tile.data]

    def step_payload(self, step):
        value = int.from_bytes(step.data.tobytes(), "little")
        for r, p in enumerate(step.psum):
            value |= (int(p) & 0xFFFFFFFF) << (self._s_psum + 32 * r)
        return value | (int(step.last) << self._s_last)

    def decode_result(self, value):
        sums = []
        for r in range(self.rows):
            word = (value >> (self._r_sums + 32 * r)) & 0xFFFFFFFF
            sums.append(word - (1 << 32) if word >> 31 else word)
        return np.array(sums, dtype=np.int64), bool((value >> self._r_last) & 1)

    # Running and checking.

    def queue(self, tiles, steps, *, wrap=False):
        """Queue tiles and steps on the streams and their expected results."""
        tiles, steps = list(tiles), list(steps)
        self.expected += self.golden.run(tiles, steps, wrap=wrap)
        for tile in tiles:
            self.weights.send(self.tile_payloads(tile))
        self.steps.send(self.step_payload(s) for s in steps)

    async def drain(self, *, max_cycles=None, settle=8):
        """Run until every queued result has arrived, then ``settle`` idle cycles more
        (a duplicate or stray result would show there); check against the golden model."""
        if max_cycles is None:
            max_cycles = 40 * (len(self.expected) + 50)
        self.cycle = await run_cycles(
            self.dut.clk, self.agents, lambda c: len(self.results.items) >= len(self.expected),
            max_cycles=max_cycles, start=self.cycle)
        end = self.cycle + settle
        self.cycle = await run_cycles(self.dut.clk, self.agents, lambda c: c >= end,
                                      max_cycles=settle, start=self.cycle)
        self.check()

    def check(self):
        got = self.results.items
        assert len(got) == len(self.expected), \
            f"{len(got)} results arrived, {len(self.expected)} expected"
        for i, (value, (sums, last)) in enumerate(zip(got, self.expected, strict=True)):
            actual, actual_last = self.decode_result(value)
            if not np.array_equal(actual, sums) or actual_last != last:
                raise AssertionError(f"result {i}: got {actual.tolist()} last={actual_last}, "
                                     f"expected {sums.tolist()} last={last}")
        assert not self.weights.queue and not self.steps.queue, "stimulus left unsent"
