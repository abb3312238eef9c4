"""Bad input is rejected, never silently cast, wrapped or truncated: every user-facing
argument of the layers, their references, the compiler, the compiled layouts and the
packers, each with the exception type and a message that starts with the argument's name.
Also the accepted forms: the same layer or tensor given either way gives the same
result."""

import numpy as np
import pytest

from rtl.spec.config import get_config
from sw.compiler_stub.conv import ReductionPart, compile_conv2d, compile_pool2d
from rtl.spec.codes import AfuOp
from sw.golden.layers import Conv2d, Pool2d, conv2d_reference, pool2d_reference
from sw.golden.packing import pack, unpack

CORE = get_config("sim").core

# A small valid layer and its tensors; each case below breaks one argument.
LAYER = Conv2d(4, 4, 3, padding=1, bits=4, in_signed=False, activation=AfuOp.RELU)
RES   = Conv2d(4, 4, 1, residual=True)
POOL  = Pool2d(4, 2, 2, bits=4, signed=False)
X     = np.arange(5 * 5 * 4).reshape(5, 5, 4) % 16                # unsigned 4-bit
W     = (np.arange(4 * 3 * 3 * 4).reshape(4, 3, 3, 4) % 16) - 8    # signed 4-bit
ONES  = np.full(4, 0x3C00, dtype=np.uint16)                        # binary16 1.0
ZEROS = np.zeros(4, dtype=np.uint16)
RX    = np.zeros((5, 5, 4), dtype=np.int64)


def conv(**changes):
    """``conv2d_reference`` of LAYER's tensors with ``changes`` to its arguments."""
    args = dict(layer=LAYER, x=X, weights=W, scale=ONES, bias=ZEROS)
    return lambda: conv2d_reference(**{**args, **changes})


def compile_(**changes):
    args = dict(core=CORE, layer=LAYER, height=5, width=5, weights=W, scale=ONES,
                bias=ZEROS)
    return lambda: compile_conv2d(**{**args, **changes})


def layer(**changes):
    fields = dict(in_channels=4, out_channels=4, kernel=3)
    return lambda: Conv2d(**{**fields, **changes})


def pool(**changes):
    return lambda: Pool2d(**{"channels": 4, **changes})


@pytest.mark.parametrize("call, error, message", [
    # Conv2d fields
    (layer(in_channels=4.0),      TypeError,  r"in_channels must be an integer, not 4\.0"),
    (layer(out_channels=True),    TypeError,  r"out_channels must be an integer, not True"),
    (layer(out_channels=0),       ValueError, r"out_channels must be positive, not 0"),
    (layer(kernel=3.0),           TypeError,  r"kernel must be an integer"),
    (layer(kernel=8),             ValueError, r"kernel must be at most 7, not 8"),
    (layer(stride=1.5),           TypeError,  r"stride must be an integer"),
    (layer(padding=0.5),          TypeError,  r"padding must be an integer, not 0\.5"),
    (layer(padding=-1),           ValueError, r"padding must be from 0 to kernel - 1 = 2"),
    (layer(padding=3),            ValueError, r"padding must be from 0 to kernel - 1 = 2"),
    (layer(bits=8.0),             TypeError,  r"bits must be an integer, not 8\.0"),
    (layer(bits=16),              ValueError, r"bits must be one of \(8, 4, 2\), not 16"),
    (layer(out_bits=np.float64(4)), TypeError, r"out_bits must be an integer"),
    (layer(out_bits=1),           ValueError, r"out_bits must be one of \(8, 4, 2\), not 1"),
    (layer(in_signed=1),          TypeError,  r"in_signed must be a bool, not 1"),
    (layer(out_signed="yes"),     TypeError,  r"out_signed must be a bool"),
    (layer(depthwise=0),          TypeError,  r"depthwise must be a bool"),
    (layer(residual=None),        TypeError,  r"residual must be a bool"),
    (layer(shift=1.5),            TypeError,  r"shift must be an integer, not 1\.5"),
    (layer(shift=64),             ValueError, r"shift must be from 0 to 63, not 64"),
    (layer(res_shift=-1),         ValueError, r"res_shift must be from 0 to 63, not -1"),
    (layer(activation=0.0),       TypeError,  r"activation must be an AfuOp or None, not 0\.0"),
    (layer(activation=True),      TypeError,  r"activation must be an AfuOp or None"),
    (layer(activation=7),         ValueError, r"activation must be an AfuOp or None, not 7"),
    (layer(act_p0=0.5),           TypeError,  r"act_p0 must be binary16: float16 values or "
                                              r"integer bit patterns from 0 to 0xFFFF, not 0\.5"),
    (layer(act_p1=np.float32(6)), TypeError,  r"act_p1 must be binary16.*float32"),
    (layer(act_p1=0x10000),       ValueError, r"act_p1: bit pattern 65536 is outside "
                                              r"\[0, 0xFFFF\]"),
    (layer(act_p1=-1),            ValueError, r"act_p1: bit pattern -1 is outside"),
    (layer(act_p0=[0, 0]),        ValueError, r"act_p0 must have shape \(\), not \(2,\)"),
    (layer(name=3),               TypeError,  r"name must be a str, not 3"),
    # Pool2d fields
    (pool(channels=2.0),          TypeError,  r"channels must be an integer"),
    (pool(kernel=0),              ValueError, r"kernel must be positive, not 0"),
    (pool(stride=False),          TypeError,  r"stride must be an integer"),
    (pool(kind="mean"),           ValueError, r"kind must be 'max' or 'avg', not 'mean'"),
    (pool(bits=4.0),              TypeError,  r"bits must be an integer"),
    (pool(signed=0),              TypeError,  r"signed must be a bool"),
    # out_size
    (lambda: LAYER.out_size(5.0, 5), TypeError,  r"height must be an integer"),
    (lambda: POOL.out_size(4, 0),    ValueError, r"width must be positive, not 0"),
])
def test_layer_fields(call, error, message):
    with pytest.raises(error, match="^" + message):
        call()


