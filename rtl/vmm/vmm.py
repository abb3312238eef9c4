"""Weight-stationary, mixed-precision vector-matrix multiply unit."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.codes import PRECISIONS, Precision

__all__ = ["weight_layout", "step_layout", "result_layout", "PACKING", "OPERAND_BITS",
           "VMM"]

#: How a byte lane's one multiplier computes the narrow precisions' dot products:
#: ``{bits: (K, m)}``, ``m`` of the lane's elements packed ``K`` bits apart in each
#: operand (:meth:`VMM._lane_products`); the dot product is the ``K``-bit field from
#: ``(m - 1) K``. At int4 (``a`` in [-8, 15], ``w`` in [-8, 7]) the lower coefficient
#: ``a0 w1`` lies in [-120, 105], inside +-2**8, and the dot product in [-240, 210] fits
#: 9 signed bits; at int2 the lower ones' sum ``a0 w2 + (a0 w1 + a1 w2) 2**6`` lies in
#: [-774, 516], inside +-2**11, and the three products' sum in [-18, 12] fits 6 signed
#: bits; the fourth int2 product is formed beside the multiplier.
PACKING = {4: (9, 2), 2: (6, 3)}

#: The signed widths of a lane's multiplier operands (activations, weights) per precision.
OPERAND_BITS = {8: (9, 8), 4: (14, 14), 2: (15, 15)}


def weight_layout(cols):
    """One weight beat: one or two consecutive tile rows of ``cols`` bytes of packed
    signed weights each (``data``, then ``pair_data`` when ``pair`` is set) and the mode of
    the tile the beat's last row completes."""
    return data.StructLayout({
        "data":       8 * cols,
        "precision":  Precision,
        "act_signed": 1,
        "pair_data":  8 * cols,
        "pair":       1,
    })


def step_layout(rows, cols):
    """One activation vector with its ``rows`` int32 partial sums."""
    return data.StructLayout({
        "data": 8 * cols,
        "psum": data.ArrayLayout(signed(32), rows),
        "last": 1,
    })


def result_layout(rows):
    """``rows`` int32 results of one step."""
    return data.StructLayout({
        "sums": data.ArrayLayout(signed(32), rows),
        "last": 1,
    })


