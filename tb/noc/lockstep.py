"""The RTL mesh of the C++ harness (:class:`tb.noc.verilated.VerilatedMesh`) checked
against the golden mesh and the scoreboard, a whole run at a time.

:class:`LockstepMesh` runs a traffic run on the RTL (one C call), then

1. the golden mesh (:class:`sw.golden.noc.MeshModel`) with the same offers and the same
   stall tables (:func:`golden_trace`): every flit must be accepted in the same cycle and
   every delivery happen in the same cycle, at the same node, with the same flit
   (:func:`compare_traces`): cycle-for-cycle equality, as the cocotb environment
   (:class:`tb.noc.env.MeshEnv`) checks it in lockstep;
2. the scoreboard and the watchdog of :mod:`tb.noc.traffic` over the RTL's trace
   (:func:`replay`): payload, source, destination, count and order within a flow of
   every flit, no progress for ``quiet`` cycles, packet age.

The offer policy is the cocotb environment's: an injection port with flits left that is
not offering one starts offering its next flit unless stalled in that cycle, and holds it
until it is taken. Stalls are cyclic tables (:meth:`tb.noc.traffic.Stalls.tables`).
"""

from collections import defaultdict

from sw.golden.noc import MeshModel

from .traffic import NoProgress, Scoreboard, Stalls, Watchdog, flits
from .verilated import DONE, NO_PROGRESS, OVERFLOW, STATUS, TIMEOUT, RunTrace, VerilatedMesh

__all__ = ["PERIOD", "golden_trace", "compare_traces", "replay", "LockstepMesh"]

#: Cycles of every port's stall table (a prime, so no port's table lines up with a
#: power-of-two pattern of the traffic).
PERIOD = 8191


def golden_trace(model, queues, idle, ready, *, total, settle=16, quiet=1024,
                 max_cycles=50_000_000):
    """The golden mesh ``model`` through one run with the C++ harness's inputs and end
    conditions (``tb/noc/harness.cpp``); return its :class:`~tb.noc.verilated.RunTrace`,
    flits as :data:`sw.golden.noc.Flit` (the model keeps its state for the next run)."""
    nodes = len(queues)
    period = idle.shape[1]
    idle_rows = idle.tolist()
    ready_cols = ready.T.tolist()
    pos = [0] * nodes
    offering = [False] * nodes
    accepted = [[-1] * len(q) for q in queues]
    deliveries = []
    last_progress = cycle = 0
    end = None
    status = DONE
    step = model.step
    while True:
        if end is not None and cycle > end:
            break
        if cycle >= max_cycles:
            status = TIMEOUT
            break
        phase = cycle % period
        offers = {}
        for n in range(nodes):
            if offering[n]:
                offers[n] = queues[n][pos[n]]
            elif pos[n] < len(queues[n]) and not idle_rows[n][phase]:
                offering[n] = True
                offers[n] = queues[n][pos[n]]
        taken, delivered = step(offers, ready_cols[phase])
        for n in taken:
            accepted[n][pos[n]] = cycle
            pos[n] += 1
            offering[n] = False
        for n, flit in delivered.items():
            deliveries.append((cycle, n, flit))
        if end is None:
            if taken or delivered:
                last_progress = cycle
            elif cycle - last_progress >= quiet:
                status = NO_PROGRESS
                cycle += 1
                break
            if len(deliveries) >= total:
                end = cycle + settle
        cycle += 1
    return RunTrace(status, cycle, accepted, deliveries)


def compare_traces(rtl, golden, queues):
    """Require the RTL's trace to equal the golden mesh's (both as
    :class:`~tb.noc.verilated.RunTrace`, flits as :data:`sw.golden.noc.Flit`): every
    flit of ``queues`` accepted in the same cycle, every delivery in the same cycle, at
    the same node, with the same flit; the same end. Raise :class:`AssertionError`
    naming the first difference."""
    for n, (mine, want) in enumerate(zip(rtl.accepted, golden.accepted, strict=True)):
        if mine != want:
            k = next(k for k, (a, b) in enumerate(zip(mine, want, strict=True)) if a != b)
            raise AssertionError(
                f"node {n}: its flit {k} ({queues[n][k]}) was accepted by the RTL in cycle "
                f"{mine[k]}, by the golden mesh in cycle {want[k]} (-1: never)")
    for i, (mine, want) in enumerate(zip(rtl.deliveries, golden.deliveries, strict=False)):
        if mine != want:
            raise AssertionError(
                f"delivery {i}: the RTL delivered {mine[2]} at node {mine[1]} in cycle "
                f"{mine[0]}, the golden mesh {want[2]} at node {want[1]} in cycle {want[0]}")
    if len(rtl.deliveries) != len(golden.deliveries):
        longer, name = (rtl, "RTL") if len(rtl.deliveries) > len(golden.deliveries) \
            else (golden, "golden mesh")
        cycle, node, flit = longer.deliveries[min(len(rtl.deliveries),
                                                  len(golden.deliveries))]
        raise AssertionError(
            f"the RTL made {len(rtl.deliveries)} deliveries, the golden mesh "
            f"{len(golden.deliveries)}: the {name} also delivered {flit} at node {node} in "
            f"cycle {cycle}")
    if (rtl.status, rtl.cycles) != (golden.status, golden.cycles):
        raise AssertionError(
            f"the RTL's run ended ({STATUS[rtl.status]}) after {rtl.cycles} cycles, the "
            f"golden mesh's ({STATUS[golden.status]}) after {golden.cycles}")


