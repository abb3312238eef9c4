"""The framebuffer: on-chip memory at the array's edge and the engine that moves data
between it and the cores (docs/architecture.md, 11; golden model
``sw/golden/framebuffer.py``)."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..core.memory import mem_port_signature
from ..spec.framebuffer import COMMAND_WORDS, FIELDS, FbError, FbOp
from ..spec.isa import ADDR_BITS
from ..top.hostlink import MemPortSignature

__all__ = ["Framebuffer"]


class Framebuffer(wiring.Component):
    """``fb_bytes`` of memory in words of ``word_bytes`` and a command engine that copies
    words between it and the cores' MEMs (through their host ports), starts the cores
    and waits for them, as a command list in the memory directs (``rtl.spec.framebuffer``).

    The ``host`` port (the host link's) reaches the memory while no run is in progress; a
    ``start`` runs the command list at byte address ``entry``: ``busy`` from the next
    cycle until its END (or an error), then ``error`` (:class:`FbError`) and ``cycles``
    (the run's busy cycles) hold until the next run.

    Timing (the golden model's, cycle for cycle): each command is fetched and decoded in
    3 cycles (its two words read, then the decode, in which START raises every core's
    ``start`` and END ends the run); a COPY_IN of ``n`` words then takes ``n + 1`` cycles
    (a word a cycle, each written to the core the cycle after its framebuffer read), a
    COPY_OUT ``n + latency`` (the core's MEM read latency); a WAIT ends in the first
    cycle in which the core has ended its ``count`` runs since the START and no core is
    busy (that cycle included). A core's bank ``conflict`` or counter ``overflow`` flag
    (sticky until reset) stops the run at the next decode with that error.

    Parameters
    ----------
    fb_bytes : int
        Memory size, a power of two, at least two words.
    word_bytes : int
        The cores' MEM word (and the framebuffer's), a power of two, at least 8.
    cores : int
        Cores of the array.
    mem_bytes : int
        A core's MEM size.
    mem_latency : int
        A core's host-port read latency (1 or 2).

    Members
    -------
    host : In(MemPortSignature(log2(fb_bytes / word_bytes), word_bytes))
    start : In(1)
    entry : In(32)
    busy : Out(1)
    error : Out(8)
    cycles : Out(32)
    core_mem : Out(mem_port_signature(word_bytes)).array(cores)
    core_start : Out(1)
    core_entry : Out(ADDR_BITS)
    core_busy, core_conflict, core_overflow : In(1).array(cores)
    """

    def __init__(self, fb_bytes, word_bytes, cores, mem_bytes, mem_latency=1):
        for name, v, low in (("fb_bytes", fb_bytes, 2 * word_bytes),
                             ("word_bytes", word_bytes, 8)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low or v & (v - 1):
                raise ValueError(f"{name} must be a power of two of at least {low}, not {v!r}")
        if isinstance(cores, bool) or not isinstance(cores, int) or not 1 <= cores <= 4096:
            raise ValueError(f"cores must be an integer from 1 to 4096, not {cores!r}")
        if mem_latency not in (1, 2) or isinstance(mem_latency, bool):
            raise ValueError(f"mem_latency must be 1 or 2, not {mem_latency!r}")
        self._p = (fb_bytes, word_bytes, cores, mem_bytes, mem_latency)
        super().__init__({
            "host":          In(MemPortSignature(exact_log2(fb_bytes // word_bytes),
                                                 word_bytes)),
            "start":         In(1),
            "entry":         In(32),
            "busy":          Out(1),
            "error":         Out(8),
            "cycles":        Out(32),
            "core_mem":      Out(mem_port_signature(word_bytes)).array(cores),
            "core_start":    Out(1),
            "core_entry":    Out(ADDR_BITS),
            "core_busy":     In(1).array(cores),
            "core_conflict": In(1).array(cores),
            "core_overflow": In(1).array(cores),
        })

    def elaborate(self, platform):
        m = Module()
        fb_bytes, word_bytes, cores, mem_bytes, latency = self._p
        words = fb_bytes // word_bytes
        aw = exact_log2(words)
        shift = exact_log2(word_bytes)
        m.submodules.mem = mem = Memory(shape=8 * word_bytes, depth=words, init=[])
        wp = mem.write_port(granularity=8)
        rp = mem.read_port()

        # The engine's side of the memory (the host's while idle).
        e_addr, e_en, e_we, e_wdata = Signal(aw), Signal(), Signal(), Signal(8 * word_bytes)
        busy = self.busy
        with m.If(busy):
            m.d.comb += [rp.addr.eq(e_addr), rp.en.eq(e_en & ~e_we), wp.addr.eq(e_addr),
                         wp.data.eq(e_wdata), wp.en.eq(Mux(e_en & e_we, -1, 0))]
        with m.Else():
            h = self.host
            m.d.comb += [rp.addr.eq(h.addr), rp.en.eq(h.en & ~h.we), wp.addr.eq(h.addr),
                         wp.data.eq(h.wdata), wp.en.eq(Mux(h.en & h.we, h.mask, 0))]
        m.d.comb += self.host.rdata.eq(rp.data)

        def field(word, name):
            _, low, width = FIELDS[name]
            return word[low:low + width]

        pc = Signal(33)            # the command's word address (beyond the memory: BAD_FB)
        misaligned = Signal()      # the entry is not a word's address
        a = Signal(64)             # the command's first field
        op, core, count = Signal(4), Signal(12), Signal(24)
        fb, maddr = Signal(32), Signal(24)
        i = Signal(25)             # words issued
        runs = Signal(24)          # the WAIT core's runs ended since the START
        cycles = Signal(32)
        prev_busy = Signal(cores)
        busy_now = Cat(*self.core_busy)
        m.d.sync += prev_busy.eq(busy_now)
        flags = Signal(2)          # conflict, overflow seen during the run
        m.d.sync += flags.eq(flags | Cat(Cat(*self.core_conflict).any(),
                                         Cat(*self.core_overflow).any()))

        # The selected core's port (COPY_IN and COPY_OUT).
        sel = Signal(range(max(cores, 2)))
        c_en, c_we, c_addr, c_wdata = Signal(), Signal(), Signal(24), Signal(8 * word_bytes)
        for k in range(cores):
            port = self.core_mem[k]
            m.d.comb += [port.en.eq(c_en & (sel == k)), port.we.eq(c_we), port.addr.eq(c_addr),
                         port.wdata.eq(c_wdata), port.mask.eq(-1)]
        c_rdata = Signal(8 * word_bytes)
        with m.Switch(sel):
            for k in range(cores):
                with m.Case(k):
                    m.d.comb += c_rdata.eq(self.core_mem[k].rdata)
        m.d.comb += self.core_entry.eq(maddr)

        # COPY_OUT's reads in flight: a valid bit and a framebuffer address per stage.
        in_flight = [(Signal(name=f"out_valid{s}"), Signal(aw, name=f"out_addr{s}"))
                     for s in range(latency)]
        for s in range(latency):
            v, ad = in_flight[s]
            if s:
                pv, pa = in_flight[s - 1]
                m.d.sync += [v.eq(pv), ad.eq(pa)]
        last_valid, last_addr = in_flight[-1]

        def stop(error):
            m.d.sync += [busy.eq(0), self.error.eq(error), self.cycles.eq(cycles + 1)]
            m.next = "IDLE"

        with m.If(busy):
            m.d.sync += cycles.eq(cycles + 1)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [busy.eq(1), pc.eq(self.entry[shift:]),
                                 misaligned.eq(self.entry[:shift] != 0),
                                 cycles.eq(0), flags.eq(0)]
                    m.next = "F0"
            with m.State("F0"):
                m.d.comb += [e_addr.eq(pc), e_en.eq(1)]
                m.next = "F1"
            with m.State("F1"):
                m.d.sync += a.eq(rp.data[:64])
                m.d.comb += [e_addr.eq(pc + 1), e_en.eq(1)]
                m.next = "DEC"
            with m.State("DEC"):
                bb = rp.data[:64]
                d_op, d_core, d_count = field(a, "op"), field(a, "core"), field(a, "count")
                d_fb, d_mem = field(bb, "fb"), field(bb, "mem")
                m.d.sync += [op.eq(d_op), core.eq(d_core), count.eq(d_count), fb.eq(d_fb),
                             maddr.eq(d_mem), i.eq(0), runs.eq(0),
                             sel.eq(d_core[:len(sel)]),
                             pc.eq(pc + COMMAND_WORDS)]
                copy = (d_op == FbOp.COPY_IN) | (d_op == FbOp.COPY_OUT)
                with m.If(misaligned | (pc + COMMAND_WORDS > words)):
                    stop(FbError.BAD_FB)
                with m.Elif(flags[0]):
                    stop(FbError.CONFLICT)
                with m.Elif(flags[1]):
                    stop(FbError.OVERFLOW)
                with m.Elif(d_op == FbOp.END):
                    stop(FbError.NONE)
                with m.Elif(d_op > FbOp.WAIT):
                    stop(FbError.BAD_OP)
                with m.Elif((copy | (d_op == FbOp.WAIT)) & (d_core >= cores)):
                    stop(FbError.BAD_CORE)
                with m.Elif(copy & (d_fb + d_count > words)):
                    stop(FbError.BAD_FB)
                with m.Elif((copy | (d_op == FbOp.START)) &
                            ((d_mem[:shift] != 0) |
                             ((d_mem >> shift) + Mux(copy, d_count, 1) > mem_bytes // word_bytes))):
                    stop(FbError.BAD_MEM)
                with m.Elif(d_op == FbOp.START):
                    m.d.comb += [self.core_start.eq(1), self.core_entry.eq(d_mem)]
                    m.next = "F0"
                with m.Elif(d_op == FbOp.WAIT):
                    m.next = "WAIT"
                with m.Elif(d_op == FbOp.COPY_IN):
                    m.next = "CIN"
                with m.Else():
                    m.next = "COUT"
            with m.State("CIN"):
                # framebuffer read i (while i < count), core write i - 1 (from i = 1)
                m.d.comb += [e_addr.eq(fb + i), e_en.eq(i < count),
                             c_en.eq(i != 0), c_we.eq(1),
                             c_addr.eq(maddr + ((i - 1) << shift)[:24]), c_wdata.eq(rp.data)]
                m.d.sync += i.eq(i + 1)
                with m.If(i == count):
                    m.next = "F0"
            with m.State("COUT"):
                # core read i (while i < count); its data written to the framebuffer
                # ``latency`` cycles later
                issue = i < count
                m.d.comb += [c_en.eq(issue), c_we.eq(0), c_addr.eq(maddr + (i << shift)[:24])]
                m.d.sync += i.eq(i + 1)
                with m.If(i == count + latency - 1):
                    m.next = "F0"
                v0, a0 = in_flight[0]
                m.d.sync += [v0.eq(issue), a0.eq(fb + i)]
                m.d.comb += [e_addr.eq(last_addr), e_en.eq(last_valid), e_we.eq(1),
                             e_wdata.eq(c_rdata)]
            with m.State("WAIT"):
                fall = (prev_busy >> sel)[0] & ~(busy_now >> sel)[0]
                seen = runs + fall
                m.d.sync += runs.eq(seen)
                with m.If((seen >= count) & ~busy_now.any()):
                    m.next = "F0"
        return m
