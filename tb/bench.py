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

from rtl.spec.config import get_config
from rtl.core.afu import ActivationUnit
from rtl.core.core import Core
from rtl.core.vcu import VectorUnit
from rtl.vmm import VMM

from .fp16_reference import mismatches
from .hdl import BUILD, Design

RESULTS = BUILD / "bench" / "results.json"


def merge(metrics, path=RESULTS):
    """Merge ``metrics`` into the results file; return the whole result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.exists() else {}
    results.update(metrics)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results


def _run_bench(design, module, env):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        design.run(module, seed=1, extra_env=dict(env, BENCH_OUT=str(out)))
        return json.loads(out.read_text())


def bench_vmm(config="sim"):
    core = get_config(config).core
    # A cold build, with no object cache, is what a fresh machine pays.
    design = Design(f"vmm_{config}_bench", lambda: VMM.from_config(core))
    shutil.rmtree(design.build_dir, ignore_errors=True)
    os.environ["CCACHE_DISABLE"] = "1"
    try:
        start = time.monotonic()
        design.build()
        build_s = time.monotonic() - start
    finally:
        del os.environ["CCACHE_DISABLE"]
    metrics = _run_bench(design, "tb.vmm.vmm_bench", {"VMM_CONFIG": config})
    metrics["sim.verilator_build_s"] = build_s
    return metrics


def bench_fp16(config="sim"):
    core = get_config(config).core
    metrics = _run_bench(Design(f"vcu_{config}", lambda: VectorUnit.from_config(core)),
                         "tb.vcu.vcu_bench", {"VCU_CONFIG": config})
    metrics.update(_run_bench(Design(f"afu_{config}", lambda: ActivationUnit.from_config(core)),
                              "tb.afu.afu_bench", {"AFU_CONFIG": config}))
    counts = mismatches(np.random.default_rng(1), random_sets=100000)
    metrics["fp16.golden_vs_softfloat_mismatches"] = sum(counts.values())
    metrics["fp16.golden_vs_softfloat_operations"] = len(counts)
    return metrics


def bench_core(config="sim"):
    from .core.core_bench import predicted
    metrics = _run_bench(Design(f"core_{config}", lambda: Core(get_config(config).core)),
                         "tb.core.core_bench", {"CORE_CONFIG": config})
    metrics.update(predicted("northpole"))
    return metrics


def main():
    results = merge(bench_vmm())
    results = merge(bench_fp16())
    results = merge(bench_core())
    print(json.dumps(results, indent=2, sort_keys=True))
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
