"""cocotb tests of a NoC mesh against the golden mesh (run from test_noc_cocotb.py).

Every random choice derives from the cocotb seed (``COCOTB_RANDOM_SEED``, printed at the
start of each test), so a failure reruns exactly with ``make test SEED=<seed>``. Packet
counts: ``NOC_PACKETS`` per random run (default 1,000; test_noc_cocotb.py passes its
``NOC_COCOTB_PACKETS``, 300 unless set, or 200 on the registry's mesh).
"""

import os
import time

import cocotb

from sw.golden.noc import zero_load_latency

from ..stream import seeded_rng
from .env import MeshEnv
from .traffic import (NoProgress, TooOld, Watchdog, equidistant_pair, random_packets,
                      saturation_packets, unicast, watchdog_for, zero_load_cases)

PACKETS = int(os.environ.get("NOC_PACKETS", "1000"))


def rng_for(dut, *salt):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    dut._log.info("seed %d (rerun with SEED=%d)", seed, seed)
    return seeded_rng(seed, *salt)


@cocotb.test()
@cocotb.parametrize(pattern=["uniform", "hotspot", "multicast"], stall=[0.0, 0.25, 0.5])
async def test_random(dut, pattern, stall):
    """Random traffic, every injection and ejection port stalling with chance ``stall``;
    every flit checked, every accept and delivery in the golden mesh's cycle."""
    rng = rng_for(dut, "random", pattern, stall)
    env = MeshEnv(dut)
    await env.start()
    per_src = random_packets(rng, env.rows, env.cols, PACKETS, pattern)
    start = time.perf_counter()
    board = await env.run(per_src, rng, p_inject=stall, p_eject=stall,
                          watchdog=watchdog_for(pattern))
    seconds = time.perf_counter() - start
    dut._log.info("%s, stalls %.2f: %d packets, %d flit deliveries in %d cycles (%.0f cycles/s); "
                  "latency max %d", pattern, stall, PACKETS, board.delivered, env.cycle,
                  env.cycle / seconds, max(lat for _, _, lat in board.latencies))


@cocotb.test()
async def test_saturation(dut):
    """Every node offering 250 one-flit packets to uniform random nodes, one every cycle
    (no stalls): the accepted load, in the golden mesh's cycles."""
    rng = rng_for(dut, "saturation")
    env = MeshEnv(dut)
    await env.start()
    per_src = saturation_packets(rng, env.rows, env.cols)
    start = env.cycle
    board = await env.run(per_src, rng, settle=0)
    dut._log.info("saturation: %d flits in %d cycles, %.3f flits/node/cycle", board.delivered,
                  env.cycle - start, board.delivered / env.nodes / (env.cycle - start))


@cocotb.test()
async def test_back_to_back(dut):
    """Two one-flit packets back to back to the same output: from one source they arrive
    on consecutive cycles; from two sources as far from it, offered in the same cycle,
    one arrives a cycle after the other."""
    rng = rng_for(dut, "b2b")
    env = MeshEnv(dut)
    await env.start()
    far = env.nodes - 1
    per_src = [[] for _ in range(env.nodes)]
    per_src[0] = [unicast(0, 0, far, env.cols), unicast(0, 1, far, env.cols)]
    board = await env.run(per_src, rng)
    (_, _, a), (_, _, b) = board.latencies
    assert a == b == 1 + (env.rows - 1) + (env.cols - 1), board.latencies
    (_, _, first), (_, _, second) = board.arrivals
    assert second == first + 1, board.arrivals

    pair = equidistant_pair(rng, env.rows, env.cols)
    if pair:
        s1, s2, d = pair
        per_src = [[] for _ in range(env.nodes)]
        per_src[s1] = [unicast(s1, 0, d, env.cols)]
        per_src[s2] = [unicast(s2, 0, d, env.cols)]
        board = await env.run(per_src, rng)
        cycles = sorted(c for _, _, c in board.arrivals)
        assert cycles[1] == cycles[0] + 1, board.arrivals


@cocotb.test()
async def test_zero_load(dut):
    """One packet at a time, from every node to every node (a sample on large meshes) and
    to rectangles: each delivered ``1 + hops`` cycles after it was accepted."""
    rng = rng_for(dut, "zero")
    env = MeshEnv(dut)
    await env.start()
    errors = []
    for per_src in zero_load_cases(rng, env.rows, env.cols):
        board = await env.run(per_src, rng, settle=2)
        for p, node, latency in board.latencies:
            want = zero_load_latency(p.src % env.cols, p.src // env.cols, node % env.cols,
                                     node // env.cols)
            if latency != want:
                errors.append((p, node, latency, want))
    assert not errors, f"{len(errors)} latencies off the formula, first {errors[:3]}"


@cocotb.test()
async def test_watchdog(dut):
    """The watchdog fails a run whose ejection port never takes a flit (no progress for
    1,024 cycles), and one whose packet is held too long while others move."""
    rng = rng_for(dut, "watchdog")
    env = MeshEnv(dut)
    await env.start()
    per_src = [[] for _ in range(env.nodes)]
    per_src[0] = [unicast(0, 0, 0, env.cols)]
    try:
        await env.run(per_src, rng, p_eject=1.0)
    except NoProgress as e:
        dut._log.info("watchdog: %s", e)
    else:
        raise AssertionError("the watchdog missed a stuck mesh")
    assert env.cycle >= 1024


@cocotb.test()
async def test_watchdog_age(dut):
    """A packet older than the watchdog's limit fails the run though other flits move."""
    rng = rng_for(dut, "age")
    env = MeshEnv(dut)
    await env.start()
    per_src = random_packets(rng, env.rows, env.cols, 200, "uniform")
    try:
        await env.run(per_src, rng, p_eject=0.5, watchdog=Watchdog(1024, max_age=3))
    except TooOld as e:
        dut._log.info("watchdog: %s", e)
    else:
        raise AssertionError("the watchdog missed a packet older than 3 cycles")

