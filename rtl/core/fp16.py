"""Combinational building blocks of IEEE-754 binary16 arithmetic.

The fused multiply-add works on a narrow window, as standard FMA datapaths do, with one
rounding of an integer that rounds like the exact sum. A finite binary16 value is
``sig * 2**(e - 25)`` with an 11-bit integer significand ``sig`` and ``1 <= e <= 30``; in
units of ``2**-48`` a product ``sa * sb`` (``pbits = 22`` bits) has its lsb at ``psh = ea
+ eb - 2`` and an addend ``sc`` (11 bits) at ``24 + csh``, ``csh = ec - 1``. The window
(:func:`window_bits`: ``below + pbits + 15`` bits, 39 for ``below = 2``) holds the
product at a fixed place, bits ``below + 1 .. below + pbits``, and the addend shifted
right from bits ``below + pbits + 3 ..`` (``pbits + 2`` places above the product's lsb)
by ``psh - csh`` (as :func:`fma_operands` computes it). The addend's bits that fall below
bit 1 are ORed into bit 0, a sticky bit below every kept bit, so that the window's sum lies
in the same open interval between multiples of 2 as the exact sum (scaled), and rounds
like it as long as the result's guard bit is not below bit 1. That holds when the
product has a bit at or above ``psh + 12 - below``, or when ``psh <= 23 + below`` (bit 1
then weighs at most ``2**-25``, below every result's guard bit): :data:`BELOW_NORMAL`
(2) bits suffice when one significand at least is normal or both factors are subnormal
(the vector unit, and the activation unit given its tables' exponents), and
:data:`BELOW_ANY` (12) for any significands. An addend ``pbits + 2`` or more places
above the product (the product is then below a quarter of the addend's ulp and the sum
rounds to the addend, normal there, either way) is placed exactly ``pbits + 2`` places
above it; so is the addend of a zero product. ``a * 1.0`` without a multiplier has an
11-bit product (``a``'s significand) and a 28-bit window.

The stages, registered by the blocks that use them: :func:`fma_operands` (decode,
multiply and the alignment shift), :func:`fma_sum` (align and add), :func:`normalize_shift`
(leading-zero count), :func:`round_pack` (normalizing shift, round to nearest even and
encode).

"""

from types import SimpleNamespace

from amaranth import *

__all__ = ["CANONICAL_NAN", "ONE", "NEG_ZERO", "POS_INF", "BELOW_NORMAL", "BELOW_ANY",
           "window_bits", "zx", "shift_left", "shift_right", "decode", "fma_operands",
           "fma_sum",
           "int_window", "int_normalize", "int_extract", "round_small", "normalize_shift",
           "round_pack", "total_key", "compare"]

CANONICAL_NAN = 0x7E00
ONE           = 0x3C00
NEG_ZERO      = 0x8000
POS_INF       = 0x7C00

#: Window bits below the product's lsb (above the sticky bit) when one factor at least
#: has a normal significand (or both are subnormal).
BELOW_NORMAL = 2
#: Window bits below the product's lsb for any significands (unnormalized ones too).
BELOW_ANY = 12


def window_bits(below, pbits=22):
    """Width of the FMA window with ``below`` bits between the sticky bit and the
    product: the sticky bit, ``below`` bits, the ``pbits``-bit product (22 bits, or 11 for
    ``a * 1.0`` with no multiplier), a gap of 2 bits, the 11-bit addend at its highest and
    a carry bit."""
    return below + pbits + 15


def zx(v, width):
    """Zero-extend (or truncate) an unsigned value to ``width`` bits."""
    v = Value.cast(v)
    if len(v) >= width:
        return v[:width]
    return Cat(v, C(0, width - len(v)))


def shift_left(v, amount):
    """``v << amount`` truncated to ``len(v)`` bits."""
    v = Value.cast(v)
    return (v << amount)[:len(v)]


def shift_right(v, amount):
    """``v >> amount`` (logical)."""
    return Value.cast(v) >> amount


def decode(x):
    """Decode a 16-bit binary16 value into sign, significand, scale and class flags."""
    exp, man = x[10:15], x[0:10]
    normal = exp.any()
    top    = exp.all()
    return SimpleNamespace(
        sign=x[15],
        sig=Cat(man, normal),                 # 11 bits, hidden bit made explicit
        e=Cat(exp[0] | ~normal, exp[1:]),     # exponent, 1 for subnormals
        nan=top & man.any(),
        inf=top & ~man.any(),
        zero=~normal & ~man.any(),
    )


