"""Golden model of an array of cores joined by the networks-on-chip (mirrors
``rtl/top/array.py``): the golden cores (:class:`sw.golden.core.Core`) and one cycle-exact
mesh model (:class:`sw.golden.noc.MeshModel`) per NoC port, stepped together one clock
cycle at a time, so every put reaches its receiver's MEM in the cycle the RTL writes it
and every core's cycle count is the RTL's.

Each cycle every core offers the flit at each of its outputs and says whether each input
takes one (both from its state at the cycle's start); each mesh then takes the offered
flits it has room for and delivers the flits whose ejection port is ready; each core then
steps with what its ports did (a running core through its run generator,
:meth:`sw.golden.core.Core.chain`; an idle core through
:meth:`sw.golden.cycles.CycleModel.idle_cycle`).
"""

from rtl.spec.config import ArrayConfig
from rtl.spec.isa import NOC_PORTS

from .core import Core
from .noc import MeshModel
from .thread import Unfinished

__all__ = ["ArrayModel"]


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
        self.meshes = {name: MeshModel(self.rows, self.cols, depth) for name in NOC_PORTS}
        self.cycle = 0

    def core(self, x, y):
        """The golden core at column ``x``, row ``y``."""
        if not (0 <= x < self.cols and 0 <= y < self.rows):
            raise IndexError(f"core ({x}, {y}) is outside the {self.rows} x {self.cols} array")
        return self.cores[y * self.cols + x]

    def run(self, entries, *, max_cycles=1_000_000):
        """Start core ``n`` at program image ``entries[n]`` (None: it stays idle) in cycle
        0, all together, and step the array until every started core has finished (its
        chain of images) and no flit is left in a mesh or a core's input FIFO.

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
        Unfinished
            After ``max_cycles`` cycles (a deadlock between cores: a WAIT for a remote
            SIGNAL that never comes, say).
        CoreError, CounterOverflow
            As a core alone raises them.
        """
        n = len(self.cores)
        entries = list(entries)
        if len(entries) != n:
            raise ValueError(f"entries must give one entry (or None) per core, {n}, not "
                             f"{len(entries)}")
        runs, results, offers = {}, [None] * n, [None] * n
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
            for p, name in enumerate(NOC_PORTS):
                injected = {k: offers[k][0][p] for k in range(n) if offers[k][0][p] is not None}
                accepted, delivered = self.meshes[name].step(
                    injected, [offers[k][1][p] for k in range(n)])
                for k in accepted:
                    taken[k][p] = True
                for k, flit in delivered.items():
                    given[k][p] = flit
            for k, core in enumerate(self.cores):
                if k in runs:
                    try:
                        offers[k] = runs[k].send((taken[k], given[k]))
                    except StopIteration as stop:
                        results[k] = stop.value
                        self.runs[k].append(stop.value)
                        del runs[k]
                else:
                    core.idle_cycle(given[k])
                    if core.start_entry is not None:   # an INoC start: launched next cycle
                        launch(k, core.start_entry, cycle + 1)
            self.cycle = cycle + 1
            if not runs and all(m.idle() for m in self.meshes.values()) and \
                    not any(box for core in self.cores for box in core.inbox):
                return results
        raise Unfinished(f"the array did not finish in {max_cycles} cycles: "
                         f"{sorted(runs)} still running")
