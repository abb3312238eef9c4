"""Run your own vectors through a unit's RTL and its golden model, and report mismatches.

    python -m tb.vectors UNIT VECTORS.npz [--config sim] [--build-dir DIR] [--show N]

builds ``UNIT`` (``vmm``, ``vcu``, ``afu`` or ``core``, of :data:`rtl.designs.DESIGNS`) of
the configuration under Verilator in ``DIR`` (by default ``build/sim/<unit>_<config>``),
streams the vectors through it and through the golden model, and lists every output that
differs. Both sets of outputs are written to ``DIR/vectors/outputs.npz`` as
``rtl_<field>`` and ``golden_<field>``. The exit status is 0 when the RTL agrees with the
golden model, and with any expected outputs given, on every vector.

From Python, :func:`run` does the same and returns a :class:`Report`::

    from tb.vectors import run
    report = run("vcu", {"op": [0], "a": [[0x3C00] * 8], "b": [[0x3C00] * 8]},
                 build_dir="/tmp/vcu")
    assert report.ok, report

The vectors are a dict of arrays (or an ``.npz`` file holding them), one row per vector.
Values are the hardware's encodings: binary16 bit patterns, opcodes of
:class:`sw.golden.vcu.VcuOp` and :class:`sw.golden.afu.AfuOp`, weights and activations
packed as by :func:`sw.golden.packing.pack`. ``L`` is the unit's lane count in the
configuration; optional fields default to 0 (``out_signed``: true).

``vcu``
    ``op`` (n,); ``a``, ``b``, ``c`` (n, L) (``b``, ``c`` optional); optional, per
    instruction: ``scalar``, ``bcast``, ``shift``, ``fmt``, ``out_signed`` (n,), ``mask``
    (n, L). Outputs: ``result`` (n, L), ``mask`` (n, L).
``afu``
    ``op`` (n,); ``x`` (n, L); optional ``p0``, ``p1`` (n,). Output: ``y`` (n, L).
``vmm``
    ``tile_data`` (t, rows, cols) uint8 packed weights, ``tile_precision`` (t,) (0 int8,
    1 int4, 2 int2, 3 reserved), ``tile_act_signed`` (t,); ``step_data`` (n, cols) uint8
    packed activations, ``step_psum`` (n, rows) int32 partial sums, ``step_last`` (n,): the
    last step each tile serves. Outputs: ``sums`` (n, rows), modulo 2**32 as the hardware
    adds, and ``last`` (n,).
``core``
    ``mem`` (uint8, up to the size of MEM): an image written from address 0 (programs,
    as :mod:`sw.compiler_stub.asm` assembles them, and data); optional ``entry``, the
    program start address. Outputs: ``mem``, the whole MEM after the run (a row per
    byte), and ``cycles`` (the RTL's count, not compared).

Any output may also be given as ``expected_<field>`` (e.g. ``expected_result``): the RTL's
output is then compared with it as well.
"""

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Mismatch", "Report", "run", "compare", "drive", "main"]


@dataclass(frozen=True)
class Mismatch:
    """One output of the RTL that differs from its reference.

    Attributes:
        index: The vector (row) the output belongs to.
        field: The output field's name.
        against: ``"golden"`` (the golden model) or ``"expected"`` (the user's).
        rtl: The RTL's output.
        reference: What it was compared with.
    """

    index: int
    field: str
    against: str
    rtl: np.ndarray
    reference: np.ndarray

    def __str__(self):
        hexadecimal = np.asarray(self.rtl).dtype == np.uint16  # binary16 bit patterns
        return (f"vector {self.index}, {self.field}: RTL {_show(self.rtl, hexadecimal)}, "
                f"{self.against} {_show(self.reference, hexadecimal)}")


def _show(value, hexadecimal):
    value = np.asarray(value)
    if hexadecimal:
        return "[" + " ".join(f"{int(v):04x}" for v in value.ravel()) + "]"
    return str(value.tolist())


@dataclass
class Report:
    """The outcome of :func:`run`.

    Attributes:
        unit: The design's module name (e.g. ``vcu_sim``).
        rows: How many output rows were compared (a row per vector; for the core, a row
            per byte of MEM).
        outputs: ``rtl_<field>`` and ``golden_<field>`` arrays.
        mismatches: Every :class:`Mismatch`, by vector.
        path: The file the outputs are saved in.
    """

    unit: str
    rows: int
    outputs: dict
    mismatches: list = field(default_factory=list)
    path: Path | None = None

    @property
    def ok(self):
        return not self.mismatches

    def format(self, show=10):
        """A summary line, then the first ``show`` mismatches."""
        lines = [f"{self.unit}: {self.rows} outputs compared, {len(self.mismatches)} "
                 f"mismatches"]
        lines += [f"  {m}" for m in self.mismatches[:show]]
        if len(self.mismatches) > show:
            lines.append(f"  ... {len(self.mismatches) - show} more")
        if self.path is not None:
            lines.append(f"outputs: {self.path}")
        return "\n".join(lines)

    __str__ = format


