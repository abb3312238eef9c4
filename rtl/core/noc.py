"""T4..T7's engines: the core's NoC ports (SEND, RECV), and the flit and port signatures."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.isa import NOC_PORTS, Op
from .memory import mem_port_signature
from .queue import Queue
from .thread import engine_signature

__all__ = ["flit_layout", "noc_port_signature", "noc_signature", "NocEngine"]


def flit_layout(word_bytes):
    """A NoC flit at the core's ports: one MEM word and a 16-bit tag."""
    return data.StructLayout({"data": 8 * word_bytes, "tag": 16})


def noc_port_signature(word_bytes):
    """One NoC port of a core, seen from the core: ``o``, the flits it sends, and ``i``,
    the flits it receives."""
    return wiring.Signature({
        "o": Out(stream.Signature(flit_layout(word_bytes))),
        "i": In(stream.Signature(flit_layout(word_bytes))),
    })


def noc_signature(word_bytes):
    """The four NoC ports of a core, seen from the core, by name
    (:data:`rtl.spec.isa.NOC_PORTS`: ``anoc``, ``pnoc``, ``mnoc``, ``inoc``), each a
    :func:`noc_port_signature`."""
    return wiring.Signature({name: Out(noc_port_signature(word_bytes)) for name in NOC_PORTS})


class NocEngine(wiring.Component):
    """T4..T7: one NoC port's SEND (MEM words out as flits) and RECV (flits into MEM).

    SEND: a point is taken when the flit queue (4 entries) has room for it and for the
    read in flight; the MEM word at its source address arrives the next cycle and is
    queued with the instruction's tag; ``port.o`` offers the oldest queued flit. RECV: a
    point is taken with the flit at ``port.i``, whose data is written to the MEM word at
    the point's source address in the same cycle.

    Latency: 2 cycles from a SEND point to its flit at ``port.o``; a RECV writes MEM in
    the cycle it takes a flit. Throughput: one flit a cycle.

    Parameters
    ----------
    word_bytes : int
        Bytes of a MEM word (a flit's data).

    Members
    -------
    thread : In(engine_signature())
    mem : Out(mem_port_signature(word_bytes))
    port : Out(noc_port_signature(word_bytes))
    """

    def __init__(self, word_bytes):
        self._word = word_bytes
        super().__init__({
            "thread": In(engine_signature()),
            "mem":    Out(mem_port_signature(word_bytes)),
            "port":   Out(noc_port_signature(word_bytes)),
        })

    @property
    def word_bytes(self):
        return self._word

    def elaborate(self, platform):
        m = Module()
        points = self.thread.points
        p = points.p
        op = p.instr.op
        port = self.port
        m.submodules.queue = queue = Queue(flit_layout(self._word), 4)
        inflight, tag = Signal(), Signal(16)
        send = points.valid & (op == Op.SEND)
        recv = points.valid & (op == Op.RECV)
        room = queue.level + inflight < queue.depth
        with m.If(send):
            m.d.comb += [points.ready.eq(room), self.mem.en.eq(room),
                         self.mem.addr.eq(p.src)]
        with m.Elif(recv):
            m.d.comb += [points.ready.eq(port.i.valid), port.i.ready.eq(1),
                         self.mem.en.eq(port.i.valid), self.mem.we.eq(1),
                         self.mem.addr.eq(p.src), self.mem.wdata.eq(port.i.p.data),
                         self.mem.mask.eq((1 << self._word) - 1)]
        m.d.sync += inflight.eq(send & room)
        with m.If(send & room):
            m.d.sync += tag.eq(p.instr.f.send.tag)
        m.d.comb += [queue.w.valid.eq(inflight),
                     queue.w.p.data.eq(self.mem.rdata), queue.w.p.tag.eq(tag)]
        wiring.connect(m, queue=queue.r, engine=wiring.flipped(port.o))
        m.d.comb += self.thread.idle.eq(~inflight & ~queue.r.valid)
        return m
