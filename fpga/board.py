"""The machine behind a serial line: what a board's top holds between its clock, reset and
pins (:class:`fpga.ulx3s.BoardTop`), and what the board's simulation runs
(:mod:`sw.runtime.board`): the very same component, so that the UART path proven under
Verilator is the one built into the bitstream.
"""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from rtl.spec.config import ArrayConfig
from rtl.top.machine import Machine
from rtl.top.uart import UART, bit_timing

__all__ = ["DEFAULT_BAUD", "RX_FIFO_DEPTH", "HEARTBEAT_BITS", "LEDS", "BOARD_ARRAY",
           "BOARD_CLOCK_HZ", "board_config", "HostBoard"]

#: The serial line's default rate: the most the ULX3S's FT231X takes (3 Mbaud).
DEFAULT_BAUD = 3_000_000

#: Bytes the receive queue holds: more than the largest request frame (a WRITE of
#: ``max_data`` = 256 bytes, its header and COBS code bytes), so that no byte is lost
#: while the host link is busy with a frame (the line has no flow control).
RX_FIFO_DEPTH = 512

#: The array a configuration's board is built with when none is given: the largest that
#: fits the ULX3S 85F (``(rows, cols)``; a configuration not listed keeps its own). The
#: ``ulx3s`` configuration's own 2 x 2 needs about 4 x 29,100 logic cells of the 83,640
#: and never places; its 1 x 2 takes about 65,000 (78%) and routes (docs/fpga.md).
BOARD_ARRAY = {"ulx3s": (1, 2)}


def board_config(config="ulx3s", array=None):
    """The :class:`ArrayConfig` of a board of configuration ``config`` (a name or an
    :class:`ArrayConfig`): its cores in the array ``array`` = ``(rows, cols)`` if given,
    else in :data:`BOARD_ARRAY`'s for its name, else its own (named
    ``<name>_<rows>x<cols>`` when resized, as :meth:`ArrayConfig.resized`)."""
    from rtl.spec.config import CONFIGS, get_config
    if isinstance(config, ArrayConfig):
        cfg = config
    elif isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError(f"config must be one of {sorted(CONFIGS)}, not {config!r}")
        cfg = get_config(config)
    else:
        raise TypeError(f"config must be a configuration name (str) or an ArrayConfig, not "
                        f"{config!r}")
    if array is None:
        array = BOARD_ARRAY.get(cfg.name, (cfg.rows, cfg.cols))
    if not (isinstance(array, tuple) and len(array) == 2):
        raise TypeError(f"array must be a (rows, cols) tuple, not {array!r}")
    return cfg.resized(*array)


#: The clock the board's design is built for (its PLL: 25 MHz / 1 x 2) and simulated at:
#: the 1 x 2 ``ulx3s`` board meets it, 54.0 MHz, with its routers' routes computed before
#: their FIFOs and nextpnr's placer weighted to timing (docs/fpga.md, b13a to b13c); it
#: reached 44.4 to 47.6 MHz before.
BOARD_CLOCK_HZ = 50_000_000

#: The heartbeat LED toggles every ``2**HEARTBEAT_BITS`` cycles (0.34 s at 50 MHz).
HEARTBEAT_BITS = 24

#: What each LED shows, by its index (``HostBoard.out``).
LEDS = (
    "idle: no run in progress",
    "running: a run is in progress",
    "done: the last run ended without error",
    "error: the last run ended with an error, or a UART error (LEDs 4 to 6) was seen",
    "framing: a received byte had no stop bit",
    "overrun: a received byte was lost (the receive queue was full)",
    "break: the receive line was held low for a whole frame",
    "heartbeat: the clock runs",
)


