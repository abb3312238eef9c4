"""The mesh's cocotb testbench environment: one injection and one ejection agent per node
with random stalls, flit packing against the RTL layout, the golden mesh stepped in
lockstep (every accept and every delivery must happen in the RTL's cycle), the scoreboard
and the watchdog (:mod:`tb.noc.traffic`).

The mesh's shape comes from ``NOC_ROWS``, ``NOC_COLS``, ``NOC_DEPTH`` and
``NOC_PAYLOAD_BITS``, or from a configuration's array (``NOC_MESH_CONFIG``, set when the
registry's ``noc_mesh`` design is run).
"""

import os

from cocotb.triggers import FallingEdge, ReadOnly

from rtl.designs import noc_payload_bits
from rtl.spec.config import get_config
from sw.golden.noc import MeshModel

from ..stream import start_clock
from .traffic import PAYLOAD_BITS, FlitCodec, Scoreboard, Stalls, Watchdog, flits

__all__ = ["mesh_shape", "MeshEnv"]


def mesh_shape():
    """``(rows, cols, depth, payload_bits)`` of the mesh under test, from the environment."""
    if os.environ.get("NOC_MESH_CONFIG"):
        config = get_config(os.environ["NOC_MESH_CONFIG"])
        return config.rows, config.cols, 2, noc_payload_bits(config)
    return (int(os.environ["NOC_ROWS"]), int(os.environ["NOC_COLS"]),
            int(os.environ.get("NOC_DEPTH", "2")),
            int(os.environ.get("NOC_PAYLOAD_BITS", str(PAYLOAD_BITS))))


class MeshEnv:
    """The mesh under test with its agents and golden model.

    Args:
        dut: The cocotb top handle.
    """

    def __init__(self, dut):
        self.dut = dut
        self.rows, self.cols, self.depth, self.payload_bits = mesh_shape()
        self.nodes = self.rows * self.cols
        codec = FlitCodec(self.rows, self.cols, self.payload_bits)
        self.pack, self.unpack = codec.pack, codec.unpack
        self.model = MeshModel(self.rows, self.cols, self.depth)
        self.cycle = 0
        self.ports = []
        for n in range(self.nodes):
            y, x = divmod(n, self.cols)
            self.ports.append(tuple(getattr(dut, f"node__{y}__{x}__{s}") for s in
                                    ("i__valid", "i__ready", "i__payload",
                                     "o__valid", "o__ready", "o__payload")))

    async def start(self):
        await start_clock(self.dut)
        for n in range(self.nodes):
            self.ports[n][0].value = 0
            self.ports[n][4].value = 0

    async def run(self, per_src, rng, *, p_inject=0.0, p_eject=0.0, watchdog=None,
                  settle=16):
        """Send ``per_src``'s packets (one list per source node), each injection and
        ejection port stalling at random; check every delivered flit (the scoreboard) and
        every accept and delivery against the golden mesh in the same cycle; then idle
        ``settle`` cycles (a stray flit would show there). Return the scoreboard."""
        board = Scoreboard(self.cols, per_src)
        watchdog = watchdog or Watchdog()
        watchdog.last_progress = self.cycle
        stalls = Stalls(rng, self.nodes, p_inject, p_eject)
        queues = [[f for p in ps for f in flits(p)] for ps in per_src]
        pos = [0] * self.nodes
        offering = [False] * self.nodes
        ready_now = [None] * self.nodes
        valid_now = [False] * self.nodes
        total = sum(len(board.rect(p)) * p.length for ps in per_src for p in ps)
        ports, model, clk = self.ports, self.model, self.dut.clk
        end = None
        while end is None or self.cycle < end:
            await FallingEdge(clk)
            idle, ready = stalls.inject(), stalls.eject()
            offers = {}
            for n in range(self.nodes):
                port = ports[n]
                if not offering[n] and pos[n] < len(queues[n]) and not idle[n]:
                    offering[n] = True
                    port[2].value = self.pack(queues[n][pos[n]])
                    if not valid_now[n]:
                        port[0].value = 1
                        valid_now[n] = True
                elif not offering[n] and valid_now[n]:
                    port[0].value = 0
                    valid_now[n] = False
                if offering[n]:
                    offers[n] = queues[n][pos[n]]
                if ready[n] != ready_now[n]:
                    port[4].value = int(ready[n])
                    ready_now[n] = ready[n]
            await ReadOnly()
            accepted = [n for n in offers if ports[n][1].value]
            delivered = {n: self.unpack(ports[n][5].value.to_unsigned())
                         for n in range(self.nodes) if ready[n] and ports[n][3].value}
            want_accepted, want_delivered = model.step(offers, ready)
            assert sorted(accepted) == sorted(want_accepted), \
                f"cycle {self.cycle}: nodes {sorted(accepted)} accepted a flit, the golden " \
                f"mesh accepts at {sorted(want_accepted)}"
            assert delivered == want_delivered, \
                f"cycle {self.cycle}: delivered {delivered}, the golden mesh delivers " \
                f"{want_delivered}"
            for n in accepted:
                board.inject(offers[n], self.cycle)
                offering[n] = False
                pos[n] += 1
            for n, flit in delivered.items():
                board.deliver(n, flit, self.cycle)
            if end is None:
                watchdog.check(self.cycle, accepted or delivered, board.oldest())
                if board.delivered == total:
                    end = self.cycle + settle
            self.cycle += 1
        board.finish()
        assert all(p == len(q) for p, q in zip(pos, queues, strict=True)), "flits left unsent"
        return board
