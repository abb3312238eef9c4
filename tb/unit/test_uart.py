# amaranth: UnusedElaboratable=no
"""The UART (:class:`rtl.top.uart.UART`) under the Amaranth simulator, against bit-level
Python models of the far end of the line running at another rate than the UART's.

Receive: random bytes at a far-end rate 2% off (and near the documented tolerance), with
random sub-clock phases and gaps, under random stalls on ``o``; framing errors, breaks,
glitches and overruns, each reported by its flag only. Transmit: random bytes with random
gaps on ``i``, ``tx_pin`` and ``i.ready`` compared every cycle with the documented timing
(bit ``n`` of a run of frames starts ``ceil(n * bit_period)`` clocks after its first) and
decoded by the far end. Every random choice derives from the session seed."""

import itertools
import math
import random
import re
from collections import deque
from fractions import Fraction

import pytest
from amaranth.sim import Simulator

from rtl.top.uart import UART


def rng_for(seed, *salt):
    return random.Random(":".join(map(str, (seed,) + salt)))


def frame_bits(byte, stop=1):
    """The 10 line levels of an 8N1 frame: start, data LSB first, stop."""
    return [0] + [(byte >> k) & 1 for k in range(8)] + [stop]


def first_sample(period):
    """Clocks from the start edge seen to the start bit's sample (docstring of UART)."""
    return math.ceil(Fraction(1, 2) * period - 1)


def rx_latency(period):
    """Clocks from ``rx_pin`` falling to ``o.valid`` (docstring of UART)."""
    return math.ceil(Fraction(19, 2) * period - 1) + 3


class LineTx:
    """The far end's transmitter: line levels scheduled at real times (in clocks); the
    level at cycle ``c`` is that of the last change at a time up to ``c``."""

    def __init__(self, period, start=0.0):
        self.period = period
        self.t = start          # where the next change goes
        self.events = deque()
        self.level = 1

    def frame(self, byte, stop=1):
        for k, bit in enumerate(frame_bits(byte, stop)):
            self.events.append((self.t + k * self.period, bit))
        self.t += 10 * self.period

    def hold(self, level, bits):
        self.events.append((self.t, level))
        self.t += bits * self.period

    def level_at(self, cycle):
        while self.events and self.events[0][0] <= cycle:
            self.level = self.events.popleft()[1]
        return self.level


class LineRx:
    """The far end's receiver: a falling edge starts a frame; bit ``i`` is sampled at the
    cycle nearest ``(i + 1/2) * period`` after it."""

    def __init__(self, period):
        self.period = period
        self.bytes = []
        self.errors = []        # (cycle, bits) of frames with a stop bit of 0
        self.prev = 1
        self.start = None
        self.bits = []

    def feed(self, cycle, level):
        if self.start is None:
            if self.prev and not level:
                self.start, self.bits = cycle, []
        elif cycle >= self.start + round((len(self.bits) + 0.5) * self.period):
            self.bits.append(level)
            if len(self.bits) == 10:
                byte = sum(b << k for k, b in enumerate(self.bits[1:9]))
                if self.bits[0] == 0 and self.bits[9] == 1:
                    self.bytes.append(byte)
                else:
                    self.errors.append((cycle, self.bits))
                self.start = None
        self.prev = level

    @property
    def idle(self):
        return self.start is None


class TxModel:
    """The transmitter's documented timing: a frame taken from ``i`` in cycle ``c`` from
    idle starts a run; bit ``n`` of the run is on ``tx_pin`` from cycle
    ``c + 1 + ceil(n * P)``, and ``i`` is ready again in cycle ``c + ceil(10 k * P)`` (the
    last of the ``k``-th frame's stop bit) and after."""

    def __init__(self, period):
        self.period = period
        self.origin = None
        self.bits = []

    def end(self):
        return self.origin + math.ceil(len(self.bits) * self.period)

    def ready(self, cycle):
        return self.origin is None or cycle >= self.end()

    def transfer(self, cycle, byte):
        if self.origin is None or cycle > self.end():
            self.origin, self.bits = cycle, []
        self.bits += frame_bits(byte)

    def level(self, cycle):
        if self.origin is None or cycle <= self.origin:
            return 1
        n = math.floor((cycle - self.origin - 1) / self.period)
        return self.bits[n] if n < len(self.bits) else 1


