"""The core's synchronisation counters: the threads' SIGNAL and WAIT."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.isa import COUNTER_BITS, COUNTERS, THREADS

__all__ = ["CTR_BITS", "counter_signature", "signal_signature", "Counters"]

#: Bits of a counter's number.
CTR_BITS = (COUNTERS - 1).bit_length()


def counter_signature():
    """A thread's requests to the counters, seen from the thread: ``signal`` adds one to
    counter ``signal_ctr``; ``wait`` asks to take one from counter ``wait_ctr``, and
    ``grant`` (combinational) says it is taken this cycle. ``signal_ctr`` and ``wait_ctr``
    count only with ``signal`` and ``wait`` (a thread drives them from its instruction's
    fields whatever the instruction)."""
    return wiring.Signature({
        "signal":     Out(1),
        "signal_ctr": Out(CTR_BITS),
        "wait":       Out(1),
        "wait_ctr":   Out(CTR_BITS),
        "grant":      In(1),
    })


def signal_signature():
    """An engine's SIGNAL, seen from the engine: ``signal`` adds one to counter ``ctr``
    (T1's engine, at the end of an SSTREAM with ``signal`` set; a NoC port, when it
    writes a put with ``signal`` set)."""
    return wiring.Signature({
        "signal": Out(1),
        "ctr":    Out(CTR_BITS),
    })


def _count(m, bits, name):
    """The number of ``bits`` that are 1, as an unsigned value: a carry-save tree of full
    and half adders written as logic (XOR and majority), so that synthesis maps it to a
    few LUT levels instead of a carry chain per addition. Each adder's outputs are
    signals of ``m`` (an expression used three times would be written out three times)."""
    columns = [list(bits)]
    n = 0
    for weight in range((len(bits)).bit_length() + 1):
        column = columns[weight]
        columns.append([])
        while len(column) > 1:
            take = 3 if len(column) >= 3 else 2
            ins, column[:take] = column[:take], []
            total, carry = Signal(name=f"{name}_s{n}"), Signal(name=f"{name}_c{n}")
            n += 1
            if take == 3:
                a, b, cin = ins
                m.d.comb += [total.eq(a ^ b ^ cin),
                             carry.eq((a & b) | (a & cin) | (b & cin))]
            else:
                a, b = ins
                m.d.comb += [total.eq(a ^ b), carry.eq(a & b)]
            column.append(total)
            columns[weight + 1].append(carry)
    width = len(bits).bit_length()
    return Cat(*(column[0] if column else C(0, 1) for column in columns[:width]))


class Counters(wiring.Component):
    """The 16 counters of a core (:data:`rtl.spec.isa.COUNTERS`), ``bits`` wide.

    Of the threads waiting on a positive counter, the lowest-numbered is granted: one
    grant per counter per cycle. Every SIGNAL of a cycle adds one to its counter and every
    grant takes one, at the end of the cycle (a WAIT sees a SIGNAL of the same cycle the
    next cycle). ``clear`` sets every counter to 0 at the end of the cycle, whatever the
    requests.

    Latency: ``grant`` is combinational from ``wait``, ``wait_ctr`` and the counters;
    a counter changes 1 cycle after a SIGNAL or grant, and ``overflow`` shows the cycle
    after one that took a counter past its maximum. Throughput: one SIGNAL per thread
    and one grant per counter a cycle.

    Members
    -------
    threads : In(counter_signature()).array(THREADS)
        Thread ``t``'s requests at index ``t``.
    engines : In(signal_signature()).array(engines)
        The engines' SIGNALs (T1's engine, then the NoC ports'), counted with the
        threads' of the same cycle.
    clear : In(1)
    overflow : Out(1)
        The SIGNALs of the cycle before took a counter past ``2**bits - 1`` (the counter
        wrapped), and ``clear`` was low then: 1 cycle after the SIGNALs, from registers.

    Parameters
    ----------
    engines : int
        Engines that signal.
    bits : int
        A counter's width: the ISA's ``COUNTER_BITS`` in a core (narrower ones test the
        overflow in a few cycles).
    """

    def __init__(self, engines=1, *, bits=COUNTER_BITS):
        for name, value, low in (("engines", engines, 0), ("bits", bits, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"Counters {name} must be an integer >= {low}, not {value!r}")
        self._bits = bits
        super().__init__({
            "threads":  In(counter_signature()).array(THREADS),
            "engines":  In(signal_signature()).array(engines),
            "clear":    In(1),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        threads = self.threads
        bits = self._bits
        counters = [Signal(bits, name=f"counter{c}") for c in range(COUNTERS)]
        positive = [Signal(name=f"positive{c}") for c in range(COUNTERS)]
        m.d.comb += [positive[c].eq(counters[c] != 0) for c in range(COUNTERS)]

        # The grants are formed side by side (a thread is blocked by a lower-numbered
        # thread waiting on the same counter), not as a priority chain through the threads.
        for t, th in enumerate(threads):
            blocked = Cat(lower.wait & (lower.wait_ctr == th.wait_ctr)
                          for lower in threads[:t]).any() if t else C(0, 1)
            m.d.comb += th.grant.eq(th.wait & Array(positive)[th.wait_ctr] & ~blocked)

        carries = []
        width = range(2**bits + THREADS + len(self.engines))
        for c in range(COUNTERS):
            ups = [th.signal & (th.signal_ctr == c) for th in threads] + \
                  [e.signal & (e.ctr == c) for e in self.engines]
            up_bits = [Signal(name=f"up{c}_{k}") for k in range(len(ups))]
            m.d.comb += [bit.eq(up) for bit, up in zip(up_bits, ups, strict=True)]
            count = _count(m, up_bits, f"inc{c}")
            inc = Signal(len(count), name=f"inc{c}")
            granted = Signal(name=f"granted{c}")
            m.d.comb += [inc.eq(count), granted.eq(
                positive[c] & Cat(th.wait & (th.wait_ctr == c) for th in threads).any())]
            # inc - granted, in logic: its low bits looked up from inc and granted, the
            # rest all ones when a grant meets no SIGNAL (-1). One carry chain then adds it
            # to the counter.
            low, minus = Signal(len(inc), name=f"low{c}"), Signal(name=f"minus{c}")
            m.d.comb += [low.eq(Array(C((v - g) % 2**len(inc), len(inc))
                                      for g in (0, 1) for v in range(2**len(inc)))
                                [Cat(inc, granted)]),
                         minus.eq(granted & (inc == 0))]
            total = Signal(width, name=f"total{c}")
            m.d.comb += total.eq(counters[c] + Cat(low, minus.replicate(len(total) - len(inc))))
            # The sum's carry out, registered per counter: the OR of the sixteen and the
            # flag's enable come after the register, not after the carry chains.
            carry = Signal(name=f"carry{c}")
            m.d.sync += carry.eq(~self.clear & total[bits:].any())
            carries.append(carry)
            with m.If(self.clear):
                m.d.sync += counters[c].eq(0)
            with m.Else():
                m.d.sync += counters[c].eq(total[:bits])
        m.d.comb += self.overflow.eq(Cat(carries).any())
        return m
