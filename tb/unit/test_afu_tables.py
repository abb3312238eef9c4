"""Activation tables: structure, rules, and the error figures documented in
docs/architecture.md, measured here over every binary16 input."""

import re
from pathlib import Path

import numpy as np
import pytest

from rtl.spec import afu_tables as T
from sw.golden import fp16
from rtl.spec.codes import AfuOp
from sw.golden.afu import ActivationUnit, evaluate_table, measure

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def documented_errors():
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] in T.FUNCTIONS:
            rows[cells[0]] = cells
    return rows


@pytest.mark.parametrize("name", T.FUNCTIONS)
def test_documented_errors_are_measured(name):
    """The docs' error table is what an exhaustive measurement gives."""
    t, e = T.table(name), measure(name)
    row = documented_errors()[name]
    assert row == [name, str(t.spec.k), f"{t.spec.e_lo}..{t.spec.e_hi}", str(t.entries),
                   f"{e['max_ulp']:.2f}", f"{e['max_abs']:.3g}", f"{100 * e['exact']:.1f}%"]


@pytest.mark.parametrize("name", T.FUNCTIONS)
def test_limits_and_symmetry(name):
    def f(x):
        return evaluate_table(name, x)
    inf, ninf = np.uint16(fp16.POS_INF), np.uint16(fp16.NEG_INF)
    expected = {"gelu": (fp16.POS_INF, fp16.NEG_ZERO), "sigmoid": (0x3C00, 0x0000),
                "tanh": (0x3C00, 0xBC00), "exp": (fp16.POS_INF, 0x0000)}[name]
    assert f([inf, ninf]).tolist() == list(expected)
    assert f([0x7E00, 0x7C01, 0xFFFF]).tolist() == [fp16.CANONICAL_NAN] * 3
    zero = {"gelu": [0x0000, 0x8000], "sigmoid": [0x3800, 0x3800],
            "tanh": [0x0000, 0x8000], "exp": [0x3C00, 0x3C00]}[name]
    assert f([0x0000, 0x8000]).tolist() == zero
    if name == "tanh":  # odd function, exactly
        x = np.arange(0, 0x7C00, dtype=np.uint16)
        assert np.array_equal(f(x) ^ 0x8000, f(x | 0x8000))


def test_rom_layout():
    words, bases = T.rom()
    assert list(bases) == list(T.FUNCTIONS)
    for name, base in bases.items():
        t = T.table(name)
        assert np.array_equal(words[base:base + t.entries] & 0xFFFF, t.c0)
        assert np.array_equal(words[base:base + t.entries] >> 16, t.c1)
    assert len(words) == sum(T.table(n).entries for n in T.FUNCTIONS)


def test_unknown_table():
    with pytest.raises(ValueError, match="name must be one of"):
        T.table("softplus")


def test_golden_unit_ops():
    afu = ActivationUnit(4)
    x = fp16.bits([0xC000, 0x8000, 0x4600, 0x7E00])            # -2, -0, 6, NaN
    assert afu.execute(AfuOp.RELU, x).tolist() == [0, 0, 0x4600, 0x7E00]
    assert afu.execute(AfuOp.CLAMP, x, 0x0000, 0x4500).tolist() == [0, 0, 0x4500, 0x7E00]
    # leaky: -2 * 0.25 = -0.5; -0 stays -0
    assert afu.execute(AfuOp.LEAKY_RELU, x, 0x3400).tolist() == [0xB800, 0x8000, 0x4600,
                                                                  0x7E00]
    assert afu.execute(7, x).tolist() == [0x7E00] * 4
    sig = afu.execute(AfuOp.SIGMOID, fp16.bits([0x0000] * 4))
    assert sig.tolist() == [0x3800] * 4


def test_documented_table_matches_generator():
    assert re.search(r"\| function \| k \| exponents \| entries \|", DOC.read_text())
    assert set(documented_errors()) == set(T.FUNCTIONS)