def pauses(rng, p, longest):
    """1 (pause) with probability ``p`` a cycle, and now and then a burst of up to
    ``longest`` cycles, with no pause right after it."""
    while True:
        if rng.random() < p / 20:
            yield from itertools.repeat(1, rng.randint(1, longest))
            yield 0
        else:
            yield 1 if rng.random() < p else 0


FLAGS = ("framing", "overrun", "line_break")


class Bench:
    """One cycle loop for the UART: the far end's transmitter on ``rx_pin`` and receiver
    on ``tx_pin``, a sink on ``o`` and a source on ``i`` (pause generators: 1 stalls),
    the transmitter's exact timing checked every cycle, the stream rules on ``o``."""

    def __init__(self, dut, tag, *, line_period, start=0.0, o_pause=None, i_pause=None):
        self.dut, self.tag = dut, tag
        self.cycle = 0
        self.line = LineTx(line_period, start)
        self.far = LineRx(line_period)
        self.model = TxModel(dut.bit_period)
        self.o_pause = iter(o_pause) if o_pause is not None else None
        self.i_pause = iter(i_pause) if i_pause is not None else None
        self.to_send = deque()
        self.offering = False
        self.received = []      # (cycle, byte)
        self.held = None        # o's (payload) while valid and not taken
        self.clear = 0
        self.o_stop = False     # o not ready at all
        self.seen = {f: 0 for f in FLAGS}   # cycles each flag was high

    async def step(self, ctx):
        dut, c = self.dut, self.cycle
        ctx.set(dut.rx_pin, self.line.level_at(c))
        ready = 0 if self.o_stop or (self.o_pause is not None and next(self.o_pause)) else 1
        ctx.set(dut.o.ready, ready)
        if not self.offering:
            if self.to_send and not (self.i_pause is not None and next(self.i_pause)):
                ctx.set(dut.i.payload, self.to_send[0])
                ctx.set(dut.i.valid, 1)
                self.offering = True
            else:
                ctx.set(dut.i.valid, 0)
        ctx.set(dut.clear, self.clear)
        tx = ctx.get(dut.tx_pin)
        assert tx == self.model.level(c), \
            f"{self.tag}: cycle {c}: tx_pin {tx}, expected {self.model.level(c)}"
        i_ready = ctx.get(dut.i.ready)
        assert i_ready == self.model.ready(c), \
            f"{self.tag}: cycle {c}: i.ready {i_ready}, expected {int(self.model.ready(c))}"
        self.far.feed(c, tx)
        if self.offering and i_ready:
            self.model.transfer(c, self.to_send.popleft())
            self.offering = False
        valid, payload = ctx.get(dut.o.valid), ctx.get(dut.o.payload)
        if self.held is not None:
            assert valid and payload == self.held, \
                f"{self.tag}: cycle {c}: o dropped or changed an untaken byte {self.held:#04x}"
        if valid and ready:
            self.received.append((c, payload))
        self.held = payload if valid and not ready else None
        for f in FLAGS:
            self.seen[f] += ctx.get(getattr(dut, f))
        await ctx.tick()
        self.cycle += 1

    async def run_until(self, ctx, done, limit, what):
        start = self.cycle
        while not done():
            assert self.cycle - start < limit, f"{self.tag}: {what}: not done in {limit} cycles"
            await self.step(ctx)

    async def run_to(self, ctx, cycle):
        while self.cycle < cycle:
            await self.step(ctx)

    def flags(self, ctx):
        return {f for f in FLAGS if ctx.get(getattr(self.dut, f))}

    async def clear_flags(self, ctx):
        self.clear = 1
        await self.step(ctx)
        self.clear = 0
        assert not self.flags(ctx), f"{self.tag}: flags {self.flags(ctx)} after clear"


