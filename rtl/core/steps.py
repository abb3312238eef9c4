"""T1's engine: VMM steps from the unified memory and the partial-sum buffer or the PNoC,
results back to the partial-sum buffer or out on the PNoC (SSTREAM)."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from ..spec.isa import ADDR_BITS, PNOC_DEPTH
from ..vmm import result_layout, step_layout
from .counters import CTR_BITS, signal_signature
from .memory import mem_port_signature, read_stages
from .queue import Queue, RegisterQueue
from .thread import engine_signature

__all__ = ["psb_layout", "pnoc_flit_layout", "pnoc_port_signature", "StepEngine"]


def psb_layout(rows):
    """A partial-sum buffer entry: ``rows`` int32 sums."""
    return data.ArrayLayout(signed(32), rows)


def pnoc_flit_layout(rows):
    """A flit a core sends on its PNoC link: ``sums``, a VMM result (``rows`` int32), and
    ``dir``, the neighbour it goes to (:data:`rtl.spec.isa.DIRECTIONS`: 0 north, 1 east,
    2 south, 3 west)."""
    return data.StructLayout({"sums": psb_layout(rows), "dir": 2})


def pnoc_port_signature(rows):
    """A core's PNoC port, seen from the core: ``o``, a stream of
    :func:`pnoc_flit_layout` (to the neighbour each flit names), and ``i``, a stream of
    :func:`psb_layout` (partial sums from a neighbour)."""
    return wiring.Signature({
        "o": Out(stream.Signature(pnoc_flit_layout(rows))),
        "i": In(stream.Signature(psb_layout(rows))),
    })


class StepEngine(wiring.Component):
    """T1: for each point of an SSTREAM, a VMM step of the activations at the point's
    MEM source address and the partial sums of its PSB entry (the destination address,
    modulo ``psb_entries``), or with ``pin`` the next partial sums at the PNoC input; zero
    for the instruction's first ``zero`` points. The step's result is written back to
    that entry, or with ``pout`` queued at the PNoC output for neighbour ``dir``.

    A point is taken when the step queue (4 entries) has room for it and for the reads in
    flight, fewer than 12 results are awaited, no awaited PSB write is for the same PSB
    entry (the interlock: a step sees every earlier step's write), with ``pin`` (past the
    first ``zero`` points) the PNoC input FIFO (:data:`rtl.spec.isa.PNOC_DEPTH` vectors)
    is not empty, and with ``pout`` fewer than ``PNOC_DEPTH`` results are queued at or on
    their way to the PNoC output FIFO (its room is reserved: results are always
    accepted). MEM is read, and the PNoC input's head taken, as it is taken, and the PSB
    ``mem_latency - 1`` cycles later; the step is queued when the MEM data arrives,
    ``mem_latency`` cycles after it is taken; ``steps`` offers the oldest queued step. Results
    are written to the PSB, or queued at the PNoC output, as they arrive; ``pnoc.o``
    offers the oldest queued result. The engine is idle when nothing is in flight and
    the PNoC output FIFO is empty.

    The last point of an SSTREAM with ``signal`` set raises ``signal`` (counter ``ctr``)
    in the cycle its result is written, so a thread waiting on the counter sees the whole
    stream's results in the PSB.

    Latency: ``mem_latency + 1`` cycles from a point to its step at ``steps``; a result
    is written in the cycle it arrives (at ``pnoc.o`` the next cycle). Throughput: one
    step a cycle, one vector a cycle each way on the PNoC.

    Parameters
    ----------
    word_bytes : int
        Bytes of a MEM word.
    rows, cols : int
        The VMM's rows and byte columns.
    psb_entries : int
        Entries of the partial-sum buffer.
    mem_latency : int
        Cycles from a MEM read to its data (the unified memory's ``latency``).
    addr_bits : int
        Bits of the points' addresses (the thread's generators': ``engine_signature``).

    Members
    -------
    thread : In(engine_signature(addr_bits))
    mem : Out(mem_port_signature(word_bytes))
    steps : Out(stream.Signature(step_layout(rows, cols)))
    results : In(stream.Signature(result_layout(rows)))
    psb_read : In(ReadPort.Signature(addr_width=log2(psb_entries), shape=psb_layout(rows)))
        A synchronous read port of the PSB (partial sums).
    psb_write : In(WritePort.Signature(addr_width=log2(psb_entries), shape=psb_layout(rows)))
        The PSB's write port (results).
    signal : Out(signal_signature())
        To the counters.
    pnoc : Out(pnoc_port_signature(rows))
        The PNoC link: partial sums out to a neighbour and in from one.
    """

    def __init__(self, word_bytes, rows, cols, psb_entries, mem_latency=1, *,
                 addr_bits=ADDR_BITS):
        self._word, self._rows, self._cols, self._psb = word_bytes, rows, cols, psb_entries
        self._latency = mem_latency
        pbits = (psb_entries - 1).bit_length()
        super().__init__({
            "thread":    In(engine_signature(addr_bits)),
            "mem":       Out(mem_port_signature(word_bytes)),
            "steps":     Out(stream.Signature(step_layout(rows, cols))),
            "results":   In(stream.Signature(result_layout(rows))),
            "psb_read":  In(ReadPort.Signature(addr_width=pbits, shape=psb_layout(rows))),
            "psb_write": In(WritePort.Signature(addr_width=pbits, shape=psb_layout(rows))),
            "signal":    Out(signal_signature()),
            "pnoc":      Out(pnoc_port_signature(rows)),
        })

    @property
    def word_bytes(self):
        return self._word

    @property
    def rows(self):
        return self._rows

    @property
    def cols(self):
        return self._cols

    @property
    def psb_entries(self):
        return self._psb

    def elaborate(self, platform):
        m = Module()
        pbits = (self._psb - 1).bit_length()
        points = self.thread.points
        sstream = points.p.instr.f.sstream
        # The step queue: the activations in a queue of their own whose oldest entry is a
        # register (no LUT RAM read before the VMM's operand multiplexers: docs/fpga.md),
        # the partial sums beside them; the two are pushed and popped together.
        step_rest = data.StructLayout({"psum": step_layout(self._rows, self._cols)["psum"].shape,
                                       "last": 1})
        m.submodules.queue = queue = Queue(step_rest, 4)
        m.submodules.acts = acts = Queue(8 * self._cols, 4, head_reg=True)
        # The PSB entries of the steps whose results are awaited, oldest first, with
        # whether the result is written there (not sent on the PNoC).
        tag_layout = data.StructLayout({"entry": pbits, "psb": 1})
        m.submodules.tags = tags = RegisterQueue(tag_layout, 12, searchable="ahead")
        # Beside them: whether each result ends a signalling SSTREAM, and its counter;
        # whether it goes out on the PNoC, and to which neighbour.
        sig_layout = data.StructLayout({"signal": 1, "ctr": CTR_BITS, "pout": 1, "dir": 2})
        m.submodules.sigs = sigs = Queue(sig_layout, 12)
        # The PNoC's FIFOs; ``reserved`` counts the output's entries queued or promised.
        m.submodules.pin = pin = Queue(psb_layout(self._rows), PNOC_DEPTH)
        m.submodules.pout = pout = Queue(pnoc_flit_layout(self._rows), PNOC_DEPTH)
        wiring.connect(m, pnoc=wiring.flipped(self.pnoc.i), pin=pin.w)
        wiring.connect(m, pout=pout.r, pnoc=wiring.flipped(self.pnoc.o))
        reserved = Signal(range(PNOC_DEPTH + 1))

        # Stage 0: the MEM read; the step's flags (and the PNoC input's head) travel beside
        # it to its data. The PSB is read in the cycle before the data arrives.
        step_layout_ = data.StructLayout({"zero": 1, "pin": 1, "last": 1,
                                          "pin_sums": psb_layout(self._rows)})
        step_now = Signal(step_layout_)
        take = Signal()
        arrived, step_bits, inflight = read_stages(m, take, step_now, self._latency, "read")
        step = step_layout_(step_bits)   # of the step whose data arrives
        phase = Signal(16)
        index = points.p.index
        first = points.p.first   # the stream's first point (index 0)
        phase_now = Mux(first, 0, phase)
        entry = points.p.dst[:pbits]
        if self._latency == 1:
            m.d.comb += self.psb_read.addr.eq(entry)
        else:   # the entry of the point taken the cycle before
            entry_q = Signal(pbits)
            with m.If(take):
                m.d.sync += entry_q.eq(entry)
            m.d.comb += self.psb_read.addr.eq(entry_q)
        # Nothing on the path from the offered point to ``take`` (and back to the thread's
        # next point) looks at the point's values: whether it is past the first ``zero``
        # points and the PSB interlock's search are made a cycle ahead. ``index >=
        # zero``: ``zero == 0`` at the first point, else as registered at the last take.
        zbits = len(sstream.zero)
        past_zero_next = Signal()
        after = index + 1
        with m.If(take):
            m.d.sync += past_zero_next.eq(after[zbits:].any() | (after[:zbits] >= sstream.zero))
        past_zero = Mux(first, sstream.zero == 0, past_zero_next)
        need_pin = sstream.pin & past_zero
        # The interlock: the tags are searched for the next point's entry (the thread
        # says which it is a cycle ahead: ``ahead``).
        ahead = self.thread.ahead
        m.d.comb += [tags.load.eq(ahead.start),
                     tags.probe_load.entry.eq(ahead.first_dst[:pbits]), tags.probe_load.psb.eq(1),
                     tags.probe_push.entry.eq(ahead.next_dst[:pbits]), tags.probe_push.psb.eq(1)]
        room = (queue.level + inflight < queue.depth) & tags.w.ready & ~tags.holds \
            & (~sstream.pout | (reserved < PNOC_DEPTH)) & (~need_pin | pin.r.valid)
        is_last = phase_now == sstream.period - 1
        m.d.comb += [take.eq(points.valid & room), points.ready.eq(room),
                     self.mem.en.eq(take), self.mem.addr.eq(points.p.src),
                     tags.w.valid.eq(take), tags.w.p.entry.eq(entry),
                     tags.w.p.psb.eq(~sstream.pout),
                     sigs.w.valid.eq(take),
                     sigs.w.p.signal.eq(points.p.last & sstream.signal),
                     sigs.w.p.ctr.eq(sstream.ctr),
                     sigs.w.p.pout.eq(sstream.pout), sigs.w.p.dir.eq(sstream.dir),
                     pin.r.ready.eq(take & need_pin),
                     step_now.zero.eq(~past_zero), step_now.pin.eq(need_pin),
                     step_now.last.eq(is_last), step_now.pin_sums.eq(pin.r.p)]
        m.d.sync += reserved.eq(reserved + (take & sstream.pout)
                                - (self.pnoc.o.valid & self.pnoc.o.ready))
        with m.If(take):
            m.d.sync += phase.eq(Mux(is_last, 0, phase_now + 1))

        # The step is queued as its data arrives.
        m.d.comb += [queue.w.valid.eq(arrived), acts.w.valid.eq(arrived),
                     acts.w.p.eq(self.mem.rdata[:8 * self._cols]),
                     queue.w.p.psum.eq(Mux(step.zero, 0,
                                           Mux(step.pin, step.pin_sums.as_value(),
                                               self.psb_read.data.as_value()))),
                     queue.w.p.last.eq(step.last)]
        m.d.comb += [self.steps.valid.eq(queue.r.valid), self.steps.p.data.eq(acts.r.p),
                     self.steps.p.psum.eq(queue.r.p.psum), self.steps.p.last.eq(queue.r.p.last),
                     queue.r.ready.eq(self.steps.ready), acts.r.ready.eq(self.steps.ready)]

        # Results back to the PSB or out on the PNoC, in order.
        m.d.comb += [self.results.ready.eq(1),
                     self.psb_write.en.eq(self.results.valid & ~sigs.r.p.pout),
                     self.psb_write.addr.eq(tags.r.p.entry),
                     pout.w.valid.eq(self.results.valid & sigs.r.p.pout),
                     pout.w.p.sums.eq(self.results.p.sums), pout.w.p.dir.eq(sigs.r.p.dir),
                     self.psb_write.data.eq(self.results.p.sums),
                     tags.r.ready.eq(self.results.valid),
                     sigs.r.ready.eq(self.results.valid),
                     self.signal.signal.eq(self.results.valid & sigs.r.p.signal),
                     self.signal.ctr.eq(sigs.r.p.ctr)]
        m.d.comb += self.thread.idle.eq((inflight == 0) & ~queue.r.valid & ~tags.r.valid
                                        & ~pout.r.valid)
        return m
