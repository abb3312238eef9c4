"""cocotb tests of the fused post-processing block against its golden model (run from
test_post.py): random parameters at every precision, signedness and activation, with and
without the residual, psums across the int32 range, random gaps on the input; every
output checked in order, bit for bit, and at exactly the block's latency. A block whose
units take a vector in ``POST_PASSES`` cycles (default: the configuration's
``unit_passes``) is given a vector at most every that many cycles.

Every random choice derives from the run's seed (``COCOTB_RANDOM_SEED``, logged by each
test); ``make test SEED=<seed>`` reruns it exactly.
"""

import os

import numpy as np
import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from rtl.core.post import chain_latency, post_input_layout, post_params_layout
from rtl.spec.binary16 import NEG_INF, POS_INF
from rtl.spec.codes import AfuOp, Precision
from rtl.spec.config import get_config
from sw.golden import fp16
from sw.golden.post import IDENTITY, PostChain, PostParams

from ..fp16_stimulus import EDGES, int32_edges
from ..stream import random_pause, seeded_rng, start_clock

VECTORS = int(os.environ.get("POST_VECTORS", "6000"))  # random vectors per test


class PostEnv:
    """The block under test: ``params`` held per batch, vectors in with random gaps,
    outputs sampled every cycle with the cycle they appear in."""

    def __init__(self, dut):
        self.dut = dut
        core = get_config(os.environ.get("POST_CONFIG", "sim")).core
        self.rows = core.vmm_rows
        self.passes = int(os.environ.get("POST_PASSES") or core.unit_passes)
        self.table_reg = bool(int(os.environ.get("POST_TABLE_REG") or core.afu_table_reg))
        self.golden = PostChain(self.rows)
        self.params_layout = post_params_layout(self.rows)
        self.input_layout = post_input_layout(self.rows)
        self.cycle = 0

    async def start(self):
        self.dut.i__valid.value = 0
        self.dut.o__ready.value = 1
        await start_clock(self.dut)

    def _params_bits(self, p):
        # The reserved codes (act 7, prec 3) are not enum members: placed as raw bits.
        fields = self.params_layout
        bits = fields.const({
            "shift": p.shift, "scale": [int(v) for v in p.scale],
            "bias": [int(v) for v in p.bias], "residual": int(p.residual),
            "res_shift": p.res_shift, "p0": int(p.p0), "p1": int(p.p1),
            "out_signed": int(p.out_signed)}).as_bits()
        return bits | (int(p.act) << fields["act"].offset) \
            | (int(p.prec) << fields["prec"].offset)

    async def run_batch(self, params, psum, res, pause):
        """Send the vectors under ``params`` (the block idle before and after) and check
        every output against the golden model and the latency."""
        d = self.dut
        expected = self.golden.execute(params, psum, res)
        payloads = [self.input_layout.const({"psum": [int(v) for v in psum[k]],
                                             "res": [int(v) for v in res[k]]}).as_bits()
                    for k in range(len(psum))]
        d.params.value = self._params_bits(params)
        sent, got = [], []
        latency = chain_latency(self.passes, self.table_reg)
        pending = list(payloads)
        limit = self.cycle + 3 * self.passes * len(payloads) + latency + 50
        while len(got) < len(expected):
            assert self.cycle < limit, f"{len(got)} of {len(expected)} outputs arrived"
            await FallingEdge(d.clk)
            offer = bool(pending) and not next(pause) and \
                (not sent or self.cycle - sent[-1] >= self.passes)
            d.i__valid.value = int(offer)
            if offer:
                d.i__payload.value = pending[0]
            await ReadOnly()
            if offer:   # i is always ready
                pending.pop(0)
                sent.append(self.cycle)
            if d.o__valid.value:
                got.append((self.cycle, d.o__payload.value.to_unsigned()))
            self.cycle += 1
        await FallingEdge(d.clk)
        d.i__valid.value = 0
        for _ in range(latency + 2):   # nothing more may come out
            await ReadOnly()
            assert not d.o__valid.value, "an output with no input"
            await FallingEdge(d.clk)
            self.cycle += 1
        errors = []
        for k, ((cycle, value), want) in enumerate(zip(got, expected, strict=True)):
            if value != want:
                errors.append(f"vector {k}: psum {list(psum[k])} res {list(res[k])} "
                              f"params {params}: got {value:#x}, expected {want:#x}")
            if cycle - sent[k] != latency:
                errors.append(f"vector {k}: latency {cycle - sent[k]}, not {latency}")
        assert not errors, f"{len(errors)} errors, first:\n" + "\n".join(errors[:5])
        return len(got)


