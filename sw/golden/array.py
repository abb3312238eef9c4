"""Golden model of an array of cores joined by the networks-on-chip (mirrors
``rtl/top/array.py``): the golden cores (:class:`sw.golden.core.Core`), one cycle-exact
mesh model (:class:`sw.golden.noc.MeshModel`) per put port and the PNoC's point-to-point
links, stepped together one clock cycle at a time, so every put reaches its receiver's MEM
in the cycle the RTL writes it, every partial sum its neighbour's VMM step in the RTL's
cycle, and every core's cycle count is the RTL's.

Each cycle every core offers the flit at each of its outputs and says whether each input
takes one (both from its state at the cycle's start); each mesh then takes the offered
flits it has room for and delivers the flits whose ejection port is ready; each PNoC
input takes the partial sums a neighbour offers it (of several, the one from the north
first, then east, south, west) when it has room; each core then steps with what its ports
did (a running core through its run generator,
:meth:`sw.golden.core.Core.chain`; an idle core through
:meth:`sw.golden.cycles.CycleModel.idle_cycle`).
"""

from rtl.spec.config import ArrayConfig
from rtl.spec.isa import DIRECTIONS, NOC_PORTS, OFFSETS, PUT_PORTS, pnoc_sources

from .core import Core
from .noc import EDGE, MeshModel
from .thread import CoreError, Unfinished

__all__ = ["ArrayModel", "ArrayDeadlock", "busy_until"]


def busy_until(starts, runs):
    """The last cycle in which a core was busy, counted from the cycle of the array's
    start (0): the latest of each core's last run's start plus its cycles (``starts``
    and ``runs`` as :meth:`ArrayModel.run` leaves them; cores that never ran count
    nothing)."""
    return max(s[-1] + r[-1][0] for s, r in zip(starts, runs, strict=True) if r)


class ArrayDeadlock(CoreError):
    """Nothing in the array can ever move again: every running core is blocked inside
    (its threads as :class:`~sw.golden.thread.Deadlock` describes them), the meshes are
    empty and no flit moved in the cycle. ``cycle`` is the array's cycle (from the start,
    0); ``cores`` maps each running core's ``(x, y)`` to its
    :class:`~sw.golden.thread.Deadlock` (whose ``cycle`` counts as that core's
    ``cycles``)."""

    def __init__(self, cycle, cores):
        self.cycle, self.cores = cycle, cores
        super().__init__(f"the array is deadlocked at cycle {cycle}: " + " | ".join(
            f"core {xy}: {exc}" for xy, exc in sorted(cores.items())))


