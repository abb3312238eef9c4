# amaranth: UnusedElaboratable=no
"""Generators: parameter checks, the design registry, elaboration of every config, lint,
module exports, and what the FPGA flow may import."""

import ast
import importlib
import os
import pkgutil
import subprocess
import sys

import pytest
from amaranth.hdl import Fragment, Value
from amaranth.lib import wiring

import rtl
import sw
import tb
from rtl.spec.codes import AfuOp, VcuOp
from rtl.spec.config import CONFIGS
from rtl.core.afu import ActivationUnit
from rtl.core.core import Core
from rtl.core.thread import Thread
from rtl.core.post import PostChain, chain_latency
from rtl.core.serial import SerialUnit
from rtl.core.vcu import VectorUnit
from rtl.designs import DESIGNS, module_name, tops
from rtl.vmm import VMM

from ..hdl import ROOT, generate, lint


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": 3, "cols": 8},                    r"rows must be a positive power of two"),
    ({"rows": 4, "cols": 0},                    r"cols must be a positive power of two"),
    ({"rows": 4, "cols": 8, "precisions": (16,)}, r"precisions must be a non-empty subset"),
])
def test_vmm_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VMM(**kwargs)


@pytest.mark.parametrize("cls, lanes, message", [
    (VectorUnit, 0, r"lanes must be a positive power of two, not 0"),
    (VectorUnit, 12, r"lanes must be a positive power of two, not 12"),
    (ActivationUnit, 0, r"lanes must be a positive power of two, not 0"),
    (ActivationUnit, 3, r"lanes must be a positive power of two, not 3"),
])
def test_fp16_units_reject(cls, lanes, message):
    with pytest.raises(ValueError, match=message):
        cls(lanes)


@pytest.mark.parametrize("ops, message", [
    ([VcuOp.ADD, "FMA", 99], r"not operations: 'FMA', 99$"),
    ([AfuOp.RELU], r"not operations: <AfuOp.RELU: 0>$"),
    ([], r"ops must name at least one VcuOp"),
    ("ADD", r"ops must be an iterable of VcuOp members, not 'ADD'"),
    (VcuOp.ADD, r"ops must be an iterable of VcuOp members, not <VcuOp.ADD: 0>"),
])
def test_vector_unit_rejects_ops(ops, message):
    with pytest.raises(ValueError, match=message):
        VectorUnit(4, ops=ops)


@pytest.mark.parametrize("args, message", [
    ((VMM, 4, 2), r"unit must be VectorUnit or ActivationUnit, not <class 'rtl.vmm"),
    ((VectorUnit, 6, 2), r"lanes must be a positive power of two, not 6"),
    ((VectorUnit, 0, 1), r"lanes must be a positive power of two, not 0"),
    ((VectorUnit, 4, 8), r"passes must be a power of two from 1 to lanes = 4, not 8"),
    ((VectorUnit, 4, 3), r"passes must be a power of two from 1 to lanes = 4, not 3"),
    ((VectorUnit, 4, 0), r"passes must be a power of two from 1 to lanes = 4, not 0"),
    ((ActivationUnit, 4, True), r"passes must be a power of two .*, not True"),
    ((ActivationUnit, 4, 2.0), r"passes must be a power of two .*, not 2.0"),
])
def test_serial_unit_rejects(args, message):
    with pytest.raises(ValueError, match=message):
        SerialUnit(*args)


@pytest.mark.parametrize("unit", [VectorUnit, ActivationUnit])
@pytest.mark.parametrize("passes", [1, 2, 4])
def test_serial_unit_ports(unit, passes):
    """A serial unit has the wide unit's ports and its latency plus ``passes - 1``, and
    elaborates (with ``ops`` for a vector unit)."""
    serial = SerialUnit(unit, 4, passes)
    assert serial.signature == unit(4).signature
    assert serial.latency == unit(4).latency + passes - 1 and serial.passes == passes
    if unit is ActivationUnit:   # the narrow unit's latency, with its table read registered
        assert SerialUnit(unit, 4, passes, table_reg=True).latency == 6 + passes - 1
    Fragment.get(serial, None)
    if unit is VectorUnit:
        cvt = SerialUnit(unit, 4, passes, ops=[VcuOp.CVT_INT])
        assert cvt.ops == {VcuOp.CVT_INT}
        Fragment.get(cvt, None)


def test_post_chain_passes():
    """The chain's latency with every passes, and its rejection of a bad ``passes``."""
    assert [PostChain(4, 4, 4, p).latency for p in (1, 2, 4)] == [21, 26, 36] == \
        [chain_latency(p) for p in (1, 2, 4)]
    assert [PostChain(4, 4, 4, p, True).latency for p in (1, 2, 4)] == [22, 27, 37] == \
        [chain_latency(p, True) for p in (1, 2, 4)]
    with pytest.raises(ValueError, match=r"table_reg must be True or False, not 1"):
        PostChain(4, 4, 4, 1, 1)
    for bad in (0, 3, 8, True):
        with pytest.raises(ValueError, match=rf"passes must be a power of two from 1 to "
                                             rf"rows = 4, not {bad!r}"):
            PostChain(4, 4, 4, bad)