def fma_operands(a, b, c, *, one_bits=11):
    """Stage 1 of ``a * b + c``: the exact product, the addend's alignment and the
    special cases.

    ``a``, ``b`` and ``c`` are decoded operands (see :func:`decode`; ``a`` and ``b`` may
    carry unnormalized significands); ``b`` may be ``None`` for ``b = 1.0`` with no
    multiplier: the product is then ``a``'s significand, widened to ``one_bits`` bits
    (11 to 22) by constant zeros below it. Returns a namespace of values to register:
    ``ps`` (the product's significand, 22 bits, or ``one_bits`` without a multiplier:
    ``len(ps)`` sets the window of :func:`fma_sum`), ``sc`` (the addend's significand),
    ``rsh`` (the addend's right shift in the window, ``psh - csh + len(ps) - 22`` when
    positive and the product is not zero, else 0; 6 bits), ``maxshift`` (the
    normalizing shift beyond which the result is subnormal: ``psh + len(ps) - 21`` when
    the addend is shifted, else ``csh + 1``; window bit ``j`` weighs ``2**(j + maxshift -
    below - 50)``; 6 bits), ``sign_p``, ``sign_c``, and ``nan``/``inf``/``inf_sign`` for
    results decided by special operands.
    """
    one_factor = b is None
    if b is None:
        b = decode(C(ONE, 16))
        ps  = Cat(C(0, one_bits - 11), a.sig)
        psh = zx(a.e, 6) + C(23 - (one_bits - 11), 6)   # a's lsb, less the zeros below
        pzero = ~a.sig.any()
    else:
        ps  = a.sig * b.sig
        psh = zx(a.e, 6) + zx(b.e, 6) - C(2, 6)
        pzero = ~a.sig.any() | ~b.sig.any()
    pbits = len(ps)
    psh = psh[:6]
    # The addend's lsb is at ``csh = c.e - 1``. Every exponent is 1 to 31, so no sum below
    # wraps, and the sums may be regrouped.
    sign_p  = a.sign ^ b.sign
    invalid = (a.inf & b.zero) | (b.inf & a.zero)
    p_inf   = (a.inf | b.inf) & ~invalid
    nan     = a.nan | b.nan | c.nan | invalid | (p_inf & c.inf & (sign_p != c.sign))
    # psh - csh + pbits - 22, two's complement: how far the addend's lsb lies below the
    # place pbits + 2 bits above the product's lsb. Summed as (a's exponent + constant)
    # + (b's exponent - c's), the two halves side by side (or a's - c's + constant), so
    # that an operand read late (an activation table's coefficients) passes through two
    # carry chains, not four.
    if one_factor:
        diff = (zx(a.e, 7) - zx(c.e, 7) + C((23 - (one_bits - 11) + pbits - 21) % 128, 7))[:7]
    else:
        near = (zx(a.e, 7) + C((pbits - 23) % 128, 7))[:7]
        diff = (near + (zx(b.e, 7) - zx(c.e, 7))[:7])[:7]
    far  = ~diff[6] & diff.any() & ~pzero   # the addend is shifted right
    # The normalizing shift's limit: psh + pbits - 21 when the addend is shifted, else
    # csh + 1 = c.e (no adder after the choice). Written as AND-OR: as a Mux, Yosys 0.70's
    # abc9 stops on an assertion (rtlil.cc, GetSize(conn.first) == GetSize(conn.second))
    # in the vector unit kept apart (the per-block synthesis, docs/fpga.md).
    psh_top1 = (psh + C((pbits - 21) % 64, 6))[:6]
    return SimpleNamespace(
        ps=ps, sc=c.sig, rsh=Mux(far, diff[:6], C(0, 6)),
        maxshift=(psh_top1 & far.replicate(6)) | (zx(c.e, 6) & (~far).replicate(6)),
        sign_p=sign_p, sign_c=c.sign,
        nan=nan, inf=~nan & (p_inf | c.inf), inf_sign=Mux(p_inf, sign_p, c.sign),
    )


