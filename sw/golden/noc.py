"""Cycle-exact model of the NoC router and mesh (``rtl/noc``; docs/architecture.md, 9).

The model holds the RTL's state (each input FIFO's flits, each input's ``active``,
``held`` and ``done``, each router's round-robin pointer) and steps it one clock cycle
at a time from the same inputs the RTL sees: the flit offered at each injection port and
the ready of each ejection port. It returns which injections were accepted and which flits
were delivered in that cycle, so a testbench can require the RTL to do the same thing in
the same cycle.

A flit is a tuple ``(payload, x0, x1, y0, y1, last)`` (:data:`Flit`); the rectangle is
read from head flits only.
"""

from collections import deque, namedtuple

__all__ = ["Flit", "LOCAL", "NORTH", "EAST", "SOUTH", "WEST", "PORTS", "route",
           "RouterModel", "MeshModel", "hops", "zero_load_latency"]

Flit = namedtuple("Flit", "payload x0 x1 y0 y1 last")

LOCAL, NORTH, EAST, SOUTH, WEST = range(5)  # rtl.noc.router.Port
PORTS = ("local", "north", "east", "south", "west")
_N = 5


def route(x, y, port, flit):
    """The output mask of a head ``flit`` arriving at input ``port`` of router ``(x, y)``
    (bit ``p`` for port ``p``): XY dimension order, a tree for a rectangle."""
    in_col = flit.x0 <= x <= flit.x1
    in_row = flit.y0 <= y <= flit.y1
    mask = 0
    if port in (LOCAL, EAST, WEST):
        if port != EAST and x < flit.x1:
            mask |= 1 << EAST
        if port != WEST and x > flit.x0:
            mask |= 1 << WEST
        if in_col and y > flit.y0:
            mask |= 1 << NORTH
        if in_col and y < flit.y1:
            mask |= 1 << SOUTH
        if in_col and in_row:
            mask |= 1 << LOCAL
    elif port == NORTH:
        if y < flit.y1:
            mask |= 1 << SOUTH
        if in_row:
            mask |= 1 << LOCAL
    else:
        if y > flit.y0:
            mask |= 1 << NORTH
        if in_row:
            mask |= 1 << LOCAL
    return mask


def hops(sx, sy, dx, dy):
    """Links a unicast flit crosses from ``(sx, sy)`` to ``(dx, dy)``."""
    return abs(sx - dx) + abs(sy - dy)


def zero_load_latency(sx, sy, dx, dy):
    """Cycles from a flit's injection (the cycle the mesh accepts it) to its delivery
    (the cycle it is offered at the destination's ejection port) with no contention:
    one cycle per router on the path."""
    return 1 + hops(sx, sy, dx, dy)


