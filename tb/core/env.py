"""The core's cocotb testbench environment: clock, reset, host access to MEM, and starting
a program and waiting for its end."""

import os
from collections import deque

import numpy as np
from amaranth.lib import data
from cocotb.triggers import FallingEdge, ReadOnly

from rtl.spec.config import get_config
from rtl.spec.isa import NOC_PORTS
from sw.golden.core import Core

from ..stream import start_clock

__all__ = ["CoreEnv", "NocPorts", "run_ports", "pack", "unpack"]


class CoreEnv:
    """The core under test (configuration from ``CORE_CONFIG``, default ``sim``)."""

    def __init__(self, dut):
        self.dut    = dut
        array = get_config(os.environ.get("CORE_CONFIG", "sim"))
        self.config = array.core
        self.mesh   = (array.rows, array.cols)   # the array the core is built for
        self.word   = self.config.mem_port_bits // 8

    async def start(self):
        d = self.dut
        d.host__en.value = 0
        d.start.value = 0
        for name in NOC_PORTS:
            getattr(d, f"noc__{name}__i__valid").value = 0
            getattr(d, f"noc__{name}__o__ready").value = 1
        await start_clock(d)

    async def write(self, addr, data):
        """Write bytes to MEM through the host port (whole words; ``addr`` aligned)."""
        d, w = self.dut, self.word
        data = bytes(data) + bytes(-len(data) % w)
        assert addr % w == 0
        d.host__we.value = 1
        d.host__mask.value = (1 << w) - 1
        for k in range(0, len(data), w):
            d.host__en.value = 1
            d.host__addr.value = addr + k
            d.host__wdata.value = int.from_bytes(data[k:k + w], "little")
            await FallingEdge(d.clk)
        d.host__en.value = 0
        d.host__we.value = 0

    async def read(self, addr, length):
        d, w = self.dut, self.word
        out = bytearray()
        d.host__we.value = 0
        for k in range(0, length, w):
            d.host__en.value = 1
            d.host__addr.value = addr + k
            await FallingEdge(d.clk)
            d.host__en.value = 0
            for _ in range(self.config.mem_latency - 1):   # the data comes later
                await FallingEdge(d.clk)
            await ReadOnly()
            out += d.host__rdata.value.to_unsigned().to_bytes(w, "little")
            await FallingEdge(d.clk)
        return bytes(out[:length])

    async def run(self, entry, max_cycles=2_000_000):
        """Start the core at ``entry`` and wait until it is done; return its cycle count."""
        d = self.dut
        d.entry.value = entry
        d.start.value = 1
        await FallingEdge(d.clk)
        d.start.value = 0
        await FallingEdge(d.clk)
        for _ in range(max_cycles):
            await ReadOnly()
            if not d.busy.value:
                break
            await FallingEdge(d.clk)
        else:
            raise TimeoutError(f"the core ran more than {max_cycles} cycles")
        await FallingEdge(d.clk)
        assert not d.conflict.value, "two accesses met in one MEM bank in one cycle"
        assert not d.deadlock.value, "the core raised deadlock and then finished"
        assert not d.overflow.value, "a counter overflowed"
        return int(d.cycles.value), int(d.vmm_steps.value)

    async def run_vectors(self, v):
        """Run a user's MEM image from its entry (formats in :mod:`tb.vectors`) on the RTL
        and the golden core; return ``{"mem": (rtl, golden)}``, the whole MEM after the
        run, and ``{"cycles": (rtl, None)}``."""
        image = np.asarray(v["mem"], dtype=np.uint8).tobytes()
        entry = int(v.get("entry", 0))
        golden = Core(self.config)
        golden.write(0, image)
        golden.run(entry)
        await self.write(0, image)
        cycles, _ = await self.run(entry)
        mem = await self.read(0, self.config.sram_bytes)
        return {"mem": (np.frombuffer(mem, dtype=np.uint8), golden.mem),
                "cycles": (np.array(cycles), None)}


def pack(layout, fields):
    """The integer of a :class:`amaranth.lib.data.StructLayout` value given as (nested)
    dicts of its fields (missing fields 0; ``bytes`` little-endian)."""
    value = 0
    for name, field in layout:
        v = fields.get(name, 0)
        if isinstance(field.shape, data.StructLayout):
            v = pack(field.shape, v)
        elif isinstance(v, (bytes, bytearray)):
            v = int.from_bytes(v, "little")
        value |= (int(v) & ((1 << field.width) - 1)) << field.offset
    return value


def unpack(layout, value):
    """The fields of the integer ``value`` of ``layout``, as (nested) dicts."""
    out = {}
    for name, field in layout:
        v = (value >> field.offset) & ((1 << field.width) - 1)
        out[name] = unpack(field.shape, v) if isinstance(field.shape, data.StructLayout) else v
    return out


