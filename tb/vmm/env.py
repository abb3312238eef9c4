"""The VMM's cocotb testbench environment: clock, reset, one agent per stream, payload
packing against the RTL layouts, and the golden model as the scoreboard."""

import os

import numpy as np

from rtl.spec.config import get_config
from rtl.vmm import step_layout, result_layout, weight_layout
from sw.golden.vmm import VMM as GoldenVMM, Step, Tile

from ..stream import StreamSink, StreamSource, run_to_end, start_clock

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
        self._w_pair_data = wl["pair_data"].offset
        self._w_pair   = wl["pair"].offset
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
        self.pairs   = 0.0        # the chance that a weight beat carries two rows
        self.pair_beats = 0       # pair beats sent, and those whose rows span two tiles
        self.split_pairs = 0

    async def start(self):
        await start_clock(self.dut)

    # Payload packing, with field offsets taken from the RTL layouts.

    def tile_payloads(self, tile):
        """One single-row beat per row of ``tile``."""
        mode = (tile.precision << self._w_prec) | (int(tile.act_signed) << self._w_signed)
        return [int.from_bytes(row.tobytes(), "little") | mode for row in tile.data]

    def weight_beats(self, tiles, rng):
        """The rows of ``tiles`` in order, each beat one row or, with chance
        :attr:`pairs`, two (a pair may join one tile's last row to the next tile's first);
        a beat carries the mode of its first row's tile (the tile its last row
        completes)."""
        rows = [(row, tile) for tile in tiles for row in tile.data]
        beats, i = [], 0
        while i < len(rows):
            row, tile = rows[i]
            value = int.from_bytes(row.tobytes(), "little") | \
                (tile.precision << self._w_prec) | (int(tile.act_signed) << self._w_signed)
            if i + 1 < len(rows) and rng.random() < self.pairs:
                value |= int.from_bytes(rows[i + 1][0].tobytes(), "little") << self._w_pair_data
                value |= 1 << self._w_pair
                self.pair_beats += 1
                self.split_pairs += i % self.rows == self.rows - 1
                i += 2
            else:
                i += 1
            beats.append(value)
        return beats

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

    def queue(self, tiles, steps, *, wrap=False, rng=None):
        """Queue tiles and steps on the streams and their expected results. With ``rng``
        (a :class:`random.Random`) and :attr:`pairs` set, weight beats carry one or two
        rows (:meth:`weight_beats`); otherwise one row each."""
        tiles, steps = list(tiles), list(steps)
        self.expected += self.golden.run(tiles, steps, wrap=wrap)
        if rng is not None and self.pairs:
            self.weights.send(self.weight_beats(tiles, rng))
        else:
            for tile in tiles:
                self.weights.send(self.tile_payloads(tile))
        self.steps.send(self.step_payload(s) for s in steps)

    async def finish(self, *, max_cycles=None, settle=8):
        """Run until every queued result has arrived, then ``settle`` idle cycles more
        (a duplicate or stray result would show there); check that as many results
        arrived as were expected and that all stimulus was sent."""
        self.cycle = await run_to_end(self.dut.clk, self.agents, lambda: len(self.results.items),
                                      len(self.expected), settle=settle, start=self.cycle,
                                      max_cycles=max_cycles)
        assert len(self.results.items) == len(self.expected), \
            f"{len(self.results.items)} results arrived, {len(self.expected)} expected"
        assert not self.weights.queue and not self.steps.queue, "stimulus left unsent"

    async def drain(self, *, max_cycles=None, settle=8):
        """:meth:`finish`, then check every result against the golden model."""
        await self.finish(max_cycles=max_cycles, settle=settle)
        for i, (value, (sums, last)) in enumerate(
                zip(self.results.items, self.expected, strict=True)):
            actual, actual_last = self.decode_result(value)
            if not np.array_equal(actual, sums) or actual_last != last:
                raise AssertionError(f"result {i}: got {actual.tolist()} last={actual_last}, "
                                     f"expected {sums.tolist()} last={last}")

    async def run_vectors(self, v):
        """Run a user's tiles and steps (formats in :mod:`tb.vectors`); results wrap modulo
        2**32 as the hardware's do. Return ``{field: (rtl, golden)}``, a row per step."""
        tiles = [Tile(np.asarray(data, dtype=np.uint8), int(precision), bool(signed))
                 for data, precision, signed in zip(v["tile_data"], v["tile_precision"],
                                                    v["tile_act_signed"], strict=True)]
        steps = [Step(np.asarray(data, dtype=np.uint8), np.asarray(psum, dtype=np.int64),
                      bool(last))
                 for data, psum, last in zip(v["step_data"], v["step_psum"], v["step_last"],
                                             strict=True)]
        self.queue(tiles, steps, wrap=True)
        await self.finish()
        rtl = [self.decode_result(value) for value in self.results.items]
        return {field: (np.array([r[k] for r in rtl]), np.array([e[k] for e in self.expected]))
                for k, field in enumerate(("sums", "last"))}
