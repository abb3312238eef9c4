"""The core tile: unified memory, eight threads with their engines, the VMM, the
partial-sum buffer, the vector and activation units, and four NoC ports."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.isa import COUNTER_BITS, COUNTERS, INSTR_BITS, NOC_PORTS, NOC_THREADS, THREADS
from ..vmm import VMM
from .engines import NocEngine, StepEngine, VectorEngine, WeightEngine, flit_layout
from .memory import UnifiedMemory, mem_port_signature
from .thread import Thread

__all__ = ["Core"]


class Core(wiring.Component):
    """A core of a :class:`rtl.spec.config.CoreConfig` (docs/architecture.md, section "Core").

    ``start`` (one cycle, with ``entry``, the program image's byte address) loads the
    threads' programs from MEM and runs them; ``busy`` stays high until every thread has
    ended. While the core is not busy the ``host`` port reads and writes MEM.

    ``cycles`` counts the cycles of the last run (program load included); ``vmm_steps``
    counts the VMM steps it accepted (its busy cycles). ``conflict`` is sticky: two
    accesses met in one MEM bank in one cycle.

    ``deadlock`` (sticky) rises after a cycle of a run in which nothing moved: every
    running thread blocked (a WAIT not granted, a stream point not accepted, an engine
    not idle after its stream) and nothing in flight in an engine or the VMM. Nothing
    inside the core can then ever move again (only a NoC port's handshake from outside
    could: a RECV waiting for a flit that comes later also raises it); the core stays
    busy until ``rst``. ``overflow`` (sticky) rises after a cycle in which SIGNALs took a
    counter past ``2**COUNTER_BITS - 1`` (the counter wraps). A start clears both.
    docs/architecture.md, 7.5.

    Members
    -------
    host : In(mem_port_signature(word_bytes))
    start : In(1)
    entry : In(24)
    busy : Out(1)
    cycles, vmm_steps : Out(32)
    conflict : Out(1)
    deadlock, overflow : Out(1)
    anoc_o, pnoc_o, mnoc_o, inoc_o : Out(stream.Signature(flit_layout(word_bytes)))
    anoc_i, pnoc_i, mnoc_i, inoc_i : In(stream.Signature(flit_layout(word_bytes)))
    """

    def __init__(self, config):
        self._config = config
        word = config.mem_port_bits // 8
        members = {
            "host":      In(mem_port_signature(word)),
            "start":     In(1),
            "entry":     In(24),
            "busy":      Out(1),
            "cycles":    Out(32),
            "vmm_steps": Out(32),
            "conflict":  Out(1),
            "deadlock":  Out(1),
            "overflow":  Out(1),
        }
        for name in NOC_PORTS:
            members[f"{name}_o"] = Out(stream.Signature(flit_layout(word)))
            members[f"{name}_i"] = In(stream.Signature(flit_layout(word)))
        super().__init__(members)

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        word = cfg.mem_port_bits // 8
        rows = cfg.vmm_rows

        # Memory ports: 0 host, 1 loader, 2 T0, 3 T1, 4 T2, 5..8 T4..T7.
        m.submodules.mem = mem = UnifiedMemory(word, cfg.sram_bank_bytes, cfg.sram_banks, 9)
        wiring.connect(m, host=wiring.flipped(self.host), mem=mem.port(0))
        conflict = Signal()
        m.d.sync += conflict.eq(conflict | (mem.conflict & self.busy))
        m.d.comb += self.conflict.eq(conflict)

        threads = []
        for t in range(THREADS):
            th = Thread(cfg.program_len)
            m.submodules[f"thread{t}"] = th
            threads.append(th)

        # Engines.
        m.submodules.vmm = vmm = VMM.from_config(cfg, clear=True)
        m.d.comb += vmm.clear.eq(self.start & ~self.busy)   # every run starts with no tile
        m.submodules.wgt = wgt = WeightEngine(word, cfg.vmm_cols)
        m.submodules.stp = stp = StepEngine(word, rows, cfg.vmm_cols, cfg.psb_entries)
        m.submodules.vec = vec = VectorEngine(word, rows, cfg.psb_entries, cfg.vbuf_entries,
                                              cfg.vcu_lanes, cfg.afu_lanes)
        nocs = []
        for name in NOC_PORTS:
            eng = NocEngine(word)
            m.submodules[f"noc_{name}"] = eng
            nocs.append(eng)
            wiring.connect(m, engine=eng.o, port=wiring.flipped(getattr(self, f"{name}_o")))
            wiring.connect(m, engine=eng.i, port=wiring.flipped(getattr(self, f"{name}_i")))
        engines = {0: wgt, 1: stp, 2: vec, **dict(zip(NOC_THREADS, nocs, strict=True))}
        for t, th in enumerate(threads):
            if t in engines:
                wiring.connect(m, thread=th.points, engine=engines[t].points)
                m.d.comb += th.engine_idle.eq(engines[t].idle)
            else:
                m.d.comb += [th.points.ready.eq(1), th.engine_idle.eq(1)]
        wiring.connect(m, engine=wgt.weights, vmm=vmm.weights)
        wiring.connect(m, engine=stp.steps, vmm=vmm.steps)
        wiring.connect(m, vmm=vmm.results, engine=stp.results)
        wiring.connect(m, engine=wgt.mem, mem=mem.port(2))
        wiring.connect(m, engine=stp.mem, mem=mem.port(3))
        wiring.connect(m, engine=vec.mem, mem=mem.port(4))
        for k, eng in enumerate(nocs):
            wiring.connect(m, engine=eng.mem, mem=mem.port(5 + k))

        # Partial-sum buffer: written by VMM results, read by T1 (partial sums) and T2.
        m.submodules.psb = psb = Memory(shape=32 * rows, depth=cfg.psb_entries, init=[])
        psb_w = psb.write_port()
        psb_r1 = psb.read_port(transparent_for=())
        psb_r2 = psb.read_port(transparent_for=())
        m.d.comb += [psb_w.en.eq(stp.psb_wen), psb_w.addr.eq(stp.psb_waddr),
                     psb_w.data.eq(stp.psb_wdata),
                     psb_r1.addr.eq(stp.psb_raddr), stp.psb_rdata.eq(psb_r1.data),
                     psb_r2.addr.eq(vec.psb_raddr), vec.psb_rdata.eq(psb_r2.data)]

        # Counters: SIGNALs add; of the threads waiting on a positive counter, the
        # lowest-numbered is granted. The grants are formed side by side (a thread is
        # blocked by a lower-numbered thread waiting on the same counter), not as a
        # priority chain through the threads.
        counters = [Signal(COUNTER_BITS, name=f"counter{c}") for c in range(COUNTERS)]
        positive = [Signal(name=f"positive{c}") for c in range(COUNTERS)]
        m.d.comb += [positive[c].eq(counters[c] != 0) for c in range(COUNTERS)]
        for t, th in enumerate(threads):
            blocked = Cat(lower.wait_valid & (lower.wait_ctr == th.wait_ctr)
                          for lower in threads[:t]).any() if t else C(0, 1)
            m.d.comb += th.wait_grant.eq(th.wait_valid & Array(positive)[th.wait_ctr]
                                         & ~blocked)
        # A counter that would pass 2**COUNTER_BITS - 1 wraps and sets `overflow`.
        overflows = []
        for c in range(COUNTERS):
            incs = [th.signal_valid & (th.signal_ctr == c) for th in threads]
            inc = Signal(4, name=f"inc{c}")
            m.d.comb += inc.eq(sum(incs))
            granted = positive[c] & Cat(th.wait_valid & (th.wait_ctr == c)
                                        for th in threads).any()
            total = Signal(COUNTER_BITS + 4, name=f"total{c}")
            m.d.comb += total.eq(counters[c] + inc - granted)
            overflows.append(total[COUNTER_BITS:].any())
            with m.If(self.start & ~self.busy):   # every counter starts a run at 0
                m.d.sync += counters[c].eq(0)
            with m.Else():
                m.d.sync += counters[c].eq(total[:COUNTER_BITS])

        # Deadlock: a cycle in which nothing moves. A thread is blocked on a WAIT not
        # granted, a point its engine does not take (T2's engine always goes on), or in
        # DRAIN (no point offered, its engine not idle: in RUN an engine is always idle);
        # nothing is in flight: no point taken the cycle before (a read in flight), no
        # weight row or step into the VMM, no VMM result pending, no tile switch pending
        # (shadow full, active empty), the vector engine idle, no flit out of a NoC port.
        blocked = [~th.running | (th.wait_valid & ~th.wait_grant)
                   | (th.points.valid & ~th.points.ready & (engines.get(t) is not vec))
                   | (~th.points.valid & ~th.engine_idle)
                   for t, th in enumerate(threads)]
        took = Signal()
        m.d.sync += took.eq(Cat(th.points.valid & th.points.ready for th in threads).any())
        vmm_pending = Signal(range(VMM.latency + 2))
        m.d.sync += vmm_pending.eq(vmm_pending + (vmm.steps.valid & vmm.steps.ready)
                                   - vmm.results.valid)
        quiet = Signal()
        m.d.comb += quiet.eq(Cat(th.running for th in threads).any() & Cat(blocked).all()
                             & ~took & ~(vmm.weights.valid & vmm.weights.ready)
                             & ~(vmm.steps.valid & vmm.steps.ready) & (vmm_pending == 0)
                             & ~(~vmm.weights.ready & ~vmm.steps.ready) & vec.idle
                             & ~Cat(eng.o.valid & eng.o.ready for eng in nocs).any())
        deadlock, overflow = Signal(), Signal()
        m.d.comb += [self.deadlock.eq(deadlock), self.overflow.eq(overflow)]

        # Loader: header word, then each thread's instructions, one every two cycles.
        lp = mem.port(1)
        lengths = Signal(8 * THREADS)
        ptr = Signal(24)
        t_cur = Signal(range(THREADS + 1))
        n_cur = Signal(8)
        cur_len = Array(lengths[8 * t:8 * t + 8] for t in range(THREADS))[t_cur]
        slots = 8 * word // INSTR_BITS
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [ptr.eq(self.entry + word), t_cur.eq(0), n_cur.eq(0),
                                 self.cycles.eq(0), self.vmm_steps.eq(0),
                                 conflict.eq(0), deadlock.eq(0), overflow.eq(0)]
                    m.d.comb += [lp.en.eq(1), lp.addr.eq(self.entry)]
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [lengths.eq(lp.rdata[:8 * THREADS]), self.cycles.eq(self.cycles + 1)]
                m.next = "NEXT"
            with m.State("NEXT"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += self.cycles.eq(self.cycles + 1)
                with m.If(t_cur == THREADS):  # start the threads that have a program
                    m.d.comb += [th.start.eq(lengths[8 * t:8 * t + 8] != 0)
                                 for t, th in enumerate(threads)]
                    m.next = "RUN"
                with m.Elif(n_cur == cur_len):
                    m.d.sync += [t_cur.eq(t_cur + 1), n_cur.eq(0)]
                with m.Else():
                    m.d.comb += [lp.en.eq(1), lp.addr.eq(ptr)]
                    m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += self.cycles.eq(self.cycles + 1)
                slot = ptr[3:3 + max((slots - 1).bit_length(), 1)] if slots > 1 else C(0, 1)
                instr = Array(lp.rdata[INSTR_BITS * k:INSTR_BITS * (k + 1)]
                              for k in range(slots))[slot]
                for t, th in enumerate(threads):
                    with m.If(t_cur == t):
                        m.d.comb += [th.prog_we.eq(1), th.prog_addr.eq(n_cur),
                                     th.prog_data.eq(instr)]
                m.d.sync += [ptr.eq(ptr + 8), n_cur.eq(n_cur + 1)]
                m.next = "NEXT"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += self.cycles.eq(self.cycles + 1)
                with m.If(vmm.steps.valid & vmm.steps.ready):
                    m.d.sync += self.vmm_steps.eq(self.vmm_steps + 1)
                with m.If(quiet):
                    m.d.sync += deadlock.eq(1)
                with m.If(Cat(overflows).any()):
                    m.d.sync += overflow.eq(1)
                with m.If(~Cat(th.running for th in threads).any() & (self.cycles != 0)):
                    m.next = "IDLE"
        return m
