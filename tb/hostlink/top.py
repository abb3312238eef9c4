"""The host link's test top: the link, a real memory behind its port, and a fake run
controller whose run length, error code and hold the test sets."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl.top.hostlink import HostLink

__all__ = ["PARAMS", "init_bytes", "HostLinkTop"]

#: The parameters of the link under test: a 1 KiB memory, so that the final read-back of
#: all of it stays short, and the default largest transfer (256 bytes: frames longer than
#: a 254-byte COBS block), an INFO ident with a zero byte.
PARAMS = dict(word_bytes=8, mem_bytes=1024, max_data=256, ident=0xC0FFEE00A517)


def init_bytes(mem_bytes):
    """The memory's initial contents: not zeros, so a stray write of zeros shows."""
    return bytes((i * 37 + 11) % 251 for i in range(mem_bytes))


class HostLinkTop(wiring.Component):
    """The :class:`HostLink` with a memory (word port, read data a cycle after the request)
    and a fake run controller: a start makes ``busy`` high from the next cycle for
    ``run_cycles`` cycles (at least one) and as long as ``hold`` is high; then ``cycles``
    and ``error`` take ``run_cycles`` and ``run_error``. ``runs`` counts the starts and
    ``last_entry`` keeps the last start's entry."""

    def __init__(self, word_bytes, mem_bytes, max_data, ident=0):
        self._params = (word_bytes, mem_bytes, max_data, ident)
        super().__init__({
            "rx":         In(stream.Signature(8)),
            "tx":         Out(stream.Signature(8)),
            "run_cycles": In(32),
            "run_error":  In(8),
            "hold":       In(1),
            "busy":       Out(1),
            "runs":       Out(16),
            "last_entry": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        word_bytes, mem_bytes, max_data, ident = self._params
        m.submodules.link = link = HostLink(word_bytes, mem_bytes, max_data, ident=ident)
        wiring.connect(m, link=link.rx, rx=wiring.flipped(self.rx))
        wiring.connect(m, link=link.tx, tx=wiring.flipped(self.tx))

        init = init_bytes(mem_bytes)
        words = [int.from_bytes(init[i:i + word_bytes], "little")
                 for i in range(0, mem_bytes, word_bytes)]
        m.submodules.mem = mem = Memory(shape=8 * word_bytes, depth=len(words), init=words)
        wp = mem.write_port(granularity=8)
        rp = mem.read_port()
        m.d.comb += [wp.addr.eq(link.mem.addr), wp.data.eq(link.mem.wdata),
                     wp.en.eq(Mux(link.mem.en & link.mem.we, link.mem.mask, 0)),
                     rp.addr.eq(link.mem.addr), rp.en.eq(link.mem.en & ~link.mem.we),
                     link.mem.rdata.eq(rp.data)]

        busy, count = Signal(), Signal(32)
        cycles, error = Signal(32), Signal(8)
        m.d.comb += [link.busy.eq(busy), link.cycles.eq(cycles), link.error.eq(error),
                     self.busy.eq(busy)]
        with m.If(link.start):
            m.d.sync += [busy.eq(1), count.eq(1), self.runs.eq(self.runs + 1),
                         self.last_entry.eq(link.entry)]
        with m.Elif(busy):
            with m.If((count >= self.run_cycles) & ~self.hold):
                m.d.sync += [busy.eq(0), cycles.eq(self.run_cycles), error.eq(self.run_error)]
            with m.Else():
                m.d.sync += count.eq(count + 1)
        return m
