"""``make sim``: the digits network end to end on the RTL under Verilator.

Trains (or loads from ``build/train``) the digits network at float, int8, int4 and mixed
8/4/2 precision (:mod:`sw.qat`), imports each quantized ONNX QDQ model
(:mod:`sw.compiler_stub.onnx_import`), compiles it for one core (:mod:`sw.compiler_stub.net`),
runs every held-out image through the core's RTL (:class:`sw.runtime.runtime.Runtime`,
backend ``rtl``) and through the golden model, and reports accuracy beside the float
model and onnxruntime, RTL/golden agreement, cycles and utilization. Writes
``build/sim/summary.json``, ``build/sim/utilization.png`` and the compiled models
``build/sim/<config>.npz``.

Usage: ``python -m tb.sim [--config NAME] [--limit N] [--clock-mhz F]``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from rtl.spec.config import CONFIGS, DEFAULT_CONFIG, get_config

TRAIN_DIR = Path("build/train")
OUT_DIR = Path("build/sim")
QUANTIZED = ("int8", "int4", "mixed")
CLOCK_MHZ = 50.0   # the FPGA prototype's clock (docs/fpga.md)


def _progress(label, done, total, start):
    rate = done / max(time.perf_counter() - start, 1e-9)
    width = 30
    bar = "#" * (width * done // total) + "." * (width - width * done // total)
    end = "\n" if done == total else ""
    print(f"\r  {label:<6} [{bar}] {done}/{total} images, {rate:.1f}/s", end=end, flush=True)


def quantize_input(x, tensor):
    """Held-out images (N, 1, 8, 8) of real values to the network's input integers
    (N, 8, 8, 1): ``round(x / scale)``, ties to even, saturated, as QuantizeLinear."""
    lo = -(1 << (tensor.bits - 1)) if tensor.signed else 0
    hi = (1 << (tensor.bits - 1)) - 1 if tensor.signed else (1 << tensor.bits) - 1
    q = np.clip(np.rint(np.asarray(x, dtype=np.float64) / tensor.scale), lo, hi)
    return q.astype(np.int64).transpose(0, 2, 3, 1)


def _onnxruntime(path, x):
    """The model's outputs on ``x`` under onnxruntime (the graph as written: no graph
    optimization, which would fuse away the last requantization), or None when
    onnxruntime cannot run its types."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return sess.run(None, {name: np.asarray(x, dtype=np.float32)})[0].reshape(len(x), -1)
    except Exception as e:   # noqa: BLE001 - an unsupported type is reported, not fatal
        print(f"  onnxruntime cannot run {path.name}: {str(e).splitlines()[0][:120]}")
        return None


