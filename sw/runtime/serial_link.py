"""The host link over a serial port (pyserial): the transport of the runtime's ``fpga``
backend, a board running the machine (:class:`rtl.top.machine.Machine`) behind its UART
(:mod:`rtl.top.uart`, 8N1; docs/architecture.md 10).

:class:`SerialLink` opens a port by name (``/dev/ttyUSB0``, ``COM3``) or any pyserial URL
(``socket://host:port``, ``rfc2217://...``) at a given baud, 8N1, no flow control, locked
for this process alone (``exclusive``, POSIX), and gives the ``(send, receive)`` pair of
:class:`sw.runtime.hostlink.HostLinkClient` (:meth:`SerialLink.transport`):

- ``send(data)`` writes a request frame; the first after opening, or after an answer that
  timed out, is sent after a ``0x00`` (which ends whatever the board's link holds, with
  no answer) and after dropping the bytes already received (a late answer);
- ``receive()`` returns the next answer frame, its bytes up to and including its ``0x00``
  (empty frames, a ``0x00`` alone, are skipped). It waits at most ``timeout`` seconds
  for the whole frame, then raises :class:`SerialTimeout` naming the port: a host link
  answers every non-empty frame, so no answer means no board (or another baud, or
  another design) on that port.

Every error names the port: :class:`SerialLinkError` (a port that cannot be opened, a
line that fails) and :class:`SerialTimeout`, both :class:`sw.runtime.hostlink.HostLinkError`.
"""

import math
import time

from .hostlink import HostLinkError

__all__ = ["SerialLink", "SerialLinkError", "SerialTimeout", "MAX_BAUD", "check_seconds"]

#: The fastest rate taken: 3 Mbaud, an FTDI USB serial chip's top rate (the ULX3S's
#: serial port) and the UART's at 50 MHz (docs/architecture.md 10).
MAX_BAUD = 3_000_000

# The longest a read blocks at once: receive() checks its deadline at least this often.
_POLL = 0.05


class SerialLinkError(HostLinkError):
    """A serial port that cannot be opened or fails (the message names the port)."""


class SerialTimeout(SerialLinkError):
    """No whole answer frame within the timeout (the message names the port)."""


def check_seconds(name, value):
    """``value`` if it is a positive, finite number of seconds (int or float, not bool),
    else :class:`TypeError` or :class:`ValueError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds (int or float), not "
                        f"{value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive, finite number of seconds, not "
                         f"{value!r}")
    return value


def _check_port(port):
    if not isinstance(port, str):
        raise TypeError(f"port must be a serial port's name or a pyserial URL (str), not "
                        f"{port!r} ({type(port).__name__})")
    if not port.strip():
        raise ValueError(f"port must be a serial port's name or a pyserial URL, not "
                         f"{port!r}")
    return port


def _check_baud(baud):
    if isinstance(baud, bool) or not isinstance(baud, int):
        raise TypeError(f"baud must be an int, not {baud!r} ({type(baud).__name__})")
    if not 1 <= baud <= MAX_BAUD:
        raise ValueError(f"baud must be from 1 to {MAX_BAUD:,}, not {baud!r}")
    return baud


class SerialLink:
    """A serial port carrying host-link frames (see the module's docstring).

    Parameters
    ----------
    port : str
        A port's name (``/dev/ttyUSB0``) or a pyserial URL.
    baud : int
        1 to :data:`MAX_BAUD` (the board's UART's rate).
    timeout : int or float
        Seconds for an answer frame to arrive whole after :meth:`receive` is called (and
        for a write to drain): positive and finite.

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong type or out of range (the message names it).
    SerialLinkError
        The port cannot be opened (the message names it and says why).
    """

    def __init__(self, port, baud, *, timeout=1.0):
        try:
            import serial
        except ImportError as e:
            raise ImportError("the serial link needs pyserial (requirements.txt: make "
                              "setup)") from e
        self.port = _check_port(port)
        self.baud = _check_baud(baud)
        self.timeout = check_seconds("timeout", timeout)
        self._serial = None
        try:
            self._serial = serial.serial_for_url(
                port, baudrate=baud, bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE, xonxoff=False, rtscts=False, dsrdtr=False,
                timeout=min(self.timeout, _POLL), write_timeout=self.timeout,
                exclusive=True)
        except (serial.SerialException, OSError, ValueError) as e:
            raise SerialLinkError(f"cannot open serial port {port!r} at {baud} baud: "
                                  f"{e}") from e
        self._buffer = bytearray()   # bytes received, not yet returned
        self._resync = True          # the next send starts with a 0x00, input dropped

    def _port(self):
        if self._serial is None:
            raise SerialLinkError(f"serial port {self.port!r} is closed")
        return self._serial

    def send(self, data):
        """Write ``data`` (bytes-like: a request frame)."""
        import serial
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, bytearray or memoryview, not "
                            f"{type(data).__name__}")
        port = self._port()
        data = bytes(data)
        try:
            if self._resync:
                port.reset_input_buffer()
                self._buffer.clear()
                data = b"\x00" + data
                self._resync = False
            port.write(data)
        except serial.SerialTimeoutException as e:
            self._resync = True
            raise SerialTimeout(f"serial port {self.port!r}: {len(data)} bytes not written "
                                f"within {self.timeout} s (timeout)") from e
        except (serial.SerialException, OSError) as e:
            self._resync = True
            raise SerialLinkError(f"serial port {self.port!r}: write failed: {e}") from e

    def receive(self):
        """The next answer frame (its bytes and its ``0x00``), waiting at most ``timeout``
        seconds for it."""
        import serial
        port = self._port()
        deadline = time.monotonic() + self.timeout
        while True:
            while self._buffer[:1] == b"\x00":   # empty frames: no answer's
                del self._buffer[0]
            end = self._buffer.find(0)
            if end >= 0:
                frame = bytes(self._buffer[:end + 1])
                del self._buffer[:end + 1]
                return frame
            if time.monotonic() >= deadline:
                self._resync = True
                got = bytes(self._buffer)
                raise SerialTimeout(
                    f"no answer from serial port {self.port!r} within {self.timeout} s "
                    f"({len(got)} bytes of a frame received"
                    f"{': ' + got[:16].hex() + ('...' if len(got) > 16 else '') if got else ''}"
                    f"); is the board programmed with the machine, its UART at "
                    f"{self.baud} baud?")
            try:
                self._buffer += port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as e:
                self._resync = True
                raise SerialLinkError(f"serial port {self.port!r}: read failed: {e}") from e

    def transport(self):
        """The ``(send, receive)`` pair of :class:`sw.runtime.hostlink.HostLinkClient`."""
        return self.send, self.receive

    def close(self):
        """Close the port (again: nothing)."""
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_serial", None) is not None:
            self.close()