@pytest.mark.parametrize("call, error, message", [
    (conv(layer=POOL),                TypeError,  r"layer must be a Conv2d, not Pool2d"),
    (conv(x=X.astype(float)),         TypeError,  r"x must be integers, not a float64 array"),
    (conv(x=X.astype(bool)),          TypeError,  r"x must be integers, not a bool array"),
    (conv(x=X - 1),                   ValueError, r"x: value -1 is outside the unsigned "
                                                  r"4-bit range \[0, 15\]"),
    (conv(x=X[..., :3]),              ValueError, r"x must have shape \(\*, \*, 4\), "
                                                  r"not \(5, 5, 3\)"),
    (conv(x=X[0]),                    ValueError, r"x must have shape \(\*, \*, 4\)"),
    (conv(x=[[[1, 2]], [[3]]]),       ValueError, r"x must be a rectangular array"),
    (conv(weights=W + 0.25),          TypeError,  r"weights must be integers, not a float64"),
    (conv(weights=W * 2),             ValueError, r"weights: value -16 is outside the signed "
                                                  r"4-bit range \[-8, 7\]"),
    (conv(weights=W[:3]),             ValueError, r"weights must have shape \(4, 3, 3, 4\)"),
    (conv(scale=np.ones(4)),          TypeError,  r"scale must be binary16: float16 values or "
                                                  r"integer bit patterns from 0 to 0xFFFF, "
                                                  r"not a float64 array"),
    (conv(scale=[1.0, 1.0, 1.0, 1.0]), TypeError, r"scale must be binary16.*float64 array"),
    (conv(scale=np.ones(4, np.float32)), TypeError, r"scale must be binary16.*float32 array"),
    (conv(scale=np.ones(4, bool)),    TypeError,  r"scale must be binary16.*bool array"),
    (conv(scale=[1, [2, 3], 4, 5]),   ValueError, r"scale must be a rectangular array"),
    (conv(scale=ONES[:3]),            ValueError, r"scale must have shape \(4,\), not \(3,\)"),
    (conv(scale=0x3C00),              ValueError, r"scale must have shape \(4,\), not \(\)"),
    (conv(bias=[0, 0, 0, 0x10000]),   ValueError, r"bias: bit pattern 65536 is outside "
                                                  r"\[0, 0xFFFF\]"),
    (conv(bias=np.full(4, -1)),       ValueError, r"bias: bit pattern -1 is outside"),
    (conv(residual=RX),               ValueError, r"residual must be None: the layer has no "
                                                  r"residual addition"),
    (conv(layer=RES, weights=W[:, :1, :1] * 0, x=X.astype(np.int8) - 8),
     TypeError, r"residual must be integers, not None"),
    (conv(layer=RES, weights=W[:, :1, :1] * 0, x=X - 8, residual=RX + 0.5),
     TypeError, r"residual must be integers, not a float64 array"),
    (conv(layer=RES, weights=W[:, :1, :1] * 0, x=X - 8, residual=RX + 200),
     ValueError, r"residual: value 200 is outside the signed 8-bit range"),
    (conv(layer=RES, weights=W[:, :1, :1] * 0, x=X - 8, residual=RX[:4]),
     ValueError, r"residual must have shape \(5, 5, 4\), not \(4, 5, 4\)"),
    (lambda: pool2d_reference(LAYER, X),   TypeError,  r"pool must be a Pool2d, not Conv2d"),
    (lambda: pool2d_reference(POOL, X / 2), TypeError, r"x must be integers, not a float64"),
    (lambda: pool2d_reference(POOL, X + 1), ValueError, r"x: value 16 is outside the "
                                                        r"unsigned 4-bit range"),
    (lambda: pool2d_reference(POOL, X[..., :2]), ValueError, r"x must have shape \(\*, \*, 4\)"),
])
def test_references(call, error, message):
    with pytest.raises(error, match="^" + message):
        call()


