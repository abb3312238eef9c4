"""Programs for arrays of cores. Random traffic: every core's put threads put random MEM
regions to random rectangles of cores (one core, rows, columns, the whole array) over
the ANoC, MNoC and INoC, a SEND's last put signalling a random counter; each core's T3
waits for every remote SIGNAL it is due, so a core ends only once all its traffic has
landed. A program delivered over the INoC and started. A reduction over the PNoC: a dot
product split over a path of neighbouring cores, its partial sums passed along the path
and summed on the fly."""

import itertools

import numpy as np

from rtl.spec.codes import AfuOp
from rtl.spec.isa import OFFSETS, PUT_THREADS
from sw.compiler_stub.asm import assemble

__all__ = ["SIGNAL_CTRS", "send_text", "random_exchange", "inoc_start", "psum_chain"]

#: The counters the remote SIGNALs use.
SIGNAL_CTRS = 4


def send_text(src, dst, count, word, *, x=(0, 0), y=(0, 0), signal=0, ctr=0, start=0,
              step=1):
    """The assembly of a SEND of ``count`` words from ``src`` to ``dst`` of the cores in
    columns ``x`` and rows ``y`` (inclusive pairs), each generator stepping ``step``
    words, set up on AG0 (source) and AG1 (destination)."""
    return "\n".join([
        f"AGBASE g=0 base={src}", f"AGDIM g=0 d=0 count={count} stride={step * word}",
        f"AGBASE g=1 base={dst}", f"AGDIM g=1 d=0 count={count} stride={step * word}",
        f"SEND s=0 d=1 x0={x[0]} x1={x[1]} y0={y[0]} y1={y[1]} signal={signal} ctr={ctr} "
        f"start={start}"])


def inoc_start(config, words=20, entry=512, to=(1, 1)):
    """Core (0, 0) delivers a program image over the INoC to core ``to`` (``(x, y)``) and
    starts it: T7 puts the image's words backwards, the header last with ``start``, to
    ``entry``. The image puts ``words`` words of that core's bank 1 back to core (0, 0)'s
    bank 3 over the ANoC, signalling counter 5 there, which core (0, 0)'s T3 waits for.
    Returns ``(local, remote)``: core (0, 0)'s image, and the image it delivers (to be
    placed at the start of its bank 2)."""
    core = config.core
    word, bank = core.mem_port_bits // 8, core.sram_bank_bytes
    remote = assemble(".thread 4\n" + send_text(bank, 3 * bank, words, word, signal=1,
                                                 ctr=5) + "\nEND\n", core).image()
    n = len(remote) // word
    local = assemble(".remote ctr=5 count=1\n.thread 3\nWAIT ctr=5\nEND\n.thread 7\n" +
                     send_text(2 * bank + (n - 1) * word, entry + (n - 1) * word, n, word,
                               x=(to[0], to[0]), y=(to[1], to[1]), start=1, step=-1) +
                     "\nEND\n",
                     core).image()
    return local, remote


