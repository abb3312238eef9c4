"""The core tile: unified memory, eight threads with their engines, the VMM, the
partial-sum buffer, the vector and activation units, and four NoC ports."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.isa import ADDR_BITS, PUT_PORTS, PUT_THREADS
from ..vmm import VMM
from .counters import Counters
from .loader import Loader
from .memory import UnifiedMemory, mem_port_signature
from .noc import NocEngine, noc_signature
from .steps import StepEngine, psb_layout
from .thread import Thread
from .vector import VectorEngine
from .weights import WeightEngine

__all__ = ["REQUESTERS", "PUTS", "core_signature", "Core"]

#: The unified memory's requesters that wait for their bank: the put ports' receive
#: sides, writing the puts that arrive (``anoc_put``, ``mnoc_put``, ``inoc_put``).
PUTS = tuple(f"{name}_put" for name in PUT_PORTS)

#: The unified memory's requesters, highest priority first: the host, the loader, T0's
#: weight engine (``weights``, and ``weights_pair`` for the second rows of pair beats),
#: T1's step engine, T2's vector engine (its reads and VSTOREs, then its VPOST stores),
#: T4, T6 and T7's NoC engines' SEND reads, and last the puts (:data:`PUTS`).
REQUESTERS = ("host", "loader", "weights", "weights_pair", "steps", "vector", "store",
              *PUT_PORTS, *PUTS)


def core_signature(config, *, rows=1, cols=1):
    """The ports of a :class:`Core` of ``config`` in an array of ``rows`` x ``cols`` (the
    signature of its instances too: :class:`rtl.top.array.CoreArray`)."""
    for name, value in (("rows", rows), ("cols", cols)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    word = config.mem_port_bits // 8
    return wiring.Signature({
        "host":      In(mem_port_signature(word)),
        "start":     In(1),
        "entry":     In(ADDR_BITS),
        "busy":      Out(1),
        "cycles":    Out(32),
        "vmm_steps": Out(32),
        "conflict":  Out(1),
        "deadlock":  Out(1),
        "overflow":  Out(1),
        "noc":       Out(noc_signature(word, config.vmm_rows, rows, cols)),
    })


class Core(wiring.Component):
    """A core of a :class:`rtl.spec.config.CoreConfig` (docs/architecture.md, section "Core").

    ``start`` (one cycle, with ``entry``, the program image's byte address) loads the
    threads' programs from MEM and runs them; ``busy`` stays high until every thread has
    ended. While the core is not busy the ``host`` port reads and writes MEM (read data
    ``config.mem_latency`` cycles after its request).

    ``cycles`` counts the cycles of the last run (program load included); ``vmm_steps``
    counts the VMM steps it accepted (its busy cycles). ``conflict`` is sticky: two
    accesses met in one MEM bank in one cycle (a put that arrives waits for its bank
    instead).

    ``deadlock`` (sticky) rises after a cycle of a run in which nothing moved: every
    running thread blocked (a WAIT not granted, a stream point not accepted, an engine
    not idle after its stream), nothing in flight in an engine or the VMM, no flit taken
    or written by a port. Nothing inside the core can then ever move again (only a flit
    from outside could: a WAIT for a remote SIGNAL that comes later also raises it, so in
    an array the flag of one core is no error by itself); the core stays busy until
    ``rst``. ``overflow`` (sticky) rises after a cycle in which SIGNALs took a counter
    past ``2**COUNTER_BITS - 1`` (the counter wraps), running or not. A start clears both.
    docs/architecture.md, 7.5.

    ``noc`` holds the four NoC ports by name (:data:`rtl.spec.isa.NOC_PORTS`): ``anoc``,
    ``pnoc``, ``mnoc`` and ``inoc``. Each has ``o``, the flits the core sends, and ``i``,
    the flits it receives. The put ports ``anoc``, ``mnoc`` and ``inoc`` (SEND on T4, T6
    and T7) carry :func:`rtl.core.noc.core_flit_layout` (a mesh flit whose payload is a
    put: one MEM word, the receiver's address, ``signal``, ``ctr``, ``start`` and
    ``weight``: the MNoC's weight puts feed T0's WSTREAMs with ``noc`` instead of MEM);
    the PNoC, T1's link to its neighbours, carries partial-sum vectors
    (:func:`rtl.core.steps.pnoc_port_signature`). In Verilog the members join with
    ``__``: ``noc__anoc__o__valid``, ``noc__pnoc__i__payload``.

    Submodules: ``mem`` (:class:`UnifiedMemory`, requesters :data:`REQUESTERS`),
    ``loader`` (:class:`Loader`), ``counters`` (:class:`Counters`), ``thread0`` ...
    ``thread7`` (:class:`Thread`; no ``thread3`` and ``thread5`` without
    ``spare_threads``), ``vmm``, ``psb``, and the engines ``weights``
    (:class:`WeightEngine`, T0), ``steps`` (:class:`StepEngine`, T1), ``vector``
    (:class:`VectorEngine`, T2) and ``anoc``, ``mnoc``, ``inoc`` (:class:`NocEngine`, T4,
    T6, T7; T3 and T5 have no engine).

    Latency: see docs/architecture.md, "Microarchitecture and timing" (the cycle model
    :mod:`sw.golden.cycles` predicts every run's ``cycles`` and ``vmm_steps``).

    Parameters
    ----------
    config : CoreConfig
    rows, cols : int
        The size of the array the core sits in: the widths of its flits' coordinates.

    Members
    -------
    host : In(mem_port_signature(word_bytes))
    start : In(1)
    entry : In(24)
    busy : Out(1)
    cycles, vmm_steps : Out(32)
    conflict : Out(1)
    deadlock, overflow : Out(1)
    noc : Out(noc_signature(word_bytes, vmm_rows, rows, cols))
    """

    def __init__(self, config, *, rows=1, cols=1):
        self._config = config
        self._rows, self._cols = rows, cols
        super().__init__(core_signature(config, rows=rows, cols=cols))

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        word = cfg.mem_port_bits // 8
        rows = cfg.vmm_rows

        lat = cfg.mem_latency
        m.submodules.mem = mem = UnifiedMemory(word, cfg.sram_bank_bytes, cfg.sram_banks,
                                               REQUESTERS, PUTS, latency=lat,
                                               held=("host",))
        wiring.connect(m, host=wiring.flipped(self.host), mem=mem.host)

        # Loader, threads and counters.
        m.submodules.loader = loader = Loader(word, cfg.program_len, lat)
        m.submodules.counters = counters = Counters(engines=1 + len(PUT_PORTS))
        m.d.comb += [self.busy.eq(loader.busy), counters.clear.eq(loader.image)]
        wiring.connect(m, loader=loader.mem, mem=mem.loader)
        # The threads the core has (without spare threads, T3 and T5 are absent: their
        # loader ports write nowhere and never run, their counter ports stay 0).
        # Each thread's buffer holds its ``program_lens[t]`` instructions.
        threads = {}
        for t in cfg.threads:
            m.submodules[f"thread{t}"] = th = Thread(cfg.program_len, loader.slots,
                                                     depth=cfg.program_lens[t],
                                                     addr_bits=cfg.ag_bits)
            wiring.connect(m, loader=loader.threads[t], thread=th.control)
            wiring.connect(m, thread=th.counters, counters=counters.threads[t])
            threads[t] = th

        # Engines.
        m.submodules.vmm = vmm = VMM.from_config(cfg, clear=True)
        m.d.comb += vmm.clear.eq(loader.image)   # every image starts with no tile
        ag = cfg.ag_bits   # the points' addresses
        m.submodules.weights = wgt = WeightEngine(word, cfg.vmm_cols, lat, addr_bits=ag)
        m.submodules.steps = stp = StepEngine(word, rows, cfg.vmm_cols, cfg.psb_entries, lat,
                                              addr_bits=ag)
        m.submodules.vector = vec = VectorEngine(word, rows, cfg.psb_entries,
                                                 cfg.vbuf_entries, cfg.vcu_lanes,
                                                 cfg.afu_lanes, lat, cfg.unit_passes,
                                                 cfg.afu_table_reg, addr_bits=ag)
        engines = {0: wgt, 1: stp, 2: vec}
        wiring.connect(m, engine=stp.pnoc, port=wiring.flipped(self.noc.pnoc))
        for t, name in zip(PUT_THREADS, PUT_PORTS, strict=True):
            m.submodules[name] = engines[t] = eng = NocEngine(word, self._rows, self._cols,
                                                              starts=name == "inoc",
                                                              weights=name == "mnoc",
                                                              mem_latency=lat,
                                                              addr_bits=ag)
            wiring.connect(m, engine=eng.port, port=wiring.flipped(getattr(self.noc, name)))
            wiring.connect(m, engine=eng.put, mem=getattr(mem, f"{name}_put"))
            wiring.connect(m, engine=eng.signal,
                           counters=counters.engines[1 + PUT_PORTS.index(name)])
            # Puts wait while the loader reads a program image (its header included).
            m.d.comb += eng.hold.eq(loader.image | (loader.busy & ~loader.run))
        for t, th in threads.items():
            if t in engines:
                wiring.connect(m, thread=th.engine, engine=engines[t].thread)
            else:   # T3 and T5 have no engine
                m.d.comb += [th.engine.points.ready.eq(1), th.engine.idle.eq(1)]
        for t, name in zip(PUT_THREADS, PUT_PORTS, strict=True):
            wiring.connect(m, engine=engines[t].mem, mem=getattr(mem, name))
        wiring.connect(m, engine=wgt.mem, mem=mem.weights)
        wiring.connect(m, engine=wgt.mem_pair, mem=mem.weights_pair)
        wiring.connect(m, engine=stp.mem, mem=mem.steps)
        wiring.connect(m, engine=vec.mem, mem=mem.vector)
        wiring.connect(m, engine=vec.store, mem=mem.store)
        wiring.connect(m, engine=wgt.weights, vmm=vmm.weights)
        # The MNoC's weight puts go straight to T0 (WSTREAM with noc), not to MEM.
        wiring.connect(m, mnoc=engines[PUT_THREADS[PUT_PORTS.index("mnoc")]].weight,
                       engine=wgt.noc)
        wiring.connect(m, engine=stp.steps, vmm=vmm.steps)
        wiring.connect(m, vmm=vmm.results, engine=stp.results)
        wiring.connect(m, engine=stp.signal, counters=counters.engines[0])

        # Start: the host's, or the INoC's start put (written the cycle before, while the
        # core was idle: it wins over a host start in the same cycle).
        inoc = engines[PUT_THREADS[PUT_PORTS.index("inoc")]]
        m.d.comb += [loader.start.eq(self.start | inoc.launch),
                     loader.entry.eq(Mux(inoc.launch, inoc.entry, self.entry))]
        for t in PUT_THREADS:
            m.d.comb += engines[t].idle.eq(~loader.busy & ~loader.image & ~inoc.launch)

        # Partial-sum buffer: written by VMM results, read by T1 (partial sums) and T2.
        m.submodules.psb = psb = Memory(shape=psb_layout(rows), depth=cfg.psb_entries,
                                        init=[])
        wiring.connect(m, engine=stp.psb_write, psb=psb.write_port())
        wiring.connect(m, engine=stp.psb_read, psb=psb.read_port(transparent_for=()))
        wiring.connect(m, engine=vec.psb_read, psb=psb.read_port(transparent_for=()))

        # Deadlock: a cycle in which nothing moves. A thread is blocked on a WAIT not
        # granted, a point its engine does not take (the vector engine always goes on), or
        # waiting for its engine (DRAIN, or END) while it is not idle; nothing is in
        # flight: no point taken in the last ``mem_latency`` cycles (a read in flight), no
        # weight row or step into the VMM, no VMM result pending, no tile switch pending
        # (shadow full, active empty), the vector engine idle, no flit offered at a NoC
        # output or taken at an input, no put waiting to be written (in a cycle when all
        # else is still, a waiting put's bank is free: it is written, so it moves; its
        # ``en`` is looked at, not the ``ready`` decided against every other requester,
        # which would put the whole MEM arbitration on the flag's path), no put's SIGNAL
        # counted.
        blocked = [~th.control.running | (th.counters.wait & ~th.counters.grant)
                   | (th.engine.points.valid & ~th.engine.points.ready
                      & (engines.get(t) is not vec))
                   | (th.draining & ~th.engine.idle)
                   for t, th in threads.items()]
        took = Signal()   # a point taken in the last mem_latency cycles (a read in flight)
        taken = [Signal(name=f"took{k + 1}") for k in range(lat)]
        m.d.sync += taken[0].eq(Cat(th.engine.points.valid & th.engine.points.ready
                                    for th in threads.values()).any())
        m.d.sync += [later.eq(earlier) for earlier, later in zip(taken, taken[1:], strict=False)]
        m.d.comb += took.eq(Cat(taken).any())
        vmm_pending = Signal(range(VMM.latency + 2))
        m.d.sync += vmm_pending.eq(vmm_pending + (vmm.steps.valid & vmm.steps.ready)
                                   - vmm.results.valid)
        quiet = Signal()
        m.d.comb += quiet.eq(Cat(th.control.running for th in threads.values()).any()
                             & Cat(blocked).all()
                             & ~took & ~(vmm.weights.valid & vmm.weights.ready)
                             & ~(vmm.steps.valid & vmm.steps.ready) & (vmm_pending == 0)
                             & ~(~vmm.weights.ready & ~vmm.steps.ready) & vec.thread.idle
                             & ~Cat(engines[t].port.o.valid
                                    | (engines[t].port.i.valid & engines[t].port.i.ready)
                                    for t in PUT_THREADS).any()
                             & ~stp.pnoc.o.valid & ~(stp.pnoc.i.valid & stp.pnoc.i.ready)
                             & ~Cat(engines[t].put.en for t in PUT_THREADS).any()
                             & ~Cat(engines[t].signal.signal for t in PUT_THREADS).any())

        # Status: the run's cycles and VMM steps, MEM bank conflicts while busy, and the
        # sticky deadlock and counter overflow flags. The counters report an overflow a
        # cycle late (from registers): the flag shows it at once, ``overflow | seen``, and
        # holds it from the cycle after, so that the flag reads as if set at the SIGNALs'
        # cycle (a start in that cycle drops it, as it clears the flag).
        conflict, deadlock, overflow = Signal(), Signal(), Signal()
        launched = Signal()
        m.d.sync += launched.eq(loader.launch)
        # MEM's conflicts while busy: with mem_latency 2 MEM reports a conflict the cycle
        # after the meeting (from its registered requests), so the condition of the
        # meeting's cycle (busy, not a launch) is registered beside it, and the flag shows
        # it at once, ``conflict | met``: the same cycle as with mem_latency 1, where the
        # flag is a register set in the meeting's cycle.
        met = Signal()
        if lat == 1:
            m.d.comb += met.eq(0)
            met_now = mem.conflict & loader.busy
        else:
            gate = Signal()
            m.d.sync += gate.eq(loader.busy & ~loader.launch)
            m.d.comb += met.eq(mem.conflict & gate)
            met_now = met
        seen = Signal()
        m.d.comb += seen.eq(counters.overflow & ~launched)
        with m.If(loader.launch):
            m.d.sync += [self.cycles.eq(0), self.vmm_steps.eq(0), conflict.eq(0),
                         deadlock.eq(0), overflow.eq(0)]
        with m.Else():
            m.d.sync += conflict.eq(conflict | met_now)
            with m.If(loader.busy):
                m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(loader.busy & vmm.steps.valid & vmm.steps.ready):
                m.d.sync += self.vmm_steps.eq(self.vmm_steps + 1)
            with m.If(loader.run & quiet):
                m.d.sync += deadlock.eq(1)
            with m.If(seen):
                m.d.sync += overflow.eq(1)
        m.d.comb += [self.conflict.eq(conflict | met), self.deadlock.eq(deadlock),
                     self.overflow.eq(overflow | seen)]
        return m
