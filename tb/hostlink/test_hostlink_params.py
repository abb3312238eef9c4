"""The host link at other parameters than the cocotb bench's, in Amaranth's simulator: the
test top (:mod:`tb.hostlink.top`) with 1-, 2- and 4-byte words, small memories and
``max_data`` from 1 to 300, fed random good and bad frames (largest frames, 254-byte COBS
runs, out-of-range transfers, runs, garbage) under random stalls on both streams; every
answer byte must equal the golden model's, and nothing more may come."""

import random

import pytest
from amaranth.sim import Simulator

from sw.golden.hostlink import (HostLinkModel, Nak, build_frame, info_request, read_request,
                                run_request, status_request, write_request)

from .top import HostLinkTop, init_bytes

PARAMS = [dict(word_bytes=1, mem_bytes=64, max_data=8, ident=0),
          dict(word_bytes=4, mem_bytes=256, max_data=16, ident=(1 << 48) - 1),
          dict(word_bytes=2, mem_bytes=16, max_data=1, ident=0x123456789ABC),
          dict(word_bytes=4, mem_bytes=512, max_data=300, ident=0x0100_0000_0002)]


def random_stream(rng, mem, maxd, frames):
    """Random frames for a link of ``mem`` bytes and ``max_data`` ``maxd``."""
    out = bytearray()
    for _ in range(frames):
        kind = rng.randrange(8)
        n = rng.choice([1, maxd, rng.randint(1, maxd)])
        addr = rng.choice([0, mem - n, rng.randrange(mem + 8)])
        if kind < 3:
            data = bytes(rng.choice([[rng.randrange(1, 256)] * n,
                                     [rng.randrange(256) for _ in range(n)]]))
            out += build_frame(write_request(addr, data + (b"\x07" if kind == 2 else b"")))
        elif kind < 5:
            out += build_frame(read_request(addr, n + (kind == 4 and rng.random() < 0.3)))
        elif kind == 5:
            out += build_frame(rng.choice([status_request(), info_request(),
                                           info_request() + b"\x00"]))
        elif kind == 6:   # a frame with one byte changed (or cut), then a good STATUS
            frame = bytearray(build_frame(write_request(addr % mem, b"\x01\x02")))
            frame[rng.randrange(len(frame) - 1)] = rng.randrange(256)
            out += frame + build_frame(status_request())
        else:
            out += bytes(rng.randrange(256) for _ in range(rng.randint(1, 12))) + b"\x00"
    # A run, then a READ and a WRITE during it (BUSY) and a STATUS
    out += b"".join(build_frame(p) for p in [run_request(rng.randrange(1 << 32)),
                                             read_request(0, 1), write_request(0, b"\x01"),
                                             run_request(0), status_request(),
                                             info_request()])
    return bytes(out)


@pytest.mark.parametrize("params", PARAMS, ids=[str(tuple(p.values())) for p in PARAMS])
def test_link_parameters(params, seed):
    print(f"seed {seed} (rerun with --seed {seed} or SEED={seed})")
    rng = random.Random(f"{seed}:params:{tuple(params.values())}")
    mem = params["mem_bytes"]
    stream = random_stream(rng, mem, params["max_data"], 30)
    model = HostLinkModel(**params, init=init_bytes(mem))
    expected = model.feed(stream)
    dut = HostLinkTop(**params)
    got, stall = [], 0.3

    async def source(ctx):
        ctx.set(dut.hold, 1)   # a started run lasts: the model's RUNs too
        for b in stream:
            while rng.random() < stall:
                await ctx.tick()
            ctx.set(dut.rx.valid, 1)
            ctx.set(dut.rx.payload, b)
            await ctx.tick().until(dut.rx.ready)
            ctx.set(dut.rx.valid, 0)

    async def sink(ctx):
        while True:
            ready = rng.random() >= stall
            ctx.set(dut.tx.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.tx.valid, dut.tx.payload)
            if ready and valid:
                got.append(payload)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink, background=True)
    # At most 20 cycles a byte in or out, then 50 more to show a stray byte
    sim.run_until(1e-6 * (20 * (len(stream) + len(expected)) + 50))
    first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False))
                  if a != b),
                 min(len(got), len(expected)))
    assert bytes(got) == expected, \
        f"{len(got)} answer bytes, {len(expected)} expected; first difference at {first}"
    assert model.acked_writes and model.naks[Nak.BUSY] == 3 and model.entries
