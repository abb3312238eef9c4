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


def main():
    results = merge_results(bench_vmm())
    results = merge_results(bench_fp16())
    results = merge_results(bench_core())
    print(json.dumps(results, indent=2, sort_keys=True))
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
