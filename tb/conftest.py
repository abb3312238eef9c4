"""Shared pytest set-up: the random seed every testbench derives its stimulus from.

The seed is chosen once per session (``--seed N`` or ``SEED=N``, else at random), printed
in the session header, and handed to every cocotb run, so any failure reproduces.
"""

import os
import random

import pytest


def pytest_addoption(parser):
    parser.addoption("--seed", type=int, default=None,
                     help="random seed for every testbench (default: $SEED, else random)")


def pytest_configure(config):
    value = config.getoption("--seed")
    if value is None and hasattr(config, "workerinput"):   # a pytest-xdist worker: the
        value = config.workerinput["tb_seed"]              # seed its controller chose
    if value is None:
        value = int(os.environ["SEED"]) if os.environ.get("SEED") else random.randrange(1 << 31)
    config.stash[_SEED] = value


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist: every worker runs with the controller's seed (the one printed)."""
    node.workerinput["tb_seed"] = node.config.stash[_SEED]


_SEED = pytest.StashKey[int]()


def pytest_report_header(config):
    value = config.stash[_SEED]
    return [f"random seed: {value} (rerun with: make test SEED={value})"]


@pytest.fixture(scope="session")
def seed(request):
    return request.config.stash[_SEED]
