"""pytest entry: build the core once, run its cocotb tests."""

import pytest

from rtl.spec.config import get_config
from rtl.core.core import Core

from ..hdl import Design

TESTCASES = ["test_random_layers", "test_pooling", "test_noc_ports", "test_random_programs",
             "test_random_programs_data", "test_counter_overflow"]


def core_design(config):
    return Design(f"core_{config}", lambda: Core(get_config(config).core))


@pytest.mark.parametrize("testcase", TESTCASES)
def test_core_sim(testcase, seed):
    core_design("sim").run("tb.core.core_tests", testcase, seed=seed,
                           extra_env={"CORE_CONFIG": "sim"})
