"""The fast RTL path's own tests: its checks catch faults (a corrupted, late, dropped,
extra or reordered flit in a trace fails with a message naming it), flits wider than 64
bits cross the harness intact, and bad arguments are rejected, naming them."""

import random

import numpy as np
import pytest

from sw.golden.noc import Flit, MeshModel

from .lockstep import LockstepMesh, compare_traces, golden_trace, replay
from .test_noc import lockstep, rng_for
from .traffic import Stalls, Watchdog, flits, random_packets
from .verilated import VerilatedMesh


def golden_run(shape, seed, pattern="uniform", count=60):
    """A random run of the golden mesh alone: ``(per_src, queues, trace)``."""
    rng = rng_for(seed, "fault", shape, pattern)
    per_src = random_packets(rng, *shape, count, pattern)
    queues = [[f for p in ps for f in flits(p)] for ps in per_src]
    idle, ready = Stalls(rng, shape[0] * shape[1], 0.25, 0.25).tables(97)
    total = sum((p.x1 - p.x0 + 1) * (p.y1 - p.y0 + 1) * p.length for ps in per_src for p in ps)
    trace = golden_trace(MeshModel(*shape), queues, idle, ready, total=total)
    return per_src, queues, trace


def test_golden_trace_passes(seed):
    """The unchanged golden trace passes both checks (so the failures below are the
    faults' doing)."""
    per_src, queues, trace = golden_run((3, 3), seed)
    compare_traces(trace, trace, queues)
    board = replay(3, per_src, queues, trace, Watchdog())
    assert board.delivered == len(trace.deliveries)


def altered(trace, i, change):
    deliveries = list(trace.deliveries)
    change(deliveries, i)
    return trace._replace(deliveries=deliveries)


def corrupt(d, i):
    c, n, f = d[i]
    d[i] = (c, n, f._replace(payload=f.payload ^ 1 << 9))


def late(d, i):
    c, n, f = d[i]
    d[i] = (c + 1, n, f)


def drop(d, i):
    del d[i]


def duplicate(d, i):
    d.insert(i, d[i])


def swap(d, i):
    j = next(j for j in range(i + 1, len(d)) if d[j][1] == d[i][1])
    (ci, ni, fi), (cj, nj, fj) = d[i], d[j]
    d[i], d[j] = (ci, ni, fj), (cj, nj, fi)


FAULTS = {"corrupt": (corrupt, r"delivery \d+: the RTL delivered"),
          "late": (late, r"delivery \d+: the RTL delivered"),
          "drop": (drop, r"delivery \d+: the RTL delivered|deliveries"),
          "duplicate": (duplicate, r"delivery \d+: the RTL delivered"),
          "swap": (swap, r"delivery \d+: the RTL delivered")}

# The scoreboard's messages: a delivery's (naming its cycle, node, flit and packet) or
# the end's.
SCOREBOARD = (r"cycle \d+, node \d+: flit \d+ of packet \d+ from node \d+: |"
              r"packets not delivered everywhere|a packet was cut short")

