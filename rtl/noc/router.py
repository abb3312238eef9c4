"""One mesh router: five ports, XY dimension-order routing, wormhole switching, input
buffers, one round-robin order per router, and one-flit multicast forks to rectangles."""

from amaranth import *
from amaranth.lib import enum, fifo, wiring
from amaranth.lib.wiring import In, Out

from .flit import flit_layout, flit_signature

__all__ = ["Port", "PORTS", "port_signature", "Router"]


class Port(enum.IntEnum, shape=3):
    """A router's ports, in the order of its round-robin arbitration and of route masks.
    ``NORTH`` is row ``y - 1``, ``SOUTH`` row ``y + 1``, ``EAST`` column ``x + 1``, ``WEST``
    column ``x - 1``."""
    LOCAL = 0
    NORTH = 1
    EAST  = 2
    SOUTH = 3
    WEST  = 4


#: The ports' member names, in :class:`Port` order.
PORTS = ("local", "north", "east", "south", "west")


def port_signature(x_bits, y_bits, payload_bits):
    """One router port, seen from the router: ``i``, flits in, and ``o``, flits out."""
    return wiring.Signature({"i": In(flit_signature(x_bits, y_bits, payload_bits)),
                             "o": Out(flit_signature(x_bits, y_bits, payload_bits))})