class NocPorts:
    """The outside of a core's four NoC ports, cycle by cycle, as
    :meth:`sw.golden.cycles.CycleModel.run` describes it: each flit of ``arrivals[p]``
    (``(cycle, flit)``) offered at input ``p`` from its cycle until taken, output ``p``
    ready in ``cycle`` when ``ready[p][cycle % len(ready[p])]`` (``None``: always).
    ``sent[p]`` collects ``(cycle, flit)`` of the flits taken from output ``p``, as the
    model's ``sent``. Cycle 0 is the cycle in which ``start`` is taken. The put ports'
    flits are :class:`sw.golden.noc.Flit` of :class:`sw.golden.cycles.Put`; the PNoC's
    are :class:`sw.golden.cycles.Psum` (``sums``: ``vmm_rows`` int32, None for zeros)."""

    PNOC = NOC_PORTS.index("pnoc")

    def __init__(self, env, arrivals=None, ready=None):
        from rtl.core.noc import core_flit_layout, put_layout
        self.dut = env.dut
        self.word = env.word
        self.layout = core_flit_layout(env.word, *env.mesh)
        self.put = put_layout(env.word)
        self.rows = env.config.vmm_rows
        self.queues = [deque(a) for a in arrivals] if arrivals else [deque() for _ in NOC_PORTS]
        self.ready = ready
        self.sent = [[] for _ in NOC_PORTS]

    def encode(self, flit, port):
        if port == self.PNOC:   # the sums, int32 lanes from bit 0
            sums = flit.sums if flit.sums is not None else [0] * self.rows
            return sum((int(v) & 0xFFFFFFFF) << (32 * r) for r, v in enumerate(sums))
        put = flit.payload
        payload = pack(self.put, {"data": put.data or bytes(self.word),
                                  "addr": put.addr // self.word, "signal": put.signal,
                                  "ctr": put.ctr, "start": put.start,
                                  "weight": put.weight})
        return pack(self.layout, {"payload": payload, "dest": {"x0": flit.x0, "x1": flit.x1,
                                                              "y0": flit.y0, "y1": flit.y1},
                                  "last": flit.last})

    def decode(self, value, port):
        from sw.golden.cycles import Psum, Put
        from sw.golden.noc import Flit
        if port == self.PNOC:   # sums, then dir
            sums = [(value >> (32 * r)) & 0xFFFFFFFF for r in range(self.rows)]
            return Psum(np.array([v - (v >> 31 << 32) for v in sums], dtype=np.int64),
                        value >> (32 * self.rows))
        f = unpack(self.layout, value)
        p = unpack(self.put, f["payload"])
        put = Put(p["addr"] * self.word, p["data"].to_bytes(self.word, "little"),
                  bool(p["signal"]), p["ctr"], bool(p["start"]), bool(p["weight"]))
        d = f["dest"]
        return Flit(put, d["x0"], d["x1"], d["y0"], d["y1"], f["last"])

    def drive(self, cycle):
        """Set the ports' inputs of ``cycle`` (call after the falling edge in it)."""
        d = self.dut
        for p, name in enumerate(NOC_PORTS):
            q = self.queues[p]
            valid = bool(q) and q[0][0] <= cycle
            getattr(d, f"noc__{name}__i__valid").value = int(valid)
            if valid:
                getattr(d, f"noc__{name}__i__payload").value = self.encode(q[0][1], p)
            ready = 1 if self.ready is None else \
                int(self.ready[p][cycle % len(self.ready[p])])
            getattr(d, f"noc__{name}__o__ready").value = ready

    def sample(self, cycle):
        """Record the handshakes of ``cycle`` (call in its ``ReadOnly`` phase)."""
        d = self.dut
        for p, name in enumerate(NOC_PORTS):
            if getattr(d, f"noc__{name}__i__valid").value and \
                    getattr(d, f"noc__{name}__i__ready").value:
                self.queues[p].popleft()
            if getattr(d, f"noc__{name}__o__valid").value and \
                    getattr(d, f"noc__{name}__o__ready").value:
                value = getattr(d, f"noc__{name}__o__payload").value.to_unsigned()
                self.sent[p].append((cycle, self.decode(value, p)))

    def idle(self):
        """Offer nothing and take everything (between runs)."""
        for name in NOC_PORTS:
            getattr(self.dut, f"noc__{name}__i__valid").value = 0
            getattr(self.dut, f"noc__{name}__o__ready").value = 1


async def run_ports(env, entry, ports, *, max_cycles=100_000, drain=8):
    """Start the core at ``entry`` with its NoC ports driven by ``ports`` (a
    :class:`NocPorts`) and run it until it is done: ``("finish", cycles, steps)``, or
    ``("deadlock", cycles)`` in the first cycle ``deadlock`` is seen (``cycles`` read then:
    the number of the cycle in which nothing moved). Then ``drain`` cycles with nothing
    offered, so that the ports' input FIFOs are written out before the next run."""
    d = env.dut
    d.entry.value = entry
    d.start.value = 1
    ports.drive(0)
    await ReadOnly()
    ports.sample(0)
    await FallingEdge(d.clk)
    d.start.value = 0
    result = None
    for cycle in range(1, max_cycles):
        # ``busy`` and ``deadlock`` follow registers only: read now, they tell whether
        # this cycle is one of the run's. In the cycle the run is over (finished, or
        # deadlocked in the cycle before) nothing is offered: an input FIFO would
        # otherwise take a flit the golden core's run never sees, and a SIGNAL in it
        # could even let the deadlocked core finish.
        if d.busy.value and not d.deadlock.value:
            ports.drive(cycle)
        else:
            ports.idle()
        await ReadOnly()
        if d.deadlock.value:
            result = ("deadlock", int(d.cycles.value))
        elif not d.busy.value:
            result = ("finish", int(d.cycles.value), int(d.vmm_steps.value))
        else:
            ports.sample(cycle)
        await FallingEdge(d.clk)
        if result:
            break
    else:
        raise TimeoutError(f"the core ran more than {max_cycles} cycles")
    ports.idle()
    for _ in range(drain):
        await FallingEdge(d.clk)
    return result
