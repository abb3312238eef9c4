"""The runtime's ``fpga`` backend (sw/runtime/runtime.py) and its serial transport
(sw/runtime/serial_link.py) for real, through a pseudo-terminal pair: the runtime opens
the slave by name as its ``port``; on the master side a thread (:class:`GoldenBoard`)
runs the golden machine (:class:`GoldenMachine`: the host link's model,
:class:`sw.golden.hostlink.HostLinkModel`, on the framebuffer's model,
:class:`sw.golden.framebuffer.FramebufferModel`, and its golden array), fed byte by
byte, its answers written back in random pieces. A network
compiled for the array gives, through it, the golden backend's outputs bit for bit and
the machine's cycles; every argument's rejection, a port that cannot be opened, a board
that never answers (raised within the timeout, naming the port), a run that fails or
never ends; the rtl backend's share of the code over a stand-in for the Verilated
machine; the command line (``python -m sw.runtime``) and its argument errors.

No Verilator build (the tests that could reach one replace it with a stand-in or a
failure): the whole file takes about 25 s.
"""

import math
import os
import select
import threading
import time
import tty

import numpy as np
import pytest

from rtl.spec.config import get_config
from rtl.spec.framebuffer import FbError
from sw.compiler_stub.array import compile_array, machine_image
from sw.compiler_stub.net import compile_network
from sw.golden.framebuffer import FramebufferModel
from sw.golden.hostlink import (ACK, Cmd, HostLinkModel, State, build_frame, parse_frame,
                                status_request)
from sw.runtime.__main__ import main
from sw.runtime.hostlink import HostLinkClient, model_transport
from sw.runtime.machine import MAX_DATA
from sw.runtime.runtime import Runtime
from sw.runtime.serial_link import SerialLink, SerialLinkError, SerialTimeout

from ..net.nets import digits_like

CONFIG = get_config("sim")
WORD = CONFIG.core.mem_port_bits // 8
BAUD = 3_000_000


class GoldenMachine:
    """The machine's golden models at the frame level: the host link's
    (:class:`HostLinkModel`) on the framebuffer's (:class:`FramebufferModel`: one memory)
    and its golden array, fed byte by byte (:meth:`feed`). A RUN the link acknowledges
    is run on the framebuffer's model once its answer is out, at the next frame's
    delimiter; the link answers STATUS "running" ``hold`` times before the run ends
    (never, if ``hold`` is None) with the model's cycles and error (or ``error``, if
    set). ``running`` starts it in a run left over from an earlier session, over after
    as many STATUS. ``statuses``: the state of every STATUS answered."""

    def __init__(self, hold=2, running=None):
        self.link = HostLinkModel(WORD, CONFIG.framebuffer_bytes, MAX_DATA, ident=CONFIG.ident)
        self.fb = FramebufferModel(CONFIG)
        self.fb.mem = self.link.mem          # one memory: the link's and the engine's
        self.hold, self.error, self.statuses = hold, None, []
        self._polls = self._entry = None
        if running is not None:
            self.link.started = self.link.running = True
            self._polls = running

    def feed(self, data):
        """The answer bytes to ``data``."""
        link, out = self.link, bytearray()
        for byte in bytes(data):
            if byte == 0 and link.running and self._polls == 0:   # the run ends
                cycles, error = (1, 0) if self._entry is None else self.fb.run(self._entry)
                link.finish_run(cycles, error if self.error is None else int(self.error))
                self._polls = self._entry = None
            was_running = link.running
            answer = link.feed(bytes([byte]))
            if answer:
                payload = parse_frame(answer)
                if payload[:2] == bytes([ACK, Cmd.STATUS]):
                    self.statuses.append(State(payload[2]))
                    if was_running and self._polls:
                        self._polls -= 1
                if link.running and not was_running:              # a RUN acknowledged
                    self._entry, self._polls = link.entries[-1], self.hold
            out += answer
        return bytes(out)


class GoldenBoard:
    """A :class:`GoldenMachine` (``machine``) behind the master side of a pseudo-terminal
    (the slave's name: ``port``), in a thread: the bytes read there fed to it one at a
    time, each answer written back in random pieces (1 to 40 bytes, now and then after a
    short pause); ``received``, every byte read. :meth:`stop` re-raises an error of the
    thread."""

    def __init__(self, rng, **kw):
        self.rng, self.machine, self.received = rng, GoldenMachine(**kw), bytearray()
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop, self._failure = threading.Event(), None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        try:
            while not self._stop.is_set():
                if not select.select([self.master], [], [], 0.02)[0]:
                    continue
                try:
                    data = os.read(self.master, 4096)
                except OSError:      # the slave closed
                    return
                self.received += data
                for byte in data:
                    self._write(self.machine.feed(bytes([byte])))
        except BaseException as e:   # noqa: BLE001 - handed to stop()
            self._failure = e

    def _write(self, out):
        while out:
            n = int(self.rng.integers(1, 41))
            os.write(self.master, out[:n])
            out = out[n:]
            if self.rng.random() < 0.05:
                time.sleep(0.001)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self._slave)
        if self._failure is not None:
            raise self._failure


