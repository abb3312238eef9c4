"""pytest entry: build the core once per configuration, run its cocotb tests."""

import pytest

from ..hdl import design

TESTCASES = ["test_random_layers", "test_pooling", "test_noc_ports", "test_pnoc_port",
             "test_mnoc_weights", "test_random_programs", "test_random_programs_data",
             "test_counter_overflow"]

#: The ulx3s core (4 x 4 VMM, 128-entry buffers, and the MEM register stage:
#: ``mem_latency`` 2, read data a cycle later everywhere) runs every test but pooling
#: (which needs ``mem_port_bits == 8 * vmm_cols``), with fewer random programs.
ULX3S_TESTCASES = [name for name in TESTCASES if name != "test_pooling"]
ULX3S_ENV = {"CORE_PROGRAMS": "1000", "CORE_DATA_PROGRAMS": "200"}


@pytest.mark.parametrize("testcase", TESTCASES)
def test_core_sim(testcase, seed):
    design("core", "sim").run("tb.core.core_tests", testcase, seed=seed)


@pytest.mark.parametrize("testcase", ULX3S_TESTCASES)
def test_core_ulx3s(testcase, seed):
    design("core", "ulx3s").run("tb.core.core_tests", testcase, seed=seed, extra_env=ULX3S_ENV)
