"""The host link's codes (docs/architecture.md, 10): defined once here, imported by the RTL
(``rtl/top/hostlink.py``), the golden model (``sw/golden/hostlink.py``) and the host's
client (``sw/runtime/hostlink.py``). Amaranth enums with explicit shapes, plain integers to
Python code."""

from amaranth.lib import enum

__all__ = ["Cmd", "Nak", "State", "ACK", "NAK", "HEADER", "TRAILER", "IDENT_BYTES"]


class Cmd(enum.IntEnum, shape=8):
    """A request's first payload byte."""
    WRITE  = 0x01   # addr u32, data bytes (1 .. max_data)
    READ   = 0x02   # addr u32, length u16 (1 .. max_data)
    RUN    = 0x03   # entry u32
    STATUS = 0x04   # no arguments
    INFO   = 0x05   # no arguments: the link's ident (IDENT_BYTES, the machine's identity)


class Nak(enum.IntEnum, shape=8):
    """The error code of a NAK (second payload byte)."""
    FRAMING   = 0x01  # the delimiter came inside a COBS block
    OVERSIZE  = 0x02  # more than max_frame decoded bytes
    TRUNCATED = 0x03  # fewer than 5 decoded bytes, or fewer than the command's arguments
    BAD_CRC   = 0x04
    UNKNOWN   = 0x05  # unknown command byte
    LENGTH    = 0x06  # arguments longer than the command's; READ length 0 or > max_data;
                      # WRITE data > max_data (within max_frame only if max_data is 1)
    BUSY      = 0x07  # RUN, READ or WRITE while a run is in progress (STATUS and INFO
                      # are always answered)
    ADDRESS   = 0x08  # address + length beyond the memory


class State(enum.IntEnum, shape=8):
    """The run state in a STATUS answer."""
    IDLE    = 0   # no run since reset
    RUNNING = 1
    DONE    = 2   # the last run ended with error 0
    ERROR   = 3   # the last run ended with an error code


ACK = 0x06      # first byte of an answer: ACK, cmd, results...
NAK = 0x15      # NAK, code
HEADER = 5      # cmd + u32: the longest header (WRITE's)
TRAILER = 4     # the CRC-32
IDENT_BYTES = 6 # an INFO answer's ident, little-endian (ArrayConfig.ident for a machine)
