"""cocotb tests of the UART alone (:class:`rtl.top.uart.UART`) under Verilator, through the
line model of :mod:`tb.uart.line` and the stream agents of :mod:`tb.stream`.

The design's ``clk_freq`` and ``baud`` come from ``UART_CLK_FREQ`` and ``UART_BAUD`` (set
by the pytest entry, :mod:`tb.uart.test_uart_rtl`). Every random choice derives from the
cocotb seed (``COCOTB_RANDOM_SEED``, the session's ``--seed``/``SEED``).
"""

import itertools
import os
import random
from fractions import Fraction

import cocotb
from cocotb.triggers import FallingEdge

from ..stream import (StreamSink, StreamSource, burst_pause, random_pause, run_cycles,
                      start_clock)
from .line import UartDriver, UartMonitor

CLK_FREQ = int(os.environ.get("UART_CLK_FREQ", "50000000"))
BAUD     = int(os.environ.get("UART_BAUD", "3000000"))
BIT      = Fraction(CLK_FREQ, BAUD)            # clock cycles a bit
#: Bytes each way in the duplex test: about 100,000 cycles' worth, 20 to 600.
COUNT    = max(20, min(600, int(100_000 / (10 * BIT))))
FLAGS    = ("framing", "overrun", "line_break")


def seeded(dut, salt):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    dut._log.info("seed %d (rerun with SEED=%d); %d Hz, %d baud: %s clocks a bit", seed, seed,
                  CLK_FREQ, BAUD, BIT)
    return random.Random(f"{seed}:{salt}:{CLK_FREQ}:{BAUD}")


def flags(dut):
    return {f for f in FLAGS if int(getattr(dut, f).value)}


class Env:
    """The UART, a line driver and monitor at the far end's bit time ``far`` (cycles),
    a source on ``i`` and a sink on ``o``."""

    def __init__(self, dut, far, source_pause=None, sink_pause=None):
        self.dut = dut
        self.driver = UartDriver(dut.clk, dut.rx_pin, far)     # the line idles high
        self.monitor = UartMonitor(dut.clk, dut.tx_pin, far)
        self.source = StreamSource(dut, "i", source_pause)
        self.sink = StreamSink(dut, "o", sink_pause)
        self.agents = [self.source, self.sink]
        self.cycle = 0

    async def start(self):
        self.dut.clear.value = 0
        await start_clock(self.dut)
        await self.driver.start()
        await self.monitor.start()

    async def run(self, until, max_cycles, what):
        try:
            self.cycle = await run_cycles(self.dut.clk, self.agents, until,
                                          max_cycles=max_cycles, start=self.cycle)
        except TimeoutError:
            raise AssertionError(
                f"{what}: not done in {max_cycles} cycles: driver idle {self.driver.idle}, "
                f"{len(self.sink.items)} bytes on o, {self.source.sent} taken from i, "
                f"monitor got {len(self.monitor.bytes)} bytes and {len(self.monitor.errors)} "
                f"bad frames") from None

    async def settle(self, bits):
        end = self.cycle + int(bits * BIT)
        await self.run(lambda c: c >= end, int(bits * BIT) + 1, "settle")

    async def clear(self):
        """Pulse ``clear`` for a cycle; the flags must be down after it."""
        await FallingEdge(self.dut.clk)
        self.dut.clear.value = 1
        await FallingEdge(self.dut.clk)
        self.dut.clear.value = 0
        self.cycle += 2
        assert not flags(self.dut), f"flags {flags(self.dut)} after clear"


@cocotb.test()
async def test_duplex(dut):
    """Random bytes both ways at once, the far end 1-2% faster or slower (random), random
    gaps on the line (none to 2 bits), random stalls on ``o``, and on ``i`` a random gap of
    up to 25 bits before 30% of the bytes (runs of frames back to back, and frames sent from
    idle): every byte arrives in order, the monitor sees no bad frame, no flag rises."""
    rng = seeded(dut, "duplex")
    error = rng.choice([-1, 1]) * rng.uniform(0.01, 0.02)
    env = Env(dut, float(BIT) * (1 + error), burst_pause(rng, 0.3, int(25 * BIT)),
              random_pause(rng, 0.3))
    await env.start()
    rx_bytes = [rng.randrange(256) for _ in range(COUNT)]
    tx_bytes = [rng.randrange(256) for _ in range(COUNT)]
    env.driver.send(rx_bytes, gap=lambda: rng.choice([0, 0, rng.uniform(0, 2)]))
    env.source.send(tx_bytes)
    await env.run(lambda c: (env.driver.idle and env.source.idle and env.monitor.idle
                             and len(env.sink.items) == COUNT
                             and len(env.monitor.bytes) == COUNT)
                  or env.monitor.errors or len(env.sink.items) > COUNT,
                  int(40 * BIT * COUNT) + 1000, "duplex")
    await env.settle(12)
    assert env.sink.items == rx_bytes, \
        f"far end {error:+.2%}: o gave {bytes(env.sink.items).hex()}, sent {bytes(rx_bytes).hex()}"
    assert env.monitor.bytes == tx_bytes, \
        f"far end {error:+.2%}: the line carried {bytes(env.monitor.bytes).hex()}, " \
        f"sent {bytes(tx_bytes).hex()}"
    assert not env.monitor.errors, f"bad frames on tx_pin: {env.monitor.errors[:3]}"
    assert not flags(dut), f"flags raised: {flags(dut)}"
    dut._log.info("duplex, far end %+.2f%%: %d bytes each way in %d cycles", 100 * error,
                  COUNT, env.cycle)


@cocotb.test()
async def test_errors(dut):
    """Through the line model, the far end 2% off: a framing error and a break (20 bits)
    between good bytes raise their flags and give no byte; ``clear`` clears them; ``o``
    not ready for two bytes: the second is dropped with ``overrun``, the first kept."""
    rng = seeded(dut, "errors")
    error = rng.choice([-0.02, 0.02])
    env = Env(dut, float(BIT) * (1 + error))
    await env.start()
    data = [rng.randrange(256) for _ in range(5)]
    drv = env.driver
    drv.send(data[:1], gap=1)
    drv.send([rng.randrange(1, 256)], stop=0)
    drv.hold(1, 2)
    drv.hold(0, 20)
    drv.hold(1, 2)
    drv.send(data[1:2])
    drv.hold(1, 1)
    await env.run(lambda c: drv.idle, int(60 * BIT), "errors")
    assert env.sink.items == data[:2], f"o gave {bytes(env.sink.items).hex()}, " \
                                       f"expected {bytes(data[:2]).hex()}"
    assert flags(dut) == {"framing", "line_break"}, f"flags {flags(dut)}"
    await env.clear()
    env.sink.set_pause(itertools.repeat(1))
    drv.send(data[2:4], gap=1)
    drv.hold(1, 1)
    await env.run(lambda c: drv.idle, int(30 * BIT), "overrun")
    assert flags(dut) == {"overrun"}, f"flags {flags(dut)} after two bytes not taken"
    env.sink.set_pause(None)
    await env.settle(1)
    assert env.sink.items == data[:3], f"o gave {bytes(env.sink.items).hex()} after the " \
                                       f"overrun, expected {bytes(data[:3]).hex()}"
    await env.clear()
    drv.send(data[4:], gap=1)
    drv.hold(1, 1)
    await env.run(lambda c: drv.idle, int(15 * BIT), "after the overrun")
    await env.settle(1)
    assert env.sink.items == data[:3] + data[4:], f"o gave {bytes(env.sink.items).hex()}"
    assert not flags(dut), f"flags {flags(dut)}"
