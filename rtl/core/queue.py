"""The engines' queues: a typed stream wrapper of :class:`amaranth.lib.fifo.SyncFIFO`, and
a register queue whose entries can all be searched."""

from amaranth import *
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Queue", "RegisterQueue"]


class Queue(wiring.Component):
    """A first-in first-out queue of ``depth`` entries of ``shape``: a
    :class:`amaranth.lib.fifo.SyncFIFO` with typed streams.

    An entry pushed at a clock edge is at ``r`` (if the queue was empty) from the next
    cycle, and ``level`` counts it from that cycle; ``w.ready`` is low only when the queue
    is full (a pop does not make room for a push in the same cycle). (``SyncFIFOBuffered``
    would add a cycle before an entry is readable, and change the engines' timing.)

    Latency: 1 cycle from a ``w`` transfer to ``r.valid``. Throughput: one push and one
    pop a cycle.

    Parameters
    ----------
    shape : shape-castable
        Shape of an entry.
    depth : int
        Entries.

    Members
    -------
    w : In(stream.Signature(shape))
    r : Out(stream.Signature(shape))
    level : Out(range(depth + 1))
        Entries held.
    """

    def __init__(self, shape, depth):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        self._shape, self._depth = shape, depth
        super().__init__({
            "w":     In(stream.Signature(shape)),
            "r":     Out(stream.Signature(shape)),
            "level": Out(range(depth + 1)),
        })

    @property
    def shape(self):
        return self._shape

    @property
    def depth(self):
        return self._depth

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = queue = fifo.SyncFIFO(width=Shape.cast(self._shape).width,
                                                  depth=self._depth)
        w, r = queue.w_stream, queue.r_stream
        m.d.comb += [w.valid.eq(self.w.valid), w.payload.eq(self.w.payload),
                     self.w.ready.eq(w.ready),
                     self.r.valid.eq(r.valid), self.r.payload.eq(r.payload),
                     r.ready.eq(self.r.ready),
                     self.level.eq(queue.level)]
        return m


class RegisterQueue(wiring.Component):
    """A queue of ``depth`` registers, read from the first register, optionally searchable.

    The same timing as :class:`Queue`: an entry pushed at a clock edge is at ``r`` (if the
    queue was empty) from the next cycle, and ``level`` counts it from that cycle; a push
    and a pop in one cycle keep the level. ``w.ready`` is low only when the queue is full;
    a pop does not make room for a push in the same cycle.

    Unlike :class:`Queue` (a :class:`amaranth.lib.fifo.SyncFIFO`, whose entries are in a
    memory) every entry is a register, so all of them can be compared with ``probe`` in
    one cycle: the step engine's partial-sum interlock needs that. (``SyncFIFOBuffered``
    would also add a cycle before an entry is readable.)

    Latency: 1 cycle from a ``w`` transfer to ``r.valid``. Throughput: one push and one
    pop a cycle.

    Parameters
    ----------
    shape : shape-castable
        Shape of an entry.
    depth : int
        Entries.
    searchable : bool
        Add ``probe`` and ``holds``.

    Members
    -------
    w : In(stream.Signature(shape))
        Entries in.
    r : Out(stream.Signature(shape))
        The oldest entry.
    level : Out(range(depth + 1))
        Entries held.
    probe : In(shape)
        Only if ``searchable``: a value to look for.
    holds : Out(1)
        Only if ``searchable``: some entry held equals ``probe`` (combinational).
    """

    def __init__(self, shape, depth, *, searchable=False):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        self._shape, self._depth, self._searchable = shape, depth, searchable
        members = {
            "w":     In(stream.Signature(shape)),
            "r":     Out(stream.Signature(shape)),
            "level": Out(range(depth + 1)),
        }
        if searchable:
            members["probe"] = In(shape)
            members["holds"] = Out(1)
        super().__init__(members)

    @property
    def shape(self):
        return self._shape

    @property
    def depth(self):
        return self._depth

    @property
    def searchable(self):
        return self._searchable

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        regs = [Signal(self._shape, name=f"entry{k}") for k in range(depth)]
        push = self.w.valid & self.w.ready
        pop  = self.r.valid & self.r.ready

        m.d.comb += [self.w.ready.eq(self.level != depth),
                     self.r.valid.eq(self.level != 0),
                     self.r.payload.eq(regs[0])]
        # A pop shifts every entry one register towards the head; a push writes the first
        # free register after the shift.
        with m.If(pop):
            m.d.sync += [regs[k].eq(regs[k + 1]) for k in range(depth - 1)]
        slot = Mux(pop, self.level - 1, self.level)
        for k in range(depth):
            with m.If(push & (slot == k)):
                m.d.sync += regs[k].eq(self.w.payload)
        m.d.sync += self.level.eq(self.level + push - pop)

        if self._searchable:
            m.d.comb += self.holds.eq(Cat((Value.cast(regs[k]) == Value.cast(self.probe))
                                          & (k < self.level)
                                          for k in range(depth)).any())
        return m
