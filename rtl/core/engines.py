"""The threads' datapath engines: each turns its thread's stream points into transfers.

Every engine accepts at most one point a cycle and reports ``idle`` when nothing it
accepted is still in flight, so that its thread's next instruction sees every effect.
"""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.codes import Precision, VcuOp, VloadMode
from ..spec.isa import Op, instr_layout
from ..vmm import result_layout, step_layout, weight_layout
from .afu import ActivationUnit
from .memory import mem_port_signature
from .thread import point_layout
from .vcu import VectorUnit

__all__ = ["flit_layout", "WeightEngine", "StepEngine", "VectorEngine", "NocEngine"]


def flit_layout(word_bytes):
    """A NoC flit at the core's ports: one MEM word and a 16-bit tag."""
    return data.StructLayout({"data": 8 * word_bytes, "tag": 16})


class _TagQueue:
    """A small register queue whose contents can all be compared (for interlocks).

    An entry pushed at a clock edge is at ``head`` (if the queue was empty) from the next
    cycle; pushing into a full queue is not allowed (callers keep room)."""

    def __init__(self, m, name, width, depth):
        self.regs  = [Signal(width, name=f"{name}{k}") for k in range(depth)]
        self.count = Signal(range(depth + 1), name=f"{name}_count")
        self.push  = Signal(name=f"{name}_push")
        self.pop   = Signal(name=f"{name}_pop")
        self.din   = Signal(width, name=f"{name}_din")
        self.head  = self.regs[0]
        self.full  = self.count == depth
        self.empty = self.count == 0
        with m.If(self.pop):
            m.d.sync += [self.regs[k].eq(self.regs[k + 1]) for k in range(depth - 1)]
        for k in range(depth):
            slot = Mux(self.pop, self.count - 1, self.count)
            with m.If(self.push & (slot == k)):
                m.d.sync += self.regs[k].eq(self.din)
        m.d.sync += self.count.eq(self.count + self.push - self.pop)

    def holds(self, value):
        """Whether any queued entry equals ``value``."""
        return Cat((self.regs[k] == value) & (k < self.count)
                   for k in range(len(self.regs))).any()


