"""Testbench glue for the VMM: payload packing against the RTL layouts, stimulus, and the
cocotb environment (clock, reset, one agent per stream, golden-model scoreboard)."""

import os

import numpy as np

from rtl.spec.config import get_config
from rtl.vmm import step_layout, result_layout, weight_layout
from sw.golden.packing import pack, value_range
from rtl.spec.codes import Precision
from sw.golden.vmm import INT32_MAX, INT32_MIN, VMM as GoldenVMM, Step, Tile

from ..stream import StreamSink, StreamSource, run_cycles, start_clock

__all__ = ["VmmEnv", "random_tile", "random_steps", "lane_bound"]


def lane_bound(bits):
    """Largest magnitude one byte lane can contribute (int8: 128 * 255)."""
    return (8 // bits) * (1 << (bits - 1)) * ((1 << bits) - 1)


def random_tile(np_rng, rows, cols, bits, act_signed, *, extreme=False):
    """A tile of uniformly random weights (or only the two extreme values)."""
    low, high = value_range(bits, signed=True)
    shape = (rows, cols * 8 // bits)
    if extreme:
        weights = np_rng.choice(np.array([low, high]), size=shape)
    else:
        weights = np_rng.integers(low, high + 1, size=shape)
    return Tile.from_weights(weights, bits, act_signed)


def random_steps(np_rng, rows, cols, tile, count, *, extreme=False):
    """``count`` steps for ``tile`` with random activations and int32 partial sums that
    cannot overflow; the last one has ``last`` set."""
    bits = Precision(tile.precision).bits if tile.precision in tuple(Precision) else 8
    low, high = value_range(bits, signed=tile.act_signed)
    bound = cols * lane_bound(bits)
    steps = []
    for i in range(count):
        if extreme:
            acts = np_rng.choice(np.array([low, high]), size=cols * 8 // bits)
        else:
            acts = np_rng.integers(low, high + 1, size=cols * 8 // bits)
        kind = np_rng.integers(4)
        if kind == 0:    # near the int32 edges, as far as no overflow allows
            psum = np_rng.choice(np.array([INT32_MIN + bound, INT32_MAX - bound]), size=rows)
        elif kind == 1:  # small
            psum = np_rng.integers(-1000, 1001, size=rows)
        else:
            psum = np_rng.integers(INT32_MIN + bound, INT32_MAX - bound + 1, size=rows)
        steps.append(Step(pack(acts, bits, tile.act_signed), psum.astype(np.int64),
                          last=(i == count - 1)))
    return steps


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
