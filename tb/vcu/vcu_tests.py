"""cocotb tests of the FP16 vector unit against the golden model (run from test_vcu.py).

Every random choice derives from the run's seed (``COCOTB_RANDOM_SEED``, logged by each
test); ``make test SEED=<seed>`` reruns it exactly.
"""

import itertools
import os

import numpy as np
import cocotb

from sw.golden import fp16
from rtl.spec.codes import VcuOp

from ..fp16_stimulus import (EDGES, add_window_cases, fma_operands_hard, fma_ties,
                             fma_window_cases, halfway_adds, int32_edges, random_operands)
from ..stream import burst_pause, random_pause, seeded_rng
from ..vectors import drive
from .env import VcuEnv, lanes_int

OPERANDS = int(os.environ.get("VCU_OPERANDS", "100000"))  # random operand sets per op
#: Triples (and ADD pairs) of test_fma_window; ``make test VCU_WINDOW=2000000`` for more.
WINDOW_CASES = int(os.environ.get("VCU_WINDOW", "200000"))

BINARY = [VcuOp.ADD, VcuOp.SUB, VcuOp.MUL, VcuOp.MIN, VcuOp.MAX, VcuOp.EQ, VcuOp.LT,
          VcuOp.LE, VcuOp.SEL]


def rngs(dut, *salt):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    dut._log.info("seed %d (rerun with SEED=%d)", seed, seed)
    rng = seeded_rng(seed, *salt)
    return rng, np.random.default_rng(rng.getrandbits(64))