class HostBoard(wiring.Component):
    """A :class:`rtl.top.machine.Machine` behind a :class:`rtl.top.uart.UART` (8N1), with
    status for eight LEDs.

    Received bytes pass a :data:`RX_FIFO_DEPTH`-byte queue (one block RAM) and a
    two-byte queue in registers (so that the link's frame checks start from registers,
    not from the block RAM's read data) into the host link's ``rx``; its ``tx`` bytes go
    straight to the UART's transmitter (the link waits for it). The UART's error flags
    are sticky until reset. The LEDs (``out``, registered) are described by
    :data:`LEDS`: idle, running, done, error, the three UART errors and a heartbeat.

    Latency and throughput: the UART's (``baud / 10`` bytes a second each way) and the
    machine's.

    Parameters
    ----------
    config : ArrayConfig
        The machine's configuration.
    clk_freq : int or float
        The clock's frequency in Hz (the UART's bit timer).
    baud : int or float
        The serial line's bit rate (default :data:`DEFAULT_BAUD`).
    core_module : str or None
        Passed to :class:`Machine` (cores as instances of a module of that name).
    max_data : int
        The host link's largest READ/WRITE (:class:`Machine`'s).

    Members
    -------
    rx : In(1)
        The serial line from the host (idle high).
    tx : Out(1)
        The serial line to the host (idle high).
    out : Out(8)
        The LEDs.

    Raises
    ------
    TypeError
        If ``config`` is not an :class:`ArrayConfig`.
    ValueError
        If the UART rejects ``clk_freq`` and ``baud``, or a request frame of ``max_data``
        bytes would not fit the receive queue.
    """

    def __init__(self, config, clk_freq, baud=DEFAULT_BAUD, *, core_module=None,
                 max_data=256):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, not {config!r}")
        # A frame: a WRITE's 5-byte header, max_data bytes and a 4-byte CRC, COBS-coded (a
        # code byte every 254) and its delimiter, all in the receive queue at once.
        if isinstance(max_data, bool) or not isinstance(max_data, int) or \
                not 1 <= max_data <= RX_FIFO_DEPTH - 16:
            raise ValueError(f"max_data must be an integer from 1 to {RX_FIFO_DEPTH - 16} "
                             f"(a request frame must fit the {RX_FIFO_DEPTH}-byte receive "
                             f"queue), not {max_data!r}")
        self._config = config
        _, self._bit_period = bit_timing(clk_freq, baud)   # checks clk_freq and baud
        self._clk_freq, self._baud = clk_freq, baud
        self._core_module, self._max_data = core_module, max_data
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "out": Out(len(LEDS))})

    @property
    def config(self):
        return self._config

    @property
    def clk_freq(self):
        return self._clk_freq

    @property
    def baud(self):
        return self._baud

    @property
    def bit_period(self):
        """Clocks a bit lasts in the UART's bit timer (a :class:`fractions.Fraction`)."""
        return self._bit_period

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart = uart = UART(self._clk_freq, self._baud)
        m.submodules.rx_fifo = fifo = SyncFIFOBuffered(width=8, depth=RX_FIFO_DEPTH)
        m.submodules.machine = machine = Machine(self._config, core_module=self._core_module,
                                                 max_data=self._max_data)
        m.d.comb += [uart.rx_pin.eq(self.rx), self.tx.eq(uart.tx_pin)]
        wiring.connect(m, uart=uart.o, fifo=fifo.w_stream)
        m.submodules.rx_reg = rx_reg = SyncFIFO(width=8, depth=2)
        wiring.connect(m, fifo=fifo.r_stream, rx_reg=rx_reg.w_stream)
        wiring.connect(m, rx_reg=rx_reg.r_stream, machine=machine.rx)
        wiring.connect(m, machine=machine.tx, uart=uart.i)

        was_busy, done, heartbeat = Signal(), Signal(), Signal(HEARTBEAT_BITS)
        m.d.sync += [was_busy.eq(machine.busy), heartbeat.eq(heartbeat + 1)]
        with m.If(machine.busy & ~was_busy):
            m.d.sync += done.eq(0)
        with m.Elif(was_busy & ~machine.busy):
            m.d.sync += done.eq(machine.error == 0)
        uart_error = uart.framing | uart.overrun | uart.line_break
        run_error = ~machine.busy & (machine.error != 0)
        m.d.sync += self.out.eq(Cat(~machine.busy, machine.busy, done, run_error | uart_error,
                                    uart.framing, uart.overrun, uart.line_break,
                                    heartbeat[-1]))
        return m
