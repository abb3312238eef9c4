"""pytest entry: build the fused post-processing block once, run its cocotb tests."""

import pytest

from ..hdl import design

TESTCASES = ["test_random", "test_edges", "test_back_to_back"]


@pytest.mark.parametrize("testcase", TESTCASES)
def test_post_sim(testcase, seed):
    design("post", "sim").run("tb.post.post_tests", testcase, seed=seed)