class VMM(wiring.Component):
    """Weight-stationary vector-matrix multiply unit at 8, 4 or 2 bits.

    The unit holds a double-buffered weight tile: ``rows x cols`` bytes, read as ``rows``
    rows of ``cols`` int8, ``2 * cols`` int4 or ``4 * cols`` int2 signed weights (packed
    little-endian inside each byte). Each step takes one activation vector of ``cols``
    bytes (the same element counts; signed or unsigned) with ``rows`` int32 partial sums,
    and produces ``rows`` int32 results, ``psum[r] + dot(weights[r], activations)``, added
    modulo 2**32. Narrower elements give 2x (int4) or 4x (int2) the multiply-accumulates
    per cycle on the same byte lanes, adder trees and buffers.

    Weight tiles arrive on ``weights`` as a sequence of rows, row 0 first, one row a beat
    or two (``pair``: ``data`` then ``pair_data``); every ``rows`` rows make a tile,
    whichever mix of beats brought them (a pair beat whose second row does not fit the
    shadow buffer completes the tile with its first row, and its second row becomes the
    next tile's row 0, held in the unit while the completed tile waits in the shadow
    buffer). The
    ``precision`` and ``act_signed`` given with the beat holding a tile's last row apply
    to the whole tile. Pair beats need ``rows >= 2``. A tile loads into the shadow buffer
    while the active one computes. A step with ``last`` set is the last served by the
    active tile: the next step uses the next tile, with no lost cycle when that tile's
    last beat has arrived by then (in the same cycle at the latest). ``weights`` is not
    ready while a loaded tile waits for the active one to finish; ``steps`` is not ready
    until a tile has loaded.

    Latency: 3 cycles from a ``steps`` transfer to its ``results`` being valid (lane
    products at every precision, precision select and row sums, accumulation).

    Throughput: one step per cycle while ``results`` is ready and tiles keep up; loading a
    tile takes ``rows`` beats (``rows / 2`` pair beats), and a tile can become active in
    the cycle of its last beat (that beat's rows go straight to the active buffer), so a
    tile serving at least ``rows`` steps (``rows / 2`` with pair beats) hides the next
    one's load.
    The pipeline compresses bubbles: a stage accepts when it is empty or draining.

    Parameters
    ----------
    rows : int
        Results per step (weight rows per tile). Power of two.
    cols : int
        Activation bytes per step. Power of two.
    precisions : tuple of int
        Bit widths to build datapaths for, a non-empty subset of ``(8, 4, 2)``. A tile of
        another precision contributes no products.

    Members
    -------
    weights : In(stream.Signature(weight_layout(cols)))
        Weight beats of one or two tile rows.
    steps : In(stream.Signature(step_layout(rows, cols)))
        Activation vectors with partial sums.
    results : Out(stream.Signature(result_layout(rows)))
        Results, one per step, in order, with the step's ``last``.
    clear : In(1)
        Only with ``clear=True``: a cycle of ``clear`` empties both tile buffers and
        drops a held second row (the next weight row starts a new tile). The core raises
        it as a run starts, so that a tile left by an earlier run is never used.
    """

    def __init__(self, rows, cols, precisions=PRECISIONS, *, clear=False):
        for name, value in (("rows", rows), ("cols", cols)):
            if not isinstance(value, int) or value < 1 or value & (value - 1):
                raise ValueError(f"{name} must be a positive power of two, not {value!r}")
        if not precisions or not set(precisions) <= set(PRECISIONS):
            raise ValueError(f"precisions must be a non-empty subset of {PRECISIONS}, "
                             f"not {precisions!r}")
        self._rows = rows
        self._cols = cols
        self._precisions = tuple(precisions)
        self._clear = bool(clear)
        members = {
            "weights": In(stream.Signature(weight_layout(cols))),
            "steps":   In(stream.Signature(step_layout(rows, cols))),
            "results": Out(stream.Signature(result_layout(rows))),
        }
        if clear:
            members["clear"] = In(1)
        super().__init__(members)

    @classmethod
    def from_config(cls, core, **kwargs):
        """Build the VMM of a :class:`rtl.spec.config.CoreConfig`."""
        return cls(core.vmm_rows, core.vmm_cols, core.precisions, **kwargs)

    @property
    def rows(self):
        return self._rows

    @property
    def cols(self):
        return self._cols

    @property
    def precisions(self):
        return self._precisions

    latency = 3

    def _lane_products(self, m, w, a, act_signed, precision):
        """One byte lane's stage 1: the multiplier's operands at the tile's precision and
        their product, of which the lane's dot product is one field (:data:`PACKING`).

        At int8 the operands are the weight and the activation. At int4 and int2 each
        operand packs ``m`` of the lane's elements (2 at int4, 3 at int2) ``K`` bits apart,
        the weights in reverse order: ``A = sum a_i 2**(i K)``, ``W = sum w_{m-1-i}
        2**(i K)``, so that the coefficient of ``2**((m - 1) K)`` in ``A * W`` is ``sum
        a_i w_i``, the dot product, with the lower coefficients' sum ``L`` below it and
        the higher ones above. One multiplier (a MULT18X18D on the FPGA: at most 15 x 14
        bits) computes every precision's products; the fourth int2 product ``a3 * w3``
        (2 x 3 bits) is formed beside it in logic.

        Returns ``(product, extra)``: ``extra`` the fourth int2 product (None without
        int2)."""
        operands = {}
        extra = None
        for bits in self._precisions:
            ws = [w[k:k + bits].as_signed() for k in range(0, 8, bits)]
            acts = [Mux(act_signed, a[k:k + bits].as_signed(), a[k:k + bits].as_unsigned())
                    for k in range(0, 8, bits)]
            shift, n = PACKING.get(bits, (0, 1))
            operands[bits] = (sum(acts[i] << (i * shift) for i in range(n)),
                              sum(ws[n - 1 - i] << (i * shift) for i in range(n)))
            if bits == 2:   # a3 * w3 with w3 = w[6] - 2 w[7]: in logic, not a multiplier
                extra = Mux(w[6], acts[3], 0) - Mux(w[7], acts[3] << 1, 0)
        a_op = Signal(signed(max(OPERAND_BITS[bits][0] for bits in operands)))
        w_op = Signal(signed(max(OPERAND_BITS[bits][1] for bits in operands)))
        with m.Switch(precision):
            for bits, (x, y) in operands.items():
                with m.Case(Precision.from_bits(bits)):   # (exact in these widths)
                    m.d.comb += [a_op.eq(x[:OPERAND_BITS[bits][0]].as_signed()),
                                 w_op.eq(y[:OPERAND_BITS[bits][1]].as_signed())]
            # (reserved or unbuilt precision: both 0, no products)
        return a_op * w_op, extra

    def _lane_select(self, m, product, extra, precision):
        """The lane value of the tile's precision from its registered product (and the
        fourth int2 product ``extra``): at int8 the product; at int4 and int2 the ``K``
        bits from ``s = (m - 1) K`` up, plus bit ``s - 1``: that is ``(P + 2**(s-1)) >>
        s`` modulo ``2**K``, exact because the lower coefficients' sum ``L`` lies in
        ``(-2**(s-1), 2**(s-1))`` and the dot product in ``K`` signed bits
        (:data:`PACKING`). No products for another precision."""
        lane = Signal(signed(17))  # int8 x uint8 needs 17 bits; int4/int2 sums fit too
        with m.Switch(precision):
            for bits in self._precisions:
                with m.Case(Precision.from_bits(bits)):
                    if bits == 8:
                        m.d.comb += lane.eq(product[:17].as_signed())
                    else:
                        shift, n = PACKING[bits]
                        low = (n - 1) * shift
                        field = (product[low:low + shift] + product[low - 1])[:shift]
                        value = field.as_signed()
                        m.d.comb += lane.eq(value + extra if bits == 2 else value)
            with m.Default():
                m.d.comb += lane.eq(0)  # reserved or unbuilt precision: no products
        return lane

    def elaborate(self, platform):
        m = Module()
        rows, cols = self._rows, self._cols

        # Weight buffers. Rows load into the shadow buffer; a tile switch copies it to the
        # active buffer, which feeds the multipliers directly (no bank multiplexer on the
        # datapath).
        shadow      = [Signal(8 * cols, name=f"shadow{r}") for r in range(rows)]
        shadow_mode = Signal(data.StructLayout({"precision": Precision, "act_signed": 1}))
        shadow_full = Signal()
        load_row    = Signal(rows, init=1)  # one-hot: the row the next beat writes
        active      = [Signal(8 * cols, name=f"active{r}") for r in range(rows)]
        active_mode = Signal.like(shadow_mode)
        active_full = Signal()

        # Pipeline: s1 lane products, s2 row sums, s3 accumulated results (= output).
        s1_valid = Signal()
        s2_valid = Signal()
        s3_valid = self.results.valid
        s3_ready = ~s3_valid | self.results.ready
        s2_ready = ~s2_valid | s3_ready
        s1_ready = ~s1_valid | s2_ready

        m.d.comb += self.steps.ready.eq(active_full & s1_ready)
        accept    = self.steps.valid & self.steps.ready
        tile_done = accept & self.steps.p.last

        # Weight beats. A pair beat writes rows r and r + 1. The beat that writes a tile's
        # last row completes it; if the active buffer is free then (no tile, or its last
        # step accepted in this cycle) the tile switches in at once, the beat's rows going
        # straight to the active buffer; otherwise the shadow buffer is full until the
        # switch. A completing pair beat at r = rows - 1 has a second row for the next
        # tile's row 0: written to the shadow buffer at once when the tile switches in,
        # else held in ``carry`` until the switch (load_row has wrapped to row 1).
        carry       = Signal(8 * cols)
        carry_valid = Signal()
        beat      = self.weights.valid & self.weights.ready
        pair      = self.weights.p.pair
        completes = beat & (load_row[rows - 1] | (pair & load_row[rows - 2]))
        free      = ~active_full | tile_done
        switch    = free & (shadow_full | completes)
        m.d.comb += self.weights.ready.eq(~shadow_full)
        incoming = list(shadow)   # the shadow rows with the beat's rows written over them
        for r in range(rows):
            written = load_row[r] | ((pair & load_row[r - 1]) if r else C(0))
            if r >= rows - 2:
                incoming[r] = Signal(8 * cols, name=f"incoming{r}")
                m.d.comb += incoming[r].eq(shadow[r])
                with m.If(beat & load_row[r]):
                    m.d.comb += incoming[r].eq(self.weights.p.data)
                if r:
                    with m.If(beat & pair & load_row[r - 1]):
                        m.d.comb += incoming[r].eq(self.weights.p.pair_data)
            with m.If(beat & written):
                m.d.sync += shadow[r].eq(Mux(load_row[r], self.weights.p.data,
                                             self.weights.p.pair_data))
        with m.If(beat):
            m.d.sync += [
                shadow_mode.precision.eq(self.weights.p.precision),
                shadow_mode.act_signed.eq(self.weights.p.act_signed),
                load_row.eq(Mux(pair, load_row.rotate_left(2), load_row.rotate_left(1))),
            ]
            with m.If(completes & ~free):
                m.d.sync += shadow_full.eq(1)

        # Tile switch: the active tile is free and the next one has loaded (or loads now).
        with m.If(switch):
            m.d.sync += [a.eq(s) for a, s in zip(active, incoming, strict=True)]
            m.d.sync += [active_mode.precision.eq(Mux(shadow_full, shadow_mode.precision,
                                                      self.weights.p.precision)),
                         active_mode.act_signed.eq(Mux(shadow_full, shadow_mode.act_signed,
                                                       self.weights.p.act_signed)),
                         active_full.eq(1), shadow_full.eq(0)]
            with m.If(carry_valid):
                m.d.sync += [shadow[0].eq(carry), carry_valid.eq(0)]
        with m.Elif(tile_done):
            m.d.sync += active_full.eq(0)
        with m.If(completes & pair & load_row[rows - 1]):
            with m.If(free):
                m.d.sync += shadow[0].eq(self.weights.p.pair_data)
            with m.Else():
                m.d.sync += [carry.eq(self.weights.p.pair_data), carry_valid.eq(1)]
        if self._clear:   # both buffers empty (the user keeps the streams idle then)
            with m.If(self.clear):
                m.d.sync += [active_full.eq(0), shadow_full.eq(0), load_row.eq(1),
                             carry_valid.eq(0)]

        # Stage 1: each byte lane's product at the active tile's precision (registered
        # before the field of the precision is selected).
        width = 17 if self._precisions == (8,) else 18
        products = [[Signal(width, name=f"lane{r}_{c}") for c in range(cols)]
                    for r in range(rows)]
        extras = [[Signal(signed(4), name=f"lane{r}_{c}_int2") if 2 in self._precisions
                   else None for c in range(cols)] for r in range(rows)]
        s1_prec  = Signal(Precision)
        s1_psum  = Signal(data.ArrayLayout(signed(32), rows))
        s1_last  = Signal()
        with m.If(s1_ready):
            m.d.sync += s1_valid.eq(accept)
        for r in range(rows):
            for c in range(cols):
                product, extra = self._lane_products(m, active[r][8 * c:8 * c + 8],
                                                     self.steps.p.data[8 * c:8 * c + 8],
                                                     active_mode.act_signed,
                                                     active_mode.precision)
                with m.If(accept):
                    m.d.sync += products[r][c].eq(product[:width])
                    if extra is not None:
                        m.d.sync += extras[r][c].eq(extra)
        with m.If(accept):
            m.d.sync += [s1_psum.eq(self.steps.p.psum), s1_last.eq(self.steps.p.last),
                         s1_prec.eq(active_mode.precision)]

        # Stage 2: select the precision's lane values and reduce each row.
        row_sums = [Signal(signed(32), name=f"row_sum{r}") for r in range(rows)]
        s2_psum  = Signal.like(s1_psum)
        s2_last  = Signal()
        with m.If(s2_ready):
            m.d.sync += s2_valid.eq(s1_valid)
            with m.If(s1_valid):
                for r in range(rows):
                    lanes = [self._lane_select(m, products[r][c], extras[r][c], s1_prec)
                             for c in range(cols)]
                    m.d.sync += row_sums[r].eq(_tree_sum(lanes))
                m.d.sync += [s2_psum.eq(s1_psum), s2_last.eq(s1_last)]

        # Stage 3: add the incoming partial sums, modulo 2**32.
        with m.If(s3_ready):
            m.d.sync += s3_valid.eq(s2_valid)
            with m.If(s2_valid):
                m.d.sync += [self.results.p.sums[r].eq(s2_psum[r] + row_sums[r])
                             for r in range(rows)]
                m.d.sync += self.results.p.last.eq(s2_last)

        return m


def _tree_sum(values):
    """Sum ``values`` with a balanced adder tree."""
    values = list(values)
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]
