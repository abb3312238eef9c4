"""Fused post-processing: a VMM result vector to stored integers in one pipelined pass.

Each vector of ``rows`` int32 partial sums goes through, lane by lane and each step
rounded as the separate passes round it (docs/architecture.md, "Fused post-processing"):

1. ``v = fp16(psum * 2**-shift)`` (the vector unit's CVT_I32);
2. ``v = fma(v, scale, bias)`` with per-channel binary16 ``scale`` and ``bias``;
3. ``v = fp16(res * 2**-res_shift) + v`` when ``residual`` is set (the residual is
   converted by its own CVT_I32 beside step 1), else ``v + -0``, which is ``v`` exactly;
4. ``v = afu(act, v, p0, p1)`` (``CLAMP`` with ``-inf``, ``+inf`` is the identity);
5. ``q = int(v)`` to the precision ``prec``, signed or not (the vector unit's CVT_INT),
   packed little-endian from bit 0.

Steps 2 and 4 run on the core's general vector and activation units, which this chain
borrows through its ``fma_*`` and ``act_*`` ports (T2 runs one instruction at a time, so a
fused pass and the separate passes never need them in the same cycle); steps 1, 3 and 5
have small vector units of their own, each built for its one fixed operation
(``VectorUnit(rows, ops=...)``: CVT_I32 for step 1 and the residual, ADD for step 3,
CVT_INT for step 5), so that none holds the general unit's multiplier, comparators or
other operations' datapaths.
"""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.binary16 import NEG_ZERO
from ..spec.codes import AfuOp, Precision, VcuOp
from .afu import ActivationUnit, afu_instr_layout, afu_result_layout
from .serial import SerialUnit
from .vcu import VectorUnit, vcu_instr_layout, vcu_result_layout

__all__ = ["post_params_layout", "post_input_layout", "post_output_layout", "chain_latency",
           "PostChain", "PostProcessor"]


def post_params_layout(rows):
    """The parameters of a fused pass; they hold still while its vectors flow."""
    return data.StructLayout({
        "shift":      6,                          # psum scale 2**-shift
        "scale":      data.ArrayLayout(16, rows),  # binary16, per output channel
        "bias":       data.ArrayLayout(16, rows),  # binary16, per output channel
        "residual":   1,                          # add the residual
        "res_shift":  6,                          # residual scale 2**-res_shift
        "act":        AfuOp,
        "p0":         16,                         # binary16 activation parameters
        "p1":         16,
        "prec":       Precision,                  # output integers
        "out_signed": 1,
    })


def post_input_layout(rows):
    """One vector: ``rows`` int32 partial sums and ``rows`` residual integers."""
    return data.StructLayout({
        "psum": data.ArrayLayout(signed(32), rows),
        "res":  data.ArrayLayout(signed(16), rows),
    })


def post_output_layout(rows):
    """One vector's integers, packed little-endian from bit 0 (``rows * bits`` bits used)."""
    return data.StructLayout({"data": 8 * rows})


def _repeat(lanes, values):
    """``values`` repeated to fill ``lanes`` lanes (the extra lanes' results are dropped)."""
    return [values[k % len(values)] for k in range(lanes)]


def chain_latency(passes=1, table_reg=False):
    """The latency of a :class:`PostChain` whose units take a vector in ``passes``
    cycles: four vector-unit steps and the activation unit (built with ``table_reg``)."""
    return 4 * (VectorUnit.latency + passes - 1) + \
        ActivationUnit.unit_latency(table_reg) + passes - 1


