"""The UART (``rtl/top/uart.py``) under Verilator, and the serial line model its tests and
a board-level test use: :class:`UartDriver` and :class:`UartMonitor` (:mod:`tb.uart.line`),
re-exported here so that ``from tb.uart import UartDriver`` works."""

from .line import UartDriver, UartMonitor, clock_period, frame_bits

__all__ = ["UartDriver", "UartMonitor", "clock_period", "frame_bits"]
