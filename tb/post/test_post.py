"""pytest entry: build the fused post-processing block once, run its cocotb tests; and
the same tests on the block with units that take a vector in 4 passes (one lane each for
the chain's own units) and an activation unit whose table read is registered, as in the
``ulx3s`` core."""

import pytest

from rtl.core.post import PostProcessor
from rtl.spec.config import get_config

from ..hdl import Design, design

TESTCASES = ["test_random", "test_edges", "test_back_to_back"]


@pytest.mark.parametrize("testcase", TESTCASES)
def test_post_sim(testcase, seed):
    design("post", "sim").run("tb.post.post_tests", testcase, seed=seed)


def test_post_serial_sim(seed):
    core = get_config("sim").core
    Design("post_serial4_reg_sim",
           lambda: PostProcessor(core.vmm_rows, core.vcu_lanes, core.afu_lanes, 4, True),
           env={"POST_CONFIG": "sim", "POST_PASSES": "4", "POST_TABLE_REG": "1"}
           ).run("tb.post.post_tests", TESTCASES, seed=seed)
