"""cocotb tests of the core: compiled layers run on the RTL, bit-exact against the golden
core and the layers' direct reference, with data-independent cycle counts."""

import os

import numpy as np
import cocotb
from cocotb.triggers import FallingEdge

from sw.compiler_stub.conv import CompileError, compile_conv2d, compile_pool2d
from sw.golden.core import Core
from sw.golden.cycles import predict
from sw.golden.layers import conv2d_reference, pool2d_reference

from ..vectors import drive
from .env import CoreEnv
from .stimulus import (border_bytes, fitting_layer, random_pool, random_tensors, run_layer,
                       run_pool)

LAYERS = int(os.environ.get("CORE_LAYERS", "12"))


def rngs(dut, salt):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    dut._log.info("seed %d (rerun with SEED=%d)", seed, seed)
    return np.random.default_rng([seed, salt])


async def run_compiled(env, compiled, x, res=None):
    for addr, data in compiled.preload:
        await env.write(addr, data)
    await env.write(compiled.input.base, compiled.input.pack(x))
    if compiled.residual is not None:
        await env.write(compiled.residual.base, compiled.residual.pack(res))
    cycles, steps = await env.run(compiled.entry)
    out = await env.read(compiled.output.base, compiled.output.size)
    return compiled.output.unpack(out), cycles, steps


@cocotb.test()
async def test_random_layers(dut):
    """Random convolutions and fully connected layers at every precision: the RTL's
    output equals the golden core's and the reference's; rerunning the same program
    with other data takes exactly as many cycles. Each output has a border of 0 to 2
    positions over random bytes: the layer's preload zeroes it."""
    rng = rngs(dut, 1)
    mem = rngs(dut, 5)   # output borders and the bytes under the output
    env = CoreEnv(dut)
    await env.start()
    for n in range(LAYERS):
        layer, h, w, tensors = fitting_layer(env.config, rng, 10)
        x, wts, scale, bias = tensors[:4]
        res = tensors[4] if layer.residual else None
        try:
            compiled = compile_conv2d(env.config, layer, h, w, wts, scale, bias,
                                      out_padding=int(mem.integers(0, 3)))
        except CompileError:                  # the border made the output too large
            compiled = compile_conv2d(env.config, layer, h, w, wts, scale, bias)
        out = compiled.output
        await env.write(out.base, mem.integers(0, 256, out.size, dtype=np.uint8).tobytes())
        got, cycles, steps = await run_compiled(env, compiled, x, res)
        assert not border_bytes(out, await env.read(out.base, out.size)).any(), \
            f"layer {n}: the output's border is not zero"
        _, expected = conv2d_reference(layer, *tensors)
        _, gout = run_layer(env.config, layer, h, w, *tensors)   # the golden core
        assert np.array_equal(gout, expected)
        assert np.array_equal(got, expected), f"layer {n}: {layer} on {h}x{w}"
        x2 = random_tensors(rng, layer, h, w)[0]
        got2, cycles2, _ = await run_compiled(env, compiled, x2, res)
        assert np.array_equal(got2, conv2d_reference(layer, x2, wts, scale, bias, res)[1])
        assert cycles2 == cycles, f"cycles depend on data: {cycles} then {cycles2}"
        predicted = predict(env.config, compiled.programs)
        assert (cycles, steps) == predicted, \
            f"layer {n}: RTL took {cycles} cycles and {steps} steps, model {predicted}"
        dut._log.info("layer %d: %s on %dx%d: %d cycles, %d VMM steps", n, layer.name, h, w,
                      cycles, steps)


@cocotb.test()
async def test_pooling(dut):
    """Random max and average pooling layers (the vector passes alone) on the RTL: equal
    to the golden core and the reference, same cycles with other data, as predicted."""
    rng = rngs(dut, 3)
    env = CoreEnv(dut)
    await env.start()
    for n in range(LAYERS):
        pool, h, w, x = random_pool(rng)
        compiled = compile_pool2d(env.config, pool, h, w)
        got, cycles, _ = await run_compiled(env, compiled, x)
        assert np.array_equal(got, pool2d_reference(pool, x)), f"pool {n}: {pool} {h}x{w}"
        assert np.array_equal(run_pool(env.config, pool, h, w, x)[1], got)
        x2 = rng.permuted(x.ravel()).reshape(x.shape)   # other data of the same type
        got2, cycles2, _ = await run_compiled(env, compiled, x2)
        assert np.array_equal(got2, pool2d_reference(pool, x2))
        assert cycles2 == cycles, f"cycles depend on data: {cycles} then {cycles2}"
        assert (cycles, 0) == predict(env.config, compiled.programs)
        dut._log.info("pool %d: %s %dx%d on %dx%d: %d cycles", n, pool.kind, pool.kernel,
                      pool.kernel, h, w, cycles)


