"""cocotb tests of the VMM against the golden model (run from test_vmm.py).

Every random choice derives from the cocotb seed (``COCOTB_RANDOM_SEED``, printed at the
start of each test), so a failure reruns exactly with ``make test SEED=<seed>``.
"""

import os

import numpy as np
import cocotb

from sw.golden.packing import pack, value_range
from sw.golden.vmm import INT32_MAX, Step, Tile

from ..stream import burst_pause, random_pause, seeded_rng
from ..vectors import drive
from .env import VmmEnv
from .stimulus import lane_bound, random_steps, random_tile

STEPS = int(os.environ.get("VMM_STEPS", "10000"))  # random steps per precision


def rngs(dut, *salt):
    """Random generators for one test, derived from the run's seed and the test's name."""
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    dut._log.info("seed %d (rerun with SEED=%d)", seed, seed)
    rng = seeded_rng(seed, *salt)
    return rng, np.random.default_rng(rng.getrandbits(64))


def stall(env, rng, weights, steps, results):
    """Random gaps on both input streams and random backpressure on the output."""
    env.weights.set_pause(random_pause(rng, weights) if weights else None)
    env.steps.set_pause(random_pause(rng, steps) if steps else None)
    env.results.set_pause(random_pause(rng, results) if results else None)


def random_workload(env, rng, np_rng, count, bits_choices):
    """Tiles of random precision, signedness and length (1 to 4 * rows steps)."""
    tiles, steps = [], []
    while len(steps) < count:
        bits = rng.choice(bits_choices)
        tile = random_tile(np_rng, env.rows, env.cols, bits, rng.random() < 0.5,
                           extreme=rng.random() < 0.1)
        n = min(rng.randint(1, 4 * env.rows), count - len(steps))
        tiles.append(tile)
        steps += random_steps(np_rng, env.rows, env.cols, tile, n, extreme=rng.random() < 0.1)
    return tiles, steps


@cocotb.test()
@cocotb.parametrize(bits=[8, 4, 2], stalls=[False, True])
async def test_random(dut, bits, stalls):
    """Random tiles and steps at one precision, both signedness, with and without stalls."""
    rng, np_rng = rngs(dut, "random", bits, stalls)
    env = VmmEnv(dut)
    await env.start()
    if stalls:
        stall(env, rng, rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.6))
    env.queue(*random_workload(env, rng, np_rng, STEPS, [bits]))
    await env.drain()
    dut._log.info("%d steps at int%d in %d cycles", len(env.expected), bits, env.cycle)


