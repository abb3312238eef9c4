"""T1's engine: VMM steps from the unified memory and the partial-sum buffer, results
back to the partial-sum buffer (SSTREAM)."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from ..vmm import result_layout, step_layout
from .counters import CTR_BITS, signal_signature
from .memory import mem_port_signature
from .queue import Queue, RegisterQueue
from .thread import engine_signature

__all__ = ["psb_layout", "StepEngine"]


def psb_layout(rows):
    """A partial-sum buffer entry: ``rows`` int32 sums."""
    return data.ArrayLayout(signed(32), rows)


class StepEngine(wiring.Component):
    """T1: for each point of an SSTREAM, a VMM step of the activations at the point's
    MEM source address and the partial sums of its PSB entry (the destination address,
    modulo ``psb_entries``; zero for the instruction's first ``zero`` points); the step's
    result is written back to that entry.

    A point is taken when the step queue (4 entries) has room for it and for the reads in
    flight, fewer than 12 results are awaited, and no awaited result is for the same PSB
    entry (the interlock: a step sees every earlier step's write). MEM and the PSB are
    read as it is taken; the step is queued the next cycle; ``steps`` offers the oldest
    queued step. Results are always accepted and written to the PSB as they arrive.

    The last point of an SSTREAM with ``signal`` set raises ``signal`` (counter ``ctr``)
    in the cycle its result is written, so a thread waiting on the counter sees the whole
    stream's results in the PSB.

    Latency: 2 cycles from a point to its step at ``steps``; a result is written in the
    cycle it arrives. Throughput: one step a cycle.

    Parameters
    ----------
    word_bytes : int
        Bytes of a MEM word.
    rows, cols : int
        The VMM's rows and byte columns.
    psb_entries : int
        Entries of the partial-sum buffer.

    Members
    -------
    thread : In(engine_signature())
    mem : Out(mem_port_signature(word_bytes))
    steps : Out(stream.Signature(step_layout(rows, cols)))
    results : In(stream.Signature(result_layout(rows)))
    psb_read : In(ReadPort.Signature(addr_width=log2(psb_entries), shape=psb_layout(rows)))
        A synchronous read port of the PSB (partial sums).
    psb_write : In(WritePort.Signature(addr_width=log2(psb_entries), shape=psb_layout(rows)))
        The PSB's write port (results).
    signal : Out(signal_signature())
        To the counters.
    """

    def __init__(self, word_bytes, rows, cols, psb_entries):
        self._word, self._rows, self._cols, self._psb = word_bytes, rows, cols, psb_entries
        pbits = (psb_entries - 1).bit_length()
        super().__init__({
            "thread":    In(engine_signature()),
            "mem":       Out(mem_port_signature(word_bytes)),
            "steps":     Out(stream.Signature(step_layout(rows, cols))),
            "results":   In(stream.Signature(result_layout(rows))),
            "psb_read":  In(ReadPort.Signature(addr_width=pbits, shape=psb_layout(rows))),
            "psb_write": In(WritePort.Signature(addr_width=pbits, shape=psb_layout(rows))),
            "signal":    Out(signal_signature()),
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
        m.submodules.queue = queue = Queue(step_layout(self._rows, self._cols), 4)
        # The PSB entries of the steps whose results are awaited, oldest first.
        m.submodules.tags = tags = RegisterQueue(pbits, 12, searchable=True)
        # Beside them: whether each result ends a signalling SSTREAM, and its counter.
        sig_layout = data.StructLayout({"signal": 1, "ctr": CTR_BITS})
        m.submodules.sigs = sigs = Queue(sig_layout, 12)

        # Stage 0: MEM and PSB reads; the step's flags are registered beside them.
        inflight = Signal()
        zero_d = Signal()
        last_d = Signal()
        phase = Signal(16)
        index = points.p.index
        phase_now = Mux(index == 0, 0, phase)
        entry = points.p.dst[:pbits]
        room = (queue.level + inflight < queue.depth) & tags.w.ready & ~tags.holds
        take = points.valid & room
        m.d.comb += [points.ready.eq(room),
                     self.mem.en.eq(take), self.mem.addr.eq(points.p.src),
                     self.psb_read.addr.eq(entry),
                     tags.probe.eq(entry), tags.w.valid.eq(take), tags.w.p.eq(entry),
                     sigs.w.valid.eq(take),
                     sigs.w.p.signal.eq(points.p.last & sstream.signal),
                     sigs.w.p.ctr.eq(sstream.ctr)]
        m.d.sync += inflight.eq(take)
        with m.If(take):
            is_last = phase_now == sstream.period - 1
            m.d.sync += [zero_d.eq(index < sstream.zero),
                         last_d.eq(is_last), phase.eq(Mux(is_last, 0, phase_now + 1))]

        # Stage 1: the step is queued.
        m.d.comb += [queue.w.valid.eq(inflight),
                     queue.w.p.data.eq(self.mem.rdata[:8 * self._cols]),
                     queue.w.p.psum.eq(Mux(zero_d, 0, self.psb_read.data.as_value())),
                     queue.w.p.last.eq(last_d)]
        wiring.connect(m, queue=queue.r, engine=wiring.flipped(self.steps))

        # Results back to the PSB, in order.
        m.d.comb += [self.results.ready.eq(1),
                     self.psb_write.en.eq(self.results.valid),
                     self.psb_write.addr.eq(tags.r.p),
                     self.psb_write.data.eq(self.results.p.sums),
                     tags.r.ready.eq(self.results.valid),
                     sigs.r.ready.eq(self.results.valid),
                     self.signal.signal.eq(self.results.valid & sigs.r.p.signal),
                     self.signal.ctr.eq(sigs.r.p.ctr)]
        m.d.comb += self.thread.idle.eq(~inflight & ~queue.r.valid & ~tags.r.valid)
        return m