def random_exchange(rng, config, *, sends=3, longest=16):
    """Per core (index ``y * cols + x``), a :class:`~sw.compiler_stub.asm.Program` of random
    puts (``rng``: a :class:`random.Random`): each NoC thread, with probability 0.7,
    SENDs up to ``sends`` streams of 1 to ``longest`` words from a bank of its own (T4
    bank 1, T6 bank 3, T7 bank 0's upper half: T7's program loads last, so it
    reads bank 0 only once the loader is done; the threads' reads never meet) to banks 1
    to 3 of a random rectangle of cores (where the receivers' SENDs read: the puts wait
    for them); T3 WAITs for every remote SIGNAL due. Returns ``(programs, texts)``."""
    core = config.core
    rows, cols = config.rows, config.cols
    n = rows * cols
    word, bank = core.mem_port_bits // 8, core.sram_bank_bytes
    due = [[0] * SIGNAL_CTRS for _ in range(n)]
    threads = [{} for _ in range(n)]
    for k in range(n):
        for t in PUT_THREADS:
            if rng.random() >= 0.7:
                continue
            lines = []
            for _ in range(rng.randint(1, sends)):
                count = rng.randint(1, longest)
                low = {4: bank, 6: 3 * bank, 7: bank // 2}[t]
                src = low + word * rng.randrange(bank // 2 // word - count)
                dst = bank * rng.randint(1, 3) + word * rng.randrange(bank // word - count)
                x0, y0 = rng.randrange(cols), rng.randrange(rows)
                x1, y1 = rng.randrange(x0, cols), rng.randrange(y0, rows)
                signal, ctr = int(rng.random() < 0.7), rng.randrange(SIGNAL_CTRS)
                if signal:
                    for y in range(y0, y1 + 1):
                        for x in range(x0, x1 + 1):
                            due[y * cols + x][ctr] += 1
                lines.append(send_text(src, dst, count, word, x=(x0, x1), y=(y0, y1),
                                       signal=signal, ctr=ctr))
            threads[k][t] = lines + ["END"]
    texts = []
    for k in range(n):
        waits = [f"LOOP count={c}\nWAIT ctr={ctr}\nENDL"
                 for ctr, c in enumerate(due[k]) if c]
        if waits:
            threads[k][3] = waits + ["END"]
        remote = "".join(f".remote ctr={ctr} count={c}\n" for ctr, c in enumerate(due[k]) if c)
        texts.append(remote + "".join(f".thread {t}\n" + "\n".join(lines) + "\n"
                                      for t, lines in sorted(threads[k].items())))
    return [assemble(text, core) for text in texts], texts


def psum_chain(rng, config, path, steps=8, *, takes=1):
    """A dot product split over ``path``, a list of neighbouring cores ``(x, y)``: core
    ``i`` of the path holds a weight tile ``W_i`` (``vmm_rows`` x ``vmm_cols`` int8 in
    -1..1, bank 1) and ``steps`` activation vectors ``A_i`` (int8 in -2..2, bank 2); its
    SSTREAM takes its partial sums from the PNoC (zero on the first core), adds
    ``W_i @ a`` and passes the result on to the next core's PNoC input; the last core
    writes its results to the PSB and its VPOST stores them as int8 (scale 1, bias 0,
    clamped to -128..127) at bank 3 + 256. With ``takes`` above 1 the last core runs its
    WSTREAM and SSTREAM ``takes`` times (taking ``takes * steps`` vectors: from other
    senders too)
    and stores the last pass's results. Returns ``(texts, data, expected)``: per core of
    the array its program's assembly or None, per core the bytes of banks 1 to 3, and
    the last core's ``steps`` x ``vmm_rows`` int8 results as NumPy computes them (for
    ``takes`` 1)."""
    if not all(abs(x - u) + abs(y - v) == 1 for (x, y), (u, v) in itertools.pairwise(path)):
        raise ValueError(f"path must be a list of neighbouring cores, not {path!r}")
    core = config.core
    rows, cols, word, bank = core.vmm_rows, core.vmm_cols, core.mem_port_bits // 8, \
        core.sram_bank_bytes
    assert word == cols, "one weight row or activation vector a MEM word"
    n = config.rows * config.cols
    texts, data = [None] * n, [bytes(3 * bank)] * n
    total = np.zeros((steps, rows), dtype=np.int64)
    out = 3 * bank + 256
    for i, (x, y) in enumerate(path):
        w = np.array([[rng.randint(-1, 1) for _ in range(cols)] for _ in range(rows)],
                     dtype=np.int8)
        a = np.array([[rng.randint(-2, 2) for _ in range(cols)] for _ in range(steps)],
                     dtype=np.int8)
        total += a.astype(np.int64) @ w.astype(np.int64).T
        mem = bytearray(3 * bank)
        mem[0:w.size] = w.tobytes()
        mem[bank:bank + a.size] = a.tobytes()
        last = i == len(path) - 1
        if last:   # VPOST constants at bank 3: scale 1.0, bias 0, clamp to -128..127
            consts = np.zeros((3, rows), dtype=np.float16)
            consts[0] = 1.0
            consts[2, :2] = (-128.0, 127.0)
            mem[2 * bank:2 * bank + consts.nbytes] = consts.tobytes()
        data[y * config.cols + x] = bytes(mem)
        if last:
            route = "pout=0 dir=0 signal=1 ctr=0"
        else:
            nx, ny = path[i + 1]
            route = f"pout=1 dir={OFFSETS.index((nx - x, ny - y))} signal=0 ctr=0"
        text = "\n".join([
            ".thread 0",
            f"AGBASE g=0 base={bank}", f"AGDIM g=0 d=0 count={rows} stride={word}",
            f"LOOP count={takes if last else 1}", "WSTREAM s=0 prec=0 act_signed=1", "ENDL",
            "END",
            ".thread 1",
            f"AGBASE g=0 base={2 * bank}", f"AGDIM g=0 d=0 count={steps} stride={word}",
            "AGBASE g=1 base=0", f"AGDIM g=1 d=0 count={steps} stride=1",
            f"LOOP count={takes if last else 1}",
            f"SSTREAM s=0 d=1 zero={0 if i else steps} period={steps} "
            f"pin={int(i > 0)} {route}", "ENDL", "END", ""])
        if last:
            text += "\n".join([
                ".thread 2",
                f"AGBASE g=0 base={3 * bank}", f"AGDIM g=0 d=0 count=3 stride={2 * rows}",
                "VLOAD s=0 k=0 mode=0", f"LOOP count={takes}", "WAIT ctr=0", "ENDL",
                "AGBASE g=0 base=0", f"AGDIM g=0 d=0 count={steps} stride=1",
                f"AGBASE g=1 base={out}", f"AGDIM g=1 d=0 count={steps} stride={rows}",
                f"VPOST s=0 d=1 k=0 shift=0 act={int(AfuOp.CLAMP)} prec=0 out_signed=1",
                "END", ""])
        assemble(text, core)   # a valid program
        texts[y * config.cols + x] = text
    expected = np.clip(total, -128, 127).astype(np.int8)
    return texts, data, expected