def _run(dut, bench, seed):
    print(f"seed {seed} (rerun with --seed {seed} or SEED={seed})")
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    try:
        sim.run()
    except AssertionError as e:
        raise AssertionError(f"seed {seed}: {e}") from None


# (clk_freq, baud, bytes each way): the board's 50 MHz and 25 MHz clocks at 3 Mbaud and
# 115200, the fewest clocks a bit (8), a fraction close to it (8.33), and 921600.
DUPLEX = [(50_000_000, 3_000_000, 120), (25_000_000, 3_000_000, 120),
          (16_000_000, 2_000_000, 120), (50_000_000, 921_600, 40),
          (25_000_000, 115_200, 8)]


@pytest.mark.parametrize("clk_freq, baud, count", DUPLEX)
def test_duplex(clk_freq, baud, count, seed):
    """Random bytes both ways at once: the far end 1-2% faster or slower than the UART
    (random), with random sub-clock phases and gaps (none to 2 bits); ``o`` stalled at
    random (bursts up to 6 bits: never an overrun), ``i`` offered with random gaps
    (back-to-back runs and idle in between). Every byte arrives, in order; ``tx_pin`` and
    ``i.ready`` follow the documented timing in every cycle; no flag rises."""
    rng = rng_for(seed, "duplex", clk_freq, baud)
    dut = UART(clk_freq, baud)
    period = dut.bit_period
    assert period == Fraction(clk_freq, baud) and dut.rate_error == 0
    error = rng.choice([-1, 1]) * rng.uniform(0.01, 0.02)
    line_period = float(period) * (1 + error)
    tag = f"{clk_freq}/{baud}, far end {error:+.2%}"
    rx_bytes = [rng.randrange(256) for _ in range(count)]
    tx_bytes = [rng.randrange(256) for _ in range(count)]
    bits = int(period)
    b = Bench(dut, tag, line_period=line_period, start=rng.uniform(1, 3),
              o_pause=pauses(rng, 0.3, 6 * bits), i_pause=pauses(rng, 0.3, 15 * bits))

    async def bench(ctx):
        for byte in rx_bytes:
            b.line.hold(1, rng.choice([0, 0, rng.uniform(0, 2)]))
            b.line.frame(byte)
        b.to_send.extend(tx_bytes)
        limit = int(40 * period * count) + 1000
        await b.run_until(ctx, lambda: (b.cycle > b.line.t + 4 and len(b.far.bytes) == count
                                        and not b.to_send and b.far.idle), limit, "duplex")
        await b.run_to(ctx, b.cycle + int(12 * period))   # nothing more may come
        got = [x for _, x in b.received]
        assert got == rx_bytes, f"{tag}: received {bytes(got).hex()}, sent {bytes(rx_bytes).hex()}"
        assert b.far.bytes == tx_bytes, \
            f"{tag}: far end got {bytes(b.far.bytes).hex()}, sent {bytes(tx_bytes).hex()}"
        assert not b.far.errors, f"{tag}: far end saw bad frames {b.far.errors[:3]}"
        assert not any(b.seen.values()), f"{tag}: flags raised: {b.seen}"

    _run(dut, bench, seed)


@pytest.mark.parametrize("clk_freq, baud, count", [(50_000_000, 3_000_000, 100),
                                                   (25_000_000, 115_200, 6)])
