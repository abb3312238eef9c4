"""pytest entry: build the activation unit once, run its cocotb tests; and the same tests
on an activation unit of the ``sim`` core's 4 lanes made of one lane in 4 passes
(:class:`rtl.core.serial.SerialUnit`) with its table read registered: the ``ulx3s``
core's."""

import pytest

from rtl.core.afu import ActivationUnit
from rtl.core.serial import SerialUnit
from rtl.spec.config import get_config

from ..hdl import Design, design

TESTCASES = ["test_all_inputs", "test_relu6_and_reserved"]


@pytest.mark.parametrize("testcase", TESTCASES)
def test_afu_sim(testcase, seed):
    design("afu", "sim").run("tb.afu.afu_tests", testcase, seed=seed)


def test_afu_serial_sim(seed):
    lanes = get_config("sim").core.afu_lanes
    assert get_config("ulx3s").core.afu_table_reg
    Design("afu_serial4_reg_sim",
           lambda: SerialUnit(ActivationUnit, lanes, lanes, table_reg=True),
           env={"AFU_CONFIG": "sim"}
           ).run("tb.afu.afu_tests", TESTCASES, seed=seed)