@pytest.mark.parametrize("call, error, message", [
    (compile_(layer=POOL),                TypeError,  r"layer must be a Conv2d, not Pool2d"),
    (compile_(height=5.0),                TypeError,  r"height must be an integer, not 5\.0"),
    (compile_(width=0),                   ValueError, r"width must be positive, not 0"),
    (compile_(weights=W.astype(np.float32)), TypeError, r"weights must be integers, not a "
                                                        r"float32 array"),
    (compile_(weights=W + 8),             ValueError, r"weights: value 8 is outside the signed "
                                                      r"4-bit range"),
    (compile_(weights=W[..., :2]),        ValueError, r"weights must have shape \(4, 3, 3, 4\), "
                                                      r"not \(4, 3, 3, 2\)"),
    (compile_(scale=np.full(4, 0.5)),     TypeError,  r"scale must be binary16.*float64 array"),
    (compile_(scale=ONES.astype(np.int64) + 0x10000), ValueError, r"scale: bit pattern 80896 "
                                                                  r"is outside"),
    (compile_(bias=np.zeros((4, 1), np.uint16)), ValueError, r"bias must have shape \(4,\)"),
    (compile_(bias=[0.0] * 4),            TypeError,  r"bias must be binary16"),
    (compile_(out_padding=-1),            ValueError, r"out_padding must be at least 0, not -1"),
    (compile_(out_padding=1.0),           TypeError,  r"out_padding must be an integer"),
    (compile_(out_padding=True),          TypeError,  r"out_padding must be an integer"),
    (compile_(band_heights=5),            TypeError,  r"band_heights must be a list or tuple of "
                                                      r"integers or None, not int"),
    (compile_(band_heights=np.array([5])), TypeError, r"band_heights must be a list or tuple"),
    (compile_(band_heights=[2.0, 3]),     TypeError,  r"band_heights\[0\] must be an integer, "
                                                      r"not 2\.0"),
    (compile_(band_heights=(4, True)),    TypeError,  r"band_heights\[1\] must be an integer, "
                                                      r"not True"),
    (compile_(band_heights=[5, 0]),       ValueError, r"band_heights\[1\] must be positive, not 0"),
    (compile_(band_heights=[2, 2]),       ValueError, r"band_heights must sum to the output "
                                                      r"height 5, not 4"),
    (compile_(band_heights=[]),           ValueError, r"band_heights must sum to the output "
                                                      r"height 5, not 0"),
    (compile_(width=40, band_heights=[1, 4]), ValueError, r"band_heights\[1\] = 4: a band of "
                                                          r"4 x 40 positions exceeds half the "
                                                          r"PSB \(128\)"),
    # a reduction part (LAYER: 3 kernel rows of 3 tiles: kernel column, one input chunk)
    (compile_(part=5),                    TypeError,  r"part must be a ReductionPart or None, "
                                                      r"not int"),
    (compile_(part=ReductionPart(0, 1, 0, 0, 3)), ValueError, r"part\.count must be at least "
                                                              r"2, not 1"),
    (compile_(part=ReductionPart(3, 3, 0, 0, 3)), ValueError, r"part\.index must be from 0 to "
                                                              r"2, not 3"),
    (compile_(part=ReductionPart(2, 3, 3, 0, 3)), ValueError, r"part\.ky must be from 0 to 2, "
                                                              r"not 3"),
    (compile_(part=ReductionPart(2, 3, 0, 3, 3)), ValueError, r"part\.lo must be from 0 to 2, "
                                                              r"not 3"),
    (compile_(part=ReductionPart(2, 3, 0, 1, 1)), ValueError, r"part\.hi must be from 2 to 3, "
                                                              r"not 1"),
    (compile_(part=ReductionPart(2, 3, 0, 0, 4)), ValueError, r"part\.hi must be from 1 to 3, "
                                                              r"not 4"),
    (compile_(part=ReductionPart(1, 3, 0, 0, 3)), ValueError, r"part\.send must be None "
                                                              r"exactly for the chain's last"),
    (compile_(part=ReductionPart(2, 3, 0, 0, 3, send=1)), ValueError, r"part\.send must be "
                                                                      r"None exactly"),
    (compile_(part=ReductionPart(1, 3, 0, 0, 3, send=4)), ValueError, r"part\.send must be from "
                                                                      r"0 to 3, not 4"),
    (compile_(part=ReductionPart(1, 3, 0, 0, 3, send=1.0)), TypeError, r"part\.send must be an "
                                                                       r"integer"),
    (compile_(part=ReductionPart(1, 3, 0, 0, 3, send=1, positions=[20])), ValueError,
     r"part\.positions \(20,\) are not bands of whole rows of 5 positions, each at most 128, "
     r"summing to 25"),
    (compile_(part=ReductionPart(1, 3, 0, 0, 3, send=1, positions=(12, 13))), ValueError,
     r"part\.positions \(12, 13\) are not bands of whole rows"),
    (compile_(part=ReductionPart(1, 3, 0, 0, 3, send=1, positions=25)), TypeError,
     r"part\.positions must be a tuple of integers or None, not int"),
    (compile_(part=ReductionPart(1, 3, 0, 0, 3, send=1, positions=(25.0,))), TypeError,
     r"part\.positions\[0\] must be an integer"),
    (compile_(part=ReductionPart(2, 3, 0, 0, 3), band_heights=[5]), ValueError,
     r"band_heights must be None with a part"),
    (compile_(layer=Conv2d(4, 4, 3, padding=1, bits=4, in_signed=False, depthwise=True),
              weights=W[:, :, :, :1], part=ReductionPart(2, 3, 0, 0, 3)), ValueError,
     r"a depthwise layer's reduction cannot be split"),
    (lambda: compile_pool2d(CORE, LAYER, 4, 4), TypeError, r"pool must be a Pool2d, not Conv2d"),
    (lambda: compile_pool2d(CORE, POOL, 4, 4.5), TypeError, r"width must be an integer"),
])
def test_compiler(call, error, message):
    with pytest.raises(error, match="^" + message):
        call()


