"""pytest entry: build the vector unit once, run its cocotb tests."""

import pytest

from ..hdl import design

TESTCASES = ["test_edge_classes", "test_rounding_cases", "test_random", "test_cvt_i32",
             "test_cvt_int", "test_reserved_opcodes"]


@pytest.mark.parametrize("testcase", TESTCASES)
def test_vcu_sim(testcase, seed):
    design("vcu", "sim").run("tb.vcu.vcu_tests", testcase, seed=seed)
