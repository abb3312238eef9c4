"""pytest entry: build the activation unit once, run its cocotb tests."""

import pytest

from ..hdl import design

TESTCASES = ["test_all_inputs", "test_relu6_and_reserved"]


@pytest.mark.parametrize("testcase", TESTCASES)
def test_afu_sim(testcase, seed):
    design("afu", "sim").run("tb.afu.afu_tests", testcase, seed=seed)
