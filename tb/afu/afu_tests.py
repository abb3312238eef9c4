"""cocotb tests of the FP16 activation unit against the golden model (from test_afu.py).

Each operation runs on every one of the 65,536 binary16 inputs plus random ones (at
least 100,000 operand sets per operation), with random gaps on the instruction stream
and random backpressure on the results. The seed is ``COCOTB_RANDOM_SEED``.
"""

import os

import numpy as np
import cocotb

from sw.golden import fp16
from rtl.spec.codes import AfuOp

from ..fp16_stimulus import EDGES, random_operands
from ..stream import burst_pause, random_pause, seeded_rng
from ..vcu.env import lanes_int
from ..vectors import drive
from .env import AfuEnv

RANDOM = int(os.environ.get("AFU_RANDOM", "40000"))  # random inputs per op, beyond all 2**16

ALL_CODES = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)


def rngs(dut, *salt):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    dut._log.info("seed %d (rerun with SEED=%d)", seed, seed)
    rng = seeded_rng(seed, *salt)
    return rng, np.random.default_rng(rng.getrandbits(64))


@cocotb.test()
@cocotb.parametrize(op=list(AfuOp))
async def test_all_inputs(dut, op):
    """Every binary16 input (shuffled across lanes and instructions) and random inputs.
    CLAMP and LEAKY_RELU take parameters from the edge classes and at random."""
    rng, np_rng = rngs(dut, "all", int(op))
    env = AfuEnv(dut)
    await env.start()
    env.source.set_pause(random_pause(rng, 0.15))
    env.sink.set_pause(burst_pause(rng, 0.15, 4))
    x = np.concatenate([np_rng.permutation(ALL_CODES), random_operands(np_rng, RANDOM)])
    x = x[:len(x) // env.lanes * env.lanes].reshape(-1, env.lanes)
    n = len(x)
    params = np.concatenate([EDGES, random_operands(np_rng, 64),
                             fp16.from_float([0.0, 6.0, 0.01, 0.1, -0.5])])
    p0 = np_rng.choice(params, size=n)
    p1 = np_rng.choice(params, size=n)
    if op == AfuOp.CLAMP:  # mostly well-ordered bounds, as ReLU6 and clamps use them
        lo, hi = fp16.minimum_number(p0, p1), fp16.maximum_number(p0, p1)
        ordered = np_rng.random(n) < 0.8
        p0, p1 = np.where(ordered, lo, p0), np.where(ordered, hi, p1)
    env.queue(op, x, p0, p1)
    await env.drain()
    dut._log.info("%d inputs of %s in %d cycles", x.size, op.name, env.cycle)


@cocotb.test()
async def test_relu6_and_reserved(dut):
    """ReLU6 on a ramp (a known answer independent of the golden model), and the
    reserved opcode 7 giving canonical NaN lanes."""
    rng, np_rng = rngs(dut, "relu6")
    env = AfuEnv(dut)
    await env.start()
    ramp = fp16.from_float(np.linspace(-10, 10, 64 * env.lanes)).reshape(-1, env.lanes)
    env.queue(AfuOp.CLAMP, ramp, fp16.from_float(0.0), fp16.from_float(6.0))
    known = fp16.from_float(np.clip(fp16.to_float(ramp), 0, 6))
    assert [e for e, _ in env.expected] == [lanes_int(row) for row in known]
    env.queue(7, random_operands(np_rng, (8, env.lanes)))
    nan = lanes_int([fp16.CANONICAL_NAN] * env.lanes)
    assert all(e == nan for e, _ in env.expected[-8:])
    await env.drain()


@cocotb.test(skip="VECTORS" not in os.environ)
async def test_vectors(dut):
    """A user's own vectors, from ``python -m tb.vectors``."""
    await drive(AfuEnv(dut))
