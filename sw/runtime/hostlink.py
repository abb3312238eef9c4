"""Host-side client of the host link (docs/architecture.md, 10).

:class:`HostLinkClient` sends one request frame at a time and waits for its answer over a
transport: two callables, ``send(data: bytes)`` and ``receive() -> bytes`` returning one
answer frame (its COBS bytes, with or without the 0x00 delimiter). A NAK raises
:class:`HostLinkNak` naming the error code; an answer that cannot be parsed or does not
fit the request raises :class:`HostLinkError`.
"""

from sw.golden.hostlink import (ACK, IDENT_BYTES, NAK, Cmd, FrameError, Nak, State,
                                build_frame, info_request, parse_frame, read_request,
                                run_request, status_request, write_request)

__all__ = ["HostLinkError", "HostLinkNak", "HostLinkClient", "Status", "describe_ident",
           "model_transport"]


class HostLinkError(RuntimeError):
    """An answer that is not a well-formed answer to the request."""


class HostLinkNak(HostLinkError):
    """The link answered NAK; ``code`` is a :class:`sw.golden.hostlink.Nak` (or the raw
    integer if unknown)."""

    def __init__(self, code, command):
        try:
            code = Nak(code)
            name = code.name
        except ValueError:
            name = f"unknown code {code:#04x}"
        self.code, self.command = code, command
        super().__init__(f"NAK {name} ({int(code)}) to {command.name}")


class Status(tuple):
    """A STATUS answer: ``(state, error, cycles)``."""

    __slots__ = ()

    def __new__(cls, state, error, cycles):
        return super().__new__(cls, (state, error, cycles))

    state  = property(lambda self: self[0])
    error  = property(lambda self: self[1])
    cycles = property(lambda self: self[2])


class HostLinkClient:
    """Write, read and run over a host link.

    Args:
        send: Callable taking the bytes of one request frame.
        receive: Callable returning one answer frame.
        max_data: The link's largest READ/WRITE (longer transfers are split).
    """

    def __init__(self, send, receive, max_data=256):
        if not callable(send) or not callable(receive):
            raise TypeError("send and receive must be callables")
        if not isinstance(max_data, int) or max_data < 1:
            raise ValueError(f"max_data must be a positive integer, not {max_data!r}")
        self._send, self._receive, self.max_data = send, receive, max_data

    def _request(self, cmd, payload):
        self._send(build_frame(payload))
        try:
            answer = parse_frame(self._receive())
        except FrameError as e:
            raise HostLinkError(f"bad answer to {cmd.name}: {e}") from None
        if answer[0] == NAK and len(answer) == 2:
            raise HostLinkNak(answer[1], cmd)
        if answer[0] != ACK or len(answer) < 2 or answer[1] != cmd:
            raise HostLinkError(f"answer {answer.hex()} does not acknowledge {cmd.name}")
        return answer[2:]

    def write(self, addr, data):
        """Write ``data`` to the memory from byte address ``addr``."""
        data = bytes(data)
        for i in range(0, len(data), self.max_data):
            self._expect(Cmd.WRITE, write_request(addr + i, data[i:i + self.max_data]), 0)

    def read(self, addr, length):
        """Return ``length`` bytes of the memory from byte address ``addr``."""
        out = bytearray()
        for i in range(0, length, self.max_data):
            n = min(self.max_data, length - i)
            out += self._expect(Cmd.READ, read_request(addr + i, n), n)
        return bytes(out)

    def run(self, entry):
        """Start a run at ``entry``."""
        self._expect(Cmd.RUN, run_request(entry), 0)

    def status(self):
        """Return the :class:`Status` of the machine."""
        r = self._expect(Cmd.STATUS, status_request(), 6)
        return Status(State(r[0]), r[1], int.from_bytes(r[2:6], "little"))

    def info(self):
        """Return the link's ident (an integer; a machine's ``ArrayConfig.ident``)."""
        return int.from_bytes(self._expect(Cmd.INFO, info_request(), IDENT_BYTES), "little")

    def _expect(self, cmd, payload, length):
        result = self._request(cmd, payload)
        if len(result) != length:
            raise HostLinkError(f"{cmd.name} answered {len(result)} bytes, not {length}")
        return result


def describe_ident(ident):
    """A machine's ident (``ArrayConfig.ident``) in words: its array and the CRC of its
    configuration."""
    return (f"a {ident & 0xFF} x {ident >> 8 & 0xFF} array of configuration CRC "
            f"{ident >> 16:#010x}")


def model_transport(model):
    """A ``(send, receive)`` pair talking to a :class:`sw.golden.hostlink.HostLinkModel`."""
    answers = []

    def send(data):
        out = model.feed(data)
        while out:
            end = out.index(0) + 1
            answers.append(out[:end])
            out = out[end:]

    def receive():
        if not answers:
            raise HostLinkError("no answer")
        return answers.pop(0)

    return send, receive