def fill(values, lanes):
    """Pad a flat operand list to whole instructions (repeating its start)."""
    values = np.asarray(values)
    n = -(-len(values) // lanes) * lanes
    return np.resize(values, n).reshape(-1, lanes)


async def started(dut, rng):
    env = VcuEnv(dut)
    await env.start()
    env.instrs.set_pause(random_pause(rng, 0.2))
    env.results.set_pause(burst_pause(rng, 0.2, 5))
    return env


@cocotb.test()
async def test_edge_classes(dut):
    """Every pair (every triple for FMA) of the edge classes, every op."""
    rng, np_rng = rngs(dut, "edges")
    env = await started(dut, rng)
    L = env.lanes
    pairs = np.array(list(itertools.product(EDGES, EDGES)), dtype=np.uint16)
    a, b = fill(pairs[:, 0], L), fill(pairs[:, 1], L)
    for op in BINARY:
        env.queue(op, a, b, a, mask=np_rng.integers(0, 2, size=a.shape))
    for op in (VcuOp.ABS, VcuOp.NEG):
        env.queue(op, fill(EDGES, L), fill(EDGES, L), fill(EDGES, L))
    triples = np.array(list(itertools.product(EDGES, EDGES, EDGES)), dtype=np.uint16)
    env.queue(VcuOp.FMA, fill(triples[:, 0], L), fill(triples[:, 1], L),
              fill(triples[:, 2], L))
    await env.drain()


@cocotb.test()
async def test_rounding_cases(dut):
    """Exact halfway sums, products at the overflow and underflow edges, fused
    multiply-adds with near-total cancellation, and products exactly halfway between two
    binary16 values plus a tiny addend (wrong under any double rounding)."""
    rng, np_rng = rngs(dut, "rounding")
    env = await started(dut, rng)
    L = env.lanes
    a, b = halfway_adds(np_rng, 64 * L)
    env.queue(VcuOp.ADD, a.reshape(-1, L), b.reshape(-1, L), a.reshape(-1, L))
    env.queue(VcuOp.SUB, a.reshape(-1, L), (b ^ 0x8000).reshape(-1, L), a.reshape(-1, L))
    # Products around 65504 and around the smallest subnormal.
    big = np_rng.integers(0x5800, 0x5C00, size=(64, L)).astype(np.uint16)
    small = np_rng.integers(0x0C00, 0x1800, size=(64, L)).astype(np.uint16)
    env.queue(VcuOp.MUL, big, big, big)
    env.queue(VcuOp.MUL, small, small ^ 0x8000, small)
    fa, fb, fc = fma_operands_hard(np_rng, (2000, L))
    env.queue(VcuOp.FMA, fa, fb, fc)
    ta, tb, tc = (v.reshape(-1, L) for v in fma_ties(np_rng, 500 * L))
    env.queue(VcuOp.FMA, ta, tb, tc)
    await env.drain()


@cocotb.test()
async def test_fma_window(dut):
    """The narrow FMA window's hard cases (tb.fp16_stimulus.fma_window_cases and
    add_window_cases): addends around the window's edges, cancellation, products of a
    subnormal, tiny and huge addends; FMA triples, then ADD and SUB pairs."""
    rng, np_rng = rngs(dut, "fma_window")
    env = await started(dut, rng)
    L = env.lanes
    n = -(-WINDOW_CASES // L)
    if VcuOp.FMA in env.ops:
        a, b, c = (v.reshape(n, L) for v in fma_window_cases(np_rng, n * L))
        env.queue(VcuOp.FMA, a, b, c)
    for op in (VcuOp.ADD, VcuOp.SUB):
        if op in env.ops:
            a, b = (v.reshape(n, L) for v in add_window_cases(np_rng, n * L))
            env.queue(op, a, b, a)
    await env.drain()
    dut._log.info("%d window cases in %d cycles", WINDOW_CASES, env.cycle)


@cocotb.test()
@cocotb.parametrize(op=[VcuOp.ADD, VcuOp.SUB, VcuOp.MUL, VcuOp.FMA, VcuOp.MIN, VcuOp.MAX,
                        VcuOp.EQ, VcuOp.LT, VcuOp.LE, VcuOp.ABS, VcuOp.NEG, VcuOp.SEL])
async def test_random(dut, op):
    """Random operand sets for one op, some instructions broadcasting a scalar as b,
    with random gaps on the instruction stream and backpressure on the results."""
    rng, np_rng = rngs(dut, "random", int(op))
    env = await started(dut, rng)
    n = -(-OPERANDS // env.lanes)
    if op not in env.ops:   # left out of the unit: fewer, to check it gives NaN
        n = -(-n // 64)
    shape = (n, env.lanes)
    a, b, c = (random_operands(np_rng, shape) for _ in range(3))
    if op == VcuOp.FMA:  # a quarter of them with heavy cancellation
        ha, hb, hc = fma_operands_hard(np_rng, (n // 4, env.lanes))
        a[:n // 4], b[:n // 4], c[:n // 4] = ha, hb, hc
    scalar = random_operands(np_rng, (n,))
    bcast = np_rng.random(n) < 0.2
    env.queue(op, a, b, c, scalar=scalar, bcast=bcast,
              mask=np_rng.integers(0, 2, size=shape))
    await env.drain()
    dut._log.info("%d operand sets of %s in %d cycles", n * env.lanes, op.name, env.cycle)


@cocotb.test()
async def test_cvt_i32(dut):
    """int32 times 2**-shift: edge integers at every shift, then random ones."""
    rng, np_rng = rngs(dut, "cvt_i32")
    env = await started(dut, rng)
    L = env.lanes
    x = np.repeat(int32_edges(), 64)
    shift = np.tile(np.arange(64), len(int32_edges()))
    x, shift = x[:len(x) // L * L], shift[:len(x) // L * L]
    # One shift per instruction: group lanes by shift.
    order = np.argsort(shift, kind="stable")
    x, shift = x[order].reshape(-1, L), shift[order].reshape(-1, L)[:, 0]
    n = OPERANDS // L
    rx = np.where(np_rng.random((n, L)) < 0.5,
                  np_rng.integers(-(1 << 31), 1 << 31, size=(n, L)),
                  np_rng.integers(-70000, 70000, size=(n, L)))
    rshift = np_rng.integers(0, 64, size=n)
    for xs, sh in ((x, shift), (rx, rshift)):
        u = (xs & 0xFFFFFFFF).astype(np.uint64)
        lo, hi = (u & 0xFFFF).astype(np.uint16), (u >> 16).astype(np.uint16)
        env.queue(VcuOp.CVT_I32, lo, hi, lo, shift=sh)
    await env.drain()


@cocotb.test()
async def test_cvt_int(dut):
    """binary16 to int8/int4/int2, signed and unsigned: halfway points, saturation,
    infinities and NaN, then random values; the reserved format gives zero."""
    rng, np_rng = rngs(dut, "cvt_int")
    env = await started(dut, rng)
    L = env.lanes
    halves = fp16.from_float(np.arange(-300, 300) + 0.5)
    specials = np.concatenate([EDGES, halves, fp16.from_float([0.49, 0.51, -0.49, -0.51,
                                                               1e-7, 127.4, 255.6])])
    n = OPERANDS // (6 * L)
    for fmt in (0, 1, 2, 3):
        for signed in (True, False):
            # Small magnitudes are where int4 and int2 do not saturate.
            rand = np.where(np_rng.random((n, L)) < 0.5, random_operands(np_rng, (n, L)),
                            fp16.from_float(np_rng.uniform(-20, 20, size=(n, L))))
            vals = np.concatenate([fill(specials, L), rand])
            env.queue(VcuOp.CVT_INT, vals, vals, vals, fmt=fmt, out_signed=signed)
    await env.drain()


@cocotb.test()
async def test_reserved_opcodes(dut):
    """Opcodes 14 to 31 give canonical NaN in every lane and an empty mask."""
    rng, np_rng = rngs(dut, "reserved")
    env = await started(dut, rng)
    for op in range(14, 32):
        a, b, c = (random_operands(np_rng, (4, env.lanes)) for _ in range(3))
        env.queue(op, a, b, c)
    nan_lanes = lanes_int([fp16.CANONICAL_NAN] * env.lanes)
    assert all(expected == nan_lanes for expected, _ in env.expected)  # mask 0 too
    await env.drain()


@cocotb.test(skip="VECTORS" not in os.environ)
async def test_vectors(dut):
    """A user's own vectors, from ``python -m tb.vectors``."""
    await drive(VcuEnv(dut))
