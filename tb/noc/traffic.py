"""NoC stimulus and checking, shared by the cocotb tests, the golden model's tests and the
benchmarks: packets, their flits, the scoreboard, the watchdog, and a pure-Python driver
of the golden mesh with the testbench's random stalls.

A flit's payload (32 bits at least) names its packet: ``src << 24 | seq << 8 | index``
(source node, the packet's number at that source, the flit's number in the packet).
"""

import numbers
import random
from collections import namedtuple

from rtl.noc.flit import coord_bits, flit_layout
from sw.golden.noc import Flit, MeshModel

__all__ = ["PAYLOAD_BITS", "Packet", "PATTERNS", "random_packets", "unicast",
           "saturation_packets", "zero_load_cases", "equidistant_pair", "flits", "FlitCodec",
           "Scoreboard", "Watchdog", "watchdog_for", "Stalls", "run_model", "NoProgress",
           "TooOld"]

PAYLOAD_BITS = 32

Packet = namedtuple("Packet", "src seq x0 x1 y0 y1 length")

PATTERNS = ("uniform", "hotspot", "multicast", "single")


def random_packets(rng, rows, cols, count, pattern, *, max_len=4, hotspot_share=0.3,
                   multicast_share=0.3):
    """``count`` packets from random sources, as one list per source node.

    ``uniform``: unicast to a uniform random node (the source itself included), 1 to
    ``max_len`` flits; ``hotspot``: as uniform, but ``hotspot_share`` of them to one node;
    ``multicast``: ``multicast_share`` one-flit packets to a random rectangle (rows,
    columns and single nodes among them), the others as uniform; ``single``: one-flit
    unicast packets to uniform random nodes."""
    nodes = rows * cols
    spot = rng.randrange(nodes)
    per_src = [[] for _ in range(nodes)]
    for _ in range(count):
        src = rng.randrange(nodes)
        length = 1 if pattern == "single" else rng.randint(1, max_len)
        if pattern == "multicast" and rng.random() < multicast_share:
            x0, x1 = sorted((rng.randrange(cols), rng.randrange(cols)))
            y0, y1 = sorted((rng.randrange(rows), rng.randrange(rows)))
            length = 1
        else:
            dst = spot if pattern == "hotspot" and rng.random() < hotspot_share \
                else rng.randrange(nodes)
            x0 = x1 = dst % cols
            y0 = y1 = dst // cols
        per_src[src].append(Packet(src, len(per_src[src]), x0, x1, y0, y1, length))
    return per_src


