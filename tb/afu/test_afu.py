"""pytest entry: build the activation unit once, run its cocotb tests."""

import pytest

from rtl.spec.config import get_config
from rtl.core.afu import ActivationUnit

from ..hdl import Design

TESTCASES = ["test_all_inputs", "test_relu6_and_reserved"]


def afu_design(config):
    core = get_config(config).core
    return Design(f"afu_{config}", lambda: ActivationUnit.from_config(core))


@pytest.mark.parametrize("testcase", TESTCASES)
def test_afu_sim(testcase, seed):
    afu_design("sim").run("tb.afu.afu_tests", testcase, seed=seed,
                          extra_env={"AFU_CONFIG": "sim"})
