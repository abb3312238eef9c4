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

__all__ = ["Flit", "LOCAL", "NORTH", "EAST", "SOUTH", "WEST", "PORTS", "EDGE", "route",
           "RouterModel", "MeshModel", "hops", "zero_load_latency"]

Flit = namedtuple("Flit", "payload x0 x1 y0 y1 last")

LOCAL, NORTH, EAST, SOUTH, WEST = range(5)  # rtl.noc.router.Port
PORTS = ("local", "north", "east", "south", "west")
_N = 5
#: The node key of a mesh's edge (``rtl.noc.mesh.Mesh(edge=True)``'s ``inject`` and
#: ``eject``): flits injected at the west input of router ``(0, rows - 1)``, flits for
#: column 0, row ``rows`` delivered from its south output.
EDGE = -1
# The arbitration order from each pointer value.
_ORDER = tuple(tuple((pointer + k) % _N for k in range(_N)) for pointer in range(_N))


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
        self._routes = {}  # (input port, x0, x1, y0, y1) -> route()'s output mask

    def space(self, port):
        """Whether input ``port`` is ready this cycle (its FIFO is not full)."""
        return len(self.fifo[port]) < self.depth

    def idle(self):
        return not any(self.fifo) and not any(self.active)

    def evaluate(self, ready):
        """The combinational part of a cycle: given each output's ready (a sequence of
        five bools), return ``(sent, plan)``: ``sent[o]`` the flit leaving output ``o``
        this cycle (or ``None``), and ``plan`` for :meth:`commit`."""
        rmask = 0
        for o in range(_N):
            if ready[o]:
                rmask |= 1 << o
        sent, _, plan = self._evaluate(rmask)
        return sent, plan

    def _evaluate(self, rmask):
        """:meth:`evaluate` with the readies as a bit mask (bit ``o`` for output ``o``);
        return ``(sent, sent_mask, plan)``, ``sent_mask`` the outputs sending a flit.

        The hot path of every golden NoC run: inputs, grants, ownership and pops are bit
        masks, and a head's route is looked up by its rectangle once per router."""
        fifo, active, held, done = self.fifo, self.active, self.held, self.done
        routes = self._routes
        want = [0] * _N
        req = busy = 0
        for p in range(_N):
            f = fifo[p]
            if active[p]:
                # A fork's outputs that took a packet's last flit are free again at once.
                busy |= held[p] & ~done[p] if f and f[0].last else held[p]
            elif f:
                h = f[0]
                key = (p, h.x0, h.x1, h.y0, h.y1)
                w = routes.get(key)
                if w is None:
                    w = routes[key] = route(self.x, self.y, p, h)
                want[p] = w
                req |= 1 << p
        grant = 0
        first = None
        if req:
            claimed = 0  # outputs wanted by claimants earlier in the order
            for p in _ORDER[self.pointer]:
                if req >> p & 1:
                    w = want[p]
                    if not w & busy:  # a claimant: every output it wants is free
                        if not w & claimed:
                            grant |= 1 << p
                            if first is None:
                                first = p
                        claimed |= w
        sent = [None] * _N
        sent_mask = [0] * _N
        pops = owns = all_sent = 0
        for p in range(_N):
            if active[p]:
                mask = held[p]
            elif grant >> p & 1:
                mask = want[p]
            else:
                continue
            owns |= 1 << p
            f = fifo[p]
            if not f:
                continue
            d = done[p]
            s = mask & ~d & rmask
            if s:
                flit = f[0]
                for o in range(_N):
                    if s >> o & 1:
                        sent[o] = flit
                sent_mask[p] = s
                all_sent |= s
            if (d | s) == mask:
                pops |= 1 << p
        return sent, all_sent, (want, grant, owns, sent_mask, pops, first)

    def commit(self, plan):
        """The clock edge: pop the flits that left, update the grants and the pointer."""
        want, grant, owns, sent_mask, pops, first = plan
        if owns or grant:
            fifo, active, held, done = self.fifo, self.active, self.held, self.done
            for p in range(_N):
                bit = 1 << p
                if pops & bit:
                    flit = fifo[p].popleft()
                    done[p] = 0
                    active[p] = not flit.last
                elif owns & bit:
                    done[p] |= sent_mask[p]
                    active[p] = True
                if grant & bit:
                    held[p] = want[p]
        if first is not None:
            self.pointer = (first + 1) % _N

    def step(self, offers, ready, edge_ready=False):
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
    """A ``rows`` by ``cols`` mesh of :class:`RouterModel`; node ``n = y * cols + x``;
    node :data:`EDGE` injects at the west input of router ``(0, rows - 1)`` and is
    delivered the flits for column 0, row ``rows`` at its south output (the RTL mesh's
    ``inject`` and ``eject`` with ``edge``).

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
        # The same as (output bit, the neighbour's input FIFO) and (output, that FIFO).
        self._out_fifos = [[(1 << o, link[0].fifo[link[1]]) for o, link in enumerate(links)
                            if link is not None] for links in self._links]
        self._out_moves = [[(o, link[0].fifo[link[1]]) for o, link in enumerate(links)
                            if link is not None] for links in self._links]
        self._inputs = {n: r.fifo[LOCAL] for n, r in enumerate(self.routers)}
        self._inputs[EDGE] = self.routers[(rows - 1) * cols].fifo[WEST]

    def idle(self):
        return all(r.idle() for r in self.routers)

    def step(self, offers, ready, edge_ready=False):
        """One cycle: ``offers`` maps node to the flit offered at its injection port,
        ``ready`` is each node's ejection ready (a sequence of bools). Return ``(accepted,
        delivered)``: the nodes whose offered flit was taken, and ``{node: flit}`` of the
        flits leaving ejection ports. ``offers`` may hold :data:`EDGE`, the edge
        injection point; ``edge_ready`` is the edge ejection's ready (a flit leaving there
        is ``delivered[EDGE]``)."""
        routers, depth, inputs = self.routers, self.depth, self._inputs
        corner = (self.rows - 1) * self.cols
        accepted = [n for n in offers if len(inputs[n]) < depth]
        delivered, plans, moves = {}, [], []
        for n, r in enumerate(routers):
            if not any(r.fifo) and not any(r.active):  # idle
                continue
            rmask = 1 if ready[n] else 0
            for bit, q in self._out_fifos[n]:
                if len(q) < depth:
                    rmask |= bit
            if n == corner and edge_ready:
                rmask |= 1 << SOUTH
            sent, sent_mask, plan = r._evaluate(rmask)
            plans.append((r, plan))
            if sent_mask:
                if sent_mask & 1:
                    delivered[n] = sent[LOCAL]
                if n == corner and sent_mask >> SOUTH & 1:
                    delivered[EDGE] = sent[SOUTH]
                for o, q in self._out_moves[n]:
                    if sent_mask >> o & 1:
                        moves.append((q, sent[o]))
        for r, plan in plans:
            r.commit(plan)
        for q, flit in moves:
            q.append(flit)
        for n in accepted:
            inputs[n].append(offers[n])
        self.cycle += 1
        return accepted, delivered
