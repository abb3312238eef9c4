"""``python -m sw.qat`` (``make train``): train the digits network in every configuration
and export it.

Trains the float network, then fine-tunes a copy per quantized configuration with LSQ,
and writes into the output folder (default ``build/train/``):

- ``float.onnx`` and ``<config>.onnx`` (QDQ) for each quantized configuration;
- ``digits_test.npz``: the held-out split, ``x`` (N, 1, 8, 8) float32 pixel / 16 and
  ``y`` int64 labels, so later steps evaluate on exactly the same images;
- ``predictions.npz``: per configuration the integer logits of the machine's numerics
  (``<config>_machine``), of the QAT forward (``<config>_qat``) and of onnxruntime
  (``<config>_onnxruntime``, when it runs the model); ``float_logits``; the labels ``y``;
- ``summary.json``: accuracies, agreement figures, seeds, split sizes, epochs, steps,
  wall times.

A second run with unchanged sources and parameters returns at once: the summary holds a
hash of both (``--force`` retrains).
"""

import argparse
import hashlib
import json
import pathlib
import sys
import time

import numpy as np

from .data import digits_split
from .model import CONFIGS, LAYERS, DigitsNet, get_config, integer_forward
from .train import accuracy, predict, train

#: Every source the results depend on: this package and the machine's binary16 numerics.
_ROOT = pathlib.Path(__file__).resolve().parents[2]
_SOURCES = sorted(pathlib.Path(__file__).resolve().parent.glob("*.py")) + [
    _ROOT / "sw" / "golden" / "fp16.py", _ROOT / "rtl" / "spec" / "binary16.py"]

DEFAULTS = {
    "channels": 16, "seed": 0, "split_seed": 0, "test_size": 0.25,
    "float_epochs": 20, "float_lr": 3e-3, "weight_decay": 1e-4,
    "qat_epochs": 15, "qat_lr": 5e-4, "step_lr_scale": 3.0,
    "batch": 32, "calibration_images": 512,
}


def cache_key(params):
    h = hashlib.sha256()
    for path in _SOURCES:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()


def _parse(argv):
    ap = argparse.ArgumentParser(prog="python -m sw.qat", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="build/train", help="output folder (build/train)")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="comma-separated configurations (float is always trained: the "
                         "others start from it); default: all")
    ap.add_argument("--force", action="store_true", help="retrain even if up to date")
    for k, v in DEFAULTS.items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    try:
        for n in names:
            get_config(n)
    except ValueError as e:
        ap.error(str(e))
    names = ["float"] + [n for n in CONFIGS if n in names and n != "float"]
    params = {k: getattr(args, k) for k in DEFAULTS}
    if params["channels"] < 1 or params["float_epochs"] < 1 or params["qat_epochs"] < 0:
        ap.error("channels and float epochs must be positive, qat epochs not negative")
    params["configs"] = names
    return args, params


def _onnxruntime(model, x_te, y_te, step, reference, optimize):
    """onnxruntime's accuracy and its logits' agreement with ``reference`` (integers)."""
    from .export import run_onnxruntime
    try:
        logits = np.rint(run_onnxruntime(model, x_te, optimize=optimize) / step)
    except Exception as e:  # an unsupported type or pattern: reported, not fatal
        return None, {"error": str(e).strip().splitlines()[0][:300]}
    return logits.astype(np.int64), {
        "accuracy": accuracy(logits.argmax(1), y_te),
        "logits_equal_qat": float(np.mean(logits == reference)),
        "max_lsb_difference_qat": int(np.abs(logits - reference).max())}


