"""pytest entry: build the sim core once, run its cocotb tests (the ulx3s core's:
``test_core_ulx3s.py``)."""

import pytest

from ..hdl import design

TESTCASES = ["test_random_layers", "test_pooling", "test_noc_ports", "test_pnoc_port",
             "test_mnoc_weights", "test_random_programs", "test_random_programs_data",
             "test_counter_overflow"]


@pytest.mark.parametrize("testcase", TESTCASES)
def test_core_sim(testcase, seed):
    design("core", "sim").run("tb.core.core_tests", testcase, seed=seed)
