"""pytest entry: build the ulx3s core once, run its cocotb tests (a file of its own, so
that the regression's workers run it beside the sim core's)."""

import pytest

from ..hdl import design
from .test_core import TESTCASES

#: The ulx3s core (4 x 4 VMM, 128-entry buffers, and the MEM register stage:
#: ``mem_latency`` 2, read data a cycle later everywhere) runs every test, with fewer
#: random programs; its pooling layers step over words of two VMM vectors' bytes.
ULX3S_TESTCASES = TESTCASES
ULX3S_ENV = {"CORE_PROGRAMS": "1000", "CORE_DATA_PROGRAMS": "200"}


@pytest.mark.parametrize("testcase", ULX3S_TESTCASES)
def test_core_ulx3s(testcase, seed):
    design("core", "ulx3s").run("tb.core.core_tests", testcase, seed=seed, extra_env=ULX3S_ENV)