def fma_sum(m, ps, sc, rsh, sign_p, sign_c, *, below=BELOW_NORMAL):
    """Stage 2: place product and addend in the window (see the module's description)
    and add them.

    With ``pbits = len(ps)``, the product sits at bits ``below + 1 .. below + pbits``;
    the addend is shifted right by ``rsh`` from bits ``below + pbits + 3 ..`` (no shifter
    for the product), the bits it loses below bit 1 ORed into bit 0. ``p + c``, ``p - c``
    and ``c - p`` are computed side by side, and an exact zero is recognized from the
    operands (``p == c``). Returns ``(mag, sign)``: the ``window_bits(below, pbits)``-bit
    magnitude of the sum and its sign. An exact zero is negative only when both terms
    are negative zeros (round to nearest even).
    """
    pbits = len(Value.cast(ps))
    width = window_bits(below, pbits)
    top = below + pbits + 3   # the unshifted addend's lsb
    p = Signal(width)
    c = Signal(width)
    shifted = Signal(width - 1)
    m.d.comb += shifted.eq(shift_right(Cat(C(0, top), sc), rsh))
    sticky = Cat(Value.cast(sc)[j] & (rsh > C(top - 1 + j, 6)) for j in range(len(sc))).any()
    m.d.comb += [p.eq(Cat(C(0, below + 1), ps)), c.eq(Cat(sticky, shifted[1:]))]
    total = Signal(width)       # p + c (no carry out: the sum is below 2**(width - 1))
    p_sub = Signal(width + 1)   # p - c, two's complement
    c_sub = Signal(width)       # c - p (used when p < c)
    m.d.comb += [total.eq(p + c), p_sub.eq(zx(p, width + 1) - zx(c, width + 1)),
                 c_sub.eq(c - p)]
    same = sign_p == sign_c
    zero = Mux(same, ~p.any() & ~c.any(), p == c)
    mag  = Signal(width)
    sign = Signal()
    with m.If(same):
        m.d.comb += [mag.eq(total), sign.eq(sign_p)]
    with m.Elif(p_sub[-1]):
        m.d.comb += [mag.eq(c_sub), sign.eq(sign_c)]
    with m.Else():
        m.d.comb += [mag.eq(p_sub[:width]), sign.eq(sign_p)]
    return mag, Mux(zero, sign_p & sign_c, sign)


def int_window(m, mag, shift, *, below=BELOW_NORMAL):
    """Place a 32-bit integer magnitude times ``2**-shift`` (``shift`` 6 bits) in the FMA
    window (``below`` as for :func:`fma_sum`, at least 1): ``(bits, maxshift)`` with
    ``maxshift`` as :func:`fma_operands` gives it.

    The integer fills the window's top 32 bits with ``maxshift = 45 - shift`` (its lsb
    then weighs ``2**-shift``) up to ``shift = 45``; beyond, ``maxshift`` is 0 (the result
    is subnormal or zero) and the integer is shifted right by ``shift - 45`` (at most 18),
    the bits it loses below bit 1 ORed into bit 0, below the guard bit (bit ``width -
    12``).
    """
    width = window_bits(below)
    low = width - 32   # the unshifted integer's lsb
    over = Signal(5)   # shift - 45 when shift > 45
    m.d.comb += over.eq((shift - C(45, 6))[:5])
    right = Mux(shift > C(45, 6), over, C(0, 5))
    shifted = Signal(width)
    m.d.comb += shifted.eq(shift_right(Cat(C(0, low), mag), right))
    lost = [j for j in range(32) if low + j - 18 < 1]   # bits that can fall below bit 1
    sticky = Cat(Value.cast(mag)[j] & (right > C(low - 1 + j, 5)) for j in lost).any() \
        if lost else C(0)
    maxshift = Mux(shift > C(45, 6), C(0, 6), (C(45, 6) - shift)[:6])
    return Cat(shifted[0] | sticky, shifted[1:]), maxshift


def int_normalize(mag, shift):
    """Stage 2 of a narrow int32 conversion (:func:`int_window` and the FMA's window
    rounding, for a unit with no FMA): ``(rs, fm1)`` for a 32-bit integer magnitude
    ``mag`` times ``2**-shift`` (``shift`` 6 bits).

    With ``lz`` the leading zeros of ``mag``, the leading one weighs ``2**(31 - lz -
    shift)``, so the biased exponent is ``46 - lz - shift``. ``fm1`` is that exponent less
    one, or 0 for a subnormal result or zero (6 bits, at most 45; 30 and up overflow);
    ``rs`` is the right shift of ``mag * 2**12`` that leaves the result's 11-bit
    significand at bits 2..12 and its guard bit at 1 (``31 - lz``, or ``shift - 14`` for a
    subnormal result, at most 44: then only the sticky bit is left).
    """
    count, zero = _lzc(mag)
    lz = count[:5]
    t = zx(lz, 7) + zx(shift, 7)   # a normal result when at most 45
    normal = t <= C(45, 7)
    rs_sub = zx(shift, 7) - C(14, 7)   # >= 0 when not normal
    rs = Mux(normal, zx(C(31, 5) - lz, 6), Mux(rs_sub > C(44, 7), C(44, 6), rs_sub[:6]))
    fm1 = Mux(zero | ~normal, C(0, 6), (C(45, 7) - t)[:6])
    return rs, fm1


def int_extract(mag, rs):
    """Stage 3 of the narrow int32 conversion: ``(q, guard, sticky)`` of ``mag * 2**12``
    shifted right by ``rs`` (see :func:`int_normalize`), the bits shifted out kept in
    ``sticky``."""
    z = shift_right(Cat(C(0, 12), mag), rs)
    below = Cat(rs > C(12 + j, 6) for j in range(len(mag)))   # bit j of mag shifted out
    return z[2:13], z[1], z[0] | (Value.cast(mag) & below).any()


