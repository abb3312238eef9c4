"""The threads of a core as the golden core and the cycle model both run them (mirrors
``rtl/core/thread.py``): the program counter, the loop stack, the four address
generators and the RUN / STREAM / DRAIN / IDLE states, one control instruction a cycle.

The address generators are streamed: a stream instruction walks its points with a
:class:`Walk`, a cursor of four indices (O(1) memory, like the RTL's registers), so a
generator of ``65535**4`` points costs nothing until its points are taken one by one.

What a thread does in each state (the scheduler, :class:`sw.golden.cycles.CycleModel`,
decides grants and engine readiness):

- RUN: executes the instruction at ``pc`` in one cycle; a WAIT stays until granted; a
  stream instruction starts its walk and goes to STREAM.
- STREAM: offers one point a cycle (``src``, ``dst``, ``n``, ``last``) until the last is
  accepted, then DRAIN; or, for an SSTREAM with ``signal`` set, RUN at the next
  instruction (its engine counts the counter up when the stream is done).
- DRAIN: waits until its engine is idle, then goes on with the next instruction.

END also waits until the thread's engine is idle (the scheduler holds it).
- IDLE: ended (or never started: an empty program).
"""

from math import prod

from rtl.spec.codes import RESERVED_PRECISION
from rtl.spec.isa import AG_DIMS, AGS, COUNTER_BITS, LOOP_DEPTH, STREAMS, THREAD_OF, Op, uses_d

__all__ = ["signals_when_done", "CoreError", "Deadlock", "CounterOverflow", "Unfinished",
           "AddressGenerator", "Walk", "Thread", "RUN", "STREAM", "DRAIN", "IDLE", "STATE_NAMES"]

RUN, STREAM, DRAIN, IDLE = range(4)
STATE_NAMES = ("RUN", "STREAM", "DRAIN", "IDLE")


def signals_when_done(ins):
    """Whether stream instruction ``ins`` lets its thread go on after its last point, its
    engine signalling counter ``ins["ctr"]`` when the stream is done (an SSTREAM with
    ``signal`` set) instead of the thread draining the engine."""
    return ins.op == Op.SSTREAM and bool(ins["signal"])


class CoreError(RuntimeError):
    """A program did something the hardware cannot: an access outside a memory, a
    deadlock, a loop stack overflow, a counter overflow."""


class Deadlock(CoreError):
    """No thread can ever progress again (docs/architecture.md, 7.5, "Deadlock").

    Attributes
    ----------
    cycle : int
        The core's ``cycles`` count in the first cycle in which nothing moved (program
        load included, as the RTL counts).
    threads : list of (int, int, str, str)
        Each thread that has not ended: its index, ``pc``, state and instruction.
    counters : list of int
        The counters' values.
    """

    def __init__(self, cycle, threads, counters, reasons):
        self.cycle, self.threads, self.counters = cycle, threads, list(counters)
        waiting = "; ".join(f"T{t} at {pc}: {ins} ({reason})"
                            for (t, pc, _, ins), reason in zip(threads, reasons, strict=True))
        values = ", ".join(f"{c}={v}" for c, v in enumerate(counters) if v) or "all 0"
        super().__init__(f"deadlock at cycle {cycle}: {waiting}; counters: {values}")


class Unfinished(CoreError):
    """A run did not end within the cycles it was given (a guard: a run ends or
    deadlocks on its own)."""


class CounterOverflow(CoreError):
    """A SIGNAL took a counter past ``2**COUNTER_BITS - 1``.

    Attributes
    ----------
    cycle : int
        The core's ``cycles`` count in the cycle of the SIGNAL.
    counter : int
    threads : list of (int, int or None)
        The signalling threads and their ``pc``; ``(t, None)`` is a remote SIGNAL (a put
        with ``signal`` set) received on the NoC port of thread ``t``.
    """

    def __init__(self, cycle, counter, threads, value):
        self.cycle, self.counter, self.threads = cycle, counter, threads
        who = ", ".join(f"T{t} at {pc}" if pc is not None else f"a put on T{t}'s port"
                        for t, pc in threads)
        super().__init__(f"counter overflow at cycle {cycle}: SIGNAL ctr={counter} by {who} "
                         f"takes counter {counter} to {value}, past its "
                         f"{COUNTER_BITS} bits")


class AddressGenerator:
    """One address generator: a base and four dimensions of ``(count, stride)``,
    dimension 0 innermost."""

    __slots__ = ("base", "dims")

    def __init__(self, base=0):
        self.base = base
        self.dims = [(1, 0)] * AG_DIMS

    @property
    def size(self):
        """The number of points: the product of the counts."""
        return prod(count for count, _ in self.dims)

    def walk(self):
        return Walk(self)


