"""pytest entry of the host link: build the test top (:mod:`tb.hostlink.top`) once and run
its cocotb tests (:mod:`tb.hostlink.hostlink_tests`): the protocol test with and without
stalls, and the fault test, whose counts go to ``build/hostlink/fault.json``."""

import json

from ..hdl import BUILD, Design
from .top import PARAMS, HostLinkTop

FAULT_JSON = BUILD / "hostlink" / "fault.json"

_design = Design("hostlink_top", lambda: HostLinkTop(**PARAMS))


def test_protocol(seed):
    print(f"seed {seed} (rerun with --seed {seed} or SEED={seed})")
    _design.run("tb.hostlink.hostlink_tests", "test_protocol", seed=seed)


def test_faults(seed):
    print(f"seed {seed} (rerun with --seed {seed} or SEED={seed})")
    FAULT_JSON.unlink(missing_ok=True)
    _design.run("tb.hostlink.hostlink_tests", "test_faults", seed=seed,
                extra_env={"HOSTLINK_FAULT_JSON": str(FAULT_JSON)})
    counts = json.loads(FAULT_JSON.read_text())
    print(f"fault_frames {counts['fault_frames']}, bad_writes {counts['bad_writes']}")
    assert counts["frames"] >= 10_000
    assert counts["fault_frames"] > 0
    assert counts["bad_writes"] == 0
