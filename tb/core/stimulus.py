"""Core-layer stimulus shared by the unit tests of the golden core and the core's cocotb
tests and benchmark: random convolution and pooling layers with their tensors, and their
runs on the golden core."""

import numpy as np

from rtl.spec.codes import AfuOp
from sw.compiler_stub.conv import CompileError, compile_conv2d, compile_pool2d
from sw.golden import fp16
from sw.golden.core import Core
from sw.golden.layers import Conv2d, Pool2d

__all__ = ["random_layer", "random_tensors", "fits", "fitting_layer", "border_bytes", "dirty_core",
           "run_layer", "random_pool", "run_pool"]


def random_layer(rng, max_hw=12):
    bits, obits = (int(rng.choice([8, 4, 2])) for _ in range(2))
    k = int(rng.integers(1, 4))
    depthwise = rng.random() < 0.2
    cin = int(rng.integers(1, 20))
    layer = Conv2d(cin, cin if depthwise else int(rng.integers(1, 20)), k,
                   depthwise=depthwise, residual=bool(rng.random() < 0.25),
                   res_shift=int(rng.integers(0, 4)),
                   stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, k)),
                   bits=bits, in_signed=bool(rng.integers(2)), out_bits=obits,
                   out_signed=bool(rng.integers(2)), shift=int(rng.integers(0, 10)),
                   activation=[None, AfuOp.RELU, AfuOp.TANH, AfuOp.CLAMP,
                               AfuOp.GELU][int(rng.integers(5))],
                   act_p0=0, act_p1=0x4600)
    h, w = (int(rng.integers(k, max_hw)) for _ in range(2))
    return layer, h, w


def random_tensors(rng, layer, h, w):
    """Input, weights, scale and bias; with ``layer.residual``, a fifth item: the
    residual tensor."""
    bits = layer.bits
    wts = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=layer.weight_shape)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if layer.in_signed \
        else (0, (1 << bits) - 1)
    x = rng.integers(low, high + 1, size=(h, w, layer.in_channels))
    scale = fp16.from_float(rng.uniform(0.01, 0.2, layer.out_channels))
    bias = fp16.from_float(rng.uniform(-3, 3, layer.out_channels))
    if not layer.residual:
        return x, wts, scale, bias
    ob = layer.out_bits
    low, high = (-(1 << (ob - 1)), (1 << (ob - 1)) - 1) if layer.out_signed \
        else (0, (1 << ob) - 1)
    res = rng.integers(low, high + 1, size=layer.out_size(h, w) + (layer.out_channels,))
    return x, wts, scale, bias, res


def fits(core, layer, h, w, tensors):
    """Whether the layer compiles for the core's memory banks (any other compile error is
    raised)."""
    try:
        compile_conv2d(core, layer, h, w, *tensors[1:4])
    except CompileError as e:
        if "do not fit" in str(e):
            return False
        raise
    return True


def fitting_layer(core, rng, max_hw):
    """A random layer (with tensors) that fits the core's memory banks."""
    for _ in range(100):
        layer, h, w = random_layer(rng, max_hw)
        tensors = random_tensors(rng, layer, h, w)
        if fits(core, layer, h, w, tensors):
            return layer, h, w, tensors
    raise AssertionError("no fitting random layer in 100 draws")


def border_bytes(layout, data):
    """The bytes of ``data`` (the layout's whole buffer) at the positions outside its
    ``height x width`` interior."""
    p = layout.padding
    words = np.frombuffer(data, dtype=np.uint8).reshape(layout.height + 2 * p,
                                                        layout.width + 2 * p, -1)
    inner = np.zeros(words.shape[:2], dtype=bool)
    inner[p:p + layout.height, p:p + layout.width] = True
    return words[~inner]


def dirty_core(core, rng):
    """A golden core whose MEM holds random bytes."""
    golden = Core(core)
    golden.mem[:] = rng.integers(0, 256, size=golden.mem.size, dtype=np.uint8)
    return golden


def run_layer(core, layer, h, w, x, wts, scale, bias, res=None, *, out_padding=0,
              dirty=None, band_heights=None):
    """Compile and run a layer on a golden core (its MEM random bytes from the generator
    ``dirty``, if given, else zeros); check the output's border is zero."""
    compiled = compile_conv2d(core, layer, h, w, wts, scale, bias, out_padding=out_padding,
                              band_heights=band_heights)
    golden = Core(core) if dirty is None else dirty_core(core, dirty)
    for addr, data in compiled.preload:
        golden.write(addr, data)
    golden.write(compiled.input.base, compiled.input.pack(x))
    if layer.residual:
        golden.write(compiled.residual.base, compiled.residual.pack(res))
    golden.run(compiled.entry)
    data = golden.read(compiled.output.base, compiled.output.size)
    assert not border_bytes(compiled.output, data).any(), "the output's border is not zero"
    return compiled, compiled.output.unpack(data)


def run_pool(core, pool, h, w, x, *, dirty=None):
    compiled = compile_pool2d(core, pool, h, w)
    golden = Core(core) if dirty is None else dirty_core(core, dirty)
    for addr, data in compiled.preload:
        golden.write(addr, data)
    golden.write(compiled.input.base, compiled.input.pack(x))
    golden.run(compiled.entry)
    return compiled, compiled.output.unpack(golden.read(compiled.output.base,
                                                        compiled.output.size))


def random_pool(rng, core):
    """A random pooling layer ``(pool, h, w, x)`` whose input and output each fit one of
    ``core``'s MEM banks (a layer the compiler rejects as too large for a bank, which
    ``ulx3s``'s 4 KiB banks can be, is drawn again; any other error is raised)."""
    while True:
        k = int(rng.integers(1, 4))
        bits = int(rng.choice([8, 4, 2]))
        pool = Pool2d(int(rng.integers(1, 20)), k, int(rng.integers(1, 3)),
                      str(rng.choice(["max", "avg"])), bits, bool(rng.integers(2)))
        h, w = (int(rng.integers(k, 12)) for _ in range(2))
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if pool.signed \
            else (0, (1 << bits) - 1)
        x = rng.integers(low, high + 1, size=(h, w, pool.channels))
        try:
            compile_pool2d(core, pool, h, w)
        except CompileError as error:
            if "-byte bank" in str(error):
                continue
            raise
        return pool, h, w, x