def _chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [r["name"] for r in results[QUANTIZED[0]]["layers"]]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    w = 0.8 / len(results)
    for i, (cfg, res) in enumerate(results.items()):
        util = [r["utilization"] for r in res["layers"]]
        ax.bar(np.arange(len(names)) + (i - (len(results) - 1) / 2) * w, util, w, label=cfg)
    for i, r in enumerate(results[QUANTIZED[0]]["layers"]):
        if r["vmm_steps"] == 0:
            ax.text(i, 0.03, "no VMM\n(T2 alone)", ha="center", fontsize=8)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("VMM utilization (steps / cycles)")
    ax.set_ylim(0, 1)
    ax.set_title("digits network, per layer, sim core (cycle model = RTL)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_flow(config=DEFAULT_CONFIG, limit=None, clock_mhz=CLOCK_MHZ, verbose=True):
    """Train or load, compile, run the held-out set on the RTL; return the summary."""
    from sw.compiler_stub.array import compile_array, machine_image
    from sw.compiler_stub.net import compile_network
    from sw.compiler_stub.network import run_reference
    from sw.compiler_stub.onnx_import import import_onnx
    from sw.qat.__main__ import main as train
    from sw.runtime.runtime import Runtime
    from sw.runtime.verilated import VerilatedCore, build

    say = print if verbose else (lambda *a, **k: None)
    core = get_config(config).core
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    say("[1/5] training the digits network (sw.qat; cached in build/train)")
    t = time.perf_counter()
    if train(["--out", str(TRAIN_DIR)]) != 0:
        raise RuntimeError("training failed")
    say(f"      {time.perf_counter() - t:.1f} s")
    data = np.load(TRAIN_DIR / "digits_test.npz")
    x, y = data["x"], data["y"]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    n = len(x)
    ort_float = _onnxruntime(TRAIN_DIR / "float.onnx", x)
    float_acc = float((ort_float.argmax(1) == y).mean())

    say(f"[2/5] importing and compiling for the {config} core")
    models = {}
    for cfg in QUANTIZED:
        net = import_onnx(TRAIN_DIR / f"{cfg}.onnx", name=f"digits-{cfg}")
        model = compile_network(core, net)
        model.save(OUT_DIR / f"{cfg}.npz")
        models[cfg] = model
        say(f"  {cfg}: {model.cycles} cycles an image, {model.memory_used()} bytes of MEM")
        say("    " + model.summary().replace("\n", "\n    "))

    say(f"[3/5] building the {config} core under Verilator (reused when unchanged)")
    t = time.perf_counter()
    build(config)
    say(f"      {time.perf_counter() - t:.1f} s")

    say(f"[4/5] {n} held-out images x {len(QUANTIZED)} configurations: RTL and golden model")
    results, rtl_logits = {}, {}
    rtl_cycles = rtl_seconds = free_seconds = 0
    free_cycles = 300_000
    idle = VerilatedCore(config)
    for cfg, model in models.items():
        # The ceiling, measured between the configurations' runs so that a change in the
        # machine's load weighs on both figures alike.
        t = time.perf_counter()
        idle.free_run(free_cycles)
        free_seconds += time.perf_counter() - t
        net = model.network
        q = quantize_input(x, net.input)
        golden = np.stack([run_reference(net, q[i])[net.output.name].ravel()
                           for i in range(n)])
        rtl = np.zeros_like(golden)
        cycles, total = set(), 0
        with Runtime(model, "rtl") as rt:
            start = time.perf_counter()
            for i in range(n):
                rt.write_tensor(q[i])
                c = rt.run()
                cycles.add(c)
                total += c
                rtl[i] = rt.read_tensor().ravel()
                if verbose and (i % 25 == 24 or i == n - 1):
                    _progress(cfg, i + 1, n, start)
            seconds = time.perf_counter() - start
        rtl_cycles += total
        rtl_seconds += seconds
        rtl_logits[cfg] = rtl
        ort = _onnxruntime(TRAIN_DIR / f"{cfg}.onnx", x)
        pred = rtl.argmax(1)
        results[cfg] = {
            "accuracy": float((pred == y).mean()),
            "golden_accuracy": float((golden.argmax(1) == y).mean()),
            "onnxruntime_accuracy": None if ort is None else float((ort.argmax(1) == y).mean()),
            "onnxruntime_agreement": None if ort is None else float((ort.argmax(1) == pred).mean()),
            "rtl_golden_mismatches": int((rtl != golden).sum()),
            "images_with_mismatch": int((rtl != golden).any(axis=1).sum()),
            "cycles_per_image": model.cycles,
            "rtl_cycles_seen": sorted(cycles),   # each run's: the cycle model's figure
            "rtl_cycle_model_agree": cycles == {model.cycles},
            "vmm_utilization": model.vmm_steps / model.cycles,
            "images_per_s_at_clock": clock_mhz * 1e6 / model.cycles,
            "rtl_images_per_s": n / seconds,
            "memory_bytes": model.memory_used(),
            "layers": [dict(r.__dict__) for r in model.report],
        }

    idle.close()
    free_run = len(models) * free_cycles / free_seconds

    array = get_config(config)
    say(f"[5/5] the {config} machine under Verilator (host link, framebuffer, "
        f"{array.rows} x {array.cols} array; sw/compiler_stub/array.py): {n} images x "
        f"{len(QUANTIZED)} configurations written, run and read through the host link")
    for cfg, model in models.items():
        net = model.network
        compiled = compile_array(array, net)
        image = machine_image(compiled)
        q = quantize_input(x, net.input)
        rtl = rtl_logits[cfg]
        mismatches, cycles = 0, set()
        t = time.perf_counter()
        with Runtime(compiled, "rtl") as rt:
            start = time.perf_counter()
            for i in range(n):
                mismatches += int((rt.infer(q[i]).ravel() != rtl[i]).sum())
                cycles.add(rt.cycles)
                if verbose and (i % 25 == 24 or i == n - 1):
                    _progress(cfg, i + 1, n, start)
        steps = [sum(s for _, s in r) for r in compiled.runs]
        results[cfg]["array"] = {
            "images": n, "cycles_per_image": compiled.cycles,
            "vmm_utilization": compiled.utilization,
            "core_utilization": [st / compiled.cycles for st in steps],
            "speedup": model.cycles / compiled.cycles,
            "machine_cycles_per_image": image.infer_cycles,
            "machine_cycles_seen": sorted(cycles),
            "machine_cycle_model_agree": cycles == {image.infer_cycles},
            "logit_mismatches_vs_core_rtl": mismatches,
            "seconds": time.perf_counter() - t,
            "layers": [{"name": r.name, "cycles": r.cycles, "utilization": r.utilization,
                        "bands": [list(b) if b else None for b in r.bands],
                        "chunks": [list(c) if c else None for c in r.chans]}
                       for r in compiled.report]}
        say("    " + cfg + ": " + compiled.summary().replace("\n", "\n    "))

    summary = {
        "config": config,
        "images": n,
        "clock_mhz": clock_mhz,
        "float_accuracy": float_acc,
        "configs": results,
        "net.digits.float.accuracy": float_acc,
        **{f"net.digits.{cfg}.accuracy": results[cfg]["accuracy"] for cfg in QUANTIZED},
        "net.digits.rtl_golden_mismatches": sum(r["rtl_golden_mismatches"]
                                                for r in results.values()),
        "net.digits.array.cycles_per_image": results["int8"]["array"]["cycles_per_image"],
        "net.digits.array.vmm_utilization": results["int8"]["array"]["vmm_utilization"],
        "net.digits.array.rtl_golden_mismatches": sum(
            r["array"]["logit_mismatches_vs_core_rtl"] for r in results.values()),
        "net.digits.array.machine_cycles_per_image":
            results["int8"]["array"]["machine_cycles_per_image"],
        "net.digits.array.machine_cycle_model_agree": all(
            r["array"]["machine_cycle_model_agree"] for r in results.values()),
        "net.digits.onnxruntime_agreement": results["int8"]["onnxruntime_agreement"],
        "net.digits.cycles_per_image": results["int8"]["cycles_per_image"],
        "net.digits.vmm_utilization": results["int8"]["vmm_utilization"],
        "net.digits.rtl_images_per_s": sum(r["rtl_images_per_s"] for r in results.values())
        / len(results),
        "sim.rtl_cycles_per_s": rtl_cycles / rtl_seconds,
        "sim.free_run_cycles_per_s": free_run,
    }
    (OUT_DIR / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _chart(results, OUT_DIR / "utilization.png")
    return summary


def report(s):
    """The summary as the short text ``make sim`` prints."""
    clock = f"img/s@{s['clock_mhz']:g}MHz"
    lines = [f"digits network, {s['images']} held-out images, {s['config']} core "
             f"(RTL under Verilator)",
             f"{'config':<7} {'accuracy':>8} {'vs float':>8} {'onnxrt':>7} {'agree':>6} "
             f"{'mismatch':>8} {'cycles':>7} {'util':>5} {clock:>12} {'RTL img/s':>9}",
             f"{'float':<7} {s['float_accuracy']:>8.4f}"]
    for cfg, r in s["configs"].items():
        ort = "-" if r["onnxruntime_accuracy"] is None else f"{r['onnxruntime_accuracy']:.4f}"
        agree = "-" if r["onnxruntime_agreement"] is None else f"{r['onnxruntime_agreement']:.3f}"
        delta = 100 * (r["accuracy"] - s["float_accuracy"])
        lines.append(f"{cfg:<7} {r['accuracy']:>8.4f} {delta:>+7.2f}p {ort:>7} {agree:>6} "
                     f"{r['rtl_golden_mismatches']:>8} "
                     f"{r['cycles_per_image']:>7} {r['vmm_utilization']:>5.3f} "
                     f"{r['images_per_s_at_clock']:>12.0f} {r['rtl_images_per_s']:>9.1f}")
    lines.append("per layer (int8): " + ", ".join(
        f"{r['name']} {r['cycles']} cycles {r['utilization']:.3f}"
        for r in s["configs"]["int8"]["layers"]))
    lines.append(f"RTL backend {s['sim.rtl_cycles_per_s'] / 1e3:.0f}k cycles/s, free-running "
                 f"model {s['sim.free_run_cycles_per_s'] / 1e3:.0f}k cycles/s "
                 f"({s['sim.rtl_cycles_per_s'] / s['sim.free_run_cycles_per_s']:.2f})")
    lines.append(f"RTL vs golden model: {s['net.digits.rtl_golden_mismatches']} logits differ "
                 f"over every image of every configuration")
    a = s["configs"]["int8"]["array"]
    lines.append(f"{s['config']} machine ({a['images']} images through the host link): " +
                 ", ".join(f"{cfg} {r['array']['cycles_per_image']} cycles "
                           f"{r['array']['vmm_utilization']:.3f} ({r['array']['speedup']:.2f}x "
                           f"the core)" for cfg, r in s["configs"].items()) +
                 "; int8 VMM busy per core " +
                 " ".join(f"{u:.2f}" for u in a["core_utilization"]))
    lines.append(f"machine vs golden model: {s['net.digits.array.rtl_golden_mismatches']} "
                 f"logits differ; a run (input in, network, output out) "
                 f"{a['machine_cycles_per_image']} cycles, as predicted: "
                 f"{s['net.digits.array.machine_cycle_model_agree']}")
    lines.append("wrote build/sim/summary.json, build/sim/utilization.png")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, choices=sorted(CONFIGS))
    parser.add_argument("--limit", type=int, default=None,
                        help="run only the first N held-out images")
    parser.add_argument("--clock-mhz", type=float, default=CLOCK_MHZ)
    args = parser.parse_args(argv)
    from sw.compiler_stub.conv import CompileError
    if args.config == "northpole":
        parser.error("the northpole config is elaborated, never simulated; use sim or ulx3s")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    t = time.perf_counter()
    try:
        s = run_flow(args.config, args.limit, args.clock_mhz)
    except CompileError as e:   # (the ulx3s core's 4 KiB banks hold no digits conv2 weights)
        parser.exit(2, f"make sim: the digits network does not compile for the "
                       f"{args.config} core: {e}\n")
    print(report(s))
    print(f"make sim took {time.perf_counter() - t:.0f} s")
    return 0 if s["net.digits.rtl_golden_mismatches"] == 0 and \
        s["net.digits.array.rtl_golden_mismatches"] == 0 and \
        s["net.digits.array.machine_cycle_model_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
