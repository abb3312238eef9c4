"""The board in simulation: the Verilated :class:`fpga.board.HostBoard` (the machine
behind its UART, the component the board's bitstream holds between its PLL and its pins)
inside a C++ harness (``board_harness.cpp``) that is also the far end of the serial line:
a UART model sending the request bytes bit by bit on the board's ``rx`` pin and
receiving the answers from its ``tx`` pin, at the line's rate in the board's clocks.

The host talks to it in host-link frames (docs/architecture.md 10), as to a board on a
serial port: :meth:`VerilatedBoard.transport` gives the ``(send, receive)`` pair of
:class:`sw.runtime.hostlink.HostLinkClient`. The library is built under
``build/runtime/board_<config>_<baud>/`` (:func:`build_board`) from the registry's
``core`` design and the board (module ``board_<config>``, its cores instances of that
module), and reused while neither their sources nor the harness change
(:mod:`sw.runtime.libbuild`).
"""

import ctypes
import hashlib
from fractions import Fraction
from pathlib import Path

from fpga.board import BOARD_CLOCK_HZ
from rtl.designs import DESIGNS, module_name

from .libbuild import ROOT, cached_verilog, compile_library, integer, load, locked, sources_key
from .machine import MAX_DATA, FrameHarness, _check_config, _wrapper
from .verilated import RtlError, RtlTimeout

__all__ = ["VerilatedBoard", "RtlError", "RtlTimeout", "RtlLineError", "build_board",
           "CLOCK_HZ"]

HARNESS = Path(__file__).resolve().with_name("board_harness.cpp")
BOARD_SOURCE = ROOT / "fpga" / "board.py"

#: The board's clock in simulation: the bitstream's (fpga.board.BOARD_CLOCK_HZ, 50 MHz).
CLOCK_HZ = BOARD_CLOCK_HZ

_VERILATOR_FLAGS = ["-O3", "-Wno-fatal", "-Wno-lint", "-Wno-style"]
_MAKE_FLAGS      = ["OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1",
                    "CFG_CXXFLAGS_PCH_I=-include"]
_CFLAGS          = ["-fPIC", "-fvisibility=hidden"]

_TIMEOUT, _OVERFLOW, _ARGUMENT = -1, -2, -3
_U64 = 1 << 64


class RtlLineError(RtlError):
    """The host's end of the serial line received a byte with a stop bit of 0, or a start
    bit that did not last."""