class ArrayModel:
    """An array of :class:`rtl.spec.config.ArrayConfig` ``config``: core ``(x, y)`` is
    ``cores[y * cols + x]``; ``meshes`` maps each NoC port's name to its mesh. ``depth``
    is the routers' input FIFO depth (as the RTL array's)."""

    def __init__(self, config, *, depth=2):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, not {config!r}")
        self.config = config
        self.rows, self.cols = config.rows, config.cols
        self.cores = [Core(config.core, rows=self.rows, cols=self.cols)
                      for _ in range(self.rows * self.cols)]
        self.meshes = {name: MeshModel(self.rows, self.cols, depth) for name in PUT_PORTS}
        self.cycle = 0

    def core(self, x, y):
        """The golden core at column ``x``, row ``y``."""
        if not (0 <= x < self.cols and 0 <= y < self.rows):
            raise IndexError(f"core ({x}, {y}) is outside the {self.rows} x {self.cols} array")
        return self.cores[y * self.cols + x]

    def run(self, entries, *, max_cycles=1_000_000):
        """Start core ``n`` at program image ``entries[n]`` (None: it stays idle) in cycle
        0, all together (a start restarts every router's round-robin order, from cycle
        1, as the RTL array's host start does), and step the array until every started
        core has finished (its chain of images) and no flit is left in a mesh or a
        core's input FIFO.

        A core that writes a start put on its INoC while idle (9.8) runs that image from
        the next cycle, as often as it receives one.

        Returns
        -------
        list of (int, int) or None
            Per core, ``(cycles, vmm_steps)`` of its last run as its RTL counts them (None
            for a core that never ran); ``runs`` holds every run's, per core, in order,
            and ``starts`` the cycle each began. ``cycle`` is then the array's cycles from
            the start to the last put written.

        Raises
        ------
        ArrayDeadlock
            In the first cycle in which nothing moved anywhere while a core runs: every
            running core blocked inside (a WAIT for a remote SIGNAL that never comes, a
            step waiting for partial sums no neighbour sends, say), no flit in a mesh or
            taken anywhere, no put written.
        Unfinished
            After ``max_cycles`` cycles (a guard).
        CoreError, CounterOverflow
            As a core alone raises them.
        """
        n = len(self.cores)
        entries = list(entries)
        if len(entries) != n:
            raise ValueError(f"entries must give one entry (or None) per core, {n}, not "
                             f"{len(entries)}")
        runs, results, offers = {}, [None] * n, [None] * n
        self.fb_puts = []
        self.runs = [[] for _ in range(n)]
        self.starts = [[] for _ in range(n)]

        def launch(k, entry, cycle):
            runs[k] = self.cores[k].chain(entry, deadlock=False, max_cycles=max_cycles + 1)
            offers[k] = next(runs[k])
            self.starts[k].append(cycle)

        for k, entry in enumerate(entries):
            if entry is not None:
                launch(k, entry, 0)
        ports = range(len(NOC_PORTS))
        for cycle in range(max_cycles):
            for k, core in enumerate(self.cores):
                if k not in runs:
                    offers[k] = ([None] * len(ports), core.in_ready())
            taken = [[False] * len(ports) for _ in range(n)]
            given = [[None] * len(ports) for _ in range(n)]
            self._links(offers, taken, given)
            moved = False
            for name in PUT_PORTS:
                p = NOC_PORTS.index(name)
                injected = {k: offers[k][0][p] for k in range(n) if offers[k][0][p] is not None}
                accepted, delivered = self.meshes[name].step(
                    injected, [offers[k][1][p] for k in range(n)], edge_ready=name == "anoc")
                for k in accepted:
                    taken[k][p] = True
                for k, flit in delivered.items():
                    if k == EDGE:
                        self.fb_puts.append((cycle, flit.payload))
                        moved = True
                    else:
                        given[k][p] = flit
            moved = moved or any(any(t) for t in taken) or any(
                g is not None for row in given for g in row)
            if cycle == 0 and any(e is not None for e in entries):
                # the start restarts every router's round robin (rtl/top/array.py)
                for mesh in self.meshes.values():
                    for r in mesh.routers:
                        r.pointer = 0
            for k, core in enumerate(self.cores):
                if k in runs:
                    try:
                        offers[k] = runs[k].send((taken[k], given[k]))
                    except StopIteration as stop:
                        results[k] = stop.value
                        self.runs[k].append(stop.value)
                        del runs[k]
                        moved = True
                else:
                    moved |= core.idle_cycle(given[k])
                    if core.start_entry is not None:   # an INoC start: launched next cycle
                        launch(k, core.start_entry, cycle + 1)
            if runs and not moved and all(self.cores[k].stuck for k in runs) and \
                    all(m.idle() for m in self.meshes.values()):
                raise ArrayDeadlock(cycle, {(k % self.cols, k // self.cols):
                                            self.cores[k].stuck() for k in runs})
            self.cycle = cycle + 1
            if not runs and all(m.idle() for m in self.meshes.values()) and \
                    not any(core.inbox[NOC_PORTS.index(name)] for core in self.cores
                            for name in PUT_PORTS):
                return results
        raise Unfinished(f"the array did not finish in {max_cycles} cycles: "
                         f"{sorted(runs)} still running")

    def quiet(self):
        """No flit in any mesh or core input FIFO (the PNoC's aside), no put's SIGNAL
        still to count: a cycle with nothing offered changes nothing while no core runs."""
        puts = [NOC_PORTS.index(name) for name in PUT_PORTS]
        return all(m.idle() for m in self.meshes.values()) and \
            not any(core.inbox[p] for core in self.cores for p in puts) and \
            not any(core._put_signals for core in self.cores)

    def idle_step(self, inject=None):
        """One cycle of the array while no core runs (the framebuffer's PUTs, 11): the
        flit ``inject[name]`` offered at the edge injection point of the mesh of put
        port ``name`` (:data:`sw.golden.noc.EDGE`), the meshes stepped, each idle core's
        receive side stepped with what reached it. Return the names whose flit the mesh
        took."""
        n = len(self.cores)
        ready = [core.in_ready() for core in self.cores]
        given = [[None] * len(NOC_PORTS) for _ in range(n)]
        taken = set()
        for name in PUT_PORTS:
            p = NOC_PORTS.index(name)
            flit = inject.get(name) if inject else None
            accepted, delivered = self.meshes[name].step(
                {EDGE: flit} if flit is not None else {}, [r[p] for r in ready])
            if EDGE in accepted:
                taken.add(name)
            for k, f in delivered.items():
                given[k][p] = f     # (no core sends: nothing reaches the framebuffer)
        for k, core in enumerate(self.cores):
            core.idle_cycle(given[k])
            if core.start_entry is not None:
                raise NotImplementedError(f"core {k} received a start put while the "
                                          f"array is stepped idle")
        self.cycle += 1
        return taken

    def _links(self, offers, taken, given):
        """One cycle of the PNoC's links: each core's input takes the partial sums offered
        to it by its first neighbour (north, east, south, west) when it has room."""
        p = NOC_PORTS.index("pnoc")
        rows, cols = self.rows, self.cols
        for k, offer in enumerate(offers):
            psum = offer[0][p]
            if psum is not None:
                dx, dy = OFFSETS[psum.dir]
                x, y = k % cols + dx, k // cols + dy
                if not (0 <= x < cols and 0 <= y < rows):
                    raise CoreError(f"core ({k % cols}, {k // cols}) sends partial sums "
                                    f"{DIRECTIONS[psum.dir]}, off the {rows} x {cols} array")
        for k, offer in enumerate(offers):
            if not offer[1][p]:
                continue
            for sx, sy, d in pnoc_sources(k % cols, k // cols, rows, cols):
                s = sy * cols + sx
                psum = offers[s][0][p]
                if psum is not None and psum.dir == d:
                    taken[s][p] = True
                    given[k][p] = psum
                    break
