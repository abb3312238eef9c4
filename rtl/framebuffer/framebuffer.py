"""The framebuffer: on-chip memory at the array's edge and the engine that moves data
between it and the cores (docs/architecture.md, 11; golden model
``sw/golden/framebuffer.py``)."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..core.memory import mem_port_signature
from ..core.noc import core_flit_layout, put_layout
from ..spec.framebuffer import COMMAND_WORDS, FENCE_QUIET, FIELDS, FbError, FbOp
from ..spec.isa import ADDR_BITS, PUT_PORTS
from ..top.hostlink import MemPortSignature

__all__ = ["Framebuffer"]


class Framebuffer(wiring.Component):
    """``fb_bytes`` of memory in words of ``word_bytes`` and a command engine that copies
    words between it and the cores' MEMs (through their host ports), puts words into the
    cores' MEMs over the meshes (``put``, one stream per mesh, to each mesh's edge
    injection point, multicast to a rectangle of cores), waits for the meshes to drain
    (``noc_idle``), starts the cores and waits for them, as a command list in the memory
    directs (``rtl.spec.framebuffer``). It takes the puts the cores send it over the
    ANoC (``recv``, the mesh's edge ejection) while a run is in progress, into a
    register, and writes each at framebuffer word ``base + addr`` (``base``, the last
    START's ``fb``) in the next cycle in which a COPY_OUT does not write the memory
    (taking no other meanwhile), counting them for GATHER.

    The ``host`` port (the host link's) reaches the memory while no run is in progress; a
    ``start`` runs the command list at byte address ``entry``: ``busy`` from the next
    cycle until its END (or an error), then ``error`` (:class:`FbError`) and ``cycles``
    (the run's busy cycles) hold until the next run.

    Timing (the golden model's, cycle for cycle): each command is fetched and decoded in
    4 cycles (its two words read, the second registered, then the decode, from registers
    alone, after which START raises every core's ``start`` for a cycle, and in which END
    ends the run); a COPY_IN of ``n`` words then takes ``n + 1`` cycles (a word a cycle,
    each written to the core the cycle after its framebuffer read), a COPY_OUT ``n +
    latency`` (the core's MEM read latency), a PUT of ``n`` words one cycle (the first
    word read) and then one cycle per word offered (a word offered from the cycle after
    its read until the mesh takes it); a FENCE ends in the cycle that makes
    ``FENCE_QUIET`` cycles in a row with ``noc_idle`` high; a GATHER in its first cycle
    in which ``count`` received puts have been written (before that cycle); a WAIT ends
    in the first cycle in which the core has ended its ``count`` runs since the START and
    no core is busy (that cycle included). A core's bank ``conflict`` or counter
    ``overflow`` flag (sticky until reset) stops the run at the next decode with that
    error, and so does a received put beyond the memory (not written: BAD_PUT).

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
    cols : int or None
        The array's columns (``cores`` a whole number of rows of them); None: one row.

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
    put : Out(stream.Signature(core_flit_layout(word_bytes, rows, cols))).array(3)
        In :data:`rtl.spec.isa.PUT_PORTS` order.
    noc_idle : In(1)
    recv : In(stream.Signature(core_flit_layout(word_bytes, rows, cols)))
    """

    def __init__(self, fb_bytes, word_bytes, cores, mem_bytes, mem_latency=1, *, cols=None):
        for name, v, low in (("fb_bytes", fb_bytes, 2 * word_bytes),
                             ("word_bytes", word_bytes, 8)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low or v & (v - 1):
                raise ValueError(f"{name} must be a power of two of at least {low}, not {v!r}")
        if isinstance(cores, bool) or not isinstance(cores, int) or not 1 <= cores <= 4096:
            raise ValueError(f"cores must be an integer from 1 to 4096, not {cores!r}")
        if mem_latency not in (1, 2) or isinstance(mem_latency, bool):
            raise ValueError(f"mem_latency must be 1 or 2, not {mem_latency!r}")
        cols = cores if cols is None else cols
        if isinstance(cols, bool) or not isinstance(cols, int) or cols < 1 or cores % cols:
            raise ValueError(f"cols must be a positive integer dividing cores ({cores}), "
                             f"not {cols!r}")
        self._p = (fb_bytes, word_bytes, cores, mem_bytes, mem_latency)
        self._rows, self._cols = cores // cols, cols
        flits = stream.Signature(core_flit_layout(word_bytes, cores // cols, cols))
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
            "put":           Out(flits).array(len(PUT_PORTS)),
            "noc_idle":      In(1),
            "recv":          In(flits),
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
        # A put received from the ANoC: taken into a register (its target word, data and
        # range check), written from there in the next cycle in which the engine does not
        # write (so the mesh's flit meets only the check and the register, not the memory
        # and the count). Nothing is taken while a held put waits on an engine write.
        base = Signal(32)          # the START's ``fb``: where the received puts land
        room = Signal(33, init=words)   # words from ``base`` to the memory's end (or 0)
        received = Signal(32)      # puts written since the START
        bad_put = Signal()         # a put beyond the memory was received in this run
        r_put = put_layout(word_bytes)(core_flit_layout(
            word_bytes, self._rows, self._cols)(self.recv.payload).payload)
        h_valid, h_ok = Signal(), Signal()          # a held put; within the memory
        h_target, h_data = Signal(aw), Signal(8 * word_bytes)
        e_write = e_en & e_we
        drain = h_valid & ~e_write                  # the held put leaves this cycle
        r_take = Signal()
        # (``r_put.addr < room`` is ``base + r_put.addr < words`` with no adder before
        # the comparison.)
        m.d.comb += [self.recv.ready.eq(busy & (~h_valid | ~e_write)),
                     r_take.eq(self.recv.valid & self.recv.ready)]
        with m.If(r_take):
            m.d.sync += [h_valid.eq(1), h_ok.eq(r_put.addr < room),
                         h_target.eq(base + r_put.addr), h_data.eq(r_put.data)]
        with m.Elif(drain):
            m.d.sync += h_valid.eq(0)
        with m.If(drain & h_ok):
            m.d.sync += received.eq(received + 1)
        with m.If(drain & ~h_ok):
            m.d.sync += bad_put.eq(1)
        with m.If(busy | h_valid):
            # (A put held as the run ends is written in the next cycle, before the host
            # link can reach the memory.)
            m.d.comb += [rp.addr.eq(e_addr), rp.en.eq(e_en & ~e_we),
                         wp.addr.eq(Mux(drain, h_target, e_addr)),
                         wp.data.eq(Mux(drain, h_data, e_wdata)),
                         wp.en.eq(Mux(e_write | (drain & h_ok), -1, 0))]
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
        a = Signal(64)             # the command's first word
        b = Signal(64)             # its second (the decode reads both from registers)
        op, core, count = Signal(4), Signal(12), Signal(24)
        fb, maddr = Signal(32), Signal(24)
        net = Signal(2)
        rect = {name: Signal(6, name=name) for name in ("x0", "x1", "y0", "y1")}
        quiet = Signal(range(FENCE_QUIET + 1))
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
        # START reaches the cores a cycle after its decode, from registers (nothing of the
        # command's decode is on a path into the cores).
        m.d.sync += self.core_start.eq(0)

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
                                 cycles.eq(0), flags.eq(0), bad_put.eq(0)]
                    m.next = "F0"
            with m.State("F0"):
                m.d.comb += [e_addr.eq(pc), e_en.eq(1)]
                m.next = "F1"
            with m.State("F1"):
                m.d.sync += a.eq(rp.data[:64])
                m.d.comb += [e_addr.eq(pc + 1), e_en.eq(1)]
                m.next = "F2"
            with m.State("F2"):
                m.d.sync += b.eq(rp.data[:64])
                m.next = "DEC"
            with m.State("DEC"):
                d_op, d_core, d_count = field(a, "op"), field(a, "core"), field(a, "count")
                d_fb, d_mem = field(b, "fb"), field(b, "mem")
                d_net = field(b, "net")
                d_rect = {name: field(a, name) for name in rect}
                m.d.sync += [op.eq(d_op), core.eq(d_core), count.eq(d_count), fb.eq(d_fb),
                             maddr.eq(d_mem), i.eq(0), runs.eq(0), quiet.eq(0),
                             sel.eq(d_core[:len(sel)]), net.eq(d_net),
                             pc.eq(pc + COMMAND_WORDS)]
                m.d.sync += [rect[name].eq(d_rect[name]) for name in rect]
                copy = (d_op == FbOp.COPY_IN) | (d_op == FbOp.COPY_OUT)
                put = d_op == FbOp.PUT
                outside = ((d_rect["x0"] > d_rect["x1"]) | (d_rect["x1"] >= self._cols) |
                           (d_rect["y0"] > d_rect["y1"]) | (d_rect["y1"] >= self._rows))
                with m.If(misaligned | (pc + COMMAND_WORDS > words)):
                    stop(FbError.BAD_FB)
                with m.Elif(flags[0]):
                    stop(FbError.CONFLICT)
                with m.Elif(flags[1]):
                    stop(FbError.OVERFLOW)
                with m.Elif(bad_put):
                    stop(FbError.BAD_PUT)
                with m.Elif(d_op == FbOp.END):
                    stop(FbError.NONE)
                with m.Elif((d_op > FbOp.GATHER) | (put & (d_net >= len(PUT_PORTS)))):
                    stop(FbError.BAD_OP)
                with m.Elif((copy | (d_op == FbOp.WAIT)) & (d_core >= cores)):
                    stop(FbError.BAD_CORE)
                with m.Elif(put & outside):
                    stop(FbError.BAD_CORE)
                with m.Elif((copy | put) & (d_fb + d_count > words)):
                    stop(FbError.BAD_FB)
                with m.Elif((copy | put | (d_op == FbOp.START)) &
                            ((d_mem[:shift] != 0) |
                             ((d_mem >> shift) + Mux(copy | put, d_count, 1) >
                              mem_bytes // word_bytes))):
                    stop(FbError.BAD_MEM)
                with m.Elif(d_op == FbOp.START):
                    m.d.sync += [self.core_start.eq(1), self.core_entry.eq(d_mem)]
                    m.d.sync += [base.eq(d_fb), received.eq(0),
                                 room.eq(Mux(d_fb < words, words - d_fb, 0))]
                    m.next = "F0"
                with m.Elif(d_op == FbOp.GATHER):
                    m.next = "GATHER"
                with m.Elif(d_op == FbOp.WAIT):
                    m.next = "WAIT"
                with m.Elif(d_op == FbOp.COPY_IN):
                    m.next = "CIN"
                with m.Elif(put):
                    m.next = "PREAD"
                with m.Elif(d_op == FbOp.FENCE):
                    m.next = "FENCE"
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
            with m.State("PREAD"):
                # the first word's read
                m.d.comb += [e_addr.eq(fb), e_en.eq(count != 0)]
                with m.If(count == 0):
                    m.next = "F0"
                with m.Else():
                    m.next = "POFFER"
            with m.State("POFFER"):
                # word i offered on mesh ``net`` until taken; then word i + 1 read
                flit = Signal(core_flit_layout(word_bytes, self._rows, self._cols))
                payload = put_layout(word_bytes)(flit.payload)
                m.d.comb += [payload.data.eq(rp.data),
                             payload.addr.eq((maddr >> shift) + i),
                             flit.dest.x0.eq(rect["x0"]), flit.dest.x1.eq(rect["x1"]),
                             flit.dest.y0.eq(rect["y0"]), flit.dest.y1.eq(rect["y1"]),
                             flit.last.eq(1)]
                taken = Signal()
                for j, port in enumerate(self.put):
                    m.d.comb += port.payload.eq(flit)
                    with m.If(net == j):
                        m.d.comb += [port.valid.eq(1), taken.eq(port.ready)]
                with m.If(taken):
                    m.d.sync += i.eq(i + 1)
                    with m.If(i + 1 == count):
                        m.next = "F0"
                    with m.Else():
                        m.d.comb += [e_addr.eq(fb + i + 1), e_en.eq(1)]
            with m.State("GATHER"):
                with m.If(received >= count):
                    m.next = "F0"
            with m.State("FENCE"):
                seen = Mux(self.noc_idle, quiet + 1, 0)
                m.d.sync += quiet.eq(seen)
                with m.If(seen == FENCE_QUIET):
                    m.next = "F0"
            with m.State("WAIT"):
                fall = (prev_busy >> sel)[0] & ~(busy_now >> sel)[0]
                seen = runs + fall
                m.d.sync += runs.eq(seen)
                with m.If((seen >= count) & ~busy_now.any()):
                    m.next = "F0"
        return m
