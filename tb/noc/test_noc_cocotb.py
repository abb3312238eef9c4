"""pytest entry of the NoC's cocotb benches: the registry's ``noc_mesh`` and
``noc_router`` of the sim configuration, two routers against the golden router, and the
cocotb mesh environment (tb/noc/env.py, tb/noc/noc_tests.py) on two small meshes, none of
the harness's shapes (``test_noc.py``), so each design is built once a session.
``NOC_COCOTB_PACKETS`` random packets a run on those meshes (default 300).
"""

import os

import pytest

from rtl.noc.router import Router

from ..hdl import Design, design
from .traffic import PAYLOAD_BITS

#: Mesh shapes of the cocotb environment (tb/noc/env.py), none of ``test_noc.SHAPES``
#: (each design is built once a session); the registry's sim mesh (2 x 2) runs under it too.
COCOTB_SHAPES = [(2, 1), (1, 3)]

#: C++ flags of the cocotb meshes and routers: no optimization. Their runs spend their
#: time in Python (cocotb and the golden mesh), not in the model.
CFLAGS = ("-O0",)


def mesh_design(rows, cols, depth=2):
    from rtl.noc.mesh import Mesh
    return Design(f"noc_mesh{rows}x{cols}_d{depth}",
                  lambda: Mesh(rows, cols, payload_bits=PAYLOAD_BITS, depth=depth),
                  env={"NOC_ROWS": str(rows), "NOC_COLS": str(cols), "NOC_DEPTH": str(depth),
                       "NOC_PAYLOAD_BITS": str(PAYLOAD_BITS)},
                  cflags=CFLAGS)


@pytest.mark.parametrize("shape", COCOTB_SHAPES, ids=[f"{r}x{c}" for r, c in COCOTB_SHAPES])
def test_mesh_cocotb(shape, seed):
    """The cocotb mesh environment (every test of tb/noc/noc_tests.py) on a small mesh."""
    mesh_design(*shape).run("tb.noc.noc_tests", seed=seed, extra_env={
        "NOC_PACKETS": os.environ.get("NOC_COCOTB_PACKETS", "300")})


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