@cocotb.test()
async def test_mixed_precision(dut):
    """Precision and signedness change from tile to tile, under bursty stalls."""
    rng, np_rng = rngs(dut, "mixed")
    env = VmmEnv(dut)
    await env.start()
    env.weights.set_pause(burst_pause(rng, 0.2, 12))
    env.steps.set_pause(burst_pause(rng, 0.2, 6))
    env.results.set_pause(burst_pause(rng, 0.2, 6))
    env.queue(*random_workload(env, rng, np_rng, STEPS // 4, [8, 4, 2]))
    await env.drain()


@cocotb.test()
@cocotb.parametrize(stalls=[False, True])
async def test_pair_beats(dut, stalls):
    """Weight beats of one or two rows at random, a pair often joining one tile's last row
    to the next tile's first, at mixed precisions, with and without stalls."""
    rng, np_rng = rngs(dut, "pairs", stalls)
    env = VmmEnv(dut)
    await env.start()
    env.pairs = rng.uniform(0.3, 0.9)
    if stalls:
        stall(env, rng, rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.6))
    env.queue(*random_workload(env, rng, np_rng, STEPS // 2, [8, 4, 2]), rng=rng)
    await env.drain()
    dut._log.info("%d steps, %d pair beats (%d across tiles), %d cycles", len(env.expected),
                  env.pair_beats, env.split_pairs, env.cycle)
    assert env.split_pairs > 0, "no pair beat joined two tiles"


@cocotb.test()
async def test_extremes(dut):
    """All-extreme tiles and vectors; each result also checked against a closed form."""
    env = VmmEnv(dut)
    await env.start()
    cases = []
    for bits in (8, 4, 2):
        w_low, w_high = value_range(bits, signed=True)
        for act_signed in (True, False):
            a_low, a_high = value_range(bits, signed=act_signed)
            for w in (w_low, w_high):
                for a in (a_low, a_high):
                    n = env.cols * 8 // bits
                    weights = np.full((env.rows, n), w)
                    tile = Tile.from_weights(weights, bits, act_signed)
                    step = Step(pack(np.full(n, a), bits, act_signed),
                                np.arange(env.rows, dtype=np.int64) * 7, last=True)
                    # e.g. int8: 8 columns of -128 * -128 = 131072 on every row
                    closed_form = n * w * a + np.arange(env.rows) * 7
                    cases.append((tile, step, closed_form))
    for tile, step, _ in cases:
        env.queue([tile], [step])
    for (_, _, closed_form), (sums, _) in zip(cases, env.expected, strict=True):
        assert np.array_equal(sums, closed_form), "golden model disagrees with closed form"
    await env.drain()


@cocotb.test()
async def test_long_reduction(dut):
    """Results fed back as partial sums: several interleaved accumulation chains over
    hundreds of tiles, reaching magnitudes far beyond one step's."""
    rng, np_rng = rngs(dut, "reduction")
    env = VmmEnv(dut)
    await env.start()
    stall(env, rng, 0.3, 0.3, 0.3)
    chains = 4
    psums = [np.zeros(env.rows, dtype=np.int64) for _ in range(chains)]
    for _ in range(300):
        bits = rng.choice([8, 4, 2])
        signed = rng.random() < 0.5
        low, high = value_range(bits, signed)
        n = env.cols * 8 // bits
        grow = rng.random() < 0.5
        if grow:  # most negative weights: odd chains (largest activations) grow steadily
            tile = Tile.from_weights(np.full((env.rows, n), value_range(bits, True)[0]),
                                     bits, signed)
        else:
            tile = random_tile(np_rng, env.rows, env.cols, bits, signed)
        steps = []
        for c in range(chains):
            if grow:
                acts = np.full(n, high if c % 2 else low)
            else:
                acts = np_rng.integers(low, high + 1, size=n)
            steps.append(Step(pack(acts, bits, signed), psums[c], last=(c == chains - 1)))
        first = len(env.expected)
        env.queue([tile], steps)
        await env.drain(settle=0)
        psums = [env.decode_result(env.results.items[first + c])[0] for c in range(chains)]
    magnitude = max(int(abs(p).max()) for p in psums)
    dut._log.info("largest accumulated magnitude %d", magnitude)
    one_step = env.cols * lane_bound(8)
    assert magnitude > 10 * one_step, "the chains should accumulate far beyond one step"


@cocotb.test()
@cocotb.parametrize(case=["back_to_back", "pairs_back_to_back", "single_step_tiles",
                           "late_tiles", "late_steps"])
async def test_tile_switch(dut, case):
    """Tile switches: back to back with no lost cycle (one row a beat, or two), one step
    per tile (load-bound), and tiles or steps arriving late."""
    rng, np_rng = rngs(dut, "switch", case)
    env = VmmEnv(dut)
    await env.start()
    pairs = case == "pairs_back_to_back"
    env.pairs = 1.0 if pairs else 0.0
    tiles, steps = [], []
    for _ in range(60):
        bits = rng.choice([8, 4, 2])
        tile = random_tile(np_rng, env.rows, env.cols, bits, rng.random() < 0.5)
        if case == "single_step_tiles":
            n = 1
        else:   # enough to hide the next load
            n = rng.randint(env.rows // 2 if pairs else env.rows, 4 * env.rows)
        tiles.append(tile)
        steps += random_steps(np_rng, env.rows, env.cols, tile, n)
    if case == "late_tiles":
        env.weights.set_pause(burst_pause(rng, 0.05, 40))
    elif case == "late_steps":
        env.steps.set_pause(burst_pause(rng, 0.05, 40))
    env.queue(tiles, steps, rng=rng)
    await env.drain()
    if case in ("back_to_back", "pairs_back_to_back"):
        # Every tile serves more steps than a load takes, so no step may wait.
        span = env.steps.last_cycle - env.steps.first_cycle + 1
        assert span == len(steps), f"{len(steps)} steps took {span} cycles"


@cocotb.test()
async def test_reserved_precision(dut):
    """A tile with the reserved precision encoding 3 contributes no products: each result
    equals its partial sum, and the following tile computes normally."""
    rng, np_rng = rngs(dut, "reserved")
    env = VmmEnv(dut)
    await env.start()
    for _ in range(10):
        data = np_rng.integers(0, 256, size=(env.rows, env.cols)).astype(np.uint8)
        tile = Tile(data, 3, rng.random() < 0.5)
        normal = random_tile(np_rng, env.rows, env.cols, 8, True)
        reserved_steps = random_steps(np_rng, env.rows, env.cols, tile, 3)
        env.queue([tile, normal],
                  reserved_steps + random_steps(np_rng, env.rows, env.cols, normal, 2))
        for step, (sums, _) in zip(reserved_steps, env.expected[-5:-2], strict=True):
            assert np.array_equal(sums, step.psum)
    await env.drain()


@cocotb.test()
async def test_wraparound(dut):
    """Results outside int32 wrap modulo 2**32 (the compiler rules such layers out)."""
    env = VmmEnv(dut)
    await env.start()
    for bits in (8, 4, 2):
        w_low, _ = value_range(bits, True)
        a_low, _ = value_range(bits, True)
        n = env.cols * 8 // bits
        tile = Tile.from_weights(np.full((env.rows, n), w_low), bits, True)
        step = Step(pack(np.full(n, a_low), bits, True),
                    np.full(env.rows, INT32_MAX, dtype=np.int64), last=True)
        env.queue([tile], [step], wrap=True)
        assert env.expected[-1][0][0] == INT32_MAX + n * w_low * a_low - (1 << 32)
    await env.drain()


@cocotb.test(skip="VECTORS" not in os.environ)
async def test_vectors(dut):
    """A user's own vectors, from ``python -m tb.vectors``."""
    await drive(VmmEnv(dut))
