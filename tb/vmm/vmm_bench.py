"""VMM throughput benchmark (run by ``make bench`` through tb/bench.py).

For each precision, tiles of random weights each serve ``4 * rows`` random activation
vectors, back to back, with no stalls on any stream. Cycles are counted from the first
weight beat to the last result, so the first tile's load and the pipeline's fill and
drain are included. Every result is still checked against the golden model. Metrics are
written as JSON to ``$BENCH_OUT``.
"""

import json
import os
import time

import numpy as np
import cocotb

from .env import VmmEnv
from .stimulus import random_steps, random_tile

TILES = int(os.environ.get("VMM_BENCH_TILES", "500"))


@cocotb.test()
async def bench(dut):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    np_rng = np.random.default_rng(seed)
    metrics = {}
    total_cycles = 0
    total_seconds = 0.0
    env = VmmEnv(dut)
    await env.start()
    for bits in (8, 4, 2):
        env.weights.first_cycle = env.results.last_cycle = None
        first_result = len(env.expected)
        tiles, steps = [], []
        for t in range(TILES):
            tile = random_tile(np_rng, env.rows, env.cols, bits, act_signed=bool(t % 2))
            tiles.append(tile)
            steps += random_steps(np_rng, env.rows, env.cols, tile, 4 * env.rows)
        env.queue(tiles, steps)
        start = time.perf_counter()
        await env.drain(settle=0)
        total_seconds += time.perf_counter() - start
        cycles = env.results.last_cycle - env.weights.first_cycle + 1
        total_cycles += cycles
        macs = len(env.expected[first_result:]) * env.rows * env.cols * (8 // bits)
        ops = 2 * macs / cycles
        peak = 2 * env.rows * env.cols * (8 // bits)
        metrics[f"vmm.int{bits}.ops_per_cycle"] = ops
        metrics[f"vmm.int{bits}.peak_ops_per_cycle"] = peak
        metrics[f"vmm.int{bits}.utilization"] = ops / peak
        metrics[f"vmm.int{bits}.cycles"] = cycles
        dut._log.info("int%d: %d steps in %d cycles, %.2f ops/cycle of %d peak (%.4f)",
                      bits, len(steps), cycles, ops, peak, ops / peak)
    metrics["sim.cycles_per_s"] = total_cycles / total_seconds
    with open(os.environ["BENCH_OUT"], "w") as f:
        json.dump(metrics, f)
