"""Vector-unit throughput benchmark (``make bench``): a long run of instructions of every
operation, back to back with no stalls, checked against the golden model. One op is one
lane's operation; cycles run from the first instruction accepted to the last result."""

import json
import os

import numpy as np
import cocotb

from rtl.spec.codes import VcuOp

from ..fp16_stimulus import random_operands
from .env import VcuEnv

INSTRS = int(os.environ.get("VCU_BENCH_INSTRS", "2000"))  # per op


@cocotb.test()
async def bench(dut):
    np_rng = np.random.default_rng(int(os.environ.get("COCOTB_RANDOM_SEED", "1")))
    env = VcuEnv(dut)
    await env.start()
    for op in VcuOp:
        a, b, c = (random_operands(np_rng, (INSTRS, env.lanes)) for _ in range(3))
        env.queue(op, a, b, c, shift=np_rng.integers(0, 64, size=INSTRS),
                  fmt=int(op) % 3, mask=np_rng.integers(0, 2, size=(INSTRS, env.lanes)))
    metrics = await env.throughput("vcu", env.lanes)
    with open(os.environ["BENCH_OUT"], "w") as f:
        json.dump(metrics, f)
