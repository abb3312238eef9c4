"""The board in simulation (sw/runtime/board.py): the board top's machine and UART
(:class:`fpga.board.HostBoard`, as ``make bitstream FPGA_TOP=board`` builds it: the ulx3s
cores in the 1 x 2 array, :func:`fpga.board.board_config`) under Verilator, reached
only over its serial pins by a UART model at the line's rate (3 Mbaud at the board's
50 MHz: 50/3 clocks a bit).

A network of the digits network's shape, compiled for the board's array, is written, run
and read back through the runtime's ``board`` backend, bit-exact against the reference
and the golden array, every run's cycles the framebuffer model's prediction; the line
works with the host's clock 2% fast or slow and random idle gaps between bytes; a break
and a framing error light their LEDs (and the error LED), a failed run the error LED, a
good one the done LED; the reset button clears them; every bad argument is rejected.

The harness library is built once (about two minutes; reused from
``build/runtime/board_ulx3s_1x2_3000000`` when nothing changed). Loading the model image
(18 KB) takes about a minute of simulation: the line carries 300 kilobytes a second.
"""

import time
from fractions import Fraction

import numpy as np
import pytest

from fpga.board import DEFAULT_BAUD, LEDS, HostBoard, board_config
from fpga.ulx3s import image_line_bytes
from rtl.spec.config import get_config
from rtl.spec.framebuffer import FbError
from sw.compiler_stub.array import compile_array, machine_image
from sw.compiler_stub.net import compile_network
from sw.compiler_stub.network import run_reference
from sw.golden.hostlink import State
from sw.runtime.__main__ import main
from sw.runtime.board import CLOCK_HZ, VerilatedBoard
from sw.runtime.hostlink import HostLinkClient
from sw.runtime.runtime import Runtime

from ..net.nets import digits_like

CONFIG = board_config()     # the bitstream's: the ulx3s cores in 1 x 2
IDLE, RUNNING, DONE, ERROR, FRAMING, OVERRUN, BREAK, HEARTBEAT = (1 << i for i in range(8))
STATUS_LEDS = 0x7F   # all but the heartbeat


def client(board):
    return HostLinkClient(*board.transport(), max_data=board.max_data)


def test_digits_on_the_board(seed):
    """The digits-shaped network (int8 input, int4 and int2 layers) on the board over
    its serial line: the model image written and loaded, three images written, run and
    read: the logits equal the reference's and the golden array's, every run's cycles
    the prediction; the LEDs then show idle and done."""
    rng = np.random.default_rng([seed, 0xB0A4D])
    print(f"seed {seed}")
    net = digits_like(rng, (8, 4, 2, 4))
    compiled = compile_array(CONFIG, net)
    image = machine_image(compiled)
    start = time.perf_counter()
    with Runtime(compiled, "board") as rt, Runtime(compiled, "golden") as gold:
        board = rt._array.machine
        assert rt._array.load_cycles == image.load_cycles
        loaded = board.clocks
        print(f"model image of {len(image.data)} bytes written and loaded in {loaded} "
              f"clocks ({time.perf_counter() - start:.1f} s)")
        for n in range(3):
            x = rng.integers(0, 256, (8, 8, 1))
            out = rt.infer(x)
            assert rt.cycles == image.infer_cycles, (n, rt.cycles, image.infer_cycles)
            np.testing.assert_array_equal(out, run_reference(net, x)["logits"])
            np.testing.assert_array_equal(out, gold.infer(x))
        per_image = (board.clocks - loaded) / 3
        print(f"an image in {per_image:.0f} clocks over the line, {rt.cycles} of them "
              f"the run's")
        # make bitstream's fpga.ulx3s.images_per_s counts the line's bytes and the run's
        # cycles one after the other: within 2% of this measured rate
        line, cycles = image_line_bytes(compiled)
        model = 10 * line * float(board.bit_period) + cycles
        assert abs(per_image / model - 1) < 0.02, (per_image, model)
        assert board.leds & STATUS_LEDS == IDLE | DONE, f"LEDs {board.leds:08b}"


