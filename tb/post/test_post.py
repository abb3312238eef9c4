"""pytest entry: build the fused post-processing block once, run its cocotb tests."""

import pytest

from rtl.core.post import PostProcessor
from rtl.spec.config import get_config

from ..hdl import Design

TESTCASES = ["test_random", "test_edges", "test_back_to_back"]


def post_design(config):
    core = get_config(config).core
    return Design(f"post_{config}", lambda: PostProcessor.from_config(core))


@pytest.mark.parametrize("testcase", TESTCASES)
def test_post_sim(testcase, seed):
    post_design("sim").run("tb.post.post_tests", testcase, seed=seed,
                           extra_env={"POST_CONFIG": "sim"})
