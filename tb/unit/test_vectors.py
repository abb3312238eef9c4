"""Driving a unit with a user's own vectors (:mod:`tb.vectors`): the vector unit built in a
folder of the test's choosing, outputs against the golden model and known answers."""

import numpy as np
import pytest

from rtl.spec.codes import VcuOp

from ..vectors import compare, main, run

LANES = 8  # the sim configuration's vector unit

ONE, TWO, THREE, HALF = 0x3C00, 0x4000, 0x4200, 0x3800

#: Four instructions with answers known without any model: 1 + 1, 2 * 3, 1 * 2 + 0.5 and
#: -(1 + ulp), each in every lane.
VECTORS = {
    "op": np.array([VcuOp.ADD, VcuOp.MUL, VcuOp.FMA, VcuOp.NEG]),
    "a":  np.repeat([[ONE], [TWO], [ONE], [0x3C01]], LANES, axis=1),
    "b":  np.repeat([[ONE], [THREE], [TWO], [0]], LANES, axis=1),
    "c":  np.repeat([[0], [0], [HALF], [0]], LANES, axis=1),
    "expected_result": np.repeat([[TWO], [0x4600], [0x4100], [0xBC01]], LANES, axis=1),
}


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    """One build folder, outside build/, for every run of this module: the unit is
    built once."""
    return tmp_path_factory.mktemp("vcu_user")


def test_vcu_vectors_agree(build_dir):
    report = run("vcu", VECTORS, build_dir=build_dir)
    assert report.ok, report
    assert report.unit == "vcu_sim" and report.rows == 4
    assert report.outputs["rtl_result"].tolist() == VECTORS["expected_result"].tolist()
    assert report.outputs["golden_result"].tolist() == VECTORS["expected_result"].tolist()
    # Everything went to the chosen folder: the Verilog, Verilator's build, the outputs.
    for name in ("vcu_sim.v", "build.log", "vcu_sim", "vectors/outputs.npz"):
        assert (build_dir / name).exists(), name
    assert report.path == build_dir / "vectors" / "outputs.npz"


def test_vcu_vectors_mismatch_reported(build_dir, tmp_path, capsys):
    """A wrong expected output is reported at its vector, and the command fails."""
    wrong = dict(VECTORS, expected_result=VECTORS["expected_result"].copy())
    wrong["expected_result"][2, 5] = 0x4101
    path = tmp_path / "wrong.npz"
    np.savez(path, **wrong)
    assert main(["vcu", str(path), "--build-dir", str(build_dir)]) == 1
    text = capsys.readouterr().out
    assert "vcu_sim: 4 outputs compared, 1 mismatches" in text
    assert "vector 2, result: RTL [4100 4100 4100 4100 4100 4100 4100 4100], expected " \
        "[4100 4100 4100 4100 4100 4101 4100 4100]" in text


def test_compare():
    """Each RTL field against the golden model and the expected outputs, row by row."""
    outputs = {"rtl_y": np.array([[1, 2], [3, 4], [5, 6]]),
               "golden_y": np.array([[1, 2], [3, 5], [5, 6]]),
               "rtl_cycles": np.array(7)}
    mismatches = compare(outputs, {"expected_y": [[1, 2], [3, 5], [0, 6]]})
    assert [(m.index, m.field, m.against) for m in mismatches] == \
        [(1, "y", "golden"), (1, "y", "expected"), (2, "y", "expected")]
    assert mismatches[0].rtl.tolist() == [3, 4] and mismatches[0].reference.tolist() == [3, 5]
    with pytest.raises(ValueError, match=r"expected_y has shape \(2, 2\), the RTL's output "
                                         r"\(3, 2\)"):
        compare(outputs, {"expected_y": [[1, 2], [3, 4]]})


def test_unknown_unit():
    with pytest.raises(ValueError, match="design must be one of"):
        run("noc", VECTORS)
