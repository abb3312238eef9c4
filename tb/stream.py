"""Cycle-driven stream agents for cocotb.

One clocked loop (:func:`run_cycles`) drives every agent each cycle: at the falling edge
each agent sets its outputs, then in the read-only phase each samples the handshake that
the next rising edge will commit. Sampling there is exact on Verilator, which (being
cycle-based) shows post-edge values right after a rising edge; one loop for all agents
keeps the Python cost per cycle low.

Pause generators are iterables of 0/1 read once a cycle: 1 idles a source (or deasserts a
sink's ready) for that cycle. Per the stream rules a source never drops ``valid`` or
changes its payload before the transfer.
"""

import itertools
import random
from collections import deque

import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

__all__ = ["StreamSource", "StreamSink", "StreamEnv", "random_pause", "burst_pause",
           "start_clock", "run_cycles", "run_to_end", "seeded_rng"]


def random_pause(rng, p):
    """Pause with probability ``p`` each cycle."""
    while True:
        yield 1 if rng.random() < p else 0


def burst_pause(rng, p, longest):
    """Pauses in bursts of 1 to ``longest`` cycles, starting with probability ``p``."""
    while True:
        if rng.random() < p:
            yield from itertools.repeat(1, rng.randint(1, longest))
        yield 0


class StreamSource:
    """Drive a stream (``<prefix>__valid``, ``__ready``, ``__payload``) from a queue.

    Args:
        dut: The cocotb top handle.
        prefix: The stream's port name.
        pause: Pause generator; ``None`` never idles.
    """

    def __init__(self, dut, prefix, pause=None):
        self._valid   = getattr(dut, f"{prefix}__valid")
        self._ready   = getattr(dut, f"{prefix}__ready")
        self._payload = getattr(dut, f"{prefix}__payload")
        self._pause   = iter(pause) if pause is not None else itertools.repeat(0)
        self.queue    = deque()
        self.sent     = 0
        self.first_cycle = None  # cycle of the first and last transfer
        self.last_cycle  = None
        self._offering = False
        self._valid.value = 0

    def set_pause(self, pause):
        self._pause = iter(pause) if pause is not None else itertools.repeat(0)

    def send(self, payloads):
        """Queue integer payloads for sending."""
        self.queue.extend(payloads)

    @property
    def idle(self):
        return not self.queue and not self._offering

    def drive(self, cycle):
        if self._offering:
            return  # hold valid and payload until the transfer
        if self.queue and not next(self._pause):
            self._payload.value = self.queue[0]
            self._valid.value = 1
            self._offering = True
        else:
            self._valid.value = 0

    def sample(self, cycle):
        if self._offering and self._ready.value:
            self.queue.popleft()
            self._offering = False
            self.sent += 1
            if self.first_cycle is None:
                self.first_cycle = cycle
            self.last_cycle = cycle


class StreamSink:
    """Receive a stream into ``items``, deasserting ready on paused cycles."""

    def __init__(self, dut, prefix, pause=None):
        self._valid   = getattr(dut, f"{prefix}__valid")
        self._ready   = getattr(dut, f"{prefix}__ready")
        self._payload = getattr(dut, f"{prefix}__payload")
        self._pause   = iter(pause) if pause is not None else itertools.repeat(0)
        self.items    = []
        self.first_cycle = None
        self.last_cycle  = None
        self._ready_now = None

    def set_pause(self, pause):
        self._pause = iter(pause) if pause is not None else itertools.repeat(0)

    def drive(self, cycle):
        ready = 0 if next(self._pause) else 1
        if ready != self._ready_now:
            self._ready.value = ready
            self._ready_now = ready

    def sample(self, cycle):
        if self._ready_now and self._valid.value:
            self.items.append(self._payload.value.to_unsigned())
            if self.first_cycle is None:
                self.first_cycle = cycle
            self.last_cycle = cycle


async def start_clock(dut):
    """Start ``dut.clk`` (10 ns) and hold ``dut.rst`` for three cycles; return at the
    falling edge after reset is released."""
    from cocotb.clock import Clock
    from cocotb.triggers import RisingEdge
    Clock(dut.clk, 10, unit="ns").start(start_high=False)
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def run_cycles(clk, agents, until, *, max_cycles, start=0):
    """Clock the agents until ``until(cycle)`` is true; return the cycle count reached.

    Raises:
        TimeoutError: After ``max_cycles`` cycles, naming what was still pending.
    """
    cycle = start
    while not until(cycle):
        if cycle - start >= max_cycles:
            raise TimeoutError(f"stream run did not finish within {max_cycles} cycles")
        await FallingEdge(clk)
        for agent in agents:
            agent.drive(cycle)
        await ReadOnly()
        for agent in agents:
            agent.sample(cycle)
        cycle += 1
    return cycle


