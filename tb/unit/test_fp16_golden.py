"""The FP16 golden model against SoftFloat 3e, bit for bit, NaN compared as 0x7E00."""

import numpy as np
import softfloatpy as sf

from sw.golden import fp16

from ..fp16_reference import _f, mismatches
from ..fp16_stimulus import fma_operands_hard, fma_ties


def test_golden_matches_softfloat(seed):
    counts = mismatches(np.random.default_rng(seed), random_sets=20000)
    assert len(counts) == 18
    assert all(v == 0 for v in counts.values()), counts


def test_fma_is_fused(seed):
    """The golden FMA rounds once: on cancellation-heavy operands it differs from a
    multiply followed by an add, and agrees with SoftFloat's f16_mulAdd."""
    rng = np.random.default_rng(seed)
    a, b, c = (np.concatenate(v) for v in zip(fma_operands_hard(rng, 5000),
                                              fma_ties(rng, 1000), strict=True))
    fused = fp16.fma(a, b, c)
    unfused = fp16.add(fp16.mul(a, b), c)
    assert np.count_nonzero(fused != unfused) > 100
    with np.errstate(all="ignore"):  # a float32 intermediate rounds twice on the ties
        via32 = fp16.from_float((fp16.to_float(a).astype(np.float32)
                                 * fp16.to_float(b).astype(np.float32)
                                 + fp16.to_float(c).astype(np.float32)).astype(np.float64))
    assert np.count_nonzero(fused[5000:] != via32[5000:]) > 100
    ref = [int.from_bytes(sf.f16_mul_add(_f(x), _f(y), _f(z)).to_bytes(), "big")
           for x, y, z in zip(a, b, c, strict=True)]
    ref = fp16.canonical(np.array(ref, dtype=np.uint16))
    assert np.array_equal(fused, ref)


def test_known_values():
    assert fp16.add([0x3C00], [0x3C00]).tolist() == [0x4000]               # 1 + 1 = 2
    assert fp16.add([0x3C00], [0x1000]).tolist() == [0x3C00]               # tie to even
    assert fp16.add([0x3C01], [0x1000]).tolist() == [0x3C02]               # tie to even
    assert fp16.add([0x7BFF], [0x5000]).tolist() == [0x7C00]               # overflow
    assert fp16.sub([0x3C00], [0x3C00]).tolist() == [0x0000]               # +0
    assert fp16.mul([0x0001], [0x3800]).tolist() == [0x0000]               # 2**-25 ties to 0
    assert fp16.mul([0x0003], [0x3800]).tolist() == [0x0002]               # 1.5 ulp -> 2
    assert fp16.fma([0x7C00], [0x0000], [0x3C00]).tolist() == [0x7E00]     # inf * 0
    assert fp16.minimum_number([0x8000], [0x0000]).tolist() == [0x8000]    # -0 < +0
    assert fp16.maximum_number([0x7E01], [0x3C00]).tolist() == [0x3C00]    # NaN loses
    assert fp16.from_int32([65520], [0]).tolist() == [0x7C00]              # rounds up to inf
    assert fp16.from_int32([65519], [0]).tolist() == [0x7BFF]
    assert fp16.from_int32([3], [26]).tolist() == [0x0001]                 # 0.75 ulp -> 1
    assert fp16.to_int([0x3800, 0x3E00, 0xB800], 8, True).tolist() == [0, 2, 0]  # 0.5 1.5 -0.5
    assert fp16.to_int([0x7E00, 0xFC00], 4, True).tolist() == [0, -8]
    assert fp16.to_int([0xBC00], 2, False).tolist() == [0]
