# amaranth: UnusedElaboratable=no
"""Generators: parameter checks, elaboration of every config, lint, module exports."""

import importlib
import pkgutil

import pytest
from amaranth.back import verilog

import rtl
import sw
import tb
from rtl.spec.config import get_config
from rtl.core.afu import ActivationUnit
from rtl.core.vcu import VectorUnit
from rtl.vmm import VMM

from ..hdl import generate, lint
from ..tops import tops


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": 3, "cols": 8},                    r"rows must be a positive power of two"),
    ({"rows": 4, "cols": 0},                    r"cols must be a positive power of two"),
    ({"rows": 4, "cols": 8, "precisions": (16,)}, r"precisions must be a non-empty subset"),
])
def test_vmm_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VMM(**kwargs)


@pytest.mark.parametrize("cls, lanes, message", [
    (VectorUnit, 2, r"lanes must be a power of two of at least 4, not 2"),
    (VectorUnit, 12, r"lanes must be a power of two of at least 4, not 12"),
    (ActivationUnit, 0, r"lanes must be a positive power of two, not 0"),
    (ActivationUnit, 3, r"lanes must be a positive power of two, not 3"),
])
def test_fp16_units_reject(cls, lanes, message):
    with pytest.raises(ValueError, match=message):
        cls(lanes)


@pytest.mark.parametrize("config", ["sim", "ulx3s"])
def test_lint_clean(config):
    for name, factory in tops(config).items():
        lint(generate(factory, name))


def test_northpole_vmm_elaborates():
    core = get_config("northpole").core
    text = verilog.convert(VMM.from_config(core), name="vmm_northpole", emit_src=False)
    # 32 x 32 bytes: a 256-bit activation vector, 32 int32 results per step.
    assert "input [256:0] steps__payload" not in text  # psums and last travel with it
    assert f"input [{256 + 32 * 32 + 1 - 1}:0] steps__payload" in text
    assert f"output [{32 * 32 + 1 - 1}:0] results__payload" in text
    assert text.count("active") > 32


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