def _check_baud(baud):
    from rtl.top.uart import MIN_BIT_CLOCKS
    baud = integer("baud", baud, 1, CLOCK_HZ // MIN_BIT_CLOCKS)
    return baud


def _board_config(config):
    """The :class:`ArrayConfig` of ``config``: None for the board's own design
    (:func:`fpga.board.board_config`: the ``ulx3s`` cores in 1 x 2), else as
    :class:`sw.runtime.machine.VerilatedMachine`'s."""
    from fpga.board import board_config
    return _check_config(board_config() if config is None else config)


def build_board(config=None, baud=None, build_dir=None):
    """Build (or find) the harness library of the board of configuration ``config``
    (:class:`VerilatedBoard`'s) at ``baud`` (default :data:`fpga.board.DEFAULT_BAUD`) and
    :data:`CLOCK_HZ`; return its path. ``build_dir`` defaults to
    ``build/runtime/board_<config>_<baud>``."""
    from fpga.board import DEFAULT_BAUD
    cfg = _board_config(config)
    baud = _check_baud(DEFAULT_BAUD if baud is None else baud)
    directory = Path(build_dir if build_dir is not None else
                     ROOT / "build" / "runtime" / f"board_{cfg.name}_{baud}").resolve()
    core = module_name("core", cfg.name)
    name = f"board_{cfg.name}"
    board_hash = hashlib.sha256(BOARD_SOURCE.read_bytes()).hexdigest()
    with locked(directory):
        core_v = cached_verilog(lambda: DESIGNS["core"].build(cfg), core, directory,
                                sources_key(repr(cfg)))

        def board():
            from fpga.board import HostBoard
            return HostBoard(cfg, CLOCK_HZ, baud, core_module=core, max_data=MAX_DATA)
        board_v = cached_verilog(board, name, directory,
                                 sources_key(f"{name} {cfg!r} {CLOCK_HZ} {baud} "
                                             f"core_module={core} max_data={MAX_DATA} "
                                             f"board={board_hash}"))
        wrapper, top = _wrapper(board_v, name, {"clk", "rst", "rx", "tx", "out"}, "board",
                                "sw/runtime/board.py")
        return compile_library(directory, name, sources=[wrapper, board_v, core_v],
                               top=top, prefix="Vboard", harness=HARNESS,
                               verilator_flags=_VERILATOR_FLAGS, make_flags=_MAKE_FLAGS,
                               cflags=_CFLAGS, what="the board harness")


_SIGNATURES = {
    "board_create":     (ctypes.c_void_p, []),
    "board_destroy":    (None, [ctypes.c_void_p]),
    "board_reset":      (None, [ctypes.c_void_p]),
    "board_line":       (ctypes.c_int64, [ctypes.c_void_p] + [ctypes.c_uint64] * 6),
    "board_transfer":   (ctypes.c_int64, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64,
                                          ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64]),
    "board_hold":       (ctypes.c_int64, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32]),
    "board_clocks":     (ctypes.c_uint64, [ctypes.c_void_p]),
    "board_leds":       (ctypes.c_uint32, [ctypes.c_void_p]),
    "board_framing":    (ctypes.c_uint64, [ctypes.c_void_p]),
    "board_glitches":   (ctypes.c_uint64, [ctypes.c_void_p]),
    "board_last_taken": (ctypes.c_uint64, [ctypes.c_void_p]),
    "board_last_out":   (ctypes.c_uint64, [ctypes.c_void_p]),
}


