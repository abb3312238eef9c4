"""Thread sequencer: one hardware thread's program buffer, loops, counters and address
generators, and the signatures through which the loader, the counters and an engine see a
thread."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.isa import ADDR_BITS, AG_DIMS, AGS, FORMATS, INDEX_BITS, LOOP_DEPTH, Op, \
    instr_layout
from .counters import counter_signature

# The generator a control instruction names is in the same bits as a stream's source
# generator ``s`` (``instr.f.stream.s``): one read port of the bases serves both.
assert all(FORMATS[op][0][:2] == ("g", 2) for op in (Op.AGBASE, Op.AGDIM, Op.AGADD))

# A point's index (:func:`point_layout`) counts up to ``2**INDEX_BITS - 1`` and stays
# there. The engines look at it only as "past the first ``zero``" (SSTREAM's 16-bit field)
# and a VLOAD's VBUF offset (below ``vbuf_entries``, at most ``2**INDEX_BITS``; "the first
# point" is the ``first`` flag): exact for a stream of any length.

__all__ = ["point_layout", "ahead_layout", "engine_signature", "write_signature",
           "control_signature", "write_ports", "Thread"]


def point_layout(addr_bits=ADDR_BITS):
    """One point of a stream instruction: the source and destination addresses (their low
    ``addr_bits`` bits), the point's index within the instruction (saturating at
    ``2**INDEX_BITS - 1``), whether it is the first (index 0: a register of its own, so
    that no comparison of the index is on the engines' paths) and the last, and the
    instruction."""
    return data.StructLayout({
        "src":   addr_bits,
        "dst":   addr_bits,
        "index": INDEX_BITS,
        "first": 1,
        "last":  1,
        "instr": instr_layout(),
    })


def ahead_layout(addr_bits=ADDR_BITS):
    """What a thread tells its engine a cycle ahead about the destination of the next
    point it offers: ``next_dst``, that of the point after the one offered now (if this
    one is taken and is not the last), and with ``start`` (a stream instruction starts
    this cycle; its first point is offered from the next) ``first_dst``, that of the
    stream's first point. (T1's engine searches its awaited PSB entries for the next
    point's a cycle ahead: docs/fpga.md.)"""
    return data.StructLayout({"start": 1, "first_dst": addr_bits, "next_dst": addr_bits})


def engine_signature(addr_bits=ADDR_BITS):
    """A thread's link to its engine, seen from the thread: the stream instruction's
    ``points``, ``ahead`` (:func:`ahead_layout`), and ``idle``: nothing the engine
    accepted is still in flight. Addresses are ``addr_bits`` wide (the thread's
    generators')."""
    return wiring.Signature({
        "points": Out(stream.Signature(point_layout(addr_bits))),
        "ahead":  Out(ahead_layout(addr_bits)),
        "idle":   In(1),
    })


def write_signature(program_len):
    """One write port into a thread's program buffer, seen from the loader."""
    return wiring.Signature({
        "en":   Out(1),
        "addr": Out((program_len - 1).bit_length()),
        "data": Out(instr_layout()),
    })


def control_signature(program_len, slots=1):
    """The loader's link to a thread, seen from the loader: ``slots`` write ports into
    the thread's program buffer (``write0``, ``write1``, ...: ``en``, ``addr``, ``data``;
    the loader writes up to a MEM word of instructions a cycle, each to a different
    address; :func:`write_ports` lists them), ``start`` (a one-cycle pulse that starts
    the program at instruction 0), ``running``, and ``next`` (one cycle: the thread
    executes NEXT, naming the program image ``next_entry``)."""
    # (Numbered members, not an array: ``wiring.connect`` of an array member of a
    # flipped signature fails in Amaranth 0.5.)
    return wiring.Signature({
        **{f"write{k}": Out(write_signature(program_len)) for k in range(slots)},
        "start":      Out(1),
        "running":    In(1),
        "next":       In(1),
        "next_entry": In(ADDR_BITS),
    })


def write_ports(control):
    """The write ports of a :func:`control_signature` interface, in slot order."""
    return [getattr(control, name) for name in control.signature.members
            if name.startswith("write")]


class _Walker:
    """Registers walking one address generator's points: running addresses per
    dimension (``run[k] = base + sum_{j >= k} i_j * s_j``), indices, and whether each
    dimension is at its end.

    The generator's dimensions come as ``lasts`` (each ``count - 1``, 16 bits: the tools
    reject an AGDIM with count 0, which would give ``2**16 - 1`` here). A
    step moves the innermost dimension that has not reached its end (:attr:`dim`), with
    one adder: ``run[dim] + stride``, ``stride`` being that dimension's stride (read by
    the caller at :attr:`dim`; a dimension of count 1 never moves, so its stride is never
    used). The end flags (:attr:`done`) are registers, set at the start and at each step
    from ``lasts`` (which hold still while the stream is walked), so that nothing of
    ``lasts`` is on the path from the registers to :attr:`next`."""

    def __init__(self, name, lasts, addr_bits):
        self.idx = [Signal(16, name=f"{name}_i{k}") for k in range(AG_DIMS)]
        self.run = [Signal(addr_bits, name=f"{name}_r{k}") for k in range(AG_DIMS)]
        self.done = [Signal(name=f"{name}_done{k}") for k in range(AG_DIMS)]
        self.dim = Signal(range(AG_DIMS), name=f"{name}_dim")
        self.next = Signal(addr_bits, name=f"{name}_next")   # the address after a step
        self._lasts = lasts
        # Dimension ``k`` at its end at index 0, and after its index's next increment.
        self._at_zero = Signal(AG_DIMS, name=f"{name}_end0")
        self._at_step = Signal(AG_DIMS, name=f"{name}_end1")

    @property
    def addr(self):
        return self.run[0]

    def elaborate(self, m, stride):
        """:attr:`dim` and :attr:`next`, the address a step moves to: ``run[dim] +
        stride`` (``stride``: dimension :attr:`dim`'s stride, read by the caller)."""
        for k in reversed(range(AG_DIMS)):   # the innermost not done (0 when all are)
            with m.If(~self.done[k]):
                m.d.comb += self.dim.eq(k)
        m.d.comb += self.next.eq(Array(self.run)[self.dim] + stride)
        # (The index is a 16-bit register: its increment wraps as it does.)
        m.d.comb += [self._at_zero.eq(Cat(n == 0 for n in self._lasts)),
                     self._at_step.eq(Cat((i + 1)[:16] == n
                                          for i, n in zip(self.idx, self._lasts,
                                                          strict=True)))]

    def start(self, m, base):
        """Start at ``base``; ``lasts`` must already be the stream's this cycle."""
        m.d.sync += [i.eq(0) for i in self.idx] + [r.eq(base) for r in self.run]
        m.d.sync += [d.eq(self._at_zero[k]) for k, d in enumerate(self.done)]

    @property
    def last(self):
        return Cat(self.done).all()

    def advance(self, m):
        """Step to the next point: dimension :attr:`dim` moves on by its stride (to
        :attr:`next`), the ones inside it restart; after the last point nothing moves."""
        with m.If(~self.last):
            for k in range(AG_DIMS):
                with m.If(self.dim == k):
                    m.d.sync += [self.idx[k].eq(self.idx[k] + 1)]
                    m.d.sync += [self.idx[j].eq(0) for j in range(k)]
                    m.d.sync += [self.run[j].eq(self.next) for j in range(k + 1)]
                    m.d.sync += self.done[k].eq(self._at_step[k])
                    m.d.sync += [self.done[j].eq(self._at_zero[j]) for j in range(k)]


class Thread(wiring.Component):
    """One thread: executes its program from a private buffer, one control instruction a
    cycle; a stream instruction emits its points on ``engine.points`` (one a cycle while
    accepted), then waits for ``engine.idle`` before the next instruction, except an
    SSTREAM with ``signal`` set, after which the thread goes on at once (its engine
    signals the counter when the stream is done). END waits for ``engine.idle`` too.

    A WAIT raises ``counters.wait`` with its counter until ``counters.grant``; a SIGNAL
    raises ``counters.signal`` for one cycle (:class:`rtl.core.counters.Counters` decides
    grants). Latency: a control instruction takes one cycle, a stream instruction one
    cycle to start, then one point a cycle while accepted, then one cycle after its
    engine's ``idle``. Throughput: one instruction or one point a cycle.

    Storage: the program buffer, the loop stack and the address generators (bases,
    counts as ``count - 1``, strides) are LUT RAM read combinationally, so a write shows
    in the next cycle, as in a register; ``start`` and AGBASE reset generators by
    clearing per-entry flags (a reset entry reads as base 0, count 1, stride 0). A
    stream's source and destination are walked by one adder each (:class:`_Walker`).

    Parameters
    ----------
    program_len : int
        Instructions a program may have: the write ports' address width.
    slots : int
        Write ports of the program buffer (instructions of a MEM word).
    depth : int or None
        Instructions the program buffer holds (a power of two, at most ``program_len``;
        None: ``program_len``). A write keeps its address's low bits: the tools reject a
        longer program for the thread.
    addr_bits : int
        Bits of the generators' addresses, from 1 to :data:`~rtl.spec.isa.ADDR_BITS`:
        bases, strides and the points' addresses are kept modulo ``2**addr_bits`` (the
        ISA's are 24 bits; a core keeps :attr:`rtl.spec.config.CoreConfig.ag_bits`, enough
        for every address a valid program's streams use).

    Members
    -------
    control : In(control_signature(program_len, slots))
        From the loader: the program buffer's write ports, ``start`` (the program starts
        at instruction 0, with every address generator at base 0, every dimension count
        1, stride 0) and ``running``.
    engine : Out(engine_signature(addr_bits))
        To the thread's engine.
    counters : Out(counter_signature())
        SIGNAL and WAIT requests.
    draining : Out(1)
        The thread waits for ``engine.idle`` (after a stream, or at END) this cycle.
    """

    def __init__(self, program_len, slots=1, *, depth=None, addr_bits=ADDR_BITS):
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
            raise ValueError(f"slots must be a positive integer, not {slots!r}")
        depth = program_len if depth is None else depth
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 2 \
                or depth & (depth - 1) or depth > program_len:
            raise ValueError(f"depth must be a power of two from 2 to program_len = "
                             f"{program_len}, not {depth!r}")
        if not isinstance(addr_bits, int) or isinstance(addr_bits, bool) \
                or not 1 <= addr_bits <= ADDR_BITS:
            raise ValueError(f"addr_bits must be an integer from 1 to {ADDR_BITS}, not "
                             f"{addr_bits!r}")
        self._program_len, self._slots, self._depth = program_len, slots, depth
        self._addr_bits = addr_bits
        super().__init__({
            "control":  In(control_signature(program_len, slots)),
            "engine":   Out(engine_signature(addr_bits)),
            "counters": Out(counter_signature()),
            "draining": Out(1),
        })

    @property
    def program_len(self):
        return self._program_len

    @property
    def depth(self):
        return self._depth

    @property
    def addr_bits(self):
        return self._addr_bits

    def elaborate(self, platform):
        m = Module()
        abits = (self._depth - 1).bit_length()
        wbits = self._addr_bits   # the generators' addresses

        m.submodules.prog = prog = Memory(shape=instr_layout(), depth=self._depth, init=[])
        for port in write_ports(self.control):   # never two at one address in a cycle
            wr = prog.write_port()
            m.d.comb += [wr.en.eq(port.en), wr.addr.eq(port.addr), wr.data.eq(port.data)]
        rd = prog.read_port(domain="comb")

        pc    = Signal(abits)
        instr = rd.data
        op    = instr.op
        m.d.comb += rd.addr.eq(pc)

        # Loop stack.
        # Loop stack, in LUT RAM: entry ``k`` holds loop ``k``'s first instruction and
        # the iterations left; ``depth`` loops are open, the top is entry ``depth - 1``
        # (none when ``depth`` is 0 or, after an overflow, past ``LOOP_DEPTH``: then ENDL
        # leaves, and a LOOP writes no entry).
        m.submodules.loops = loops = Memory(
            shape=data.StructLayout({"start": abits, "left": 16}), depth=LOOP_DEPTH, init=[])
        depth  = Signal(range(LOOP_DEPTH + 1))
        top    = loops.read_port(domain="comb")
        loop_w = loops.write_port()
        m.d.comb += top.addr.eq(depth - 1)
        repeat = Signal()   # ENDL goes back to the top loop's start
        m.d.comb += repeat.eq((depth >= 1) & (depth <= LOOP_DEPTH) & (top.data.left > 1))

        # Address generators, in LUT RAM: the bases in one memory, each dimension's
        # ``(count - 1, stride)`` in a memory of its own (a dimension's count is held as
        # ``count - 1``, 16 bits, see :class:`_Walker`: the walkers compare their indices
        # with it directly). Generator ``g`` is entry ``g``; entry ``AGS`` is never written
        # and holds the reset value (base 0; count 1, stride 0). A flag per base and per
        # dimension says whether its entry was written since ``start`` (or, for a
        # dimension, since its generator's AGBASE); a read of an entry not written reads
        # entry ``AGS`` instead. So ``start`` and AGBASE reset many entries in one cycle by
        # clearing flags, and every memory is written at most one entry a cycle (AGBASE,
        # AGADD: a base; AGDIM: one dimension). The memories are read combinationally,
        # like registers: a write shows in the next cycle.
        fresh = AGS                                # the reset entry
        m.submodules.ag_base = base_mem = Memory(shape=wbits, depth=AGS + 1, init=[])
        dim_mems = []
        for d in range(AG_DIMS):
            m.submodules[f"ag_last{d}"] = mem = Memory(shape=16, depth=AGS + 1, init=[])
            dim_mems.append(mem)
        # The strides, entry ``4 * g + d``; never reset (a dimension not written since
        # its generator's reset has count 1: it never moves, its stride is never read).
        m.submodules.ag_stride = stride_mem = Memory(shape=wbits, depth=AGS * AG_DIMS,
                                                     init=[])
        base_set = Signal(AGS)                     # bit g: base of generator g written
        dim_set  = [Signal(AG_DIMS, name=f"ag{g}_set") for g in range(AGS)]   # bit d

        def entry(g, written):
            """The entry to read for generator ``g``: ``g`` if ``written``, else the
            reset entry."""
            return Mux(written, g, fresh)

        # The base of generator ``instr.f.stream.s``, which is also the ``g`` of AGBASE
        # and AGADD (every format begins with it), and of ``instr.f.stream.d``: the
        # walkers' start, and AGADD's sum.
        g_ins, d_ins = instr.f.stream.s, instr.f.stream.d
        base_g = base_mem.read_port(domain="comb")
        base_d = base_mem.read_port(domain="comb")
        base_written = Array(base_set[g] for g in range(AGS))
        m.d.comb += [base_g.addr.eq(entry(g_ins, base_written[g_ins])),
                     base_d.addr.eq(entry(d_ins, base_written[d_ins]))]
        base_wr = base_mem.write_port()
        m.d.comb += base_wr.addr.eq(g_ins)

        sel_s = Signal(2)  # generators of the stream in progress
        sel_d = Signal(2)
        # The dimensions read: the instruction's generators while it is decoded (a stream
        # starting finds its walkers' ``lasts`` already read), then the stream's.
        in_run = Signal()
        look_s = Signal(2)
        look_d = Signal(2)
        m.d.comb += [look_s.eq(Mux(in_run, g_ins, sel_s)), look_d.eq(Mux(in_run, d_ins, sel_d))]
        set_s = Array(dim_set)[look_s]
        set_d = Array(dim_set)[look_d]
        lasts_s, lasts_d = [], []
        dim_wr = []
        for d, mem in enumerate(dim_mems):
            rs, rd = mem.read_port(domain="comb"), mem.read_port(domain="comb")
            m.d.comb += [rs.addr.eq(entry(look_s, set_s[d])), rd.addr.eq(entry(look_d, set_d[d]))]
            lasts_s.append(rs.data)
            lasts_d.append(rd.data)
            wr = mem.write_port()
            m.d.comb += [wr.addr.eq(instr.f.agdim.g), wr.data.eq(instr.f.agdim.count - 1)]
            dim_wr.append(wr)
        src, dst = _Walker("src", lasts_s, wbits), _Walker("dst", lasts_d, wbits)
        stride_wr = stride_mem.write_port()
        m.d.comb += [stride_wr.addr.eq(Cat(instr.f.agdim.d, instr.f.agdim.g)),
                     stride_wr.data.eq(instr.f.agdim.stride)]
        stride_s = stride_mem.read_port(domain="comb")
        stride_d = stride_mem.read_port(domain="comb")
        m.d.comb += [stride_s.addr.eq(Cat(src.dim, sel_s)),
                     stride_d.addr.eq(Cat(dst.dim, sel_d))]
        src.elaborate(m, stride_s.data)
        dst.elaborate(m, stride_d.data)
        index = Signal(INDEX_BITS)
        first = Signal()   # index == 0
        cur   = Signal(instr_layout())  # the stream instruction in progress

        m.d.comb += [
            self.engine.points.p.src.eq(src.addr),
            self.engine.points.p.dst.eq(dst.addr),
            self.engine.points.p.index.eq(index),
            self.engine.points.p.first.eq(first),
            self.engine.points.p.last.eq(src.last),
            self.engine.points.p.instr.eq(cur),
            self.engine.ahead.next_dst.eq(dst.next),
            self.engine.ahead.first_dst.eq(base_d.data),
        ]

        # The counters' numbers straight from the instruction's fields (the counters look
        # at them only with ``signal`` or ``wait``): no decode of the opcode before them.
        m.d.comb += [self.counters.signal_ctr.eq(instr.f.signal.ctr),
                     self.counters.wait_ctr.eq(instr.f.wait.ctr)]

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.control.start):   # every run starts with fresh generators
                    m.d.sync += [pc.eq(0), depth.eq(0), base_set.eq(0)]
                    m.d.sync += [flags.eq(0) for flags in dim_set]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.control.running.eq(1)
                with m.Switch(op):
                    with m.Case(Op.END):   # once the engine is idle
                        m.d.comb += self.draining.eq(1)
                        with m.If(self.engine.idle):
                            m.next = "IDLE"
                    with m.Case(Op.LOOP):
                        m.d.comb += [loop_w.en.eq(depth < LOOP_DEPTH), loop_w.addr.eq(depth),
                                     loop_w.data.start.eq(pc + 1),
                                     loop_w.data.left.eq(instr.f.loop.count)]
                        m.d.sync += [depth.eq(depth + 1), pc.eq(pc + 1)]
                    with m.Case(Op.ENDL):
                        with m.If(repeat):
                            m.d.comb += [loop_w.en.eq(1), loop_w.addr.eq(depth - 1),
                                         loop_w.data.start.eq(top.data.start),
                                         loop_w.data.left.eq(top.data.left - 1)]
                            m.d.sync += pc.eq(top.data.start)
                        with m.Else():
                            m.d.sync += [depth.eq(depth - 1), pc.eq(pc + 1)]
                    with m.Case(Op.SIGNAL):
                        m.d.comb += self.counters.signal.eq(1)
                        m.d.sync += pc.eq(pc + 1)
                    with m.Case(Op.WAIT):
                        m.d.comb += self.counters.wait.eq(1)
                        with m.If(self.counters.grant):
                            m.d.sync += pc.eq(pc + 1)
                    with m.Case(Op.AGBASE):
                        g = instr.f.agbase.g
                        m.d.comb += [base_wr.en.eq(1), base_wr.data.eq(instr.f.agbase.base)]
                        m.d.sync += base_set.bit_select(g, 1).eq(1)
                        for k in range(AGS):
                            with m.If(g == k):
                                m.d.sync += dim_set[k].eq(0)
                        m.d.sync += pc.eq(pc + 1)
                    with m.Case(Op.AGDIM):
                        g, d = instr.f.agdim.g, instr.f.agdim.d
                        for j in range(AG_DIMS):
                            with m.If(d == j):
                                m.d.comb += dim_wr[j].en.eq(1)
                        m.d.comb += stride_wr.en.eq(1)
                        for k in range(AGS):
                            with m.If(g == k):
                                m.d.sync += dim_set[k].bit_select(d, 1).eq(1)
                        m.d.sync += pc.eq(pc + 1)
                    with m.Case(Op.AGADD):
                        m.d.comb += [base_wr.en.eq(1),
                                     base_wr.data.eq(base_g.data + instr.f.agadd.delta)]
                        m.d.sync += base_set.bit_select(instr.f.agadd.g, 1).eq(1)
                        m.d.sync += pc.eq(pc + 1)
                    with m.Case(Op.NOP):
                        m.d.sync += pc.eq(pc + 1)
                    with m.Case(Op.NEXT):   # to the loader, which runs it after this image
                        m.d.comb += [self.control.next.eq(1),
                                     self.control.next_entry.eq(instr.f.next.entry)]
                        m.d.sync += pc.eq(pc + 1)
                    with m.Default():  # a stream instruction
                        s_sel, d_sel = instr.f.stream.s, instr.f.stream.d
                        m.d.comb += self.engine.ahead.start.eq(1)
                        m.d.sync += [sel_s.eq(s_sel), sel_d.eq(d_sel), cur.eq(instr),
                                     index.eq(0), first.eq(1)]
                        src.start(m, base_g.data)
                        dst.start(m, base_d.data)
                        m.next = "STREAM"
            with m.State("STREAM"):
                m.d.comb += [self.control.running.eq(1), self.engine.points.valid.eq(1)]
                with m.If(self.engine.points.ready):
                    m.d.sync += first.eq(0)
                    with m.If(~index.all()):   # (saturating)
                        m.d.sync += index.eq(index + 1)
                    src.advance(m)
                    dst.advance(m)
                    with m.If(self.engine.points.p.last):
                        with m.If((cur.op == Op.SSTREAM) & cur.f.sstream.signal):
                            m.d.sync += pc.eq(pc + 1)
                            m.next = "RUN"
                        with m.Else():
                            m.next = "DRAIN"
            with m.State("DRAIN"):
                m.d.comb += [self.control.running.eq(1), self.draining.eq(1)]
                with m.If(self.engine.idle):
                    m.d.sync += pc.eq(pc + 1)
                    m.next = "RUN"
        m.d.comb += in_run.eq(fsm.ongoing("RUN"))
        return m
