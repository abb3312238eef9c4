"""The engines' queues: a first-in first-out queue in LUT RAM with the timing of
:class:`amaranth.lib.fifo.SyncFIFO`, and a register queue whose entries can all be
searched."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["Queue", "RegisterQueue"]


class Queue(wiring.Component):
    """A first-in first-out queue of ``depth`` entries of ``shape``, in a memory (LUT RAM)
    read combinationally at the oldest entry: the function and timing of
    :class:`amaranth.lib.fifo.SyncFIFO`, with typed streams.

    An entry pushed at a clock edge is at ``r`` (if the queue was empty) from the next
    cycle, and ``level`` counts it from that cycle; ``w.ready`` is low only when the queue
    is full (a pop does not make room for a push in the same cycle). (``SyncFIFOBuffered``
    would add a cycle before an entry is readable, and change the engines' timing.)

    Unlike ``SyncFIFO``'s, the next level and pointers are formed beside the push and the
    pop, which only select among them: an engine's ``ready``, often late in its cycle
    (a requester that waits for its memory bank), is one multiplexer from the registers,
    not an adder (docs/fpga.md).

    With ``head_reg`` the oldest entry is also held in a register, which ``r.payload``
    shows: the memory is read at the entry after it, into that register at a pop, so
    that nothing of the memory's read is on the paths from ``r.payload`` (the same
    timing; one register and one multiplexer an entry bit more).

    With ``landing`` a pushed entry lands first in a register of its own, loaded at every
    clock edge from ``w.payload`` with no enable, and goes into the memory the cycle after
    (``r.payload`` shows the register while the memory is empty; a landed entry popped at
    once is still written, and passed): nothing of ``w`` but ``valid``, through one gate,
    reaches the level, the pointers or the memory's write port, so a producer far away (a
    mesh router) drives only that register, and the memory's write comes from registers
    alone. The same timing, ``level`` counting every entry held, the landed one included;
    one register and one multiplexer an entry bit more.

    Latency: 1 cycle from a ``w`` transfer to ``r.valid``. Throughput: one push and one
    pop a cycle.

    Parameters
    ----------
    shape : shape-castable
        Shape of an entry.
    depth : int
        Entries.
    head_reg : bool
        ``r.payload`` from a register.
    landing : bool
        A pushed entry lands in a register first (not with ``head_reg``).

    Members
    -------
    w : In(stream.Signature(shape))
    r : Out(stream.Signature(shape))
    level : Out(range(depth + 1))
        Entries held.
    """

    def __init__(self, shape, depth, *, head_reg=False, landing=False):
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        for name, value in (("head_reg", head_reg), ("landing", landing)):
            if type(value) is not bool:
                raise ValueError(f"{name} must be True or False, not {value!r}")
        if head_reg and landing:
            raise ValueError("a Queue takes head_reg or landing, not both")
        self._shape, self._depth, self._head_reg = shape, depth, head_reg
        self._landing = landing
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

    @property
    def head_reg(self):
        return self._head_reg

    @property
    def landing(self):
        return self._landing

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        width = Shape.cast(self._shape).width
        m.submodules.storage = storage = Memory(shape=width, depth=depth, init=[])
        wp = storage.write_port()
        rp = storage.read_port(domain="comb")
        produce, consume = Signal(range(depth)), Signal(range(depth))
        level = self.level     # every entry held (with ``landing``, the landed one too)
        push = Signal()
        pop = Signal()
        m.d.comb += [self.w.ready.eq(level != depth), self.r.valid.eq(level != 0),
                     push.eq(self.w.valid & self.w.ready), pop.eq(self.r.valid & self.r.ready)]
        write, write_data = push, self.w.payload
        # The candidates, from registers alone; push and pop select.
        produce_next, consume_next = Signal(range(depth)), Signal(range(depth))
        if self._head_reg:
            # ``head`` holds the entry at ``consume`` whenever one is held: after a pop the
            # next one, in the memory if it held two (pushed before this cycle), else the
            # one pushed now; into an empty queue, the one pushed now.
            head = Signal(width)
            m.d.comb += [rp.addr.eq(consume_next), self.r.payload.eq(head)]
            with m.If(pop):
                m.d.sync += head.eq(Mux(level == 1, self.w.payload, rp.data))
            with m.Elif(level == 0):
                m.d.sync += head.eq(self.w.payload)
        elif self._landing:
            # The pushed entry lands in ``land`` (the newest), and is written to the memory
            # the cycle after whatever the reader does (there is room: ``level`` counts
            # it); popped then from the register, as the head of an empty memory, it is
            # written at ``consume`` and passed at once. So the write is from registers
            # alone, and a pop moves only ``consume``.
            landed = Signal()
            land = Signal(width, reset_less=True)
            held = Signal(range(depth + 1))         # the entries in the memory
            m.d.sync += [land.eq(self.w.payload), landed.eq(push),
                         held.eq(held + landed - pop)]
            write, write_data = landed, land
            m.d.comb += [rp.addr.eq(consume),
                         self.r.payload.eq(Mux(held == 0, land, rp.data))]
        else:
            m.d.comb += [rp.addr.eq(consume), self.r.payload.eq(rp.data)]
        m.d.comb += [wp.en.eq(write), wp.addr.eq(produce), wp.data.eq(write_data)]
        up, down = Signal(range(depth + 1)), Signal(range(depth + 1))
        m.d.comb += [produce_next.eq(Mux(produce == depth - 1, 0, produce + 1)),
                     consume_next.eq(Mux(consume == depth - 1, 0, consume + 1)),
                     up.eq(level + 1), down.eq(level - 1)]
        with m.If(write):
            m.d.sync += produce.eq(produce_next)
        with m.If(pop):
            m.d.sync += consume.eq(consume_next)
        m.d.sync += level.eq(Mux(pop, Mux(push, level, down), Mux(push, up, level)))
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
    searchable : bool or str
        ``True``: add ``probe`` and ``holds``, the search of this cycle's probe.
        ``"ahead"``: the search is made a cycle ahead, for a probe that changes only after
        a push or a ``load``: add ``load``, ``probe_load``, ``probe_push`` and ``holds``
        (a register, so that nothing of the cycle's probe or push is on its path).

    Members
    -------
    w : In(stream.Signature(shape))
        Entries in.
    r : Out(stream.Signature(shape))
        The oldest entry.
    level : Out(range(depth + 1))
        Entries held.
    probe : In(shape)
        Only if ``searchable`` is ``True``: a value to look for.
    load, probe_load, probe_push : In(1), In(shape), In(shape)
        Only with ``"ahead"``: the probe of the next cycle is ``probe_load`` after a cycle
        with ``load``, else ``probe_push`` after a cycle with a push, else this cycle's.
    holds : Out(1)
        Only if ``searchable``: some entry held equals the probe (with ``True``
        combinational; with ``"ahead"`` registered, and 0 until the first ``load``).
    """

    def __init__(self, shape, depth, *, searchable=False):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        if searchable not in (False, True, "ahead"):
            raise ValueError(f"searchable must be False, True or 'ahead', not {searchable!r}")
        self._shape, self._depth, self._searchable = shape, depth, searchable
        members = {
            "w":     In(stream.Signature(shape)),
            "r":     Out(stream.Signature(shape)),
            "level": Out(range(depth + 1)),
        }
        if searchable is True:
            members["probe"] = In(shape)
        elif searchable:
            members["load"] = In(1)
            members["probe_load"] = In(shape)
            members["probe_push"] = In(shape)
        if searchable:
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
        # ``slot == k``: the push goes to register ``k`` (after the pop's shift), from
        # comparisons of the level alone, ``pop`` selecting.
        at_slot = Signal(depth)
        m.d.comb += at_slot.eq(Cat(Mux(pop, self.level == k + 1, self.level == k)
                                   for k in range(depth)))
        for k in range(depth):
            with m.If(push & at_slot[k]):
                m.d.sync += regs[k].eq(self.w.payload)
        m.d.sync += self.level.eq(self.level + push - pop)

        if self._searchable is True:
            m.d.comb += self.holds.eq(Cat((Value.cast(regs[k]) == Value.cast(self.probe))
                                          & (k < self.level)
                                          for k in range(depth)).any())
        elif self._searchable:
            # ``hits[k]``: entry ``k`` equals the probe. For the next cycle's entries
            # (shifted by a pop, the pushed one at ``slot``) and probe, from comparisons
            # of this cycle's entries and pushed value with both candidate probes; the
            # late ``push`` and ``pop`` only select among them.
            hits = Signal(depth)
            # ``k < level + push - pop`` for each entry, from comparisons of the level
            # alone: the late ``push`` and ``pop`` select (no adder after them).
            held_next = Signal(depth)
            level = self.level
            m.d.comb += held_next.eq(Cat(
                Mux(push ^ pop, Mux(push, (level >= k) if k else C(1, 1), k + 1 < level),
                    k < level)
                for k in range(depth)))

            def next_hits(probe):
                probe = Value.cast(probe)
                eqs = [Value.cast(reg) == probe for reg in regs] + [C(0, 1)]
                pushed = Value.cast(self.w.payload) == probe
                return Cat(Mux(push & at_slot[k], pushed, Mux(pop, eqs[k + 1], eqs[k]))
                           & held_next[k] for k in range(depth))

            def next_any(probe, name):
                # ``next_hits(probe).any()`` without its per-entry multiplexers: after the
                # cycle the queue holds this cycle's entries ``pop .. level - 1`` and, with
                # a push, the pushed value, so only this cycle's level and pop mask the
                # comparisons (no next level, no slot on the path to ``holds``).
                probe = Value.cast(probe)
                held = Cat((Value.cast(regs[k]) == probe) & (k < self.level)
                           & (~pop if k == 0 else 1) for k in range(depth))
                eq_pushed = Signal(name=f"{name}_pushed")
                m.d.comb += eq_pushed.eq(Value.cast(self.w.payload) == probe)
                return held.any() | (push & eq_pushed)

            kept = Mux(pop, hits[1:], hits)   # the probe unchanged: no push, so no new entry
            new = Mux(self.load, next_hits(self.probe_load),
                      Mux(push, next_hits(self.probe_push), kept))
            any_new = Mux(self.load, next_any(self.probe_load, "load"),
                          Mux(push, next_any(self.probe_push, "push"), kept.any()))
            m.d.sync += [hits.eq(new), self.holds.eq(any_new)]
        return m