@cocotb.test(skip="CORE_LAYER" not in os.environ)
async def test_one_layer(dut):
    """Reproduce one layer: ``CORE_LAYER='{"layer": {...Conv2d fields}, "h": H, "w": W}'``
    with tensors from the seed; reports where the RTL and the reference differ."""
    import json
    from sw.golden.layers import Conv2d
    spec = json.loads(os.environ["CORE_LAYER"])
    layer = Conv2d(**spec["layer"])
    rng = rngs(dut, 2)
    env = CoreEnv(dut)
    await env.start()
    tensors = random_tensors(rng, layer, spec["h"], spec["w"])
    x, wts, scale, bias = tensors[:4]
    compiled = compile_conv2d(env.config, layer, spec["h"], spec["w"], wts, scale, bias)
    got, cycles, steps = await run_compiled(env, compiled, x, *tensors[4:])
    _, expected = conv2d_reference(layer, *tensors)
    bad = np.argwhere(got != expected)
    dut._log.info("%d cycles, %d steps, model %s; %d mismatches, first %s", cycles, steps,
                  predict(env.config, compiled.programs), len(bad), bad[:8].tolist())
    for t, program in enumerate(compiled.programs[:3]):
        dut._log.info("T%d: %s", t, "; ".join(map(str, program)))
    assert not len(bad)


@cocotb.test()
async def test_noc_ports(dut):
    """T4 receives flits on the ANoC into MEM and sends them back out with a tag; T5
    sends a MEM region out of the PNoC. Random gaps on the input stream and backpressure
    on the outputs; MEM and the flits match the golden core."""
    from sw.compiler_stub.asm import assemble
    from ..stream import StreamSink, StreamSource, burst_pause, run_cycles
    rng = rngs(dut, 4)
    env = CoreEnv(dut)
    await env.start()
    word, n = env.word, 24
    text = f"""
    .thread 4
        AGBASE g=0 base={2 * env.config.sram_bank_bytes}
        AGDIM g=0 d=0 count={n} stride={word}
        RECV s=0
        SEND s=0 tag=0x5A5A
        END
    .thread 5
        AGBASE g=1 base={3 * env.config.sram_bank_bytes}
        AGDIM g=1 d=0 count={n} stride={word}
        SEND s=1 tag=7
        END
    """
    image = assemble(text, env.config).image()
    flits = [rng.integers(0, 256, size=word, dtype=np.uint8).tobytes() for _ in range(n)]
    region = rng.integers(0, 256, size=n * word, dtype=np.uint8).tobytes()
    golden = Core(env.config)
    golden.write(0, image)
    golden.write(3 * env.config.sram_bank_bytes, region)
    golden.noc_in[0] = [(f, 0) for f in flits]
    golden.run(0)
    await env.write(0, image)
    await env.write(3 * env.config.sram_bank_bytes, region)
    pyrng = __import__("random").Random(int(rng.integers(1 << 30)))
    src = StreamSource(dut, "noc__anoc__i", pause=burst_pause(pyrng, 0.3, 5))
    anoc = StreamSink(dut, "noc__anoc__o", pause=burst_pause(pyrng, 0.3, 5))
    pnoc = StreamSink(dut, "noc__pnoc__o", pause=burst_pause(pyrng, 0.3, 5))
    src.send(int.from_bytes(f, "little") for f in flits)  # tag 0 in the high bits
    dut.entry.value = 0
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value = 0
    await run_cycles(dut.clk, [src, anoc, pnoc], lambda c: c > 4 and not dut.busy.value,
                     max_cycles=20000)
    await FallingEdge(dut.clk)
    assert not dut.conflict.value
    mask = (1 << (8 * word)) - 1
    for port, sink in ((0, anoc), (1, pnoc)):
        expected = [(int.from_bytes(d, "little"), tag) for d, tag in golden.noc_out[port]]
        got = [(v & mask, v >> (8 * word)) for v in sink.items]
        assert got == expected, f"port {port}: flits differ"
    mem = await env.read(2 * env.config.sram_bank_bytes, n * word)
    assert mem == golden.read(2 * env.config.sram_bank_bytes, n * word)


@cocotb.test(skip="VECTORS" not in os.environ)
async def test_vectors(dut):
    """A user's own vectors, from ``python -m tb.vectors``."""
    await drive(CoreEnv(dut))