class PostChain(wiring.Component):
    """The fused post-processing pipeline around a borrowed vector unit (for the FMA) and
    activation unit.

    With ``passes`` above 1 every unit, the chain's own and the borrowed, is a
    :class:`rtl.core.serial.SerialUnit` that takes a vector in ``passes`` cycles.

    Latency: ``4 * (VectorUnit.latency + passes - 1) + afu_latency + passes - 1`` cycles
    (:func:`chain_latency`; 21 with ``passes`` 1, 22 with ``table_reg``, where the
    activation unit's ``afu_latency`` is 6, not 5) from an ``i`` transfer to its ``o``
    transfer.
    Throughput: one vector every ``passes`` cycles (``i`` must not be valid more often).
    There is no backpressure (``o`` is always ready: the core's MEM store always
    accepts), so every vector takes exactly the latency; ``params`` must not change while
    vectors are in flight.

    Parameters
    ----------
    rows : int
        Lanes of a vector (the VMM's rows); a power of two, at least 4.
    vcu_lanes, afu_lanes : int
        Lanes of the borrowed vector and activation units, at least ``rows``.
    passes : int
        Cycles each unit takes a vector in (the borrowed units' too); a power of two, at
        most ``rows``.
    table_reg : bool
        Whether the borrowed activation unit registers its table read
        (:class:`rtl.core.afu.ActivationUnit`): its latency, so the chain's.

    Members
    -------
    params : In(post_params_layout(rows))
    i : In(stream.Signature(post_input_layout(rows), always_ready=True))
    o : Out(stream.Signature(post_output_layout(rows), always_ready=True))
    fma_instrs : Out(stream.Signature(vcu_instr_layout(vcu_lanes)))
    fma_results : In(stream.Signature(vcu_result_layout(vcu_lanes)))
    act_instrs : Out(stream.Signature(afu_instr_layout(afu_lanes)))
    act_results : In(stream.Signature(afu_result_layout(afu_lanes)))
    """

    def __init__(self, rows, vcu_lanes, afu_lanes, passes=1, table_reg=False):
        if not isinstance(rows, int) or rows < 4 or rows & (rows - 1):
            raise ValueError(f"rows must be a power of two of at least 4, not {rows!r}")
        if not isinstance(passes, int) or isinstance(passes, bool) or passes < 1 \
                or passes & (passes - 1) or passes > rows:
            raise ValueError(f"passes must be a power of two from 1 to rows = {rows}, "
                             f"not {passes!r}")
        for name, value in (("vcu_lanes", vcu_lanes), ("afu_lanes", afu_lanes)):
            if not isinstance(value, int) or value < rows:
                raise ValueError(f"{name} must be an integer of at least rows = {rows}, "
                                 f"not {value!r}")
        self._rows, self._vcu_lanes, self._afu_lanes = rows, vcu_lanes, afu_lanes
        if type(table_reg) is not bool:
            raise ValueError(f"table_reg must be True or False, not {table_reg!r}")
        self._passes, self._table_reg = passes, table_reg
        self.latency = chain_latency(passes, table_reg)
        super().__init__({
            "params":      In(post_params_layout(rows)),
            "i":           In(stream.Signature(post_input_layout(rows), always_ready=True)),
            "o":           Out(stream.Signature(post_output_layout(rows), always_ready=True)),
            "fma_instrs":  Out(stream.Signature(vcu_instr_layout(vcu_lanes))),
            "fma_results": In(stream.Signature(vcu_result_layout(vcu_lanes))),
            "act_instrs":  Out(stream.Signature(afu_instr_layout(afu_lanes))),
            "act_results": In(stream.Signature(afu_result_layout(afu_lanes))),
        })

    @property
    def rows(self):
        return self._rows

    @property
    def passes(self):
        return self._passes

    @property
    def table_reg(self):
        return self._table_reg

    #: The chain's own vector units and the one operation each is built for (step 1, step
    #: 3's conversion, step 3, step 5): only that operation's datapath is elaborated.
    UNIT_OPS = {"cvt": (VcuOp.CVT_I32,), "cvt_res": (VcuOp.CVT_I32,), "add": (VcuOp.ADD,),
                "quant": (VcuOp.CVT_INT,)}

    def elaborate(self, platform):
        m = Module()
        rows, cfg = self._rows, self.params
        # Each unit is built for the one operation it is given (PostChain.UNIT_OPS).
        units = {name: SerialUnit(VectorUnit, rows, self._passes, ops=ops)
                 for name, ops in self.UNIT_OPS.items()}
        for name, unit in units.items():
            m.submodules[name] = unit
        cvt, cvt_res, add, quant = units.values()   # in UNIT_OPS's order
        for unit in units.values():
            m.d.comb += unit.results.ready.eq(1)
        m.d.comb += [self.fma_results.ready.eq(1), self.act_results.ready.eq(1)]

        # Step 1, and the residual's conversion beside it: an int32 is {b: high, a: low}.
        p = self.i.p
        m.d.comb += [cvt.instrs.valid.eq(self.i.valid), cvt_res.instrs.valid.eq(self.i.valid),
                     cvt.instrs.p.op.eq(VcuOp.CVT_I32), cvt_res.instrs.p.op.eq(VcuOp.CVT_I32),
                     cvt.instrs.p.shift.eq(cfg.shift), cvt_res.instrs.p.shift.eq(cfg.res_shift)]
        for r in range(rows):
            res = Value.cast(p.res[r])
            m.d.comb += [cvt.instrs.p.a[r].eq(p.psum[r][:16]),
                         cvt.instrs.p.b[r].eq(p.psum[r][16:]),
                         cvt_res.instrs.p.a[r].eq(res),
                         cvt_res.instrs.p.b[r].eq(res[-1].replicate(16))]

        # The converted residual waits beside the FMA (no backpressure: a fixed delay).
        res_fp = cvt_res.results.p.r.as_value()
        for k in range(cvt_res.latency):   # the FMA's latency
            delayed = Signal.like(res_fp, name=f"res_delay{k}")
            m.d.sync += delayed.eq(res_fp)
            res_fp = delayed

        # Step 2 on the borrowed vector unit.
        fma = self.fma_instrs
        m.d.comb += [fma.valid.eq(cvt.results.valid), fma.p.op.eq(VcuOp.FMA)]
        for lane, r in enumerate(_repeat(self._vcu_lanes, range(rows))):
            m.d.comb += [fma.p.a[lane].eq(cvt.results.p.r[r]),
                         fma.p.b[lane].eq(cfg.scale[r]),
                         fma.p.c[lane].eq(cfg.bias[r])]

        # Step 3: residual + value, or -0 + value.
        m.d.comb += [add.instrs.valid.eq(self.fma_results.valid),
                     add.instrs.p.op.eq(VcuOp.ADD)]
        for r in range(rows):
            m.d.comb += [add.instrs.p.a[r].eq(Mux(cfg.residual, res_fp[16 * r:16 * r + 16],
                                                  NEG_ZERO)),
                         add.instrs.p.b[r].eq(self.fma_results.p.r[r])]

        # Step 4 on the borrowed activation unit.
        act = self.act_instrs
        m.d.comb += [act.valid.eq(add.results.valid), act.p.op.eq(cfg.act),
                     act.p.p0.eq(cfg.p0), act.p.p1.eq(cfg.p1)]
        for lane, r in enumerate(_repeat(self._afu_lanes, range(rows))):
            m.d.comb += act.p.x[lane].eq(add.results.p.r[r])

        # Step 5: requantize and pack.
        m.d.comb += [quant.instrs.valid.eq(self.act_results.valid),
                     quant.instrs.p.op.eq(VcuOp.CVT_INT), quant.instrs.p.fmt.eq(cfg.prec),
                     quant.instrs.p.out_signed.eq(cfg.out_signed)]
        for r in range(rows):
            m.d.comb += quant.instrs.p.a[r].eq(self.act_results.p.y[r])
        m.d.comb += [self.o.valid.eq(quant.results.valid),
                     self.o.p.data.eq(quant.results.p.r.as_value()[:8 * rows])]
        return m


