"""Golden model of the host link (``rtl/top/hostlink.py``; docs/architecture.md, 10).

The host talks to the machine through a byte stream of frames. A frame is
``COBS(payload || CRC-32(payload) as 4 bytes little-endian)`` followed by one ``0x00``
delimiter. :class:`HostLinkModel` takes the bytes the host sends, in any pieces, and returns
the exact bytes the RTL answers, keeping the memory behind the link and the run state as
the RTL sees them.
"""

import zlib

from rtl.spec.hostlink import ACK, HEADER, IDENT_BYTES, NAK, TRAILER, Cmd, Nak, State

__all__ = ["Cmd", "Nak", "State", "ACK", "NAK", "HEADER", "TRAILER", "IDENT_BYTES",
           "cobs_encode", "cobs_decode", "CobsError", "crc32", "build_frame", "parse_frame",
           "FrameError", "max_frame", "write_request", "read_request", "run_request",
           "status_request", "info_request", "check_params", "HostLinkModel"]


class CobsError(ValueError):
    """Bytes that are not a COBS encoding (a zero, or a block cut short)."""


class FrameError(ValueError):
    """A frame that cannot be parsed: bad COBS, too short, or a bad CRC."""


def cobs_encode(data):
    """Return the COBS encoding of ``data`` (no delimiter). A block of 254 non-zero bytes
    (code 0xFF) that ends the data is not followed by an empty block."""
    out, block, full = bytearray(), bytearray(), False
    for byte in bytes(data):
        full = False
        if byte == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out += b"\xff" + block
                block.clear()
                full = True
    if block or not full:
        out += bytes([len(block) + 1]) + block
    return bytes(out)


def cobs_decode(data):
    """Decode COBS ``data`` (no delimiter); raise :class:`CobsError` if it holds a zero or
    ends inside a block."""
    data = bytes(data)
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise CobsError(f"zero byte at {i}")
        block = data[i + 1:i + code]
        if len(block) != code - 1:
            raise CobsError(f"block at {i} cut short ({len(block)} of {code - 1} bytes)")
        if 0 in block:
            raise CobsError(f"zero byte in the block at {i}")
        out += block
        i += code
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def crc32(data):
    """The CRC-32 of Ethernet and zlib (reflected 0x04C11DB7, init and xorout 0xFFFFFFFF)."""
    return zlib.crc32(bytes(data)) & 0xFFFFFFFF


def build_frame(payload):
    """Return the frame of ``payload``: COBS(payload || CRC-32 LE) and the 0x00 delimiter."""
    payload = bytes(payload)
    return cobs_encode(payload + crc32(payload).to_bytes(4, "little")) + b"\x00"


def parse_frame(frame):
    """Return the payload of ``frame`` (with or without its trailing delimiter); raise
    :class:`FrameError` on bad COBS, fewer than 5 bytes, or a bad CRC."""
    frame = bytes(frame)
    if frame.endswith(b"\x00"):
        frame = frame[:-1]
    try:
        body = cobs_decode(frame)
    except CobsError as e:
        raise FrameError(f"bad COBS: {e}") from None
    if len(body) < 1 + TRAILER:
        raise FrameError(f"frame of {len(body)} decoded bytes is too short")
    payload, crc = body[:-TRAILER], int.from_bytes(body[-TRAILER:], "little")
    if crc32(payload) != crc:
        raise FrameError(f"bad CRC {crc:#010x}, computed {crc32(payload):#010x}")
    return payload


def max_frame(max_data):
    """The most decoded bytes a frame may hold: a WRITE of ``max_data`` bytes, or a READ
    (7 bytes) if longer, and its CRC."""
    return max(HEADER + max_data, 7) + TRAILER


def write_request(addr, data):
    return bytes([Cmd.WRITE]) + addr.to_bytes(4, "little") + bytes(data)


def read_request(addr, length):
    return bytes([Cmd.READ]) + addr.to_bytes(4, "little") + length.to_bytes(2, "little")


def run_request(entry):
    return bytes([Cmd.RUN]) + entry.to_bytes(4, "little")


def status_request():
    return bytes([Cmd.STATUS])


def info_request():
    return bytes([Cmd.INFO])


def check_params(word_bytes, mem_bytes, max_data, ident=0):
    """Raise :class:`ValueError` naming the parameter if a host link's parameters are out
    of range (the RTL's own checks)."""
    def is_int(v):   # (not a bool: True is no byte count)
        return isinstance(v, int) and not isinstance(v, bool)

    def power_of_two(v):
        return is_int(v) and v > 0 and v & (v - 1) == 0
    if not power_of_two(word_bytes):
        raise ValueError(f"word_bytes must be a power of two, not {word_bytes!r}")
    if not power_of_two(mem_bytes) or mem_bytes < word_bytes or mem_bytes > 1 << 32:
        raise ValueError(f"mem_bytes must be a power of two from word_bytes ({word_bytes}) "
                         f"to 2**32, not {mem_bytes!r}")
    if not is_int(max_data) or not 1 <= max_data <= 0xFFFF:
        raise ValueError(f"max_data must be an integer from 1 to 65535, not {max_data!r}")
    if not is_int(ident) or not 0 <= ident < 1 << 8 * IDENT_BYTES:
        raise ValueError(f"ident must be an integer from 0 to 2**{8 * IDENT_BYTES} - 1, not "
                         f"{ident!r}")


