"""``make bench``: run the benchmarks and merge their metrics into build/bench/results.json.

The file is one JSON object mapping metric names to numbers; each benchmark adds or
replaces its own keys and leaves the others. Cycle figures come from the RTL under
Verilator and are exact; the ``sim.*`` figures are wall-clock measurements of this
machine.
"""

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rtl.designs import RESULTS, merge_results
from rtl.spec.config import get_config

from .fp16_reference import mismatches
from .hdl import BUILD, design


def _run_bench(unit, module):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        unit.run(module, seed=1, extra_env={"BENCH_OUT": str(out)})
        return json.loads(out.read_text())


def bench_vmm(config="sim"):
    # A cold build, with no object cache, in a folder of its own, is what a fresh machine
    # pays.
    vmm = design("vmm", config, build_dir=BUILD / "sim" / f"vmm_{config}_bench")
    shutil.rmtree(vmm.build_dir, ignore_errors=True)
    os.environ["CCACHE_DISABLE"] = "1"
    try:
        start = time.monotonic()
        vmm.build()
        build_s = time.monotonic() - start
    finally:
        del os.environ["CCACHE_DISABLE"]
    metrics = _run_bench(vmm, "tb.vmm.vmm_bench")
    metrics["sim.verilator_build_s"] = build_s
    return metrics


def bench_fp16(config="sim"):
    metrics = _run_bench(design("vcu", config), "tb.vcu.vcu_bench")
    metrics.update(_run_bench(design("afu", config), "tb.afu.afu_bench"))
    counts = mismatches(np.random.default_rng(1), random_sets=100000)
    metrics["fp16.golden_vs_softfloat_mismatches"] = sum(counts.values())
    metrics["fp16.golden_vs_softfloat_operations"] = len(counts)
    return metrics


def bench_core(config="sim"):
    from .core.core_bench import predicted
    metrics = _run_bench(design("core", config), "tb.core.core_bench")
    metrics.update(predicted("northpole"))
    return metrics


def bench_runtime(config="sim", rounds=4, free_cycles=500_000, runs=5):
    """The core's RTL in the C++ harness (:mod:`sw.runtime.verilated`) on one layer, wall
    clock (the network's figures are :func:`bench_net`'s):

    - ``sim.layer.free_run_cycles_per_s``: the idle core, the clock toggled in the C++
      loop (the ceiling);
    - ``sim.layer.rtl_cycles_per_s``: ``core_bench``'s ``conv3x3_int8`` layer through
      :meth:`~sw.runtime.verilated.VerilatedCore.run`, preload, input and output included
      (every write and read call), as the core's cycles over the wall time.

    The two alternate for ``rounds`` rounds (``free_cycles`` idle cycles, then ``runs``
    layer runs), so that a change in the machine's load weighs on both alike. The layer's
    output is checked against the reference and its cycles against the cycle model."""
    from sw.compiler_stub.conv import compile_conv2d
    from sw.golden.cycles import predict
    from sw.golden.layers import conv2d_reference
    from sw.runtime.verilated import VerilatedCore
    from .core.core_bench import LAYERS
    from .core.stimulus import random_tensors
    layer, h, w = LAYERS["conv3x3_int8"]
    x, wts, scale, bias = random_tensors(np.random.default_rng(1), layer, h, w)
    with VerilatedCore(config) as core:
        compiled = compile_conv2d(get_config(config).core, layer, h, w, wts, scale, bias)
        image = [*compiled.preload, (compiled.input.base, compiled.input.pack(x))]
        free_s = rtl_s = 0.0
        rtl_cycles = 0
        for _ in range(rounds):
            start = time.perf_counter()
            core.free_run(free_cycles)
            free_s += time.perf_counter() - start
            start = time.perf_counter()
            for _ in range(runs):
                for addr, data in image:
                    core.write(addr, data)
                rtl_cycles += core.run(compiled.entry)
                out = core.read(compiled.output.base, compiled.output.size)
            rtl_s += time.perf_counter() - start
        got = compiled.output.unpack(out)
    assert np.array_equal(got, conv2d_reference(layer, x, wts, scale, bias)[1])
    predicted, _ = predict(get_config(config).core, compiled.programs)
    assert rtl_cycles == rounds * runs * predicted, (rtl_cycles, predicted)
    free = rounds * free_cycles / free_s
    rtl = rtl_cycles / rtl_s
    return {"sim.layer.free_run_cycles_per_s": free, "sim.layer.rtl_cycles_per_s": rtl,
            "sim.layer.rtl_to_free_run": rtl / free}