def test_loopback(clk_freq, baud, count, seed):
    """Bytes offered on ``i`` (random gaps) go out on ``tx_pin`` to the far end, 2% slower
    or faster, which sends each back on ``rx_pin`` as soon as it has it (sub-clock phase
    random); ``o`` (random stalls) gives them all back, in order."""
    rng = rng_for(seed, "loopback", clk_freq, baud)
    dut = UART(clk_freq, baud)
    period = dut.bit_period
    error = rng.choice([-0.02, 0.02])
    line_period = float(period) * (1 + error)
    tag = f"loopback {clk_freq}/{baud}, far end {error:+.0%}"
    data = [rng.randrange(256) for _ in range(count)]
    bits = int(period)
    b = Bench(dut, tag, line_period=line_period, o_pause=pauses(rng, 0.3, 6 * bits),
              i_pause=pauses(rng, 0.3, 15 * bits))
    b.to_send.extend(data)

    async def bench(ctx):
        echoed = 0
        limit = 40 * bits * count + 1000
        while len(b.received) < count:
            assert b.cycle < limit, f"{tag}: {len(b.received)} of {count} bytes back"
            await b.step(ctx)
            if len(b.far.bytes) > echoed:
                b.line.t = max(b.line.t, b.cycle + rng.random())
                b.line.frame(b.far.bytes[echoed])
                echoed += 1
        await b.run_to(ctx, b.cycle + 12 * bits)
        got = [x for _, x in b.received]
        assert got == data, f"{tag}: got back {bytes(got).hex()}, sent {bytes(data).hex()}"
        assert not any(b.seen.values()), f"{tag}: flags raised: {b.seen}"

    _run(dut, bench, seed)


@pytest.mark.parametrize("clk_freq, baud", [(50_000_000, 3_000_000), (16_000_000, 2_000_000),
                                            (25_000_000, 2_000_000)])
@pytest.mark.parametrize("sign", [-1, 1])
def test_rx_tolerance(clk_freq, baud, sign, seed):
    """The far end 0.9 of the documented tolerance, ``(1/2 - 1/bit_period) / 10``, off
    the UART's rate, frames back to back or nearly (under 1/2 bit between, random
    sub-clock phases): every byte arrives and no flag rises."""
    rng = rng_for(seed, "tolerance", clk_freq, baud, sign)
    dut = UART(clk_freq, baud)
    period = Fraction(clk_freq, baud)
    tolerance = float((Fraction(1, 2) - 1 / period) / 10)
    assert dut.tolerance == pytest.approx(tolerance)
    error = sign * 0.9 * tolerance
    tag = f"{clk_freq}/{baud}, far end {error:+.2%}"
    data = [rng.randrange(256) for _ in range(80)]
    b = Bench(dut, tag, line_period=float(period) * (1 + error), start=rng.uniform(1, 3))

    async def bench(ctx):
        for byte in data:
            b.line.hold(1, rng.choice([0, rng.uniform(0, 0.5)]))
            b.line.frame(byte)
        await b.run_until(ctx, lambda: b.cycle > b.line.t + period, 20 * period * len(data),
                          "tolerance")
        got = [x for _, x in b.received]
        assert got == data, f"{tag}: received {bytes(got).hex()}, sent {bytes(data).hex()}"
        assert not any(b.seen.values()), f"{tag}: flags raised: {b.seen}"

    _run(dut, bench, seed)


@pytest.mark.parametrize("clk_freq, baud, events", [(50_000_000, 3_000_000, 60),
                                                    (16_000_000, 2_000_000, 40),
                                                    (25_000_000, 115_200, 10)])