@pytest.fixture(scope="module")
def built():
    """The board's library, built (or found) once for the module."""
    with VerilatedBoard():
        pass


@pytest.mark.parametrize("rate_error", [0.02, -0.02])
def test_line_off_rate_with_gaps(built, rate_error, seed):
    """The host's bits 2% short or long and 0 to 40 idle clocks between its bytes: random
    data written at random addresses reads back equal; no UART error."""
    rng = np.random.default_rng([seed, int(rate_error * 100) & 0xFF])
    print(f"seed {seed}")
    with VerilatedBoard(rate_error=rate_error, max_gap=40,
                        seed=int(rng.integers(1, 1 << 62))) as board:
        link = client(board)
        for _ in range(3):
            addr = int(rng.integers(0, CONFIG.framebuffer_bytes - 700))
            data = rng.integers(0, 256, int(rng.integers(1, 700)), np.uint8).tobytes()
            link.write(addr, data)
            assert link.read(addr, len(data)) == data, (seed, addr, len(data))
        assert link.status() == (State.IDLE, 0, 0)
        assert board.leds & STATUS_LEDS == IDLE, f"LEDs {board.leds:08b}"


def send_bits(board, bits):
    """Drive the line with ``bits`` (0 or 1), each a bit time, then idle for a frame."""
    period = board.bit_period
    edges = [round(i * period) for i in range(len(bits) + 1)]
    for bit, a, b in zip(bits, edges, edges[1:], strict=False):
        board.hold(b - a, bit)
    board.hold(round(10 * period), 1)


def test_line_errors_on_the_leds(built):
    """A break (the line low for 12 bit times) lights the break and error LEDs; a frame
    with a stop bit of 0 the framing LED; the link answers on after either; the reset
    clears them."""
    with VerilatedBoard() as board:
        link = client(board)
        board.hold(2)                # the LEDs' register, a cycle after the reset
        assert board.leds & STATUS_LEDS == IDLE
        send_bits(board, [0] * 12)
        assert board.leds & STATUS_LEDS == IDLE | ERROR | BREAK, f"{board.leds:08b}"
        assert link.status() == (State.IDLE, 0, 0)
        board.reset()
        board.hold(2)
        assert board.leds & STATUS_LEDS == IDLE
        send_bits(board, [0] + [1] * 8 + [0])       # 0xFF, its stop bit 0
        assert board.leds & STATUS_LEDS == IDLE | ERROR | FRAMING, f"{board.leds:08b}"
        assert link.status() == (State.IDLE, 0, 0)
        board.reset()
        board.hold(2)
        assert board.leds & STATUS_LEDS == IDLE


def test_runs_on_the_leds(built):
    """A command list that fails (an op not in FbOp) ends in ERROR and lights the error
    LED; an empty list (END) ends DONE and lights done instead."""
    with VerilatedBoard() as board:
        link = client(board)
        word = CONFIG.core.mem_port_bits // 8
        link.write(0, b"\xff" * (2 * word))
        link.run(0)
        while (status := link.status()).state == State.RUNNING:
            pass
        assert (status.state, status.error) == (State.ERROR, FbError.BAD_OP)
        assert board.leds & STATUS_LEDS == IDLE | ERROR, f"{board.leds:08b}"
        link.write(0, bytes(2 * word))               # END
        link.run(0)
        while (status := link.status()).state == State.RUNNING:
            pass
        assert status.state == State.DONE, status
        assert board.leds & STATUS_LEDS == IDLE | DONE, f"{board.leds:08b}"