@pytest.fixture
def board(seed):
    boards = []

    def make(**kw):
        boards.append(GoldenBoard(np.random.default_rng([seed, len(boards)]), **kw))
        return boards[-1]
    yield make
    for b in boards:
        b.stop()


@pytest.fixture(scope="module")
def compiled(seed):
    """What tb/runtime/test_machine.py runs on the Verilated machine: a digits-shaped
    network (random weights from the seed) compiled for the sim 2 x 2 array."""
    net = digits_like(np.random.default_rng([seed, 0xF96A]))
    return compile_array(CONFIG, net)


def read_exactly(fd, n, timeout=2.0):
    """``n`` bytes from ``fd`` (a pty delivers a write in pieces), or fewer at the
    timeout."""
    out, deadline = b"", time.monotonic() + timeout
    while len(out) < n and select.select([fd], [], [], max(0, deadline - time.monotonic()))[0]:
        out += os.read(fd, n - len(out))
    return out


@pytest.fixture
def silent():
    """A pseudo-terminal whose master side is never read or written: ``(port, master)``."""
    master, slave = os.openpty()
    tty.setraw(slave)
    yield os.ttyname(slave), master
    os.close(master)
    os.close(slave)


def test_fpga_backend_equals_golden(compiled, board, seed):
    """The image written and loaded through the pty (after waiting out a run left over on
    the board), then three images: written, run (STATUS polled through "running") and
    read, equal to the golden backend's outputs bit for bit, with the machine's
    predicted cycles, as the rtl backend's."""
    rng = np.random.default_rng([seed, 1])
    print(f"seed {seed}")
    image = machine_image(compiled)
    b = board(hold=2, running=3)
    with Runtime(compiled, "fpga", port=b.port, baud=BAUD, timeout=10) as rt, \
            Runtime(compiled, "golden") as gold:
        assert b.machine.statuses[:4] == [State.RUNNING] * 3 + [State.DONE]   # the earlier run
        assert rt._array.load_cycles == image.load_cycles
        assert b.machine.link.entries == [image.load]
        for i in range(3):
            x = rng.integers(0, 256, (8, 8, 1))
            if i < 2:
                out = rt.infer(x)
            else:   # the long form
                rt.write_tensor(x)
                assert rt.run() == image.infer_cycles
                out = rt.read_tensor()
            assert rt.cycles == image.infer_cycles, (rt.cycles, image.infer_cycles)
            np.testing.assert_array_equal(out, gold.infer(x))
            assert out.dtype == np.int64 and out.shape == (1, 1, 10)
        with pytest.raises(ValueError, match="output only"):
            rt.read_tensor("a")
        with pytest.raises(ValueError, match="input only"):
            rt.write_tensor(np.zeros((8, 8, 16), np.int64), "a")
    assert b.machine.link.entries == [image.load] + [image.infer] * 3
    assert b.machine.statuses.count(State.RUNNING) == 3 + 2 * 4      # every run polled
    assert b.received[:1] == b"\x00"                         # the link resynchronised
    assert b.machine.link.naks == {code: 0 for code in b.machine.link.naks}


def test_run_error_and_run_timeout(compiled, board, seed):
    """A run that ends with an engine error raises naming it; a run that never ends
    raises after run_timeout, not before."""
    rng = np.random.default_rng([seed, 2])
    print(f"seed {seed}")
    x = rng.integers(0, 256, (8, 8, 1))
    b = board(hold=1)
    with Runtime(compiled, "fpga", port=b.port, baud=BAUD, timeout=10) as rt:
        b.machine.error = FbError.OVERFLOW
        rt.write_tensor(x)
        with pytest.raises(RuntimeError, match=r"ended with error OVERFLOW \(6\)"):
            rt.run()
    b = board(hold=1)
    with Runtime(compiled, "fpga", port=b.port, baud=BAUD, timeout=10,
                 run_timeout=0.5) as rt:
        b.machine.hold = None
        rt.write_tensor(x)
        start = time.monotonic()
        with pytest.raises(RuntimeError, match=r"run at 0x0 is still running after 0\.5 s "
                                               r"\(run_timeout\)"):
            rt.run()
        assert 0.5 <= time.monotonic() - start < 2.5


