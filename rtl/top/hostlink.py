"""The host link: framed commands over a byte stream (docs/architecture.md, 10; golden model
``sw/golden/hostlink.py``)."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.crc import catalog
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from ..spec.hostlink import ACK, HEADER, IDENT_BYTES, NAK, TRAILER, Cmd, Nak, State

# INFO answers its ident through the STATUS answer's 6-byte shift register.
assert IDENT_BYTES == 6

__all__ = ["Cmd", "Nak", "State", "ACK", "NAK", "MemPortSignature", "byte_layout",
           "CobsDecoder", "CobsEncoder", "CrcAppender", "HostLink"]

class MemPortSignature(wiring.Signature):
    """A word port of a memory, from the requester's side: ``rdata`` holds the word of a
    read request (``en`` without ``we``) in the cycle after it; a write (``en`` and ``we``)
    writes the bytes of ``wdata`` whose ``mask`` bit is set. ``addr`` is a word address."""

    def __init__(self, addr_width, word_bytes):
        super().__init__({"en": Out(1), "we": Out(1), "addr": Out(addr_width),
                          "wdata": Out(8 * word_bytes), "mask": Out(word_bytes),
                          "rdata": In(8 * word_bytes)})


#: A byte with a frame-end flag (the decoder's ``end`` events carry no data).
byte_layout = data.StructLayout({"data": 8, "last": 1})
_event_layout = data.StructLayout({"data": 8, "end": 1, "framing": 1})


class CobsDecoder(wiring.Component):
    """Decode COBS frames delimited by 0x00, combinationally, one byte a cycle.

    Each input byte gives at most one output event: a data byte (a code byte gives the
    zero that ended the block before it, unless that block was full), or at a delimiter an
    ``end`` event, with ``framing`` set if the delimiter came inside a block. A delimiter
    with no byte since the last one (an empty frame) gives nothing.

    Members
    -------
    i : In(stream.Signature(8))
    o : Out(stream.Signature(_event_layout))
    """

    i: In(stream.Signature(8))
    o: Out(stream.Signature(_event_layout))

    def elaborate(self, platform):
        m = Module()
        left    = Signal(8)            # data bytes left in the block
        code    = Signal(8, init=0xFF)  # the block's code; 0xFF: no zero before the next
        started = Signal()             # a byte of this frame has come
        byte    = self.i.payload
        emit    = Signal()
        with m.If(byte == 0):
            m.d.comb += [emit.eq(started), self.o.p.end.eq(1),
                         self.o.p.framing.eq(left != 0)]
        with m.Elif(left != 0):
            m.d.comb += [emit.eq(1), self.o.p.data.eq(byte)]
        with m.Else():   # a code byte; the zero it implies has data 0
            m.d.comb += emit.eq(code != 0xFF)
        m.d.comb += [self.o.valid.eq(self.i.valid & emit),
                     self.i.ready.eq(self.o.ready | ~emit)]
        with m.If(self.i.valid & self.i.ready):
            with m.If(byte == 0):
                m.d.sync += [left.eq(0), code.eq(0xFF), started.eq(0)]
            with m.Elif(left != 0):
                m.d.sync += [left.eq(left - 1), started.eq(1)]
            with m.Else():
                m.d.sync += [code.eq(byte), left.eq(byte - 1), started.eq(1)]
        return m


class CrcAppender(wiring.Component):
    """Pass a frame's bytes through and append their CRC-32 (Ethernet), little-endian.

    Latency 0 (combinational pass-through); 4 cycles more per frame for the CRC.

    Members
    -------
    i : In(stream.Signature(byte_layout))
    o : Out(stream.Signature(byte_layout))
    """

    i: In(stream.Signature(byte_layout))
    o: Out(stream.Signature(byte_layout))

    def elaborate(self, platform):
        m = Module()
        m.submodules.generator = crc = catalog.CRC32_ETHERNET(data_width=8).create()
        k = Signal(2)
        # Byte k of the CRC through a multiplexer, not a shift: Verilator's lint flags the
        # truncated shift Yosys writes for a variable word_select.
        crc_byte = Array(crc.crc.word_select(i, 8) for i in range(4))[k]
        with m.FSM():
            with m.State("PASS"):
                m.d.comb += [self.o.valid.eq(self.i.valid), self.o.p.data.eq(self.i.p.data),
                             self.i.ready.eq(self.o.ready), crc.data.eq(self.i.p.data),
                             crc.valid.eq(self.i.valid & self.o.ready)]
                with m.If(self.i.valid & self.o.ready & self.i.p.last):
                    m.d.sync += k.eq(0)
                    m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.o.valid.eq(1), self.o.p.data.eq(crc_byte),
                             self.o.p.last.eq(k == 3)]
                with m.If(self.o.ready):
                    m.d.sync += k.eq(k + 1)
                    with m.If(k == 3):
                        m.d.comb += crc.start.eq(1)  # the next frame's CRC starts afresh
                        m.next = "PASS"
        return m


class CobsEncoder(wiring.Component):
    """COBS-encode frames (``last`` marks a frame's last byte) and end each with 0x00.

    A block is gathered in a 254-byte buffer and sent with its code in front: latency up to
    a block (254 bytes); each block of ``n`` bytes takes ``n`` cycles in and ``n + 1`` out
    (its code, then a byte a cycle, the buffer read a cycle ahead).
    A full block (254 non-zero bytes, code 0xFF) that ends the frame is not followed by an
    empty block.

    Members
    -------
    i : In(stream.Signature(byte_layout))
    o : Out(stream.Signature(8))
    """

    i: In(stream.Signature(byte_layout))
    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=254, init=[])
        wp = buf.write_port()
        rp = buf.read_port()        # synchronous (block RAM): addressed a cycle ahead
        count = Signal(range(255))  # bytes in the block
        code  = Signal(8)
        idx   = Signal(range(255))
        final = Signal()            # the frame ends with this block
        tail  = Signal()            # ... and an empty block follows (its last byte was 0)
        m.d.comb += [wp.addr.eq(count), wp.data.eq(self.i.p.data), rp.addr.eq(idx)]
        # The write of a block's last byte is done by the time CODE reads byte 0.

        def after_block():
            with m.If(final & tail):
                m.next = "TAIL"
            with m.Elif(final):
                m.next = "DELIM"
            with m.Else():
                m.d.sync += count.eq(0)
                m.next = "FILL"

        with m.FSM():
            with m.State("FILL"):
                nonzero = self.i.p.data != 0
                m.d.comb += [self.i.ready.eq(1), wp.en.eq(self.i.valid & nonzero)]
                with m.If(self.i.valid):
                    total = count + nonzero
                    m.d.sync += count.eq(total)
                    with m.If(~nonzero | (total == 254) | self.i.p.last):
                        m.d.sync += [code.eq(total + 1), final.eq(self.i.p.last),
                                     tail.eq(self.i.p.last & ~nonzero)]
                        m.next = "CODE"
            with m.State("CODE"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(code), rp.addr.eq(0)]
                with m.If(self.o.ready):
                    m.d.sync += idx.eq(0)
                    with m.If(count == 0):
                        after_block()
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(rp.data)]
                with m.If(self.o.ready):
                    m.d.comb += rp.addr.eq(idx + 1)
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx + 1 == count):
                        after_block()
            with m.State("TAIL"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(1)]
                with m.If(self.o.ready):
                    m.next = "DELIM"
            with m.State("DELIM"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(0)]
                with m.If(self.o.ready):
                    m.d.sync += count.eq(0)
                    m.next = "FILL"
        return m


class HostLink(wiring.Component):
    """Execute framed WRITE, READ, RUN, STATUS and INFO commands from a host byte stream.

    A frame is COBS(payload || CRC-32 LE) followed by 0x00; every non-empty frame gets one
    answer frame, ACK or NAK (docs/architecture.md, 10, byte for byte). A frame is held in
    a buffer until its CRC has been checked: no bad frame writes the memory.

    Latency and throughput: frames are received at one byte a cycle (``rx`` is not ready
    while a command executes and its answer is sent); a WRITE commits one byte a cycle
    after the frame's delimiter; a READ reads one byte every three cycles; the answer's
    encoder sends each block of ``n`` bytes in ``n + 1`` cycles after gathering it, so the
    first answer byte leaves a few cycles after the delimiter, or for a READ once its first
    block (up to 254 bytes, three cycles each) has been read. Far above any UART's rate.

    Parameters
    ----------
    word_bytes : int
        Bytes per memory word, a power of two.
    mem_bytes : int
        Memory size in bytes, a power of two, at least ``word_bytes``, at most 2**32.
    max_data : int
        The most data bytes of one WRITE or READ (1 to 65535).
    ident : int
        What INFO answers, :data:`rtl.spec.hostlink.IDENT_BYTES` bytes little-endian (0
        to 2**48 - 1; a machine's :attr:`rtl.spec.config.ArrayConfig.ident`).

    Members
    -------
    rx : In(stream.Signature(8))
        Bytes from the host.
    tx : Out(stream.Signature(8))
        Bytes to the host.
    mem : Out(MemPortSignature(log2(mem_bytes / word_bytes), word_bytes))
        The memory (framebuffer) port; byte addresses of the protocol map to word ``addr``
        and lane ``mask``.
    start : Out(1)
        One-cycle pulse starting a run at ``entry``.
    entry : Out(32)
    busy : In(1)
        High while a run is in progress; must be high from the cycle after ``start``.
    error : In(8)
        The last run's error code (0: none).
    cycles : In(32)
        The last run's cycle count.
    """

    def __init__(self, word_bytes=8, mem_bytes=4096, max_data=256, *, ident=0):
        def is_int(v):   # (not a bool: True is no byte count)
            return isinstance(v, int) and not isinstance(v, bool)
        if not is_int(word_bytes) or word_bytes < 1 or word_bytes & (word_bytes - 1):
            raise ValueError(f"word_bytes must be a power of two, not {word_bytes!r}")
        if (not is_int(mem_bytes) or mem_bytes < word_bytes or mem_bytes > 1 << 32
                or mem_bytes & (mem_bytes - 1)):
            raise ValueError(f"mem_bytes must be a power of two from word_bytes ({word_bytes}) "
                             f"to 2**32, not {mem_bytes!r}")
        if not is_int(max_data) or not 1 <= max_data <= 0xFFFF:
            raise ValueError(f"max_data must be an integer from 1 to 65535, not {max_data!r}")
        if not is_int(ident) or not 0 <= ident < 1 << 8 * IDENT_BYTES:
            raise ValueError(f"ident must be an integer from 0 to 2**{8 * IDENT_BYTES} - 1, "
                             f"not {ident!r}")
        self._ident      = ident
        self._word_bytes = word_bytes
        self._mem_bytes  = mem_bytes
        self._max_data   = max_data
        super().__init__({
            "rx":     In(stream.Signature(8)),
            "tx":     Out(stream.Signature(8)),
            "mem":    Out(MemPortSignature(exact_log2(mem_bytes // word_bytes), word_bytes)),
            "start":  Out(1),
            "entry":  Out(32),
            "busy":   In(1),
            "error":  In(8),
            "cycles": In(32),
        })

    word_bytes = property(lambda self: self._word_bytes)
    mem_bytes  = property(lambda self: self._mem_bytes)
    max_data   = property(lambda self: self._max_data)
    ident      = property(lambda self: self._ident)

    @property
    def max_frame(self):
        """The most decoded bytes of a frame (a full WRITE, or a READ if longer, and its
        CRC)."""
        return max(HEADER + self._max_data, 7) + TRAILER

    def elaborate(self, platform):
        # Receive: the decoder's bytes go into a buffer (the CRC checked on the fly by its
        # residue) and the header bytes into registers; at the frame's end one cycle of
        # checks picks the NAK code or the command; a WRITE then copies the buffer to the
        # memory a byte at a time. The answer's bytes go through the CRC appender and the
        # COBS encoder to ``tx``.
        m = Module()
        wb, maxf = self._word_bytes, self.max_frame
        lane_bits = exact_log2(wb)

        m.submodules.decoder = decoder = CobsDecoder()
        m.submodules.appender = appender = CrcAppender()
        m.submodules.encoder = encoder = CobsEncoder()
        wiring.connect(m, decoder=decoder.i, rx=wiring.flipped(self.rx))
        wiring.connect(m, appender=appender.o, encoder=encoder.i)
        wiring.connect(m, encoder=encoder.o, tx=wiring.flipped(self.tx))
        m.submodules.checker = crc = catalog.CRC32_ETHERNET(data_width=8).create()
        m.submodules.buf = buf = Memory(shape=8, depth=maxf, init=[])
        wp = buf.write_port()
        rp = buf.read_port()   # synchronous (block RAM): addressed a cycle ahead

        event = decoder.o.p
        resp  = appender.i

        count    = Signal(range(maxf + 1))  # decoded bytes of the frame
        overflow = Signal()
        framing  = Signal()
        cmd      = Signal(8)
        arg      = Signal(32)               # address or entry
        length   = Signal(16)               # READ's length; the bytes left while reading
        code     = Signal(8)                # NAK code
        body     = Signal(range(maxf + 1))  # the WRITE data byte being committed
        baddr    = Signal(ceil_log2(self._mem_bytes) or 1)
        status   = Signal(8 * IDENT_BYTES)    # a STATUS's answer bytes, or INFO's
        rbyte    = Signal(8)
        k        = Signal(3)
        pending  = Signal()   # start was pulsed last cycle (busy not yet up)
        started  = Signal()   # a run was started since reset
        running  = self.busy | pending
        m.d.sync += pending.eq(self.start)

        plen  = count - TRAILER
        ndata = count - (HEADER + TRAILER)   # a WRITE's data bytes
        need  = Signal(4)
        with m.Switch(cmd):
            with m.Case(Cmd.WRITE):
                m.d.comb += need.eq(HEADER + 1)
            with m.Case(Cmd.READ):
                m.d.comb += need.eq(7)
            with m.Case(Cmd.RUN):
                m.d.comb += need.eq(5)
            with m.Default():
                m.d.comb += need.eq(1)
        known = (cmd == Cmd.WRITE) | (cmd == Cmd.READ) | (cmd == Cmd.RUN) | \
            (cmd == Cmd.STATUS) | (cmd == Cmd.INFO)
        always = (cmd == Cmd.STATUS) | (cmd == Cmd.INFO)   # answered during a run

        m.d.comb += [wp.addr.eq(count), wp.data.eq(event.data), crc.data.eq(event.data),
                     rp.addr.eq(body + (HEADER + 1)),   # WRITE: the next byte's
                     self.mem.addr.eq(baddr >> lane_bits), self.entry.eq(arg)]
        if lane_bits:
            lane = baddr[:lane_bits]
        else:
            lane = C(0, 1)
        rdata_byte = Array(self.mem.rdata.word_select(i, 8) for i in range(wb))[lane]
        m.d.comb += [self.mem.mask.eq((C(1, wb) << lane)[:wb]),
                     self.mem.wdata.eq(rp.data.replicate(wb))]

        def nak(value):
            m.d.sync += code.eq(value)
            m.next = "NAK"

        with m.FSM():
            with m.State("RECV"):
                m.d.comb += decoder.o.ready.eq(1)
                with m.If(decoder.o.valid):
                    with m.If(event.end):
                        m.d.sync += framing.eq(event.framing)
                        m.next = "CHECK"
                    with m.Elif(count == maxf):
                        m.d.sync += overflow.eq(1)
                    with m.Else():
                        m.d.comb += [wp.en.eq(1), crc.valid.eq(1), crc.start.eq(count == 0)]
                        m.d.sync += count.eq(count + 1)
                        with m.Switch(count):
                            with m.Case(0):
                                m.d.sync += cmd.eq(event.data)
                            for i in range(4):
                                with m.Case(1 + i):
                                    m.d.sync += arg.word_select(i, 8).eq(event.data)
                            for i in range(2):
                                with m.Case(5 + i):
                                    m.d.sync += length.word_select(i, 8).eq(event.data)

            with m.State("CHECK"):
                m.d.comb += rp.addr.eq(HEADER)   # a WRITE's first data byte
                m.d.sync += [baddr.eq(arg), body.eq(0)]
                with m.If(overflow):
                    nak(Nak.OVERSIZE)
                with m.Elif(framing):
                    nak(Nak.FRAMING)
                with m.Elif(count < 1 + TRAILER):
                    nak(Nak.TRUNCATED)
                with m.Elif(~crc.match_detected):
                    nak(Nak.BAD_CRC)
                with m.Elif(~known):
                    nak(Nak.UNKNOWN)
                with m.Elif(plen < need):
                    nak(Nak.TRUNCATED)
                with m.Elif((cmd != Cmd.WRITE) & (plen > need)):
                    nak(Nak.LENGTH)
                with m.Elif((cmd == Cmd.WRITE) & (ndata > self._max_data)):
                    nak(Nak.LENGTH)   # within max_frame only if max_data is 1 (a READ's 7)
                with m.Elif((cmd == Cmd.READ) & ((length == 0) | (length > self._max_data))):
                    nak(Nak.LENGTH)
                with m.Elif(~always & running):
                    nak(Nak.BUSY)
                with m.Elif((cmd == Cmd.WRITE) & (arg + ndata > self._mem_bytes)):
                    nak(Nak.ADDRESS)
                with m.Elif((cmd == Cmd.READ) & (arg + length > self._mem_bytes)):
                    nak(Nak.ADDRESS)
                with m.Elif(cmd == Cmd.WRITE):
                    m.next = "WRITE"
                with m.Elif(cmd == Cmd.RUN):
                    m.d.comb += self.start.eq(1)
                    m.d.sync += started.eq(1)
                    m.next = "ACK"
                with m.Elif(cmd == Cmd.INFO):
                    m.d.sync += status.eq(self._ident)
                    m.next = "ACK"
                with m.Else():
                    state = Signal(State)
                    with m.If(running):
                        m.d.comb += state.eq(State.RUNNING)
                    with m.Elif(~started):
                        m.d.comb += state.eq(State.IDLE)
                    with m.Elif(self.error == 0):
                        m.d.comb += state.eq(State.DONE)
                    with m.Else():
                        m.d.comb += state.eq(State.ERROR)
                    m.d.sync += status.eq(Cat(state, self.error, self.cycles))
                    m.next = "ACK"

            with m.State("WRITE"):   # the buffer's data bytes to the memory, a byte a cycle
                m.d.comb += [self.mem.en.eq(1), self.mem.we.eq(1)]
                m.d.sync += [baddr.eq(baddr + 1), body.eq(body + 1)]
                with m.If(body + 1 == ndata):
                    m.next = "ACK"

            with m.State("NAK"):
                m.d.comb += [resp.valid.eq(1), resp.p.data.eq(NAK)]
                with m.If(resp.ready):
                    m.next = "NAK_CODE"
            with m.State("NAK_CODE"):
                m.d.comb += [resp.valid.eq(1), resp.p.data.eq(code), resp.p.last.eq(1)]
                with m.If(resp.ready):
                    m.next = "DONE"

            with m.State("ACK"):
                m.d.comb += [resp.valid.eq(1), resp.p.data.eq(ACK)]
                with m.If(resp.ready):
                    m.next = "ACK_CMD"
            with m.State("ACK_CMD"):
                m.d.comb += [resp.valid.eq(1), resp.p.data.eq(cmd),
                             resp.p.last.eq((cmd == Cmd.WRITE) | (cmd == Cmd.RUN))]
                with m.If(resp.ready):
                    m.d.sync += k.eq(0)
                    with m.Switch(cmd):
                        with m.Case(Cmd.READ):
                            m.next = "READ"
                        with m.Case(Cmd.STATUS, Cmd.INFO):   # 6 bytes each
                            m.next = "STATUS"
                        with m.Default():
                            m.next = "DONE"

            with m.State("READ"):      # request the word
                m.d.comb += self.mem.en.eq(1)
                m.next = "READ_WAIT"
            with m.State("READ_WAIT"):  # its data is there: keep the byte
                m.d.sync += rbyte.eq(rdata_byte)
                m.next = "READ_SEND"
            with m.State("READ_SEND"):
                m.d.comb += [resp.valid.eq(1), resp.p.data.eq(rbyte),
                             resp.p.last.eq(length == 1)]
                with m.If(resp.ready):
                    m.d.sync += [baddr.eq(baddr + 1), length.eq(length - 1)]
                    with m.If(length == 1):
                        m.next = "DONE"
                    with m.Else():
                        m.next = "READ"

            with m.State("STATUS"):    # STATUS's 6 bytes (state, error, cycles), or INFO's
                m.d.comb += [resp.valid.eq(1), resp.p.data.eq(status[:8]),
                             resp.p.last.eq(k == 5)]
                with m.If(resp.ready):
                    m.d.sync += [status.eq(status >> 8), k.eq(k + 1)]
                    with m.If(k == 5):
                        m.next = "DONE"

            with m.State("DONE"):   # ready for the next frame
                m.d.sync += [count.eq(0), overflow.eq(0), framing.eq(0)]
                m.next = "RECV"
        return m
