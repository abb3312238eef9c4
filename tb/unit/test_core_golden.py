"""The golden core running compiled layers: bit-exact against the layers' direct numpy
reference, over random shapes, strides, paddings, precisions and activations."""

import re

import numpy as np
import pytest

from rtl.spec.config import get_config
from sw.compiler_stub.conv import CompileError, compile_conv2d, compile_pool2d
from sw.golden import fp16
from rtl.spec.codes import AfuOp
from sw.golden.core import Core, Deadlock
from sw.golden.cycles import predict
from rtl.spec.isa import Instr, Op, encode
from sw.golden.layers import Conv2d, Pool2d, conv2d_reference, pool2d_reference


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


def fitting_layer(core, rng, max_hw):
    """A random layer (with tensors) that fits the core's memory banks."""
    for _ in range(100):
        layer, h, w = random_layer(rng, max_hw)
        tensors = random_tensors(rng, layer, h, w)
        try:
            compile_conv2d(core, layer, h, w, *tensors[1:4])
        except CompileError as e:
            if "do not fit" in str(e):
                continue
            raise
        return layer, h, w, tensors
    raise AssertionError("no fitting random layer in 100 draws")


def run_layer(core, layer, h, w, x, wts, scale, bias, res=None):
    compiled = compile_conv2d(core, layer, h, w, wts, scale, bias)
    golden = Core(core)
    for addr, data in compiled.preload:
        golden.write(addr, data)
    golden.write(compiled.input.base, compiled.input.pack(x))
    if layer.residual:
        golden.write(compiled.residual.base, compiled.residual.pack(res))
    golden.run(compiled.entry)
    return compiled, compiled.output.unpack(golden.read(compiled.output.base,
                                                        compiled.output.size))


@pytest.mark.parametrize("config", ["sim", "ulx3s"])
def test_random_layers(config, seed):
    core = get_config(config).core
    rng = np.random.default_rng(seed)
    for _ in range(15):
        layer, h, w, tensors = fitting_layer(core, rng, 12 if config == "sim" else 8)
        compiled, got = run_layer(core, layer, h, w, *tensors)
        _, expected = conv2d_reference(layer, *tensors)
        assert np.array_equal(got, expected), (layer, h, w)


def test_multiple_bands_and_blocks(seed):
    """A layer larger than half the PSB runs in bands; 16 output channels in 4 blocks."""
    core = get_config("sim").core
    rng = np.random.default_rng(seed)
    layer = Conv2d(16, 16, 3, padding=1, bits=8, activation=AfuOp.RELU)
    x, wts, scale, bias = random_tensors(rng, layer, 16, 16)
    compiled, got = run_layer(core, layer, 16, 16, x, wts, scale, bias)
    assert compiled.bands > 1 and compiled.blocks == 4
    assert np.array_equal(got, conv2d_reference(layer, x, wts, scale, bias)[1])


def test_fully_connected_is_1x1(seed):
    """A fully connected layer over a batch of 12 vectors."""
    core = get_config("sim").core
    rng = np.random.default_rng(seed)
    layer = Conv2d(40, 10, 1, bits=4, out_bits=8)
    x, wts, scale, bias = random_tensors(rng, layer, 1, 12)
    _, got = run_layer(core, layer, 1, 12, x, wts, scale, bias)
    assert np.array_equal(got, conv2d_reference(layer, x, wts, scale, bias)[1])


def test_rejects_unfit_layers():
    core = get_config("sim").core
    big = Conv2d(2048, 4, 7, bits=8, in_signed=False)  # 2048*49*128*255 > 2**31
    with pytest.raises(CompileError, match="could reach 3275489280"):
        compile_conv2d(core, big, 7, 7, np.full((4, 7, 7, 2048), -128),
                       np.zeros(4, np.uint16), np.zeros(4, np.uint16))
    with pytest.raises(CompileError, match="do not fit"):
        layer = Conv2d(64, 64, 7, bits=8)
        compile_conv2d(core, layer, 7, 7, np.zeros((64, 7, 7, 64), int),
                       np.zeros(64, np.uint16), np.zeros(64, np.uint16))
    with pytest.raises(ValueError, match="kernel must be at most 7"):
        Conv2d(4, 4, 9)


