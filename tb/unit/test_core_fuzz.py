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


#: Programs per run of the MNoC weight test.
WEIGHT_PROGRAMS = int(os.environ.get("FUZZ_WEIGHT_PROGRAMS", "400"))


def weight_program(rng, core):
    """A random layer whose weight rows come partly from MEM and partly from the MNoC:
    returns ``(text, streams, steps)``: T0's WSTREAMs (``(noc, rows, base)`` each, int8
    rows, signed activations), T1's one-step tiles (``steps`` of them, partial sums 0,
    PSB entries 0, 1, ...) and maybe T6 sending weight puts of its own."""
    word, bank, rows = core.mem_port_bits // 8, core.sram_bank_bytes, core.vmm_rows
    streams, lines = [], [".thread 0"]
    for _ in range(rng.randint(1, 4)):
        noc, n = rng.random() < 0.7, rows * rng.choice([1, 1, 2, 3]) // rng.choice([1, 2])
        base = bank + word * rng.randrange(64)
        streams.append((noc, n, base))
        lines += [f"AGBASE g=0 base={base}", f"AGDIM g=0 d=0 count={n} stride={word}",
                  f"WSTREAM s=0 prec=0 act_signed=1 noc={int(noc)}"]
    steps = sum(n for _, n, _ in streams) // rows
    lines += ["END", ".thread 1", f"AGBASE g=0 base={2 * bank}",
              f"AGDIM g=0 d=0 count={max(steps, 1)} stride={word}",
              f"AGDIM g=1 d=0 count={max(steps, 1)} stride=1"]
    lines += [f"SSTREAM s=0 d=1 zero={steps} period=1"] if steps else []
    lines.append("END")
    if rng.random() < 0.5:
        count = rng.randint(1, 6)
        lines += [".thread 6", f"AGBASE g=0 base={bank // 2}",
                  f"AGDIM g=0 d=0 count={count} stride={word}", f"AGBASE g=1 base={3 * bank}",
                  f"AGDIM g=1 d=0 count={count} stride={word}",
                  f"SEND s=0 d=1 x0=0 x1={rng.randrange(2)} y0=0 y1=1 weight=1", "END"]
    return "\n".join(lines) + "\n", streams, steps


def test_mnoc_weights_golden_equals_cycle_model(seed):
    """WSTREAMs with ``noc`` take their rows from weight puts arriving at the MNoC, with
    random gaps, among ordinary puts on the same port (behind a weight put they wait:
    head of line) and with random output stalls; sometimes a weight put is missing, and
    the core deadlocks. The golden core and the cycle model agree on the outcome, its
    cycle, the flits sent and what is left in the input FIFOs; a finished run's PSB holds
    each tile (rows from MEM and from the puts, in order) times its step's activations,
    computed here with NumPy."""
    from sw.compiler_stub.asm import assemble
    from sw.golden.cycles import Put
    from sw.golden.noc import Flit
    core = get_config("sim").core
    word, bank, rows, cols = (core.mem_port_bits // 8, core.sram_bank_bytes, core.vmm_rows,
                              core.vmm_cols)
    rng = random.Random(seed)
    kinds = {"finish": 0, "deadlock": 0}
    for n in range(WEIGHT_PROGRAMS):
        text, streams, steps = weight_program(rng, core)
        prog = assemble(text, core)
        need = sum(k for noc, k, _ in streams if noc)
        weights = [rng.randbytes(word) for _ in range(need)]
        if weights and rng.random() < 0.2:
            weights.pop()   # one short: T0 waits for ever
        flits = [Flit(Put(0, w, False, 0, False, True), 0, 0, 0, 0, 1) for w in weights]
        for _ in range(rng.choice([0, 0, 2, 6])):   # ordinary puts on the MNoC too
            flits.insert(rng.randrange(len(flits) + 1),
                         Flit(Put(3 * bank + word * rng.randrange(64), rng.randbytes(word),
                                  False, 0), 0, 0, 0, 0, 1))
        # From a cycle of the load on, with gaps: a long one leaves the core quiet, which
        # is a deadlock (docs/architecture.md 7.5: a core alone cannot know a flit comes).
        cycles, cycle = [], rng.randrange(30)
        for _ in flits:
            cycle += rng.choice([0, 0, 0, 1, 2, 3, 6])
            cycles.append(cycle)
        arrivals = [[], [], list(zip(cycles, flits, strict=True)), []]
        out_ready, _ = stalls(rng, rng.choice([0, 0.25, 0.5]))
        data = rng.randbytes(core.sram_bytes - bank)
        golden = Core(core, rows=2, cols=2)
        golden.write(bank, data)
        golden.write(0, prog.image())
        got = outcome(golden.run, 0, arrivals=arrivals, out_ready=out_ready)
        model = CycleModel(core, rows=2, cols=2)
        expected = outcome(model.run, prog.threads, arrivals=arrivals, out_ready=out_ready)
        context = f"seed {seed}, program {n}: golden {got}, cycle model {expected}\n{text}"
        assert got == expected, context
        assert [[(c, f._replace(payload=f.payload._replace(data=None))) for c, f in q]
                for q in golden.sent] == model.sent, context
        assert [len(q) for q in golden.inbox] == [len(q) for q in model.inbox], context
        assert all(f.payload.weight for _, f in golden.sent[2]), context
        kinds[got[0]] += 1
        if got[0] != "finish":
            continue
        # The rows in T0's order: a MEM word or the next weight put's data.
        mem = np.frombuffer(data, dtype=np.uint8)
        taken = iter(weights)
        order = []
        for noc, k, base in streams:
            for i in range(k):
                word_bytes = next(taken) if noc else \
                    mem[base - bank + i * word:base - bank + (i + 1) * word].tobytes()
                order.append(np.frombuffer(word_bytes[:cols], dtype=np.int8))
        for s in range(steps):
            tile = np.stack(order[rows * s:rows * (s + 1)]).astype(np.int64)
            act = mem[bank + s * word:bank + s * word + cols].view(np.int8).astype(np.int64)
            assert np.array_equal(golden.psb[s], tile @ act), context
    print(f"seed {seed}: {WEIGHT_PROGRAMS} programs, {kinds}")
    assert min(kinds.values()) > WEIGHT_PROGRAMS // 20, kinds
