"""An array of cores joined by the networks-on-chip."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..core.core import Core, core_signature
from ..core.noc import core_flit_layout, put_layout
from ..noc.mesh import Mesh
from ..spec.config import ArrayConfig
from ..spec.isa import PUT_PORTS, pnoc_sources

__all__ = ["CoreArray"]


class CoreArray(wiring.Component):
    """``rows`` x ``cols`` cores of an :class:`rtl.spec.config.ArrayConfig`, each put port
    of every core joined to one mesh per port (docs/architecture.md, 9.8): core ``(x, y)``'s
    port ``anoc`` to node ``(x, y)`` of the ANoC mesh, and so on for the MNoC and the INoC;
    the PNoC ports joined by point-to-point links between neighbours: a core's PNoC
    output goes to the neighbour its flit names (``dir``), and a core's PNoC input takes,
    of the neighbours offering it partial sums, the one from the north first, then east,
    south, west (:func:`rtl.spec.isa.pnoc_sources`; the links are wires: a vector moves
    in the cycle the input takes it; an output toward the array's edge is never taken).

    Each core's host side is brought out, indexed ``y * cols + x``: its MEM port, ``start``
    and ``entry``, and its status. Each mesh's edge injection point (the west input of
    router ``(0, rows - 1)``, :class:`rtl.noc.mesh.Mesh` with ``edge``) is ``inject``,
    in :data:`rtl.spec.isa.PUT_PORTS` order; the ANoC's flits addressed to column 0, row
    ``rows`` (below the corner) leave at ``eject`` (the other meshes' never leave); and
    ``noc_idle`` says that no router of any mesh holds a flit: the framebuffer's side
    (docs/architecture.md, 11). A host ``start`` of any core restarts the round-robin
    order of every router (at ``local``, from the next cycle), so that a run's timing
    does not depend on the runs before it. Submodules:
    ``core_<y>_<x>`` (:class:`Core`) and ``anoc``, ``mnoc``, ``inoc``
    (:class:`rtl.noc.mesh.Mesh`, FIFOs of ``depth`` flits).

    With ``core_module``, each core is an instance of that Verilog module (the core
    converted once, by name, with the ports of :class:`Core`'s signature: e.g. the
    registry's ``core`` design of the same configuration) instead of a copy of its
    elaborated logic: the array's Verilog then holds the core once, however many there
    are, and converts in the time of the meshes.

    Latency: a core's, plus the meshes' (one cycle a router); a PNoC link's is 0.
    Throughput: a core's; a vector a cycle on each PNoC link.

    Parameters
    ----------
    config : ArrayConfig
    depth : int
        Flits of each router input FIFO.
    core_module : str or None
        The Verilog module name of the configuration's core, or None to elaborate the
        cores here.

    Members
    -------
    host : In(mem_port_signature(word_bytes)).array(cores)
    start : In(1).array(cores)
    entry : In(ADDR_BITS).array(cores)
    busy, conflict, deadlock, overflow : Out(1).array(cores)
    cycles, vmm_steps : Out(32).array(cores)
    inject : In(stream.Signature(core_flit_layout(...))).array(len(PUT_PORTS))
    eject : Out(stream.Signature(core_flit_layout(...)))
    noc_idle : Out(1)
    """

    def __init__(self, config, *, depth=2, core_module=None):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, not {config!r}")
        if core_module is not None and not (isinstance(core_module, str)
                                            and core_module.isidentifier()):
            raise ValueError(f"core_module must be a Verilog module name, not {core_module!r}")
        self._config, self._depth, self._core_module = config, depth, core_module
        # Every port of a core but its NoC ports, one per core.
        core = core_signature(config.core, rows=config.rows, cols=config.cols)
        word = config.core.mem_port_bits // 8
        flits = stream.Signature(core_flit_layout(word, config.rows, config.cols))
        super().__init__({**{name: member.array(config.cores)
                             for name, member in core.members.items() if name != "noc"},
                          "inject": In(flits).array(len(PUT_PORTS)),
                          "eject": Out(flits),
                          "noc_idle": Out(1)})

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols = cfg.rows, cfg.cols
        payload = put_layout(cfg.core.mem_port_bits // 8).size
        meshes = {}
        for j, name in enumerate(PUT_PORTS):
            m.submodules[name] = meshes[name] = Mesh(rows, cols, payload_bits=payload,
                                                      depth=self._depth, edge=True)
            wiring.connect(m, inject=wiring.flipped(self.inject[j]), mesh=meshes[name].inject)
            if name == "anoc":
                wiring.connect(m, mesh=meshes[name].eject, eject=wiring.flipped(self.eject))
            else:
                m.d.comb += meshes[name].eject.ready.eq(0)
        m.d.comb += self.noc_idle.eq(Cat(*(mesh.idle for mesh in meshes.values())).all())
        # A start of the cores restarts every router's round-robin order, so that a run's
        # timing does not depend on the traffic of the runs before it.
        for mesh in meshes.values():
            m.d.comb += mesh.clear.eq(Cat(*self.start).any())
        cores = {}
        for y in range(rows):
            for x in range(cols):
                k = y * cols + x
                if self._core_module is None:
                    m.submodules[f"core_{y}_{x}"] = core = Core(cfg.core, rows=rows, cols=cols)
                else:   # the same ports, on an instance of the converted core
                    sig = core_signature(cfg.core, rows=rows, cols=cols)
                    core = sig.create(path=(f"core_{y}_{x}",))
                    ports = {f"{'o' if member.flow == Out else 'i'}_"
                             f"{'__'.join(map(str, path))}": value
                             for path, member, value in core.signature.flatten(core)}
                    m.submodules[f"core_{y}_{x}"] = Instance(
                        self._core_module, i_clk=ClockSignal(), i_rst=ResetSignal(), **ports)
                wiring.connect(m, host=wiring.flipped(self.host[k]), core=core.host)
                for name in ("start", "entry"):
                    m.d.comb += getattr(core, name).eq(getattr(self, name)[k])
                for name in ("busy", "cycles", "vmm_steps", "conflict", "deadlock", "overflow"):
                    m.d.comb += getattr(self, name)[k].eq(getattr(core, name))
                for name in PUT_PORTS:
                    port, node = getattr(core.noc, name), meshes[name].node[y][x]
                    wiring.connect(m, core=port.o, mesh=node.i)
                    wiring.connect(m, mesh=node.o, core=port.i)
                cores[x, y] = core
        self._pnoc_links(m, cores)
        return m

    def _pnoc_links(self, m, cores):
        """Join the PNoC ports: each input takes from its first neighbour (north, east,
        south, west) that offers it partial sums; a sender's output is taken when the
        input it names takes it."""
        rows, cols = self._config.rows, self._config.cols
        takes = {xy: [] for xy in cores}   # per sender, the terms of its o.ready
        for (x, y), core in cores.items():
            inp = core.noc.pnoc.i
            earlier = C(0, 1)
            for sx, sy, d in pnoc_sources(x, y, rows, cols):
                out = cores[sx, sy].noc.pnoc.o
                offer = Signal(name=f"pnoc_{sx}_{sy}_to_{x}_{y}")
                grant = Signal(name=f"pnoc_{x}_{y}_from_{sx}_{sy}")
                m.d.comb += [offer.eq(out.valid & (out.p.dir == d)),
                             grant.eq(offer & ~earlier)]
                with m.If(grant):
                    m.d.comb += inp.p.eq(out.p.sums)
                takes[sx, sy].append(grant & inp.ready)
                earlier = earlier | offer
            m.d.comb += inp.valid.eq(earlier)
        for xy, terms in takes.items():
            m.d.comb += cores[xy].noc.pnoc.o.ready.eq(Cat(*terms).any() if terms else 0)
