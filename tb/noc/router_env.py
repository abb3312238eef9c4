"""A router on its own under cocotb: one source and one sink per port with random stalls,
random packets on every input, the golden router (:class:`sw.golden.noc.RouterModel`)
stepped in lockstep, and per-output checks.

The router is the registry's ``noc_router`` of ``NOC_ROUTER_CONFIG`` when that is set, else
``Router(NOC_ROUTER_X, NOC_ROUTER_Y, x_bits=NOC_ROUTER_BITS, y_bits=NOC_ROUTER_BITS,
payload_bits=32, depth=NOC_DEPTH)`` (:func:`router_from_env`).
"""

import os

from cocotb.triggers import FallingEdge, ReadOnly

from rtl.designs import DESIGNS
from rtl.noc.flit import flit_layout
from rtl.noc.router import Router
from rtl.spec.config import get_config
from sw.golden.noc import PORTS, Flit, RouterModel, route

from ..stream import start_clock

__all__ = ["router_from_env", "RouterEnv"]


def router_from_env():
    """The :class:`rtl.noc.router.Router` under test, as the environment describes it."""
    if os.environ.get("NOC_ROUTER_CONFIG"):
        return DESIGNS["noc_router"].build(get_config(os.environ["NOC_ROUTER_CONFIG"]))
    bits = int(os.environ["NOC_ROUTER_BITS"])
    return Router(int(os.environ["NOC_ROUTER_X"]), int(os.environ["NOC_ROUTER_Y"]),
                  x_bits=bits, y_bits=bits, payload_bits=32,
                  depth=int(os.environ.get("NOC_DEPTH", "2")))


class RouterEnv:
    """The router under test, its agents and golden model.

    Args:
        dut: The cocotb top handle.
    """

    def __init__(self, dut):
        self.dut = dut
        router = router_from_env()
        self.x, self.y = router.x, router.y
        self.x_bits, self.y_bits = router.x_bits, router.y_bits
        self.layout = flit_layout(router.x_bits, router.y_bits, router.payload_bits)
        self.model = RouterModel(self.x, self.y, router.depth)
        self.cycle = 0
        self.ports = [tuple(getattr(dut, f"{name}__{s}") for s in
                            ("i__valid", "i__ready", "i__payload",
                             "o__valid", "o__ready", "o__payload")) for name in PORTS]

    async def start(self):
        await start_clock(self.dut)
        for port in self.ports:
            port[0].value = 0
            port[4].value = 0

    def pack(self, f):
        return self.layout.const({"payload": f.payload, "last": f.last,
                                  "dest": {"x0": f.x0, "x1": f.x1, "y0": f.y0, "y1": f.y1}
                                  }).as_bits()

    def unpack(self, v):
        c = self.layout.from_bits(v)
        return Flit(c.payload, c.dest.x0, c.dest.x1, c.dest.y0, c.dest.y1, c.last)

    def random_packets(self, rng, count):
        """``count`` packets on each input: a rectangle with a non-empty route from that
        input (a unicast one of 1 to 4 flits, or a one-flit rectangle); a flit's payload
        is ``input << 24 | seq << 8 | index``."""
        packets = []
        for p in range(len(PORTS)):
            mine = []
            while len(mine) < count:
                x0, x1 = sorted(rng.randrange(2 ** self.x_bits) for _ in range(2))
                y0, y1 = sorted(rng.randrange(2 ** self.y_bits) for _ in range(2))
                if rng.random() < 0.5:
                    x1, y1 = x0, y0
                length = rng.randint(1, 4) if (x0, y0) == (x1, y1) else 1
                head = Flit(0, x0, x1, y0, y1, 0)
                if route(self.x, self.y, p, head):
                    seq = len(mine)
                    mine.append([Flit(p << 24 | seq << 8 | k, x0, x1, y0, y1,
                                      int(k == length - 1)) for k in range(length)])
            packets.append(mine)
        return packets

    async def run(self, packets, rng, *, p_inject=0.0, p_eject=0.0, max_quiet=1024):
        """Send ``packets`` (a list per input of packets, each a list of flits), checking
        every accept and every flit out against the golden router in the same cycle, and
        on every output: packets whole and in order per input, each on every output of its
        route. Return the cycles taken."""
        queues = [[f for pk in mine for f in pk] for mine in packets]
        pos = [0] * 5
        offering = [False] * 5
        expected = {}  # (input, output) -> flits due in order
        for p, mine in enumerate(packets):
            for pk in mine:
                mask = route(self.x, self.y, p, pk[0])
                for o in range(5):
                    if mask >> o & 1:
                        expected.setdefault((p, o), []).extend(pk)
        got = {key: [] for key in expected}
        current = [None] * 5  # the input whose packet an output is carrying
        quiet = 0
        total = sum(len(v) for v in expected.values())
        delivered = 0
        while delivered < total:
            await FallingEdge(self.dut.clk)
            ready = [not (p_eject and rng.random() < p_eject) for _ in range(5)]
            offers = [None] * 5
            for p, port in enumerate(self.ports):
                if not offering[p] and pos[p] < len(queues[p]) and \
                        not (p_inject and rng.random() < p_inject):
                    offering[p] = True
                    port[2].value = self.pack(queues[p][pos[p]])
                port[0].value = int(offering[p])
                port[4].value = int(ready[p])
                if offering[p]:
                    offers[p] = queues[p][pos[p]]
            await ReadOnly()
            accepted = [offering[p] and bool(self.ports[p][1].value) for p in range(5)]
            sent = [self.unpack(self.ports[o][5].value.to_unsigned())
                    if ready[o] and self.ports[o][3].value else None for o in range(5)]
            want_accepted, want_sent = self.model.step(offers, ready)
            assert accepted == want_accepted and sent == want_sent, \
                f"cycle {self.cycle}: accepted {accepted}, out {sent}; the golden router " \
                f"accepts {want_accepted}, out {want_sent}"
            for p in range(5):
                if accepted[p]:
                    offering[p] = False
                    pos[p] += 1
            for o, flit in enumerate(sent):
                if flit is None:
                    continue
                src = flit.payload >> 24
                assert current[o] in (None, src), \
                    f"cycle {self.cycle}: output {PORTS[o]} interleaves two packets"
                current[o] = None if flit.last else src
                got[(src, o)].append(flit)
                due = expected[(src, o)][len(got[(src, o)]) - 1]
                assert flit == due, f"cycle {self.cycle}: {PORTS[o]} got {flit}, due {due}"
                delivered += 1
            quiet = 0 if any(accepted) or any(sent) else quiet + 1
            assert quiet < max_quiet, f"cycle {self.cycle}: no progress for {max_quiet} cycles"
            self.cycle += 1
        for _ in range(8):  # nothing more may come out
            await FallingEdge(self.dut.clk)
            await ReadOnly()
            assert not any(port[3].value for port in self.ports), "a stray flit"
            self.cycle += 1
        return self.cycle
