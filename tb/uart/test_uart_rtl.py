"""pytest entry of the UART under Verilator: one build per (clk_freq, baud) setting, its
cocotb tests (:mod:`tb.uart.uart_tests`) run against the line model of :mod:`tb.uart.line`;
and Verilator's lint of the generated Verilog."""

import pytest

from rtl.top.uart import UART

from ..hdl import Design, generate, lint

#: Design name: (clk_freq, baud): the board's core clock at the FTDI's fastest rate (16.67
#: clocks a bit), and its oscillator at the usual 115200 (217.01 clocks a bit).
SETTINGS = {"uart_50m_3m": (50_000_000, 3_000_000),
            "uart_25m_115200": (25_000_000, 115_200)}


def _factory(clk_freq, baud):
    return lambda: UART(clk_freq, baud)


_designs = {name: Design(name, _factory(clk_freq, baud),
                         env={"UART_CLK_FREQ": str(clk_freq), "UART_BAUD": str(baud)})
            for name, (clk_freq, baud) in SETTINGS.items()}


@pytest.mark.parametrize("name", SETTINGS)
@pytest.mark.parametrize("test", ["test_duplex", "test_errors"])
def test_uart(name, test, seed):
    print(f"seed {seed} (rerun with --seed {seed} or SEED={seed})")
    _designs[name].run("tb.uart.uart_tests", test, seed=seed)


@pytest.mark.parametrize("name", SETTINGS)
def test_lint(name):
    """Verilator's lint (``-Wall``, the project's waivers) passes on the Verilog."""
    lint(generate(_factory(*SETTINGS[name]), name))
