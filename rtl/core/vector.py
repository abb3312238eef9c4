"""T2's engine: the post-processing passes over the vector buffer, with the vector and
activation units (VCVT, VOP, VOPV, VLOAD, VACT, VSTORE), and the fused pass (VPOST)."""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, ReadPort
from amaranth.lib.wiring import In, Out

from ..spec.codes import Precision, VcuOp, VloadMode
from ..spec.isa import ADDR_BITS, Op, instr_layout
from .afu import ActivationUnit, afu_instr_layout
from .memory import mem_port_signature
from .post import PostChain
from .queue import Queue
from .serial import SerialUnit
from .steps import psb_layout
from .thread import engine_signature
from .vcu import VectorUnit, vcu_instr_layout

__all__ = ["vbuf_layout", "VectorEngine"]


def vbuf_layout(rows):
    """A vector-buffer entry: ``rows`` binary16 lanes."""
    return data.ArrayLayout(16, rows)


class VectorEngine(wiring.Component):
    """T2: the post-processing passes (VCVT, VOP, VOPV, VLOAD, VACT, VSTORE) over the
    vector buffer (VBUF, ``vbuf_entries`` entries of :func:`vbuf_layout`), with a
    :class:`VectorUnit` and an :class:`ActivationUnit`, and the fused pass (VPOST) through
    a :class:`PostChain` that borrows both units.

    One point a cycle, except that a VOP first spends 4 cycles reading its two constant
    vectors ``VBUF[kb]`` and ``VBUF[kc]``, and a VPOST 5 reading ``VBUF[k..k+2]``. Stages:
    0 reads (VBUF, PSB, MEM: a VLOAD's source, a VPOST's residual); 1 writes a VSTORE's
    VBUF data to MEM, and registers the read data of every other pass; 2 unpacks and
    selects the operands, writes a binary16 VLOAD to the VBUF; 3 registers the units'
    instructions, or a VPOST vector into the chain; the units' results are written to the
    VBUF ``latency`` cycles later, the chain's packed integers to MEM through ``store``.

    With ``mem_latency`` 2 (MEM read data a cycle later) stage 1 is two cycles: the VBUF
    and PSB read data are registered once more, to meet the MEM data.

    With ``passes`` above 1 the units are :class:`rtl.core.serial.SerialUnit` units that
    take a vector in ``passes`` cycles: a point that uses them (every pass but VSTORE and a
    VLOAD of binary16) is taken at most every ``passes`` cycles, and each unit's latency
    (so each result) is ``passes - 1`` cycles later: the chain's is
    :func:`rtl.core.post.chain_latency`.

    Latency: a point's result is written 1 cycle after the point is taken (VSTORE), 2
    cycles after (VLOAD of binary16), 7 cycles after (VCVT, VOP, VOPV, VLOAD of integers:
    the vector unit's 4), 8 cycles after (VACT: the activation unit's 5) or 24 cycles
    after (VPOST: the chain's 21); with ``mem_latency`` 2, each but VSTORE's a cycle
    later; with ``afu_table_reg``, a VACT's and a VPOST's a cycle later (the activation
    unit's 6); with ``passes``, as above. Throughput: one point a cycle, or every ``passes``
    cycles with the units.

    Parameters
    ----------
    word_bytes : int
        Bytes of a MEM word.
    rows : int
        Lanes of a vector (the VMM's rows).
    psb_entries, vbuf_entries : int
        Entries of the partial-sum and vector buffers.
    vcu_lanes, afu_lanes : int
        Lanes of the units (at least ``rows``; lanes beyond ``rows`` repeat the vector's
        lanes, and their results are dropped).
    mem_latency : int
        Cycles from a MEM read to its data (the unified memory's ``latency``).
    passes : int
        Cycles the units take a vector in (the core's ``unit_passes``).
    afu_table_reg : bool
        Whether the activation unit registers its table read (the core's
        ``afu_table_reg``; :class:`rtl.core.afu.ActivationUnit`).
    addr_bits : int
        Bits of the points' addresses (the thread's generators': ``engine_signature``).

    Members
    -------
    thread : In(engine_signature(addr_bits))
    mem : Out(mem_port_signature(word_bytes))
        Reads (VLOAD, a VPOST's residual) and a VSTORE's writes.
    store : Out(mem_port_signature(word_bytes))
        A VPOST's stores (in the cycles of its residual reads, so a second requester).
    psb_read : In(ReadPort.Signature(addr_width=log2(psb_entries), shape=psb_layout(rows)))
        A synchronous read port of the PSB (VCVT).
    """

    def __init__(self, word_bytes, rows, psb_entries, vbuf_entries, vcu_lanes, afu_lanes,
                 mem_latency=1, passes=1, afu_table_reg=False, *, addr_bits=ADDR_BITS):
        self._word, self._rows = word_bytes, rows
        self._latency = mem_latency
        self._psb, self._vbuf = psb_entries, vbuf_entries
        self._vcu_lanes, self._afu_lanes = vcu_lanes, afu_lanes
        self._passes, self._table_reg = passes, afu_table_reg
        pbits = (psb_entries - 1).bit_length()
        super().__init__({
            "thread":   In(engine_signature(addr_bits)),
            "mem":      Out(mem_port_signature(word_bytes)),
            "store":    Out(mem_port_signature(word_bytes)),
            "psb_read": In(ReadPort.Signature(addr_width=pbits, shape=psb_layout(rows))),
        })

    @property
    def word_bytes(self):
        return self._word

    @property
    def rows(self):
        return self._rows

    @property
    def psb_entries(self):
        return self._psb

    @property
    def vbuf_entries(self):
        return self._vbuf

    @property
    def vcu_lanes(self):
        return self._vcu_lanes

    @property
    def afu_lanes(self):
        return self._afu_lanes

    def elaborate(self, platform):
        m = Module()
        rows, word = self._rows, self._word
        vbits = (self._vbuf - 1).bit_length()
        pbits = (self._psb - 1).bit_length()
        passes = self._passes
        m.submodules.vcu = vcu = SerialUnit(VectorUnit, self._vcu_lanes, passes)
        m.submodules.afu = afu = SerialUnit(ActivationUnit, self._afu_lanes, passes,
                                            table_reg=self._table_reg)
        m.submodules.chain = chain = PostChain(rows, self._vcu_lanes, self._afu_lanes, passes,
                                               self._table_reg)
        m.submodules.vbuf = vbuf = Memory(shape=vbuf_layout(rows), depth=self._vbuf, init=[])
        rd = vbuf.read_port(transparent_for=())
        rd2 = vbuf.read_port(transparent_for=())   # VOPV's second operand, VBUF[i]
        wr = vbuf.write_port()

        points = self.thread.points
        p = points.p
        instr = p.instr
        op = instr.op
        is_ = {name: op == getattr(Op, name)
               for name in ("VCVT", "VOP", "VLOAD", "VACT", "VSTORE", "VOPV", "VPOST")}

        # Constants of a VOP (VBUF[kb] and VBUF[kc]) or a VPOST (VBUF[k], VBUF[k + 1],
        # VBUF[k + 2]: scale, bias, activation parameters) are read before the first
        # point. (The cycle model's ``const_state`` 0 to 5 are the states in the order
        # written.)
        kb, kc, kp = (Signal(vbuf_layout(rows), name=name) for name in ("kb", "kc", "kp"))
        consts_ready = Signal()
        has_consts = is_["VOP"] | is_["VPOST"]
        need_consts = points.valid & has_consts & p.first
        with m.FSM(name="consts") as consts:
            with m.State("IDLE"):
                with m.If(need_consts & ~consts_ready):
                    m.next = "READ_KB"
            with m.State("READ_KB"):      # VBUF[kb] addressed
                m.next = "READ_KC"
            with m.State("READ_KC"):      # VBUF[kc] addressed, VBUF[kb] read
                m.d.sync += kb.eq(rd.data)
                with m.If(is_["VPOST"]):
                    m.next = "READ_KP"
                with m.Else():
                    m.next = "CAPTURE_KC"
            with m.State("CAPTURE_KC"):   # VBUF[kc] read
                m.d.sync += [kc.eq(rd.data), consts_ready.eq(1)]
                m.next = "IDLE"
            with m.State("READ_KP"):      # VBUF[kp] addressed, VBUF[kc] read
                m.d.sync += kc.eq(rd.data)
                m.next = "CAPTURE_KP"
            with m.State("CAPTURE_KP"):   # VBUF[kp] read
                m.d.sync += [kp.eq(rd.data), consts_ready.eq(1)]
                m.next = "IDLE"
        with m.If(points.valid & points.ready & p.last):
            m.d.sync += consts_ready.eq(0)

        pending = Signal(8)   # points accepted whose result is not yet written
        take = Signal()
        go = ~has_consts | consts_ready
        if passes > 1:
            # A point for the units waits until they took the last one's groups.
            gap = Signal(range(passes))
            uses_units = ~is_["VSTORE"] & ~(is_["VLOAD"] & (instr.f.vload.mode == VloadMode.FP16))
            with m.If(take & uses_units):
                m.d.sync += gap.eq(passes - 1)
            with m.Elif(gap != 0):
                m.d.sync += gap.eq(gap - 1)
            go = go & (gap == 0)
        m.d.comb += [points.ready.eq(go), take.eq(points.valid & go)]

        # Stage 0: reads.
        vpost = instr.f.vpost
        with m.If(consts.ongoing("READ_KB")):
            m.d.comb += rd.addr.eq(Mux(is_["VPOST"], vpost.k, instr.f.vop.kb))
        with m.Elif(consts.ongoing("READ_KC")):
            m.d.comb += rd.addr.eq(Mux(is_["VPOST"], vpost.k + 1, instr.f.vop.kc))
        with m.Elif(consts.ongoing("READ_KP")):
            m.d.comb += rd.addr.eq(vpost.k + 2)
        with m.Elif(is_["VOPV"]):
            m.d.comb += rd.addr.eq(p.src[:vbits] + instr.f.vopv.off)
        with m.Else():
            m.d.comb += rd.addr.eq(p.src[:vbits])
        m.d.comb += rd2.addr.eq(p.src[:vbits])
        res_addr = Signal(24)   # a VPOST's residual
        m.d.comb += res_addr.eq(p.dst + vpost.res_off)
        m.d.comb += [self.psb_read.addr.eq(p.src[:pbits]),
                     self.mem.addr.eq(Mux(is_["VPOST"], res_addr, p.src)),
                     self.mem.en.eq(take & (is_["VLOAD"] | (is_["VPOST"] & vpost.res)))]

        # Stage 1 registers: what the read data is for.
        s1_valid, s1_instr = Signal(), Signal(instr_layout())
        s1_dst, s1_byte = Signal(vbits), Signal(range(word))
        s1_store_addr = Signal(24)
        m.d.sync += s1_valid.eq(take)
        with m.If(take):
            dst = Mux(is_["VLOAD"], instr.f.vload.k + p.index[:vbits],
                      Mux(is_["VOPV"], p.src, p.dst))
            mem_addr = Mux(is_["VPOST"], res_addr, p.src)
            m.d.sync += [s1_instr.eq(instr), s1_dst.eq(dst[:vbits]),
                         s1_byte.eq(mem_addr[:(word - 1).bit_length()] if word > 1 else 0),
                         s1_store_addr.eq(p.dst)]
        s1_op = s1_instr.op

        # VSTORE: VBUF data (stage 1) to MEM bytes; the MEM port is free in stage 1, since
        # only a VLOAD reads MEM (in stage 0) and the passes of T2 run one at a time.
        def stored_bytes(prec):
            """Bytes of a vector's integers of precision code ``prec`` (the reserved code,
            which the assembler rejects, stores as int8)."""
            bits = Array(C(Precision(c).bits if c in tuple(Precision) else 8)
                         for c in range(4))[prec]
            return (rows * bits) >> 3

        nbytes = Signal(range(word + 1))
        m.d.comb += nbytes.eq(stored_bytes(s1_instr.f.vstore.prec))
        obyte = s1_store_addr[:(word - 1).bit_length()] if word > 1 else C(0, 1)
        with m.If(s1_valid & (s1_op == Op.VSTORE)):
            m.d.comb += [self.mem.en.eq(1), self.mem.we.eq(1), self.mem.addr.eq(s1_store_addr),
                         self.mem.wdata.eq(rd.data.as_value() << (obyte * 8)),
                         self.mem.mask.eq(((C(1, word + 1) << nbytes) - 1) << obyte)]

        # With mem_latency 2, the VBUF and PSB read data and what they are for are
        # registered once more, to meet the MEM read data a cycle later.
        t_valid = s1_valid & (s1_op != Op.VSTORE)
        t_instr, t_dst, t_byte = s1_instr, s1_dst, s1_byte
        t_psb, t_vb, t_vb2 = self.psb_read.data, rd.data, rd2.data
        if self._latency == 2:
            u_valid = Signal()
            u_instr = Signal(instr_layout(), reset_less=True)
            u_dst   = Signal(vbits, reset_less=True)
            u_byte  = Signal(range(word), reset_less=True)
            u_psb   = Signal(psb_layout(rows), reset_less=True)
            u_vb    = Signal(vbuf_layout(rows), reset_less=True)
            u_vb2   = Signal(vbuf_layout(rows), reset_less=True)
            m.d.sync += [u_valid.eq(t_valid), u_instr.eq(t_instr), u_dst.eq(t_dst),
                         u_byte.eq(t_byte), u_psb.eq(t_psb), u_vb.eq(t_vb), u_vb2.eq(t_vb2)]
            t_valid, t_instr, t_dst, t_byte = u_valid, u_instr, u_dst, u_byte
            t_psb, t_vb, t_vb2 = u_psb, u_vb, u_vb2

        # Stage 2 registers: the read data (block RAM outputs) of every pass but VSTORE,
        # with what it is for; the unpacking and operand selection work from these.
        s2_valid = Signal()
        s2_instr = Signal(instr_layout(), reset_less=True)
        s2_dst   = Signal(vbits, reset_less=True)
        s2_byte  = Signal(range(word), reset_less=True)
        s2_mem   = Signal(8 * word, reset_less=True)
        s2_psb   = Signal(psb_layout(rows), reset_less=True)
        s2_vb    = Signal(vbuf_layout(rows), reset_less=True)
        s2_vb2   = Signal(vbuf_layout(rows), reset_less=True)
        m.d.sync += [s2_valid.eq(t_valid), s2_instr.eq(t_instr),
                     s2_dst.eq(t_dst), s2_byte.eq(t_byte), s2_mem.eq(self.mem.rdata),
                     s2_psb.eq(t_psb), s2_vb.eq(t_vb), s2_vb2.eq(t_vb2)]
        s2_op = s2_instr.op

        # VLOAD data (or a VPOST's residual, of the output's type): the n bytes at the
        # access's offset.
        mem_bytes = Signal(8 * word)
        m.d.comb += mem_bytes.eq(s2_mem >> (s2_byte * 8))
        s2_post = s2_instr.op == Op.VPOST
        mode, lsigned = Signal(2), Signal()
        with m.If(s2_post):   # Precision INT8, INT4, INT2 read as VloadMode INT8, INT4, INT2
            m.d.comb += [mode.eq(s2_instr.f.vpost.prec + 1),
                         lsigned.eq(s2_instr.f.vpost.out_signed)]
        with m.Else():
            m.d.comb += [mode.eq(s2_instr.f.vload.mode), lsigned.eq(s2_instr.f.vload.signed)]
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
        vcu_instr = Signal(vcu_instr_layout(self._vcu_lanes), reset_less=True)
        afu_instr = Signal(afu_instr_layout(self._afu_lanes), reset_less=True)
        m.d.sync += [vcu_valid.eq(to_vcu), afu_valid.eq(to_afu)]
        # The units serve the separate passes, or the chain while a VPOST is the stream
        # instruction (T2 drains each instruction before the next, so never both). The
        # choice is registered: it follows the instruction a cycle later, before any of the
        # instruction's unit instructions (stage 3 or later of its first point) and after
        # every one of the last instruction's results (T2 drains it), so the thread's
        # instruction is not on the path into the units' first stages.
        post = Signal()
        m.d.sync += post.eq(is_["VPOST"])
        with m.If(post):
            m.d.comb += [vcu.instrs.valid.eq(chain.fma_instrs.valid),
                         vcu.instrs.p.eq(chain.fma_instrs.p),
                         afu.instrs.valid.eq(chain.act_instrs.valid),
                         afu.instrs.p.eq(chain.act_instrs.p)]
        with m.Else():
            m.d.comb += [vcu.instrs.valid.eq(vcu_valid), vcu.instrs.p.eq(vcu_instr),
                         afu.instrs.valid.eq(afu_valid), afu.instrs.p.eq(afu_instr)]
        m.d.comb += [chain.fma_instrs.ready.eq(vcu.instrs.ready),
                     chain.act_instrs.ready.eq(afu.instrs.ready),
                     chain.fma_results.valid.eq(vcu.results.valid & post),
                     chain.fma_results.p.eq(vcu.results.p),
                     chain.act_results.valid.eq(afu.results.valid & post),
                     chain.act_results.p.eq(afu.results.p),
                     vcu.results.ready.eq(1), afu.results.ready.eq(1)]

        # Stage 3 of a VPOST: the vector into the chain (registered), its store address
        # into a queue beside the chain (in the chain's order: it has no backpressure).
        chain_valid = Signal()
        chain_in = Signal.like(chain.i.p, reset_less=True)
        m.d.sync += [chain_valid.eq(s2_valid & s2_post), chain_in.psum.eq(s2_psb)]
        m.d.sync += [chain_in.res[r].eq(ints[r][:16]) for r in range(rows)]
        m.d.comb += [chain.i.valid.eq(chain_valid), chain.i.p.eq(chain_in)]
        # The chain's parameters: the constants are registers already; the instruction's
        # fields are registered (like ``post``: they follow the instruction a cycle later,
        # long before its first vector reaches the chain, and they stay until its last
        # store, since T2 drains the VPOST).
        fields = Signal.like(vpost, reset_less=True)
        m.d.sync += fields.eq(vpost)
        m.d.comb += [chain.params.shift.eq(fields.shift), chain.params.scale.eq(kb),
                     chain.params.bias.eq(kc), chain.params.residual.eq(fields.res),
                     chain.params.res_shift.eq(fields.res_shift),
                     chain.params.act.eq(fields.act), chain.params.p0.eq(kp[0]),
                     chain.params.p1.eq(kp[1]), chain.params.prec.eq(fields.prec),
                     chain.params.out_signed.eq(fields.out_signed)]
        # A VPOST point is stored the chain's latency + 2 + mem_latency cycles after it is
        # taken (24 to 26 with one point a cycle; points at most every ``passes`` cycles),
        # so with 32 entries the queue is never full.
        assert -(-(chain.latency + 2 + self._latency) // passes) <= 32
        m.submodules.stores = stores = Queue(24, 32)
        m.d.comb += [stores.w.valid.eq(take & is_["VPOST"]), stores.w.p.eq(p.dst),
                     stores.r.ready.eq(chain.o.valid)]
        post_bytes = Signal(range(word + 1))
        m.d.comb += post_bytes.eq(stored_bytes(fields.prec))
        sbyte = stores.r.p[:(word - 1).bit_length()] if word > 1 else C(0, 1)
        with m.If(chain.o.valid):
            m.d.comb += [self.store.en.eq(1), self.store.we.eq(1),
                         self.store.addr.eq(stores.r.p),
                         self.store.wdata.eq(chain.o.p.data << (sbyte * 8)),
                         self.store.mask.eq(((C(1, word + 1) << post_bytes) - 1) << sbyte)]
        # The vector unit's instruction: every field assigned every cycle.
        is_vop, is_cvt, is_vopv = s2_op == Op.VOP, s2_op == Op.VCVT, s2_op == Op.VOPV
        for r in range(self._vcu_lanes):
            v = r % rows   # lanes beyond a vector repeat its lanes; their results are dropped
            psum = s2_psb[v]
            m.d.sync += [
                vcu_instr.a[r].eq(Mux(is_vop | is_vopv, s2_vb[v],
                                      Mux(is_cvt, psum[:16], ints[v][:16]))),
                vcu_instr.b[r].eq(Mux(is_vop, kb[v],
                                      Mux(is_vopv, s2_vb2[v],
                                          Mux(is_cvt, psum[16:], ints[v][16:])))),
                vcu_instr.c[r].eq(Mux(is_vop, kc[v], 0)),
            ]
        m.d.sync += [
            vcu_instr.op.eq(Mux(is_vop, s2_instr.f.vop.op,
                                Mux(is_vopv, s2_instr.f.vopv.op, VcuOp.CVT_I32))),
            vcu_instr.scalar.eq(0),
            vcu_instr.bcast.eq(0),
            vcu_instr.shift.eq(Mux(is_vop, s2_instr.f.vop.shift,
                                   Mux(is_cvt, s2_instr.f.vcvt.shift,
                                       Mux(is_vopv, 0, s2_instr.f.vload.shift)))),
            vcu_instr.fmt.eq(Mux(is_vop, s2_instr.f.vop.fmt, 0)),
            vcu_instr.out_signed.eq(Mux(is_vop, s2_instr.f.vop.out_signed, is_vopv)),
            vcu_instr.mask.eq(0),
        ]
        # The activation unit's instruction.
        m.d.sync += [afu_instr.op.eq(s2_instr.f.vact.op),
                     afu_instr.p0.eq(s2_instr.f.vact.p0),
                     afu_instr.p1.eq(s2_instr.f.vact.p1)]
        m.d.sync += [afu_instr.x[r].eq(s2_vb[r % rows]) for r in range(self._afu_lanes)]

        # Destination indices travel beside the units' pipelines. (12 entries: more than
        # the points the stages and the units can hold, so the queue is never full.)
        m.submodules.tags = tags = Queue(vbits, 12)
        m.d.comb += [tags.w.valid.eq(to_vcu | to_afu), tags.w.p.eq(s2_dst)]
        direct = s2_valid & (s2_op == Op.VLOAD) & (mode == VloadMode.FP16)
        with m.If((vcu.results.valid | afu.results.valid) & ~post):
            m.d.comb += [wr.en.eq(1), wr.addr.eq(tags.r.p), tags.r.ready.eq(1)]
            m.d.comb += [wr.data[r].eq(Mux(vcu.results.valid, vcu.results.p.r[r],
                                           afu.results.p.y[r]))
                         for r in range(rows)]
        with m.Elif(direct):
            m.d.comb += [wr.en.eq(1), wr.addr.eq(s2_dst), wr.data.eq(mem_bytes[:16 * rows])]

        done_now = ((vcu.results.valid | afu.results.valid) & ~post) | direct | \
            (s1_valid & (s1_op == Op.VSTORE)) | chain.o.valid
        m.d.sync += pending.eq(pending + take - done_now)
        m.d.comb += self.thread.idle.eq((pending == 0) & consts.ongoing("IDLE"))
        return m
