"""The runtime: run a compiled network on a core from a user's own script.

    from sw.runtime import Runtime
    rt = Runtime("build/sim/int8.npz", backend="rtl")     # or a CompiledNetwork
    rt.write_tensor(x)          # integers of the input's shape and type
    cycles = rt.run()           # every layer, chained on the core: no host action between
    logits = rt.read_tensor()   # the output (any tensor of the network by name)

Backends: ``golden`` (the golden core, :class:`sw.golden.core.Core`: bit- and
cycle-exact with the hardware, slow) and ``rtl`` (the design under Verilator through a
C++ harness, :class:`sw.runtime.verilated.VerilatedCore`, built once and reused). Both
see the same protocol: the model's preload is written once, then each image's input
tensor, one start at the model's entry, and the tensors read back.

A network compiled for an array (:func:`sw.compiler_stub.array.compile_array`) runs with
the same API on the ``golden`` backend, the golden array
(:class:`sw.golden.array.ArrayModel`: the input written to every core that reads it,
every core started in one cycle, any tensor gathered from the cores that wrote its
rows), and on the ``rtl`` backend, the Verilated machine reached only through its host
link (:mod:`sw.runtime.machine`): the model image written into the framebuffer and
loaded once, then per image WRITE the input, RUN, STATUS until done, READ the output;
``run()`` returns the engine's cycles (the machine's whole run: the input copied to the
cores, the network, the output gathered).

The ``board`` backend runs an array-compiled network on the board in simulation
(:mod:`sw.runtime.board`): the Verilated board top (:class:`fpga.board.HostBoard`, the
machine behind its UART, as in the bitstream), reached with the same host-link frames
sent bit by bit over its serial pins at ``baud`` (default 3,000,000) by a UART model; its
runs are bounded in ``max_cycles``.

The ``fpga`` backend runs an array-compiled network the same way on a board: the machine
(:class:`rtl.top.machine.Machine`) behind the UART of its USB serial port, reached with
the same host-link frames over the port (:mod:`sw.runtime.serial_link`, pyserial)::

    net = import_onnx("build/train/int8.onnx")          # make train
    compiled = compile_array(get_config("sim"), net)    # the board's configuration
    with Runtime(compiled, "fpga", port="/dev/ttyUSB0", baud=3_000_000) as rt:
        logits = rt.infer(x)                            # as on "golden" and "rtl"

``port`` (a device's name or any pyserial URL) and ``baud`` (the board's UART's rate, at
most 3,000,000) are required there and refused by the other backends, as are
``timeout`` (seconds for an answer frame to arrive whole, default 1) and
``run_timeout`` (seconds a run may take, polling STATUS, default 10; a board's run is
bounded in seconds, a simulated one in ``max_cycles``, which ``fpga`` refuses). A board
that does not answer raises :class:`sw.runtime.serial_link.SerialTimeout` naming the
port within ``timeout``. ``python -m sw.runtime`` (:mod:`sw.runtime.__main__`) runs the
digits network on any backend from the command line.
"""

import os

import numpy as np

from sw.compiler_stub.net import CompiledNetwork, LoadedModel, load_model
from sw.golden.hostlink import State

__all__ = ["Runtime", "BACKENDS"]

BACKENDS = ("golden", "rtl", "board", "fpga")

#: The ``fpga`` backend's largest READ/WRITE: the board's host link's ``max_data``
#: (:class:`rtl.top.machine.Machine`'s default, as :data:`sw.runtime.machine.MAX_DATA`).
FPGA_MAX_DATA = 256

#: The ``fpga`` backend's defaults: seconds for an answer frame, and for a run.
FPGA_TIMEOUT, FPGA_RUN_TIMEOUT = 1.0, 10.0


class _GoldenArray:
    """The golden array holding an array-compiled network."""

    def __init__(self, model, max_cycles):
        from sw.compiler_stub.array import load_array
        self.model, self.max_cycles = model, max_cycles
        self.array = load_array(model)

    def write(self, t, x):
        from sw.compiler_stub.array import write_input
        write_input(self.model, self.array, x, t.name)

    def run(self):
        from sw.golden.array import busy_until
        self.array.run(self.model.entries, max_cycles=self.max_cycles)
        return busy_until(self.array.starts, self.array.runs)

    def read(self, t):
        from sw.compiler_stub.array import read_output
        cores = self.array.cores
        return read_output(self.model, lambda k, a, n: cores[k].read(a, n), t.name)

    def close(self):
        pass