def test_refuses_another_machine(board, seed):
    """A model compiled for another array (the same cores in 1 x 2) or configuration
    (ulx3s) than the board's (sim, 2 x 2): refused after INFO, naming both, before anything
    is written or run."""
    from sw.runtime.hostlink import describe_ident
    rng = np.random.default_rng([seed, 7])
    print(f"seed {seed}")
    assert describe_ident(CONFIG.ident).startswith("a 2 x 2 array of configuration CRC 0x")
    for cfg in (CONFIG.resized(1, 2), get_config("ulx3s")):
        other = compile_array(cfg, digits_like(rng, (8, 4, 2, 4)))
        assert cfg.ident != CONFIG.ident
        b = board(hold=1)
        with pytest.raises(RuntimeError) as e:
            Runtime(other, "fpga", port=b.port, baud=BAUD, timeout=10)
        assert str(e.value).startswith(
            f"the machine is {describe_ident(CONFIG.ident)}, not the {cfg.name} array the "
            f"model is compiled for ({describe_ident(cfg.ident)}): compile the model for "
            f"the machine's configuration and array"), str(e.value)
        assert b.machine.link.acked_writes == [] and b.machine.link.entries == []


class StandIn:
    """In place of :class:`sw.runtime.machine.VerilatedMachine` (no build): a
    :class:`GoldenMachine` behind its ``transport()``, ``clocks`` counting 1,000 an
    answer."""

    max_data = MAX_DATA

    def __init__(self, config, build_dir=None, **kw):
        assert config is CONFIG and build_dir is None
        self.golden, self.clocks, self.closed = GoldenMachine(**kw), 0, False

    def transport(self):
        send, receive = model_transport(self.golden)

        def counted():
            self.clocks += 1000
            return receive()
        return send, counted

    def close(self):
        self.closed = True


def test_rtl_backend_shares_the_code(compiled, monkeypatch, seed):
    """The rtl backend's machine code, now shared with fpga, over a stand-in for the
    Verilated machine: the golden backend's outputs and the predicted cycles; its bound
    in cycles (max_cycles); the machine closed when the load fails."""
    import sw.runtime.machine
    rng = np.random.default_rng([seed, 6])
    print(f"seed {seed}")
    image = machine_image(compiled)
    made = []

    def stand_in(hold, error=None):
        def make(config, build_dir=None):
            made.append(StandIn(config, build_dir, hold=hold))
            made[-1].golden.error = error
            return made[-1]
        monkeypatch.setattr(sw.runtime.machine, "VerilatedMachine", make)

    stand_in(hold=1)
    x = rng.integers(0, 256, (8, 8, 1))
    with Runtime(compiled, "rtl", max_cycles=50_000) as rt, \
            Runtime(compiled, "golden") as gold:
        assert rt._array.load_cycles == image.load_cycles
        np.testing.assert_array_equal(rt.infer(x), gold.infer(x))
        assert rt.cycles == image.infer_cycles
        made[-1].golden.hold = None
        rt.write_tensor(x)
        before = made[-1].clocks
        with pytest.raises(RuntimeError, match=r"run at 0x0 is still running after 50000 "
                                               r"cycles"):
            rt.run()
        assert made[-1].clocks - before == 1000 + 51_000   # the RUN, then STATUS to 51,000
    assert made[-1].closed
    stand_in(hold=0, error=FbError.BAD_MEM)
    with pytest.raises(RuntimeError, match=r"run at 0x[0-9a-f]+ ended with error BAD_MEM"):
        Runtime(compiled, "rtl")
    assert made[-1].closed


def test_no_answer_times_out(compiled, silent):
    """A port whose far end never answers: the runtime raises within its timeout, naming
    the port, having written nothing but its first STATUS; the port is closed again."""
    port, master = silent
    start = time.monotonic()
    with pytest.raises(SerialTimeout, match=f"no answer from serial port '{port}' within "
                                            r"1\.0 s \(0 bytes") as failure:
        Runtime(compiled, "fpga", port=port, baud=115_200, timeout=1.0)
    assert 1.0 <= time.monotonic() - start < 1.6   # (the image made meanwhile: 0.1 s)
    status = b"\x00" + build_frame(status_request())
    assert read_exactly(master, len(status) + 1, 0.1) == status   # (and nothing more)
    # closed at once, not when collected: ``failure`` still holds the backend
    SerialLink(port, 115_200).close()
    del failure