def round_small(m, sign, fm1, q, guard, sticky):
    """Stage 4 of the narrow int32 conversion: round ``q`` (a significand with its
    hidden bit, or a subnormal's, exponent field less one ``fm1``) to nearest even and
    encode, overflowing to infinity (:func:`round_pack`'s encoding)."""
    up = guard & (sticky | q[0])
    packed = Signal(17)
    m.d.comb += packed.eq(Cat(C(0, 10), fm1, C(0, 1)) + zx(q, 17) + zx(up, 17))
    out = Signal(16)
    with m.If(packed >= C(POS_INF, 17)):
        m.d.comb += out.eq(Cat(C(POS_INF, 15), sign))
    with m.Else():
        m.d.comb += out.eq(Cat(packed[:15], sign))
    return out


def _lzc(v):
    """``(count, zero)``: leading zeros of ``v`` (width a power of two, at least 2), as
    a tree of halves; ``count`` is meaningful when ``zero`` is low."""
    n = len(v)
    if n == 2:
        return ~v[1], ~v.any()
    hi_count, hi_zero = _lzc(v[n // 2:])
    lo_count, lo_zero = _lzc(v[:n // 2])
    return Cat(Mux(hi_zero, lo_count, hi_count), hi_zero), hi_zero & lo_zero


def normalize_shift(m, mag, maxshift):
    """Stage 3: ``(shl, fm1)``: the left shift that brings the leading one of ``mag`` (a
    window, see :func:`fma_sum`) to its top bit, at most ``maxshift`` (subnormal results
    and zero), and the result's exponent field less one, ``maxshift - shl`` (0 for a
    subnormal result or zero; 6 bits each)."""
    width = len(mag)
    pad = (1 << max(1, (width - 1).bit_length())) - width
    count, zero = _lzc(Cat(C(0, pad), mag))   # leading zeros as in mag
    shl = Signal(6)
    fm1 = Signal(6)
    m.d.comb += [shl.eq(Mux(zero | (zx(count, 7) > zx(maxshift, 7)), maxshift, count)),
                 fm1.eq(maxshift - shl)]
    return shl, fm1


def round_pack(m, sign, mag, shl, fm1, nan=0, inf=0, inf_sign=0):
    """Stage 4: normalize ``mag`` by ``shl``, round to nearest even and encode with the
    exponent field less one ``fm1`` (see :func:`normalize_shift`), overflowing to infinity.

    The kept significand is the top 11 bits of ``mag << shl`` (``width = len(mag)``); the
    biased exponent field is ``fm1`` plus the carry of a significand that reached 2**10
    (or 2**11 after rounding), which the sum below makes exact for normal and subnormal
    results alike. Only those 11 bits and the guard bit below them are formed; the sticky
    bit is the OR of the bits of ``mag`` that the shift leaves below the guard bit (bit
    ``j`` when ``j + shl < width - 12``; no bit leaves the top, since ``shl`` never
    exceeds the leading zeros).
    """
    width = len(mag)
    top = Signal(12)
    m.d.comb += top.eq(shift_left(mag, shl)[width - 12:])
    q      = top[1:12]
    guard  = top[0]
    below  = Cat(shl < C(width - 12 - j, 7) for j in range(width - 12))
    sticky = (mag[:width - 12] & below).any()
    up     = guard & (sticky | q[0])
    packed = Signal(17)
    m.d.comb += packed.eq(Cat(C(0, 10), fm1, C(0, 1)) + zx(q, 17) + zx(up, 17))
    out = Signal(16)
    with m.If(nan):
        m.d.comb += out.eq(CANONICAL_NAN)
    with m.Elif(inf):
        m.d.comb += out.eq(Cat(C(POS_INF, 15), inf_sign))
    with m.Elif(packed >= C(POS_INF, 17)):
        m.d.comb += out.eq(Cat(C(POS_INF, 15), sign))
    with m.Else():
        m.d.comb += out.eq(Cat(packed[:15], sign))
    return out


def total_key(x):
    """Signed 16-bit key ordering non-NaN values with -0 below +0 (``-mag - 1`` for
    negative values, which is ``~mag``)."""
    return Cat(Mux(x[15], ~x[:15], x[:15]), x[15]).as_signed()


def compare(a, b, da, db):
    """Quiet IEEE comparisons ``(eq, lt, le)`` of two binary16 values: false with a NaN,
    and ``-0 == +0``."""
    ordered   = ~da.nan & ~db.nan
    both_zero = ~a[:15].any() & ~b[:15].any()
    ka, kb    = total_key(a), total_key(b)
    eq = ordered & ((a == b) | both_zero)
    lt = ordered & (ka < kb) & ~both_zero
    le = ordered & ((ka < kb) | (a == b) | both_zero)
    return eq, lt, le