class _Machine:
    """A machine (host link, framebuffer, array: :class:`rtl.top.machine.Machine`)
    holding an array-compiled network, reached only through the host-link protocol: the
    model image written and loaded once, then per image the input written, a run, the
    output read (docs/architecture.md, 11). A subclass gives the link (:meth:`_load`) and
    the bound of a run (:meth:`_bound`)."""

    def __init__(self, model):
        from sw.compiler_stub.array import machine_image
        self.model = model
        self.image = machine_image(model)

    def _load(self, link):
        """Take ``link`` (a :class:`sw.runtime.hostlink.HostLinkClient`); check that the
        machine is the one the model is compiled for (INFO: its configuration's ident);
        write the image and run its ``load`` list."""
        from .hostlink import describe_ident
        self.link = link
        cfg = self.model.config
        ident = self.link.info()
        if ident != cfg.ident:
            raise RuntimeError(
                f"the machine is {describe_ident(ident)}, not the {cfg.name} array the "
                f"model is compiled for ({describe_ident(cfg.ident)}): compile the model "
                f"for the machine's configuration and array (python -m sw.runtime "
                f"--config, --array), or load the machine built for {cfg.name}")
        self.link.write(0, self.image.data)
        self.load_cycles = self._run(self.image.load)

    def _bound(self):
        """Start the bound of a run: a callable returning None while the run may go on,
        then the bound passed as text (``"after 1000 cycles"``)."""
        raise NotImplementedError

    def _wait(self, what):
        """Poll STATUS until the machine is not running; its last :class:`Status`."""
        over = self._bound()
        while (status := self.link.status()).state == State.RUNNING:
            if (passed := over()) is not None:
                raise RuntimeError(f"the machine's {what} is still running {passed}")
        return status

    def _run(self, entry):
        """RUN the list at ``entry``, poll STATUS until it is over; its cycles."""
        from rtl.spec.framebuffer import FbError
        self.link.run(entry)
        status = self._wait(f"run at {entry:#x}")
        if status.state != State.DONE:
            raise RuntimeError(f"the machine's run at {entry:#x} ended with error "
                               f"{FbError(status.error).name} ({status.error})")
        return status.cycles

    def write(self, t, x):
        if t.name != self.model.input.name:
            raise ValueError(f"the machine takes the network's input only, not tensor "
                             f"{t.name}")
        self.link.write(self.image.input_addr,
                        self.model.layouts[t.name].pack(t.check(x, f"tensor {t.name}")))

    def run(self):
        return self._run(self.image.infer)

    def read(self, t):
        if t.name != self.model.output.name:
            raise ValueError(f"the machine gathers the network's output only, not tensor "
                             f"{t.name}")
        lay = self.model.layouts[t.name]
        return lay.unpack(self.link.read(self.image.output_addr, lay.size))


class _MachineRtl(_Machine):
    """The Verilated machine (:mod:`sw.runtime.machine`), or another harness reached in
    frames (``harness``, a callable returning one); a run bounded in cycles."""

    def __init__(self, model, build_dir, max_cycles, harness=None):
        from .hostlink import HostLinkClient
        from .machine import VerilatedMachine
        super().__init__(model)
        self.max_cycles = max_cycles
        self.machine = VerilatedMachine(model.config, build_dir=build_dir) \
            if harness is None else harness()
        try:
            self._load(HostLinkClient(*self.machine.transport(),
                                      max_data=self.machine.max_data))
        except BaseException:
            self.machine.close()
            raise

    def _bound(self):
        start = self.machine.clocks
        return lambda: (f"after {self.max_cycles} cycles"
                        if self.machine.clocks - start > self.max_cycles else None)

    def close(self):
        self.machine.close()


class _MachineBoard(_MachineRtl):
    """The board in simulation (:mod:`sw.runtime.board`): the Verilated board top's
    machine and UART, reached over its serial pins at ``baud``; a run bounded in
    cycles."""

    def __init__(self, model, baud, build_dir, max_cycles):
        from .board import VerilatedBoard
        super().__init__(model, build_dir, max_cycles,
                         lambda: VerilatedBoard(model.config, baud, build_dir=build_dir))