def test_serial_link_frames(silent, seed):
    """The transport alone: a 0x00 before the first frame; answers in pieces and empty
    frames between them; after a timeout the late bytes dropped and a 0x00 again; a
    closed link and a far end gone raise naming the port."""
    port, master = silent
    print(f"seed {seed}")
    rng = np.random.default_rng([seed, 3])
    frames = [bytes(rng.integers(1, 256, int(n), np.uint8)) + b"\x00"
              for n in rng.integers(1, 300, 4)]
    with SerialLink(port, 9600, timeout=0.5) as link:
        send, receive = link.transport()
        send(b"ab\x00")
        send(bytearray(b"cd\x00"))
        assert read_exactly(master, 7) == b"\x00ab\x00cd\x00"
        stream = b"\x00\x00" + frames[0] + b"\x00" + frames[1] + frames[2]
        for i in range(0, len(stream), 7):
            os.write(master, stream[i:i + 7])
        assert [receive(), receive(), receive()] == frames[:3]
        os.write(master, frames[3][:5])
        start = time.monotonic()
        with pytest.raises(SerialTimeout, match=f"'{port}' within 0.5 s \\(5 bytes of a "
                                                f"frame received: {frames[3][:5].hex()}\\)"):
            receive()
        assert 0.5 <= time.monotonic() - start < 0.75
        os.write(master, frames[3][5:])   # the late rest of the answer
        time.sleep(0.05)
        send(b"ef\x00")
        assert read_exactly(master, 4) == b"\x00ef\x00"
        os.write(master, frames[0])
        assert receive() == frames[0]
        with pytest.raises(TypeError, match="data must be bytes"):
            send("ef")
    with pytest.raises(SerialLinkError, match=f"serial port '{port}' is closed"):
        link.send(b"x\x00")


