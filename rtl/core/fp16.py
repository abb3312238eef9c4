"""Combinational building blocks of IEEE-754 binary16 arithmetic.

The fused multiply-add works on an exact fixed-point window: a finite binary16 value is
``sig * 2**(e - 25)`` with an 11-bit integer significand ``sig`` and ``1 <= e <= 30``, so a
product is ``sa * sb * 2**(ea + eb - 50)`` and every product and addend is a whole
multiple of ``2**-48``. In units of ``2**-48`` a product is below ``2**80`` and an addend
below ``2**64``: their exact sum fits 81 bits, and one rounding of that integer gives the
correctly rounded result. Significands need not be normalized (the activation unit feeds
unnormalized ones).

The stages, registered by the blocks that use them: :func:`fma_operands` (decode and
multiply), :func:`fma_sum` (align and add), :func:`normalize_shift` (leading-zero count),
:func:`round_pack` (normalizing shift, round to nearest even and encode).

"""

from types import SimpleNamespace

from amaranth import *

__all__ = ["CANONICAL_NAN", "ONE", "NEG_ZERO", "POS_INF", "WINDOW", "MAX_SHIFT", "ADDEND_LSB",
           "zx", "shift_left", "shift_right", "decode", "fma_operands", "fma_sum",
           "int_window", "int_normalize", "int_extract", "round_small", "normalize_shift",
           "round_pack", "total_key", "compare"]

CANONICAL_NAN = 0x7E00
ONE           = 0x3C00
NEG_ZERO      = 0x8000
POS_INF       = 0x7C00

WINDOW    = 81  # bits of the exact fixed-point sum, in units of 2**-48
MAX_SHIFT = 46  # normalizing shift beyond which the result is subnormal (lsb at 2**-24)
ADDEND_LSB = 24  # lowest window bit an addend can occupy (2**-24, a subnormal's lsb)


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


def fma_operands(a, b, c):
    """Stage 1 of ``a * b + c``: the exact product and the special cases.

    ``a``, ``b`` and ``c`` are decoded operands (see :func:`decode`; ``a`` may carry an
    unnormalized significand). Returns a namespace of values to register: ``ps`` (22-bit
    product significand), ``psh`` (``ea + eb - 2``, the product's shift into the window,
    6 bits), ``sign_p``, ``sc``, ``csh`` (``ec - 1``, the addend's shift above bit
    :data:`ADDEND_LSB` of the window), ``sign_c``, and ``nan``/``inf``/``inf_sign`` for
    results decided by special operands. The shift amounts are computed here so that
    stage 2 starts with its shifters.
    """
    sign_p  = a.sign ^ b.sign
    invalid = (a.inf & b.zero) | (b.inf & a.zero)
    p_inf   = (a.inf | b.inf) & ~invalid
    nan     = a.nan | b.nan | c.nan | invalid | (p_inf & c.inf & (sign_p != c.sign))
    return SimpleNamespace(
        ps=a.sig * b.sig, psh=(zx(a.e, 6) + zx(b.e, 6) - C(2, 6))[:6], sign_p=sign_p,
        sc=c.sig, csh=(zx(c.e, 6) - C(1, 6))[:6], sign_c=c.sign,
        nan=nan, inf=~nan & (p_inf | c.inf), inf_sign=Mux(p_inf, sign_p, c.sign),
    )


