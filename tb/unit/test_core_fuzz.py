"""Random programs (tb/core/programs.py) on the golden core and the cycle model: both
finish, or both deadlock, in the same cycle, with the same waiting threads and counters.
The RTL's side of the same check is tb/core/core_tests.py, test_random_programs."""

import os
import random

import numpy as np
import pytest

from rtl.spec.config import get_config
from sw.compiler_stub.asm import disassemble
from sw.golden.core import Core, Deadlock
from sw.golden.cycles import CycleModel, Psum

from ..core.programs import random_program, random_puts, stalls

#: Programs per run (CI: at least 10,000).
PROGRAMS = int(os.environ.get("FUZZ_PROGRAMS", "10000"))


def outcome(run, *args, **kwargs):
    """``("finish", cycles, steps)`` or ``("deadlock", cycle, threads, counters)`` of
    ``run(*args, **kwargs)``."""
    try:
        return ("finish",) + tuple(run(*args, **kwargs))
    except Deadlock as exc:
        return ("deadlock", exc.cycle, exc.threads, exc.counters)


@pytest.mark.parametrize("config, share", [("sim", 1), ("ulx3s", 5)])
def test_golden_core_equals_cycle_model(config, share, seed):
    """``PROGRAMS`` programs on the sim core, a fifth of that on the ulx3s core."""
    core = get_config(config).core
    programs = PROGRAMS // share
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    bank = core.sram_bank_bytes
    data = nrng.integers(0, 256, size=core.sram_bytes, dtype=np.uint8)
    kinds = {"finish": 0, "deadlock": 0}
    flits = 0
    for n in range(programs):
        prog = random_program(rng, core)
        arrivals = random_puts(rng, core)
        out_ready, _ = stalls(rng, rng.choice([0, 0.25, 0.5]))
        golden = Core(core)
        golden.write(bank, data[bank:].tobytes())   # weights, steps, vectors
        golden.write(0, prog.image())
        got = outcome(golden.run, 0, arrivals=arrivals, out_ready=out_ready)
        model = CycleModel(core)
        expected = outcome(model.run, prog.threads, arrivals=arrivals, out_ready=out_ready)
        context = (f"seed {seed}, {config}, program {n}: golden {got}, cycle model "
                   f"{expected}\n{disassemble(prog)}\narrivals {arrivals}")
        assert got == expected, context
        if got[0] == "finish":   # the same flits out, in the same cycles
            assert [[(c, f._replace(sums=None) if isinstance(f, Psum) else
                      f._replace(payload=f.payload._replace(data=None))) for c, f in q]
                    for q in golden.sent] == model.sent, context
            assert [len(q) for q in golden.inbox] == [len(q) for q in model.inbox], context
        kinds[got[0]] += 1
        flits += sum(map(len, golden.sent))
    print(f"seed {seed}, {config}: {programs} programs, {kinds}, {flits} flits sent")
    # Both outcomes are well represented.
    assert min(kinds.values()) > programs // 5, kinds
