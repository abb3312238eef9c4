"""The framebuffer's receive path alone (Amaranth's simulator): puts offered on ``recv``
at chosen cycles of a run (a START, a WAIT on fake cores busy for a set number of
cycles, a GATHER of the puts, END) against the golden model's ``run(run_cycles=,
fb_puts=)``: with the last put before, at and long after the cores' end, the GATHER
ending on it (taken into a register, written a cycle later, counted from the one
after); a put beyond the memory stopping the run with BAD_PUT at the decode the model
says; the puts' words in the memory."""

import random

import pytest
from amaranth import *
from amaranth.sim import Simulator

from rtl.core.noc import core_flit_layout, put_layout
from rtl.framebuffer.framebuffer import Framebuffer
from rtl.spec.config import get_config
from rtl.spec.framebuffer import FbError, FbOp, encode
from sw.golden.cycles import Put
from sw.golden.framebuffer import FramebufferModel

CONFIG = get_config("sim")
WORD = CONFIG.core.mem_port_bits // 8
BUSY = 30          # the fake cores' busy cycles after their start


class Rig(Elaboratable):
    """The framebuffer with fake cores: each busy for :data:`BUSY` cycles from the cycle
    after ``core_start``; the meshes idle."""

    def __init__(self):
        cfg = CONFIG
        self.fb = Framebuffer(cfg.framebuffer_bytes, WORD, cfg.cores, cfg.core.sram_bytes,
                              cfg.core.mem_latency, cols=cfg.cols)

    def elaborate(self, platform):
        m = Module()
        m.submodules.fb = fb = self.fb
        left = Signal(range(BUSY + 1))
        with m.If(fb.core_start):
            m.d.sync += left.eq(BUSY)
        with m.Elif(left != 0):
            m.d.sync += left.eq(left - 1)
        m.d.comb += [busy.eq(left != 0) for busy in fb.core_busy]
        m.d.comb += fb.noc_idle.eq(1)
        return m


def command_words(cmds):
    out = []
    for op, kw in cmds:
        a, b = encode(op, **kw)
        out += [a, b]
    return out


def run_rtl(cmds, puts):
    """Run ``cmds`` on the rig, offering each put ``(t, Put)`` from ``t`` cycles after
    the cycle ``core_start`` is high, in order; return ``(cycles, error, words)``: the
    run's STATUS and the memory's words at the puts' targets."""
    rig = Rig()
    fb = rig.fb
    words = command_words(cmds)
    flit = core_flit_layout(WORD, CONFIG.rows, CONFIG.cols)
    put = put_layout(WORD)
    result = {}

    async def bench(ctx):
        for i, w in enumerate(words):            # the list, through the host port
            ctx.set(fb.host.en, 1)
            ctx.set(fb.host.we, 1)
            ctx.set(fb.host.addr, i)
            ctx.set(fb.host.wdata, w)
            ctx.set(fb.host.mask, -1)
            await ctx.tick()
        ctx.set(fb.host.en, 0)
        ctx.set(fb.host.we, 0)
        ctx.set(fb.start, 1)
        await ctx.tick()
        ctx.set(fb.start, 0)
        cycle, pending = 0, list(puts)
        started = None
        for _ in range(5000):
            if started is None and ctx.get(fb.core_start):
                started = cycle
            offer = bool(started is not None and pending and
                         cycle >= started + pending[0][0])
            if offer:
                p = pending[0][1]
                ctx.set(fb.recv.payload, flit.const({"payload": put.const(
                    {"data": int.from_bytes(p.data, "little"), "addr": p.addr // WORD}
                ).as_value().value, "last": 1}))
            ctx.set(fb.recv.valid, offer)
            taken = offer and ctx.get(fb.recv.ready)
            await ctx.tick()
            if taken:
                pending.pop(0)
            cycle += 1
            if not ctx.get(fb.busy) and started is not None:
                break
        else:
            raise AssertionError("the run did not end in 5,000 cycles")
        await ctx.tick()
        result["status"] = (ctx.get(fb.cycles), ctx.get(fb.error))

    sim = Simulator(rig)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return result["status"]


def run_model(cmds, puts):
    model = FramebufferModel(CONFIG)
    model.write(0, b"".join(w.to_bytes(8, "little") for w in command_words(cmds)))
    return model.run(0, run_cycles=BUSY, fb_puts=puts)


def puts_ending(rng, last, n=5, base_addr=0):
    """``n`` puts at increasing cycles, the last at array cycle ``last``."""
    times = sorted(rng.sample(range(1, last), n - 1)) + [last]
    return [(t, Put(base_addr + WORD * k, rng.randbytes(WORD), False, 0))
            for k, t in enumerate(times)]


@pytest.mark.parametrize("last", [BUSY - 6, BUSY, BUSY + 3, BUSY + 4, BUSY + 5, BUSY + 6,
                                  BUSY + 9, BUSY + 30])
def test_gather_ends_on_the_last_put(last, seed):
    """START, WAIT, GATHER of five puts, END: the run's cycles equal the model's whether
    the GATHER waits for the last put (late ones) or not; every cycle of the last put's
    arrival around the WAIT's end and the GATHER's decode is swept."""
    rng = random.Random(f"{seed}:{last}")
    print(f"seed {seed}")
    puts = puts_ending(rng, last)
    cmds = [(FbOp.START, dict(mem=0, fb=1024)), (FbOp.WAIT, dict(count=1)),
            (FbOp.GATHER, dict(count=len(puts))), (FbOp.END, {})]
    assert run_rtl(cmds, puts) == run_model(cmds, puts) == run_model(cmds, puts)


@pytest.mark.parametrize("last", [BUSY - 4, BUSY, BUSY + 2, BUSY + 3, BUSY + 4, BUSY + 8])
def test_bad_put_stops_at_the_models_decode(last, seed):
    """A put beyond the memory (the last, at array cycle ``last``): BAD_PUT at the
    decode the model gives, the run's cycles equal."""
    rng = random.Random(f"{seed}:bad:{last}")
    print(f"seed {seed}")
    words = CONFIG.framebuffer_bytes // WORD
    base = words - 4                        # room for four: the fifth put is beyond
    puts = puts_ending(rng, last)
    cmds = [(FbOp.START, dict(mem=0, fb=base)), (FbOp.WAIT, dict(count=1)),
            (FbOp.GATHER, dict(count=4)), (FbOp.WAIT, dict(count=1)), (FbOp.END, {})]
    rtl = run_rtl(cmds, puts)
    assert rtl == run_model(cmds, puts) and rtl[1] == FbError.BAD_PUT, rtl