class VerilatedBoard(FrameHarness):
    """The board (:class:`fpga.board.HostBoard` of configuration ``config`` at ``baud``
    and :data:`CLOCK_HZ`) and the host's end of its serial line, clocked in C++.

    The framebuffer and the cores' MEMs start as zeros. Talk to it with
    :class:`sw.runtime.hostlink.HostLinkClient` over :meth:`transport`, or frame by frame
    with :meth:`transfer` (:class:`sw.runtime.machine.FrameHarness`'s; a byte the host's
    end receives with a stop bit of 0 raises :class:`RtlLineError`). Not thread-safe.

    Parameters
    ----------
    config : str or ArrayConfig or None
        As :class:`sw.runtime.machine.VerilatedMachine`'s; None (the default): the
        board's own design, as ``make bitstream FPGA_TOP=board`` builds it
        (:func:`fpga.board.board_config`: the ``ulx3s`` cores in 1 x 2).
    baud : int or None
        The line's rate (default :data:`fpga.board.DEFAULT_BAUD`); a bit must last at
        least 8 clocks of :data:`CLOCK_HZ`.
    rate_error : float
        The host's bit rate relative to ``baud``, less 1 (0.02: the host's bits 2% short),
        within the board's UART's tolerance (its ``tolerance``).
    max_gap : int
        The host idles a pseudo-random 0 to ``max_gap`` clocks between two bytes it sends.
    seed : int
        The gaps' generator's seed (positive).
    build_dir : path-like or None
        Where the library is built (:func:`build_board`).
    max_cycles : int or None
        The most cycles the answer to one frame may take by default; None: 1,000,000
        plus 20 bit times a byte of the frame.
    """

    def __init__(self, config=None, baud=None, *, rate_error=0.0, max_gap=0, seed=1,
                 build_dir=None, max_cycles=None):
        from fpga.board import DEFAULT_BAUD
        from rtl.top.uart import bit_timing, tolerance
        cfg = _board_config(config)
        baud = _check_baud(DEFAULT_BAUD if baud is None else baud)
        _, period = bit_timing(CLOCK_HZ, baud)
        if isinstance(rate_error, bool) or not isinstance(rate_error, (int, float)) or \
                not abs(rate_error) <= tolerance(period):
            raise ValueError(f"rate_error must be a number within the board's UART's "
                             f"tolerance (+-{tolerance(period):.4f}), not {rate_error!r}")
        max_gap = integer("max_gap", max_gap, 0, _U64 - 1)
        seed = integer("seed", seed, 1, _U64 - 1)
        if max_cycles is not None:
            max_cycles = integer("max_cycles", max_cycles, 1, _U64 - 1)
        self.config, self.baud, self.max_data = cfg.name, baud, MAX_DATA
        self.fb_bytes = cfg.framebuffer_bytes
        self.bit_period = period
        self.max_cycles = max_cycles
        # the host's bit: the board's, 1 + rate_error times faster
        host = (Fraction(CLOCK_HZ, baud) / (1 + Fraction(rate_error))).limit_denominator(1 << 20)
        self.library = build_board(cfg, baud, build_dir)
        self._lib = load(self.library, _SIGNATURES)
        self._board = self._lib.board_create()
        if not self._board:
            raise MemoryError("the board model could not be created")
        if self._lib.board_line(self._board, host.numerator, host.denominator,
                                host.numerator, host.denominator, max_gap, seed):
            raise RtlError("the board harness refused the line's timing")
        self._pending = bytearray()
        self._answers = []
        self._buffer = ctypes.create_string_buffer(1 << 16)

    def _handle(self):
        if self._board is None:
            raise ValueError("the board is closed")
        return self._board

    def reset(self):
        """Press the reset (``rst`` for three cycles); the line goes idle, requests sent and
        answers not yet received are dropped; the memories keep their contents."""
        self._lib.board_reset(self._handle())
        self._pending.clear()
        self._answers.clear()

    def _transfer(self, handle, data, max_cycles):
        from .machine import RtlOverflow
        if max_cycles is None:
            max_cycles = 1_000_000 + int(20 * self.bit_period) * 10 * len(data)
        buf = self._answer_buffer(len(data))
        framing = self._lib.board_framing(handle) + self._lib.board_glitches(handle)
        n = self._lib.board_transfer(handle, data, len(data), buf, len(buf), max_cycles)
        if n == _TIMEOUT:
            taken, got = self._lib.board_last_taken(handle), self._lib.board_last_out(handle)
            raise RtlTimeout(f"no whole answer frame after {max_cycles} cycles (the line "
                             f"carried {taken} of {len(data)} bytes; {got} bytes came back: "
                             f"{buf.raw[:min(got, 32)].hex()}{'...' if got > 32 else ''}; "
                             f"LEDs {self.leds:08b}); reset() it", max_cycles)
        if n == _OVERFLOW:
            raise RtlOverflow(f"the answer outgrew the {len(buf)}-byte buffer; reset() it")
        if n < 0:
            raise RtlError(f"board harness error {n}")
        if self._lib.board_framing(handle) + self._lib.board_glitches(handle) != framing:
            raise RtlLineError("the host received a byte with a stop bit of 0 or a start "
                               "bit that did not last: the board's transmitter is off")
        return buf.raw[:n]

    def hold(self, cycles, level=1):
        """Hold the board's ``rx`` at ``level`` (1: idle; 0: a break) for ``cycles``
        cycles; return the bytes received meanwhile (dropped)."""
        cycles = integer("cycles", cycles, 0, _U64 - 1)
        level = integer("level", level, 0, 1)
        return self._lib.board_hold(self._handle(), cycles, level)

    @property
    def clocks(self):
        """Rising edges of the clock since the model was created."""
        return self._lib.board_clocks(self._handle())

    @property
    def leds(self):
        """The eight LEDs (bit ``i`` LED ``i``; :data:`fpga.board.LEDS`)."""
        return self._lib.board_leds(self._handle())

    def close(self):
        """Free the model; calling it again does nothing."""
        if self._board is not None:
            self._lib.board_destroy(self._board)
            self._board = None

    def __del__(self):
        if getattr(self, "_board", None) is not None:
            self.close()

