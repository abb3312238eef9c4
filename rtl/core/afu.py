"""FP16 activation unit."""

from types import SimpleNamespace

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..pipeline import Pipeline
from ..spec.afu_tables import FUNCTIONS, SPECS, rom
from ..spec.codes import AfuOp
from . import fp16

__all__ = ["AfuOp", "afu_instr_layout", "afu_result_layout", "ActivationUnit"]


_TABLE_OPS = {"gelu": AfuOp.GELU, "sigmoid": AfuOp.SIGMOID, "tanh": AfuOp.TANH,
              "exp": AfuOp.EXP}


def afu_instr_layout(lanes):
    """One activation instruction: the op, ``lanes`` inputs and two binary16 parameters."""
    return data.StructLayout({
        "op": AfuOp,
        "x":  data.ArrayLayout(16, lanes),
        "p0": 16,
        "p1": 16,
    })


def afu_result_layout(lanes):
    return data.StructLayout({"y": data.ArrayLayout(16, lanes)})


class ActivationUnit(wiring.Component):
    """FP16 activation unit: one function of ``lanes`` binary16 inputs per cycle.

    RELU, CLAMP (IEEE minimumNumber/maximumNumber) and LEAKY_RELU (one rounding of
    ``x * p0``) are exact. GELU, SIGMOID, TANH and EXP are piecewise-linear: the bits of
    ``x`` select a coefficient pair from a ROM holding the tables of
    :mod:`rtl.spec.afu_tables`, and one rounding of ``d * c1 + c0`` on the vector unit's
    fused multiply-add datapath gives the result, bit-exact with the golden model (errors
    against float64 in docs/architecture.md); its window is the vector unit's, 39 bits,
    as long as the tables allow it (:meth:`window_below`). A NaN input gives ``0x7E00``;
    the reserved opcode gives ``0x7E00`` in every lane.

    Latency: 5 cycles (table read, multiply, add, leading-zero count, normalize and
    round); 6 with ``table_reg`` (the table read registered before the multiply).
    Throughput: one instruction per cycle while ``results`` is ready.

    Parameters
    ----------
    lanes : int
        Lanes; a power of two. Lanes ``2k`` and ``2k + 1`` share one table ROM
        (submodule ``table{k}``, ``len(rom()[0])`` words of 33 bits: the 32-bit entry
        and c1's hidden bit) through its two synchronous read ports, so that a true
        dual-port block RAM (the ECP5's DP16KD) serves two lanes; a single lane has a
        ROM with one port.
    table_reg : bool
        Register the ROM's read data (and what travels beside it) for a cycle before
        the multiply: a block RAM's slow clock-to-output (and the route from it) then
        has a cycle of its own (``CoreConfig.afu_table_reg``, the FPGA core's).

    Members
    -------
    instrs : In(stream.Signature(afu_instr_layout(lanes)))
    results : Out(stream.Signature(afu_result_layout(lanes)))
    """

    def __init__(self, lanes, table_reg=False):
        if not isinstance(lanes, int) or lanes < 1 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a positive power of two, not {lanes!r}")
        if type(table_reg) is not bool:
            raise ValueError(f"table_reg must be True or False, not {table_reg!r}")
        self._lanes, self._table_reg = lanes, table_reg
        self.latency = self.unit_latency(table_reg)
        super().__init__({
            "instrs":  In(stream.Signature(afu_instr_layout(lanes))),
            "results": Out(stream.Signature(afu_result_layout(lanes))),
        })

    @staticmethod
    def unit_latency(table_reg=False):
        """The latency of a unit built with ``table_reg``."""
        return 6 if table_reg else 5

    @property
    def lanes(self):
        return self._lanes

    @property
    def table_reg(self):
        return self._table_reg

    @classmethod
    def from_config(cls, core):
        return cls(core.afu_lanes, core.afu_table_reg)

    def elaborate(self, platform):
        m = Module()
        p = self.instrs.p
        reg = self._table_reg
        pipe = Pipeline(m, self.latency, i_valid=self.instrs.valid,
                        o_valid=self.results.valid, o_ready=self.results.ready)
        m.d.comb += self.instrs.ready.eq(pipe.i_ready)
        # With table_reg, load_t is the extra stage's (between the ROM read and stage 2).
        load1, load_t = pipe.load[0], pipe.load[1] if reg else None
        load2, load3, load4, load5 = pipe.load[1 + reg:]
        words, bases = rom()
        abits = (len(words) - 1).bit_length()
        below = self.window_below()

        op1 = Signal(AfuOp)
        p0_1 = Signal(16)
        with m.If(load1):
            m.d.sync += [op1.eq(p.op), p0_1.eq(p.p0)]
        if reg:
            op1, p0_1 = self._delay(m, load_t, op1, "t"), self._delay(m, load_t, p0_1, "t")
        leaky1 = op1 == AfuOp.LEAKY_RELU
        table1 = op1.matches(*_TABLE_OPS.values())

        # One ROM for each pair of lanes, read by both through its two ports (a true
        # dual-port block RAM holds it once for the two); an odd last lane has a ROM of its
        # own. Each word carries c1's hidden bit (bit 32), so that the multiplier's operand
        # comes from the block RAM through one multiplexer.
        init = [int(w) | int((int(w) >> 26) & 0x1F != 0) << 32 for w in words]
        ports = []
        for t in range((self._lanes + 1) // 2):
            mem = Memory(shape=33, depth=len(words), init=init)
            m.submodules[f"table{t}"] = mem
            ports += [mem.read_port(domain="sync") for _ in range(min(2, self._lanes - 2 * t))]

        for i in range(self._lanes):
            x = p.x[i]
            dx = fp16.decode(x)

            # --- Stage 1: table address and d; exact results computed directly. ---
            entries = {name: self._entry(m, x, SPECS[name], bases[name], abits, i, name)
                       for name in FUNCTIONS}
            addr  = Signal(abits, name=f"addr{i}")
            d_sig = Signal(11, name=f"d_sig{i}")
            addr_v, d_sig_v = C(0, abits), dx.sig
            for name in FUNCTIONS:
                hit = p.op == _TABLE_OPS[name]
                e = entries[name]
                addr_v = Mux(hit, e.addr, addr_v)
                d_sig_v = Mux(hit & e.in_table, e.d_sig, d_sig_v)
            m.d.comb += [addr.eq(addr_v), d_sig.eq(d_sig_v)]
            port = ports[i]
            m.d.comb += [port.addr.eq(addr), port.en.eq(load1)]

            direct = Signal(16, name=f"direct{i}")
            self._direct(m, p.op, x, dx, p.p0, p.p1, direct)
            s1_x, s1_dsig, s1_direct = (Signal(16, name=f"s1_x{i}"),
                                        Signal(11, name=f"s1_dsig{i}"),
                                        Signal(16, name=f"s1_direct{i}"))
            with m.If(load1):
                m.d.sync += [s1_x.eq(x), s1_dsig.eq(d_sig), s1_direct.eq(direct)]

            table = port.data
            if reg:   # the ROM's read data, and what goes beside it, a cycle later
                table, s1_x, s1_dsig, s1_direct = (
                    self._delay(m, load_t, sig, f"t{i}")
                    for sig in (table, s1_x, s1_dsig, s1_direct))

            # --- Stage 2: coefficients from the ROM; multiply. ---
            c0, c1 = table[:16], table[16:32]
            x1 = fp16.decode(s1_x)
            d = SimpleNamespace(sign=x1.sign, sig=s1_dsig, e=x1.e, nan=x1.nan,
                                inf=x1.inf, zero=~s1_dsig.any())
            dc1, dp0 = fp16.decode(c1), fp16.decode(p0_1)
            dc1.sig = Cat(c1[:10], table[32])
            mul_b = SimpleNamespace(**{key: Mux(leaky1, getattr(dp0, key), getattr(dc1, key))
                                       for key in vars(dc1)})
            add_c = Mux(leaky1, C(fp16.NEG_ZERO, 16), c0)
            ops = fp16.fma_operands(d, mul_b, fp16.decode(add_c))
            use_fma = leaky1 & x1.sign | table1 & c1.any()
            result2 = Mux(table1, c0, s1_direct)  # the result when no FMA is needed
            s2 = {name: Signal.like(getattr(ops, name), name=f"s2_{name}{i}")
                  for name in ("ps", "sc", "rsh", "maxshift", "sign_p", "sign_c",
                               "nan", "inf", "inf_sign")}
            s2_use, s2_alt, s2_xnan = (Signal(name=f"s2_use{i}"), Signal(16, name=f"s2_alt{i}"),
                                       Signal(name=f"s2_xnan{i}"))
            with m.If(load2):
                m.d.sync += [s2[name].eq(getattr(ops, name)) for name in s2]
                m.d.sync += [s2_use.eq(use_fma), s2_alt.eq(result2), s2_xnan.eq(x1.nan)]

            # --- Stage 3: the window's sum. ---
            width = fp16.window_bits(below)
            mag, sign = fp16.fma_sum(m, s2["ps"], s2["sc"], s2["rsh"], s2["sign_p"],
                                     s2["sign_c"], below=below)
            s3 = [Signal(width, name=f"s3_mag{i}"), Signal(name=f"s3_sign{i}"),
                  Signal(6, name=f"s3_max{i}"),
                  Signal(name=f"s3_nan{i}"), Signal(name=f"s3_inf{i}"),
                  Signal(name=f"s3_inf_sign{i}"), Signal(name=f"s3_use{i}"),
                  Signal(16, name=f"s3_alt{i}"), Signal(name=f"s3_xnan{i}")]
            with m.If(load3):
                m.d.sync += [r.eq(v) for r, v in zip(
                    s3, [mag, sign, s2["maxshift"], s2["nan"], s2["inf"], s2["inf_sign"],
                         s2_use, s2_alt, s2_xnan], strict=True)]
            s3_mag, s3_sign, s3_max, s3_nan, s3_inf, s3_inf_sign, s3_use, s3_alt, \
                s3_xnan = s3

            # --- Stage 4: leading-zero count. ---
            shl, fm1 = fp16.normalize_shift(m, s3_mag, s3_max)
            s4 = [Signal(width, name=f"s4_mag{i}"), Signal(6, name=f"s4_shl{i}"),
                  Signal(6, name=f"s4_fm1_{i}"),
                  Signal(name=f"s4_sign{i}"), Signal(name=f"s4_nan{i}"),
                  Signal(name=f"s4_inf{i}"), Signal(name=f"s4_inf_sign{i}"),
                  Signal(name=f"s4_use{i}"), Signal(16, name=f"s4_alt{i}"),
                  Signal(name=f"s4_xnan{i}")]
            with m.If(load4):
                m.d.sync += [r.eq(v) for r, v in zip(
                    s4, [s3_mag, shl, fm1, s3_sign, s3_nan, s3_inf, s3_inf_sign, s3_use,
                         s3_alt, s3_xnan], strict=True)]
            s4_mag, s4_shl, s4_fm1, s4_sign, s4_nan, s4_inf, s4_inf_sign, s4_use, s4_alt, \
                s4_xnan = s4

            # --- Stage 5: normalize, round and select. ---
            rounded = fp16.round_pack(m, s4_sign, s4_mag, s4_shl, s4_fm1, s4_nan, s4_inf,
                                      s4_inf_sign)
            with m.If(load5):
                m.d.sync += self.results.p.y[i].eq(
                    Mux(s4_xnan, fp16.CANONICAL_NAN, Mux(s4_use, rounded, s4_alt)))
        return m

    @staticmethod
    def _delay(m, load, value, suffix):
        """``value`` in a register loaded by ``load``."""
        name = getattr(Value.cast(value), "name", "table")
        reg = Signal.like(value, name=f"{name}_{suffix}")
        with m.If(load):
            m.d.sync += reg.eq(value)
        return reg

    @staticmethod
    def window_below():
        """The FMA window's bits below the product (:func:`rtl.core.fp16.fma_sum`).

        A table segment's ``d`` has an unnormalized significand (``x``'s low mantissa
        bits) and some ``c1`` are subnormal, so a product may have no bit at or above
        ``psh + 10``; but such a product has its lsb at ``psh = e - 1 <= e_hi - 1``, and
        with ``e_hi <= 26`` for every table the window's bit 1 is at most ``2**-25``,
        below every result's guard bit: :data:`~rtl.core.fp16.BELOW_NORMAL` bits suffice
        (every other product, LEAKY_RELU's too, has a normal significand or both factors
        subnormal, or a zero addend). Tables reaching higher exponents take
        :data:`~rtl.core.fp16.BELOW_ANY`.
        """
        if max(spec.e_hi for spec in SPECS.values()) - 1 <= 23 + fp16.BELOW_NORMAL:
            return fp16.BELOW_NORMAL
        return fp16.BELOW_ANY

    @staticmethod
    def _entry(m, x, spec, base, abits, lane, name):
        """Table address and ``d`` significand of ``x`` for one function."""
        sign, exp, man = x[15], x[10:15], x[:10]
        nexp = spec.e_hi - spec.e_lo + 1
        segments = (2 * nexp) << spec.k
        row = Signal(8, name=f"{name}_row{lane}")  # sign * nexp + exp - e_lo
        m.d.comb += row.eq(Mux(sign, C(nexp, 8), C(0, 8)) + exp - C(spec.e_lo, 8))
        seg = Cat(man[10 - spec.k:], row)
        small = exp < C(spec.e_lo, 5)
        large = exp > C(spec.e_hi, 5)
        index = Signal(abits, name=f"{name}_index{lane}")
        m.d.comb += index.eq(Mux(small, C(segments, abits) + sign,
                                 Mux(large, C(segments + 2, abits) + sign, seg)))
        addr = Signal(abits, name=f"{name}_addr{lane}")
        m.d.comb += addr.eq(index + C(base, abits))
        return SimpleNamespace(addr=addr, in_table=~small & ~large,
                               d_sig=fp16.zx(man[:10 - spec.k], 11))

    @staticmethod
    def _direct(m, op, x, dx, p0, p1, out):
        """RELU and CLAMP results, and the reserved opcode's NaN."""
        d0, d1 = fp16.decode(p0), fp16.decode(p1)

        def pick(a, b, da, db, take_a):
            return Mux(da.nan & db.nan, fp16.CANONICAL_NAN,
                       Mux(da.nan, b, Mux(db.nan, a, Mux(take_a, a, b))))

        # CLAMP is minimumNumber(maximumNumber(x, p0), p1). The three comparisons are made
        # side by side (not the second on the first's result: one carry chain deep).
        kx, k0, k1 = fp16.total_key(x), fp16.total_key(p0), fp16.total_key(p1)
        x_over_p0, x_under_p1, p0_under_p1 = kx >= k0, kx <= k1, k0 <= k1
        lower = Signal(16)  # maximumNumber(x, p0)
        m.d.comb += lower.eq(pick(x, p0, dx, d0, x_over_p0))
        lower_is_x = ~dx.nan & (d0.nan | x_over_p0)    # else p0, or a NaN if both are
        lower_nan = SimpleNamespace(nan=dx.nan & d0.nan)
        clamp = pick(lower, p1, lower_nan, d1, Mux(lower_is_x, x_under_p1, p0_under_p1))
        with m.Switch(op):
            with m.Case(AfuOp.RELU):
                m.d.comb += out.eq(Mux(x[15], 0, x))
            with m.Case(AfuOp.CLAMP):
                m.d.comb += out.eq(clamp)
            with m.Case(AfuOp.LEAKY_RELU):
                m.d.comb += out.eq(x)   # positive inputs; negative ones take the FMA
            with m.Default():
                m.d.comb += out.eq(fp16.CANONICAL_NAN)
