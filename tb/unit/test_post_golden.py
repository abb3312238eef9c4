"""The golden fused post-processing gives, vector by vector, the outputs of the layer
reference (sw/golden/layers.py) for random layers: the fused pass computes what the
separate passes compute."""

import numpy as np
import pytest

from rtl.spec.codes import AfuOp, Precision
from sw.golden.layers import Conv2d, conv2d_reference
from sw.golden.packing import pack
from sw.golden.post import IDENTITY, PostChain, PostParams


@pytest.mark.parametrize("case", range(40))
def test_matches_layer_reference(case, seed):
    rng = np.random.default_rng([seed, case])
    rows = 4
    out_bits = int(rng.choice([8, 4, 2]))
    out_signed = bool(rng.integers(0, 2))
    act = [None, *AfuOp][int(rng.integers(0, len(AfuOp) + 1))]
    layer = Conv2d(8, rows, 1, bits=8, out_bits=out_bits, out_signed=out_signed,
                   shift=int(rng.integers(0, 12)), activation=act,
                   act_p0=0x3400 if act == AfuOp.LEAKY_RELU else 0,
                   act_p1=0x4600 if act == AfuOp.CLAMP else 0,
                   residual=bool(rng.integers(0, 2)), res_shift=int(rng.integers(0, 4)))
    x = rng.integers(-128, 128, size=(3, 5, 8))
    wts = rng.integers(-128, 128, size=layer.weight_shape)
    scale = rng.integers(0x2000, 0x3C00, size=rows).astype(np.uint16)
    bias = rng.integers(0, 0x4800, size=rows).astype(np.uint16) | \
        (rng.integers(0, 2, size=rows).astype(np.uint16) << 15)
    low = -(1 << (out_bits - 1)) if out_signed else 0
    res = rng.integers(low, low + (1 << out_bits), size=(3, 5, rows))
    acc, out = conv2d_reference(layer, x, wts, scale, bias, res if layer.residual else None)
    op, p0, p1 = IDENTITY if act is None else (act, layer.act_p0, layer.act_p1)
    params = PostParams(shift=layer.shift, scale=scale, bias=bias, residual=layer.residual,
                        res_shift=layer.res_shift, act=op, p0=p0, p1=p1,
                        prec=Precision.from_bits(out_bits), out_signed=out_signed)
    got = PostChain(rows).execute(params, acc.reshape(-1, rows), res.reshape(-1, rows))
    want = [int.from_bytes(pack(v, out_bits, out_signed).tobytes(), "little")
            for v in out.reshape(-1, rows)]
    assert got == want