def main(argv=None):
    args, params = _parse(argv)
    out = pathlib.Path(args.out)
    key = cache_key(params)
    summary_path = out / "summary.json"
    files = ["digits_test.npz", "predictions.npz"] + [f"{n}.onnx" for n in params["configs"]]
    if not args.force and summary_path.exists() and all((out / f).exists() for f in files):
        try:
            old = json.loads(summary_path.read_text())
        except ValueError:
            old = {}
        if old.get("key") == key:
            print(f"[train] {out} is up to date (same sources and parameters)")
            return 0

    import onnx

    from .export import export_float, export_quantized, run_onnxruntime
    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    x_tr, y_tr, x_te, y_te = digits_split(params["test_size"], params["split_seed"])
    np.savez(out / "digits_test.npz", x=x_te.astype(np.float32), y=y_te)
    print(f"[train] digits: {len(x_tr)} training, {len(x_te)} held-out images "
          f"(stratified, seed {params['split_seed']})", flush=True)

    def log_every(name, total):
        def log(msg):
            epoch = int(msg.split()[1].split("/")[0])
            if epoch == total or epoch % 5 == 0:
                print(f"[train] {name}: {msg}", flush=True)
        return log

    summary = {"key": key, "params": params,
               "data": {"train": len(x_tr), "test": len(x_te), "stratified": True,
                        "split_seed": params["split_seed"], "test_size": params["test_size"]},
               "configs": {}}
    preds = {"y": y_te}

    t0 = time.perf_counter()
    net = DigitsNet(params["channels"], seed=params["seed"])
    train(net, x_tr, y_tr, params["float_epochs"], params["float_lr"], params["seed"],
          batch=params["batch"], weight_decay=params["weight_decay"],
          log=log_every("float", params["float_epochs"]))
    logits = predict(net, x_te)
    preds["float_logits"] = logits.astype(np.float32)
    model = export_float(net)
    onnx.save(model, out / "float.onnx")
    ort_logits = run_onnxruntime(model, x_te)
    entry = {"accuracy": accuracy(logits.argmax(1), y_te),
             "onnxruntime": {"accuracy": accuracy(ort_logits.argmax(1), y_te),
                             "max_abs_difference": float(np.abs(ort_logits - logits).max())},
             "epochs": params["float_epochs"], "seed": params["seed"], "opset": 13,
             "time_s": round(time.perf_counter() - t0, 2)}
    summary["configs"]["float"] = entry
    print(f"[train] float: held-out accuracy {entry['accuracy']:.4f} "
          f"(onnxruntime {entry['onnxruntime']['accuracy']:.4f})", flush=True)

    for i, name in enumerate(params["configs"][1:]):
        t0 = time.perf_counter()
        cfg = get_config(name)
        q = net.copy()
        q.quantize_config(cfg, x_tr[:params["calibration_images"]])
        calibrated = accuracy(predict(q, x_te).argmax(1), y_te)
        seed = params["seed"] + 1 + i
        lr_scale = {k: params["step_lr_scale"] for k in q.quantizer_names()}
        if params["qat_epochs"]:
            train(q, x_tr, y_tr, params["qat_epochs"], params["qat_lr"], seed,
                  batch=params["batch"], lr_scale=lr_scale,
                  log=log_every(name, params["qat_epochs"]))
        qnet = q.freeze()
        step = qnet.layers[-1].out_step
        qat_logits = np.rint(predict(q, x_te) / step).astype(np.int64)
        machine = integer_forward(qnet, x_te)["logits"]
        model = export_quantized(qnet)
        onnx.save(model, out / f"{name}.onnx")
        ort_logits, ort = _onnxruntime(model, x_te, y_te, step, qat_logits, False)
        _, ort_opt = _onnxruntime(model, x_te, y_te, step, qat_logits, True)
        preds[f"{name}_machine"] = machine
        preds[f"{name}_qat"] = qat_logits
        if ort_logits is not None:
            preds[f"{name}_onnxruntime"] = ort_logits
            ort["predictions_agree_machine"] = float(np.mean(
                ort_logits.argmax(1) == machine.argmax(1)))
        entry = {
            "bits": {k: {"bits": cfg.bits(k), "out_bits": cfg.out_bits(k)} for k in LAYERS},
            "accuracy": accuracy(machine.argmax(1), y_te),
            "accuracy_qat_forward": accuracy(qat_logits.argmax(1), y_te),
            "accuracy_after_calibration": calibrated,
            "machine_logits_equal_qat": float(np.mean(machine == qat_logits)),
            "onnxruntime": ort, "onnxruntime_optimized": ort_opt,
            "opset": model.opset_import[0].version,
            "input_step": qnet.input_step,
            "layers": {layer.name: {"out_step": layer.out_step, "shift": layer.shift,
                                    "res_shift": layer.res_shift} for layer in qnet.layers},
            "epochs": params["qat_epochs"], "seed": seed,
            "time_s": round(time.perf_counter() - t0, 2)}
        summary["configs"][name] = entry
        ort_text = (f"{ort['accuracy']:.4f}" if "accuracy" in ort
                    else "not run: " + ort["error"][:80])
        print(f"[train] {name}: held-out accuracy {entry['accuracy']:.4f} in the machine's "
              f"numerics ({entry['accuracy_qat_forward']:.4f} QAT forward, "
              f"{calibrated:.4f} after calibration; onnxruntime {ort_text})", flush=True)

    np.savez(out / "predictions.npz", **preds)
    summary["wall_time_s"] = round(time.perf_counter() - t_start, 2)
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"[train] done in {summary['wall_time_s']:.1f} s: {out}/", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
