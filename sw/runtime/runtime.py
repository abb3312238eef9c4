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
"""

import os

import numpy as np

from sw.compiler_stub.net import CompiledNetwork, LoadedModel, load_model

__all__ = ["Runtime", "BACKENDS"]

BACKENDS = ("golden", "rtl")


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


class _MachineRtl:
    """The Verilated machine (host link, framebuffer, array; :mod:`sw.runtime.machine`)
    holding an array-compiled network, reached only through the host-link protocol: the
    model image written and loaded once, then per image the input written, a run, the
    output read (docs/architecture.md, 11)."""

    def __init__(self, model, build_dir, max_cycles):
        from sw.compiler_stub.array import machine_image

        from .hostlink import HostLinkClient
        from .machine import VerilatedMachine
        self.model, self.max_cycles = model, max_cycles
        self.image = machine_image(model)
        self.machine = VerilatedMachine(model.config, build_dir=build_dir)
        self.link = HostLinkClient(*self.machine.transport())
        self.link.write(0, self.image.data)
        self.load_cycles = self._run(self.image.load)

    def _run(self, entry):
        """RUN the list at ``entry``, poll STATUS until it is over; its cycles."""
        from rtl.spec.framebuffer import FbError
        from sw.golden.hostlink import State
        self.link.run(entry)
        start = self.machine.clocks
        while (status := self.link.status()).state == State.RUNNING:
            if self.machine.clocks - start > self.max_cycles:
                raise RuntimeError(f"the machine's run at {entry:#x} is still running after "
                                   f"{self.max_cycles} cycles")
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

    def close(self):
        self.machine.close()


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
    model : CompiledNetwork, or a path to one saved by :meth:`CompiledNetwork.save`
    backend : str
        ``"golden"`` or ``"rtl"``.
    build_dir : str or None
        Where the rtl backend builds (default ``build/runtime/<config>``).
    max_cycles : int
        A run that takes longer raises (a guard: the model's own cycle count is known).
    """

    def __init__(self, model, backend="golden", *, build_dir=None, max_cycles=None):
        if isinstance(model, (str, os.PathLike)):
            model = load_model(model)
        from sw.compiler_stub.array import CompiledArrayNetwork
        if isinstance(model, CompiledArrayNetwork):
            if backend not in BACKENDS:
                raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
            self.model, self.backend = model, backend
            self.tensors, self.layouts = model.network.tensors(), model.layouts
            self.max_cycles = max_cycles if max_cycles is not None else 4 * model.cycles + 10_000
            self._array = _GoldenArray(model, self.max_cycles) if backend == "golden" else \
                _MachineRtl(model, build_dir, self.max_cycles)
            self.cycles = None
            return
        self._array = None
        if not isinstance(model, (CompiledNetwork, LoadedModel)):
            raise TypeError(f"model must be a CompiledNetwork, a LoadedModel or a path, not "
                            f"{type(model).__name__}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
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
