"""The golden mesh alone (pure Python): random packets with stalls drawn cycle by cycle
(not from tables as on the RTL's harness) and FIFO depths 2 to 4, every flit checked by
the same scoreboard and watchdog, zero-load latency on every pair, and the model's own
invariants."""

import os
import random

import pytest

from sw.golden.noc import Flit, MeshModel, RouterModel, route, zero_load_latency

from .test_noc import SHAPES
from .traffic import Packet, random_packets, run_model, watchdog_for

#: Packets per (shape, pattern, stall) run (a third of them on 8 x 8); ``make soak`` sets
#: 50,000. Fewer than the RTL's runs (tb/noc/test_noc.py), which run the golden mesh too.
PACKETS = int(os.environ.get("NOC_GOLDEN_PACKETS", "1000"))


@pytest.mark.parametrize("shape", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
@pytest.mark.parametrize("pattern", ["uniform", "hotspot", "multicast"])
def test_golden_random(shape, pattern, seed):
    for stall in (0.0, 0.25, 0.5):
        rng = random.Random(f"{seed}:{shape}:{pattern}:{stall}")
        count = PACKETS if shape != (8, 8) else PACKETS // 3
        per_src = random_packets(rng, *shape, count, pattern)
        board, _ = run_model(*shape, per_src, rng, p_inject=stall, p_eject=stall,
                             watchdog=watchdog_for(pattern))
        assert board.delivered >= count


@pytest.mark.parametrize("shape", [(1, 5), (3, 2), (4, 4)], ids=["1x5", "3x2", "4x4"])
@pytest.mark.parametrize("depth", [2, 3, 4])
def test_golden_depths(shape, depth, seed):
    rng = random.Random(f"{seed}:{shape}:{depth}")
    per_src = random_packets(rng, *shape, PACKETS // 2, "multicast")
    run_model(*shape, per_src, rng, depth=depth, p_inject=0.25, p_eject=0.25)


@pytest.mark.parametrize("shape", [(1, 5), (5, 1), (3, 4), (8, 8)])
def test_golden_zero_load(shape):
    """Every source to every node: delivered ``1 + hops`` cycles after acceptance, and
    a rectangle's every node at its own distance."""
    rows, cols = shape
    rng = random.Random(0)
    for s in range(rows * cols):
        for d in range(rows * cols):
            per_src = [[] for _ in range(rows * cols)]
            per_src[s] = [Packet(s, 0, d % cols, d % cols, d // cols, d // cols,
                                 rng.randint(1, 4))]
            board, _ = run_model(rows, cols, per_src, rng)
            [(_, node, latency)] = board.latencies
            assert latency == zero_load_latency(s % cols, s // cols, d % cols, d // cols)
        per_src = [[] for _ in range(rows * cols)]
        per_src[s] = [Packet(s, 0, 0, cols - 1, 0, rows - 1, 1)]  # the whole mesh
        board, _ = run_model(rows, cols, per_src, rng)
        assert len(board.latencies) == rows * cols
        for _, node, latency in board.latencies:
            assert latency == zero_load_latency(s % cols, s // cols, node % cols, node // cols)


def test_route_tree_covers_rectangle():
    """Following the route masks from every source covers each rectangle's nodes exactly
    once and never leaves the mesh."""
    rows, cols = 4, 5
    moves = {1: (0, -1, 3), 2: (1, 0, 4), 3: (0, 1, 1), 4: (-1, 0, 2)}
    for s in range(rows * cols):
        for x0 in range(cols):
            for x1 in range(x0, cols):
                for y0 in range(rows):
                    for y1 in range(y0, rows):
                        flit = Flit(0, x0, x1, y0, y1, 1)
                        seen, todo = [], [(s % cols, s // cols, 0)]
                        while todo:
                            x, y, port = todo.pop()
                            mask = route(x, y, port, flit)
                            if mask & 1:
                                seen.append((x, y))
                            for o, (dx, dy, into) in moves.items():
                                if mask >> o & 1:
                                    assert 0 <= x + dx < cols and 0 <= y + dy < rows
                                    todo.append((x + dx, y + dy, into))
                        want = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
                        assert sorted(seen) == sorted(want)


def test_router_alone():
    """A router on its own: a flit waits for every branch of its fork, and a branch that
    took it is not offered it again."""
    r = RouterModel(1, 1)
    flit = Flit(5, 0, 2, 1, 1, 1)  # the row y = 1 from (1, 1): west, east and local
    accepted, sent = r.step([flit, None, None, None, None], [0] * 5)
    assert accepted[0] and sent == [None] * 5
    accepted, sent = r.step([None] * 5, [1, 0, 0, 0, 0])  # local takes it, east and west not
    assert sent[0] == flit and sent[2] is None and r.fifo[0]
    accepted, sent = r.step([None] * 5, [1, 0, 1, 0, 1])
    assert sent[0] is None and sent[2] == flit and sent[4] == flit and not r.fifo[0]


def test_mesh_idle():
    m = MeshModel(2, 2)
    accepted, delivered = m.step({}, [1] * 4)
    assert accepted == [] and delivered == {} and m.idle()
