"""T4, T6 and T7's engines: the core's put ports (ANoC, MNoC, INoC). SEND puts MEM words
into other cores' MEM; the receive side writes the puts that arrive into this core's MEM,
except the MNoC's weight puts, which it hands to T0's weight engine (WSTREAM with
``noc``). (The PNoC port is T1's: :mod:`rtl.core.steps`.)"""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..noc.flit import coord_bits, flit_layout
from ..spec.isa import ADDR_BITS, NOC_IN_DEPTH, NOC_PORTS, Op
from .counters import CTR_BITS, signal_signature
from .memory import mem_port_signature, read_stages
from .queue import Queue
from .steps import pnoc_port_signature
from .thread import engine_signature

__all__ = ["put_layout", "core_flit_layout", "noc_port_signature",
           "noc_signature", "NocEngine"]



def put_layout(word_bytes):
    """A flit's payload at a core's NoC port: a put of one MEM word. ``data``: the word;
    ``addr``: the receiver's MEM address in words; ``signal``: the receiver counts its
    counter ``ctr`` up when the word is written; ``start`` (honoured on the INoC): the
    receiver, once idle, writes the word and then runs the program image at ``addr``;
    ``weight`` (honoured on the MNoC): the word is not written but is a weight row for the
    receiver's T0 (WSTREAM with ``noc``; ``addr`` is carried, not used)."""
    return data.StructLayout({
        "data":   8 * word_bytes,
        "addr":   ADDR_BITS - (word_bytes - 1).bit_length(),
        "signal": 1,
        "ctr":    CTR_BITS,
        "start":  1,
        "weight": 1,
    })


def core_flit_layout(word_bytes, rows=1, cols=1):
    """A flit at a core's NoC port in an array of ``rows`` x ``cols`` cores: the mesh's
    :func:`rtl.noc.flit.flit_layout` with a :func:`put_layout` payload, its rows counting
    row ``rows`` too (the framebuffer's place, below the array: docs/architecture.md, 11;
    :class:`rtl.noc.mesh.Mesh` with ``edge``). Every flit is a one-flit packet (``last``
    set)."""
    return flit_layout(coord_bits(cols), coord_bits(rows + 1), put_layout(word_bytes).size)


def noc_port_signature(word_bytes, rows=1, cols=1):
    """One NoC port of a core, seen from the core: ``o``, the flits it sends, and ``i``,
    the flits it receives, streams of :func:`core_flit_layout`."""
    layout = core_flit_layout(word_bytes, rows, cols)
    return wiring.Signature({
        "o": Out(stream.Signature(layout)),
        "i": In(stream.Signature(layout)),
    })


def noc_signature(word_bytes, vmm_rows, rows=1, cols=1):
    """The four NoC ports of a core, seen from the core, by name
    (:data:`rtl.spec.isa.NOC_PORTS`: ``anoc``, ``pnoc``, ``mnoc``, ``inoc``): the put
    ports (:data:`rtl.spec.isa.PUT_PORTS`) each a :func:`noc_port_signature`, the PNoC a
    :func:`rtl.core.steps.pnoc_port_signature` of ``vmm_rows`` sums."""
    return wiring.Signature({
        name: Out(pnoc_port_signature(vmm_rows) if name == "pnoc"
                  else noc_port_signature(word_bytes, rows, cols))
        for name in NOC_PORTS})


