# amaranth: UnusedElaboratable=no
"""The core's small blocks under the Amaranth simulator: the engines' queues, the
unified memory's named requesters, the counters' grant rule; the core's signature."""

import random

import pytest
from amaranth.lib import stream
from amaranth.lib.wiring import Flow
from amaranth.sim import Simulator

from fpga.harness import DatapathHarness

from rtl.core.core import PUTS, REQUESTERS, Core
from rtl.core.counters import Counters
from rtl.core.memory import UnifiedMemory
from rtl.core.noc import core_flit_layout
from rtl.core.steps import pnoc_flit_layout, psb_layout
from rtl.core.queue import Queue, RegisterQueue
from rtl.spec.config import get_config
from rtl.spec.isa import COUNTERS, NOC_PORTS, PUT_PORTS, THREADS


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("cls", [Queue, RegisterQueue, "head_reg", "landing"])
def test_queue_timing(cls):
    """An entry is readable the cycle after its push; a push and a pop in one cycle keep
    the level; a full queue takes no push. ``RegisterQueue.holds`` sees every entry held,
    and only those."""
    dut = RegisterQueue(8, 3, searchable=True) if cls is RegisterQueue else \
        Queue(8, 3, head_reg=cls == "head_reg", landing=cls == "landing")

    async def bench(ctx):
        ctx.set(dut.w.valid, 1)
        ctx.set(dut.w.payload, 10)
        assert ctx.get(dut.r.valid) == 0 and ctx.get(dut.w.ready) == 1
        await ctx.tick()
        assert ctx.get(dut.r.valid) == 1 and ctx.get(dut.r.payload) == 10
        assert ctx.get(dut.level) == 1
        ctx.set(dut.w.payload, 11)
        await ctx.tick()
        ctx.set(dut.w.payload, 12)
        await ctx.tick()
        ctx.set(dut.w.payload, 99)           # refused: the queue is full
        assert ctx.get(dut.level) == 3 and ctx.get(dut.w.ready) == 0
        if cls is RegisterQueue:
            for value, held in ((10, 1), (12, 1), (13, 0)):
                ctx.set(dut.probe, value)
                assert ctx.get(dut.holds) == held, value
        await ctx.tick()
        ctx.set(dut.w.valid, 0)
        ctx.set(dut.r.ready, 1)              # pop 10
        await ctx.tick()
        ctx.set(dut.w.valid, 1)              # push 13 and pop 11
        ctx.set(dut.w.payload, 13)
        if cls is RegisterQueue:
            ctx.set(dut.probe, 10)
            assert ctx.get(dut.holds) == 0
        assert ctx.get(dut.r.payload) == 11
        await ctx.tick()
        ctx.set(dut.w.valid, 0)
        assert ctx.get(dut.level) == 2 and ctx.get(dut.r.payload) == 12
        await ctx.tick()
        assert ctx.get(dut.r.payload) == 13
        await ctx.tick()
        assert ctx.get(dut.r.valid) == 0 and ctx.get(dut.level) == 0

    _run(dut, bench)


def test_register_queue_search_ahead(seed):
    """``searchable="ahead"``: the registered ``holds`` equals the combinational search
    of the same entries for the probe that follows the rule (``probe_load`` after a
    ``load``, ``probe_push`` after a push, else unchanged), over random pushes, pops,
    loads and probes of few values (so that they often meet), the pushed value equal
    to the next probe included."""
    import random

    from amaranth import Module
    rng = random.Random(seed)
    m = Module()
    m.submodules.ahead = ahead = RegisterQueue(3, 5, searchable="ahead")
    m.submodules.now = now = RegisterQueue(3, 5, searchable=True)

    async def bench(ctx):
        probe = None
        for cycle in range(3000):
            push, pop = rng.random() < 0.5, rng.random() < 0.4
            load = rng.random() < 0.1
            value, p_load, p_push = (rng.randrange(8) for _ in range(3))
            for q in (ahead, now):
                ctx.set(q.w.valid, push)
                ctx.set(q.w.payload, value)
                ctx.set(q.r.ready, pop)
            ctx.set(ahead.load, load)
            ctx.set(ahead.probe_load, p_load)
            ctx.set(ahead.probe_push, p_push)
            if probe is not None:
                ctx.set(now.probe, probe)
                assert ctx.get(ahead.holds) == ctx.get(now.holds), (seed, cycle)
            assert ctx.get(ahead.level) == ctx.get(now.level)
            pushed = push and ctx.get(now.w.ready)
            if load:
                probe = p_load
            elif pushed and probe is not None:
                probe = p_push
            await ctx.tick()

    _run(m, bench)


