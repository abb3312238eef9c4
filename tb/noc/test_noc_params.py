# amaranth: UnusedElaboratable=no
"""The NoC generators' parameter checks and port names."""

import pytest

from rtl.noc.flit import coord_bits, flit_layout
from rtl.noc.mesh import Mesh
from rtl.noc.router import PORTS, Port, Router


@pytest.mark.parametrize("kwargs, message", [
    ({"depth": 1}, r"depth must be an integer of at least 2, not 1"),
    ({"x": 4}, r"x must be an integer from 0 to 3, not 4"),
    ({"y": -1}, r"y must be an integer from 0 to 3, not -1"),
    ({"payload_bits": 0}, r"payload_bits must be a positive integer, not 0"),
])
def test_router_rejects(kwargs, message):
    args = {"x": 0, "y": 0, "x_bits": 2, "y_bits": 2, "payload_bits": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        Router(args.pop("x"), args.pop("y"), **args)


@pytest.mark.parametrize("rows, cols", [(0, 2), (2, 65), (2.0, 2)])
def test_mesh_rejects(rows, cols):
    with pytest.raises(ValueError, match=r"(rows|cols) must be an integer from 1 to 64"):
        Mesh(rows, cols, payload_bits=8)


def test_layout_and_ports():
    assert [coord_bits(n) for n in (1, 2, 3, 4, 5, 8, 9)] == [1, 1, 2, 2, 3, 3, 4]
    layout = flit_layout(2, 3, 10)
    assert layout.size == 10 + 2 * 2 + 2 * 3 + 1
    assert layout["payload"].offset == 0 and layout["last"].offset == layout.size - 1
    assert PORTS == tuple(p.name.lower() for p in Port)
    mesh = Mesh(2, 3, payload_bits=8)
    assert (mesh.x_bits, mesh.y_bits) == (2, 1)
    assert len(mesh.node) == 2 and len(mesh.node[0]) == 3