@pytest.mark.parametrize("name", ["sim", "ulx3s"])
def test_core_threads(name):
    """A core builds a thread sequencer for each of its config's threads (the ``ulx3s``
    core has no T3 and T5), each with a program buffer of its ``program_lens`` and
    generators of ``ag_bits``."""
    config = CONFIGS[name].core
    m = Fragment.get(Core(config), None)
    built = {sub_name: frag for frag, sub_name, _ in m.subfragments}
    assert {f"thread{t}" for t in range(8)} & set(built) == \
        {f"thread{t}" for t in config.threads}
    for t in config.threads:
        thread = built[f"thread{t}"]
        prog = {name: frag for frag, name, _ in thread.subfragments}["prog"]
        assert thread.origins[0].depth == prog._data.depth == config.program_lens[t]
        base = {name: frag for frag, name, _ in thread.subfragments}["ag_base"]
        assert thread.origins[0].addr_bits == base._data.shape == config.ag_bits


def test_thread_rejects_depth():
    for bad in (1, 3, 128, True):
        with pytest.raises(ValueError, match=rf"depth must be a power of two from 2 to "
                                             rf"program_len = 64, not {bad!r}"):
            Thread(64, 1, depth=bad)


def test_vector_unit_ops():
    """``ops`` defaults to every operation, takes codes as well as members, and a unit of
    a subset elaborates with the full unit's ports."""
    assert VectorUnit(4).ops == frozenset(VcuOp)
    unit = VectorUnit(4, ops=[12, VcuOp.ADD, VcuOp.ADD])
    assert unit.ops == {VcuOp.CVT_I32, VcuOp.ADD}
    assert unit.signature == VectorUnit(4).signature
    Fragment.get(unit, None)


@pytest.mark.parametrize("name", list(DESIGNS))
def test_registry_entry_builds_for_sim(name):
    """Every registry entry is generated for ``sim`` and elaborates, lint-clean, under the
    module name the tests and ``make lint`` use."""
    entry = DESIGNS[name]
    assert entry.name == name and "sim" in entry.configs
    assert set(entry.configs) <= set(CONFIGS)
    assert module_name(name, "sim") in tops("sim")
    lint(generate(tops("sim")[module_name(name, "sim")], module_name(name, "sim")))


def test_registry_tops():
    """``make lint`` generates every design for sim, all but the fused post-processing
    block (whose units are the vcu and afu designs) and the NoC designs for ulx3s, only
    the VMM for northpole (the northpole FP16 units and core are large to convert)."""
    assert sorted(tops("sim")) == sorted(f"{name}_sim" for name in DESIGNS)
    assert sorted(tops("ulx3s")) == sorted(f"{name}_ulx3s" for name in DESIGNS
                                           if name != "post" and not name.startswith("noc_"))
    assert list(tops("northpole")) == ["vmm_northpole"]


def test_lint_clean_ulx3s():
    for name, factory in tops("ulx3s").items():
        lint(generate(factory, name))


def test_northpole_vmm_elaborates():
    """The 32 x 32 ``northpole`` VMM elaborates, with its ports at that size. (Converting
    it to Verilog takes minutes, most of them in Amaranth's netlist, while elaborating
    takes seconds: the generator's netlist is converted and linted at the ``sim`` and
    ``ulx3s`` sizes, and ``make lint`` converts this one.)"""
    vmm = tops("northpole")["vmm_northpole"]()
    Fragment.get(vmm, None)
    ports = {path: (flow, len(Value.cast(port)))
             for path, flow, port in ((".".join(map(str, p)), f, v)
                                      for p, f, v in _flat_ports(vmm))}
    # 32 x 32 bytes: a 256-bit activation vector, 32 int32 results per step; psums and
    # last travel with them.
    assert ports["steps.payload"] == ("in", 256 + 32 * 32 + 1)
    assert ports["results.payload"] == ("out", 32 * 32 + 1)


def _flat_ports(component):
    """``(path, "in"/"out", port value)`` of every port of a component (its signature's
    members, flipped ones as seen from outside)."""
    for path, member, port in component.signature.flatten(component):
        yield path, "in" if member.flow == wiring.In else "out", port


def test_int8_only_vmm_elaborates():
    lint(generate(VMM(2, 4, precisions=(8,)), "vmm_int8_only"))


@pytest.mark.parametrize("package", [rtl, sw, tb])
def test_all_names_exist(package):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith("_tests") or info.name.endswith(("_demo", "_bench")):
            continue  # cocotb modules import only inside a simulator
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name!r}"


def _imports(source, package):
    """Every module the Python ``source`` of a module in ``package`` imports, at any depth
    (relative imports resolved)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")[:len(package.split(".")) - max(node.level - 1, 0)]
            yield ".".join((parts if node.level else []) + [node.module or ""]).strip(".")


def test_import_walk():
    source = ("import numpy, tb.hdl\nfrom . import harness\nfrom .report import x\n"
              "def f():\n    from tb.bench import merge\n")
    assert list(_imports(source, "fpga")) == ["numpy", "tb.hdl", "fpga", "fpga.report",
                                              "tb.bench"]


def test_fpga_does_not_import_tb():
    """The FPGA flow stands without the testbenches: no fpga module imports tb, directly
    or through what it imports."""
    for path in sorted((ROOT / "fpga").glob("*.py")):
        for name in _imports(path.read_text(), "fpga"):
            assert name.split(".")[0] != "tb", f"fpga/{path.name} imports {name}"
    # Transitively: with tb unimportable, the FPGA modules still import and build blocks.
    code = ("import sys; sys.modules['tb'] = None\n"
            "import fpga.harness, fpga.report, fpga.ulx3s\n"
            "fpga.ulx3s.core_datapath(names=['vmm'])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
