"""The shared thread model (sw/golden/thread.py): streamed address generators, and a
stream of 65535**4 points that costs nothing until it is walked."""

import itertools
import random
import tracemalloc

import pytest

from rtl.spec.config import get_config
from rtl.spec.isa import AG_DIMS, Instr, Op
from sw.compiler_stub.asm import Program
from sw.golden.core import Core, Deadlock
from sw.golden.thread import AddressGenerator


def test_walk_order(seed):
    """A walk visits base + sum(i_k * s_k), dimension 0 innermost, as the spec says."""
    rng = random.Random(seed)
    for _ in range(200):
        ag = AddressGenerator(rng.randrange(-50, 50))
        ag.dims = [(rng.randrange(1, 4), rng.randrange(-9, 10)) for _ in range(AG_DIMS)]
        expected = [ag.base + sum(i * s for i, (_, s) in zip(idx[::-1], ag.dims, strict=True))
                    for idx in itertools.product(*(range(c) for c, _ in ag.dims[::-1]))]
        assert list(ag.walk()) == expected
        assert ag.size == len(expected)


def test_huge_generator_is_streamed():
    ag = AddressGenerator(8)
    ag.dims = [(65535, 8), (65535, 0), (65535, -8), (65535, 0)]
    assert ag.size == 65535 ** 4
    tracemalloc.start()
    walk = ag.walk()
    points = [walk.addr]
    for _ in range(70000):
        walk.advance()
        points.append(walk.addr)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 << 20     # the points list itself, no expansion
    assert points[:2] == [8, 16] and points[65535] == 8 and points[65534] == 8 + 65534 * 8


def test_huge_stream_deadlocks_at_once():
    """T1 steps through 65535**4 points with no weight tile: the golden core reports the
    deadlock within a few cycles of the start, without expanding the points (and the
    assembler accepts it unchecked: its lower bound is far over DEADLOCK_CHECK_CYCLES)."""
    core = get_config("sim").core
    big = [Instr(Op.AGDIM, {"g": 0, "d": d, "count": 65535, "stride": 0}) for d in range(4)]
    big += [Instr(Op.AGDIM, {"g": 1, "d": d, "count": 65535, "stride": 1}) for d in range(4)]
    prog = Program(core, [[], big + [Instr(Op.SSTREAM, {"s": 0, "d": 1, "period": 1}),
                                     Instr(Op.END)]])
    golden = Core(core)
    golden.write(0, prog.image())
    with pytest.raises(Deadlock, match=r"T1 at 8: SSTREAM .* \(the VMM has no weight tile\)"):
        golden.run(0)