class NocEngine(wiring.Component):
    """T4, T6 or T7: one put port, its SEND and its receive side (docs/architecture.md,
    7.5).

    SEND: a point is taken when the flit queue (4 entries) has room for it and for the
    reads in flight; the MEM word at its source address arrives ``mem_latency`` cycles
    later and is queued as a flit: the word, the point's destination address (the receiver's MEM),
    ``signal`` (and ``start``) on the last point when the instruction sets it, ``weight``
    on every point when it sets it, and the instruction's rectangle ``x0..x1``,
    ``y0..y1``; ``port.o`` offers the oldest queued flit.

    Receive: ``port.i`` feeds a FIFO of :data:`rtl.spec.isa.NOC_IN_DEPTH` flits (ready
    while not full; a flit lands in a register first, :class:`Queue`'s ``landing``, with
    the same timing); its head is written to MEM through ``put`` (a requester that waits
    for its bank) unless ``hold`` (the loader is reading a program image); a written put with
    ``signal`` counts its counter up through ``signal`` in the same cycle, or with
    ``mem_latency`` 2 in the next (when the registered write is done; this also keeps the
    puts' ``ready``, decided against every other requester, out of the counters' paths). With
    ``starts`` (the INoC's engine), a put with ``start`` waits until ``idle`` (the core
    is not running), is written, and the next cycle ``launch`` runs the image at its
    address (``entry``); other engines write it as any put. With ``weights`` (the MNoC's
    engine), a put with ``weight`` at the FIFO's head is never written: ``weight`` offers
    its data (valid while it is the head) and it leaves the FIFO when T0's weight engine
    takes it; the flits behind it wait. Other engines write it as any put.

    Latency: ``mem_latency + 1`` cycles from a SEND point to its flit at ``port.o``; a flit taken at
    ``port.i`` can be written to MEM, or offered at ``weight``, the next cycle.
    Throughput: one flit a cycle each way (one weight a cycle to T0).

    Parameters
    ----------
    word_bytes : int
        Bytes of a MEM word (a flit's data).
    rows, cols : int
        The array's size (the flits' coordinate widths).
    starts : bool
        Honour ``start`` puts.
    weights : bool
        Honour ``weight`` puts: hand them to T0 through ``weight``.
    mem_latency : int
        Cycles from a MEM read to its data (the unified memory's ``latency``).
    addr_bits : int
        Bits of the points' addresses (the thread's generators': ``engine_signature``).

    Members
    -------
    thread : In(engine_signature(addr_bits))
    mem : Out(mem_port_signature(word_bytes))
        SEND's reads.
    put : Out(mem_port_signature(word_bytes, ready=True))
        The receive side's writes.
    signal : Out(signal_signature())
    hold : In(1)
    idle : In(1)
    launch : Out(1)
    entry : Out(ADDR_BITS)
    port : Out(noc_port_signature(word_bytes, rows, cols))
    weight : Out(stream.Signature(8 * word_bytes))
        Only with ``weights``: the data of the weight put at the FIFO's head.
    """

    def __init__(self, word_bytes, rows=1, cols=1, *, starts=False, weights=False,
                 mem_latency=1, addr_bits=ADDR_BITS):
        self._word = word_bytes
        self._latency = mem_latency
        self._starts = starts
        self._weights = weights
        self._layout = core_flit_layout(word_bytes, rows, cols)
        members = {
            "thread": In(engine_signature(addr_bits)),
            "mem":    Out(mem_port_signature(word_bytes)),
            "put":    Out(mem_port_signature(word_bytes, ready=True)),
            "signal": Out(signal_signature()),
            "hold":   In(1),
            "idle":   In(1),
            "launch": Out(1),
            "entry":  Out(ADDR_BITS),
            "port":   Out(noc_port_signature(word_bytes, rows, cols)),
        }
        if weights:
            members["weight"] = Out(stream.Signature(8 * word_bytes))
        super().__init__(members)

    @property
    def word_bytes(self):
        return self._word

    def elaborate(self, platform):
        m = Module()
        word = self._word
        wbits = (word - 1).bit_length()
        points = self.thread.points
        p = points.p
        send = p.instr.f.send

        # SEND.
        m.submodules.queue = queue = Queue(self._layout, 4)
        flit = Signal(self._layout)    # the point's flit, but its data
        flit_put = put_layout(word)(flit.payload)
        take = Signal()
        arrived, head_bits, inflight = read_stages(m, take, flit, self._latency, "read")
        m.d.comb += [take.eq(points.valid & (p.instr.op == Op.SEND)
                             & (queue.level + inflight < queue.depth)),
                     points.ready.eq(take), self.mem.en.eq(take), self.mem.addr.eq(p.src),
                     flit_put.addr.eq(p.dst[wbits:]),
                     flit_put.signal.eq(send.signal & p.last),
                     flit_put.ctr.eq(send.ctr),
                     flit_put.start.eq(send.start & p.last),
                     flit_put.weight.eq(send.weight),
                     flit.dest.x0.eq(send.x0), flit.dest.x1.eq(send.x1),
                     flit.dest.y0.eq(send.y0), flit.dest.y1.eq(send.y1)]
        head = self._layout(head_bits)   # the flit whose data arrives
        m.d.comb += [queue.w.valid.eq(arrived), queue.w.p.eq(head),
                     put_layout(word)(queue.w.p.payload).data.eq(self.mem.rdata),
                     queue.w.p.last.eq(1)]
        wiring.connect(m, queue=queue.r, engine=wiring.flipped(self.port.o))
        m.d.comb += self.thread.idle.eq((inflight == 0) & ~queue.r.valid)

        # Receive.
        # (The flits land in a register first: the mesh router's arbitration drives no
        # more than that register, not the inbox's level and memory: docs/fpga.md, b12k.)
        m.submodules.inbox = inbox = Queue(self._layout, NOC_IN_DEPTH, landing=True)
        wiring.connect(m, port=wiring.flipped(self.port.i), inbox=inbox.w)
        put = put_layout(word)(inbox.r.p.payload)
        write = Signal()
        wait = put.start & ~self.idle if self._starts else C(0, 1)   # a start waits
        weight = put.weight if self._weights else C(0, 1)            # never written
        m.d.comb += [self.put.en.eq(inbox.r.valid & ~self.hold & ~wait & ~weight),
                     self.put.we.eq(1),
                     self.put.addr.eq(put.addr << wbits), self.put.wdata.eq(put.data),
                     self.put.mask.eq((1 << word) - 1),
                     write.eq(self.put.en & self.put.ready)]
        if self._latency == 1:
            m.d.comb += [self.signal.signal.eq(write & put.signal), self.signal.ctr.eq(put.ctr)]
        else:   # the write is done, and counts, at the end of the next cycle
            m.d.sync += [self.signal.signal.eq(write & put.signal), self.signal.ctr.eq(put.ctr)]
        if self._weights:   # a weight put leaves the FIFO when T0 takes it
            m.d.comb += [self.weight.valid.eq(inbox.r.valid & weight),
                         self.weight.payload.eq(put.data),
                         inbox.r.ready.eq(write | (self.weight.valid & self.weight.ready))]
        else:
            m.d.comb += inbox.r.ready.eq(write)
        if self._starts:   # the image at the start put's address runs the next cycle
            m.d.sync += [self.launch.eq(write & put.start), self.entry.eq(put.addr << wbits)]
        return m
