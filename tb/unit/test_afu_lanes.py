# amaranth: UnusedElaboratable=no
"""The activation unit's shared tables under the Amaranth simulator: two lanes read one
ROM through its two ports, each its own entry in the same cycle; a single lane has a
ROM of its own. (The cocotb tests in tb/afu run every input through the ``sim`` core's
four lanes.)"""

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from rtl.core.afu import ActivationUnit
from rtl.spec.codes import AfuOp
from sw.golden import fp16
from sw.golden.afu import ActivationUnit as GoldenActivationUnit

TABLE_OPS = (AfuOp.GELU, AfuOp.SIGMOID, AfuOp.TANH, AfuOp.EXP)


@pytest.mark.parametrize("lanes", [1, 2, 4, 8])
def test_tables_shared_by_lane_pairs(lanes):
    """``(lanes + 1) // 2`` ROMs ``table0``, ``table1``, ...: two read ports each, but
    one for a single lane."""
    m = ActivationUnit(lanes).elaborate(None)
    count = (lanes + 1) // 2
    tables = [m.submodules[f"table{t}"] for t in range(count)]
    assert all(isinstance(table, Memory) for table in tables)
    assert [len(table.read_ports) for table in tables] == \
        [min(2, lanes - 2 * t) for t in range(count)]
    with pytest.raises(AttributeError):
        m.submodules[f"table{count}"]
    Fragment.get(m, None)  # the tables elaborated, as a build would


@pytest.mark.parametrize("table_reg", [False, True])
@pytest.mark.parametrize("lanes", [1, 2])
def test_lanes_read_their_own_entries(lanes, table_reg):
    """Back-to-back table instructions, each lane with its own input (so the two ports of
    a shared ROM read different words in the same cycle): the results come one per cycle
    after the unit's latency, bit-exact with the golden model."""
    rng = np.random.default_rng(lanes)
    per_op = 6
    x = fp16.from_float(rng.uniform(-6, 6, (len(TABLE_OPS) * per_op, lanes)))
    ops = np.repeat(np.array([int(op) for op in TABLE_OPS]), per_op)
    golden = GoldenActivationUnit(lanes)
    expected = [golden.execute(op, row[None])[0].tolist() for op, row in zip(ops, x, strict=True)]
    if lanes > 1:
        assert all(len(set(row)) == lanes for row in x.tolist())
    dut = ActivationUnit(lanes, table_reg)
    assert dut.latency == (6 if table_reg else 5)
    got = []

    async def bench(ctx):
        ctx.set(dut.results.ready, 1)
        for cycle in range(len(x) + dut.latency + 2):
            if cycle < len(x):
                ctx.set(dut.instrs.valid, 1)
                ctx.set(dut.instrs.p, {"op": AfuOp(int(ops[cycle])),
                                       "x": [int(v) for v in x[cycle]], "p0": 0, "p1": 0})
                assert ctx.get(dut.instrs.ready)
            else:
                ctx.set(dut.instrs.valid, 0)
            await ctx.tick()
            if ctx.get(dut.results.valid):
                got.append((cycle, [ctx.get(dut.results.p.y[i]) for i in range(lanes)]))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    first = dut.latency - 1  # the cycle whose tick shows the first result
    assert [c for c, _ in got] == list(range(first, first + len(x)))
    assert [y for _, y in got] == expected


@pytest.mark.parametrize("bad", [1, 0, None, "yes"])
def test_table_reg_rejects(bad):
    with pytest.raises(ValueError, match=rf"table_reg must be True or False, not {bad!r}"):
        ActivationUnit(2, bad)