def test_far_end_hangs_up():
    """The far end gone (a board unplugged) while an answer is awaited: an error naming
    the port, not a hang."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    try:
        with SerialLink(port, 9600, timeout=5) as link:
            link.send(b"ab\x00")
            os.close(master)
            start = time.monotonic()
            with pytest.raises(SerialLinkError, match=f"serial port '{port}': read failed"):
                link.receive()
            assert time.monotonic() - start < 1
    finally:
        os.close(slave)


def test_client_over_the_link(board, seed):
    """HostLinkClient over the serial transport: writes and reads split into max_data
    pieces, read back equal."""
    rng = np.random.default_rng([seed, 4])
    print(f"seed {seed}")
    b = board()
    data = rng.integers(0, 256, 3000, np.uint8).tobytes()
    with SerialLink(b.port, BAUD, timeout=5) as link:
        client = HostLinkClient(*link.transport(), max_data=MAX_DATA)
        client.write(1234, data)
        assert client.read(1234, len(data)) == data == bytes(b.machine.link.mem[1234:4234])
        assert client.status() == (State.IDLE, 0, 0)


@pytest.mark.parametrize("kw, error, message", [
    (dict(port=5), TypeError, r"port must be a serial port's name or a pyserial URL \(str\), "
                              r"not 5 \(int\)"),
    (dict(port=b"/dev/ttyUSB0"), TypeError, r"port must be .* \(bytes\)"),
    (dict(port=""), ValueError, r"port must be a serial port's name or a pyserial URL, "
                                r"not ''"),
    (dict(port="  "), ValueError, r"port must be .*, not '  '"),
    (dict(baud=0), ValueError, r"baud must be from 1 to 3,000,000, not 0"),
    (dict(baud=-9600), ValueError, r"baud must be from 1 to 3,000,000, not -9600"),
    (dict(baud=3_000_001), ValueError, r"baud must be from 1 to 3,000,000, not 3000001"),
    (dict(baud=115200.0), TypeError, r"baud must be an int, not 115200.0 \(float\)"),
    (dict(baud=True), TypeError, r"baud must be an int, not True \(bool\)"),
    (dict(baud="115200"), TypeError, r"baud must be an int, not '115200' \(str\)"),
    (dict(timeout=0), ValueError, r"timeout must be a positive, finite number of seconds, "
                                  r"not 0"),
    (dict(timeout=-1.5), ValueError, r"timeout must be a positive.*, not -1.5"),
    (dict(timeout=math.nan), ValueError, r"timeout must be a positive.*, not nan"),
    (dict(timeout=math.inf), ValueError, r"timeout must be a positive.*, not inf"),
    (dict(timeout="1"), TypeError, r"timeout must be a number of seconds \(int or float\), "
                                   r"not '1' \(str\)"),
    (dict(timeout=True), TypeError, r"timeout must be a number of seconds .* \(bool\)"),
    (dict(timeout=None), TypeError, r"timeout must be a number of seconds .* \(NoneType\)"),
])
def test_serial_link_rejects(silent, kw, error, message):
    """Every bad argument, named (checked before the port is opened: the port is a real
    one)."""
    args = dict(port=silent[0], baud=BAUD, timeout=1.0) | kw
    with pytest.raises(error, match=message):
        SerialLink(args.pop("port"), args.pop("baud"), **args)


def test_unopenable_ports(compiled, tmp_path, silent):
    """A missing device, a file that is no tty, an unknown URL scheme and a port another
    link holds: each a SerialLinkError naming the port."""
    missing, plain = str(tmp_path / "ttyUSB9"), tmp_path / "plain"
    plain.write_bytes(b"")
    for port in (missing, str(plain), "nosuch://board"):
        with pytest.raises(SerialLinkError, match=f"cannot open serial port '{port}' at "
                                                  f"9600 baud: "):
            SerialLink(port, 9600)
    with SerialLink(silent[0], 9600):
        with pytest.raises(SerialLinkError, match=f"cannot open serial port '{silent[0]}'"
                                                  f".*exclusively lock"):
            SerialLink(silent[0], 9600)
    with pytest.raises(SerialLinkError, match=f"cannot open serial port '{missing}'"):
        Runtime(compiled, "fpga", port=missing, baud=BAUD)


def test_runtime_rejects(compiled, silent, monkeypatch, seed):
    """The serial arguments refused by the other backends, required by fpga, checked
    (run_timeout before the port is opened), and a single-core model refused by fpga."""
    import sw.runtime.machine
    import sw.runtime.verilated

    def no_build(*args, **kw):
        raise AssertionError("a rejection went on to build a Verilated model")
    monkeypatch.setattr(sw.runtime.machine, "VerilatedMachine", no_build)
    monkeypatch.setattr(sw.runtime.verilated, "VerilatedCore", no_build)
    port = silent[0]
    print(f"seed {seed}")
    for backend in ("golden", "rtl"):   # (refused before any build)
        for name, value in (("port", port), ("baud", BAUD), ("timeout", 1.0),
                            ("run_timeout", 1.0)):
            with pytest.raises(ValueError, match=f"^{name} is for the fpga backend only, "
                                                 f"not '{backend}'$"):
                Runtime(compiled, backend, **{name: value})
    with pytest.raises(ValueError, match=r"the fpga backend needs port="):
        Runtime(compiled, "fpga", baud=BAUD)
    with pytest.raises(ValueError, match=r"the fpga backend needs baud="):
        Runtime(compiled, "fpga", port=port)
    for name in ("build_dir", "max_cycles"):
        with pytest.raises(ValueError, match=f"{name} is for the golden and rtl backends, "
                                             f"not fpga"):
            Runtime(compiled, "fpga", port=port, baud=BAUD, **{name: 100})
    with pytest.raises(TypeError, match=r"port must be .* not 7 \(int\)"):
        Runtime(compiled, "fpga", port=7, baud=BAUD)
    with pytest.raises(ValueError, match=r"baud must be from 1 to 3,000,000, not 4000000"):
        Runtime(compiled, "fpga", port=port, baud=4_000_000)
    with pytest.raises(ValueError, match=r"timeout must be a positive.*, not 0"):
        Runtime(compiled, "fpga", port=port, baud=BAUD, timeout=0)
    with pytest.raises(ValueError, match=r"run_timeout must be a positive.*, not -1"):
        Runtime(compiled, "fpga", port="/nonexistent/tty", baud=BAUD, run_timeout=-1)
    single = compile_network(CONFIG.core, digits_like(np.random.default_rng(seed)))
    with pytest.raises(ValueError, match="the fpga backend runs a network compiled for an "
                                         "array .*not a single-core CompiledNetwork"):
        Runtime(single, "fpga", port=port, baud=BAUD)
    with pytest.raises(ValueError, match="backend must be one of"):
        Runtime(compiled, "serial", port=port, baud=BAUD)


# -- the command line ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory, seed):
    """A QDQ ONNX model of the digits network (make train's form; 4 channels, untrained,
    its steps calibrated on random images) and a held-out set of 3 random images."""
    import onnx

    from sw.qat.export import export_quantized
    from sw.qat.model import DigitsNet
    from sw.qat.model import get_config as qat_config
    rng = np.random.default_rng([seed, 5])
    net = DigitsNet(4, seed=seed % 1000)
    net.quantize_config(qat_config("int8"), rng.random((32, 1, 8, 8)).astype(np.float32))
    folder = tmp_path_factory.mktemp("cli")
    onnx.save(export_quantized(net.freeze()), folder / "int8.onnx")
    np.savez(folder / "digits_test.npz", x=rng.random((3, 1, 8, 8)).astype(np.float32),
             y=np.array([3, 1, 4]))
    return folder


def test_cli_on_the_board(onnx_model, board, capsys, seed):
    """``python -m sw.runtime --backend fpga``: the held-out images through the golden
    board, the classes and cycles printed equal the golden backend's."""
    from sw.compiler_stub.onnx_import import import_onnx
    print(f"seed {seed}")
    m, data = onnx_model / "int8.onnx", onnx_model / "digits_test.npz"
    b = board(hold=1)
    # (The golden board answers from a thread of this process: on a loaded machine a
    # frame can take longer than the default second, as in the other tests here.)
    # (--config sim: the golden board's; without it the fpga backend compiles for the
    # ulx3s board's 1 x 2, test_cli_board_default)
    assert main(["--backend", "fpga", "--port", b.port, "--baud", "3000000", str(m),
                 "--config", "sim", "--data", str(data), "--images", "2",
                 "--timeout", "10"]) == 0
    out = [line for line in capsys.readouterr().out.splitlines()
           if not line.startswith("seed ")]
    assert out.pop(0) == f"{m} compiled for the sim array (2 x 2 cores)"
    compiled = compile_array(CONFIG, import_onnx(m))
    image = machine_image(compiled)
    xs = np.load(data)["x"]
    t = compiled.input
    q = np.clip(np.rint(xs.astype(np.float64) / t.scale), 0, 255).astype(np.int64)
    with Runtime(compiled, "golden") as gold:
        want = [int(np.argmax(gold.infer(q[i].transpose(1, 2, 0)))) for i in range(2)]
    assert out[:2] == [f"image {i}: class {want[i]} (label {[3, 1][i]}), "
                       f"{image.infer_cycles} cycles" for i in range(2)]
    right = sum(w == y for w, y in zip(want, [3, 1], strict=True))
    assert out[2].startswith(f"2 images on fpga, {right} right ({50.0 * right:.1f}%), ")
    # --input: a stack of integer images, every one run by default
    np.save(onnx_model / "xs.npy", q[1:].transpose(0, 2, 3, 1))
    assert main(["--backend", "fpga", "--port", b.port, "--baud", "3000000", str(m),
                 "--config", "sim", "--input", str(onnx_model / "xs.npy"),
                 "--timeout", "10", "--run-timeout", "5"]) == 0
    with Runtime(compiled, "golden") as gold:
        want = [int(np.argmax(gold.infer(q[i].transpose(1, 2, 0)))) for i in (1, 2)]
    out = capsys.readouterr().out.splitlines()[1:]
    assert out[:2] == [f"image {i}: class {want[i]}, {image.infer_cycles} cycles"
                       for i in range(2)]
    assert out[2].startswith("2 images on fpga, ") and "right" not in out[2]
    np.save(onnx_model / "x.npy", q[2].transpose(1, 2, 0))
    b.machine.error = FbError.CONFLICT     # a run's error: exit 1, the message on stderr
    assert main(["--backend", "fpga", "--port", b.port, "--baud", "3000000", str(m),
                 "--config", "sim", "--input", str(onnx_model / "x.npy"),
                 "--timeout", "10"]) == 1
    assert "ended with error CONFLICT (5)" in capsys.readouterr().err
    missing = str(onnx_model / "ttyUSB9")   # a port that cannot be opened: exit 1, named
    assert main(["--backend", "fpga", "--port", missing, "--baud", "3000000", str(m),
                 "--input", str(onnx_model / "x.npy")]) == 1
    assert f"error: cannot open serial port '{missing}'" in capsys.readouterr().err


