"""ResNet-50's layer shapes on the ``northpole`` array through the array compiler's cycle
model (``make bench``: ``net.resnet50.northpole.*``; docs/architecture.md, 7.8).

Each part of :func:`tb.net.nets.resnet50_parts` (the stem, the sixteen bottleneck
blocks, the head) is compiled for the 16 x 16 array by
:func:`sw.compiler_stub.array.compile_array`, which runs it on the golden array (its
cycles do not depend on the data). An image's predicted cycles are the parts' cycles
one after another: each part's from its start on every core to its last core's end.
Not counted: writing each part's input into the cores' windows and its output moving
to the next part's cores (a part's output is the next one's input: on the machine, the
next block's first layer would read it from the cores that wrote it, as the layers
inside a part do), and the parts' preloads (every part's weights on the array at
once do not fit: each part is compiled alone, its weights preloaded)."""

import json
import math
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "bench" / "resnet50_northpole.json"


def _macs(node):
    from sw.compiler_stub.network import ConvNode
    if not isinstance(node, ConvNode):
        return 0
    oh, ow, oc = node.output.shape
    lay = node.layer
    per = lay.kernel ** 2 * (1 if lay.depthwise else lay.in_channels)
    return oh * ow * oc * per


def compile_part(item):
    """Compile one part; return its figures (or the compiler's refusal)."""
    from rtl.spec.config import get_config
    from sw.compiler_stub.array import compile_array
    from sw.compiler_stub.conv import CompileError
    name, net = item
    t = time.perf_counter()
    try:
        c = compile_array(get_config("northpole"), net, gather=False)
    except CompileError as e:
        return {"part": name, "error": str(e), "compile_s": time.perf_counter() - t}
    layers = []
    for node, r in zip(net.nodes, c.report, strict=True):
        layers.append({"layer": r.name, "kind": r.kind, "cycles": r.cycles,
                       "macs": _macs(node), "vmm_utilization": r.utilization,
                       "cores": sum(1 for b in r.bands if b),
                       "chain": max([p[1] for p in r.parts if p] or [1]),
                       "max_core_steps": max(r.core_steps)})
    return {"part": name, "cycles": c.cycles, "vmm_utilization": c.utilization,
            "layers": layers, "chains": c.chains, "compile_s": time.perf_counter() - t}


def run(processes=2, seed=0):
    """Compile every part (``processes`` at a time); write the figures to
    ``build/bench/resnet50_northpole.json`` and return the benchmark keys."""
    from rtl.spec.config import get_config
    from .nets import resnet50_parts
    cfg = get_config("northpole")
    parts = resnet50_parts(np.random.default_rng(seed))
    t = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        figures = pool.map(compile_part, parts, chunksize=1)
    elapsed = time.perf_counter() - t
    macs = sum(_macs(node) for _, net in parts for node in net.nodes)
    peak = cfg.cores * cfg.core.vmm_macs               # int8 MACs a cycle
    roofline = math.ceil(macs / peak)
    done = [f for f in figures if "error" not in f]
    keys = {"net.resnet50.northpole.parts": len(parts),
            "net.resnet50.northpole.parts_compiled": len(done),
            "net.resnet50.northpole.macs_per_image": macs,
            "net.resnet50.northpole.roofline_cycles_per_image": roofline,
            "net.resnet50.northpole.compile_s": elapsed}
    if len(done) == len(parts):
        cycles = sum(f["cycles"] for f in figures)
        keys["net.resnet50.northpole.predicted_cycles_per_image"] = cycles
        keys["net.resnet50.northpole.predicted_images_per_s_at_400mhz"] = 400e6 / cycles
        keys["net.resnet50.northpole.fraction_of_roofline"] = roofline / cycles
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"keys": keys, "parts": figures}, indent=1))
    return keys


def table(path=OUT):
    """The per-layer figures of the last run as a Markdown table."""
    data = json.loads(Path(path).read_text())
    lines = ["| part | layer | cores | chain | cycles | MACs | VMM busy |",
             "|---|---|---|---|---|---|---|"]
    for f in data["parts"]:
        if "error" in f:
            lines.append(f"| {f['part']} | does not compile: {f['error']} | | | | | |")
            continue
        for r in f["layers"]:
            lines.append(f"| {f['part']} | {r['layer']} | {r['cores']} | {r.get('chain', 1)} | "
                         f"{r['cycles']:,} | {r['macs']:,} | {r['vmm_utilization']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
    print(table())
    sys.exit(0)
