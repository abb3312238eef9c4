"""A vector or activation unit of many lanes made of a narrower one, time-multiplexed."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.codes import PRECISIONS, VcuOp
from .afu import ActivationUnit, afu_instr_layout, afu_result_layout
from .queue import Queue
from .vcu import VectorUnit, vcu_instr_layout, vcu_result_layout

__all__ = ["SerialUnit"]

#: The units a :class:`SerialUnit` can be made of: their instruction and result layouts.
_LAYOUTS = {
    VectorUnit:     (vcu_instr_layout, vcu_result_layout),
    ActivationUnit: (afu_instr_layout, afu_result_layout),
}


def _lane_fields(layout, lanes):
    """The fields of ``layout`` (a unit's instruction or result layout for ``lanes``
    lanes) that hold one element per lane: ``{name: "array"}`` for an array of ``lanes``
    elements, ``{name: "bits"}`` for a ``lanes``-bit mask; every other field is the whole
    instruction's."""
    fields = {}
    for name, field in layout:
        if isinstance(field.shape, data.ArrayLayout) and field.shape.length == lanes:
            fields[name] = "array"
        elif name == "mask":
            fields[name] = "bits"
    return fields


class SerialUnit(wiring.Component):
    """A :class:`VectorUnit` or :class:`ActivationUnit` of ``lanes`` lanes built from one
    of ``lanes // passes`` lanes, which takes an instruction's lanes in ``passes`` groups
    (lanes ``0 .. lanes // passes - 1`` first), one group a cycle, and gives the whole
    result vector at once: bit for bit the wide unit's results.

    A vector unit's CVT_INT packs each group's integers from bit 0; they are packed again
    here, group after group, as the wide unit packs its lanes. The instruction's ``op``
    and ``fmt`` wait for that beside the narrow unit, in a queue of ``latency + 2``
    entries (the instructions that can be in flight: one being fed, one a group in each of
    the narrow unit's stages, one being gathered).

    Latency: the narrow unit's ``latency + passes - 1`` cycles from an ``instrs``
    transfer to its ``results`` transfer. Throughput: one instruction every ``passes``
    cycles (``instrs.ready`` is low for the ``passes - 1`` cycles after a transfer while
    the held instruction's other groups are fed); backpressure on ``results`` stalls the
    narrow unit on the last group. With ``passes`` 1 this is the unit itself, unchanged.

    Parameters
    ----------
    unit : type
        :class:`VectorUnit` or :class:`ActivationUnit`.
    lanes : int
        Lanes of the instructions and results.
    passes : int
        Groups a vector is taken in; a power of two that divides ``lanes``.
    **kwargs
        Given to the narrow unit (a vector unit's ``ops``).

    Members
    -------
    instrs : In(stream.Signature(instr_layout(lanes)))
    results : Out(stream.Signature(result_layout(lanes)))
    """

    def __init__(self, unit, lanes, passes, **kwargs):
        if unit not in _LAYOUTS:
            raise ValueError(f"unit must be VectorUnit or ActivationUnit, not {unit!r}")
        if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 1 \
                or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a positive power of two, not {lanes!r}")
        if not isinstance(passes, int) or isinstance(passes, bool) or passes < 1 \
                or passes & (passes - 1) or passes > lanes:
            raise ValueError(f"passes must be a power of two from 1 to lanes = {lanes}, "
                             f"not {passes!r}")
        self._lanes, self._passes = lanes, passes
        self._inner = lanes // passes
        self._narrow = unit(self._inner, **kwargs)
        self._instr_layout, self._result_layout = (f(lanes) for f in _LAYOUTS[unit])
        self.latency = self._narrow.latency + passes - 1
        super().__init__({
            "instrs":  In(stream.Signature(self._instr_layout)),
            "results": Out(stream.Signature(self._result_layout)),
        })

    @property
    def lanes(self):
        return self._lanes

    @property
    def passes(self):
        return self._passes

    @property
    def ops(self):
        """A vector unit's operations built (see :attr:`VectorUnit.ops`)."""
        return self._narrow.ops

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self._narrow
        k, n = self._passes, self._inner
        if k == 1:
            wiring.connect(m, wiring.flipped(self.instrs), unit.instrs)
            wiring.connect(m, unit.results, wiring.flipped(self.results))
            return m

        # Input: group 0 goes to the narrow unit as the instruction is taken, and the
        # whole instruction is held; group ``group`` of it goes next, one a cycle.
        i_fields = _lane_fields(self._instr_layout, self._lanes)
        held = Signal(self._instr_layout, reset_less=True)
        group = Signal(range(k))   # the held group fed now (0: none, the input is ready)
        busy = group != 0
        m.d.comb += [self.instrs.ready.eq(~busy & unit.instrs.ready),
                     unit.instrs.valid.eq(busy | self.instrs.valid)]
        with m.If(self.instrs.valid & self.instrs.ready):
            m.d.sync += [held.eq(self.instrs.p), group.eq(1)]
        with m.Elif(busy & unit.instrs.ready):
            m.d.sync += group.eq(Mux(group == k - 1, 0, group + 1))
        p = self.instrs.p
        for name, _ in unit.instrs.p.shape():
            kind = i_fields.get(name)
            if kind == "array":
                for j in range(n):
                    pick = Array(held[name][g * n + j] for g in range(k))[group]
                    m.d.comb += unit.instrs.p[name][j].eq(Mux(busy, pick, p[name][j]))
            elif kind == "bits":
                bits = Value.cast(held[name])
                pick = Array(bits[g * n:(g + 1) * n] for g in range(k))[group]
                m.d.comb += unit.instrs.p[name].eq(Mux(busy, pick, Value.cast(p[name])[:n]))
            else:
                m.d.comb += unit.instrs.p[name].eq(Mux(busy, held[name], p[name]))

        # Output: the groups before the last are gathered, each in its register; the last
        # goes out beside them.
        o_fields = _lane_fields(self._result_layout, self._lanes)
        assert set(o_fields) == {name for name, _ in self._result_layout}
        gathered = Signal(range(k))
        last = gathered == k - 1
        got = unit.results.valid & unit.results.ready
        m.d.comb += [unit.results.ready.eq(~last | self.results.ready),
                     self.results.valid.eq(unit.results.valid & last)]
        with m.If(got):
            m.d.sync += gathered.eq(Mux(last, 0, gathered + 1))
        groups = {}   # field -> the value of each group, 0 to k - 1
        for name, kind in o_fields.items():
            cur = Value.cast(unit.results.p[name])
            width = len(cur) if kind == "array" else n
            cur = cur[:width]
            caps = [Signal(width, name=f"gathered_{name}{g}", reset_less=True)
                    for g in range(k - 1)]
            for g, cap in enumerate(caps):
                with m.If(got & (gathered == g)):
                    m.d.sync += cap.eq(cur)
            groups[name] = caps + [cur]
            m.d.comb += self.results.p[name].eq(Cat(groups[name]))

        # A vector unit's CVT_INT: each group's integers packed again, group after group.
        if isinstance(self._narrow, VectorUnit) and VcuOp.CVT_INT in self._narrow.ops:
            m.submodules.tags = tags = Queue(3, self._narrow.latency + 2)
            m.d.comb += [tags.w.valid.eq(self.instrs.valid & self.instrs.ready),
                         tags.w.p.eq(Cat(self.instrs.p.fmt, self.instrs.p.op == VcuOp.CVT_INT)),
                         tags.r.ready.eq(self.results.valid & self.results.ready)]
            fmt, cvt = tags.r.p[:2], tags.r.p[2]
            packed = Signal(16 * self._lanes)
            with m.Switch(fmt):
                for code, bits in enumerate(PRECISIONS):
                    with m.Case(code):
                        m.d.comb += packed.eq(Cat(v[:n * bits] for v in groups["r"]))
                with m.Default():
                    m.d.comb += packed.eq(0)
            with m.If(cvt):
                m.d.comb += self.results.p.r.eq(packed)
        return m