class HostLinkModel:
    """The host link and the memory behind it, frame by frame.

    The run state is the test's to set: a RUN that is acknowledged starts a run, which
    lasts until :meth:`finish_run` (the run controller's ``busy`` falls).

    Parameters
    ----------
    word_bytes, mem_bytes, max_data, ident : int
        As the RTL's.
    init : bytes or None
        The memory's initial contents (zeros by default).
    """

    def __init__(self, word_bytes=8, mem_bytes=4096, max_data=256, init=None, *, ident=0):
        check_params(word_bytes, mem_bytes, max_data, ident)
        self.ident = ident
        self.word_bytes = word_bytes
        self.mem_bytes = mem_bytes
        self.max_data = max_data
        self.mem = bytearray(mem_bytes if init is None else bytes(init))
        if len(self.mem) != mem_bytes:
            raise ValueError(f"init must hold mem_bytes ({mem_bytes}) bytes, not {len(init)}")
        self.started = False    # a run was started since reset
        self.running = False
        self.error   = 0        # the run controller's error and cycles inputs
        self.cycles  = 0
        self.entries = []       # every run's entry, in order
        self.acked_writes = []  # (addr, data) of every acknowledged WRITE
        self.frames = 0         # non-empty frames answered
        self.naks = {code: 0 for code in Nak}
        self._pending = bytearray()

    def finish_run(self, cycles, error):
        """End the run in progress: the run controller reports ``cycles`` and ``error``."""
        if not self.running:
            raise RuntimeError("finish_run with no run in progress")
        self.running, self.cycles, self.error = False, cycles, error

    def feed(self, data):
        """Take bytes from the host; return the answer bytes of every frame they complete."""
        out = bytearray()
        for byte in bytes(data):
            if byte:
                self._pending.append(byte)
                continue
            raw, self._pending = bytes(self._pending), bytearray()
            if raw:  # back-to-back delimiters: nothing to answer
                out += build_frame(self.answer(raw))
        return bytes(out)

    def answer(self, raw):
        """The answer payload to one frame's bytes ``raw`` (no delimiter, not empty)."""
        self.frames += 1
        code = self._check(raw)
        if code is None:
            payload = self._decoded[:-TRAILER]
            code, result = self._execute(payload)
            if code is None:
                return bytes([ACK, payload[0]]) + result
        self.naks[code] += 1
        return bytes([NAK, code])

    def _check(self, raw):
        body, left, code = bytearray(), 0, 0xFF
        for byte in raw:  # the RTL's streaming decoder, byte by byte
            if left:
                body.append(byte)
                left -= 1
            else:  # a code byte: the block before it, unless full, ended with a zero
                if code != 0xFF:
                    body.append(0)
                code, left = byte, byte - 1
        self._decoded = bytes(body)
        if len(body) > max_frame(self.max_data):
            return Nak.OVERSIZE
        if left:
            return Nak.FRAMING
        if len(body) < 1 + TRAILER:
            return Nak.TRUNCATED
        if crc32(body[:-TRAILER]) != int.from_bytes(body[-TRAILER:], "little"):
            return Nak.BAD_CRC
        return None

    def _execute(self, p):
        cmd, n = p[0], len(p)
        if cmd not in tuple(Cmd):
            return Nak.UNKNOWN, None
        need = {Cmd.WRITE: HEADER + 1, Cmd.READ: 7, Cmd.RUN: 5, Cmd.STATUS: 1, Cmd.INFO: 1}[cmd]
        if n < need:
            return Nak.TRUNCATED, None
        if cmd != Cmd.WRITE and n > need or cmd == Cmd.WRITE and n - HEADER > self.max_data:
            return Nak.LENGTH, None   # (a WRITE may fit the frame only when max_data is 1)
        addr = int.from_bytes(p[1:5], "little")
        if cmd == Cmd.READ:
            length = int.from_bytes(p[5:7], "little")
            if not 1 <= length <= self.max_data:
                return Nak.LENGTH, None
        if cmd not in (Cmd.STATUS, Cmd.INFO) and self.running:
            return Nak.BUSY, None
        if cmd == Cmd.WRITE:
            data = p[HEADER:]
            if addr + len(data) > self.mem_bytes:
                return Nak.ADDRESS, None
            self.mem[addr:addr + len(data)] = data
            self.acked_writes.append((addr, bytes(data)))
            return None, b""
        if cmd == Cmd.READ:
            if addr + length > self.mem_bytes:
                return Nak.ADDRESS, None
            return None, bytes(self.mem[addr:addr + length])
        if cmd == Cmd.RUN:
            self.started = self.running = True
            self.entries.append(addr)
            return None, b""
        if cmd == Cmd.INFO:
            return None, self.ident.to_bytes(IDENT_BYTES, "little")
        state = (State.RUNNING if self.running else State.IDLE if not self.started
                 else State.DONE if self.error == 0 else State.ERROR)
        return None, bytes([state, self.error]) + self.cycles.to_bytes(4, "little")