class PostProcessor(wiring.Component):
    """A :class:`PostChain` with a vector unit and an activation unit of its own (each a
    :class:`rtl.core.serial.SerialUnit` of ``passes``): the fused post-processing as a
    block that can be built and tested alone. Latency and throughput are the chain's:
    ``i`` is always ready, and ``o`` has no backpressure (its ``ready`` is not read; a
    top-level port cannot be the constant of an always-ready stream).

    Parameters
    ----------
    rows, vcu_lanes, afu_lanes, passes : int
        As for :class:`PostChain`.
    table_reg : bool
        As for :class:`PostChain`: the activation unit's (built here).

    Members
    -------
    params : In(post_params_layout(rows))
    i : In(stream.Signature(post_input_layout(rows)))
    o : Out(stream.Signature(post_output_layout(rows)))
    """

    def __init__(self, rows, vcu_lanes, afu_lanes, passes=1, table_reg=False):
        self._chain = PostChain(rows, vcu_lanes, afu_lanes, passes, table_reg)
        self._lanes = (vcu_lanes, afu_lanes)
        self.latency = self._chain.latency
        super().__init__({
            "params": In(post_params_layout(rows)),
            "i":      In(stream.Signature(post_input_layout(rows))),
            "o":      Out(stream.Signature(post_output_layout(rows))),
        })

    @classmethod
    def from_config(cls, core):
        return cls(core.vmm_rows, core.vcu_lanes, core.afu_lanes, core.unit_passes,
                   core.afu_table_reg)

    def elaborate(self, platform):
        m = Module()
        m.submodules.chain = chain = self._chain
        passes = self._chain.passes
        m.submodules.vcu = vcu = SerialUnit(VectorUnit, self._lanes[0], passes)
        m.submodules.afu = afu = SerialUnit(ActivationUnit, self._lanes[1], passes,
                                            table_reg=self._chain.table_reg)
        m.d.comb += chain.params.eq(self.params)
        m.d.comb += [chain.i.valid.eq(self.i.valid), chain.i.p.eq(self.i.p),
                     self.i.ready.eq(1),
                     self.o.valid.eq(chain.o.valid), self.o.p.eq(chain.o.p)]
        wiring.connect(m, chain=chain.fma_instrs, vcu=vcu.instrs)
        wiring.connect(m, vcu=vcu.results, chain=chain.fma_results)
        wiring.connect(m, chain=chain.act_instrs, afu=afu.instrs)
        wiring.connect(m, afu=afu.results, chain=chain.act_results)
        return m
