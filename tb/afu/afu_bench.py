"""Activation-unit throughput benchmark (``make bench``): every operation back to back
with no stalls, checked against the golden model; cycles from the first instruction
accepted to the last result."""

import json
import os

import numpy as np
import cocotb

from rtl.spec.codes import AfuOp

from ..fp16_stimulus import random_operands
from .env import AfuEnv

INSTRS = int(os.environ.get("AFU_BENCH_INSTRS", "2000"))  # per op


@cocotb.test()
async def bench(dut):
    np_rng = np.random.default_rng(int(os.environ.get("COCOTB_RANDOM_SEED", "1")))
    env = AfuEnv(dut)
    await env.start()
    for op in AfuOp:
        env.queue(op, random_operands(np_rng, (INSTRS, env.lanes)), 0x3400, 0x4600)
    metrics = await env.throughput("afu", env.lanes)
    with open(os.environ["BENCH_OUT"], "w") as f:
        json.dump(metrics, f)
