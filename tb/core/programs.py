"""Random core programs for the fuzzers: short thread programs (tens to a few hundred
cycles) that the assembler's static checks accept (sw/compiler_stub/asm.py, without its
deadlock check), with random control flow, counters shared across threads, and small
streams on their owner threads, so that the grant rule, the queues and the VMM's two
tile buffers decide whether and when they finish.

Each stream that sets up its generators streams in its thread's MEM bank (T0 bank 1,
T1 bank 2, T2 bank 3, the NoC threads the upper half of bank 0, above the program image)
with word-aligned bases and strides, and in the VBUF's first 140 entries (T6's SENDs
without ``signal`` carry ``weight`` half the time: the flits sent, not the puts received); a pair
WSTREAM's second rows (generator ``d``) come from the last eighth of bank 0, above the
NoC threads' words, and a VPOST's residual (read while it stores to bank 3) from bank
0's upper half, below them. A stream may also use the generators as earlier
instructions (or the start) left them. A draw
that the static checks reject (an access out of range, unequal lockstep counts,
counters waited on more often than signalled) is drawn again.
"""

from rtl.spec.isa import AGS, COUNTERS, Instr, Op
from sw.compiler_stub.asm import AsmError, Program

__all__ = ["random_program", "random_programs", "data_entry", "chained"]

#: Counters the programs use (a few, so that threads meet on them).
CTRS = 3

#: The array the programs' SENDs address: rows, columns (the sim and ulx3s arrays).
MESH = (2, 2)