def unicast(src, seq, dst, cols, length=1):
    """A ``length``-flit packet from node ``src`` to node ``dst``."""
    return Packet(src, seq, dst % cols, dst % cols, dst // cols, dst // cols, length)


def saturation_packets(rng, rows, cols, per_node=250):
    """Every node's ``per_node`` one-flit packets to uniform random nodes (the saturation
    run: with no stalls, every node offers a flit every cycle)."""
    nodes = rows * cols
    return [[unicast(n, k, d, cols) for k, d in
             enumerate(rng.randrange(nodes) for _ in range(per_node))] for n in range(nodes)]


def zero_load_cases(rng, rows, cols, limit=200):
    """Single-packet runs (``per_src`` lists): from every node to every node (a sample of
    ``limit`` pairs on larger meshes) with 1 to 4 flits, every fourth to a random
    rectangle instead (one flit)."""
    nodes = rows * cols
    pairs = [(s, d) for s in range(nodes) for d in range(nodes)]
    if len(pairs) > limit:
        pairs = rng.sample(pairs, limit)
    cases = []
    for seq, (s, d) in enumerate(pairs):
        per_src = [[] for _ in range(nodes)]
        if seq % 4 == 3:  # a rectangle
            x0, x1 = sorted((rng.randrange(cols), rng.randrange(cols)))
            y0, y1 = sorted((rng.randrange(rows), rng.randrange(rows)))
            per_src[s] = [Packet(s, 0, x0, x1, y0, y1, 1)]
        else:
            per_src[s] = [unicast(s, 0, d, cols, rng.randint(1, 4))]
        cases.append(per_src)
    return cases


def equidistant_pair(rng, rows, cols):
    """``(s1, s2, d)``: two distinct sources as far from a node ``d`` (both not ``d``),
    chosen at random, or ``None`` when the mesh has none."""
    nodes = rows * cols

    def distance(s, d):
        return abs(s % cols - d % cols) + abs(s // cols - d // cols)
    pairs = [(s1, s2, d) for d in range(nodes) for s1 in range(nodes)
             for s2 in range(s1 + 1, nodes) if distance(s1, d) == distance(s2, d) > 0]
    return rng.choice(pairs) if pairs else None


def flits(packet):
    """The flits of ``packet``."""
    return [Flit(packet.src << 24 | packet.seq << 8 | k, packet.x0, packet.x1, packet.y0,
                 packet.y1, int(k == packet.length - 1)) for k in range(packet.length)]


class FlitCodec:
    """Golden flits (:data:`sw.golden.noc.Flit`) to and from the RTL's flat flit vector
    (:func:`rtl.noc.flit.flit_layout`) of a ``rows`` by ``cols`` mesh with
    ``payload_bits`` of payload; ``bits`` is the vector's width."""

    def __init__(self, rows, cols, payload_bits):
        layout = flit_layout(coord_bits(cols), coord_bits(rows), payload_bits)
        dest = layout["dest"].shape
        base = layout["dest"].offset
        self.bits = layout.size
        self._x0, self._x1 = base + dest["x0"].offset, base + dest["x1"].offset
        self._y0, self._y1 = base + dest["y0"].offset, base + dest["y1"].offset
        self._xmask = (1 << coord_bits(cols)) - 1
        self._ymask = (1 << coord_bits(rows)) - 1
        self._last = layout["last"].offset
        self._pmask = (1 << payload_bits) - 1

    def pack(self, f):
        return (f.payload | f.x0 << self._x0 | f.x1 << self._x1 | f.y0 << self._y0
                | f.y1 << self._y1 | f.last << self._last)

    def unpack(self, v):
        return Flit(v & self._pmask, v >> self._x0 & self._xmask, v >> self._x1 & self._xmask,
                    v >> self._y0 & self._ymask, v >> self._y1 & self._ymask,
                    v >> self._last & 1)


class NoProgress(AssertionError):
    pass


class TooOld(AssertionError):
    pass


class Watchdog:
    """Fail after ``quiet`` cycles with no flit accepted or delivered while work remains,
    or when a packet has been in the mesh more than ``max_age`` cycles."""

    def __init__(self, quiet=1024, max_age=8192):
        self.quiet, self.max_age = quiet, max_age
        self.last_progress = 0

    def check(self, cycle, progress, oldest):
        if progress:
            self.last_progress = cycle
        elif cycle - self.last_progress >= self.quiet:
            raise NoProgress(f"cycle {cycle}: no flit accepted or delivered for "
                             f"{self.quiet} cycles")
        if oldest is not None and cycle - oldest[1] > self.max_age:
            raise TooOld(f"cycle {cycle}: packet {oldest[0]} injected in cycle {oldest[1]} "
                         f"is older than {self.max_age} cycles")


def watchdog_for(pattern):
    """The watchdog of a random run: no progress for 1,024 cycles fails it, and so does a
    packet older than 8,192 cycles, or 65,536 under hot-spot traffic, where round robin at
    every merge towards the hot spot starves far sources for long (docs/architecture.md,
    9.5: up to 36,901 cycles measured on 8 x 8 with 50 % stalls)."""
    return Watchdog(1024, 65536 if pattern == "hotspot" else 8192)


class Scoreboard:
    """Checks every delivered flit against the packets sent.

    Each flit must arrive at a node inside its packet's rectangle, with the packet's
    rectangle and ``last``; a node's flits come packet by packet (no interleaving, each
    packet's flits in order, none missing), and the packets of one source arrive at one
    node in the order that source sent them. :meth:`finish` checks that every packet
    reached every node of its rectangle.

    Args:
        cols: The mesh's columns.
        per_src: The packets, one list per source node.
    """

    def __init__(self, cols, per_src):
        self.cols = cols
        self.packets = {(p.src, p.seq): p for ps in per_src for p in ps}
        self.flows = {}  # (src, node) -> the seqs still due there, in order
        for ps in per_src:
            for p in ps:
                for node in self.rect(p):
                    self.flows.setdefault((p.src, node), []).append(p.seq)
        self.flow_pos = dict.fromkeys(self.flows, 0)
        self.current = {}  # node -> (src, seq, next index) of the packet arriving there
        self.remaining = {key: len(self.rect(p)) for key, p in self.packets.items()}
        self.injected = {}  # (src, seq) -> injection cycle, in injection order
        self.latencies = []  # (packet, node, head delivery cycle - injection cycle)
        self.arrivals = []   # (packet, node, head delivery cycle)
        self.delivered = 0

    def rect(self, p):
        return [y * self.cols + x for y in range(p.y0, p.y1 + 1) for x in range(p.x0, p.x1 + 1)]

    def inject(self, flit, cycle):
        src, seq, k = flit.payload >> 24, flit.payload >> 8 & 0xFFFF, flit.payload & 0xFF
        if k == 0:
            self.injected[(src, seq)] = cycle

    def deliver(self, node, flit, cycle):
        src, seq, k = flit.payload >> 24, flit.payload >> 8 & 0xFFFF, flit.payload & 0xFF
        where = f"cycle {cycle}, node {node}: flit {k} of packet {seq} from node {src}"
        p = self.packets.get((src, seq))
        assert p is not None and k < p.length, f"{where}: no such flit"
        assert (flit.x0, flit.x1, flit.y0, flit.y1) == (p.x0, p.x1, p.y0, p.y1), \
            f"{where}: rectangle {flit[1:5]}, sent {(p.x0, p.x1, p.y0, p.y1)}"
        assert flit.last == (k == p.length - 1), f"{where}: last={flit.last}"
        assert p.x0 <= node % self.cols <= p.x1 and p.y0 <= node // self.cols <= p.y1, \
            f"{where}: outside the rectangle"
        expect = self.current.get(node)
        if k == 0:
            assert expect is None, f"{where}: packet {expect[1]} from node {expect[0]} " \
                                   f"was still arriving (flit {expect[2]} due)"
            flow = self.flows[(src, node)]
            pos = self.flow_pos[(src, node)]
            assert pos < len(flow) and flow[pos] == seq, \
                f"{where}: out of order, packet {flow[pos] if pos < len(flow) else None} due"
            self.flow_pos[(src, node)] = pos + 1
            assert (src, seq) in self.injected, \
                f"{where}: the packet is not in the mesh (not injected yet)"
            self.latencies.append((p, node, cycle - self.injected[(src, seq)]))
            self.arrivals.append((p, node, cycle))
        else:
            assert expect == (src, seq, k), f"{where}: expected {expect}"
        self.current[node] = None if flit.last else (src, seq, k + 1)
        if flit.last:
            self.remaining[(src, seq)] -= 1
            if not self.remaining[(src, seq)]:
                self.injected.pop((src, seq))
        self.delivered += 1

    def oldest(self):
        """``((src, seq), cycle)`` of the oldest packet in the mesh, or ``None``."""
        return next(iter(self.injected.items()), None)

    def finish(self):
        missing = [(key, n) for key, n in self.remaining.items() if n]
        assert not missing, f"{len(missing)} packets not delivered everywhere, first " \
                            f"{missing[:5]} (packet, nodes left)"
        assert not any(self.current.values()), "a packet was cut short"


def _probability(name, p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a probability (a number in [0, 1]), not {p!r}")
    if not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], not {p!r}")
    return float(p)


class Stalls:
    """Random stalls of every injection and ejection port: each cycle a port idles (an
    injection port offers nothing new; an ejection port is not ready) with chance ``p``
    (``p_inject``, ``p_eject``), drawn cycle by cycle (:meth:`inject`, :meth:`eject`) or
    as cyclic tables (:meth:`tables`)."""

    def __init__(self, rng, nodes, p_inject, p_eject):
        if isinstance(nodes, bool) or not isinstance(nodes, numbers.Integral) or nodes < 1:
            raise ValueError(f"nodes must be a positive integer, not {nodes!r}")
        self.rng, self.nodes = rng, int(nodes)
        self.p_inject = _probability("p_inject", p_inject)
        self.p_eject = _probability("p_eject", p_eject)

    def tables(self, period):
        """``(idle, ready)``: two ``nodes`` by ``period`` bool arrays, seeded from the
        rng. Injection port ``n`` idles in cycle ``c`` when ``idle[n, c % period]``
        (chance ``p_inject``), ejection port ``n`` is ready when ``ready[n, c % period]``
        (chance ``1 - p_eject``); every port's table is drawn independently."""
        import numpy as np
        if isinstance(period, bool) or not isinstance(period, numbers.Integral) \
                or period < 1:
            raise ValueError(f"period must be a positive integer, not {period!r}")
        gen = np.random.default_rng(self.rng.getrandbits(64))
        idle = gen.random((self.nodes, period)) < self.p_inject
        ready = ~(gen.random((self.nodes, period)) < self.p_eject)
        return idle, ready

    def inject(self):
        r, p = self.rng.random, self.p_inject
        return [p > 0 and r() < p for _ in range(self.nodes)]

    def eject(self):
        r, p = self.rng.random, self.p_eject
        return [not (p > 0 and r() < p) for _ in range(self.nodes)]


def run_model(rows, cols, per_src, rng, *, depth=2, p_inject=0.0, p_eject=0.0,
              watchdog=None, max_cycles=10_000_000):
    """Send ``per_src``'s packets through the golden mesh as the cocotb testbench does
    (an injection port offers its source's next flit unless stalled, and holds it until
    taken), checking every flit; return the scoreboard and the cycles taken."""
    model = MeshModel(rows, cols, depth)
    board = Scoreboard(cols, per_src)
    watchdog = watchdog or Watchdog()
    queues = [[f for p in ps for f in flits(p)] for ps in per_src]
    pos = [0] * len(queues)
    offering = [False] * len(queues)
    stalls = Stalls(rng, rows * cols, p_inject, p_eject)
    total = sum(len(board.rect(p)) * p.length for ps in per_src for p in ps)
    cycle = 0
    while board.delivered < total:
        assert cycle < max_cycles
        idle = stalls.inject()
        offers = {}
        for n, q in enumerate(queues):
            if not offering[n] and pos[n] < len(q) and not idle[n]:
                offering[n] = True
            if offering[n]:
                offers[n] = q[pos[n]]
        accepted, delivered = model.step(offers, stalls.eject())
        for n in accepted:
            board.inject(offers[n], cycle)
            offering[n] = False
            pos[n] += 1
        for n, flit in delivered.items():
            board.deliver(n, flit, cycle)
        watchdog.check(cycle, accepted or delivered, board.oldest())
        cycle += 1
    board.finish()
    return board, cycle


def _smoke():
    rng = random.Random(1)
    per_src = random_packets(rng, 4, 4, 2000, "multicast")
    board, cycles = run_model(4, 4, per_src, rng, p_inject=0.25, p_eject=0.25)
    print(board.delivered, cycles)


if __name__ == "__main__":
    _smoke()
