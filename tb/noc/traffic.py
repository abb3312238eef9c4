"""NoC stimulus and checking, shared by the cocotb tests, the golden model's tests and the
benchmarks: packets, their flits, the scoreboard, the watchdog, and a pure-Python driver
of the golden mesh with the testbench's random stalls.

A flit's payload (32 bits at least) names its packet: ``src << 24 | seq << 8 | index``
(source node, the packet's number at that source, the flit's number in the packet).
"""

import random
from collections import namedtuple

from sw.golden.noc import Flit, MeshModel

__all__ = ["PAYLOAD_BITS", "Packet", "PATTERNS", "random_packets", "flits", "Scoreboard",
           "Watchdog", "watchdog_for", "Stalls", "run_model", "NoProgress", "TooOld"]

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


def flits(packet):
    """The flits of ``packet``."""
    return [Flit(packet.src << 24 | packet.seq << 8 | k, packet.x0, packet.x1, packet.y0,
                 packet.y1, int(k == packet.length - 1)) for k in range(packet.length)]


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


class Stalls:
    """Random stalls of every injection and ejection port: each cycle a port idles (an
    injection port offers nothing new; an ejection port is not ready) with chance ``p``."""

    def __init__(self, rng, nodes, p_inject, p_eject):
        self.rng, self.nodes = rng, nodes
        self.p_inject, self.p_eject = p_inject, p_eject

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