def test_board_clock():
    """The board is simulated at the clock its bitstream is built for (50 MHz: a bit of
    3 Mbaud is 50/3 clocks), which its PLL makes from the 25 MHz oscillator."""
    from fpga.board import BOARD_CLOCK_HZ
    from fpga.ulx3s import board_design, pll_dividers
    assert CLOCK_HZ == BOARD_CLOCK_HZ == 50_000_000
    board = board_design()
    assert (board.clk_freq, board.bit_period) == (50_000_000, Fraction(50, 3))
    assert pll_dividers(board.clk_freq)["clock_hz"] == 50e6


def test_leds_described():
    assert len(LEDS) == 8 and LEDS[7].startswith("heartbeat")


@pytest.mark.parametrize("kw, error, message", [
    (dict(config="northpole"), ValueError, r"config must be one of"),
    (dict(config=5), TypeError, r"config must be a configuration name"),
    (dict(baud=0), ValueError, r"baud must be in \[1, 6250000\], not 0"),
    (dict(baud=CLOCK_HZ // 7), ValueError, r"baud must be in \[1, 6250000\], not 7142857"),
    (dict(baud=3e6), TypeError, r"baud must be an integer, not 3000000.0"),
    (dict(rate_error=0.05), ValueError, r"rate_error must be a number within the board's "
                                        r"UART's tolerance \(\+-0.0440\), not 0.05"),
    (dict(rate_error=True), ValueError, r"rate_error must be a number"),
    (dict(rate_error="0"), ValueError, r"rate_error must be a number"),
    (dict(max_gap=-1), ValueError, r"max_gap must be in \[0, "),
    (dict(seed=0), ValueError, r"seed must be in \[1, "),
    (dict(max_cycles=0), ValueError, r"max_cycles must be in \[1, "),
])
def test_board_rejects(kw, error, message):
    """Every bad argument, before anything is built."""
    with pytest.raises(error, match=message):
        VerilatedBoard(**kw)


def test_host_board_rejects():
    with pytest.raises(TypeError, match="config must be an ArrayConfig, not 'ulx3s'"):
        HostBoard("ulx3s", 50e6)
    with pytest.raises(ValueError, match="baud 10000000 is too fast for clk_freq"):
        HostBoard(CONFIG, 50e6, 10_000_000)
    for max_data in (0, 497, 256.0, True):
        with pytest.raises(ValueError, match=r"max_data must be an integer from 1 to 496 \(a "
                                             r"request frame must fit the 512-byte receive "
                                             r"queue\), not"):
            HostBoard(CONFIG, 50e6, max_data=max_data)
    HostBoard(CONFIG, 50e6, max_data=496)
    board = HostBoard(CONFIG, 50e6)
    assert (board.baud, board.clk_freq, board.bit_period) == (DEFAULT_BAUD, 50e6, Fraction(50, 3))


def test_runtime_board_rejects(seed):
    """The board backend takes ``baud`` but not the serial port's arguments, and runs
    array-compiled networks only."""
    rng = np.random.default_rng(seed)
    compiled = compile_array(CONFIG, digits_like(rng, (8, 4, 2, 4)))
    for name, value in (("port", "/dev/ttyUSB0"), ("timeout", 1), ("run_timeout", 5)):
        with pytest.raises(ValueError, match=f"{name} is for the fpga backend only, not "
                                             f"'board'"):
            Runtime(compiled, "board", **{name: value})
    with pytest.raises(ValueError, match="baud must be in"):
        Runtime(compiled, "board", baud=0)
    single = compile_network(get_config("sim").core, digits_like(rng))
    with pytest.raises(ValueError, match="the board backend runs a network compiled for "
                                         "an array"):
        Runtime(single, "board")


@pytest.mark.parametrize("args, message", [
    (["--backend", "board", "--port", "/dev/ttyUSB0"], "--port is for --backend fpga only"),
    (["--backend", "board", "--timeout", "2"], "--timeout is for --backend fpga only"),
])
def test_cli_board_rejects(tmp_path, capsys, args, message):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    with pytest.raises(SystemExit) as e:
        main(args + [str(model)])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
