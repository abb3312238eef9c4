"""Random programs (tb/core/programs.py) on the golden core and the cycle model: both
finish, or both deadlock, in the same cycle, with the same waiting threads and counters.
The RTL's side of the same check is tb/core/core_tests.py, test_random_programs."""

import os
import random

import numpy as np
import pytest

from rtl.spec.config import get_config
from rtl.spec.isa import NOC_PORTS
from sw.compiler_stub.asm import disassemble
from sw.golden.core import Core, Deadlock
from sw.golden.cycles import CycleModel

from ..core.programs import random_program

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
    word = core.mem_port_bits // 8
    bank = core.sram_bank_bytes
    data = nrng.integers(0, 256, size=core.sram_bytes, dtype=np.uint8)
    kinds = {"finish": 0, "deadlock": 0}
    for n in range(programs):
        prog = random_program(rng, core)
        flits = [rng.choice([0, 1, 2, 8]) for _ in NOC_PORTS]
        golden = Core(core)
        golden.write(bank, data[bank:].tobytes())   # weights, steps, vectors
        golden.write(0, prog.image())
        golden.noc_in = [[(data[k * word:(k + 1) * word].tobytes(), k) for k in range(f)]
                         for f in flits]
        got = outcome(golden.run, 0)
        expected = outcome(CycleModel(core).run, prog.threads, noc_in=flits)
        assert got == expected, (f"seed {seed}, {config}, program {n} (NoC flits {flits}): golden "
                                 f"{got}, cycle model {expected}\n{disassemble(prog)}")
        kinds[got[0]] += 1
    print(f"seed {seed}, {config}: {programs} programs, {kinds}")
    # Both outcomes are well represented.
    assert min(kinds.values()) > programs // 5, kinds
