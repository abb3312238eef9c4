"""T0's engine: weight rows from the unified memory to the VMM (WSTREAM)."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.codes import Precision
from ..vmm import weight_layout
from .memory import mem_port_signature
from .queue import Queue
from .thread import engine_signature

__all__ = ["WeightEngine"]


class WeightEngine(wiring.Component):
    """T0: for each point of a WSTREAM, the MEM word at the point's source address is a
    weight row of the instruction's precision and activation signedness, for the VMM.

    A point is taken when the row queue (4 entries) has room for it and for the read in
    flight; its MEM word arrives the next cycle and is queued; ``weights`` offers the
    oldest queued row.

    Latency: 2 cycles from a point to its row at ``weights``. Throughput: one row a cycle.

    Parameters
    ----------
    word_bytes : int
        Bytes of a MEM word.
    cols : int
        Byte columns of the VMM: a row is the word's low ``cols`` bytes.

    Members
    -------
    thread : In(engine_signature())
    mem : Out(mem_port_signature(word_bytes))
    weights : Out(stream.Signature(weight_layout(cols)))
    """

    def __init__(self, word_bytes, cols):
        self._word, self._cols = word_bytes, cols
        super().__init__({
            "thread":  In(engine_signature()),
            "mem":     Out(mem_port_signature(word_bytes)),
            "weights": Out(stream.Signature(weight_layout(cols))),
        })

    @property
    def word_bytes(self):
        return self._word

    @property
    def cols(self):
        return self._cols

    def elaborate(self, platform):
        m = Module()
        layout = weight_layout(self._cols)
        m.submodules.queue = queue = Queue(layout, 4)
        points = self.thread.points
        wstream = points.p.instr.f.wstream

        # Stage 0: the MEM read; the row's mode is registered beside it.
        inflight = Signal()
        precision, act_signed = Signal(Precision), Signal()   # of the row in flight
        room = queue.level + inflight < queue.depth
        take = points.valid & room
        m.d.comb += [points.ready.eq(room), self.mem.en.eq(take),
                     self.mem.addr.eq(points.p.src)]
        m.d.sync += inflight.eq(take)
        with m.If(take):
            m.d.sync += [precision.eq(wstream.prec), act_signed.eq(wstream.act_signed)]

        # Stage 1: the row is queued.
        m.d.comb += [queue.w.valid.eq(inflight),
                     queue.w.p.data.eq(self.mem.rdata[:8 * self._cols]),
                     queue.w.p.precision.eq(precision),
                     queue.w.p.act_signed.eq(act_signed)]
        wiring.connect(m, queue=queue.r, engine=wiring.flipped(self.weights))
        m.d.comb += self.thread.idle.eq(~inflight & ~queue.r.valid)
        return m
