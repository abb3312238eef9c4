"""The golden core running compiled layers: bit-exact against the layers' direct numpy
reference, over random shapes, strides, paddings, precisions and activations."""

import numpy as np
import pytest

from rtl.config import get_config
from sw.compiler_stub.conv import CompileError, compile_conv2d, compile_pool2d
from sw.golden.afu import AfuOp
from sw.golden.core import Core, CoreError
from sw.golden.isa import Instr, Op, encode
from sw.golden.layers import Conv2d, Pool2d, conv2d_reference, pool2d_reference

from ..core.stimulus import fitting_layer, random_pool, random_tensors, run_layer, run_pool


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
    with pytest.raises(CoreError, match="deadlock: T0 at 0: WAIT ctr=3"):
        golden.run(0)


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