def fma_sum(m, ps, psh, sign_p, sc, csh, sign_c, *, p_base=0):
    """Stage 2: align product and addend in the 2**-48 window and add them exactly.

    ``psh`` places the product's lsb at 2**(pe - 50) (window bit 0..58 for finite
    operands), ``csh`` the addend's at 2**(ec - 25) (window bit ``ADDEND_LSB + csh``,
    24..53). A caller whose product never has a bit below window bit ``p_base`` may give
    it shifted by ``p_base`` instead (window bit ``p_base + psh``): a product ``a * 1``
    is ``a``'s significand with ``p_base = ADDEND_LSB`` and ``psh = ea - 1``, and the
    window bits below ``p_base`` are then constant zeros that synthesis removes.

    Below bit 24 only the product has bits, so the carry chains start there;
    ``p - c`` and ``c - p`` are computed side by side (not one after the other), and an
    exact zero is recognized from the operands (``p == c``), not from the sum, so the
    stage holds one 58-bit carry chain. Returns ``(mag, sign)``: the 81-bit magnitude of
    the exact sum and its sign. An exact zero is negative only when both terms are
    negative zeros (round to nearest even).
    """
    hi = WINDOW - ADDEND_LSB
    p = Signal(WINDOW)
    c_hi = Signal(hi)   # the addend, from bit ADDEND_LSB of the window
    m.d.comb += [p.eq(Cat(C(0, p_base), shift_left(zx(ps, WINDOW - p_base), psh))),
                 c_hi.eq(shift_left(zx(sc, hi), csh))]
    p_lo, p_hi = p[:ADDEND_LSB], p[ADDEND_LSB:]
    total = Signal(hi + 1)   # high bits of p + c
    p_sub = Signal(hi + 1)   # high bits of p - c, two's complement (low bits: p_lo)
    c_sub = Signal(hi + 1)   # high bits of c - p (low bits: -p_lo, borrowing when not 0)
    borrow = p_lo.any()
    m.d.comb += [total.eq(zx(p_hi, hi + 1) + zx(c_hi, hi + 1)),
                 p_sub.eq(zx(p_hi, hi + 1) - zx(c_hi, hi + 1)),
                 c_sub.eq(zx(c_hi, hi + 1) - zx(p_hi, hi + 1) - zx(borrow, hi + 1))]
    neg_lo = (C(0, ADDEND_LSB) - p_lo)[:ADDEND_LSB]
    same = sign_p == sign_c
    zero = Mux(same, ~p.any() & ~c_hi.any(), ~borrow & (p_hi == c_hi))
    mag  = Signal(WINDOW)
    sign = Signal()
    with m.If(same):
        m.d.comb += [mag.eq(Cat(p_lo, total)), sign.eq(sign_p)]
    with m.Elif(p_sub[-1]):
        m.d.comb += [mag.eq(Cat(neg_lo, c_sub)), sign.eq(sign_c)]
    with m.Else():
        m.d.comb += [mag.eq(Cat(p_lo, p_sub)), sign.eq(sign_p)]
    return mag, Mux(zero, sign_p & sign_c, sign)


def int_window(m, mag, shift):
    """Place a 32-bit integer magnitude times ``2**-shift`` (``shift`` 6 bits) in the
    2**-48 window, with the bits shifted out (``shift > 48``) kept as a sticky bit 0.

    Rounding never looks below bit 23 of the window, so the sticky bit is exact.
    """
    wide = Signal(WINDOW)
    m.d.comb += wide.eq(shift_right(zx(Cat(C(0, 48), mag), WINDOW), shift))
    excess = Signal(4)   # 15 - (shift - 48) when shift > 48
    m.d.comb += excess.eq(C(63, 6) - shift)
    below  = Signal(16)  # mask of the bits of mag shifted out of the window
    m.d.comb += below.eq(Mux(shift > C(48, 6), shift_right(C(0x7FFF, 16), excess), 0))
    return Cat(wide[0] | (mag[:16] & below).any(), wide[1:])


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


def normalize_shift(m, mag):
    """Stage 3: the left shift that brings the leading one of ``mag`` to bit 80, at most
    :data:`MAX_SHIFT` (subnormal results and zero)."""
    count, zero = _lzc(Cat(C(0, 128 - WINDOW), mag))  # leading zeros as in mag
    shl = Signal(6)
    m.d.comb += shl.eq(Mux(zero | (count > C(MAX_SHIFT, 7)), MAX_SHIFT, count[:6]))
    return shl


def round_pack(m, sign, mag, shl, nan=0, inf=0, inf_sign=0):
    """Stage 4: normalize ``mag`` by ``shl``, round to nearest even and encode,
    overflowing to infinity.

    The kept significand is bits 70..80 of ``mag << shl``; its lsb weighs
    ``2**(70 - shl - 48)``, so the biased exponent field is ``46 - shl`` plus the carry of
    a significand that reached 2**10 (or 2**11 after rounding), which the sum below makes
    exact for normal and subnormal results alike. Only those 11 bits and the guard bit
    (69) of the shifted value are formed; the sticky bit is the OR of the bits of ``mag``
    that the shift leaves below bit 69 (bit ``j`` when ``j + shl < 69``; no bit leaves
    the top, since ``shl`` never exceeds the leading zeros).
    """
    top = Signal(12)
    m.d.comb += top.eq(shift_left(mag, shl)[69:81])
    q      = top[1:12]
    guard  = top[0]
    below  = Cat(shl < C(69 - j, 7) for j in range(69))
    sticky = (mag[:69] & below).any()
    up     = guard & (sticky | q[0])
    field  = Signal(6)
    m.d.comb += field.eq(C(MAX_SHIFT, 6) - shl)
    packed = Signal(17)
    m.d.comb += packed.eq(Cat(C(0, 10), field, C(0, 1)) + zx(q, 17) + zx(up, 17))
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