def test_deadlock_is_reported():
    core = get_config("sim").core
    golden = Core(core)
    header = bytes([2, 0, 0, 0, 0, 0, 0, 0])  # T0: WAIT ctr=3 (never signalled), END
    program = [encode(Instr(Op.WAIT, {"ctr": 3})), encode(Instr(Op.END))]
    golden.write(0, header + b"".join(w.to_bytes(8, "little") for w in program))
    # Load: 1 header cycle, 2 * 2 + 1 for T0's program, 1 for each empty one, 1 to start;
    # T0's WAIT blocks in the first run cycle (15), with nothing else running.
    with pytest.raises(Deadlock, match=re.escape("deadlock at cycle 15: T0 at 0: WAIT ctr=3 "
                                                 "(counter 3 is 0); counters: all 0")) as exc:
        golden.run(0)
    assert exc.value.cycle == 15 and exc.value.counters == [0] * 16
    assert exc.value.threads == [(0, 0, "RUN", "WAIT ctr=3")]
    with pytest.raises(Deadlock, match="deadlock at cycle 15"):
        predict(core, golden.load_programs(0))


@pytest.mark.parametrize("kind", ["depthwise", "residual"])
def test_depthwise_and_residual(kind, seed):
    core = get_config("sim").core
    rng = np.random.default_rng(seed)
    for bits in (8, 4, 2):
        layer = Conv2d(24, 24, 3, padding=1, bits=bits, out_bits=bits, shift=2,
                       depthwise=kind == "depthwise", residual=kind == "residual",
                       res_shift=1, activation=AfuOp.RELU)
        tensors = random_tensors(rng, layer, 8, 8)
        _, got = run_layer(core, layer, 8, 8, *tensors)
        assert np.array_equal(got, conv2d_reference(layer, *tensors)[1]), bits


def run_pool(core, pool, h, w, x):
    compiled = compile_pool2d(core, pool, h, w)
    golden = Core(core)
    for addr, data in compiled.preload:
        golden.write(addr, data)
    golden.write(compiled.input.base, compiled.input.pack(x))
    golden.run(compiled.entry)
    return compiled, compiled.output.unpack(golden.read(compiled.output.base,
                                                        compiled.output.size))


def random_pool(rng):
    k = int(rng.integers(1, 4))
    bits = int(rng.choice([8, 4, 2]))
    pool = Pool2d(int(rng.integers(1, 20)), k, int(rng.integers(1, 3)),
                  str(rng.choice(["max", "avg"])), bits, bool(rng.integers(2)))
    h, w = (int(rng.integers(k, 12)) for _ in range(2))
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if pool.signed \
        else (0, (1 << bits) - 1)
    return pool, h, w, rng.integers(low, high + 1, size=(h, w, pool.channels))


def test_random_pools(seed):
    core = get_config("sim").core
    rng = np.random.default_rng(seed)
    for _ in range(20):
        pool, h, w, x = random_pool(rng)
        _, got = run_pool(core, pool, h, w, x)
        assert np.array_equal(got, pool2d_reference(pool, x)), (pool, h, w)


def test_pool_known_values():
    core = get_config("sim").core
    x = np.arange(-8, 8).reshape(4, 4, 1) * np.ones((1, 1, 4), dtype=int)
    _, got = run_pool(core, Pool2d(4, 2, 2, "max"), 4, 4, x)
    assert got[..., 0].tolist() == [[-3, -1], [5, 7]]
    _, got = run_pool(core, Pool2d(4, 2, 2, "avg"), 4, 4, x)
    assert got[..., 0].tolist() == [[-6, -4], [2, 4]]   # -5.5 and 2.5 round to even
    with pytest.raises(CompileError, match="pooling needs mem_port_bits = 8 \\* vmm_cols"):
        compile_pool2d(get_config("ulx3s").core, Pool2d(4), 4, 4)


def test_packed_results_repeat_lanes():
    """On the sim core the vector unit has 8 lanes for 4-lane vectors: lanes 4..7 repeat
    lanes 0..3, and a CVT_INT to int2 packs all eight, so the result vector's second
    byte repeats its first (the RTL's VBUF holds it; a VSTORE of int8 shows it)."""
    from rtl.spec.codes import VcuOp
    from sw.compiler_stub.asm import assemble
    core = get_config("sim").core
    assert core.vcu_lanes == 2 * core.vmm_rows == 8
    golden = Core(core)
    golden.write(0x4000, fp16.from_float(np.array([1.0, -1.0, 0.0, 1.0])).astype("<u2")
                 .tobytes())
    prog = assemble(f"""
    .thread 2
        AGBASE g=0 base=0x4000
        VLOAD s=0 k=0 mode=0
        AGBASE g=0 base=0
        AGBASE g=1 base=1
        VOP s=0 d=1 op={int(VcuOp.CVT_INT)} fmt=2 out_signed=1
        AGBASE g=2 base=0x6000
        VSTORE s=1 d=2 prec=0
        END
    """, core)
    golden.write(0, prog.image())
    golden.run(0)
    packed = 1 | 3 << 2 | 0 << 4 | 1 << 6      # 1, -1, 0, 1 as int2, lane 0 lowest
    assert golden.read(0x6000, 4) == bytes([packed, packed, 0, 0])