@pytest.mark.parametrize("fault", FAULTS)
def test_checks_catch_delivery_faults(fault, seed):
    """A fault in one delivery of a good trace fails the comparison with the golden
    trace, and (but for a delivery one cycle late) the scoreboard."""
    per_src, queues, trace = golden_run((2, 3), seed)
    rng = random.Random(f"{seed}:{fault}")
    i = rng.randrange(len(trace.deliveries) // 2)
    change, message = FAULTS[fault]
    bad = altered(trace, i, change)
    with pytest.raises(AssertionError, match=message):
        compare_traces(bad, trace, queues)
    if fault != "late":  # one cycle later is still a valid delivery for the scoreboard
        with pytest.raises(AssertionError, match=SCOREBOARD):
            replay(3, per_src, queues, bad, Watchdog())


def test_checks_catch_accept_fault(seed):
    """A flit accepted a cycle late fails the comparison, naming the node and flit."""
    per_src, queues, trace = golden_run((2, 2), seed)
    accepted = [list(a) for a in trace.accepted]
    n = next(n for n, a in enumerate(accepted) if a)
    accepted[n][-1] += 1
    with pytest.raises(AssertionError, match=rf"node {n}: its flit {len(accepted[n]) - 1} "):
        compare_traces(trace._replace(accepted=accepted), trace, queues)
    accepted[n][-1] = -1
    with pytest.raises(AssertionError, match="not injected yet|flits left unsent"):
        replay(2, per_src, queues, trace._replace(accepted=accepted), Watchdog())


def test_checks_catch_end_fault(seed):
    """A run that ends at another cycle or with another status fails the comparison."""
    per_src, queues, trace = golden_run((1, 2), seed)
    with pytest.raises(AssertionError, match="run ended"):
        compare_traces(trace._replace(cycles=trace.cycles + 1), trace, queues)


def test_rtl_trace_fault(seed):
    """The RTL's own trace of a random run, one delivered flit corrupted, fails both
    checks."""
    mesh = lockstep((2, 2))
    rng = rng_for(seed, "rtl fault")
    per_src = random_packets(rng, 2, 2, 100, "multicast")
    mesh.run(per_src, rng, p_inject=0.25, p_eject=0.25)
    queues = [[f for p in ps for f in flits(p)] for ps in per_src]
    good = mesh.last
    bad = altered(good, rng.randrange(len(good.deliveries)), corrupt)
    with pytest.raises(AssertionError, match="the RTL delivered"):
        compare_traces(bad, good, queues)
    with pytest.raises(AssertionError, match=SCOREBOARD):
        replay(2, per_src, queues, bad, Watchdog())


def test_wide_flits(seed):
    """A 2 x 2 mesh with the core's 91-bit payload (flits of 96 bits, wider than 64):
    random flits with every payload bit random cross the harness intact, in the golden
    mesh's cycles."""
    mesh = LockstepMesh(2, 2, payload_bits=91)
    rng = rng_for(seed, "wide")
    queues = [[] for _ in range(4)]
    for _ in range(400):
        n, d = rng.randrange(4), rng.randrange(4)
        length = rng.randint(1, 3)
        queues[n] += [Flit(rng.getrandbits(91), d % 2, d % 2, d // 2, d // 2,
                           int(k == length - 1)) for k in range(length)]
    assert mesh.rtl.codec.bits > 64
    total = sum(map(len, queues))
    trace = mesh.run_flits(queues, Stalls(rng, 4, 0.25, 0.25), total=total)
    assert sorted(f.payload for _, _, f in trace.deliveries) == \
        sorted(f.payload for q in queues for f in q)
    assert max(f.payload for _, _, f in trace.deliveries).bit_length() > 64
    mesh.close()


@pytest.mark.parametrize("args, error, message", [
    ((0, 3), ValueError, r"rows must be in \[1, 64\], not 0"),
    ((3, 65), ValueError, r"cols must be in \[1, 64\], not 65"),
    (("2", 3), TypeError, "rows must be an integer, not '2'"),
    ((2, 2.0), TypeError, "cols must be an integer, not 2.0"),
    ((2, 2, 0), ValueError, r"payload_bits must be in \[1, 4096\], not 0"),
    ((2, 2, True), TypeError, "payload_bits must be an integer, not True"),
    ((2, 2, 32, 1), ValueError, r"depth must be in \[2, 64\], not 1"),
])
def test_bad_shapes(args, error, message):
    with pytest.raises(error, match=message):
        VerilatedMesh(*args)
    with pytest.raises(error, match=message):
        LockstepMesh(*args)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"p_inject": 1.5}, ValueError, r"p_inject must be a probability in \[0, 1\], not 1.5"),
    ({"p_eject": -0.1}, ValueError, r"p_eject must be a probability in \[0, 1\], not -0.1"),
    ({"p_inject": None}, TypeError, "p_inject must be a probability"),
    ({"p_eject": "0.5"}, TypeError, "p_eject must be a probability"),
    ({"nodes": 0}, ValueError, "nodes must be a positive integer, not 0"),
])
def test_bad_stalls(kwargs, error, message):
    args = {"rng": random.Random(0), "nodes": 4, "p_inject": 0.0, "p_eject": 0.0, **kwargs}
    with pytest.raises(error, match=message):
        Stalls(**args)
    with pytest.raises(ValueError, match="period must be a positive integer, not 0"):
        Stalls(random.Random(0), 4, 0.5, 0.5).tables(0)


def test_bad_runs():
    """Wrong queues, stall tables, counts and payloads are rejected, naming them."""
    mesh = lockstep((2, 2)).rtl
    idle, ready = Stalls(random.Random(0), 4, 0.0, 0.0).tables(5)
    queues = [[] for _ in range(4)]
    with pytest.raises(ValueError, match="queues must be a list of 4 flit lists"):
        mesh.run(queues[:3], idle, ready, total=0)
    with pytest.raises(ValueError, match="idle must be a bool array of 4 rows"):
        mesh.run(queues, idle[:3], ready, total=0)
    with pytest.raises(ValueError, match="ready must be a bool array"):
        mesh.run(queues, idle, ready.astype(np.uint8), total=0)
    with pytest.raises(ValueError, match="idle and ready must have one shape"):
        mesh.run(queues, idle, ready[:, :4], total=0)
    with pytest.raises(TypeError, match="total must be an integer"):
        mesh.run(queues, idle, ready, total=1.0)
    with pytest.raises(ValueError, match=r"quiet must be in \[1, "):
        mesh.run(queues, idle, ready, total=0, quiet=0)
    queues[1] = [Flit(1 << 32, 0, 0, 0, 0, 1)]
    with pytest.raises(ValueError, match="node 1: payload 0x100000000 does not fit 32 bits"):
        mesh.run(queues, idle, ready, total=1)
    with pytest.raises(ValueError, match="per_src must be a list of 4 packet lists"):
        lockstep((2, 2)).run([[]], random.Random(0))