class Walk:
    """A cursor over an address generator's points, in the RTL's order: ``addr`` is the
    current point; :meth:`advance` steps to the next (the innermost dimension that has
    not reached its end moves on, the ones inside it restart)."""

    __slots__ = ("counts", "strides", "idx", "addr")

    def __init__(self, ag):
        self.counts = [count for count, _ in ag.dims]
        self.strides = [stride for _, stride in ag.dims]
        self.idx = [0] * AG_DIMS
        self.addr = ag.base

    def advance(self):
        idx, counts, strides = self.idx, self.counts, self.strides
        for k in range(AG_DIMS):
            if idx[k] != counts[k] - 1:
                idx[k] += 1
                self.addr += strides[k]
                return
            self.addr -= idx[k] * strides[k]
            idx[k] = 0

    def __iter__(self):
        """The remaining points (for tests and small streams)."""
        while True:
            yield self.addr
            if all(i == c - 1 for i, c in zip(self.idx, self.counts, strict=True)):
                return
            self.advance()


class Thread:
    """One thread's sequencer. ``program`` is a list of :class:`~rtl.spec.isa.Instr`.

    In STREAM, the point on offer is ``src.addr``, ``dst.addr`` (``dst`` is ``None`` for
    an instruction that does not walk a destination, :func:`rtl.spec.isa.uses_d`), its
    index ``n`` of ``count`` points, and ``instr``.
    """

    __slots__ = ("index", "program", "state", "pc", "loops", "ags", "instr", "src", "dst",
                 "n", "count")

    def __init__(self, index, program):
        self.index = index
        self.program = program
        self.state = RUN if program else IDLE
        self.pc = 0
        self.loops = []
        self.ags = [AddressGenerator() for _ in range(AGS)]
        self.instr = program[0] if program else None
        self.src = self.dst = None
        self.n = self.count = 0

    def error(self, message):
        return CoreError(f"T{self.index} at {self.pc}: {message}")

    def _goto(self, pc):
        if pc >= len(self.program):
            self.pc = pc
            raise self.error("ran past the end of its program")
        self.pc = pc
        self.instr = self.program[pc]

    def execute(self, granted):
        """One cycle in RUN: execute ``instr`` (a WAIT goes on only if ``granted``)."""
        ins = self.instr
        op = ins.op
        if op == Op.WAIT:
            if granted:
                self._goto(self.pc + 1)
        elif op == Op.END:
            self.state = IDLE
        elif op == Op.LOOP:
            if ins["count"] == 0:
                raise self.error("LOOP count 0")
            if len(self.loops) == LOOP_DEPTH:
                raise self.error(f"loops nested deeper than {LOOP_DEPTH}")
            self.loops.append([self.pc + 1, ins["count"]])
            self._goto(self.pc + 1)
        elif op == Op.ENDL:
            if not self.loops:
                raise self.error("ENDL without LOOP")
            top = self.loops[-1]
            if top[1] > 1:
                top[1] -= 1
                self._goto(top[0])
            else:
                self.loops.pop()
                self._goto(self.pc + 1)
        elif op == Op.AGBASE:
            self.ags[ins["g"]] = AddressGenerator(ins["base"])
            self._goto(self.pc + 1)
        elif op == Op.AGDIM:
            if ins["count"] == 0:
                raise self.error("AGDIM count 0")
            self.ags[ins["g"]].dims[ins["d"]] = (ins["count"], ins["stride"])
            self._goto(self.pc + 1)
        elif op == Op.AGADD:
            self.ags[ins["g"]].base += ins["delta"]
            self._goto(self.pc + 1)
        elif op in STREAMS:
            self._start_stream(ins)
        else:   # NOP, SIGNAL, NEXT (the scheduler counts the SIGNAL, records the NEXT)
            self._goto(self.pc + 1)

    def _start_stream(self, ins):
        op = ins.op
        if self.index not in THREAD_OF[op]:
            owners = ", ".join(f"T{t}" for t in THREAD_OF[op])
            raise self.error(f"{op.name} runs only on {owners}")
        if op == Op.SSTREAM and ins["period"] == 0:
            raise self.error("SSTREAM period 0")
        if op in (Op.VSTORE, Op.VPOST) and ins["prec"] == RESERVED_PRECISION:
            raise self.error(f"{op.name} prec {RESERVED_PRECISION} is reserved")
        src = self.ags[ins["s"]]
        self.count = src.size
        self.src = src.walk()
        self.dst = None
        if uses_d(ins):
            dst = self.ags[ins["d"]]
            if dst.size != self.count:
                raise self.error(f"{op.name} walks {self.count} source and {dst.size} "
                                 f"destination points")
            self.dst = dst.walk()
        self.n = 0
        self.state = STREAM

    def accepted(self):
        """The point on offer was accepted: the next one, or DRAIN after the last."""
        self.n += 1
        if self.n == self.count:
            if signals_when_done(self.instr):
                self.state = RUN
                self.src = self.dst = None
                self._goto(self.pc + 1)
            else:
                self.state = DRAIN
        else:
            self.src.advance()
            if self.dst is not None:
                self.dst.advance()

    def drained(self):
        """The engine is idle after the stream: on to the next instruction."""
        self.state = RUN
        self.src = self.dst = None
        self._goto(self.pc + 1)

    def describe(self):
        """``(index, pc, state name, instruction text)``."""
        ins = self.program[self.pc] if self.pc < len(self.program) else "(past the end)"
        return (self.index, self.pc, STATE_NAMES[self.state], str(ins))