def _rand_program(rng, core, p_thread, setup, noc=True):
    """One draw: eight thread programs (maybe rejected by the static checks). With
    ``setup``, bank 0 serves either pair WSTREAMs' second rows or VPOST residuals, not
    both (T0 and T2 would meet there). Without ``noc`` no SSTREAM uses the PNoC."""
    spare = rng.choice(("pair", "residual")) if setup else None
    word = core.mem_port_bits // 8
    bank = core.sram_bank_bytes
    mem_base = {0: bank + bank // 2, 1: 2 * bank + bank // 2, 2: 3 * bank + bank // 2}
    noc_base = bank // 2

    def ag_setup(code, g, base, count, stride, dim=0):
        code.append(Instr(Op.AGBASE, {"g": g, "base": base}))
        if count > 1 or rng.random() < 0.3:
            code.append(Instr(Op.AGDIM, {"g": g, "d": dim, "count": count, "stride": stride}))

    def mem_start(t):
        base = mem_base[t] if t in mem_base else noc_base + 512 * (t - 4)
        return base + word * rng.randrange(-8, 8)

    def pair_start():
        return bank - bank // 8 + word * rng.randrange(-8, 8)

    def stream(t, code):
        """A stream instruction of thread t, often with its generators set up first."""
        count = rng.choice([1, 1, 2, 3, 4, 4, 5, 8])
        pair = t == 0 and spare != "residual" and rng.random() < 0.4
        if t == 0:   # whole tiles of vmm_rows rows, mostly; a pair point is two rows
            count = rng.choice([1, 2, 2, 4, 4, 6] if pair else [1, 2, 4, 4, 4, 8, 8, 12]) \
                * core.vmm_rows // 4
        dim = rng.randrange(2)
        s, d = rng.randrange(AGS), rng.randrange(AGS)
        fresh = setup or rng.random() < 0.8
        if pair or (t == 1 and fresh):   # (T1: else d's setup would move s to bank 0)
            d = rng.choice([g for g in range(AGS) if g != s])
        if t == 0:
            if fresh:
                stride = word * rng.choice([1, 1, -1, 2])
                ag_setup(code, s, mem_start(0), count, stride, dim)
                if pair:
                    ag_setup(code, d, pair_start(), count, rng.choice([stride, word]),
                             rng.randrange(2))
            code.append(Instr(Op.WSTREAM, {"s": s, "d": d, "prec": rng.randrange(3),
                                           "act_signed": rng.randrange(2),
                                           "pair": int(pair)}))
        elif t == 1:
            if fresh:
                ag_setup(code, s, mem_start(1), count, word * rng.choice([1, 0, 2]), dim)
                ag_setup(code, d, rng.randrange(0, 300), count, rng.choice([1, 1, 0, 3]),
                         rng.randrange(2))
            code.append(Instr(Op.SSTREAM, {"s": s, "d": d, "zero": rng.choice([0, 0, 1, 4]),
                                           "period": rng.choice([1, 1, 2, 2, 3, 4, 8]),
                                           **psum_route()}))
        elif t == 2:
            op = rng.choice([Op.VCVT, Op.VOP, Op.VLOAD, Op.VACT, Op.VSTORE, Op.VOPV,
                             Op.VPOST] + [Op.VSTORE, Op.VPOST] * (2 * setup))
            if fresh:
                src_base = mem_start(2) if op == Op.VLOAD else rng.randrange(0, 64)
                src_stride = word * rng.choice([1, 2]) if op == Op.VLOAD \
                    else rng.choice([1, 0, 2, -1])
                if op == Op.VOPV:
                    src_stride = rng.choice([1, 2])   # distinct points
                ag_setup(code, s, src_base + (8 if src_stride < 0 else 0), count,
                         src_stride, dim)
                if op in (Op.VCVT, Op.VOP, Op.VACT, Op.VSTORE, Op.VPOST):
                    to_mem = op in (Op.VSTORE, Op.VPOST)
                    dst_base = mem_start(2) if to_mem else rng.randrange(64, 120)
                    dst_stride = word * rng.choice([1, 2]) if to_mem \
                        else rng.choice([1, 0, 2])
                    ag_setup(code, d, dst_base, count, dst_stride, rng.randrange(2))
            args = {"s": s}
            if op in (Op.VCVT, Op.VOP, Op.VACT, Op.VSTORE, Op.VPOST):
                args["d"] = d
            if op == Op.VCVT:
                args["shift"] = rng.randrange(64)
            elif op == Op.VOP:
                args.update(op=rng.randrange(16), kb=rng.randrange(128),
                            kc=rng.randrange(128), shift=rng.randrange(8),
                            fmt=rng.randrange(3), out_signed=rng.randrange(2))
            elif op == Op.VLOAD:
                args.update(k=rng.randrange(0, 100), mode=rng.randrange(4),
                            signed=rng.randrange(2), shift=rng.randrange(8))
            elif op == Op.VACT:
                args.update(op=rng.randrange(6), p0=rng.randrange(1 << 16),
                            p1=rng.randrange(1 << 16))
            elif op == Op.VSTORE:
                args["prec"] = rng.randrange(3)
            elif op == Op.VOPV:
                args.update(op=rng.randrange(16), off=rng.randrange(1, 16))
            elif op == Op.VPOST:   # a residual, if any, in bank 0's upper half
                res = rng.randrange(2) if spare != "pair" else 0
                res_off = noc_base + word * rng.randrange(64) - mem_base[2] if res else 0
                args.update(k=rng.randrange(0, 126), shift=rng.randrange(64),
                            act=rng.randrange(7), prec=rng.randrange(3),
                            out_signed=rng.randrange(2), res=res,
                            res_shift=rng.randrange(8), res_off=res_off)
            code.append(Instr(op, args))
        else:
            if fresh:
                d = rng.choice([g for g in range(AGS) if g != s])
                ag_setup(code, s, mem_start(t), count, word * rng.choice([1, 1, 2]), dim)
                ag_setup(code, d, word * rng.randrange(core.sram_bytes // word - 64), count,
                         word * rng.choice([1, 1, 3]), rng.randrange(2))
            x0, y0 = rng.randrange(MESH[1]), rng.randrange(MESH[0])
            signal = rng.randrange(2)
            code.append(Instr(Op.SEND, {"s": s, "d": d, "x0": x0,
                                        "x1": rng.randrange(x0, MESH[1]),
                                        "y0": y0, "y1": rng.randrange(y0, MESH[0]),
                                        "signal": signal,
                                        "ctr": rng.randrange(COUNTERS),
                                        # T6 (the MNoC) sometimes sends weights
                                        "weight": int(t == 6 and not signal
                                                      and rng.random() < 0.5)}))

    def psum_route():
        """An SSTREAM's PNoC fields: partial sums from the PNoC, results to it, or both,
        each about one time in four."""
        if not noc:
            return {}
        return {"pin": int(rng.random() < 0.25), "pout": int(rng.random() < 0.25),
                "dir": rng.randrange(4)}

    def block(t, depth, code, budget):
        for _ in range(rng.randrange(1, 5)):
            if len(code) >= budget:
                return
            kind = rng.choice(["loop", "signal", "signal", "wait", "wait", "data", "data",
                               "data", "add", "nop"])
            if kind == "loop" and depth < 2:
                code.append(Instr(Op.LOOP, {"count": rng.choice([1, 2, 2, 3])}))
                block(t, depth + 1, code, budget)
                code.append(Instr(Op.ENDL))
            elif kind in ("signal", "wait"):
                code.append(Instr(Op[kind.upper()], {"ctr": rng.randrange(CTRS)}))
            elif kind == "data" and t not in (3, 5):   # T3 and T5 have no engine
                stream(t, code)
            elif kind == "add":
                step = word if t != 2 else 1
                code.append(Instr(Op.AGADD, {"g": rng.randrange(AGS),
                                             "delta": step * rng.choice([-1, 1, 2])}))
            else:
                code.append(Instr(Op.NOP))

    def vmm_pair():
        """T0's and T1's programs around a weight and a step loop whose tile counts are
        often equal (both finish), often not (a thread waits for the VMM forever)."""
        tiles, per = rng.choice([1, 2, 3]), rng.choice([1, 1, 2])
        pair = spare != "residual" and rng.random() < 0.5   # two rows a point
        points = per * core.vmm_rows // (2 if pair else 1)
        t0 = []
        ag_setup(t0, 0, mem_start(0), points, word)
        if pair:
            ag_setup(t0, 1, pair_start(), points, word)
        t0 += [Instr(Op.LOOP, {"count": tiles}),
               Instr(Op.WSTREAM, {"s": 0, "d": 1, "prec": rng.randrange(3),
                                  "act_signed": rng.randrange(2), "pair": int(pair)}),
               Instr(Op.ENDL)]
        period = rng.choice([1, 2, 3])
        used = tiles * per + rng.choice([0, 0, 0, -1, 1, 2])
        t1 = []
        ag_setup(t1, 0, mem_start(1), max(used, 1) * period, word * rng.choice([0, 1]))
        ag_setup(t1, 1, rng.randrange(64), max(used, 1) * period, rng.choice([0, 1]))
        t1.append(Instr(Op.SSTREAM, {"s": 0, "d": 1, "zero": rng.choice([0, period]),
                                     "period": period, **psum_route()}))
        return t0, t1

    threads = []
    pair = vmm_pair() if rng.random() < 0.4 else None
    for t in range(8):
        code = []
        if pair and t < 2:
            if rng.random() < 0.5:
                block(t, 0, code, 8)
            code += pair[t]
            if rng.random() < 0.5:
                block(t, 0, code, 24)
            code.append(Instr(Op.END))
        elif rng.random() < p_thread[t] and t in core.threads:
            block(t, 0, code, 24)
            code.append(Instr(Op.END))
        threads.append(code)
    return threads


def data_entry(core):
    """Where the data fuzz loads a ``setup=True`` program's image: the top 2 KiB of bank
    3 (T2's bank: T2 starts only once every program has loaded), so that bank 0 is free
    for T0's pair rows or T2's residuals while the threads run."""
    return 4 * core.sram_bank_bytes - 2048


#: The chance that each thread has a program (T0..T2 often, the NoC threads less).
P_THREAD = (0.7, 0.7, 0.6, 0.3, 0.25, 0.25, 0.15, 0.15)


def random_program(rng, core, *, noc=True, setup=False, tries=200):
    """A random :class:`~sw.compiler_stub.asm.Program` (``rng``: a :class:`random.Random`)
    that the assembler's static checks accept. ``noc=False`` leaves the NoC threads out;
    ``setup=True`` sets up the generators of every stream right before it, so that each
    thread streams only in its own bank, gives bank 0 to either T0's pair rows or T2's
    residuals, and leaves T3 to T7 without programs: loaded at the top of bank 3 (see
    :func:`data_entry`), the image is read while T0 and T1 run but before T2 starts, so
    no two accesses ever meet in one bank."""
    p_thread = P_THREAD if noc else P_THREAD[:4] + (0,) * 4
    if setup:   # threads start as their programs load: no program loads after T2's, so
        p_thread = p_thread[:3] + (0,) * 5   # nothing meets the loader in bank 0
    for _ in range(tries):
        threads = _rand_program(rng, core, p_thread, setup, noc)
        if not any(threads):
            continue
        try:
            return Program(core, threads, check_deadlock=False)
        except AsmError:
            continue
    raise AssertionError(f"no random program passed the static checks in {tries} draws")


def random_programs(rng, core, n, **kwargs):
    """``n`` random programs (see :func:`random_program`)."""
    return [random_program(rng, core, **kwargs) for _ in range(n)]


def chained(programs, entries):
    """The program images of a chain: ``programs[i]`` (each with a thread program) at
    byte address ``entries[i]``, its first thread's END preceded by ``NEXT`` to the
    next one's entry (the last image has none). Returns ``[(entry, image bytes)]``, or
    None when a NEXT does not fit (a full program buffer)."""
    out = []
    for i, (prog, entry) in enumerate(zip(programs, entries, strict=True)):
        threads = [list(code) for code in prog.threads]
        if i + 1 < len(programs):
            t = next(t for t, code in enumerate(threads) if code)
            threads[t].insert(len(threads[t]) - 1, Instr(Op.NEXT, {"entry": entries[i + 1]}))
        try:
            image = Program(prog.core, threads, check_deadlock=False).image()
        except AsmError:
            return None
        out.append((entry, image))
    return out


def steps_and_post(word, rows, steps, per, acts, consts, out):
    """The assembly of T1 and T2 of a layer whose weight tiles T0 brings: T1 runs
    ``steps`` VMM steps on the activation vectors at MEM ``acts`` (one a word), ``per`` a
    tile, into PSB entries ``0..steps - 1``, signalling counter 0 with the last result;
    T2 loads three constant vectors from ``consts`` (a word apart: scale, bias, and the
    activation's parameters) into VBUF 0..2, waits, and VPOSTs the results to ``out`` as
    int8 (``rows`` bytes a vector) through activation 2 (LEAKY_RELU: with p0 = 1.0 the
    identity)."""
    return f"""
    .thread 1
        AGBASE g=0 base={acts}
        AGDIM g=0 d=0 count={steps} stride={word}
        AGDIM g=1 d=0 count={steps} stride=1
        SSTREAM s=0 d=1 zero={steps} period={per} signal=1 ctr=0
        END
    .thread 2
        AGBASE g=0 base={consts}
        AGDIM g=0 d=0 count=3 stride={word}
        VLOAD s=0 k=0 mode=0
        WAIT ctr=0
        AGDIM g=1 d=0 count={steps} stride=1
        AGBASE g=2 base={out}
        AGDIM g=2 d=0 count={steps} stride={rows}
        VPOST s=1 d=2 k=0 shift=0 act=2 prec=0 out_signed=1
        END
    """


def random_puts(rng, core, *, horizon=300, most=12, ctrs=CTRS):
    """Random flits arriving at a core's four NoC ports, for :meth:`CycleModel.run`'s
    ``arrivals``: per port up to ``most`` flits, each ``(cycle, flit)`` from a random
    cycle below ``horizon`` (in order). On the put ports, puts to a random word of banks 1
    to 3 or of bank 0's upper half (never the program images in bank 0's lower half),
    with random data and, one in three, ``signal`` on one of the first ``ctrs`` counters;
    on the PNoC, vectors of random int32 partial sums."""
    import numpy as np
    from rtl.spec.isa import NOC_PORTS
    from sw.golden.cycles import Psum, Put
    from sw.golden.noc import Flit
    word, bank = core.mem_port_bits // 8, core.sram_bank_bytes
    low = bank // 2 // word
    arrivals = []
    for name in NOC_PORTS:
        n = rng.choice([0, 0, 1, 2, most // 2, most])
        cycles = sorted(rng.randrange(horizon) for _ in range(n))
        if name == "pnoc":
            arrivals.append([(c, Psum(np.array([rng.randrange(-(1 << 31), 1 << 31)
                                                for _ in range(core.vmm_rows)]), 0))
                             for c in cycles])
            continue
        arrivals.append([(c, Flit(Put(word * rng.randrange(low, core.sram_bytes // word),
                                      rng.randbytes(word), rng.random() < 1 / 3,
                                      rng.randrange(ctrs)), 0, 0, 0, 0, 1))
                         for c in cycles])
    return arrivals


def stalls(rng, rate, period=257):
    """``out_ready(cycle, port)`` for :meth:`CycleModel.run`: each port's output not ready
    in about ``rate`` of the cycles, from a table of ``period`` cycles per port (so a
    testbench can follow the same pattern)."""
    table = [[rng.random() >= rate for _ in range(period)] for _ in range(4)]
    return lambda cycle, port: table[port][cycle % period], table