def replay(cols, per_src, queues, trace, watchdog):
    """Check the RTL's ``trace`` (flits as :data:`sw.golden.noc.Flit`) of sending
    ``per_src``'s packets (their flits ``queues``, one list per node) with the scoreboard
    (every flit) and ``watchdog`` (no progress, packet age), cycle by cycle as the cocotb
    environment does; return the scoreboard. Raises :class:`AssertionError` (the
    watchdog's :class:`~tb.noc.traffic.NoProgress` and :class:`~tb.noc.traffic.TooOld`
    among them) on the first fault."""
    board = Scoreboard(cols, per_src)
    total = sum(len(board.rect(p)) * p.length for ps in per_src for p in ps)
    injects = defaultdict(list)
    for n, cycles in enumerate(trace.accepted):
        for k, c in enumerate(cycles):
            if c >= 0:
                injects[c].append(queues[n][k])
    delivers = defaultdict(list)
    for cycle, node, flit in trace.deliveries:
        delivers[cycle].append((node, flit))
    watchdog.last_progress = 0
    done = total == 0
    for cycle in range(trace.cycles):
        for flit in injects.get(cycle, ()):
            board.inject(flit, cycle)
        for node, flit in delivers.get(cycle, ()):
            board.deliver(node, flit, cycle)
        if not done:
            watchdog.check(cycle, cycle in injects or cycle in delivers, board.oldest())
            done = board.delivered == total
    if trace.status == NO_PROGRESS:
        raise NoProgress(f"cycle {trace.cycles - 1}: no flit accepted or delivered for "
                         f"{watchdog.quiet} cycles (the harness's watchdog)")
    if trace.status == TIMEOUT:
        raise AssertionError(f"the run was still going after {trace.cycles} cycles")
    if trace.status == OVERFLOW:
        raise AssertionError(f"more deliveries than room in the trace "
                             f"({len(trace.deliveries)})")
    board.finish()
    unsent = [(n, cycles.index(-1)) for n, cycles in enumerate(trace.accepted)
              if -1 in cycles]
    assert not unsent, f"flits left unsent, first (node, flit) {unsent[:5]}"
    return board


class LockstepMesh:
    """A ``rows`` by ``cols`` RTL mesh (:class:`~tb.noc.verilated.VerilatedMesh`, built
    or reused) and its golden mesh, both kept from run to run; :meth:`run` checks a
    traffic run on both (see the module's description).

    Attributes: ``rtl`` (the :class:`~tb.noc.verilated.VerilatedMesh`), ``model`` (the
    :class:`~sw.golden.noc.MeshModel`), ``rows``, ``cols``, ``nodes``, ``cycle`` (cycles
    run so far), ``last`` (the last run's RTL trace, flits as golden flits).
    """

    def __init__(self, rows, cols, payload_bits=32, depth=2, build_dir=None):
        self.rtl = VerilatedMesh(rows, cols, payload_bits, depth, build_dir)
        self.rows, self.cols, self.nodes = self.rtl.rows, self.rtl.cols, self.rtl.nodes
        self.model = MeshModel(self.rows, self.cols, self.rtl.depth)
        self.cycle = 0
        self.last = None

    def reset(self):
        """Reset the RTL mesh and start a new golden mesh (after a failed run)."""
        self.rtl.reset()
        self.model = MeshModel(self.rows, self.cols, self.rtl.depth)

    def run_flits(self, queues, stalls, *, total, settle=16, quiet=1024, period=PERIOD):
        """Send the flits ``queues`` (one list per node) through the RTL and the golden
        mesh with ``stalls``' tables; require equal traces (:func:`compare_traces`);
        return the RTL's trace, flits as golden flits."""
        idle, ready = stalls.tables(period)
        raw = self.rtl.run(queues, idle, ready, total=total, settle=settle, quiet=quiet)
        unpack = self.rtl.codec.unpack
        trace = raw._replace(deliveries=[(c, n, unpack(v)) for c, n, v in raw.deliveries])
        golden = golden_trace(self.model, queues, idle, ready, total=total, settle=settle,
                              quiet=quiet)
        self.cycle += trace.cycles
        self.last = trace
        compare_traces(trace, golden, queues)
        return trace

    def run(self, per_src, rng, *, p_inject=0.0, p_eject=0.0, watchdog=None, settle=16,
            period=PERIOD):
        """Send ``per_src``'s packets (one list per source node), every injection port
        idling with chance ``p_inject`` and every ejection port with chance ``p_eject``
        in each cycle (stall tables drawn from ``rng``); check the run against the golden
        mesh cycle for cycle and with the scoreboard and ``watchdog`` (default
        :class:`~tb.noc.traffic.Watchdog`); then ``settle`` idle cycles (a stray flit
        would show there). Return the scoreboard."""
        if not isinstance(per_src, (list, tuple)) or len(per_src) != self.nodes:
            raise ValueError(f"per_src must be a list of {self.nodes} packet lists (one "
                             f"per node)")
        stalls = Stalls(rng, self.nodes, p_inject, p_eject)
        if not (stalls.p_inject or stalls.p_eject):
            period = 1  # no stalls: a one-cycle table says as much
        watchdog = watchdog or Watchdog()
        queues = [[f for p in ps for f in flits(p)] for ps in per_src]
        total = sum((p.x1 - p.x0 + 1) * (p.y1 - p.y0 + 1) * p.length
                    for ps in per_src for p in ps)
        trace = self.run_flits(queues, stalls, total=total, settle=settle,
                               quiet=watchdog.quiet, period=period)
        return replay(self.cols, per_src, queues, trace, watchdog)

    def close(self):
        self.rtl.close()