COMPILED = compile_conv2d(CORE, LAYER, 5, 5, W, ONES, ZEROS, out_padding=1)


@pytest.mark.parametrize("call, error, message", [
    (lambda: COMPILED.input.pack(X * 1.0),  TypeError,  r"x must be integers, not a float64"),
    (lambda: COMPILED.input.pack(X + 1),    ValueError, r"x: value 16 is outside the unsigned "
                                                        r"4-bit range"),
    (lambda: COMPILED.input.pack(X[:4]),    ValueError, r"x must have shape \(5, 5, 4\), "
                                                        r"not \(4, 5, 4\)"),
    (lambda: COMPILED.output.pack(X[:, :, :3]), ValueError, r"x must have shape \(5, 5, 4\)"),
    (lambda: COMPILED.output.unpack(list(bytes(COMPILED.output.size))), TypeError,
     r"data must be bytes or a uint8 array, not list"),
    (lambda: COMPILED.output.unpack(np.zeros(COMPILED.output.size, np.int8)), TypeError,
     r"data must be bytes or a uint8 array, not a int8 array"),
    (lambda: COMPILED.output.unpack(COMPILED.output.size), TypeError,
     r"data must be bytes or a uint8 array, not int"),
    (lambda: COMPILED.output.unpack(bytes(COMPILED.output.size - 1)), ValueError,
     rf"data must be the buffer's {COMPILED.output.size} bytes, not "
     rf"{COMPILED.output.size - 1}"),
    (lambda: pack(np.array([True, False] * 4), 8, True), TypeError,
     r"values must be integers, not a bool array"),
    (lambda: pack([1, 2], 8, 1),              TypeError,  r"signed must be a bool, not 1"),
    (lambda: pack([1, 2], 8.0, True),         TypeError,  r"bits must be an integer, not 8\.0"),
    (lambda: pack([1, 300], 8, False),        ValueError, r"values: value 300 is outside the "
                                                          r"unsigned 8-bit range \[0, 255\]"),
    (lambda: unpack(np.zeros(2, np.uint8), 4, "yes"), TypeError, r"signed must be a bool"),
    (lambda: unpack(np.uint8(3), 8, True),    ValueError, r"data must have at least one "
                                                          r"dimension"),
    (lambda: unpack([1, 2], 8, True),         TypeError,  r"data must be uint8 bytes, not int64"),
])
def test_layouts_and_packers(call, error, message):
    with pytest.raises(error, match="^" + message):
        call()


