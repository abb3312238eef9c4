"""pytest entry: build the vector unit once, run its cocotb tests; build vector units of a
subset of the operations (``VectorUnit(lanes, ops=...)``) and run the tests of their
operations on them (the other operations must give canonical NaN)."""

import pytest

from rtl.core.vcu import VectorUnit
from rtl.spec.codes import VcuOp
from rtl.spec.config import get_config

from ..hdl import Design, design

TESTCASES = ["test_edge_classes", "test_rounding_cases", "test_fma_window", "test_random",
             "test_cvt_i32", "test_cvt_int", "test_reserved_opcodes"]

#: Units of a subset of the operations: the fused post-processing chain's three, and one
#: of several operations (several FMA-class ops with the multiplier, direct ops), each with
#: the tests that exercise its operations (test_random runs every op; the left-out ones
#: must give canonical NaN).
SPECIALIZED = {
    "add":     ((VcuOp.ADD,), ["test_edge_classes", "test_rounding_cases", "test_fma_window",
                               "test_random"]),
    "cvt_i32": ((VcuOp.CVT_I32,), ["test_cvt_i32", "test_random"]),
    "cvt_int": ((VcuOp.CVT_INT,), ["test_cvt_int", "test_random", "test_reserved_opcodes"]),
    "mixed":   ((VcuOp.SUB, VcuOp.MUL, VcuOp.LE, VcuOp.SEL, VcuOp.NEG),
                ["test_edge_classes", "test_random", "test_cvt_int"]),
}


@pytest.mark.parametrize("testcase", TESTCASES)
def test_vcu_sim(testcase, seed):
    design("vcu", "sim").run("tb.vcu.vcu_tests", testcase, seed=seed)


@pytest.mark.parametrize("name", list(SPECIALIZED))
def test_vcu_specialized_sim(name, seed):
    ops, testcases = SPECIALIZED[name]
    lanes = get_config("sim").core.vcu_lanes
    Design(f"vcu_{name}_sim", lambda: VectorUnit(lanes, ops=ops),
           env={"VCU_CONFIG": "sim", "VCU_OPS": ",".join(op.name for op in ops)}
           ).run("tb.vcu.vcu_tests", testcases, seed=seed)