def compare(outputs, vectors):
    """Compare each ``rtl_<field>`` of ``outputs`` with ``golden_<field>`` and with the
    user's ``expected_<field>`` of ``vectors`` where given, row by row; return the
    mismatches, by vector."""
    mismatches = []
    for key in sorted(outputs):
        if not key.startswith("rtl_"):
            continue
        name, rtl = key[len("rtl_"):], np.asarray(outputs[key])
        for against, reference in (("golden", outputs.get(f"golden_{name}")),
                                   ("expected", vectors.get(f"expected_{name}"))):
            if reference is None:
                continue
            reference = np.asarray(reference)
            if reference.shape != rtl.shape:
                raise ValueError(f"{against}_{name} has shape {reference.shape}, the RTL's "
                                 f"output {rtl.shape}")
            differ = (rtl != reference).reshape(len(rtl), -1).any(axis=1)
            mismatches += [Mismatch(int(i), name, against, rtl[i], reference[i])
                           for i in np.flatnonzero(differ)]
    return sorted(mismatches, key=lambda m: m.index)


def _load(vectors):
    if isinstance(vectors, (str, os.PathLike)):
        with np.load(vectors) as f:
            return dict(f)
    return {name: np.asarray(value) for name, value in vectors.items()}


def run(unit, vectors, *, config="sim", build_dir=None):
    """Run ``vectors`` (a dict of arrays, or an ``.npz`` path) through ``unit`` of the
    named configuration, built in ``build_dir``; return a :class:`Report`.

    Raises:
        ValueError: For an unknown unit or an output of the wrong shape.
        AssertionError: If the simulation itself fails (a timeout, a result too many or
            too few, a golden model error); see the log.
    """
    from .hdl import design
    vectors = _load(vectors)
    dut = design(unit, config, build_dir=build_dir)
    work = dut.build_dir / "vectors"
    work.mkdir(parents=True, exist_ok=True)
    given, out = work / "vectors.npz", work / "outputs.npz"
    np.savez(given, **vectors)
    out.unlink(missing_ok=True)
    dut.run(f"tb.{unit}.{unit}_tests", "test_vectors",
            extra_env={"VECTORS": str(given), "VECTORS_OUT": str(out)})
    with np.load(out) as f:
        outputs = dict(f)
    rows = min((len(v) for k, v in outputs.items() if k.startswith("golden_")), default=0)
    return Report(dut.name, rows, outputs, compare(outputs, vectors), out)


async def drive(env):
    """The simulator's side of :func:`run`, called by each unit's cocotb ``test_vectors``:
    start ``env``, run the vectors of ``$VECTORS`` through it and save the outputs to
    ``$VECTORS_OUT``."""
    vectors = _load(os.environ["VECTORS"])
    await env.start()
    outputs = await env.run_vectors(vectors)
    arrays = {f"rtl_{name}": rtl for name, (rtl, _) in outputs.items()}
    arrays.update({f"golden_{name}": golden for name, (_, golden) in outputs.items()
                   if golden is not None})
    np.savez(os.environ["VECTORS_OUT"], **arrays)


def main(argv=None):
    from rtl.spec.config import CONFIGS
    from rtl.designs import DESIGNS
    parser = argparse.ArgumentParser(prog="python -m tb.vectors", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # The NoC designs take packets, not vectors (tb/noc); the host link takes frames
    # (tb/hostlink).
    parser.add_argument("unit", choices=[name for name in DESIGNS
                                         if not name.startswith("noc_") and name != "hostlink"])
    parser.add_argument("vectors", type=Path, help=".npz file of the vectors")
    parser.add_argument("--config", default="sim", choices=sorted(CONFIGS))
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where to build and run (default: build/sim/<unit>_<config>)")
    parser.add_argument("--show", type=int, default=10, help="mismatches to list")
    args = parser.parse_args(argv)
    report = run(args.unit, args.vectors, config=args.config, build_dir=args.build_dir)
    print(report.format(args.show))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