def test_rx_errors(clk_freq, baud, events, seed):
    """Random good frames, framing errors (stop bit 0 after data not all zero, the line
    low 0-4 bits more), breaks (10 to 30 bits low) and glitches (low for 1 to
    ``ceil(bit_period / 2 - 1)`` clocks), the far end 2% off, each followed by 1 to 3 bits
    of idle: after each, the good bytes so far have arrived and nothing else, and exactly
    the event's flag is up (a break's once: cleared at 10 bits, it stays down to the
    line's rise); ``clear`` clears them."""
    rng = rng_for(seed, "errors", clk_freq, baud)
    dut = UART(clk_freq, baud)
    period = dut.bit_period
    longest_glitch = first_sample(period)
    error = rng.choice([-0.02, 0.02])
    line_period = float(period) * (1 + error)
    tag = f"{clk_freq}/{baud}, far end {error:+.0%}"
    b = Bench(dut, tag, line_period=line_period, start=rng.uniform(1, 3))
    kinds = ["good", "framing", "break", "glitch"]

    async def bench(ctx):
        good, counts = [], dict.fromkeys(kinds, 0)
        for n in range(events):
            kind = kinds[n] if n < len(kinds) else rng.choice(kinds)
            counts[kind] += 1
            begin = b.line.t
            what = f"event {n} ({kind})"
            if kind == "good":
                byte = rng.randrange(256)
                b.line.frame(byte)
                good.append(byte)
                expected = set()
            elif kind == "framing":
                byte = rng.randrange(1, 256)
                b.line.frame(byte, stop=0)
                b.line.hold(0, rng.choice([0, rng.uniform(0, 4)]))
                what += f" {byte:#04x}"
                expected = {"framing"}
            elif kind == "break":
                bits = rng.choice([10, rng.uniform(10, 30)])
                b.line.hold(0, bits)
                what += f" {bits:.2f} bits"
                expected = set()
            else:
                cycles = rng.randint(1, longest_glitch)
                b.line.t = math.ceil(b.line.t) + 0.5   # whole cycles: an exact length
                b.line.hold(0, cycles / line_period)
                what += f" {cycles} cycles"
                expected = set()
            b.line.hold(1, rng.uniform(1, 3))
            if kind == "break":
                await b.run_to(ctx, math.ceil(begin + 10 * line_period) + 4)
                assert b.flags(ctx) == {"line_break"}, \
                    f"{tag}: {what}: flags {b.flags(ctx)} after 10 bits low"
                await b.clear_flags(ctx)
            await b.run_to(ctx, math.ceil(b.line.t))
            got = [x for _, x in b.received]
            assert got == good, f"{tag}: {what}: received {bytes(got).hex()}, " \
                                f"expected {bytes(good).hex()}"
            assert b.flags(ctx) == expected, f"{tag}: {what}: flags {b.flags(ctx)}, " \
                                             f"expected {expected or 'none'}"
            if expected:
                await b.clear_flags(ctx)
        print(f"{tag}: {counts}")

    _run(dut, bench, seed)


@pytest.mark.parametrize("clk_freq, baud", [(50_000_000, 3_000_000), (16_000_000, 2_000_000),
                                            (25_000_000, 115_200)])
def test_rx_timing(clk_freq, baud, seed):
    """At the UART's own rate, edges on whole cycles: a byte is on ``o`` exactly
    ``ceil(9.5 * bit_period - 1) + 3`` clocks after ``rx_pin`` falls; a low pulse of
    ``ceil(bit_period / 2 - 1)`` clocks is no start bit, one a clock longer is (a 0xFF
    byte: the start bit is sampled exactly there)."""
    rng = rng_for(seed, "timing", clk_freq, baud)
    dut = UART(clk_freq, baud)
    period = dut.bit_period
    tag = f"{clk_freq}/{baud}"
    b = Bench(dut, tag, line_period=period, start=3)
    latency = rx_latency(period)

    async def bench(ctx):
        for _ in range(3):
            start = math.ceil(b.line.t)
            b.line.t = start
            byte = rng.randrange(256)
            b.line.frame(byte)
            b.line.hold(1, rng.uniform(1, 2))
            await b.run_to(ctx, start + latency)
            assert not b.received, f"{tag}: a byte came at {b.received} before the " \
                                   f"documented {latency} clocks after the edge at {start}"
            await b.step(ctx)
            assert b.received == [(start + latency, byte)], \
                f"{tag}: received {b.received}, expected {byte:#04x} at cycle " \
                f"{start + latency} ({latency} after the edge)"
            b.received.clear()
            await b.run_to(ctx, math.ceil(b.line.t))
        for cycles, byte in ((first_sample(period), None), (first_sample(period) + 1, 0xFF)):
            b.line.t = math.ceil(b.line.t)
            b.line.hold(0, Fraction(cycles) / period)
            b.line.hold(1, 12)
            await b.run_to(ctx, math.ceil(b.line.t))
            got = [x for _, x in b.received]
            assert got == ([byte] if byte is not None else []), \
                f"{tag}: a low pulse of {cycles} clocks gave {got}"
            b.received.clear()
            assert not b.flags(ctx), f"{tag}: pulse of {cycles} clocks: flags {b.flags(ctx)}"

    _run(dut, bench, seed)