class WeightEngine(wiring.Component):
    """T0: weight rows from MEM to the VMM (WSTREAM). One row a cycle; latency 2 cycles
    from a point to its row at ``weights``."""

    def __init__(self, word_bytes, cols):
        self._word, self._cols = word_bytes, cols
        super().__init__({
            "points":  In(stream.Signature(point_layout())),
            "mem":     Out(mem_port_signature(word_bytes)),
            "weights": Out(stream.Signature(weight_layout(cols))),
            "idle":    Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        queue = _TagQueue(m, "wq", len(self.weights.payload.as_value()), 4)
        inflight = Signal()
        mode = Signal(3)
        instr = self.points.p.instr
        room = queue.count + inflight < 4
        take = self.points.valid & room
        m.d.comb += [self.points.ready.eq(room), self.mem.en.eq(take),
                     self.mem.addr.eq(self.points.p.src)]
        m.d.sync += inflight.eq(take)
        with m.If(take):
            m.d.sync += mode.eq(Cat(instr.f.wstream.prec,
                                    instr.f.wstream.act_signed))
        m.d.comb += [queue.push.eq(inflight),
                     queue.din.eq(Cat(self.mem.rdata[:8 * self._cols], mode))]
        m.d.comb += [self.weights.valid.eq(~queue.empty), self.weights.payload.eq(queue.head),
                     queue.pop.eq(self.weights.ready & ~queue.empty)]
        m.d.comb += self.idle.eq(~inflight & queue.empty)
        return m


class StepEngine(wiring.Component):
    """T1: VMM steps (SSTREAM): activations from MEM, partial sums from the PSB (or zero),
    results written back to the PSB. A step whose PSB entry still awaits an earlier
    step's result waits (the interlock); otherwise one step a cycle."""

    def __init__(self, word_bytes, rows, cols, psb_entries):
        self._word, self._rows, self._cols, self._psb = word_bytes, rows, cols, psb_entries
        pbits = (psb_entries - 1).bit_length()
        super().__init__({
            "points":    In(stream.Signature(point_layout())),
            "mem":       Out(mem_port_signature(word_bytes)),
            "steps":     Out(stream.Signature(step_layout(rows, cols))),
            "results":   In(stream.Signature(result_layout(rows))),
            "psb_raddr": Out(pbits),
            "psb_rdata": In(32 * rows),
            "psb_waddr": Out(pbits),
            "psb_wen":   Out(1),
            "psb_wdata": Out(32 * rows),
            "idle":      Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        pbits = (self._psb - 1).bit_length()
        instr = self.points.p.instr
        queue = _TagQueue(m, "sq", len(self.steps.payload.as_value()), 4)
        tags = _TagQueue(m, "tag", pbits, 12)
        inflight = Signal()
        zero_d = Signal()
        last_d = Signal()
        phase = Signal(16)
        period = instr.f.sstream.period
        index = self.points.p.index
        phase_now = Mux(index == 0, 0, phase)
        entry = self.points.p.dst[:pbits]
        room = (queue.count + inflight < 4) & ~tags.full & ~tags.holds(entry)
        take = self.points.valid & room
        m.d.comb += [self.points.ready.eq(room),
                     self.mem.en.eq(take), self.mem.addr.eq(self.points.p.src),
                     self.psb_raddr.eq(entry),
                     tags.push.eq(take), tags.din.eq(entry)]
        m.d.sync += inflight.eq(take)
        with m.If(take):
            is_last = phase_now == period - 1
            m.d.sync += [zero_d.eq(index < instr.f.sstream.zero),
                         last_d.eq(is_last), phase.eq(Mux(is_last, 0, phase_now + 1))]
        m.d.comb += [queue.push.eq(inflight),
                     queue.din.eq(Cat(self.mem.rdata[:8 * self._cols],
                                      Mux(zero_d, 0, self.psb_rdata), last_d))]
        m.d.comb += [self.steps.valid.eq(~queue.empty), self.steps.payload.eq(queue.head),
                     queue.pop.eq(self.steps.ready & ~queue.empty)]
        # Results back to the PSB, in order.
        m.d.comb += [self.results.ready.eq(1),
                     self.psb_wen.eq(self.results.valid), self.psb_waddr.eq(tags.head),
                     self.psb_wdata.eq(self.results.p.sums.as_value()),
                     tags.pop.eq(self.results.valid)]
        m.d.comb += self.idle.eq(~inflight & queue.empty & tags.empty)
        return m


class VectorEngine(wiring.Component):
    """T2: the post-processing passes (VCVT, VOP, VLOAD, VACT, VSTORE) over the VBUF,
    with the vector and activation units. One point a cycle; a VOP first reads its two
    constant vectors (2 cycles).

    Stages: 0 reads (VBUF, PSB, MEM); 1 writes a VSTORE's VBUF data to MEM, and registers
    the read data of every other pass; 2 unpacks and selects the operands, writes a plain
    VLOAD to the VBUF; 3 registers the units' instructions; the units' results are
    written to the VBUF ``latency`` cycles later. A point thus retires 1 cycle after it
    is accepted (VSTORE), 2 cycles after (plain VLOAD) or ``3 + latency`` cycles after
    (4 for the vector unit, 5 for the activation unit)."""

    def __init__(self, word_bytes, rows, psb_entries, vbuf_entries, vcu_lanes, afu_lanes):
        self._word, self._rows = word_bytes, rows
        self._psb, self._vbuf = psb_entries, vbuf_entries
        self._vcu_lanes, self._afu_lanes = vcu_lanes, afu_lanes
        super().__init__({
            "points":    In(stream.Signature(point_layout())),
            "mem":       Out(mem_port_signature(word_bytes)),
            "psb_raddr": Out((psb_entries - 1).bit_length()),
            "psb_rdata": In(32 * rows),
            "idle":      Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rows, word = self._rows, self._word
        vbits = (self._vbuf - 1).bit_length()
        pbits = (self._psb - 1).bit_length()
        m.submodules.vcu = vcu = VectorUnit(self._vcu_lanes)
        m.submodules.afu = afu = ActivationUnit(self._afu_lanes)
        m.submodules.vbuf = vbuf = Memory(shape=16 * rows, depth=self._vbuf, init=[])
        rd = vbuf.read_port(transparent_for=())
        rd2 = vbuf.read_port(transparent_for=())   # VOPV's second operand, VBUF[i]
        wr = vbuf.write_port()

        p = self.points.p
        instr = p.instr
        op = instr.op
        is_ = {name: op == getattr(Op, name)
               for name in ("VCVT", "VOP", "VLOAD", "VACT", "VSTORE", "VOPV")}

        # Constants of a VOP: read VBUF[kb], VBUF[kc] before its first point.
        kb, kc = Signal(16 * rows), Signal(16 * rows)
        const_state = Signal(2)   # 0 idle/ready, 1 reading kb, 2 reading kc, 3 capture kc
        need_consts = self.points.valid & is_["VOP"] & (p.index == 0) & (const_state != 3)
        consts_ready = Signal()
        with m.Switch(const_state):
            with m.Case(0):
                with m.If(need_consts & ~consts_ready):
                    m.d.sync += const_state.eq(1)
            with m.Case(1):
                m.d.sync += const_state.eq(2)
            with m.Case(2):
                m.d.sync += [kb.eq(rd.data), const_state.eq(3)]
            with m.Case(3):
                m.d.sync += [kc.eq(rd.data), const_state.eq(0), consts_ready.eq(1)]
        with m.If(self.points.valid & self.points.ready & p.last):
            m.d.sync += consts_ready.eq(0)

        pending = Signal(8)   # points accepted whose result is not yet written
        take = Signal()
        go = ~is_["VOP"] | consts_ready
        m.d.comb += [self.points.ready.eq(go), take.eq(self.points.valid & go)]

        # Stage 0: reads.
        with m.If(const_state == 1):
            m.d.comb += rd.addr.eq(instr.f.vop.kb)
        with m.Elif(const_state == 2):
            m.d.comb += rd.addr.eq(instr.f.vop.kc)
        with m.Elif(is_["VOPV"]):
            m.d.comb += rd.addr.eq(p.src[:vbits] + instr.f.vopv.off)
        with m.Else():
            m.d.comb += rd.addr.eq(p.src[:vbits])
        m.d.comb += rd2.addr.eq(p.src[:vbits])
        m.d.comb += [self.psb_raddr.eq(p.src[:pbits]),
                     self.mem.addr.eq(p.src),
                     self.mem.en.eq(take & is_["VLOAD"])]
        # Stage 1 registers: what the read data is for.
        s1_valid, s1_instr = Signal(), Signal(instr_layout())
        s1_dst, s1_byte = Signal(vbits), Signal(range(word))
        s1_store_addr = Signal(24)
        m.d.sync += s1_valid.eq(take)
        with m.If(take):
            dst = Mux(is_["VLOAD"], instr.f.vload.k + p.index[:vbits],
                      Mux(is_["VOPV"], p.src, p.dst))
            m.d.sync += [s1_instr.eq(instr), s1_dst.eq(dst[:vbits]),
                         s1_byte.eq(p.src[:(word - 1).bit_length()] if word > 1 else 0),
                         s1_store_addr.eq(p.dst)]
        s1_op = s1_instr.op

        # VSTORE: VBUF data (stage 1) to MEM bytes; the MEM port is free in stage 1, since
        # only a VLOAD reads MEM (in stage 0) and the passes of T2 run one at a time.
        # (the reserved code, which the assembler rejects, stores as int8)
        store_bits = Array(C(Precision(c).bits if c in tuple(Precision) else 8)
                           for c in range(4))[s1_instr.f.vstore.prec]
        nbytes = Signal(range(word + 1))
        m.d.comb += nbytes.eq((rows * store_bits) >> 3)
        obyte = s1_store_addr[:(word - 1).bit_length()] if word > 1 else C(0, 1)
        with m.If(s1_valid & (s1_op == Op.VSTORE)):
            m.d.comb += [self.mem.en.eq(1), self.mem.we.eq(1), self.mem.addr.eq(s1_store_addr),
                         self.mem.wdata.eq(rd.data << (obyte * 8)),
                         self.mem.mask.eq(((C(1, word + 1) << nbytes) - 1) << obyte)]

        # Stage 2 registers: the read data (block RAM outputs) of every pass but VSTORE,
        # with what it is for; the unpacking and operand selection work from these.
        s2_valid = Signal()
        s2_instr = Signal(instr_layout(), reset_less=True)
        s2_dst   = Signal(vbits, reset_less=True)
        s2_byte  = Signal(range(word), reset_less=True)
        s2_mem   = Signal(8 * word, reset_less=True)
        s2_psb   = Signal(32 * rows, reset_less=True)
        s2_vb    = Signal(16 * rows, reset_less=True)
        s2_vb2   = Signal(16 * rows, reset_less=True)
        m.d.sync += [s2_valid.eq(s1_valid & (s1_op != Op.VSTORE)), s2_instr.eq(s1_instr),
                     s2_dst.eq(s1_dst), s2_byte.eq(s1_byte), s2_mem.eq(self.mem.rdata),
                     s2_psb.eq(self.psb_rdata), s2_vb.eq(rd.data), s2_vb2.eq(rd2.data)]
        s2_op = s2_instr.op

        # VLOAD data: the n bytes at the access's offset.
        mem_bytes = Signal(8 * word)
        m.d.comb += mem_bytes.eq(s2_mem >> (s2_byte * 8))
        mode = s2_instr.f.vload.mode
        lsigned = s2_instr.f.vload.signed
        ints = []
        for r in range(rows):
            v8 = mem_bytes[8 * r:8 * r + 8]
            v4 = mem_bytes[4 * r:4 * r + 4]
            v2 = mem_bytes[2 * r:2 * r + 2]
            sel = Signal(signed(32), name=f"unpacked{r}")
            m.d.comb += sel.eq(Mux(mode == VloadMode.INT8, Mux(lsigned, v8.as_signed(), v8),
                                   Mux(mode == VloadMode.INT4, Mux(lsigned, v4.as_signed(), v4),
                                       Mux(lsigned, v2.as_signed(), v2))))
            ints.append(sel)

        # Stage 2 -> units.
        to_vcu = s2_valid & ((s2_op == Op.VCVT) | (s2_op == Op.VOP) | (s2_op == Op.VOPV) |
                             ((s2_op == Op.VLOAD) & (mode != VloadMode.FP16)))
        to_afu = s2_valid & (s2_op == Op.VACT)
        # Stage 3: the units' instructions are registered, so that the operand selection
        # and the units' first stages are in different cycles.
        vcu_valid, afu_valid = Signal(), Signal()
        vcu_instr = Signal(len(vcu.instrs.p.as_value()), reset_less=True)
        afu_instr = Signal(len(afu.instrs.p.as_value()), reset_less=True)
        m.d.sync += [vcu_valid.eq(to_vcu), afu_valid.eq(to_afu)]
        m.d.comb += [vcu.instrs.valid.eq(vcu_valid), vcu.instrs.p.eq(vcu_instr),
                     afu.instrs.valid.eq(afu_valid), afu.instrs.p.eq(afu_instr),
                     vcu.results.ready.eq(1), afu.results.ready.eq(1)]
        # The units' instructions, every bit driven by one assignment.
        is_vop, is_cvt, is_vopv = s2_op == Op.VOP, s2_op == Op.VCVT, s2_op == Op.VOPV
        lanes_a, lanes_b, lanes_c = [], [], []
        for r in range(self._vcu_lanes):
            if r < rows:
                psum = s2_psb[32 * r:32 * r + 32]
                vin = s2_vb[16 * r:16 * r + 16]
                lanes_a.append(Mux(is_vop | is_vopv, vin,
                                   Mux(is_cvt, psum[:16], ints[r][:16])))
                lanes_b.append(Mux(is_vop, kb[16 * r:16 * r + 16],
                                   Mux(is_vopv, s2_vb2[16 * r:16 * r + 16],
                                       Mux(is_cvt, psum[16:], ints[r][16:]))))
                lanes_c.append(Mux(is_vop, kc[16 * r:16 * r + 16], 0))
            else:  # lanes beyond a vector repeat its lanes; their results are dropped
                lanes_a.append(lanes_a[r % rows])
                lanes_b.append(lanes_b[r % rows])
                lanes_c.append(lanes_c[r % rows])
        vcu_op = Mux(is_vop, s2_instr.f.vop.op,
                     Mux(is_vopv, s2_instr.f.vopv.op, VcuOp.CVT_I32))
        shift = Mux(is_vop, s2_instr.f.vop.shift,
                    Mux(is_cvt, s2_instr.f.vcvt.shift,
                        Mux(is_vopv, 0, s2_instr.f.vload.shift)))
        m.d.sync += vcu_instr.eq(Cat(
            vcu_op[:5], *lanes_a, *lanes_b, *lanes_c, C(0, 16), C(0, 1), shift[:6],
            Mux(is_vop, s2_instr.f.vop.fmt, 0)[:2],
            Mux(is_vop, s2_instr.f.vop.out_signed, is_vopv)[:1],
            C(0, self._vcu_lanes)))
        xs = [s2_vb[16 * (r % rows):16 * (r % rows) + 16] for r in range(self._afu_lanes)]
        m.d.sync += afu_instr.eq(Cat(s2_instr.f.vact.op, *xs,
                                        s2_instr.f.vact.p0,
                                        s2_instr.f.vact.p1))

        # Destination indices travel beside the units' pipelines.
        tags = _TagQueue(m, "vtag", vbits, 12)
        m.d.comb += [tags.push.eq(to_vcu | to_afu), tags.din.eq(s2_dst)]
        direct = s2_valid & (s2_op == Op.VLOAD) & (mode == VloadMode.FP16)
        vcu_out = Cat(vcu.results.p.r[r] for r in range(rows))
        afu_out = Cat(afu.results.p.y[r] for r in range(rows))
        with m.If(vcu.results.valid | afu.results.valid):
            m.d.comb += [wr.en.eq(1), wr.addr.eq(tags.head),
                         wr.data.eq(Mux(vcu.results.valid, vcu_out, afu_out)),
                         tags.pop.eq(1)]
        with m.Elif(direct):
            m.d.comb += [wr.en.eq(1), wr.addr.eq(s2_dst), wr.data.eq(mem_bytes[:16 * rows])]

        done_now = (vcu.results.valid | afu.results.valid) | direct | \
            (s1_valid & (s1_op == Op.VSTORE))
        m.d.sync += pending.eq(pending + take - done_now)
        m.d.comb += self.idle.eq((pending == 0) & (const_state == 0))
        return m


class NocEngine(wiring.Component):
    """T4..T7: SEND (MEM words out as flits) and RECV (flits into MEM)."""

    def __init__(self, word_bytes):
        self._word = word_bytes
        super().__init__({
            "points": In(stream.Signature(point_layout())),
            "mem":    Out(mem_port_signature(word_bytes)),
            "o":      Out(stream.Signature(flit_layout(word_bytes))),
            "i":      In(stream.Signature(flit_layout(word_bytes))),
            "idle":   Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.points.p
        op = p.instr.op
        queue = _TagQueue(m, "nq", len(self.o.payload.as_value()), 4)
        inflight, tag = Signal(), Signal(16)
        send = self.points.valid & (op == Op.SEND)
        recv = self.points.valid & (op == Op.RECV)
        room = queue.count + inflight < 4
        with m.If(send):
            m.d.comb += [self.points.ready.eq(room), self.mem.en.eq(room),
                         self.mem.addr.eq(p.src)]
        with m.Elif(recv):
            m.d.comb += [self.points.ready.eq(self.i.valid), self.i.ready.eq(1),
                         self.mem.en.eq(self.i.valid), self.mem.we.eq(1),
                         self.mem.addr.eq(p.src), self.mem.wdata.eq(self.i.p.data),
                         self.mem.mask.eq((1 << self._word) - 1)]
        m.d.sync += inflight.eq(send & room)
        with m.If(send & room):
            m.d.sync += tag.eq(p.instr.f.send.tag)
        m.d.comb += [queue.push.eq(inflight), queue.din.eq(Cat(self.mem.rdata, tag)),
                     self.o.valid.eq(~queue.empty), self.o.payload.eq(queue.head),
                     queue.pop.eq(self.o.ready & ~queue.empty)]
        m.d.comb += self.idle.eq(~inflight & queue.empty)
        return m
