"""pytest entry: build each mesh shape once, run the cocotb tests on it; the golden mesh
alone on many more packets."""

import pytest

from rtl.noc.mesh import Mesh
from rtl.noc.router import Router

from ..hdl import Design, design
from .traffic import PAYLOAD_BITS

#: Mesh shapes under test: (rows, cols).
SHAPES = [(1, 1), (1, 2), (1, 5), (5, 1), (2, 2), (2, 3), (3, 2), (3, 3), (2, 4), (4, 4),
          (8, 8)]

#: C++ flags of every mesh and router here: no optimization. Their runs spend their time in
#: Python (cocotb and the golden mesh), not in the model, and compiling the 8 x 8 mesh's
#: C++ at Verilator's default -Os takes about 8 minutes on 2 cores, at -O0 under one.
CFLAGS = ("-O0",)


def mesh_design(rows, cols, depth=2):
    return Design(f"noc_mesh{rows}x{cols}_d{depth}",
                  lambda: Mesh(rows, cols, payload_bits=PAYLOAD_BITS, depth=depth),
                  env={"NOC_ROWS": str(rows), "NOC_COLS": str(cols), "NOC_DEPTH": str(depth),
                       "NOC_PAYLOAD_BITS": str(PAYLOAD_BITS)},
                  cflags=CFLAGS)


@pytest.mark.parametrize("shape", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_mesh(shape, seed):
    mesh_design(*shape).run("tb.noc.noc_tests", seed=seed)


def test_mesh_registry_sim(seed):
    """The registry's ``noc_mesh`` of the sim configuration (its array, the core's 91-bit
    flit payload): random traffic and zero-load latency."""
    design("noc_mesh", "sim", cflags=CFLAGS).run(
        "tb.noc.noc_tests", ["test_random", "test_zero_load"], seed=seed,
        extra_env={"NOC_PACKETS": "200"})


def test_router_registry_sim(seed):
    """The registry's ``noc_router`` of the sim configuration against the golden router."""
    design("noc_router", "sim", cflags=CFLAGS).run("tb.noc.router_tests", seed=seed)


@pytest.mark.parametrize("depth", [2, 3])
def test_router(depth, seed):
    """A router at (1, 1) of 2-bit coordinates, so that every route from every input
    occurs, against the golden router."""
    Design(f"noc_router_d{depth}",
           lambda: Router(1, 1, x_bits=2, y_bits=2, payload_bits=PAYLOAD_BITS, depth=depth),
           env={"NOC_ROUTER_X": "1", "NOC_ROUTER_Y": "1", "NOC_ROUTER_BITS": "2",
                "NOC_DEPTH": str(depth)}, cflags=CFLAGS).run("tb.noc.router_tests", seed=seed)