class Router(wiring.Component):
    """A mesh router at column ``x``, row ``y``.

    Every input has a FIFO of ``depth`` flits (ready while not full). A head flit's
    rectangle gives its set of outputs (XY dimension order, a tree for a rectangle:
    docs/architecture.md, 9.3), computed as the flit enters the FIFO and kept beside it;
    the flit at a FIFO's head is allocated in the same cycle. An input
    whose set is all free (held by no packet in progress) claims it, and is granted the
    whole set unless a claimant earlier in the router's round-robin order wants one of
    those outputs; the order starts after the first input granted in the previous one.
    The set is held until the packet's ``last`` flit has left (wormhole). Each flit leaves
    on every output of the set, each output taking it when ready (an eager fork), and
    leaves its FIFO once all have; an output that took a ``last`` flit is free at once.
    A rectangle of more than one node must be a one-flit packet (9.4, 9.5).

    Latency: a flit accepted at an input at the end of cycle ``t`` is offered at its
    outputs in cycle ``t + 1`` when uncontended (one cycle per router). Throughput: one
    flit per input and per output per cycle; with ``depth >= 2`` a chain of routers moves
    one flit a cycle.

    Parameters
    ----------
    x, y : int
        The router's column and row.
    x_bits, y_bits : int
        Bits of a column and a row coordinate.
    payload_bits : int
        Bits of a flit's payload.
    depth : int
        Flits of each input FIFO, at least 2.

    Members
    -------
    local, north, east, south, west : Out(port_signature(x_bits, y_bits, payload_bits))
        ``i`` the flits coming in, ``o`` the flits going out.
    idle : Out(1)
        No flit is in any input FIFO and no packet is in progress (registered state).
    clear : In(1)
        Restart the round-robin order at ``local`` in the next cycle (the array does at
        every start of its cores, so that a run's timing does not depend on the traffic
        of the runs before it).
    """

    def __init__(self, x, y, *, x_bits, y_bits, payload_bits, depth=2):
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 2:
            raise ValueError(f"depth must be an integer of at least 2, not {depth!r}")
        for name, value, bits in (("x", x, x_bits), ("y", y, y_bits)):
            if not isinstance(value, int) or not 0 <= value < 2 ** bits:
                raise ValueError(f"{name} must be an integer from 0 to {2 ** bits - 1}, "
                                 f"not {value!r}")
        flit_layout(x_bits, y_bits, payload_bits)  # checks the widths
        self._x, self._y = x, y
        self._x_bits, self._y_bits, self._payload_bits = x_bits, y_bits, payload_bits
        self._depth = depth
        super().__init__({**{name: Out(port_signature(x_bits, y_bits, payload_bits))
                             for name in PORTS}, "idle": Out(1), "clear": In(1)})

    x            = property(lambda self: self._x)
    y            = property(lambda self: self._y)
    x_bits       = property(lambda self: self._x_bits)
    y_bits       = property(lambda self: self._y_bits)
    payload_bits = property(lambda self: self._payload_bits)
    depth        = property(lambda self: self._depth)

    def route(self, port, dest):
        """The output mask of a head flit with destination ``dest`` arriving at input
        ``port``: a list of five bits (bit ``p`` for :class:`Port` ``p``), each a
        combinational value of ``dest``, or ``None`` where it is 0 whatever ``dest``."""
        x, y = self._x, self._y
        # Comparisons with this router's constant coordinates; those that a coordinate's
        # range decides are Python booleans (Verilator lints them otherwise).
        def le(field, c):  # field <= c
            return True if c >= 2 ** len(field) - 1 else field <= c
        def ge(field, c):  # field >= c
            return True if c == 0 else field >= c
        def lt(field, c):  # field < c
            return False if c == 0 else field < c
        def gt(field, c):  # field > c
            return False if c >= 2 ** len(field) - 1 else field > c
        def both(a, b):    # a & b, either possibly a Python boolean
            if a is False or b is False:
                return False
            return b if a is True else a if b is True else a & b
        in_col = both(le(dest.x0, x), ge(dest.x1, x))
        in_row = both(le(dest.y0, y), ge(dest.y1, y))
        mask = [False] * 5
        if port in (Port.LOCAL, Port.EAST, Port.WEST):  # travelling along the row
            if port != Port.EAST:
                mask[Port.EAST] = gt(dest.x1, x)
            if port != Port.WEST:
                mask[Port.WEST] = lt(dest.x0, x)
            mask[Port.NORTH] = both(in_col, lt(dest.y0, y))
            mask[Port.SOUTH] = both(in_col, gt(dest.y1, y))
            mask[Port.LOCAL] = both(in_col, in_row)
        elif port == Port.NORTH:  # travelling south, in its column
            mask[Port.SOUTH] = gt(dest.y1, y)
            mask[Port.LOCAL] = in_row
        else:                     # travelling north
            mask[Port.NORTH] = lt(dest.y0, y)
            mask[Port.LOCAL] = in_row
        return [None if bit is False else C(1, 1) if bit is True else bit for bit in mask]

    def elaborate(self, platform):
        m = Module()
        layout = flit_layout(self._x_bits, self._y_bits, self._payload_bits)
        ports = [getattr(self, name) for name in PORTS]
        n = len(ports)

        # Input FIFOs: ready while not full, a flit readable the cycle after it is written.
        # A flit's route is computed as it is written and kept beside it (the bits that
        # can be 1 at this input), so that the allocation starts from the FIFO's output.
        heads, valid, flits = [], [], []
        want = [Signal(n, name=f"want_{PORTS[p]}") for p in range(n)]
        for p, port in enumerate(ports):
            bits = self.route(Port(p), layout(port.i.payload).dest)
            live = [o for o in range(n) if bits[o] is not None]
            queue = fifo.SyncFIFO(width=layout.size + len(live), depth=self._depth)
            m.submodules[f"queue_{PORTS[p]}"] = queue
            m.d.comb += [queue.w_data.eq(Cat(port.i.payload, *(bits[o] for o in live))),
                         queue.w_en.eq(port.i.valid), port.i.ready.eq(queue.w_rdy)]
            flits.append(queue.r_data[:layout.size])
            heads.append(layout(flits[p]))
            valid.append(queue.r_rdy)
            kept = iter(queue.r_data[layout.size:])
            m.d.comb += want[p].eq(Cat(*(next(kept) if o in live else C(0, 1)
                                         for o in range(n))))
        queues = [m.submodules[f"queue_{name}"] for name in PORTS]

        # Per input: `active` while its packet holds its outputs (`held`); `done`, the
        # outputs that took the flit at the head already.
        active = [Signal(name=f"active_{PORTS[p]}") for p in range(n)]
        held   = [Signal(n, name=f"held_{PORTS[p]}") for p in range(n)]
        done   = [Signal(n, name=f"done_{PORTS[p]}") for p in range(n)]
        pointer = Signal(range(n))
        m.d.comb += self.idle.eq(~Cat(*valid).any() & ~Cat(*active).any())

        req = [Signal(name=f"req_{PORTS[p]}") for p in range(n)]
        for p in range(n):
            m.d.comb += req[p].eq(valid[p] & ~active[p])
        # Outputs held by packets in progress; a fork's outputs that took a packet's last
        # flit are free again at once (docs/architecture.md, 9.4).
        busy = Signal(n)
        busy_terms = [Mux(active[p], held[p] & ~Mux(valid[p] & heads[p].last, done[p], 0), 0)
                      for p in range(n)]
        m.d.comb += busy.eq(busy_terms[0] | busy_terms[1] | busy_terms[2] | busy_terms[3]
                            | busy_terms[4])

        # Allocation: a claimant is an input waiting for a grant whose outputs are all free;
        # it is granted unless a claimant earlier in the order (from `pointer`) wants one of
        # them. The first claimant in the order is always granted.
        at = [pointer == q for q in range(n)]
        def before(j, i):  # input j comes before input i in the order
            terms = [at[q] for q in range(n) if (j - q) % n < (i - q) % n]
            return Cat(*terms).any()
        claim = [Signal(name=f"claim_{PORTS[p]}") for p in range(n)]
        grant = [Signal(name=f"grant_{PORTS[p]}") for p in range(n)]
        for i in range(n):
            m.d.comb += claim[i].eq(req[i] & ~(want[i] & busy).any())
        for i in range(n):
            blocked = C(0, 1)
            for j in range(n):
                if j != i:
                    blocked |= before(j, i) & claim[j] & (want[j] & want[i]).any()
            m.d.comb += grant[i].eq(claim[i] & ~blocked)

        # Switch: each output carries its owner's head flit while the owner has not
        # handed it to this output yet.
        route = [Signal(n, name=f"route_{PORTS[p]}") for p in range(n)]
        owns  = [Signal(name=f"owns_{PORTS[p]}") for p in range(n)]
        sent  = [Signal(n, name=f"sent_{PORTS[p]}") for p in range(n)]
        for p in range(n):
            m.d.comb += [route[p].eq(Mux(active[p], held[p], want[p])),
                         owns[p].eq(active[p] | grant[p])]
        for o, port in enumerate(ports):
            offer = [Signal(name=f"offer_{PORTS[p]}_{PORTS[o]}") for p in range(n)]
            for p in range(n):
                m.d.comb += [offer[p].eq(owns[p] & route[p][o] & valid[p] & ~done[p][o]),
                             sent[p][o].eq(offer[p] & port.o.ready)]
            m.d.comb += port.o.valid.eq(Cat(*offer).any())
            payload = 0
            for p in range(n):
                payload = payload | Mux(offer[p], flits[p], 0)
            m.d.comb += port.o.payload.eq(payload)

        # A flit leaves its FIFO when every output of its set has taken it; a packet's
        # outputs are free again once its last flit has left.
        for p in range(n):
            pop = valid[p] & owns[p] & ((done[p] | sent[p]) == route[p])
            m.d.comb += queues[p].r_en.eq(pop)
            with m.If(pop):
                m.d.sync += done[p].eq(0)
                m.d.sync += active[p].eq(~heads[p].last)
            with m.Elif(owns[p]):
                m.d.sync += done[p].eq(done[p] | sent[p])
                m.d.sync += active[p].eq(1)
            with m.If(grant[p]):
                m.d.sync += held[p].eq(want[p])

        # Round robin: the order starts after the first input granted in it (or at
        # ``local`` after a ``clear``).
        following = Signal.like(pointer)
        m.d.comb += following.eq(pointer)
        for q in range(n):
            with m.If(pointer == q):
                for k in reversed(range(n)):
                    i = (q + k) % n
                    with m.If(grant[i]):
                        m.d.comb += following.eq((i + 1) % n)
        m.d.sync += pointer.eq(Mux(self.clear, 0, following))
        return m
