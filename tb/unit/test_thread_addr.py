# amaranth: UnusedElaboratable=no
"""A thread sequencer's address generators under the Amaranth simulator, at the ISA's 24
bits and narrower (``addr_bits``, a core's :attr:`rtl.spec.config.CoreConfig.ag_bits`):
every point of a stream is the shared model's (sw/golden/thread.py) modulo
``2**addr_bits``, with bases, strides and AGADD deltas drawn over the whole 24-bit fields,
so that the narrow walkers wrap where the model's addresses do not; and the points'
index, which counts up to ``2**INDEX_BITS - 1`` and stays there. (The cocotb core tests
run whole programs on the cores of every configuration.)"""

import random

import pytest
from amaranth.sim import Simulator

import rtl.core.thread
from rtl.core.thread import Thread
from rtl.spec.config import CoreConfig
from rtl.spec.isa import AG_DIMS, INDEX_BITS, Instr, Op, encode
from sw.golden.thread import AddressGenerator


def _program(rng):
    """Two generators with equal counts, a SEND through them, AGADDs, a second SEND; and
    the expected ``(src, dst)`` points of the two SENDs, unbounded."""
    counts = [rng.randrange(1, 4) for _ in range(AG_DIMS)]
    ags = [AddressGenerator(rng.randrange(1 << 24)) for _ in range(2)]
    program = []
    for g, ag in enumerate(ags):
        program.append(Instr(Op.AGBASE, {"g": g, "base": ag.base}))
        for d, count in enumerate(counts):
            if count > 1 or rng.random() < 0.3:   # (a count-1 dimension may stay unset)
                stride = rng.randrange(-(1 << 23), 1 << 23)
                ag.dims[d] = (count, stride)
                program.append(Instr(Op.AGDIM, {"g": g, "d": d, "count": count,
                                                "stride": stride}))
    send = Instr(Op.SEND, {"s": 0, "d": 1})
    expected = [list(zip(ags[0].walk(), ags[1].walk(), strict=True))]
    program.append(send)
    for g, ag in enumerate(ags):
        delta = rng.randrange(-(1 << 23), 1 << 23)
        ag.base += delta
        program.append(Instr(Op.AGADD, {"g": g, "delta": delta}))
    expected.append(list(zip(ags[0].walk(), ags[1].walk(), strict=True)))
    program += [send, Instr(Op.END)]
    return program, expected


def _run(addr_bits, program, field=None):
    """The points the thread offers, as ``(src, dst)`` (or their ``field``) per stream
    instruction."""
    dut = Thread(32, 1, addr_bits=addr_bits)
    streams = []

    async def bench(ctx):
        write = dut.control.write0
        for i, instr in enumerate(program):
            ctx.set(write.en, 1)
            ctx.set(write.addr, i)
            ctx.set(write.data.as_value(), encode(instr))
            await ctx.tick()
        ctx.set(write.en, 0)
        ctx.set(dut.engine.points.ready, 1)
        ctx.set(dut.engine.idle, 1)
        ctx.set(dut.control.start, 1)
        await ctx.tick()
        ctx.set(dut.control.start, 0)
        points = []
        for _ in range(1000):
            if not ctx.get(dut.control.running):
                break
            if ctx.get(dut.engine.points.valid):
                p = dut.engine.points.p
                points.append(ctx.get(getattr(p, field)) if field else
                              (ctx.get(p.src), ctx.get(p.dst)))
                if ctx.get(p.last):
                    streams.append(points)
                    points = []
            await ctx.tick()
        else:
            raise AssertionError("the program did not end")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return streams


@pytest.mark.parametrize("addr_bits", [24, 14, 5])
def test_points_modulo(addr_bits, seed):
    rng = random.Random(f"{seed}-{addr_bits}")
    mask = (1 << addr_bits) - 1
    for _ in range(6):
        program, expected = _program(rng)
        got = _run(addr_bits, program)
        assert got == [[(s & mask, d & mask) for s, d in stream] for stream in expected], \
            "\n".join(map(str, program))


@pytest.mark.parametrize("index_bits", [INDEX_BITS, 3])
def test_index_saturates(index_bits, monkeypatch):
    """A stream's points are indexed 0, 1, ... up to ``2**INDEX_BITS - 1``, which the
    rest keep (the thread built with a 3-bit index to see it); the next stream starts at
    0 again. A core's VBUF (a VLOAD's offsets) fits the index."""
    monkeypatch.setattr(rtl.core.thread, "INDEX_BITS", index_bits)
    dims = [Instr(Op.AGDIM, {"g": g, "d": 0, "count": 20, "stride": 8}) for g in (0, 1)]
    send = Instr(Op.SEND, {"s": 0, "d": 1})
    program = dims + [send, send, Instr(Op.END)]
    top = (1 << index_bits) - 1
    assert _run(14, program, "index") == [[min(n, top) for n in range(20)]] * 2
    assert _run(14, program, "first") == [[1] + [0] * 19] * 2
    assert CoreConfig(vbuf_entries=1 << INDEX_BITS).vbuf_entries == 1 << INDEX_BITS


def test_thread_rejects_addr_bits():
    for bad in (0, 25, True, 14.0):
        with pytest.raises(ValueError, match=rf"addr_bits must be an integer from 1 to 24, "
                                             rf"not {bad!r}"):
            Thread(32, 1, addr_bits=bad)
