"""``python -m sw.runtime``: run a network on a backend of the runtime and print each
image's predicted class and cycles; the main use, the digits network on a board::

    python -m sw.runtime --backend fpga --port /dev/ttyUSB0 --baud 3000000 \\
        build/train/mixed.onnx --images 20

``MODEL`` is a QDQ ONNX model (``make train`` writes ``build/train/<config>.onnx``),
imported and compiled for the array of ``--config`` (default ``sim``), or for its cores
in the ``--array`` R x C, which runs on every backend. The ``board`` and ``fpga``
backends compile for the board's design instead: ``--config`` (default ``ulx3s``) in the
array ``make bitstream FPGA_TOP=board`` builds by default (:data:`fpga.board.BOARD_ARRAY`:
1 x 2 for ``ulx3s``), or in ``--array`` (the bitstream's ``--array``); or a
single-core model saved by ``make sim`` (``build/sim/<config>.npz``), which runs on the
``golden`` and ``rtl`` backends only. The inputs are ``--input X.npy`` (integers of the
network's input shape, or a stack of them), or else the held-out digits of ``make train``
(``--data``, default ``build/train/digits_test.npz``), quantized as ``make sim`` does
and printed with their labels.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .runtime import BACKENDS, FPGA_RUN_TIMEOUT, FPGA_TIMEOUT, Runtime
from .serial_link import MAX_BAUD

DATA = Path("build/train/digits_test.npz")


def _parser():
    from rtl.spec.config import CONFIGS
    ap = argparse.ArgumentParser(
        prog="python -m sw.runtime", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a network on a backend of the runtime (golden, rtl, board: the "
                    "board top in simulation,\nor fpga: a board over its serial port) and "
                    "print each image's predicted class "
                    "and cycles.",
        epilog="example: python -m sw.runtime --backend fpga --port /dev/ttyUSB0 "
               "--baud 3000000 \\\n             build/train/mixed.onnx --images 20")
    ap.add_argument("model", metavar="MODEL", type=Path,
                    help="a QDQ ONNX model (.onnx, compiled for the array of --config) or "
                         "a single-core compiled model (.npz, golden and rtl only)")
    ap.add_argument("--backend", choices=BACKENDS, default="golden",
                    help="default: golden")
    ap.add_argument("--port", help="fpga: the board's serial port (/dev/ttyUSB0) or a "
                                   "pyserial URL")
    ap.add_argument("--baud", type=int, help="fpga: the board's UART's rate (3000000); "
                                             "board: the simulated line's (default 3000000)")
    ap.add_argument("--timeout", type=float,
                    help=f"fpga: seconds for an answer frame (default {FPGA_TIMEOUT:g})")
    ap.add_argument("--run-timeout", type=float,
                    help=f"fpga: seconds for a run (default {FPGA_RUN_TIMEOUT:g})")
    ap.add_argument("--config", choices=sorted(n for n in CONFIGS if n != "northpole"),
                    help="the array an .onnx model is compiled for (default: sim; board "
                         "and fpga: ulx3s)")
    ap.add_argument("--array", metavar="RxC",
                    help="an .onnx model: compiled for --config's cores in an array of R "
                         "rows and C columns (the board's --array; default: the config's "
                         "own, or for board and fpga the board's, 1x2 for ulx3s)")
    ap.add_argument("--input", type=Path, metavar="X.npy",
                    help="input integers (H, W, C), or a stack of them (N, H, W, C)")
    ap.add_argument("--data", type=Path, default=None,
                    help=f"held-out images and labels, when no --input (default {DATA})")
    ap.add_argument("--images", type=int,
                    help="run the first N images (default: every image of --input, 10 of "
                         "--data)")
    return ap


def _model(ap, args):
    """The model to run: an array-compiled network, or a single-core model."""
    suffix = args.model.suffix.lower()
    if not args.model.is_file():
        ap.error(f"MODEL {args.model} is not a file")
    if suffix == ".npz":
        for flag in ("config", "array"):
            if getattr(args, flag) is not None:
                ap.error(f"--{flag} is for an .onnx model: an .npz model is compiled "
                         f"already")
        if args.backend in ("board", "fpga"):
            ap.error(f"MODEL {args.model} is a single-core model: the {args.backend} "
                     f"backend runs "
                     f"a network compiled for an array; give the .onnx model instead")
        from sw.compiler_stub.net import load_model
        try:
            return load_model(args.model)
        except ValueError as e:
            ap.error(f"MODEL {e}")
    if suffix != ".onnx":
        ap.error(f"MODEL must be an .onnx or .npz file, not {args.model}")
    from rtl.spec.config import get_config, parse_array
    from sw.compiler_stub.array import compile_array
    from sw.compiler_stub.conv import CompileError
    from sw.compiler_stub.onnx_import import OnnxImportError, import_onnx
    shape = None
    if args.array is not None:
        try:
            shape = parse_array(args.array)
        except ValueError as e:
            ap.error(str(e))
    if args.backend in ("board", "fpga"):
        # the board's design: make bitstream FPGA_TOP=board's configuration and array
        from fpga.board import board_config
        try:
            config = board_config(args.config or "ulx3s", shape)
        except ValueError as e:
            ap.error(f"--array {args.array}: {e}")
    else:
        config = get_config(args.config or "sim")
        if shape is not None:
            try:
                config = config.resized(*shape)
            except ValueError as e:
                ap.error(f"--array {args.array}: {e}")
    print(f"{args.model} compiled for the {config.name} array ({config.rows} x "
          f"{config.cols} cores)", flush=True)
    try:
        return compile_array(config, import_onnx(args.model))
    except (OnnxImportError, CompileError) as e:
        ap.exit(2, f"{ap.prog}: error: MODEL {args.model} does not compile for the "
                   f"{config.name} array ({config.rows} x {config.cols}): {e}\n")


def _inputs(ap, args, tensor):
    """``(xs, labels)``: the input integers (N, H, W, C) and the labels (or None)."""
    lo = -(1 << (tensor.bits - 1)) if tensor.signed else 0
    hi = (1 << (tensor.bits - 1)) - 1 if tensor.signed else (1 << tensor.bits) - 1
    if args.input is not None:
        if args.data is not None:
            ap.error("give --input or --data, not both")
        try:
            xs = np.load(args.input, allow_pickle=False)
        except (OSError, ValueError) as e:
            ap.error(f"--input {args.input}: {e}")
        if not np.issubdtype(xs.dtype, np.integer):
            ap.error(f"--input {args.input} must hold integers, not {xs.dtype}")
        if xs.shape == tensor.shape:
            xs = xs[None]
        if xs.shape[1:] != tensor.shape:
            ap.error(f"--input {args.input} has shape {xs.shape}: the input {tensor.name} "
                     f"is {tensor.shape} (or a stack of them)")
        if xs.size and (xs.min() < lo or xs.max() > hi):
            ap.error(f"--input {args.input} holds {xs.min()} to {xs.max()}: the input "
                     f"{tensor.name} takes {lo} to {hi}")
        return xs, None
    path = args.data or DATA
    if not path.is_file():
        ap.error(f"--data {path} is not a file (make train writes it), and no --input")
    with np.load(path, allow_pickle=False) as data:
        x, y = data["x"], data["y"]
    if x.ndim != 4 or x.shape[2:] + x.shape[1:2] != tensor.shape:
        ap.error(f"--data {path} holds images {x.shape[1:]} (C, H, W): the input "
                 f"{tensor.name} is {tensor.shape} (H, W, C)")
    # round(x / scale), ties to even, saturated (QuantizeLinear; tb/sim.py's)
    q = np.clip(np.rint(np.asarray(x, dtype=np.float64) / tensor.scale), lo, hi)
    return q.astype(np.int64).transpose(0, 2, 3, 1), y


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    fpga = {"port": args.port, "baud": args.baud, "timeout": args.timeout,
            "run_timeout": args.run_timeout}
    for name, value in fpga.items():
        flag = "--" + name.replace("_", "-")
        if args.backend == "board" and name == "baud":
            continue   # the simulated line's rate
        if args.backend != "fpga" and value is not None:
            ap.error(f"{flag} is for --backend fpga only")
        if args.backend == "fpga" and value is None and name in ("port", "baud"):
            ap.error(f"--backend fpga needs {flag}")
    if args.baud is not None and not 1 <= args.baud <= MAX_BAUD:
        ap.error(f"--baud must be from 1 to {MAX_BAUD}, not {args.baud}")
    for flag, value in (("--timeout", args.timeout), ("--run-timeout", args.run_timeout)):
        if value is not None and not (np.isfinite(value) and value > 0):
            ap.error(f"{flag} must be a positive number of seconds, not {value}")
    if args.images is not None and args.images < 1:
        ap.error(f"--images must be at least 1, not {args.images}")
    model = _model(ap, args)
    xs, labels = _inputs(ap, args, model.input)
    n = args.images if args.images is not None else \
        len(xs) if labels is None else min(10, len(xs))
    if n > len(xs):
        ap.error(f"--images {n}: there are {len(xs)} images")
    try:
        with Runtime(model, args.backend,
                     **{k: v for k, v in fpga.items() if v is not None}) as rt:
            right, start = 0, time.perf_counter()
            for i in range(n):
                cls = int(np.argmax(rt.infer(xs[i]).ravel()))
                label = "" if labels is None else f" (label {int(labels[i])})"
                right += labels is not None and cls == labels[i]
                print(f"image {i}: class {cls}{label}, {rt.cycles} cycles", flush=True)
            seconds = time.perf_counter() - start
    except RuntimeError as e:   # the link's errors (HostLinkError), a run's
        print(f"{ap.prog}: error: {e}", file=sys.stderr)
        return 1
    score = "" if labels is None else f", {right} right ({100 * right / n:.1f}%)"
    print(f"{n} images on {args.backend}{score}, {seconds / n:.3f} s an image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