def test_overrun(seed):
    """``o`` not ready: the first byte is held; the second, complete exactly at its
    latency, raises ``overrun`` and is dropped, and so is a third; ``o`` still offers the
    first; once ready, the first is taken and the next byte arrives (no other flag)."""
    rng = rng_for(seed, "overrun")
    dut = UART(50_000_000, 3_000_000)
    period = dut.bit_period
    latency = rx_latency(period)
    tag = "overrun"
    b = Bench(dut, tag, line_period=period, start=2)
    b.o_stop = True
    data = [rng.randrange(256) for _ in range(4)]

    async def bench(ctx):
        starts = []
        for byte in data[:3]:
            b.line.t = math.ceil(b.line.t)
            starts.append(b.line.t)
            b.line.frame(byte)
            b.line.hold(1, rng.uniform(0, 2))
        await b.run_to(ctx, starts[1] + latency - 1)
        assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload) == data[0], f"{tag}: first byte"
        assert not b.flags(ctx), f"{tag}: flags {b.flags(ctx)} before the second byte"
        await b.step(ctx)
        assert b.flags(ctx) == {"overrun"}, \
            f"{tag}: flags {b.flags(ctx)} as the second byte completes"
        await b.run_to(ctx, math.ceil(b.line.t) + 4)
        assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload) == data[0], \
            f"{tag}: o no longer holds the first byte {data[0]:#04x}"
        assert b.flags(ctx) == {"overrun"}
        assert not b.received
        b.o_stop = False
        await b.run_to(ctx, b.cycle + 2)
        assert [x for _, x in b.received] == [data[0]]
        assert not ctx.get(dut.o.valid), f"{tag}: o still valid after its byte was taken"
        await b.clear_flags(ctx)
        b.line.t = max(b.line.t, b.cycle)
        b.line.frame(data[3])
        b.line.hold(1, 1)
        await b.run_to(ctx, math.ceil(b.line.t) + 4)
        assert [x for _, x in b.received] == [data[0], data[3]], f"{tag}: {b.received}"
        assert not b.flags(ctx)

    _run(dut, bench, seed)


def test_taken_as_next_arrives(seed):
    """``o`` holds a byte and is taken in the very cycle the next byte completes: both
    arrive, one a cycle after the other, and no overrun."""
    rng = rng_for(seed, "taken")
    dut = UART(50_000_000, 3_000_000)
    latency = rx_latency(dut.bit_period)
    b = Bench(dut, "taken", line_period=dut.bit_period, start=2)
    b.o_stop = True
    data = [rng.randrange(256) for _ in range(2)]

    async def bench(ctx):
        b.line.frame(data[0])
        b.line.hold(1, rng.uniform(0, 2))
        start = b.line.t = math.ceil(b.line.t)
        b.line.frame(data[1])
        b.line.hold(1, 1)
        await b.run_to(ctx, start + latency - 1)
        b.o_stop = False
        await b.run_to(ctx, math.ceil(b.line.t))
        expected = [(start + latency - 1, data[0]), (start + latency, data[1])]
        assert b.received == expected, f"taken: received {b.received}, expected {expected}"
        assert not any(b.seen.values()), f"taken: flags raised: {b.seen}"

    _run(dut, bench, seed)


def test_clear_keeps_new_errors(seed):
    """``clear`` held high: an error in a cycle of ``clear`` still sets its flag (for that
    one cycle): a framing error, a break and an overrun are each seen."""
    rng = rng_for(seed, "clear")
    dut = UART(16_000_000, 2_000_000)
    b = Bench(dut, "clear", line_period=dut.bit_period, start=2)
    b.clear, b.o_stop = 1, True

    async def bench(ctx):
        b.line.frame(rng.randrange(1, 256), stop=0)
        b.line.hold(1, 2)
        b.line.hold(0, 12)
        b.line.hold(1, 2)
        b.line.frame(rng.randrange(256))
        b.line.frame(rng.randrange(256))
        b.line.hold(1, 2)
        await b.run_to(ctx, math.ceil(b.line.t))
        assert b.seen == {"framing": 1, "line_break": 1, "overrun": 1}, \
            f"cycles each flag was seen with clear high: {b.seen}"

    _run(dut, bench, seed)