class RouterModel:
    """One router's state and its cycle.

    Args:
        x, y: The router's column and row.
        depth: Flits of each input FIFO.
    """

    def __init__(self, x, y, depth=2):
        self.x, self.y, self.depth = x, y, depth
        self.fifo    = [deque() for _ in range(_N)]
        self.active  = [False] * _N
        self.held    = [0] * _N
        self.done    = [0] * _N
        self.pointer = 0

    def space(self, port):
        """Whether input ``port`` is ready this cycle (its FIFO is not full)."""
        return len(self.fifo[port]) < self.depth

    def idle(self):
        return not any(self.fifo) and not any(self.active)

    def evaluate(self, ready):
        """The combinational part of a cycle: given each output's ready (a sequence of
        five bools), return ``(sent, plan)``: ``sent[o]`` the flit leaving output ``o``
        this cycle (or ``None``), and ``plan`` for :meth:`commit`."""
        fifo, active, held, done = self.fifo, self.active, self.held, self.done
        want = [0] * _N
        req = [False] * _N
        busy = 0
        for p in range(_N):
            if active[p]:
                # A fork's outputs that took a packet's last flit are free again at once.
                last = fifo[p] and fifo[p][0].last
                busy |= held[p] & ~(done[p] if last else 0)
            elif fifo[p]:
                want[p] = route(self.x, self.y, p, fifo[p][0])
                req[p] = True
        grant = [False] * _N
        claimed = 0  # outputs wanted by claimants earlier in the order
        first = None
        for k in range(_N):
            p = (self.pointer + k) % _N
            if req[p] and not want[p] & busy:  # a claimant: every output it wants is free
                grant[p] = not want[p] & claimed
                claimed |= want[p]
                if grant[p] and first is None:
                    first = p
        sent = [None] * _N
        sent_mask = [0] * _N
        pops = [False] * _N
        owns = [False] * _N
        for p in range(_N):
            owns[p] = active[p] or grant[p]
            if not owns[p] or not fifo[p]:
                continue
            mask = held[p] if active[p] else want[p]
            flit = fifo[p][0]
            for o in range(_N):
                if mask >> o & 1 and not done[p] >> o & 1 and ready[o]:
                    sent[o] = flit
                    sent_mask[p] |= 1 << o
            pops[p] = (done[p] | sent_mask[p]) == mask
        return sent, (want, grant, owns, sent_mask, pops, first)

    def commit(self, plan):
        """The clock edge: pop the flits that left, update the grants and the pointer."""
        want, grant, owns, sent_mask, pops, first = plan
        for p in range(_N):
            if pops[p]:
                flit = self.fifo[p].popleft()
                self.done[p] = 0
                self.active[p] = not flit.last
            elif owns[p]:
                self.done[p] |= sent_mask[p]
                self.active[p] = True
            if grant[p]:
                self.held[p] = want[p]
        if first is not None:
            self.pointer = (first + 1) % _N

    def step(self, offers, ready):
        """One cycle of a router on its own: ``offers[p]`` the flit offered at input ``p``
        (or ``None``), ``ready[o]`` output ``o``'s ready. Return ``(accepted, sent)``:
        the inputs whose flit was taken, and the flit leaving each output (or ``None``)."""
        accepted = [f is not None and self.space(p) for p, f in enumerate(offers)]
        sent, plan = self.evaluate(ready)
        self.commit(plan)
        for p, flit in enumerate(offers):
            if accepted[p]:
                self.fifo[p].append(flit)
        return accepted, sent


# Where an output of router (x, y) leads: (dx, dy, input port of the neighbour).
_LINKS = {NORTH: (0, -1, SOUTH), EAST: (1, 0, WEST), SOUTH: (0, 1, NORTH), WEST: (-1, 0, EAST)}


class MeshModel:
    """A ``rows`` by ``cols`` mesh of :class:`RouterModel`; node ``n = y * cols + x``.

    Args:
        rows, cols: The mesh's size.
        depth: Flits of each router input FIFO.
    """

    def __init__(self, rows, cols, depth=2):
        self.rows, self.cols, self.depth = rows, cols, depth
        self.routers = [RouterModel(n % cols, n // cols, depth) for n in range(rows * cols)]
        self.cycle = 0
        # For each router and output: (neighbour router, its input port) or None (edge).
        self._links = []
        for r in self.routers:
            links = [None] * _N
            for o, (dx, dy, port) in _LINKS.items():
                x, y = r.x + dx, r.y + dy
                if 0 <= x < cols and 0 <= y < rows:
                    links[o] = (self.routers[y * cols + x], port)
            self._links.append(links)

    def idle(self):
        return all(r.idle() for r in self.routers)

    def step(self, offers, ready):
        """One cycle: ``offers`` maps node to the flit offered at its injection port,
        ``ready`` is each node's ejection ready (a sequence of bools). Return ``(accepted,
        delivered)``: the nodes whose offered flit was taken, and ``{node: flit}`` of the
        flits leaving ejection ports."""
        accepted = [n for n, flit in offers.items() if self.routers[n].space(LOCAL)]
        delivered, plans, moves = {}, [], []
        for n, r in enumerate(self.routers):
            if r.idle():
                plans.append(None)
                continue
            links = self._links[n]
            out_ready = [ready[n]] + [links[o] is not None and links[o][0].space(links[o][1])
                                      for o in range(1, _N)]
            sent, plan = r.evaluate(out_ready)
            plans.append(plan)
            if sent[LOCAL] is not None:
                delivered[n] = sent[LOCAL]
            for o in range(1, _N):
                if sent[o] is not None:
                    moves.append((links[o], sent[o]))
        for r, plan in zip(self.routers, plans, strict=True):
            if plan is not None:
                r.commit(plan)
        for (r, port), flit in moves:
            r.fifo[port].append(flit)
        for n in accepted:
            self.routers[n].fifo[LOCAL].append(offers[n])
        self.cycle += 1
        return accepted, delivered
