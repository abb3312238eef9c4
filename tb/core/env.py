"""The core's cocotb testbench environment: clock, reset, host access to MEM, and starting
a program and waiting for its end."""

import os

import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from rtl.spec.config import get_config
from rtl.spec.isa import NOC_PORTS
from sw.golden.core import Core

from ..stream import start_clock

__all__ = ["CoreEnv"]


class CoreEnv:
    """The core under test (configuration from ``CORE_CONFIG``, default ``sim``)."""

    def __init__(self, dut):
        self.dut    = dut
        self.config = get_config(os.environ.get("CORE_CONFIG", "sim")).core
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
