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

from rtl.config import get_config
from rtl.vmm import VMM

from .hdl import BUILD, Design

RESULTS = BUILD / "bench" / "results.json"


def merge(metrics, path=RESULTS):
    """Merge ``metrics`` into the results file; return the whole result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(path.read_text()) if path.exists() else {}
    results.update(metrics)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results


def bench_vmm(config="sim", seed=1):
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
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "vmm.json"
        design.run("tb.vmm.vmm_bench", seed=seed,
                   extra_env={"VMM_CONFIG": config, "BENCH_OUT": str(out)})
        metrics = json.loads(out.read_text())
    metrics["sim.verilator_build_s"] = build_s
    return metrics


def main():
    results = merge(bench_vmm())
    print(json.dumps(results, indent=2, sort_keys=True))
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
