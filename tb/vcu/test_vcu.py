"""pytest entry: build the vector unit once, run its cocotb tests."""

import pytest

from rtl.spec.config import get_config
from rtl.core.vcu import VectorUnit

from ..hdl import Design

TESTCASES = ["test_edge_classes", "test_rounding_cases", "test_random", "test_cvt_i32",
             "test_cvt_int", "test_reserved_opcodes"]


def vcu_design(config):
    core = get_config(config).core
    return Design(f"vcu_{config}", lambda: VectorUnit.from_config(core))


@pytest.mark.parametrize("testcase", TESTCASES)
def test_vcu_sim(testcase, seed):
    vcu_design("sim").run("tb.vcu.vcu_tests", testcase, seed=seed,
                          extra_env={"VCU_CONFIG": "sim"})
