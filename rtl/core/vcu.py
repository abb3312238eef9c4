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


class VectorUnit(wiring.Component):
    """FP16 vector unit: one operation on ``lanes`` binary16 lanes per cycle.

    Every operation is IEEE-754 binary16, correctly rounded to nearest even, subnormals
    kept, overflow to infinity, every NaN result ``0x7E00``. ADD, SUB, MUL and FMA share
    one exact fused multiply-add datapath per lane (``a + b`` is ``a * 1 + b``, ``a * b``
    is ``a * b + (-0)``), so each rounds once. Comparisons are quiet (false with a NaN,
    ``-0 == +0``) and set ``mask``, with ``r`` 1.0 or +0. MIN/MAX are IEEE 754-2019
    minimumNumber/maximumNumber. CVT_I32 rounds ``int32 * 2**-shift`` once; CVT_INT rounds
    to nearest even, saturates (NaN gives 0) and packs the lanes little-endian from bit 0
    of ``r`` (the VMM's activation format), zeroing the rest. Reserved opcodes give
    canonical NaN in every lane and an empty mask.

    Latency: 4 cycles for every operation (decode and multiply, align and add,
    leading-zero count, normalize and round). Throughput: one instruction per cycle while
    ``results`` is ready; stages accept when empty or draining.

    Parameters
    ----------
    lanes : int
        Lanes; a power of two, at least 4 (so that int2 results fill whole bytes).

    Members
    -------
    instrs : In(stream.Signature(vcu_instr_layout(lanes)))
    results : Out(stream.Signature(vcu_result_layout(lanes)))
    """

    latency = 4

    def __init__(self, lanes):
        if not isinstance(lanes, int) or lanes < 4 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two of at least 4, not {lanes!r}")
        self._lanes = lanes
        super().__init__({
            "instrs":  In(stream.Signature(vcu_instr_layout(lanes))),
            "results": Out(stream.Signature(vcu_result_layout(lanes))),
        })

    @property
    def lanes(self):
        return self._lanes

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

        # Instruction-wide decode, carried down the pipeline.
        op        = p.op
        fma_class = op <= VcuOp.FMA  # ADD, SUB, MUL, FMA
        is_i32    = op == VcuOp.CVT_I32
        is_cvt    = op == VcuOp.CVT_INT
        rounded1, rounded2, rounded3 = (Signal(name=f"rounded{k}") for k in range(1, 4))
        fmt1, fmt2, fmt3 = (Signal(2, name=f"fmt{k}") for k in range(1, 4))
        cvt1, cvt2, cvt3 = (Signal(name=f"cvt_int{k}") for k in range(1, 4))
        is_i32_1 = Signal()
        shift1   = Signal(6)
        with m.If(load1):
            m.d.sync += [rounded1.eq(fma_class | is_i32), is_i32_1.eq(is_i32),
                         shift1.eq(p.shift), fmt1.eq(p.fmt), cvt1.eq(is_cvt)]
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

            # --- Stage 1: FMA operands, direct results, int conversions. ---
            fa, fb, fc = Signal(16, name=f"fa{i}"), Signal(16, name=f"fb{i}"), \
                Signal(16, name=f"fc{i}")
            with m.Switch(op):
                with m.Case(VcuOp.ADD):
                    m.d.comb += [fa.eq(a), fb.eq(fp16.ONE), fc.eq(b)]
                with m.Case(VcuOp.SUB):
                    m.d.comb += [fa.eq(a), fb.eq(fp16.ONE), fc.eq(b ^ 0x8000)]
                with m.Case(VcuOp.MUL):
                    m.d.comb += [fa.eq(a), fb.eq(b), fc.eq(fp16.NEG_ZERO)]
                with m.Default():
                    m.d.comb += [fa.eq(a), fb.eq(b), fc.eq(c)]
            ops = fp16.fma_operands(fp16.decode(fa), fp16.decode(fb), fp16.decode(fc))
            s1 = {name: Signal.like(getattr(ops, name), name=f"s1_{name}{i}")
                  for name in ("ps", "psh", "sign_p", "sc", "csh", "sign_c",
                               "nan", "inf", "inf_sign")}
            # int32 for CVT_I32: b holds the high half.
            x32    = Cat(a, b)
            abs32  = Signal(32, name=f"s1_abs32_{i}")
            sign32 = Signal(name=f"s1_sign32_{i}")

            direct = Signal(16, name=f"direct{i}")
            dmask  = Signal(name=f"dmask{i}")
            self._direct(m, op, a, b, da, db, p.mask[i], direct, dmask)
            intv = Signal(8, name=f"int{i}")
            self._to_int(m, da, p.fmt, p.out_signed, intv)

            s1_direct, s1_mask, s1_int = (Signal(16, name=f"s1_direct{i}"),
                                          Signal(name=f"s1_mask{i}"),
                                          Signal(8, name=f"s1_int{i}"))
            with m.If(load1):
                m.d.sync += [s1[name].eq(getattr(ops, name)) for name in s1]
                m.d.sync += [abs32.eq(Mux(x32[31], C(0, 32) - x32, x32)), sign32.eq(x32[31]),
                             s1_direct.eq(direct), s1_mask.eq(dmask), s1_int.eq(intv)]

            # --- Stage 2: exact sum (or the int32 in the window). ---
            fmag, fsign = fp16.fma_sum(m, s1["ps"], s1["psh"], s1["sign_p"],
                                       s1["sc"], s1["csh"], s1["sign_c"])
            imag = fp16.int_window(m, abs32, shift1)
            s2_mag, s2_sign = Signal(fp16.WINDOW, name=f"s2_mag{i}"), Signal(name=f"s2_sign{i}")
            s2_nan, s2_inf, s2_inf_sign = (Signal(name=f"s2_nan{i}"), Signal(name=f"s2_inf{i}"),
                                           Signal(name=f"s2_inf_sign{i}"))
            s2_direct, s2_mask, s2_int = (Signal(16, name=f"s2_direct{i}"),
                                          Signal(name=f"s2_mask{i}"),
                                          Signal(8, name=f"s2_int{i}"))
            with m.If(load2):
                m.d.sync += [
                    s2_mag.eq(Mux(is_i32_1, imag, fmag)),
                    s2_sign.eq(Mux(is_i32_1, sign32, fsign)),
                    s2_nan.eq(~is_i32_1 & s1["nan"]),
                    s2_inf.eq(~is_i32_1 & s1["inf"]),
                    s2_inf_sign.eq(s1["inf_sign"]),
                    s2_direct.eq(s1_direct), s2_mask.eq(s1_mask), s2_int.eq(s1_int),
                ]

            # --- Stage 3: leading-zero count. ---
            shl = fp16.normalize_shift(m, s2_mag)
            s3 = [Signal(fp16.WINDOW, name=f"s3_mag{i}"), Signal(6, name=f"s3_shl{i}"),
                  Signal(name=f"s3_sign{i}"), Signal(name=f"s3_nan{i}"),
                  Signal(name=f"s3_inf{i}"), Signal(name=f"s3_inf_sign{i}"),
                  Signal(16, name=f"s3_direct{i}"), Signal(name=f"s3_mask{i}"),
                  Signal(8, name=f"s3_int{i}")]
            with m.If(load3):
                m.d.sync += [reg.eq(val) for reg, val in zip(
                    s3, [s2_mag, shl, s2_sign, s2_nan, s2_inf, s2_inf_sign,
                         s2_direct, s2_mask, s2_int], strict=True)]
            s3_mag, s3_shl, s3_sign, s3_nan, s3_inf, s3_inf_sign, \
                s3_direct, s3_mask, s3_int = s3

            # --- Stage 4: normalize, round, select the result. ---
            rounded = fp16.round_pack(m, s3_sign, s3_mag, s3_shl,
                                      s3_nan, s3_inf, s3_inf_sign)
            lane_values.append(Mux(rounded3, rounded, s3_direct))
            with m.If(load4):
                m.d.sync += self.results.p.mask[i].eq(s3_mask)
            ints.append(s3_int)

        # CVT_INT packs the lanes' integers from bit 0 of r instead of the lane results.
        packed = Signal(16 * self._lanes)
        with m.Switch(fmt3):
            for code, bits in enumerate(PRECISIONS):
                with m.Case(code):
                    m.d.comb += packed.eq(Cat(v[:bits] for v in ints))
            with m.Default():
                m.d.comb += packed.eq(0)
        with m.If(load4):
            m.d.sync += self.results.p.r.as_value().eq(Mux(cvt3, packed, Cat(lane_values)))
        return m

    @staticmethod
    def _direct(m, op, a, b, da, db, mask_in, out, mask):
        """Results that need no rounding: min/max, comparisons, abs/neg, select."""
        nan_a, nan_b = da.nan, db.nan
        ta, tb = fp16.total_key(a), fp16.total_key(b)
        eq, lt, le = fp16.compare(a, b, da, db)

        def canon(x, is_nan):
            return Mux(is_nan, fp16.CANONICAL_NAN, x)

        def pick(take_a):
            return Mux(nan_a & nan_b, fp16.CANONICAL_NAN,
                       Mux(nan_a, b, Mux(nan_b, a, Mux(take_a, a, b))))

        def result(flag):
            m.d.comb += out.eq(Mux(flag, fp16.ONE, 0))

        m.d.comb += mask.eq(Mux(op == VcuOp.EQ, eq,
                                Mux(op == VcuOp.LT, lt, Mux(op == VcuOp.LE, le, 0))))

        with m.Switch(op):
            with m.Case(VcuOp.MIN):
                m.d.comb += out.eq(pick(ta <= tb))
            with m.Case(VcuOp.MAX):
                m.d.comb += out.eq(pick(ta >= tb))
            with m.Case(VcuOp.EQ):
                result(eq)
            with m.Case(VcuOp.LT):
                result(lt)
            with m.Case(VcuOp.LE):
                result(le)
            with m.Case(VcuOp.ABS):
                m.d.comb += out.eq(canon(Cat(a[:15], 0), nan_a))
            with m.Case(VcuOp.NEG):
                m.d.comb += out.eq(canon(Cat(a[:15], ~a[15]), nan_a))
            with m.Case(VcuOp.SEL):
                m.d.comb += out.eq(Mux(mask_in, canon(a, nan_a), canon(b, nan_b)))
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