def test_tx_back_to_back(seed):
    """``i`` always valid: frames leave back to back, exactly 10 bits each (checked every
    cycle by the bench); the far end decodes them."""
    rng = rng_for(seed, "back")
    dut = UART(50_000_000, 3_000_000)
    data = [rng.randrange(256) for _ in range(30)]
    b = Bench(dut, "back to back", line_period=dut.bit_period)
    b.to_send.extend(data)

    async def bench(ctx):
        await b.run_until(ctx, lambda: len(b.far.bytes) == len(data), 300 * len(data), "tx")
        assert b.far.bytes == data
        assert b.model.origin == 0 and len(b.model.bits) == 10 * len(data), \
            "the frames were not one run"

    _run(dut, bench, seed)


def test_reset_state():
    """After reset: lines high, ``i`` ready, ``o`` empty, no flag."""
    dut = UART(25_000_000, 115_200)

    async def bench(ctx):
        for _ in range(3):
            assert ctx.get(dut.tx_pin) == 1 and ctx.get(dut.i.ready) == 1
            assert ctx.get(dut.o.valid) == 0
            assert not any(ctx.get(getattr(dut, f)) for f in FLAGS)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("clk_freq, baud, period", [
    (50_000_000, 3_000_000, Fraction(50, 3)),
    (25_000_000, 115_200, Fraction(15625, 72)),
    (50e6, 3e6, Fraction(50, 3)),
    (16_000_000, 2_000_000, Fraction(8)),
    (Fraction(100, 3), Fraction(1, 3), Fraction(100)),
])
def test_bit_period_exact(clk_freq, baud, period):
    dut = UART(clk_freq, baud)
    assert dut.bit_period == period and dut.rate_error == 0
    assert dut.clk_freq == clk_freq and dut.baud == baud


@pytest.mark.parametrize("clk_freq, baud", [(50_000_000, 115_201), (50e6, 1e6 / 3),
                                            (48_000_001, 3_000_017)])
def test_bit_period_approximate(clk_freq, baud):
    """A ratio whose reduced denominator is above 2**16: the nearest fraction with one up
    to 2**16, within 2e-6."""
    exact = Fraction(clk_freq) / Fraction(baud)
    assert exact.denominator > 1 << 16
    dut = UART(clk_freq, baud)
    assert dut.bit_period.denominator <= 1 << 16
    assert dut.bit_period == exact.limit_denominator(1 << 16)
    assert 0 < abs(dut.rate_error) < 2e-6


@pytest.mark.parametrize("name", ["clk_freq", "baud"])
@pytest.mark.parametrize("value", [True, False, None, "50e6", 0, -115200, -1.5,
                                   float("nan"), float("inf"), 1j, [9600]])
def test_rejects_values(name, value):
    args = {"clk_freq": 50_000_000, "baud": 115_200, name: value}
    with pytest.raises(ValueError, match=rf"^{name} must be a positive number, not "
                                         rf"{re.escape(repr(value))}$"):
        UART(**args)


@pytest.mark.parametrize("clk_freq, baud, message", [
    (50_000_000, 7_000_000,
     r"^baud 7000000 is too fast for clk_freq 50000000: 7\.1428571 clocks a bit, at least 8 "
     r"needed$"),
    (15_999_000, 2_000_000,
     r"^baud 2000000 is too fast for clk_freq 15999000: 7\.9995 clocks a bit, at least 8 "),
    (25e6, 3.2e6, r"^baud 3200000\.0 is too fast for clk_freq 25000000\.0: 7\.8125 clocks"),
    (50_000_000, 2, r"^baud 2 is too slow for clk_freq 50000000: 25000000 clocks a bit, "
                    r"at most 2\*\*24$"),
])
def test_rejects_rates(clk_freq, baud, message):
    with pytest.raises(ValueError, match=message):
        UART(clk_freq, baud)


def test_rate_limits_accepted():
    assert UART(16_000_000, 2_000_000).bit_period == 8
    assert UART(1 << 24, 1).bit_period == 1 << 24