class _MachineFpga(_Machine):
    """A board running the machine behind a serial port (:mod:`sw.runtime.serial_link`);
    a run bounded in wall-clock seconds. A STATUS first: a board that does not answer
    fails before the image is written, and a run left over from an earlier session is
    waited for."""

    def __init__(self, model, port, baud, timeout, run_timeout):
        from .hostlink import HostLinkClient
        from .serial_link import SerialLink, check_seconds
        self.run_timeout = check_seconds("run_timeout", run_timeout)
        self.serial = SerialLink(port, baud, timeout=timeout)
        try:
            super().__init__(model)
            self.link = HostLinkClient(*self.serial.transport(), max_data=FPGA_MAX_DATA)
            self._wait("earlier run")
            self._load(self.link)
        except BaseException:
            self.serial.close()
            raise

    def _bound(self):
        import time
        deadline = time.monotonic() + self.run_timeout
        return lambda: (f"after {self.run_timeout} s (run_timeout)"
                        if time.monotonic() > deadline else None)

    def close(self):
        self.serial.close()


class _Golden:
    def __init__(self, core):
        from sw.golden.core import Core
        self.core = Core(core)

    def write(self, addr, data):
        self.core.write(addr, data)

    def read(self, addr, n):
        return self.core.read(addr, n)

    def run(self, entry, max_cycles):
        cycles, self.vmm_steps = self.core.run(entry, max_cycles=max_cycles)
        return cycles

    def close(self):
        pass


def _config_name(core):
    from rtl.spec.config import CONFIGS
    for name, cfg in CONFIGS.items():
        if cfg.core == core:
            return name
    raise ValueError("the rtl backend builds the named configurations only "
                     f"({', '.join(CONFIGS)}); the model's core is none of them")


