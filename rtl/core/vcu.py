"""FP16 vector unit."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..pipeline import Pipeline
from ..spec.codes import PRECISIONS, VcuOp
from . import fp16
from .fp16 import shift_right, zx

__all__ = ["VcuOp", "vcu_instr_layout", "vcu_result_layout", "VectorUnit"]


def vcu_instr_layout(lanes):
    """One vector instruction with its operands."""
    return data.StructLayout({
        "op":         VcuOp,
        "a":          data.ArrayLayout(16, lanes),
        "b":          data.ArrayLayout(16, lanes),
        "c":          data.ArrayLayout(16, lanes),
        "scalar":     16,   # replaces b in every lane when bcast is set
        "bcast":      1,
        "shift":      6,    # CVT_I32
        "fmt":        2,    # CVT_INT: 0 int8, 1 int4, 2 int2, 3 reserved (all zero)
        "out_signed": 1,    # CVT_INT: saturate to the signed range, else unsigned
        "mask":       lanes,  # SEL
    })


def vcu_result_layout(lanes):
    """One result vector and the comparison mask."""
    return data.StructLayout({
        "r":    data.ArrayLayout(16, lanes),
        "mask": lanes,
    })


#: The operations sharing the fused multiply-add datapath.
FMA_OPS = frozenset({VcuOp.ADD, VcuOp.SUB, VcuOp.MUL, VcuOp.FMA})
#: The operations that need no rounding (min/max, comparisons, abs/neg, select).
DIRECT_OPS = frozenset({VcuOp.MIN, VcuOp.MAX, VcuOp.EQ, VcuOp.LT, VcuOp.LE, VcuOp.ABS,
                        VcuOp.NEG, VcuOp.SEL})


def _check_ops(ops):
    """``ops`` as a frozenset of :class:`VcuOp` (all of them for ``None``); raise
    :class:`ValueError` naming the values that are not operations."""
    if ops is None:
        return frozenset(VcuOp)
    if isinstance(ops, (str, bytes)) or not hasattr(ops, "__iter__"):
        raise ValueError(f"ops must be an iterable of VcuOp members, not {ops!r}")
    ops = list(ops)
    bad = [op for op in ops if not isinstance(op, VcuOp) and
           (type(op) is not int or op not in {int(o) for o in VcuOp})]
    if bad:
        raise ValueError(f"ops must be VcuOp members; not operations: "
                         f"{', '.join(repr(op) for op in bad)}")
    if not ops:
        raise ValueError("ops must name at least one VcuOp")
    return frozenset(VcuOp(op) for op in ops)


class VectorUnit(wiring.Component):
    """FP16 vector unit: one operation on ``lanes`` binary16 lanes per cycle.

    Every operation is IEEE-754 binary16, correctly rounded to nearest even, subnormals
    kept, overflow to infinity, every NaN result ``0x7E00``. ADD, SUB, MUL and FMA share
    one fused multiply-add datapath per lane (``a + b`` is ``a * 1 + b``, ``a * b`` is
    ``a * b + (-0)``), so each rounds once: a 39-bit window (the 22-bit product, the
    aligned addend and a sticky bit, see :mod:`rtl.core.fp16`) that rounds like the exact
    sum. Comparisons are quiet (false with a NaN, ``-0 == +0``) and set ``mask``, with
    ``r`` 1.0 or +0. MIN/MAX are IEEE 754-2019
    minimumNumber/maximumNumber. CVT_I32 rounds ``int32 * 2**-shift`` once; CVT_INT rounds
    to nearest even, saturates (NaN gives 0) and packs the lanes little-endian from bit 0
    of ``r`` (the VMM's activation format), zeroing the rest. Reserved opcodes give
    canonical NaN in every lane and an empty mask.

    A unit may be built for a subset of the operations (``ops``): it then holds only the
    datapaths those operations need (the fused multiply-add for ADD/SUB/MUL/FMA, without
    its multiplier when only ADD and SUB are built, the product then being ``a``'s
    significand in a 28-bit window; the int32 in the window for CVT_I32, or with no
    FMA-class op a narrow int32 path of its own: a 32-bit leading-zero count, one 44-bit
    right shift with a sticky bit, an 11-bit rounding; the integer conversion and packing
    for CVT_INT; the comparators and selects of the direct operations), and gives exactly
    the full unit's results for them, with the same latency. An operation left out
    behaves as a reserved opcode: canonical NaN in every lane and an empty mask (well
    defined, never a stale or partial result).

    Latency: 4 cycles for every operation (decode and multiply, align and add,
    leading-zero count, normalize and round), whatever ``ops``. Throughput: one
    instruction per cycle while ``results`` is ready; stages accept when empty or
    draining.

    Parameters
    ----------
    lanes : int
        Lanes; a power of two. (A core's vectors have at least 4 lanes, so that int2
        results fill whole bytes; a unit of fewer lanes serves a
        :class:`rtl.core.serial.SerialUnit`, whose CVT_INT packs its groups again.)
    ops : iterable of VcuOp, optional
        The operations to build (by default all); a non-empty set of :class:`VcuOp`
        members (or their codes).

    Members
    -------
    instrs : In(stream.Signature(vcu_instr_layout(lanes)))
    results : Out(stream.Signature(vcu_result_layout(lanes)))
    """

    latency = 4

    def __init__(self, lanes, ops=None):
        if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 1 \
                or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a positive power of two, not {lanes!r}")
        self._lanes = lanes
        self._ops = _check_ops(ops)
        super().__init__({
            "instrs":  In(stream.Signature(vcu_instr_layout(lanes))),
            "results": Out(stream.Signature(vcu_result_layout(lanes))),
        })

    @property
    def lanes(self):
        return self._lanes

    @property
    def ops(self):
        """The operations built, a frozenset of :class:`VcuOp`."""
        return self._ops

    @classmethod
    def from_config(cls, core):
        return cls(core.vcu_lanes)

    def elaborate(self, platform):
        m = Module()
        p = self.instrs.p
        pipe = Pipeline(m, 4, i_valid=self.instrs.valid, o_valid=self.results.valid,
                        o_ready=self.results.ready)
        m.d.comb += self.instrs.ready.eq(pipe.i_ready)
        load1, load2, load3, load4 = pipe.load

        ops       = self._ops
        fma_ops   = sorted(ops & FMA_OPS)
        has_i32   = VcuOp.CVT_I32 in ops
        has_int   = VcuOp.CVT_INT in ops
        has_round = bool(fma_ops) or has_i32
        has_direct = bool(ops & DIRECT_OPS)
        # The multiplier is needed unless every FMA-class op built multiplies by one.
        multiplies = not set(fma_ops) <= {VcuOp.ADD, VcuOp.SUB}

        # Instruction-wide decode, carried down the pipeline.
        op        = p.op
        if set(fma_ops) == FMA_OPS:
            fma_class = op <= VcuOp.FMA  # ADD, SUB, MUL, FMA
        else:
            fma_class = Cat(op == code for code in fma_ops).any() if fma_ops else C(0)
        is_i32    = op == VcuOp.CVT_I32 if has_i32 else C(0)
        is_cvt    = op == VcuOp.CVT_INT if has_int else C(0)
        rounded1, rounded2, rounded3 = (Signal(name=f"rounded{k}") for k in range(1, 4))
        fmt1, fmt2, fmt3 = (Signal(2, name=f"fmt{k}") for k in range(1, 4))
        cvt1, cvt2, cvt3 = (Signal(name=f"cvt_int{k}") for k in range(1, 4))
        is_i32_1 = Signal()
        shift1   = Signal(6)
        with m.If(load1):
            m.d.sync += [rounded1.eq(fma_class | is_i32), cvt1.eq(is_cvt)]
            if fma_ops and has_i32:
                m.d.sync += is_i32_1.eq(is_i32)
            if has_i32:
                m.d.sync += shift1.eq(p.shift)
            if has_int:
                m.d.sync += fmt1.eq(p.fmt)
        with m.If(load2):
            m.d.sync += [rounded2.eq(rounded1), fmt2.eq(fmt1), cvt2.eq(cvt1)]
        with m.If(load3):
            m.d.sync += [rounded3.eq(rounded2), fmt3.eq(fmt2), cvt3.eq(cvt2)]

        ints = []         # CVT_INT lane results at stage 3, 8 bits each
        lane_values = []  # other results at stage 3
        for i in range(self._lanes):
            a = p.a[i]
            b = Mux(p.bcast, p.scalar, p.b[i])
            c = p.c[i]
            da, db = fp16.decode(a), fp16.decode(b)

            # --- Stage 1: direct results, int conversions. ---
            if has_direct:
                direct = Signal(16, name=f"direct{i}")
                dmask  = Signal(name=f"dmask{i}")
                self._direct(m, op, ops, a, b, da, db, p.mask[i], direct, dmask)
                s1_direct, s1_mask = (Signal(16, name=f"s1_direct{i}"),
                                      Signal(name=f"s1_mask{i}"))
                s2_direct, s2_mask = (Signal(16, name=f"s2_direct{i}"),
                                      Signal(name=f"s2_mask{i}"))
                s3_direct, s3_mask = (Signal(16, name=f"s3_direct{i}"),
                                      Signal(name=f"s3_mask{i}"))
                with m.If(load1):
                    m.d.sync += [s1_direct.eq(direct), s1_mask.eq(dmask)]
                with m.If(load2):
                    m.d.sync += [s2_direct.eq(s1_direct), s2_mask.eq(s1_mask)]
                with m.If(load3):
                    m.d.sync += [s3_direct.eq(s2_direct), s3_mask.eq(s2_mask)]
                with m.If(load4):
                    m.d.sync += self.results.p.mask[i].eq(s3_mask)
            else:  # every other op gives canonical NaN and an empty mask
                s3_direct = C(fp16.CANONICAL_NAN, 16)
            if has_int:
                intv = Signal(8, name=f"int{i}")
                self._to_int(m, da, p.fmt, p.out_signed, intv)
                s1_int, s2_int, s3_int = (Signal(8, name=f"s{k}_int{i}") for k in (1, 2, 3))
                with m.If(load1):
                    m.d.sync += s1_int.eq(intv)
                with m.If(load2):
                    m.d.sync += s2_int.eq(s1_int)
                with m.If(load3):
                    m.d.sync += s3_int.eq(s2_int)
                ints.append(s3_int)
            if not has_round:
                lane_values.append(s3_direct)
                continue

            # --- Stage 1: FMA operands (or the int32 magnitude). ---
            if fma_ops:
                fa, fb, fc = Signal(16, name=f"fa{i}"), Signal(16, name=f"fb{i}"), \
                    Signal(16, name=f"fc{i}")
                operands = {VcuOp.ADD: (a, fp16.ONE, b), VcuOp.SUB: (a, fp16.ONE, b ^ 0x8000),
                            VcuOp.MUL: (a, b, fp16.NEG_ZERO), VcuOp.FMA: (a, b, c)}
                # The last op built is the default case (any op does when it is alone).
                with m.Switch(op):
                    for code in fma_ops[:-1]:
                        with m.Case(code):
                            m.d.comb += [fa.eq(operands[code][0]), fb.eq(operands[code][1]),
                                         fc.eq(operands[code][2])]
                    with m.Default():
                        last = operands[fma_ops[-1]]
                        m.d.comb += [fa.eq(last[0]), fb.eq(last[1]), fc.eq(last[2])]
                # Without a multiplier (only ADD and SUB built) the product is a * 1.0:
                # a's 11-bit significand, in a window of 28 bits (39 when CVT_I32 shares
                # it, its product then widened to 22 bits by zeros).
                fops = fp16.fma_operands(fp16.decode(fa),
                                         fp16.decode(fb) if multiplies else None,
                                         fp16.decode(fc), one_bits=22 if has_i32 else 11)
                s1 = {name: Signal.like(getattr(fops, name), name=f"s1_{name}{i}")
                      for name in ("ps", "sc", "rsh", "maxshift", "sign_p", "sign_c",
                                   "nan", "inf", "inf_sign")}
                with m.If(load1):
                    m.d.sync += [s1[name].eq(getattr(fops, name)) for name in s1]
            if has_i32:
                # int32 for CVT_I32: b holds the high half.
                x32    = Cat(a, b)
                abs32  = Signal(32, name=f"s1_abs32_{i}")
                sign32 = Signal(name=f"s1_sign32_{i}")
                with m.If(load1):
                    m.d.sync += [abs32.eq(Mux(x32[31], C(0, 32) - x32, x32)),
                                 sign32.eq(x32[31])]

            if has_i32 and not fma_ops:
                # A unit with no FMA converts the int32 in its own narrow path (normalize
                # the 32 bits, one right shift, round): no FMA window to share.
                rs, fm1 = fp16.int_normalize(abs32, shift1)
                s2 = [Signal(32, name=f"s2_abs32_{i}"), Signal(6, name=f"s2_rs{i}"),
                      Signal(6, name=f"s2_fm1_{i}"), Signal(name=f"s2_sign{i}")]
                with m.If(load2):
                    m.d.sync += [reg.eq(val) for reg, val in zip(
                        s2, [abs32, rs, fm1, sign32], strict=True)]
                s2_abs32, s2_rs, s2_fm1, s2_sign = s2
                q, guard, sticky = fp16.int_extract(s2_abs32, s2_rs)
                s3 = [Signal(11, name=f"s3_q{i}"), Signal(name=f"s3_guard{i}"),
                      Signal(name=f"s3_sticky{i}"), Signal(6, name=f"s3_fm1_{i}"),
                      Signal(name=f"s3_sign{i}")]
                with m.If(load3):
                    m.d.sync += [reg.eq(val) for reg, val in zip(
                        s3, [q, guard, sticky, s2_fm1, s2_sign], strict=True)]
                rounded = fp16.round_small(m, s3[4], s3[3], *s3[:3])
                lane_values.append(Mux(rounded3, rounded, s3_direct))
                continue

            # --- Stage 2: the window's sum (or the int32 in the window). ---
            width = fp16.window_bits(fp16.BELOW_NORMAL, len(s1["ps"]) if fma_ops else 22)
            s2_mag, s2_sign = Signal(width, name=f"s2_mag{i}"), Signal(name=f"s2_sign{i}")
            s2_max = Signal(6, name=f"s2_max{i}")
            s2_nan, s2_inf, s2_inf_sign = (Signal(name=f"s2_nan{i}"), Signal(name=f"s2_inf{i}"),
                                           Signal(name=f"s2_inf_sign{i}"))
            if fma_ops:
                fmag, fsign = fp16.fma_sum(m, s1["ps"], s1["sc"], s1["rsh"], s1["sign_p"],
                                           s1["sign_c"], below=fp16.BELOW_NORMAL)
            if has_i32:
                imag, imax = fp16.int_window(m, abs32, shift1, below=fp16.BELOW_NORMAL)
            with m.If(load2):
                if has_i32:
                    m.d.sync += [
                        s2_mag.eq(Mux(is_i32_1, imag, fmag)),
                        s2_sign.eq(Mux(is_i32_1, sign32, fsign)),
                        s2_max.eq(Mux(is_i32_1, imax, s1["maxshift"])),
                        s2_nan.eq(~is_i32_1 & s1["nan"]),
                        s2_inf.eq(~is_i32_1 & s1["inf"]),
                        s2_inf_sign.eq(s1["inf_sign"]),
                    ]
                else:
                    m.d.sync += [s2_mag.eq(fmag), s2_sign.eq(fsign),
                                 s2_max.eq(s1["maxshift"]), s2_nan.eq(s1["nan"]),
                                 s2_inf.eq(s1["inf"]), s2_inf_sign.eq(s1["inf_sign"])]

            # --- Stage 3: leading-zero count. ---
            shl, fm1 = fp16.normalize_shift(m, s2_mag, s2_max)
            s3 = [Signal(width, name=f"s3_mag{i}"), Signal(6, name=f"s3_shl{i}"),
                  Signal(6, name=f"s3_fm1_{i}"), Signal(name=f"s3_sign{i}"),
                  Signal(name=f"s3_nan{i}"), Signal(name=f"s3_inf{i}"),
                  Signal(name=f"s3_inf_sign{i}")]
            with m.If(load3):
                m.d.sync += [reg.eq(val) for reg, val in zip(
                    s3, [s2_mag, shl, fm1, s2_sign, s2_nan, s2_inf, s2_inf_sign],
                    strict=True)]
            s3_mag, s3_shl, s3_fm1, s3_sign, s3_nan, s3_inf, s3_inf_sign = s3

            # --- Stage 4: normalize, round, select the result. ---
            rounded = fp16.round_pack(m, s3_sign, s3_mag, s3_shl, s3_fm1,
                                      s3_nan, s3_inf, s3_inf_sign)
            lane_values.append(Mux(rounded3, rounded, s3_direct))

        # CVT_INT packs the lanes' integers from bit 0 of r instead of the lane results.
        if has_int:
            packed = Signal(16 * self._lanes)
            with m.Switch(fmt3):
                for code, bits in enumerate(PRECISIONS):
                    with m.Case(code):
                        m.d.comb += packed.eq(Cat(v[:bits] for v in ints))
                with m.Default():
                    m.d.comb += packed.eq(0)
            result = Mux(cvt3, packed, Cat(lane_values))
        else:
            result = Cat(lane_values)
        with m.If(load4):
            m.d.sync += self.results.p.r.as_value().eq(result)
        return m

    @staticmethod
    def _direct(m, op, ops, a, b, da, db, mask_in, out, mask):
        """Results that need no rounding: min/max, comparisons, abs/neg, select (those of
        ``ops``; any other op gives canonical NaN and an empty mask)."""
        nan_a, nan_b = da.nan, db.nan
        ta, tb = fp16.total_key(a), fp16.total_key(b)
        eq, lt, le = fp16.compare(a, b, da, db)

        def canon(x, is_nan):
            return Mux(is_nan, fp16.CANONICAL_NAN, x)

        def pick(take_a):
            return Mux(nan_a & nan_b, fp16.CANONICAL_NAN,
                       Mux(nan_a, b, Mux(nan_b, a, Mux(take_a, a, b))))

        flags = {VcuOp.EQ: eq, VcuOp.LT: lt, VcuOp.LE: le}
        mask_value = C(0)
        for code in (VcuOp.LE, VcuOp.LT, VcuOp.EQ):
            if code in ops:
                mask_value = Mux(op == code, flags[code], mask_value)
        m.d.comb += mask.eq(mask_value)

        values = {
            VcuOp.MIN: pick(ta <= tb),
            VcuOp.MAX: pick(ta >= tb),
            VcuOp.EQ:  Mux(eq, fp16.ONE, 0),
            VcuOp.LT:  Mux(lt, fp16.ONE, 0),
            VcuOp.LE:  Mux(le, fp16.ONE, 0),
            VcuOp.ABS: canon(Cat(a[:15], 0), nan_a),
            VcuOp.NEG: canon(Cat(a[:15], ~a[15]), nan_a),
            VcuOp.SEL: Mux(mask_in, canon(a, nan_a), canon(b, nan_b)),
        }
        with m.Switch(op):
            for code, value in values.items():
                if code in ops:
                    with m.Case(code):
                        m.d.comb += out.eq(value)
            with m.Default():
                m.d.comb += out.eq(fp16.CANONICAL_NAN)

    @staticmethod
    def _to_int(m, da, fmt, out_signed, out):
        """binary16 to int8/int4/int2: round to nearest even, saturate, NaN gives 0."""
        rsh = Signal(5)  # value = sig * 2**-rsh when e < 25
        m.d.comb += rsh.eq(C(25, 5) - da.e)
        big = da.e >= C(25, 5)                                   # |x| >= 1024: saturates
        ext = shift_right(Cat(C(0, 24), da.sig), rsh)           # sig * 2**24: lossless
        q   = ext[24:35]
        up  = ext[23] & (ext[:23].any() | q[0])
        mag = Signal(12)
        m.d.comb += mag.eq(zx(q, 12) + zx(up, 12))
        # Largest magnitude on each side, and the two's complement patterns at the limits;
        # the reserved format has all limits 0.
        def by_format(values):
            v8, v4, v2 = values
            return Mux(~fmt.any(), v8, Mux(fmt == 1, v4, Mux(fmt == 2, v2, 0)))
        signed_max = by_format([(1 << (b - 1)) - 1 for b in PRECISIONS])
        signed_min = by_format([1 << (b - 1) for b in PRECISIONS])
        umax       = by_format([(1 << b) - 1 for b in PRECISIONS])
        pos_max = Signal(12)
        neg_max = Signal(12)
        m.d.comb += [pos_max.eq(Mux(out_signed, signed_max, umax)),
                     neg_max.eq(Mux(out_signed, signed_min, 0))]
        hi, lo = pos_max[:8], C(0, 8) - neg_max[:8]
        with m.If(da.nan):
            m.d.comb += out.eq(0)
        with m.Elif(da.sign):
            with m.If(big | (mag > neg_max)):
                m.d.comb += out.eq(lo)
            with m.Else():
                m.d.comb += out.eq(C(0, 8) - mag[:8])
        with m.Else():
            with m.If(big | (mag > pos_max)):
                m.d.comb += out.eq(hi)
            with m.Else():
                m.d.comb += out.eq(mag[:8])
