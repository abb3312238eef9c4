"""T0's engine: weight rows from the unified memory, or from the MNoC, to the VMM
(WSTREAM)."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.codes import Precision
from ..vmm import weight_layout
from .memory import mem_port_signature
from .queue import Queue
from .thread import engine_signature

__all__ = ["WeightEngine"]


class WeightEngine(wiring.Component):
    """T0: for each point of a WSTREAM, the MEM word at the point's source address is a
    weight row of the instruction's precision and activation signedness, for the VMM;
    with ``pair`` set, the word at its destination address is the next row, read in the
    same cycle through ``mem_pair``, and the two rows make one beat. With ``noc`` the row
    is instead the data of the weight put offered at ``noc`` (the MNoC's input FIFO's
    head), and MEM is not read (the source generator only counts the points).

    A point is taken when the beat queue (4 entries) has room for it and for the read in
    flight and, with ``noc``, a weight put is offered (it is taken with the point); its
    MEM word (or words, or the put's data, registered) arrive the next cycle and are
    queued as one beat; ``weights`` offers the oldest queued beat.

    Latency: 2 cycles from a point to its beat at ``weights`` (with ``noc`` too).
    Throughput: one beat a cycle: one row, or two with ``pair``.

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
        The rows at the source addresses.
    mem_pair : Out(mem_port_signature(word_bytes))
        The second rows of pair beats, at the destination addresses.
    weights : Out(stream.Signature(weight_layout(cols)))
    noc : In(stream.Signature(8 * word_bytes))
        The MNoC's weight puts (their data: a row is its low ``cols`` bytes).
    """

    def __init__(self, word_bytes, cols):
        self._word, self._cols = word_bytes, cols
        super().__init__({
            "thread":   In(engine_signature()),
            "mem":      Out(mem_port_signature(word_bytes)),
            "mem_pair": Out(mem_port_signature(word_bytes)),
            "weights":  Out(stream.Signature(weight_layout(cols))),
            "noc":      In(stream.Signature(8 * word_bytes)),
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

        # Stage 0: the MEM reads; the beat's mode is registered beside them.
        # A noc point takes the MNoC's weight put with it, instead of reading MEM.
        inflight = Signal()
        mode = Signal(data.StructLayout({"precision": Precision, "act_signed": 1,
                                         "pair": 1, "noc": 1}))   # of the beat in flight
        noc_row = Signal(8 * self._cols)                           # its row, with noc
        room = queue.level + inflight < queue.depth
        ready = room & (~wstream.noc | self.noc.valid)
        take = points.valid & ready
        m.d.comb += [points.ready.eq(ready),
                     self.noc.ready.eq(points.valid & room & wstream.noc),
                     self.mem.en.eq(take & ~wstream.noc), self.mem.addr.eq(points.p.src),
                     self.mem_pair.en.eq(take & wstream.pair & ~wstream.noc),
                     self.mem_pair.addr.eq(points.p.dst)]
        m.d.sync += inflight.eq(take)
        with m.If(take):
            m.d.sync += [mode.precision.eq(wstream.prec), mode.act_signed.eq(wstream.act_signed),
                         mode.pair.eq(wstream.pair & ~wstream.noc), mode.noc.eq(wstream.noc),
                         noc_row.eq(self.noc.payload[:8 * self._cols])]

        # Stage 1: the beat is queued.
        m.d.comb += [queue.w.valid.eq(inflight),
                     queue.w.p.data.eq(Mux(mode.noc, noc_row,
                                           self.mem.rdata[:8 * self._cols])),
                     queue.w.p.pair_data.eq(self.mem_pair.rdata[:8 * self._cols]),
                     queue.w.p.precision.eq(mode.precision),
                     queue.w.p.act_signed.eq(mode.act_signed),
                     queue.w.p.pair.eq(mode.pair)]
        wiring.connect(m, queue=queue.r, engine=wiring.flipped(self.weights))
        m.d.comb += self.thread.idle.eq(~inflight & ~queue.r.valid)
        return m