class Runtime:
    """A compiled model on a backend.

    Parameters
    ----------
    model : CompiledNetwork, or a path to one saved by :meth:`CompiledNetwork.save`, or
        a CompiledArrayNetwork (the only kind the ``fpga`` backend runs)
    backend : str
        ``"golden"``, ``"rtl"``, ``"board"`` or ``"fpga"``.
    build_dir : str or None
        Where the rtl and board backends build (default ``build/runtime/<config>``,
        ``machine_<config>``, ``board_<config>_<baud>``).
    max_cycles : int
        A run that takes longer raises (a guard: the model's own cycle count is known);
        golden, rtl and board only.
    port : str
        fpga only, required: the board's serial port (``/dev/ttyUSB0``) or a pyserial URL.
    baud : int
        fpga, required: its UART's rate, 1 to 3,000,000; board, optional: the simulated
        line's (default 3,000,000).
    timeout, run_timeout : int or float
        fpga only: seconds for an answer frame (default 1) and for a run (default 10).
    """

    def __init__(self, model, backend="golden", *, build_dir=None, max_cycles=None,
                 port=None, baud=None, timeout=None, run_timeout=None):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        serial = {"port": port, "baud": baud, "timeout": timeout, "run_timeout": run_timeout}
        if backend == "board":
            for name, value in serial.items():
                if value is not None and name != "baud":
                    raise ValueError(f"{name} is for the fpga backend only, not 'board' "
                                     f"(its line is simulated, its runs bounded in cycles)")
        elif backend == "fpga":
            for name in ("port", "baud"):
                if serial[name] is None:
                    raise ValueError(f"the fpga backend needs {name}= (the board's serial "
                                     f"port, e.g. port='/dev/ttyUSB0', and its UART's "
                                     f"baud, e.g. baud=3_000_000)")
            for name, value in (("build_dir", build_dir), ("max_cycles", max_cycles)):
                if value is not None:
                    raise ValueError(f"{name} is for the golden and rtl backends, not fpga "
                                     f"(a board's run is bounded by run_timeout, in "
                                     f"seconds)")
        else:
            for name, value in serial.items():
                if value is not None:
                    raise ValueError(f"{name} is for the fpga backend only, not "
                                     f"{backend!r}")
        if isinstance(model, (str, os.PathLike)):
            model = load_model(model)
        from sw.compiler_stub.array import CompiledArrayNetwork
        if isinstance(model, CompiledArrayNetwork):
            self.model, self.backend = model, backend
            self.tensors, self.layouts = model.network.tensors(), model.layouts
            self.max_cycles = max_cycles if max_cycles is not None else 4 * model.cycles + 10_000
            self.cycles = None
            if backend == "golden":
                self._array = _GoldenArray(model, self.max_cycles)
            elif backend == "rtl":
                self._array = _MachineRtl(model, build_dir, self.max_cycles)
            elif backend == "board":
                self._array = _MachineBoard(model, baud, build_dir, self.max_cycles)
            else:
                self._array = _MachineFpga(
                    model, port, baud, FPGA_TIMEOUT if timeout is None else timeout,
                    FPGA_RUN_TIMEOUT if run_timeout is None else run_timeout)
            return
        self._array = None
        if not isinstance(model, (CompiledNetwork, LoadedModel)):
            raise TypeError(f"model must be a CompiledNetwork, a LoadedModel or a path, not "
                            f"{type(model).__name__}")
        if backend in ("board", "fpga"):
            raise ValueError(f"the {backend} backend runs a network compiled for an array "
                             "(sw.compiler_stub.array.compile_array), not a single-core "
                             f"{type(model).__name__}")
        self.model = model
        self.backend = backend
        self.tensors = model.network.tensors() if isinstance(model, CompiledNetwork) \
            else model.tensors
        self.layouts = model.layouts
        self.max_cycles = max_cycles if max_cycles is not None else 4 * model.cycles + 10_000
        if backend == "golden":
            self._core = _Golden(model.core)
        else:
            from .verilated import VerilatedCore
            self._core = VerilatedCore(_config_name(model.core), build_dir=build_dir)
        for addr, data in model.preload:
            if len(data):
                self._core.write(addr, data)
        self.cycles = None

    def _tensor(self, name):
        if name is None:
            return self.model.input
        if not isinstance(name, str) or name not in self.tensors:
            raise KeyError(f"no tensor {name!r} in the model (it has "
                           f"{', '.join(self.tensors)})")
        return self.tensors[name]

    def _layout(self, t, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < self.model.batch:
            raise ValueError(f"index must be an image of the batch, 0 to "
                             f"{self.model.batch - 1}, not {index!r}")
        return self.model.layout(t.name, int(index))

    def write_tensor(self, x, name=None, index=0):
        """Write tensor ``name`` (default: the input) of image ``index`` of the batch:
        integers of its shape (height, width, channels) and its type's range; anything
        else is rejected."""
        t = self._tensor(name)
        if self._array is not None:
            self._layout(t, index)
            self._array.write(t, x)
            return
        layout = self._layout(t, index)
        self._core.write(layout.base, layout.pack(t.check(x, f"tensor {t.name}")))

    def run(self):
        """Run every layer of every image of the batch (one start: the layers' images are
        chained); return the cycles, as the hardware counts them."""
        if self._array is not None:
            self.cycles = self._array.run()
        else:
            self.cycles = self._core.run(self.model.entry, self.max_cycles)
        return self.cycles

    def read_tensor(self, name=None, index=0):
        """Tensor ``name`` (default: the output) of image ``index`` as an int64 array
        (height, width, channels). Tensors other than the input and output are shared by
        the batch's images: they hold the last image's."""
        if name is None:
            t = self.model.output
        else:
            t = self._tensor(name)
        if self._array is not None:
            self._layout(t, index)
            return np.asarray(self._array.read(t), dtype=np.int64)
        layout = self._layout(t, index)
        return np.asarray(layout.unpack(self._core.read(layout.base, layout.size)),
                          dtype=np.int64)

    def infer(self, xs):
        """Run a batch: ``xs`` holds ``batch`` input tensors (or one, for a batch of 1);
        returns the outputs, one per image, in a list (or the one output)."""
        single = self.model.batch == 1 and np.ndim(xs) == len(self.model.input.shape)
        xs = [xs] if single else list(xs)
        if len(xs) != self.model.batch:
            raise ValueError(f"xs must hold {self.model.batch} input tensors, not {len(xs)}")
        for b, x in enumerate(xs):
            self.write_tensor(x, index=b)
        self.run()
        out = [self.read_tensor(index=b) for b in range(self.model.batch)]
        return out[0] if single else out

    def close(self):
        (self._array or self._core).close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
