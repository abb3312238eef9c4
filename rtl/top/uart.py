"""A UART (8N1) between a serial line and byte streams, for the host link on a board
(docs/architecture.md, 10)."""

import math
import numbers
from fractions import Fraction

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["MIN_BIT_CLOCKS", "MAX_BIT_CLOCKS", "MAX_DENOMINATOR", "bit_timing", "tolerance",
           "UART"]

#: The fewest clocks a bit may last: sampling is exact to a clock either way, so a bit of
#: 8 clocks keeps 3.75% of line rate error for the far end's clock (:attr:`UART.tolerance`).
MIN_BIT_CLOCKS = 8
#: The most clocks a bit may last (about 3 baud at 50 MHz): bounds the timers' width.
MAX_BIT_CLOCKS = 1 << 24
#: The bit timers count a bit as ``num / den`` clocks with ``den`` at most this.
MAX_DENOMINATOR = 1 << 16


def _frequency(value, name):
    """``value`` (Hz) as an exact :class:`Fraction`; a ValueError unless a finite positive
    real number (a bool is not one)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value <= 0):
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    if isinstance(value, numbers.Rational):
        return Fraction(value.numerator, value.denominator)
    return Fraction(float(value))


def bit_timing(clk_freq, baud):
    """``(ratio, bit_period)`` of a :class:`UART` at ``clk_freq`` and ``baud``: the exact
    ``clk_freq / baud`` and the clocks its bit timer counts a bit (both
    :class:`Fraction`), without building one. Raises ``ValueError`` as :class:`UART`."""
    clk, rate = _frequency(clk_freq, "clk_freq"), _frequency(baud, "baud")
    ratio = clk / rate
    if ratio < MIN_BIT_CLOCKS:
        raise ValueError(f"baud {baud!r} is too fast for clk_freq {clk_freq!r}: "
                         f"{float(ratio):.8g} clocks a bit, at least {MIN_BIT_CLOCKS} "
                         f"needed")
    if ratio > MAX_BIT_CLOCKS:
        raise ValueError(f"baud {baud!r} is too slow for clk_freq {clk_freq!r}: "
                         f"{float(ratio):.8g} clocks a bit, at most 2**24")
    period = (ratio if ratio.denominator <= MAX_DENOMINATOR
              else ratio.limit_denominator(MAX_DENOMINATOR))
    return ratio, period


def tolerance(bit_period):
    """The most relative difference of a far end's bit rate that a receiver counting
    ``bit_period`` clocks a bit takes: ``(1/2 - 1/bit_period) / 10``."""
    return float((Fraction(1, 2) - 1 / Fraction(bit_period)) / 10)


class UART(wiring.Component):
    """A full-duplex UART, 8N1: a start bit (0), 8 data bits least significant first, one
    stop bit (1); the line idles high.

    **Bit timer.** Both directions count a bit as ``bit_period = num / den`` clocks:
    ``clk_freq / baud`` exactly when its reduced denominator is at most 2**16 (50 MHz /
    3 Mbaud = 50/3, 25 MHz / 115200 = 15625/72), else the nearest such fraction
    (:attr:`rate_error` below 2e-6). A phase accumulator adds ``den`` each clock and a bit
    ends each time it passes ``num``: no error accumulates, and each bit edge is on the
    first clock at or after its ideal time. ``clk_freq / baud`` must be from 8 to 2**24.

    **Receive.** ``rx_pin`` passes a 2-flop :class:`FFSynchronizer`. A falling edge starts
    a frame; bit ``i`` (the start bit is bit 0, the stop bit bit 9) is sampled once,
    ``ceil((i + 1/2) * bit_period - 1)`` clocks after the edge was seen: mid-bit within a
    clock either way, the edge's own uncertainty included. A start bit high again at its
    sample was a glitch: no frame, no error (a low pulse of at most ``bit_period / 2 - 1``
    clocks is always one, a pulse of ``bit_period / 2 + 1`` or more always a start
    bit). After the stop bit's sample the receiver looks for the next falling
    edge, so a line still low (a framing error, a break) must go high first. The far end's
    bit rate may differ from ``baud`` by :attr:`tolerance`: ``(1/2 - 1/bit_period) / 10``
    (3.75% at 8 clocks a bit, 4.4% at 16.67 (50 MHz, 3 Mbaud), 4.95% at 217
    (25 MHz, 115200)), edges taken as sharp.

    **Errors**, sticky flags until ``clear`` (an error in the cycle of a clear sets its
    flag): ``framing``, a stop bit of 0 after data not all zero, and ``line_break``, a
    stop bit of 0 after 8 zero data bits (a break; it is reported only as a break), drop
    the frame; ``overrun``: a good byte came while ``o`` still held the byte before it,
    untaken: the new byte is dropped, the held one kept. ``o`` is one register: a byte
    must be taken within a frame time (10 bits) of its arrival.

    **Transmit.** A byte taken from ``i`` is sent at once: ``tx_pin`` falls the cycle
    after the transfer, and bit ``n`` (counted on through frames sent back to back)
    starts ``ceil(n * bit_period)`` clocks after that. ``i`` is ready when the transmitter
    is idle or in the last cycle of a stop bit, so bytes offered back to back go out back
    to back, exactly 10 bits each on average.

    Latency: a received byte is on ``o`` ``ceil(9.5 * bit_period - 1) + 3`` clocks after
    its start bit's falling edge on ``rx_pin`` (at mid stop bit, with 2 clocks of
    synchronizer and 1 of output register); ``tx_pin`` falls 1 clock after an ``i``
    transfer to an idle transmitter. Throughput: ``baud / 10`` bytes a second each way,
    at once.

    Parameters
    ----------
    clk_freq : int or float
        The clock's frequency in Hz.
    baud : int or float
        The line's bit rate in bits a second.

    Members
    -------
    rx_pin : In(1)
        The receive line (asynchronous, idle high).
    tx_pin : Out(1)
        The transmit line (registered, idle high).
    i : In(stream.Signature(8))
        Bytes to send.
    o : Out(stream.Signature(8))
        Bytes received (a register).
    framing : Out(1)
        A frame (not all zero) had a stop bit of 0 (sticky).
    overrun : Out(1)
        A byte was dropped because ``o`` still held one (sticky).
    line_break : Out(1)
        A frame of zeros had a stop bit of 0: a break (sticky).
    clear : In(1)
        Clears the three flags at the end of the cycle.

    Raises
    ------
    ValueError
        If ``clk_freq`` or ``baud`` is not a positive number, or a bit would last fewer
        than 8 or more than 2**24 clocks.
    """

    def __init__(self, clk_freq, baud):
        self._ratio, self._period = bit_timing(clk_freq, baud)
        self._clk_freq, self._baud = clk_freq, baud
        super().__init__({
            "rx_pin":     In(1, init=1),
            "tx_pin":     Out(1, init=1),
            "i":          In(stream.Signature(8)),
            "o":          Out(stream.Signature(8)),
            "framing":    Out(1),
            "overrun":    Out(1),
            "line_break": Out(1),
            "clear":      In(1),
        })

    @property
    def clk_freq(self):
        return self._clk_freq

    @property
    def baud(self):
        return self._baud

    @property
    def bit_period(self):
        """The clocks a bit lasts (a :class:`Fraction`; the average over many bits)."""
        return self._period

    @property
    def rate_error(self):
        """The relative error of the bit rate: ``clk_freq / baud / bit_period - 1``."""
        return float(self._ratio / self._period - 1)

    @property
    def tolerance(self):
        """The most relative difference of the far end's bit rate from ``baud`` that the
        receiver takes (for sharp edges): ``(1/2 - 1/bit_period) / 10``."""
        return tolerance(self._period)

    def elaborate(self, platform):
        m = Module()
        num, den = self._period.numerator, self._period.denominator

        # -- Transmit: a phase accumulator (t_acc < num) restarted with each frame sent
        # from idle; bit n ends when it passes num for the n-th time.
        tx      = Signal(init=1)
        t_acc   = Signal(range(num + den))
        t_tick  = Signal()
        t_busy  = Signal()
        t_bit   = Signal(range(10))     # the bit on the line: 0 start, 1-8 data, 9 stop
        t_shift = Signal(9)             # the bits still to send, stop bit last
        t_last  = Signal()
        m.d.comb += [t_tick.eq(t_acc >= num - den),
                     t_last.eq(t_busy & t_tick & (t_bit == 9)),
                     self.i.ready.eq(~t_busy | t_last),
                     self.tx_pin.eq(tx)]
        m.d.sync += t_acc.eq(Mux(t_tick, t_acc - (num - den), t_acc + den))
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [tx.eq(0), t_shift.eq(Cat(self.i.payload, C(1, 1))), t_bit.eq(0),
                         t_busy.eq(1)]
            with m.If(~t_busy):
                m.d.sync += t_acc.eq(0)
        with m.Elif(t_last):
            m.d.sync += t_busy.eq(0)
        with m.Elif(t_busy & t_tick):
            m.d.sync += [tx.eq(t_shift[0]), t_shift.eq(t_shift >> 1), t_bit.eq(t_bit + 1)]

        # -- Receive: the same accumulator in half units (r_acc < 2 * num), loaded at the
        # start edge so that bit i is sampled ceil((i + 1/2) * num/den - 1) clocks later.
        rx      = Signal(init=1)
        rx_prev = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(self.rx_pin, rx, init=1)
        m.d.sync += rx_prev.eq(rx)
        r_acc   = Signal(range(2 * (num + den)))
        r_tick  = Signal()
        r_bit   = Signal(range(8))
        r_shift = Signal(8)
        m.d.comb += r_tick.eq(r_acc >= 2 * (num - den))
        m.d.sync += r_acc.eq(Mux(r_tick, r_acc - 2 * (num - den), r_acc + 2 * den))

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.clear):
            m.d.sync += [self.framing.eq(0), self.overrun.eq(0), self.line_break.eq(0)]

        with m.FSM(name="rx_fsm"):
            with m.State("IDLE"):
                with m.If(rx_prev & ~rx):
                    m.d.sync += r_acc.eq(num + 2 * den)
                    m.next = "START"
            with m.State("START"):
                with m.If(r_tick):
                    m.d.sync += r_bit.eq(0)
                    m.next = "DATA"
                    with m.If(rx):   # high again at mid-bit: a glitch, no start bit
                        m.next = "IDLE"
            with m.State("DATA"):
                with m.If(r_tick):
                    m.d.sync += [r_shift.eq(Cat(r_shift[1:], rx)), r_bit.eq(r_bit + 1)]
                    with m.If(r_bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(r_tick):
                    with m.If(rx):
                        with m.If(self.o.valid & ~self.o.ready):
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(r_shift)]
                    with m.Elif(r_shift == 0):
                        m.d.sync += self.line_break.eq(1)
                    with m.Else():
                        m.d.sync += self.framing.eq(1)
                    m.next = "IDLE"
        return m
