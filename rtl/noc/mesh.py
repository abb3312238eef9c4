"""A rectangular mesh of :class:`~rtl.noc.router.Router`\\ s."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .flit import coord_bits, flit_signature
from .router import Router, port_signature

__all__ = ["Mesh"]


class Mesh(wiring.Component):
    """``rows`` by ``cols`` routers; router ``(x, y)`` is at column ``x``, row ``y``, its
    east port joined to the west port of ``(x + 1, y)`` and its south port to the north
    port of ``(x, y + 1)``. The ports on the mesh's edge are tied off: no flit comes in,
    none is taken (a flit routed off the mesh would wait there forever; routes to
    rectangles inside the mesh never leave it).

    Coordinates are ``coord_bits(cols)`` and ``coord_bits(rows)`` bits wide
    (``coord_bits(rows + 1)`` with ``edge``).

    With ``edge``, the mesh's south-west corner, router ``(0, rows - 1)``, is the
    framebuffer's place (docs/architecture.md, 11): its west port takes flits from
    ``inject`` instead of being tied off, and its south port gives ``eject`` the flits
    addressed to column 0, row ``rows`` (rows are then ``coord_bits(rows + 1)`` bits
    wide). A flit coming in at ``inject`` travels east along row ``rows - 1`` like one
    injected at a node of that row, so it reaches any rectangle (a virtual source at
    column -1); a flit for ``(0, rows)`` from any node travels along its row to column 0,
    then south out of the corner (XY order: a virtual node below the corner). ``idle``
    says that no router holds a flit or a packet in progress.

    Latency: a flit accepted at ``node[y][x].i`` at the end of cycle ``t`` is offered at
    ``node[y'][x'].o`` in cycle ``t + 1 + |x - x'| + |y - y'|`` with no contention.
    Throughput: one flit per link and per node port per cycle.

    Parameters
    ----------
    rows, cols : int
        The mesh's size.
    payload_bits : int
        Bits of a flit's payload.
    depth : int
        Flits of each router input FIFO, at least 2.
    edge : bool
        The framebuffer's side at the south-west corner: ``inject``, ``eject``, ``idle``
        and ``clear``, and one more row in the coordinates.

    Members
    -------
    node : Out(port_signature(...)).array(rows, cols)
        ``node[y][x].i`` injects flits at router ``(x, y)``, ``node[y][x].o`` ejects the
        flits delivered there.
    inject : In(flit_signature(...))
        With ``edge``: flits into the west port of router ``(0, rows - 1)``.
    eject : Out(flit_signature(...))
        With ``edge``: the flits leaving the south port of router ``(0, rows - 1)``.
    idle : Out(1)
        With ``edge``: every router is idle (registered state).
    clear : In(1)
        With ``edge``: every router's ``clear`` (its round-robin order restarted).
    """

    def __init__(self, rows, cols, *, payload_bits, depth=2, edge=False):
        for name, value in (("rows", rows), ("cols", cols)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 64:
                raise ValueError(f"{name} must be an integer from 1 to 64, not {value!r}")
        self._rows, self._cols = rows, cols
        self._payload_bits, self._depth = payload_bits, depth
        self._edge = bool(edge)
        self._x_bits, self._y_bits = coord_bits(cols), coord_bits(rows + self._edge)
        members = {"node": Out(port_signature(self._x_bits, self._y_bits, payload_bits))
                   .array(rows, cols)}
        if self._edge:
            members["inject"] = In(flit_signature(self._x_bits, self._y_bits, payload_bits))
            members["eject"] = Out(flit_signature(self._x_bits, self._y_bits, payload_bits))
            members["idle"] = Out(1)
            members["clear"] = In(1)
        super().__init__(members)

    rows         = property(lambda self: self._rows)
    cols         = property(lambda self: self._cols)
    payload_bits = property(lambda self: self._payload_bits)
    depth        = property(lambda self: self._depth)
    x_bits       = property(lambda self: self._x_bits)
    y_bits       = property(lambda self: self._y_bits)

    def elaborate(self, platform):
        m = Module()
        routers = [[Router(x, y, x_bits=self._x_bits, y_bits=self._y_bits,
                           payload_bits=self._payload_bits, depth=self._depth)
                    for x in range(self._cols)] for y in range(self._rows)]
        for y, row in enumerate(routers):
            for x, router in enumerate(row):
                m.submodules[f"router_{x}_{y}"] = router
                if self._edge:
                    m.d.comb += router.clear.eq(self.clear)
                wiring.connect(m, node=wiring.flipped(self.node[y][x]), router=router.local)
                if x + 1 < self._cols:
                    east = row[x + 1]
                    wiring.connect(m, a=router.east.o, b=east.west.i)
                    wiring.connect(m, a=east.west.o, b=router.east.i)
                if y + 1 < self._rows:
                    south = routers[y + 1][x]
                    wiring.connect(m, a=router.south.o, b=south.north.i)
                    wiring.connect(m, a=south.north.o, b=router.south.i)
                # Edge ports: nothing comes in, nothing is taken.
                edges = [(x == 0, router.west), (x + 1 == self._cols, router.east),
                         (y == 0, router.north), (y + 1 == self._rows, router.south)]
                for edge, port in edges:
                    if not edge:
                        continue
                    corner = self._edge and x == 0 and y + 1 == self._rows
                    if corner and port is router.west:
                        wiring.connect(m, inject=wiring.flipped(self.inject), router=port.i)
                        m.d.comb += port.o.ready.eq(0)
                    elif corner and port is router.south:
                        wiring.connect(m, router=port.o, eject=wiring.flipped(self.eject))
                        m.d.comb += [port.i.valid.eq(0), port.i.payload.eq(0)]
                    else:
                        m.d.comb += [port.i.valid.eq(0), port.i.payload.eq(0),
                                     port.o.ready.eq(0)]
        if self._edge:
            m.d.comb += self.idle.eq(Cat(*(r.idle for row in routers for r in row)).all())
        return m