async def run_to_end(clk, agents, count, expected, *, settle, start, max_cycles=None):
    """Clock the agents until ``count()`` reaches ``expected`` outputs, then ``settle``
    cycles more (a duplicate or stray output would show there); return the cycle reached.
    By default at most 40 cycles per expected output, plus 2000, may pass."""
    if max_cycles is None:
        max_cycles = 40 * (expected + 50)
    cycle = await run_cycles(clk, agents, lambda c: count() >= expected,
                             max_cycles=max_cycles, start=start)
    return await run_cycles(clk, agents, lambda c: c >= cycle + settle, max_cycles=settle,
                            start=cycle)


def seeded_rng(seed, *salt):
    """A :class:`random.Random` derived from the test seed and a per-test salt."""
    return random.Random(":".join(map(str, (seed,) + salt)))  # str seeds hash with SHA-512


class StreamEnv:
    """A DUT with one input and one output stream, checked in order against expected
    output payloads.

    Subclasses queue stimulus with :meth:`expect`; :meth:`drain` runs until every expected
    output has arrived, idles a few cycles (a duplicate would show there), and compares.
    A subclass that can :meth:`decode` an output payload into named fields also runs a
    user's own vectors (:meth:`run_vectors`, for :mod:`tb.vectors`).

    Args:
        dut: The cocotb top handle (ports ``clk``, ``rst``, ``<i>__*``, ``<o>__*``).
        i: The input stream's port name.
        o: The output stream's port name.
    """

    def __init__(self, dut, i, o):
        self.dut      = dut
        self.source   = StreamSource(dut, i)
        self.sink     = StreamSink(dut, o)
        self.agents   = [self.source, self.sink]
        self.cycle    = 0
        self.expected = []  # (payload, description)

    async def start(self):
        await start_clock(self.dut)

    def expect(self, payload, expected, description):
        """Queue one input ``payload`` and the output payload it must produce."""
        self.source.send([payload])
        self.expected.append((expected, description))

    def describe(self, got, expected, description):
        return f"{description}: got {got:#x}, expected {expected:#x}"

    async def finish(self, settle=8):
        """Run until every expected output has arrived, then ``settle`` cycles more; check
        that as many outputs arrived as were expected and that all stimulus was sent."""
        self.cycle = await run_to_end(self.dut.clk, self.agents, lambda: len(self.sink.items),
                                      len(self.expected), settle=settle, start=self.cycle)
        assert len(self.sink.items) == len(self.expected), \
            f"{len(self.sink.items)} results arrived, {len(self.expected)} expected"
        assert not self.source.queue, "stimulus left unsent"

    async def drain(self, settle=8):
        """:meth:`finish`, then compare every output with its expected payload."""
        await self.finish(settle)
        errors = [self.describe(g, e, d)
                  for g, (e, d) in zip(self.sink.items, self.expected, strict=True) if g != e]
        assert not errors, f"{len(errors)} mismatches, first:\n" + "\n".join(errors[:5])
        self.sink.items.clear()
        self.expected.clear()

    async def throughput(self, prefix, lanes):
        """Drain the queued instructions (each ``lanes`` operations), checked; return the
        metrics ``<prefix>.ops_per_cycle``, ``.peak_ops_per_cycle`` (``lanes``), ``.cycles``
        (from the first instruction accepted to the last result) and ``.instructions``."""
        instrs = len(self.expected)
        await self.drain(settle=0)
        cycles = self.sink.last_cycle - self.source.first_cycle + 1
        ops = instrs * lanes / cycles
        self.dut._log.info("%d instructions in %d cycles: %.3f ops/cycle of %d", instrs,
                           cycles, ops, lanes)
        return {f"{prefix}.ops_per_cycle": ops, f"{prefix}.peak_ops_per_cycle": lanes,
                f"{prefix}.cycles": cycles, f"{prefix}.instructions": instrs}

    def queue_vectors(self, vectors):
        """Queue a user's vectors, a dict of arrays (formats in :mod:`tb.vectors`)."""
        raise NotImplementedError

    def decode(self, payload):
        """The named fields (``{name: array}``) of an output payload."""
        raise NotImplementedError

    async def run_vectors(self, vectors):
        """Run a user's vectors; return ``{field: (rtl, golden)}``, one row per output."""
        self.queue_vectors(vectors)
        await self.finish()
        rtl = [self.decode(p) for p in self.sink.items]
        golden = [self.decode(e) for e, _ in self.expected]
        return {name: (np.array([r[name] for r in rtl]), np.array([g[name] for g in golden]))
                for name in (rtl[0] if rtl else {})}