@pytest.mark.parametrize("option", ["head_reg", "landing"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_queue_options(depth, option, seed):
    """``head_reg`` and ``landing``: the same entries at the same cycles as the queue
    without them, over random pushes and pops (a pop at every level, with and without a
    push; with ``landing`` a pop of the entry landed the cycle before, into an empty
    memory and behind older ones)."""
    import random

    from amaranth import Module
    rng = random.Random(f"{seed}-{depth}-{option}")
    m = Module()
    m.submodules.plain = plain = Queue(8, depth)
    m.submodules.reg = reg = Queue(8, depth, **{option: True})

    async def bench(ctx):
        for cycle in range(2000):
            push, pop, value = rng.random() < 0.5, rng.random() < 0.5, rng.randrange(256)
            for q in (plain, reg):
                ctx.set(q.w.valid, push)
                ctx.set(q.w.payload, value)
                ctx.set(q.r.ready, pop)
            got = [(ctx.get(q.level), ctx.get(q.w.ready), ctx.get(q.r.valid))
                   for q in (plain, reg)]
            assert got[0] == got[1], (seed, cycle)
            if got[0][2]:
                assert ctx.get(reg.r.payload) == ctx.get(plain.r.payload), (seed, cycle)
            await ctx.tick()

    _run(m, bench)


@pytest.mark.parametrize("cls", [Queue, RegisterQueue])
def test_queue_rejects(cls):
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        cls(8, 0)
    if cls is Queue:
        with pytest.raises(ValueError, match="head_reg must be True or False, not 1"):
            Queue(8, 2, head_reg=1)
        with pytest.raises(ValueError, match="landing must be True or False, not None"):
            Queue(8, 2, landing=None)
        with pytest.raises(ValueError, match="head_reg or landing, not both"):
            Queue(8, 2, head_reg=True, landing=True)


def test_register_queue_rejects_search():
    with pytest.raises(ValueError, match="searchable must be False, True or 'ahead'"):
        RegisterQueue(8, 2, searchable="later")


def _both_write(ctx, dut, addr):
    """Requesters ``first`` and ``second`` both write ``addr`` (0x11 and 0x22)."""
    for port, value in ((dut.first, 0x11), (dut.second, 0x22)):
        ctx.set(port.en, 1)
        ctx.set(port.we, 1)
        ctx.set(port.mask, 0xFF)
        ctx.set(port.addr, addr)
        ctx.set(port.wdata, value)


def test_unified_memory_priority():
    """Requesters are members by name; in a bank the first named is served and the
    meeting is a conflict; read data comes the next cycle."""
    dut = UnifiedMemory(8, 64, 2, ("first", "second"))
    assert dut.requesters == ("first", "second")

    async def bench(ctx):
        _both_write(ctx, dut, 8)
        assert ctx.get(dut.conflict) == 1
        await ctx.tick()
        ctx.set(dut.second.en, 0)
        ctx.set(dut.first.we, 0)
        assert ctx.get(dut.conflict) == 0
        await ctx.tick()
        assert ctx.get(dut.first.rdata) == 0x11

    _run(dut, bench)


@pytest.mark.parametrize("requesters", [(), ("a", "a"), ("a", "conflict"), ("a b",)])
def test_unified_memory_rejects(requesters):
    with pytest.raises(ValueError, match="requesters must be distinct identifiers"):
        UnifiedMemory(8, 64, 2, requesters)


def test_unified_memory_waiting():
    """A waiting requester (the last named) is served only when no earlier requester uses
    its bank that cycle: ``ready`` low and no conflict when one does; two waiting
    requesters in one bank: the first is served. Writes land only when served."""
    dut = UnifiedMemory(8, 64, 2, ("engine", "put_a", "put_b"), ("put_a", "put_b"))

    async def bench(ctx):
        ctx.set(dut.engine.en, 1)
        ctx.set(dut.engine.addr, 0)          # bank 0, a read
        for port, value, addr in ((dut.put_a, 0xAA, 8), (dut.put_b, 0xBB, 72)):
            ctx.set(port.en, 1)
            ctx.set(port.we, 1)
            ctx.set(port.mask, 0xFF)
            ctx.set(port.addr, addr)
            ctx.set(port.wdata, value)
        assert ctx.get(dut.put_a.ready) == 0      # bank 0 is the engine's
        assert ctx.get(dut.put_b.ready) == 1      # bank 1 is free
        assert ctx.get(dut.conflict) == 0
        await ctx.tick()
        ctx.set(dut.engine.en, 0)
        ctx.set(dut.put_b.addr, 16)              # both in bank 0 now
        assert ctx.get(dut.put_a.ready) == 1 and ctx.get(dut.put_b.ready) == 0
        assert ctx.get(dut.conflict) == 0
        await ctx.tick()
        ctx.set(dut.put_a.en, 0)
        assert ctx.get(dut.put_b.ready) == 1
        await ctx.tick()
        ctx.set(dut.put_b.en, 0)
        for addr, value in ((8, 0xAA), (16, 0xBB), (72, 0xBB)):
            ctx.set(dut.engine.en, 1)
            ctx.set(dut.engine.addr, addr)
            await ctx.tick()
            assert ctx.get(dut.engine.rdata) == value, addr

    _run(dut, bench)


@pytest.mark.parametrize("held", [(), ("engine",)])
def test_unified_memory_register_stage(held):
    """With ``latency`` 2 the grants, ``ready`` and ``conflict`` are decided in the
    request's cycle as with 1, the accesses happen in the requests' order (a read sees the
    write requested the cycle before it, not one requested after it), a waiting
    requester's refused request is not served a cycle later, and read data comes two
    cycles after its request; the same with the engine's request ``held`` (registered
    only with its ``en``)."""
    dut = UnifiedMemory(8, 64, 2, ("engine", "put"), ("put",), latency=2, held=held)
    assert dut.latency == 2

    async def bench(ctx):
        def req(port, en, addr=0, we=0, value=0):
            ctx.set(port.en, en)
            ctx.set(port.we, we)
            ctx.set(port.mask, 0xFF)
            ctx.set(port.addr, addr)
            ctx.set(port.wdata, value)

        req(dut.engine, 1, 8, 1, 0x11)            # cycle 0: write 0x11 at 8
        req(dut.put, 1, 16, 1, 0x22)              # same bank: refused
        assert ctx.get(dut.put.ready) == 0 and ctx.get(dut.conflict) == 0
        await ctx.tick()
        req(dut.engine, 1, 8)                     # cycle 1: read 8 (sees cycle 0's write)
        req(dut.put, 1, 8, 1, 0x33)               # refused again: the engine has bank 0
        assert ctx.get(dut.put.ready) == 0
        await ctx.tick()
        req(dut.engine, 1, 16)                    # cycle 2: read 16 (never written: 0)
        req(dut.put, 0)
        await ctx.tick()
        assert ctx.get(dut.engine.rdata) == 0x11  # cycle 1's read, two cycles later
        req(dut.engine, 0)
        req(dut.put, 1, 8, 1, 0x44)               # cycle 3: the put is served
        assert ctx.get(dut.put.ready) == 1
        await ctx.tick()
        assert ctx.get(dut.engine.rdata) == 0     # cycle 2's read: no refused put landed
        req(dut.put, 0)
        req(dut.engine, 1, 8)                     # cycle 4: read 8 (the put's 0x44)
        await ctx.tick()
        req(dut.engine, 0)
        await ctx.tick()
        assert ctx.get(dut.engine.rdata) == 0x44

    _run(dut, bench)


def test_unified_memory_register_stage_conflict():
    """With ``latency`` 2 two requesters that never wait meeting in a bank raise
    ``conflict`` the cycle after their requests (from the registered requests), for that
    cycle only; the first is served (its read data two cycles after the request)."""
    dut = UnifiedMemory(8, 64, 2, ("first", "second"), latency=2)

    async def bench(ctx):
        _both_write(ctx, dut, 8)
        assert ctx.get(dut.conflict) == 0          # cycle 0: the meeting
        await ctx.tick()
        ctx.set(dut.second.addr, 64)               # cycle 1: different banks
        ctx.set(dut.first.we, 0)
        assert ctx.get(dut.conflict) == 1          # cycle 0's meeting
        await ctx.tick()
        ctx.set(dut.first.en, 0)
        ctx.set(dut.second.en, 0)
        assert ctx.get(dut.conflict) == 0
        await ctx.tick()
        assert ctx.get(dut.first.rdata) == 0x11    # cycle 1's read: the first's write
        assert ctx.get(dut.conflict) == 0

    _run(dut, bench)


@pytest.mark.parametrize("latency", [0, 3, 2.0, True])
def test_unified_memory_rejects_latency(latency):
    with pytest.raises(ValueError, match="latency must be 1 or 2"):
        UnifiedMemory(8, 64, 2, ("a",), latency=latency)


@pytest.mark.parametrize("waiting", [("engine",), ("put_b", "put_a"), ("other",)])
def test_unified_memory_rejects_waiting(waiting):
    with pytest.raises(ValueError, match="waiting must be the last of the requesters"):
        UnifiedMemory(8, 64, 2, ("engine", "put_a", "put_b"), waiting)


@pytest.mark.parametrize("held", [("put_a",), ("other",)])
def test_unified_memory_rejects_held(held):
    with pytest.raises(ValueError, match="held must name requesters that do not wait"):
        UnifiedMemory(8, 64, 2, ("engine", "put_a"), ("put_a",), latency=2, held=held)


@pytest.mark.parametrize("rows, cols", [(0, 1), (1, 0), (2.0, 1), (True, 1)])
def test_core_rejects_array_size(rows, cols):
    with pytest.raises(ValueError, match="must be a positive integer"):
        Core(get_config("sim").core, rows=rows, cols=cols)


def test_counters_grant_rule():
    """Of the threads waiting on a positive counter the lowest-numbered is granted, one a
    cycle; a SIGNAL counts from the end of its cycle; ``clear`` empties every counter."""
    dut = Counters()
    th = dut.threads

    async def bench(ctx):
        for t in (2, 5):
            ctx.set(th[t].wait, 1)
            ctx.set(th[t].wait_ctr, 3)
        ctx.set(th[0].signal, 1)
        ctx.set(th[0].signal_ctr, 3)
        assert [ctx.get(th[t].grant) for t in range(THREADS)] == [0] * THREADS
        await ctx.tick()
        ctx.set(th[0].signal, 0)
        assert ctx.get(th[2].grant) == 1 and ctx.get(th[5].grant) == 0
        await ctx.tick()
        assert ctx.get(th[5].grant) == 0      # counter 3 is back at 0
        ctx.set(th[1].signal, 1)
        ctx.set(th[1].signal_ctr, 3)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(th[1].signal, 0)
        ctx.set(dut.clear, 0)
        assert ctx.get(th[5].grant) == 0      # the clear won over the SIGNAL

    _run(dut, bench)


@pytest.mark.parametrize("bits", [5, 3])
def test_counters_random_overflow(seed, bits):
    """Random SIGNALs (up to all twelve a cycle), WAITs on two counters and clears: every
    cycle the grants and ``overflow`` are the arithmetic's (``overflow`` the cycle after a
    counter's sum passes ``2**bits - 1``, the counter wrapping, unless cleared), against a
    plain Python model of the counters. Narrow counters (one narrower than a cycle's most
    SIGNALs) pass their maximum again and again; the core's 16-bit counters pass it in
    tb/core's ``test_counter_overflow``."""
    dut = Counters(engines=4, bits=bits)
    th, en = dut.threads, dut.engines
    rng = random.Random(f"{seed}:{bits}")
    top = 2 ** bits
    cycles, rate = 500, 0.25

    async def bench(ctx):
        model = [0] * COUNTERS
        overflows, cycle, expected = 0, 0, 0
        while cycle < cycles or overflows < 10:
            burst = rng.random() < 0.05
            requests = [(burst or rng.random() < rate, rng.randrange(2))
                        for _ in range(THREADS + len(en))]
            waits = [(rng.random() < 0.5, rng.randrange(2)) for _ in range(THREADS)]
            for i, (on, ctr) in enumerate(requests):
                port = th[i] if i < THREADS else en[i - THREADS]
                ctx.set(port.signal, on)
                ctx.set(port.signal_ctr if i < THREADS else port.ctr, ctr)
            for port, (on, ctr) in zip(th, waits, strict=True):
                ctx.set(port.wait, on)
                ctx.set(port.wait_ctr, ctr)
            granted, grants = set(), []
            for on, ctr in waits:
                grants.append(int(on and model[ctr] > 0 and ctr not in granted))
                if on:
                    granted.add(ctr)
            totals = [model[c] + sum(on and ctr == c for on, ctr in requests)
                      - (c in granted and model[c] > 0) for c in range(COUNTERS)]
            assert [ctx.get(port.grant) for port in th] == grants, (seed, cycle)
            assert ctx.get(dut.overflow) == expected, (seed, cycle, model[:2], totals[:2])
            clear = rng.random() < 0.02
            ctx.set(dut.clear, clear)
            # Shown the cycle after; a clear drops it and empties the counters.
            expected = int(any(t >= top for t in totals) and not clear)
            overflows += expected
            model = [0] * COUNTERS if clear else [t % top for t in totals]
            await ctx.tick()
            cycle += 1
            assert cycle < 4 * cycles, (seed, model[:2])

    _run(dut, bench)

@pytest.mark.parametrize("kwargs", [{"engines": -1}, {"engines": 1.0}, {"bits": 0},
                                    {"bits": True}, {"bits": "16"}])
def test_counters_reject_parameters(kwargs):
    with pytest.raises(ValueError, match=f"Counters {next(iter(kwargs))} must be an integer"):
        Counters(**kwargs)

def test_core_signature():
    """The NoC ports are one member, ``noc``, with a port per name of NOC_PORTS: the put
    ports each an out and an in stream of flits, the PNoC an out stream of partial sums
    with their direction and an in stream of partial sums; MEM requesters are named in
    priority order."""
    config = get_config("sim").core
    core = Core(config)
    flits = stream.Signature(core_flit_layout(config.mem_port_bits // 8))
    assert tuple(core.noc.signature.members) == NOC_PORTS
    assert PUT_PORTS == ("anoc", "mnoc", "inoc")
    for name in PUT_PORTS:
        port = getattr(core.noc, name)
        assert port.o.signature == flits and port.i.signature == flits.flip()
    assert core.noc.pnoc.o.signature == stream.Signature(pnoc_flit_layout(config.vmm_rows))
    assert core.noc.pnoc.i.signature == stream.Signature(psb_layout(config.vmm_rows)).flip()
    assert len(core.noc.pnoc.o.payload.as_value()) == 32 * config.vmm_rows + 2
    assert REQUESTERS == ("host", "loader", "weights", "weights_pair", "steps", "vector",
                          "store", "anoc", "mnoc", "inoc", "anoc_put", "mnoc_put", "inoc_put")
    assert PUTS == tuple(f"{name}_put" for name in PUT_PORTS)
    # The FPGA harness walks the nested ports: a NoC stream's handshake is tied high.
    ports = DatapathHarness({"core": core}).port_map()
    for name in NOC_PORTS:
        assert ports[f"core.noc.{name}.i.valid"] == (Flow.In, True, 1)
        assert ports[f"core.noc.{name}.o.ready"] == (Flow.In, True, 1)
        assert ports[f"core.noc.{name}.o.payload"][:2] == (Flow.Out, False)


@pytest.mark.parametrize("banks, port_bits, latency", [(5, 64, 1), (4, 256, 1), (4, 64, 2)])
def test_core_compiled_other_configs(seed, banks, port_bits, latency):
    """Cores no named configuration simulates (the sim core's other parameters): with a
    fifth MEM bank a compiled fully connected layer's weights come as row pairs (odd rows
    in bank 4); with a wider MEM port the loader writes 4 instructions a cycle, and
    the threads' programs begin and end mid-word; with the MEM register stage (the
    ulx3s core's ``mem_latency`` 2) every read's data comes a cycle later. The output is
    the reference's, the cycles and VMM steps are the cycle model's, and no two accesses
    meet in a bank. The Amaranth simulator runs them."""
    from dataclasses import replace

    import numpy as np

    from sw.compiler_stub.conv import compile_conv2d
    from sw.golden.cycles import predict
    from sw.golden.layers import Conv2d, conv2d_reference

    from ..core.stimulus import random_tensors

    config = replace(get_config("sim").core, sram_banks=banks, mem_port_bits=port_bits,
                     mem_latency=latency)
    layer = Conv2d(16, 8, 1, bits=8, shift=6)
    x, wts, scale, bias = random_tensors(np.random.default_rng(seed), layer, 1, 3)
    compiled = compile_conv2d(config, layer, 1, 3, wts, scale, bias)
    pairs = [ins["pair"] for ins in compiled.programs[0] if ins["pair"]]
    assert pairs == ([1] if banks == 5 else [])
    slots = config.word_instrs
    if slots > 1:   # some program starts mid-word
        assert any(sum(map(len, compiled.programs[:t])) % slots for t in range(1, 8)
                   if compiled.programs[t])
    dut = Core(config)
    word = config.mem_port_bits // 8
    writes = list(compiled.preload) + [(compiled.input.base, compiled.input.pack(x))]
    seen = {}

    async def bench(ctx):
        ctx.set(dut.host.we, 1)
        ctx.set(dut.host.mask, (1 << word) - 1)
        for addr, data in writes:
            data = bytes(data) + bytes(-len(data) % word)
            for k in range(0, len(data), word):
                ctx.set(dut.host.en, 1)
                ctx.set(dut.host.addr, addr + k)
                ctx.set(dut.host.wdata, int.from_bytes(data[k:k + word], "little"))
                await ctx.tick()
        ctx.set(dut.host.en, 0)
        ctx.set(dut.host.we, 0)
        ctx.set(dut.entry, compiled.entry)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick()
        for _ in range(5000):
            if not ctx.get(dut.busy):
                break
            await ctx.tick()
        seen["run"] = (ctx.get(dut.cycles), ctx.get(dut.vmm_steps))
        seen["flags"] = (ctx.get(dut.conflict), ctx.get(dut.deadlock))
        out = bytearray()
        for k in range(0, compiled.output.size, word):
            ctx.set(dut.host.en, 1)
            ctx.set(dut.host.addr, compiled.output.base + k)
            await ctx.tick()
            ctx.set(dut.host.en, 0)
            for _ in range(latency - 1):   # the read data comes later
                await ctx.tick()
            out += ctx.get(dut.host.rdata).to_bytes(word, "little")
        seen["out"] = bytes(out)

    _run(dut, bench)
    assert seen["flags"] == (0, 0)
    assert seen["run"] == predict(config, compiled.programs)
    got = compiled.output.unpack(seen["out"])
    assert np.array_equal(got, conv2d_reference(layer, x, wts, scale, bias)[1])


@pytest.mark.parametrize("weights", [True, False])
def test_noc_engine_weight_puts(weights):
    """The MNoC's engine (``weights``) offers a weight put at its input FIFO's head at
    ``weight`` the cycle after it arrives and never writes it to MEM; the put behind it
    waits until ``weight`` is taken, then is written the next cycle. Another engine writes
    a weight put as any put."""
    from rtl.core.noc import NocEngine, put_layout
    from tb.core.env import pack
    word = 8
    dut = NocEngine(word, weights=weights)
    layout, put = core_flit_layout(word), put_layout(word)

    def flit(addr, data, weight):
        return pack(layout, {"payload": pack(put, {"data": data, "addr": addr,
                                                     "weight": weight}),
                              "dest": {}, "last": 1})

    async def bench(ctx):
        ctx.set(dut.put.ready, 1)
        ctx.set(dut.idle, 1)
        for n, f in enumerate((flit(3, 0x1234, 1), flit(5, 0x5678, 0))):
            ctx.set(dut.port.i.valid, 1)
            ctx.set(dut.port.i.payload.as_value(), f)
            assert ctx.get(dut.port.i.ready)
            if n:   # the weight put is at the head: written, or offered to T0
                assert ctx.get(dut.put.en) == (not weights)
                assert ctx.get(dut.weight.valid) if weights else ctx.get(dut.put.addr) == 24
            await ctx.tick()
        ctx.set(dut.port.i.valid, 0)
        if not weights:   # then the next put
            assert (ctx.get(dut.put.en), ctx.get(dut.put.addr)) == (1, 5 * word)
            return
        for _ in range(3):   # waits at the head, the ordinary put behind it
            assert ctx.get(dut.weight.valid) == 1
            assert ctx.get(dut.weight.payload) == 0x1234
            assert ctx.get(dut.put.en) == 0
            await ctx.tick()
        ctx.set(dut.weight.ready, 1)   # T0 takes it
        await ctx.tick()
        ctx.set(dut.weight.ready, 0)
        assert ctx.get(dut.weight.valid) == 0
        assert (ctx.get(dut.put.en), ctx.get(dut.put.addr)) == (1, 5 * word)
        assert ctx.get(dut.put.wdata) == 0x5678
        await ctx.tick()
        assert ctx.get(dut.put.en) == 0 and ctx.get(dut.weight.valid) == 0

    _run(dut, bench)
