# amaranth: UnusedElaboratable=no
"""The VMM's byte lane under the Amaranth simulator, exhaustively: every weight byte with
every activation byte, signed and unsigned, at every precision, through the lane's one
multiplier (the narrow precisions packed into its operands, :data:`rtl.vmm.vmm.PACKING`)
and its field selection. (The cocotb tests in tb/vmm run whole tiles and steps.)"""

import numpy as np
import pytest
from amaranth import C, Elaboratable, Module, Signal, signed
from amaranth.sim import Simulator

from rtl.spec.codes import Precision
from rtl.vmm.vmm import OPERAND_BITS, PACKING, VMM


def _elements(values, bits, signed_):
    """The ``8 // bits`` elements of each byte of ``values``, little-endian, as int64."""
    values = np.asarray(values, dtype=np.int64)
    mask = (1 << bits) - 1
    out = [(values >> k) & mask for k in range(0, 8, bits)]
    if signed_:
        out = [np.where(e >> (bits - 1), e - (1 << bits), e) for e in out]
    return out


def _dots(weight, bits, act_signed):
    """Every activation byte's dot product with ``weight`` at ``bits``."""
    ws = _elements([weight], bits, True)
    acts = _elements(np.arange(256), bits, act_signed)
    return sum(a * w[0] for a, w in zip(acts, ws, strict=True))


class _Lanes(Elaboratable):
    """256 byte lanes of one VMM, one for each activation byte, all with weight ``w``;
    their products go straight to the field selection (the unit registers them in
    between)."""

    def __init__(self, vmm):
        self.vmm = vmm
        self.w = Signal(8)
        self.act_signed = Signal()
        self.precision = Signal(Precision)
        self.lanes = [Signal(signed(17), name=f"lane{a}") for a in range(256)]

    def elaborate(self, platform):
        m = Module()
        width = 17 if self.vmm.precisions == (8,) else 18
        for a, lane in enumerate(self.lanes):
            product, extra = self.vmm._lane_products(m, self.w, C(a, 8), self.act_signed,
                                                     self.precision)
            m.d.comb += lane.eq(self.vmm._lane_select(m, product[:width], extra,
                                                       self.precision))
        return m


@pytest.mark.parametrize("precisions", [(8, 4, 2), (8,), (4,), (2,)])
def test_lane_exhaustive(precisions):
    """Every (weight byte, activation byte, signedness) at each built precision gives the
    exact dot product of the byte's elements; an unbuilt precision and the reserved
    encoding give 0."""
    dut = _Lanes(VMM(4, 1, precisions))
    mismatches = []

    async def bench(ctx):
        for code in (*Precision, 3):
            ctx.set(dut.precision, code)
            bits = Precision(code).bits if code != 3 else None
            for act_signed in (0, 1):
                ctx.set(dut.act_signed, act_signed)
                for w in range(256):
                    ctx.set(dut.w, w)
                    got = np.array([ctx.get(lane) for lane in dut.lanes])
                    want = (_dots(w, bits, act_signed) if bits in precisions
                            else np.zeros(256, dtype=np.int64))
                    for a in np.flatnonzero(got != want):
                        mismatches.append((bits, act_signed, w, int(a), int(got[a]),
                                           int(want[a])))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert not mismatches, f"{len(mismatches)} lanes wrong, the first " \
                           f"(bits, act_signed, weight, activation, got, want): {mismatches[:5]}"


@pytest.mark.parametrize("bits", sorted(PACKING))
def test_packing_bounds(bits):
    """The packing's premises over every element value: the lower coefficients' sum lies
    inside ``+-2**(s-1)``, the dot product in ``K`` signed bits, and the operands in
    :data:`OPERAND_BITS` (the bounds the lane's field selection relies on)."""
    shift, n = PACKING[bits]
    low = (n - 1) * shift
    for act_signed in (False, True):
        acts = _elements(np.arange(256)[:, None], bits, act_signed)
        ws = _elements(np.arange(256)[None, :], bits, True)
        a_op = sum(acts[i] << (i * shift) for i in range(n))
        w_op = sum(ws[n - 1 - i] << (i * shift) for i in range(n))
        # The coefficient of 2**(j K) in a_op * w_op: sum over i + i2 = j of a_i w_{n-1-i2}.
        coef = [sum(acts[i] * ws[n - 1 - (j - i)] for i in range(max(0, j - n + 1),
                                                                min(j, n - 1) + 1))
                for j in range(2 * n - 1)]
        dot = sum(acts[i] * ws[i] for i in range(n))
        assert np.array_equal(coef[n - 1], dot)
        assert np.array_equal(a_op * w_op, sum(c << (j * shift) for j, c in enumerate(coef)))
        lower = sum(coef[j] << (j * shift) for j in range(n - 1))
        assert np.abs(lower).max() < 1 << (low - 1)
        assert -(1 << (shift - 1)) <= dot.min() and dot.max() < 1 << (shift - 1)
        for op, width in zip((a_op, w_op), OPERAND_BITS[bits], strict=True):
            assert -(1 << (width - 1)) <= op.min() and op.max() < 1 << (width - 1)


@pytest.mark.parametrize("precisions", [(8, 4, 2), (8,), (2,)])
def test_one_multiplier_a_lane(precisions):
    """The 4 x 4 VMM's netlist has one multiplication a byte lane, 16 in all, whatever
    the precisions built (the FPGA's 16 MULT18X18D a core for the VMM)."""
    from amaranth.back import rtlil
    vmm = VMM(4, 4, precisions)
    text = rtlil.convert(vmm, ports=None)
    assert text.count("cell $mul ") == 16
