"""pytest entry: build the VMM of each tested configuration once, run its cocotb tests."""

import pytest

from ..hdl import design

TESTCASES = ["test_random", "test_mixed_precision", "test_pair_beats", "test_extremes",
             "test_long_reduction", "test_tile_switch", "test_reserved_precision",
             "test_wraparound"]


@pytest.mark.parametrize("testcase", TESTCASES)
def test_vmm_sim(testcase, seed):
    design("vmm", "sim").run("tb.vmm.vmm_tests", testcase, seed=seed)


def test_vmm_ulx3s(seed):
    """The FPGA configuration's VMM (4 x 4) on a shorter random run and the edge cases."""
    design("vmm", "ulx3s").run("tb.vmm.vmm_tests",
                               ["test_random", "test_pair_beats", "test_extremes",
                                "test_tile_switch"], seed=seed,
                               extra_env={"VMM_STEPS": "2000"})