def test_cli_board_default(onnx_model, capsys):
    """The board and fpga backends compile for the board's design (the bitstream's): the
    ulx3s cores in the array make bitstream FPGA_TOP=board builds (1 x 2), or --config's
    and --array's; the golden and rtl backends for --config's own array (sim's)."""
    m, x = onnx_model / "int8.onnx", onnx_model / "x.npy"
    np.save(x, np.zeros((8, 8, 1), np.int64))
    missing = str(onnx_model / "ttyUSB9")   # the run stops at the port, after compiling
    for args, array in (([], "ulx3s_1x2 array (1 x 2"),
                        (["--config", "ulx3s"], "ulx3s_1x2 array (1 x 2"),
                        (["--array", "2x2"], "ulx3s array (2 x 2"),
                        (["--config", "ulx3s", "--array", "1x1"], "ulx3s_1x1 array (1 x 1"),
                        (["--config", "sim"], "sim array (2 x 2"),
                        (["--config", "sim", "--array", "1x2"], "sim_1x2 array (1 x 2")):
        assert main(["--backend", "fpga", "--port", missing, "--baud", "3000000", str(m),
                     "--input", str(x)] + args) == 1, args
        out = capsys.readouterr()
        assert out.out.splitlines()[0] == f"{m} compiled for the {array} cores)", args
        assert f"error: cannot open serial port '{missing}'" in out.err
    with pytest.raises(SystemExit) as e:
        main(["--backend", "fpga", "--port", missing, "--baud", "3000000", str(m),
              "--array", "3x1"])
    assert e.value.code == 2
    assert "--array 3x1: rows must be a power of two" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--backend", "fpga", "--baud", "3000000"], "--backend fpga needs --port"),
    (["--backend", "fpga", "--port", "/dev/ttyUSB0"], "--backend fpga needs --baud"),
    (["--port", "/dev/ttyUSB0"], "--port is for --backend fpga only"),
    (["--backend", "rtl", "--baud", "9600"], "--baud is for --backend fpga only"),
    (["--timeout", "1"], "--timeout is for --backend fpga only"),
    (["--backend", "fpga", "--port", "p", "--baud", "0"], "--baud must be from 1 to 3000000"),
    (["--backend", "fpga", "--port", "p", "--baud", "3000001"], "--baud must be from 1"),
    (["--backend", "fpga", "--port", "p", "--baud", "9600.5"], "--baud: invalid int value"),
    (["--backend", "fpga", "--port", "p", "--baud", "9600", "--timeout", "0"],
     "--timeout must be a positive number of seconds, not 0.0"),
    (["--backend", "fpga", "--port", "p", "--baud", "9600", "--run-timeout", "nan"],
     "--run-timeout must be a positive number of seconds, not nan"),
    (["--backend", "fpga", "--port", "p", "--baud", "9600", "--timeout", "inf"],
     "--timeout must be a positive number of seconds, not inf"),
    (["--images", "0"], "--images must be at least 1, not 0"),
    (["--backend", "tpu"], "argument --backend: invalid choice: 'tpu'"),
    (["--config", "northpole"], "argument --config: invalid choice: 'northpole'"),
    ([], None),
])
def test_cli_rejects(onnx_model, capsys, args, message):
    model = str(onnx_model / "int8.onnx")
    argv = args + [model] if message is not None else []
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert (message or "the following arguments are required: MODEL") in err, err


