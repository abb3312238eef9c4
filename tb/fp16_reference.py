"""SoftFloat 3e (``softfloatpy``, RISC-V specialisation: canonical NaN 0x7E00) as an
independent reference for the FP16 golden model.

:func:`mismatches` runs every golden operation on edge-case and random operands and
counts the results that differ from SoftFloat's, bit for bit.
"""

import itertools

import numpy as np
import softfloatpy as sf

from sw.golden import fp16

from .fp16_stimulus import (EDGES, fma_operands_hard, fma_ties, halfway_adds, int32_edges,
                            random_operands)

__all__ = ["reference", "mismatches"]

sf.set_rounding_mode(sf.RoundingMode.NEAR_EVEN)


def _f(bits):
    return sf.Float16.from_bytes(int(bits).to_bytes(2, "big"))


def _b(value):
    return int.from_bytes(value.to_bytes(), "big")


def _canon(bits):
    return fp16.CANONICAL_NAN if _f(bits).is_nan() else bits


def _min_max(a, b, want_min):
    fa, fb = _f(a), _f(b)
    if fa.is_nan() and fb.is_nan():
        return fp16.CANONICAL_NAN
    if fa.is_nan():
        return b
    if fb.is_nan():
        return a
    if sf.f16_eq(fa, fb):  # equal values: only +-0 differ, -0 is the smaller
        a_neg = a >> 15
        return a if (a_neg if want_min else not a_neg) else b
    return a if sf.f16_lt_quiet(fa, fb) == want_min else b


def _from_int32(x, shift):
    scaled = sf.f64_mul(sf.i32_to_f64(sf.Int32.from_int(int(x))),
                        sf.Float64.from_float(2.0 ** -int(shift)))
    return _b(sf.f64_to_f16(scaled))


def _to_int(a, bits, signed):
    fa = _f(a)
    if fa.is_nan():
        return 0
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if fa.is_inf():
        return low if a >> 15 else high
    value = sf.f16_to_i32(fa, sf.RoundingMode.NEAR_EVEN, False).to_int()
    return min(max(value, low), high)


#: name -> (golden function on arrays, SoftFloat function on one operand set, arity)
reference = {
    "add": (fp16.add, lambda a, b: _canon(_b(sf.f16_add(_f(a), _f(b)))), 2),
    "sub": (fp16.sub, lambda a, b: _canon(_b(sf.f16_sub(_f(a), _f(b)))), 2),
    "mul": (fp16.mul, lambda a, b: _canon(_b(sf.f16_mul(_f(a), _f(b)))), 2),
    "fma": (fp16.fma, lambda a, b, c: _canon(_b(sf.f16_mul_add(_f(a), _f(b), _f(c)))), 3),
    "min": (fp16.minimum_number, lambda a, b: _canon(_min_max(a, b, True)), 2),
    "max": (fp16.maximum_number, lambda a, b: _canon(_min_max(a, b, False)), 2),
    "eq":  (fp16.eq, lambda a, b: sf.f16_eq(_f(a), _f(b)), 2),
    "lt":  (fp16.lt, lambda a, b: sf.f16_lt_quiet(_f(a), _f(b)), 2),
    "le":  (fp16.le, lambda a, b: sf.f16_le_quiet(_f(a), _f(b)), 2),
    "abs": (fp16.abs_, lambda a: _canon(a & 0x7FFF), 1),
    "neg": (fp16.neg, lambda a: _canon(_b(sf.f16_neg(_f(a)))), 1),
}


def _count(golden, ref, operands):
    got = np.asarray(golden(*operands))
    bad = 0
    for i in range(len(operands[0])):
        if int(got[i]) != int(ref(*(int(op[i]) for op in operands))):
            bad += 1
    return bad


def mismatches(rng, random_sets=20000):
    """Return ``{operation: mismatch count}`` of the golden model against SoftFloat."""
    pairs = np.array(list(itertools.product(EDGES, EDGES)), dtype=np.uint16).T
    triples = np.array(list(itertools.product(EDGES, EDGES, EDGES)), dtype=np.uint16).T
    out = {}
    for name, (golden, ref, arity) in reference.items():
        sets = [random_operands(rng, random_sets) for _ in range(arity)]
        if arity == 1:
            cases = [[EDGES], sets]
        elif arity == 2:
            cases = [list(pairs), sets, list(halfway_adds(rng, 2000))]
        else:
            cases = [list(triples), sets, list(fma_operands_hard(rng, random_sets)),
                     list(fma_ties(rng, 2000))]
        out[name] = sum(_count(golden, ref, ops) for ops in cases)
    x = np.concatenate([np.repeat(int32_edges(), 64),
                        rng.integers(-(1 << 31), 1 << 31, size=random_sets)])
    shift = np.concatenate([np.tile(np.arange(64), len(int32_edges())),
                            rng.integers(0, 64, size=random_sets)])
    out["from_int32"] = _count(fp16.from_int32, _from_int32, [x, shift])
    values = np.concatenate([EDGES, fp16.from_float(np.arange(-300, 300) + 0.5),
                             random_operands(rng, random_sets)])
    for bits in (8, 4, 2):
        for signed in (True, False):
            out[f"to_int{bits}{'s' if signed else 'u'}"] = _count(
                lambda a, bits=bits, signed=signed: fp16.to_int(a, bits, signed),
                lambda a, bits=bits, signed=signed: _to_int(a, bits, signed), [values])
    return out