def rngs(dut, *salt):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    dut._log.info("seed %d (rerun with SEED=%d)", seed, seed)
    rng = seeded_rng(seed, *salt)
    return rng, np.random.default_rng(rng.getrandbits(64))


def random_fp16(np_rng, n, edges=0.1):
    """binary16 values, mostly moderate finite numbers, some from the edge classes."""
    values = fp16.from_float(np_rng.normal(0, 1.5, n) * 2.0 ** np_rng.integers(-6, 6, n))
    pick = np_rng.random(n) < edges
    return np.where(pick, np_rng.choice(np.asarray(EDGES, dtype=np.uint16), n), values)


def random_params(np_rng, rows, *, edges=0.1):
    act = int(np_rng.integers(0, 8))   # 7 is reserved
    p0, p1 = random_fp16(np_rng, 2, edges)
    if np_rng.random() < 0.3:
        act, p0, p1 = IDENTITY
    elif act == AfuOp.CLAMP and np_rng.random() < 0.7:
        lo, hi = sorted(fp16.to_float(np.array([p0, p1], dtype=np.uint16)))
        p0, p1 = fp16.from_float([lo, hi])
    return PostParams(
        shift=int(np_rng.integers(0, 64)) if np_rng.random() < 0.2
        else int(np_rng.integers(0, 16)),
        scale=random_fp16(np_rng, rows, edges), bias=random_fp16(np_rng, rows, edges),
        residual=bool(np_rng.random() < 0.5), res_shift=int(np_rng.integers(0, 8)),
        act=act, p0=int(p0), p1=int(p1),
        prec=int(np_rng.integers(0, 4)) if np_rng.random() < 0.1
        else int(np_rng.integers(0, 3)),
        out_signed=bool(np_rng.random() < 0.5))


def random_vectors(np_rng, n, rows):
    scale = 2 ** np_rng.integers(0, 32, (n, rows))
    psum = np.clip(np_rng.integers(-(1 << 31), 1 << 31, (n, rows)) // scale,
                   -(1 << 31), (1 << 31) - 1)
    res = np_rng.integers(-(1 << 15), 1 << 15, (n, rows)) // 2 ** np_rng.integers(0, 16, (n, rows))
    return psum, res


@cocotb.test()
async def test_random(dut):
    """Random parameters and vectors, random input gaps."""
    rng, np_rng = rngs(dut, "random")
    env = PostEnv(dut)
    await env.start()
    done = 0
    while done < VECTORS:
        params = random_params(np_rng, env.rows)
        psum, res = random_vectors(np_rng, int(np_rng.integers(1, 80)), env.rows)
        done += await env.run_batch(params, psum, res, random_pause(rng, 0.3))
    dut._log.info("%d vectors checked", done)


@cocotb.test()
async def test_edges(dut):
    """int32 edge values as partial sums and residuals, every precision and signedness,
    every activation, edge-class scales, biases and parameters."""
    rng, np_rng = rngs(dut, "edges")
    env = PostEnv(dut)
    await env.start()
    edges = np.array(int32_edges(), dtype=np.int64)
    psum = np.resize(edges, (-(-len(edges) // env.rows), env.rows))
    res = np.clip(psum, -(1 << 15), (1 << 15) - 1)
    for prec in tuple(Precision):
        for signed in (False, True):
            for act in list(AfuOp) + [7]:
                params = random_params(np_rng, env.rows, edges=0.5)
                params = PostParams(**{**params.__dict__, "prec": prec, "out_signed": signed,
                                       "act": act, "residual": True})
                await env.run_batch(params, psum, res, random_pause(rng, 0.2))
    identity = PostParams(shift=0, scale=np.full(env.rows, 0x3C00), bias=np.zeros(env.rows),
                          act=AfuOp.CLAMP, p0=NEG_INF, p1=POS_INF)
    await env.run_batch(identity, psum, res, random_pause(rng, 0.2))


@cocotb.test()
async def test_back_to_back(dut):
    """A long burst with no gap: one vector a cycle (every ``passes`` cycles), each at the
    latency."""
    _, np_rng = rngs(dut, "burst")
    env = PostEnv(dut)
    await env.start()
    params = random_params(np_rng, env.rows)
    psum, res = random_vectors(np_rng, 500, env.rows)
    await env.run_batch(params, psum, res, iter(lambda: 0, 1))