def bench_net(config="sim"):
    """``make sim``'s flow (:func:`tb.sim.run_flow`): the digits network's accuracies, its
    RTL/golden mismatches over every held-out image, cycles, utilization, and the RTL
    backend's speed running it (``sim.rtl_cycles_per_s``) beside the free-running model
    (``sim.free_run_cycles_per_s``), measured between the runs."""
    from .sim import run_flow
    s = run_flow(config, verbose=False)
    keys = {k: v for k, v in s.items() if k.startswith(("net.", "sim."))}
    keys["sim.rtl_to_free_run"] = keys["sim.rtl_cycles_per_s"] / keys["sim.free_run_cycles_per_s"]
    for cfg, r in s["configs"].items():
        keys[f"net.digits.{cfg}.cycles_per_image"] = r["cycles_per_image"]
        keys[f"net.digits.{cfg}.vmm_utilization"] = r["vmm_utilization"]
    return keys


def bench_array():
    """The array keys. From the compiler for arrays (sw/compiler_stub/array.py), whose
    cycles are the golden array's (equal to the RTL array's: tb/array ``test_network``):
    ``array.sim.layer_vmm_utilization`` and ``array.4x4.layer_vmm_utilization`` (a 3x3
    convolution, 16 to 16 channels, int8, on a 16 x 16 input, spread over the `sim`
    2 x 2 array and a 4 x 4 array of `sim` cores: VMM steps of every core / (cores x
    the layer's cycles)), ``net.digits.array.cycles_per_image`` (the trained int8 digits
    network on the `sim` 2 x 2 array). From the RTL: ``array.cycle_model_error``, the
    largest difference between the array's busy cycles under Verilator and the
    compiler's prediction over ``test_network``'s three networks (seed 1);
    ``array.sim.verilator_build_s``, a cold build of the sim machine's C++ harness
    (sw/runtime/machine.py: the core and the machine converted to Verilog, Verilator, the
    C++ compiler; ccache may shorten the last)."""
    from rtl.spec.config import ArrayConfig
    from sw.compiler_stub.array import compile_array
    from sw.compiler_stub.onnx_import import import_onnx

    from .array.test_array import array_design
    from .net.nets import conv_stack
    sim = get_config("sim")
    conv = conv_stack(np.random.default_rng(1), 1, size=16)
    keys = {}
    for key, cfg in (("sim", sim), ("4x4", ArrayConfig(name="a4x4", rows=4, cols=4,
                                                      core=sim.core))):
        # the layer alone: its output left in the cores (gather=False), as a middle
        # layer's is before the next layer reads it
        keys[f"array.{key}.layer_vmm_utilization"] = \
            compile_array(cfg, conv, gather=False).report[0].utilization
    digits = compile_array(sim, import_onnx(str(RESULTS.parent.parent / "train" / "int8.onnx")))
    keys["net.digits.array.cycles_per_image"] = digits.cycles
    keys["net.digits.array.vmm_utilization"] = digits.utilization
    from sw.runtime.machine import build_machine
    with tempfile.TemporaryDirectory() as tmp:   # a cold build of the sim machine
        t = time.perf_counter()
        build_machine("sim", build_dir=tmp)
        keys["array.sim.verilator_build_s"] = time.perf_counter() - t
    out = RESULTS.parent / "array_network.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    array_design("sim").run("tb.array.array_tests", "test_network", seed=1,
                            extra_env={"ARRAY_NETWORK_JSON": str(out)})
    figures = json.loads(out.read_text())
    keys["array.cycle_model_error"] = max(abs(f["rtl"] - f["predicted"]) for f in figures)
    return keys


def bench_northpole_array(directory=None):
    """``array.northpole.elaborate_s`` and ``array.northpole.verilog_mb``: the 16 x 16
    ``northpole`` machine (:class:`rtl.top.machine.Machine`: host link, framebuffer, the
    array with its meshes and PNoC links) elaborated to Verilog with each distinct module
    once: its core converted once (module ``core_northpole``) and instantiated 256 times,
    both files written under ``build/array_northpole``. The time is the two conversions',
    the size the two files'; also each apart (``core_s``, ``core_mb``, ``machine_s``,
    ``machine_mb``) and the instances of the core counted in the machine's Verilog.

    Two limits of the tools shape this: the array alone cannot be a top (its 256 cores'
    host ports exceed the 65,536 input bits Amaranth's netlist allows a top), and the
    configuration's 32 MiB framebuffer as one ``lib.memory`` Memory took the conversion
    past this machine's 23 GB; the framebuffer here is 64 KiB (the engine, the link and
    the array are the configuration's)."""
    import re
    from dataclasses import replace

    from amaranth.back import verilog

    from rtl.designs import DESIGNS, module_name
    from rtl.top.machine import Machine
    directory = Path(directory or RESULTS.parent.parent / "array_northpole")
    directory.mkdir(parents=True, exist_ok=True)
    cfg = replace(get_config("northpole"), framebuffer_bytes=65536)
    core = module_name("core", "northpole")
    keys = {}
    for part, name, factory in (("core", core, lambda: DESIGNS["core"].build(cfg)),
                                ("machine", "machine_northpole",
                                 lambda: Machine(cfg, core_module=core))):
        t = time.perf_counter()
        text = verilog.convert(factory(), name=name, emit_src=False)
        keys[f"array.northpole.{part}_s"] = time.perf_counter() - t
        path = directory / f"{name}.v"
        path.write_text(text)
        keys[f"array.northpole.{part}_mb"] = path.stat().st_size / 1e6
        if part == "machine":
            keys["array.northpole.core_instances"] = len(re.findall(rf"^\s*{core}\s", text,
                                                                    re.M))
        del text
    keys["array.northpole.elaborate_s"] = keys["array.northpole.core_s"] + \
        keys["array.northpole.machine_s"]
    keys["array.northpole.verilog_mb"] = keys["array.northpole.core_mb"] + \
        keys["array.northpole.machine_mb"]
    return keys


