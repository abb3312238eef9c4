"""A serial line for cocotb: 8N1 frames (start bit 0, 8 data bits least significant first,
stop bit 1; idle high) sent on a DUT's receive pin (:class:`UartDriver`) and decoded from
its transmit pin (:class:`UartMonitor`).

A bit lasts ``bit_cycles`` clock cycles, any positive number (a :class:`fractions.Fraction`
keeps it exact: ``Fraction(50_000_000, 3_000_000)`` for 3 Mbaud at 50 MHz); give the far
end's own rate to model a mismatch (``bit_cycles * 1.02``: 2% slow). Both wait on timers
(one per level change, one per sampled bit), never clock by clock, so they cost little
however slow the line: the clock's period is measured once, by :meth:`start` (two rising
edges), which must be awaited before anything is sent or received.

The driver changes the pin only at falling clock edges (half a cycle from any rising edge,
where the DUT samples it): a level change due at time ``t`` (in cycles from the start of a
burst of queued items) happens at the falling edge ``ceil(t)``. The monitor sees a start
bit on the falling edge of the pin and samples bit ``i`` ``n - 1/2`` cycles later, ``n =
round((i + 1/2) * bit_cycles)``: at the ``n``-th falling clock edge after it, for a pin
that changes at rising edges, as a registered output does.
"""

import math
from collections import deque

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, FallingEdge, RisingEdge, Timer

__all__ = ["frame_bits", "clock_period", "UartDriver", "UartMonitor"]


def frame_bits(byte, stop=1):
    """The 10 line levels of an 8N1 frame of ``byte``, with stop bit ``stop``."""
    if not 0 <= byte <= 0xFF:
        raise ValueError(f"byte must be from 0 to 255, not {byte!r}")
    return [0] + [(byte >> k) & 1 for k in range(8)] + [stop]


async def clock_period(clk):
    """The period of ``clk`` in simulator steps (two rising edges; returns at the second)."""
    await RisingEdge(clk)
    start = get_sim_time("step")
    await RisingEdge(clk)
    return get_sim_time("step") - start


def _check_bit_cycles(bit_cycles):
    if isinstance(bit_cycles, bool) or not bit_cycles > 0:
        raise ValueError(f"bit_cycles must be a positive number, not {bit_cycles!r}")


class UartDriver:
    """Send frames on ``pin`` (held idle high from construction).

    Queued items (:meth:`send`, :meth:`hold`) are sent one after another with no gap
    between them; the line keeps the last level of the last item. When the queue runs
    dry the driver waits; the next item starts at the next falling clock edge.

    Args:
        clk: The clock handle.
        pin: The DUT's receive pin.
        bit_cycles: Clock cycles a bit (int, float or Fraction).
    """

    def __init__(self, clk, pin, bit_cycles):
        _check_bit_cycles(bit_cycles)
        self.clk, self.pin, self.bit_cycles = clk, pin, bit_cycles
        self.pin.value = 1
        self.frames = 0              # frames sent, to their stop bit's end
        self._items = deque()        # (level, bits), a frame as its bits
        self._wake = Event()
        self._busy = False
        self._task = None
        self._period = None

    async def start(self):
        """Measure the clock and start sending; return ``self``."""
        self._period = await clock_period(self.clk)
        self._task = cocotb.start_soon(self._run())
        return self

    def send(self, data, *, gap=0, stop=1):
        """Queue the bytes of ``data``, each after ``gap`` bit times of idle line (a number,
        or a callable giving each byte's); ``stop`` 0 sends each with a stop bit of 0 (a
        framing error; the line then stays low until an item raises it)."""
        for byte in data:
            g = gap() if callable(gap) else gap
            if g:
                self._items.append((1, g))
            self._items.extend((bit, 1) for bit in frame_bits(byte, stop))
            self._items.append(("frame", 0))
        self._wake.set()

    def hold(self, level, bits):
        """Queue ``level`` on the line for ``bits`` bit times (0 for ``bits`` of 10 or more
        is a break)."""
        self._items.append((int(level), bits))
        self._wake.set()

    @property
    def idle(self):
        """Nothing queued, and the last item's time is over."""
        return not self._items and not self._busy

    async def _run(self):
        period, p = self._period, self.bit_cycles
        while True:
            while not self._items:
                self._busy = False
                self._wake.clear()
                await self._wake.wait()
            self._busy = True
            await FallingEdge(self.clk)          # the burst's origin: cycle 0
            now, bits = 0, 0                     # cycles and bit times from it
            while self._items:
                level, length = self._items.popleft()
                due = math.ceil(bits * p)
                if due > now:
                    await Timer((due - now) * period, "step")
                    now = due
                if level == "frame":
                    self.frames += 1
                    continue
                self.pin.value = level
                bits += length
            due = math.ceil(bits * p)
            if due > now:
                await Timer((due - now) * period, "step")


class UartMonitor:
    """Decode the frames on ``pin``: each good frame's byte goes to :attr:`bytes`; a frame
    whose start bit is high at its sample (a glitch) or whose stop bit is low (a framing
    error or a break: the monitor then waits for the line to go high) goes to
    :attr:`errors` as the levels sampled (1 for a glitch, else 10), with the simulator
    time of its start in ns.

    Args:
        clk: The clock handle.
        pin: The DUT's transmit pin.
        bit_cycles: Clock cycles a bit (int, float or Fraction).
    """

    def __init__(self, clk, pin, bit_cycles):
        _check_bit_cycles(bit_cycles)
        self.clk, self.pin, self.bit_cycles = clk, pin, bit_cycles
        self.bytes = []
        self.errors = []              # (start time in ns, [10 levels])
        self._receiving = False
        self._task = None

    async def start(self):
        """Measure the clock and start decoding; return ``self``. The line must not fall
        during the two cycles this takes."""
        period = await clock_period(self.clk)
        self._task = cocotb.start_soon(self._run(period))
        return self

    @property
    def idle(self):
        """No frame is being received."""
        return not self._receiving

    async def _run(self, period):
        p = self.bit_cycles
        while True:
            while int(self.pin.value) == 0:
                await RisingEdge(self.pin)
            await FallingEdge(self.pin)
            self._receiving = True
            start, elapsed, levels = get_sim_time("ns"), 0, []
            for i in range(10):
                # the falling clock edge nearest (i + 1/2) bit times after the start edge
                n = max(1, round((i + 0.5) * p))
                at = (2 * n - 1) * period // 2
                await Timer(at - elapsed, "step")
                elapsed = at
                levels.append(int(self.pin.value))
                if i == 0 and levels[0]:
                    break                     # a glitch: no start bit
            if len(levels) == 10 and levels[9] == 1:
                self.bytes.append(sum(b << k for k, b in enumerate(levels[1:9])))
            else:
                self.errors.append((start, levels))
            self._receiving = False