# Accepted forms: each gives exactly what its other form gives.

def test_binary16_as_float16_or_bit_patterns():
    """Scale and bias as float16 values, as uint16 bit patterns or as Python ints give
    the same reference and the same compiled image."""
    scale = np.array([0.5, 0.25, -2.0, 1.5], dtype=np.float16)
    bias = np.array([1.0, -0.5, 0.0, 3.0], dtype=np.float16)
    forms = [(scale, bias), (scale.view(np.uint16), bias.view(np.uint16)),
             ([int(v) for v in scale.view(np.uint16)], [int(v) for v in bias.view(np.uint16)])]
    refs = [conv2d_reference(LAYER, X, W, s, b)[1] for s, b in forms]
    images = [compile_conv2d(CORE, LAYER, 5, 5, W, s, b).preload for s, b in forms]
    assert all(np.array_equal(ref, refs[0]) for ref in refs)
    assert all(image == images[0] for image in images)
    # and the values are used: another bias changes the output
    other = conv2d_reference(LAYER, X, W, scale, bias + np.float16(4))[1]
    assert not np.array_equal(other, refs[0])


def test_numpy_integers_and_float16_fields():
    """Layer fields given as numpy integers, an activation as its integer value and
    act_p0/act_p1 as float16 equal the layer given as ints, AfuOp and bit patterns."""
    layer = Conv2d(np.int64(4), np.int32(4), np.uint8(3), padding=np.int16(1),
                   bits=np.int64(4), in_signed=np.bool_(False), activation=np.int64(1),
                   act_p0=np.float16(0), act_p1=np.float16(6.0))
    plain = Conv2d(4, 4, 3, padding=1, bits=4, in_signed=False, activation=AfuOp.CLAMP,
                   act_p0=0, act_p1=0x4600)      # 6.0 = 1.5 * 2**2: 0 10001 1000000000
    assert layer == plain
    assert type(layer.kernel) is int and type(layer.in_signed) is bool
    assert type(layer.act_p1) is int and layer.activation is AfuOp.CLAMP
    assert Pool2d(np.int64(4), np.int8(2), signed=np.bool_(True)) == Pool2d(4, 2)


def test_tensors_of_any_integer_dtype():
    """Integer tensors of any dtype give the same result: only their values count."""
    ref = conv2d_reference(LAYER, X, W, ONES, ZEROS)[1]
    assert np.array_equal(conv2d_reference(LAYER, X.astype(np.uint8), W.astype(np.int8),
                                           ONES, ZEROS)[1], ref)
    assert COMPILED.input.pack(X.astype(np.uint8)) == COMPILED.input.pack(X.tolist())


def test_make_sim_network_that_does_not_fit(capsys, monkeypatch):
    """``make sim`` for a core the digits network does not fit (the ulx3s core: 4 KiB
    banks, conv2's int8 weights take 4,608 bytes) stops with the compiler's message and
    exit status 2, not a traceback."""
    import tb.sim
    from sw.compiler_stub.conv import CompileError
    from sw.compiler_stub.net import compile_network
    from tb.net.nets import digits_like

    net = digits_like(np.random.default_rng(0))
    with pytest.raises(CompileError, match=r"exceed a MEM bank \(4096 bytes\)") as info:
        compile_network(get_config("ulx3s").core, net)

    def run_flow(config, limit, clock_mhz):
        raise info.value
    monkeypatch.setattr(tb.sim, "run_flow", run_flow)
    with pytest.raises(SystemExit) as exited:
        tb.sim.main(["--config", "ulx3s"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("make sim: the digits network does not compile for the ulx3s core: ")
    assert "exceed a MEM bank (4096 bytes)" in err