def test_cli_rejects_files(onnx_model, tmp_path, capsys):
    """Models and inputs that cannot be used, each named."""
    model = str(onnx_model / "int8.onnx")
    single = tmp_path / "single.npz"
    compile_network(CONFIG.core, digits_like(np.random.default_rng(0), channels=4)) \
        .save(single)
    np.save(tmp_path / "float.npy", np.zeros((8, 8, 1)))
    np.save(tmp_path / "shape.npy", np.zeros((2, 8, 8, 2), np.int64))
    np.save(tmp_path / "range.npy", np.full((8, 8, 1), 256, np.int16))
    (tmp_path / "m.txt").write_text("")
    import onnx

    from sw.qat.export import export_quantized
    from sw.qat.model import DigitsNet
    from sw.qat.model import get_config as qat_config
    wide = DigitsNet(64, seed=1)     # 64 channels: its weights outgrow a ulx3s core's MEM
    wide.quantize_config(qat_config("int8"),
                         np.random.default_rng(1).random((8, 1, 8, 8)).astype(np.float32))
    big = tmp_path / "wide.onnx"
    onnx.save(export_quantized(wide.freeze()), big)
    cases = [
        ([str(tmp_path / "none.onnx")], f"MODEL {tmp_path / 'none.onnx'} is not a file"),
        ([str(tmp_path / "m.txt")], "MODEL must be an .onnx or .npz file"),
        (["--backend", "fpga", "--port", "p", "--baud", "9600", str(single)],
         "is a single-core model: the fpga backend runs a network compiled for an array"),
        (["--config", "sim", str(single)], "--config is for an .onnx model"),
        ([model, "--input", str(tmp_path / "float.npy")], "must hold integers, not float64"),
        ([model, "--input", str(tmp_path / "shape.npy")], "has shape (2, 8, 8, 2): the input"),
        ([model, "--input", str(tmp_path / "none.npy")], "--input"),
        ([model, "--input", str(tmp_path / "range.npy")],
         "range.npy holds 256 to 256: the input x.dq.q takes 0 to 255"),
        ([model, "--input", str(tmp_path / "shape.npy"), "--data", "d.npz"],
         "give --input or --data, not both"),
        ([model, "--data", str(tmp_path / "none.npz")], "is not a file (make train"),
        ([model, "--data", str(onnx_model / "digits_test.npz"), "--images", "4"],
         "--images 4: there are 3 images"),
        ([str(big), "--config", "ulx3s"], "does not compile for the ulx3s array"),
        (["--array", "1x2", str(single)], "--array is for an .onnx model"),
        ([model, "--array", "1by2"], "--array must be RxC (e.g. 1x2), not '1by2'"),
        ([model, "--array", "1x2x1"], "--array must be RxC (e.g. 1x2), not '1x2x1'"),
        ([model, "--array", "0x2"], "--array 0x2: rows must be a power of two from 1 to 64, "
                                    "not 0"),
        ([model, "--array", "3x2"], "--array 3x2: rows must be a power of two from 1 to 64, "
                                    "not 3"),
        ([model, "--array", "1x128"], "--array 1x128: cols must be a power of two from 1 "
                                      "to 64, not 128"),
        ([str(big), "--config", "ulx3s", "--array", "1x2"],
         "does not compile for the ulx3s_1x2 array (1 x 2)"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)


def test_cli_array(onnx_model, capsys):
    """``--array``: the model compiled for the config's cores in that array (the 1 x 2
    board's), each image's cycles that compilation's, not the 2 x 2 array's."""
    from sw.compiler_stub.onnx_import import import_onnx
    m, data = onnx_model / "int8.onnx", onnx_model / "digits_test.npz"
    ulx3s = get_config("ulx3s")
    assert ulx3s.resized(2, 2) is ulx3s
    config = ulx3s.resized(1, 2)
    assert (config.name, config.rows, config.cols, config.core) == \
        ("ulx3s_1x2", 1, 2, ulx3s.core)
    cycles = {}
    for shape, cfg in (("1x2", config), ("2x2", ulx3s)):
        assert main([str(m), "--config", "ulx3s", "--array", shape, "--data", str(data),
                     "--images", "1"]) == 0
        compiled = compile_array(cfg, import_onnx(m))
        t = compiled.input
        x = np.clip(np.rint(np.load(data)["x"][0].astype(np.float64) / t.scale), 0, 255)
        with Runtime(compiled, "golden") as gold:
            cls = int(np.argmax(gold.infer(x.astype(np.int64).transpose(1, 2, 0))))
            cycles[shape] = gold.cycles
        out = capsys.readouterr().out.splitlines()
        assert out[0] == f"{m} compiled for the {cfg.name} array ({shape[0]} x " \
                         f"{shape[2]} cores)"
        assert out[1] == f"image 0: class {cls} (label 3), {cycles[shape]} cycles"
    assert cycles["1x2"] != cycles["2x2"]


def test_cli_quantizes_as_make_sim(tmp_path):
    """The held-out images quantized as tb/sim.py's quantize_input: ties to even,
    saturated, NCHW to HWC."""
    import argparse

    from sw.compiler_stub.network import Tensor
    from sw.runtime.__main__ import _inputs

    from ..sim import quantize_input
    t = Tensor("x", (8, 8, 1), 8, False, 1 / 16)
    x = np.arange(3 * 64).reshape(3, 1, 8, 8) / 32 - 0.5    # x / scale: -8 to 87.5 by 0.5
    x[2, 0, 7, 7] = 16.0                                    # (ties, negatives) and 256
    np.savez(tmp_path / "d.npz", x=x.astype(np.float32), y=np.array([1, 2, 3]))
    args = argparse.Namespace(input=None, data=tmp_path / "d.npz")
    q, y = _inputs(argparse.ArgumentParser(), args, t)
    np.testing.assert_array_equal(q, quantize_input(x.astype(np.float32), t))
    assert q.dtype == np.int64 and q.shape == (3, 8, 8, 1) and q.max() == 255 and \
        q.min() == 0 and list(y) == [1, 2, 3]
    assert len(np.unique(q)) == 89         # 0 to 87, and 255
