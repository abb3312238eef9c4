"""pytest entry: build the vector unit once, run its cocotb tests; build vector units of a
subset of the operations (``VectorUnit(lanes, ops=...)``) and run the tests of their
operations on them (the other operations must give canonical NaN); and the same tests on
vector units made of a narrower one (:class:`rtl.core.serial.SerialUnit`)."""

import pytest

from rtl.core.serial import SerialUnit
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


#: Vector units of the ``sim`` core's 8 lanes made of a narrower unit (SerialUnit): one
#: lane in 8 passes with every operation (the lanes of the ``ulx3s`` core's units), and the
#: fused chain's CVT_INT alone on two lanes in 4 passes (its packing of each group). The
#: narrow unit's numerics are the unit's own, tested in full above: these check how the
#: lanes are taken and given back (under the same random stalls), with a tenth of the
#: random operands (an instruction takes 8 or 4 cycles here).
SERIAL_ENV = {"VCU_OPERANDS": "10000", "VCU_WINDOW": "20000"}
SERIAL = {
    "serial8":         (8, None, TESTCASES),
    "serial4_cvt_int": (4, (VcuOp.CVT_INT,), SPECIALIZED["cvt_int"][1]),
}


@pytest.mark.parametrize("name", list(SERIAL))
def test_vcu_serial_sim(name, seed):
    passes, ops, testcases = SERIAL[name]
    lanes = get_config("sim").core.vcu_lanes
    kwargs = {} if ops is None else {"ops": ops}
    Design(f"vcu_{name}_sim", lambda: SerialUnit(VectorUnit, lanes, passes, **kwargs),
           env={"VCU_CONFIG": "sim", "VCU_OPS": ",".join(op.name for op in ops or ()),
                **SERIAL_ENV}
           ).run("tb.vcu.vcu_tests", testcases, seed=seed)
