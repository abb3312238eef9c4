"""pytest entry of the NoC's RTL meshes: every mesh shape of :data:`SHAPES` through the
C++ harness (:mod:`tb.noc.lockstep`: each run checked against the golden mesh cycle for
cycle and by the scoreboard and the watchdog). The cocotb benches (the registry's
designs, the routers, the cocotb mesh environment on two small shapes) are in
``test_noc_cocotb.py``, so that pytest-xdist can run them beside these.

Every random choice derives from the session seed (``--seed``/``SEED``, printed in the
session header and by each random test). Packet counts: ``NOC_PACKETS`` per shape,
pattern and stall rate on the harness (default 5,556: 50,004 per shape over the 9 runs;
``make soak`` sets 50,000); ``NOC_COCOTB_PACKETS`` per random run of the cocotb meshes
(default 300). Each design is built once per session.
"""

import os
import random

import pytest

from sw.golden.noc import zero_load_latency

from .lockstep import LockstepMesh
from .traffic import (NoProgress, TooOld, Watchdog, equidistant_pair,
                      random_packets, saturation_packets, unicast, watchdog_for,
                      zero_load_cases)

#: Mesh shapes under test: (rows, cols).
SHAPES = [(1, 1), (1, 2), (1, 5), (5, 1), (2, 2), (2, 3), (3, 2), (3, 3), (2, 4), (4, 4),
          (8, 8)]
IDS = [f"{r}x{c}" for r, c in SHAPES]

PATTERNS = ["uniform", "hotspot", "multicast"]
STALLS = [0.0, 0.25, 0.5]

#: Packets per shape, pattern and stall rate on the harness.
PACKETS = int(os.environ.get("NOC_PACKETS", "5556"))

_meshes = {}


def lockstep(shape):
    """The session's :class:`LockstepMesh` of ``shape`` (built once, or found built)."""
    if shape not in _meshes:
        _meshes[shape] = LockstepMesh(*shape)
    return _meshes[shape]


def rng_for(seed, *salt):
    print(f"seed {seed} (rerun with --seed {seed} or SEED={seed})")
    return random.Random(":".join(map(str, (seed, *salt))))


#: The random runs, the shape varying fastest and the largest mesh first: parallel workers
#: (pytest-xdist) then build different meshes at once, and the longest build starts
#: first, instead of one worker waiting for the other's build of the shape both need.
RUNS = [(shape, pattern, stall) for pattern in PATTERNS for stall in STALLS
        for shape in sorted(SHAPES, key=lambda s: -s[0] * s[1])]


@pytest.mark.parametrize("shape, pattern, stall", RUNS,
                         ids=[f"{r}x{c}-{p}-{s}" for (r, c), p, s in RUNS])
def test_random(shape, pattern, stall, seed):
    """``NOC_PACKETS`` random packets of ``pattern``, every injection and ejection port
    stalling with chance ``stall``: every flit checked, every accept and delivery in the
    golden mesh's cycle."""
    rng = rng_for(seed, "random", shape, pattern, stall)
    mesh = lockstep(shape)
    per_src = random_packets(rng, *shape, PACKETS, pattern)
    board = mesh.run(per_src, rng, p_inject=stall, p_eject=stall,
                     watchdog=watchdog_for(pattern))
    print(f"{shape}, {pattern}, stalls {stall}: {PACKETS} packets, {board.delivered} "
          f"flit deliveries in {mesh.last.cycles} cycles; latency max "
          f"{max(lat for _, _, lat in board.latencies)}")


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_saturation(shape, seed):
    """Every node offering 250 one-flit packets to uniform random nodes, one every cycle
    (no stalls): the accepted load, in the golden mesh's cycles."""
    rng = rng_for(seed, "saturation", shape)
    mesh = lockstep(shape)
    board = mesh.run(saturation_packets(rng, *shape), rng, settle=0)
    cycles = mesh.last.cycles
    print(f"saturation {shape}: {board.delivered} flits in {cycles} cycles, "
          f"{board.delivered / mesh.nodes / cycles:.3f} flits/node/cycle")


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_back_to_back(shape, seed):
    """Two one-flit packets back to back to the same output: from one source they arrive
    on consecutive cycles; from two sources as far from it, offered in the same cycle,
    one arrives a cycle after the other."""
    rng = rng_for(seed, "b2b", shape)
    mesh = lockstep(shape)
    rows, cols = shape
    far = mesh.nodes - 1
    per_src = [[] for _ in range(mesh.nodes)]
    per_src[0] = [unicast(0, 0, far, cols), unicast(0, 1, far, cols)]
    board = mesh.run(per_src, rng)
    (_, _, a), (_, _, b) = board.latencies
    assert a == b == 1 + (rows - 1) + (cols - 1), board.latencies
    (_, _, first), (_, _, second) = board.arrivals
    assert second == first + 1, board.arrivals
    pair = equidistant_pair(rng, rows, cols)
    if pair:
        s1, s2, d = pair
        per_src = [[] for _ in range(mesh.nodes)]
        per_src[s1] = [unicast(s1, 0, d, cols)]
        per_src[s2] = [unicast(s2, 0, d, cols)]
        board = mesh.run(per_src, rng)
        cycles = sorted(c for _, _, c in board.arrivals)
        assert cycles[1] == cycles[0] + 1, board.arrivals


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_zero_load(shape, seed):
    """One packet at a time, from every node to every node (a sample on large meshes) and
    to rectangles: each delivered ``1 + hops`` cycles after it was accepted."""
    rng = rng_for(seed, "zero", shape)
    mesh = lockstep(shape)
    cols = shape[1]
    errors = []
    for per_src in zero_load_cases(rng, *shape):
        board = mesh.run(per_src, rng, settle=2)
        for p, node, latency in board.latencies:
            want = zero_load_latency(p.src % cols, p.src // cols, node % cols, node // cols)
            if latency != want:
                errors.append((p, node, latency, want))
    assert not errors, f"{len(errors)} latencies off the formula, first {errors[:3]}"


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_watchdog(shape, seed):
    """The watchdog fails a run whose ejection port never takes a flit (no progress for
    1,024 cycles), and one whose packet is held too long while others move; the mesh
    works again after a reset."""
    rng = rng_for(seed, "watchdog", shape)
    mesh = lockstep(shape)
    per_src = [[] for _ in range(mesh.nodes)]
    per_src[0] = [unicast(0, 0, 0, shape[1])]
    with pytest.raises(NoProgress, match="no flit accepted or delivered for 1024 cycles"):
        mesh.run(per_src, rng, p_eject=1.0)
    assert mesh.last.cycles == 1025
    mesh.reset()
    per_src = random_packets(rng, *shape, 200, "uniform")
    with pytest.raises(TooOld, match="is older than 3 cycles"):
        mesh.run(per_src, rng, p_eject=0.5, watchdog=Watchdog(1024, max_age=3))
    mesh.run(random_packets(rng, *shape, 50, "uniform"), rng)  # the mesh still works