def bench_resnet50_northpole():
    """``net.resnet50.northpole.*``: ResNet-50's layer shapes compiled part by part for
    the 16 x 16 ``northpole`` array, cycles from the array compiler's cycle model (the
    golden array), against the roofline (:mod:`tb.net.resnet50`; the per-layer table in
    ``build/bench/resnet50_northpole.json``)."""
    from .net.resnet50 import run
    return run()


def bench_noc():
    """The NoC keys (:mod:`tb.noc.noc_bench`): saturation of the 4 x 4 and 8 x 8 meshes,
    the zero-load latency's difference from the hop-count formula, and the load curve
    ``build/bench/noc_load.png``, all from the cycle-exact golden mesh (the RTL equals it
    cycle for cycle on the shorter runs of ``tb/noc``)."""
    from .noc.noc_bench import run_bench
    return run_bench(RESULTS.parent)


def bench_pnoc():
    """``noc.pnoc.flits_per_link_cycle`` (:mod:`tb.array.array_bench`): two reductions
    passing 256 partial-sum vectors each over a PNoC link (east and west at once), from
    the golden array (which the RTL array equals cycle for cycle: tb/array)."""
    from .array.array_bench import run_bench
    return run_bench()


def bench_hostlink():
    """``hostlink.fault_frames`` and ``hostlink.bad_writes`` (must be 0): the host link's
    fault test (:mod:`tb.hostlink.hostlink_tests`, seed 1) under Verilator: 10,000 frames,
    bytes corrupted, dropped and inserted at 1e-3 per byte each, and the bad frames of
    every kind, against the golden model; ``bad_writes`` counts the memory bytes that differ
    from the acknowledged writes after it."""
    from .hostlink.test_hostlink import FAULT_JSON, _design
    FAULT_JSON.unlink(missing_ok=True)
    _design.run("tb.hostlink.hostlink_tests", "test_faults", seed=1,
                extra_env={"HOSTLINK_FAULT_JSON": str(FAULT_JSON)})
    counts = json.loads(FAULT_JSON.read_text())
    return {"hostlink.fault_frames": counts["fault_frames"],
            "hostlink.frames": counts["frames"],
            "hostlink.bad_writes": counts["bad_writes"]}


def bench_machine_faults():
    """``hostlink.machine_fault_frames`` and ``hostlink.machine_bad_writes`` (must be 0):
    the same fault traffic through the whole Verilated sim machine, with runs of real
    command lists among it (:mod:`tb.runtime.test_machine_faults`, seed 1, 10,000
    frames)."""
    from .runtime.test_machine_faults import run_faults
    counts = run_faults(1, 10_000)
    return {"hostlink.machine_fault_frames": counts["fault_frames"],
            "hostlink.machine_frames": counts["frames"],
            "hostlink.machine_bad_writes": counts["bad_writes"]}


def bench_router_fpga(config="ulx3s"):
    """``noc.router.lut4``: the LUT4s of one router of the configuration on the ECP5, from
    Yosys's ``synth_ecp5`` of the FPGA flow's build of ``noc_router`` alone, its hierarchy
    kept (its own cells, none of the harness's; LUT RAM, carries and flip-flops apart:
    build/fpga/noc_router_<config>/report.json). The build (about 45 s with place and
    route) is redone only when the router's Verilog or the tools change
    (:func:`fpga.ulx3s.block_build`)."""
    from fpga.ulx3s import block_build
    summary = block_build("noc_router", config)
    return {"noc.router.lut4": summary["synthesis"]["noc_router"]["LUT4"]}


def main():
    results = merge_results(bench_noc())
    results = merge_results(bench_pnoc())
    results = merge_results(bench_router_fpga())
    results = merge_results(bench_hostlink())
    results = merge_results(bench_machine_faults())
    results = merge_results(bench_vmm())
    results = merge_results(bench_fp16())
    results = merge_results(bench_core())
    results = merge_results(bench_runtime())
    results = merge_results(bench_net())
    results = merge_results(bench_array())
    results = merge_results(bench_northpole_array())
    results = merge_results(bench_resnet50_northpole())
    print(json.dumps(results, indent=2, sort_keys=True))
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
