"""T0's engine: weight rows from the unified memory, or from the MNoC, to the VMM
(WSTREAM)."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.codes import Precision
from ..spec.isa import ADDR_BITS
from ..vmm import weight_layout
from .memory import mem_port_signature, read_stages
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

    A point is taken when the beat queue (4 entries) has room for it and for the reads in
    flight and, with ``noc``, a weight put is offered (it is taken with the point); its
    MEM word (or words, or the put's data, registered) arrive ``mem_latency`` cycles
    later and are queued as one beat; ``weights`` offers the oldest queued beat.

    Latency: ``mem_latency + 1`` cycles from a point to its beat at ``weights`` (with
    ``noc`` too).
    Throughput: one beat a cycle: one row, or two with ``pair``.

    Parameters
    ----------
    word_bytes : int
        Bytes of a MEM word.
    cols : int
        Byte columns of the VMM: a row is the word's low ``cols`` bytes.
    mem_latency : int
        Cycles from a MEM read to its data (the unified memory's ``latency``).
    addr_bits : int
        Bits of the points' addresses (the thread's generators': ``engine_signature``).

    Members
    -------
    thread : In(engine_signature(addr_bits))
    mem : Out(mem_port_signature(word_bytes))
        The rows at the source addresses.
    mem_pair : Out(mem_port_signature(word_bytes))
        The second rows of pair beats, at the destination addresses.
    weights : Out(stream.Signature(weight_layout(cols)))
    noc : In(stream.Signature(8 * word_bytes))
        The MNoC's weight puts (their data: a row is its low ``cols`` bytes).
    """

    def __init__(self, word_bytes, cols, mem_latency=1, *, addr_bits=ADDR_BITS):
        self._word, self._cols, self._latency = word_bytes, cols, mem_latency
        super().__init__({
            "thread":   In(engine_signature(addr_bits)),
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

        # Stage 0: the MEM reads; the beat's mode travels beside them to their data.
        # A noc point takes the MNoC's weight put with it, instead of reading MEM.
        mode_layout = data.StructLayout({"precision": Precision, "act_signed": 1,
                                         "pair": 1, "noc": 1, "row": 8 * self._cols})
        mode_now = Signal(mode_layout)
        take = Signal()
        arrived, mode_bits, inflight = read_stages(m, take, mode_now, self._latency, "read")
        mode = mode_layout(mode_bits)   # of the beat whose data arrives
        room = queue.level + inflight < queue.depth
        ready = room & (~wstream.noc | self.noc.valid)
        m.d.comb += [take.eq(points.valid & ready), points.ready.eq(ready),
                     self.noc.ready.eq(points.valid & room & wstream.noc),
                     self.mem.en.eq(take & ~wstream.noc), self.mem.addr.eq(points.p.src),
                     self.mem_pair.en.eq(take & wstream.pair & ~wstream.noc),
                     self.mem_pair.addr.eq(points.p.dst),
                     mode_now.precision.eq(wstream.prec),
                     mode_now.act_signed.eq(wstream.act_signed),
                     mode_now.pair.eq(wstream.pair & ~wstream.noc), mode_now.noc.eq(wstream.noc),
                     mode_now.row.eq(self.noc.payload[:8 * self._cols])]

        # The beat is queued as its data arrives.
        m.d.comb += [queue.w.valid.eq(arrived),
                     queue.w.p.data.eq(Mux(mode.noc, mode.row,
                                           self.mem.rdata[:8 * self._cols])),
                     queue.w.p.pair_data.eq(self.mem_pair.rdata[:8 * self._cols]),
                     queue.w.p.precision.eq(mode.precision),
                     queue.w.p.act_signed.eq(mode.act_signed),
                     queue.w.p.pair.eq(mode.pair)]
        wiring.connect(m, queue=queue.r, engine=wiring.flipped(self.weights))
        m.d.comb += self.thread.idle.eq((inflight == 0) & ~queue.r.valid)
        return m
