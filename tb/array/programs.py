"""Random traffic between the cores of an array: every core's NoC threads put random MEM
regions to random rectangles of cores (one core, rows, columns, the whole array) over
their four ports, a SEND's last put signalling a random counter; each core's T3 waits for
every remote SIGNAL it is due, so a core ends only once all its traffic has landed."""

from rtl.spec.isa import NOC_PORTS, NOC_THREADS
from sw.compiler_stub.asm import assemble

__all__ = ["SIGNAL_CTRS", "send_text", "random_exchange", "inoc_start"]

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


def inoc_start(config, words=20, entry=512):
    """Core (0, 0) delivers a program image over the INoC to core (1, 1) and starts it:
    T7 puts the image's words backwards, the header last with ``start``, to ``entry``.
    The image puts ``words`` words of core (1, 1)'s bank 1 back to core (0, 0)'s bank 3
    over the ANoC, signalling counter 5 there, which core (0, 0)'s T3 waits for. Returns
    ``(local, remote)``: core (0, 0)'s image, and the image it delivers (to be placed at
    the start of its bank 2)."""
    core = config.core
    word, bank = core.mem_port_bits // 8, core.sram_bank_bytes
    remote = assemble(".thread 4\n" + send_text(bank, 3 * bank, words, word, signal=1,
                                                 ctr=5) + "\nEND\n", core).image()
    n = len(remote) // word
    local = assemble(".remote ctr=5 count=1\n.thread 3\nWAIT ctr=5\nEND\n.thread 7\n" +
                     send_text(2 * bank + (n - 1) * word, entry + (n - 1) * word, n, word,
                               x=(1, 1), y=(1, 1), start=1, step=-1) + "\nEND\n",
                     core).image()
    return local, remote


def random_exchange(rng, config, *, sends=3, longest=16):
    """Per core (index ``y * cols + x``), a :class:`~sw.compiler_stub.asm.Program` of random
    puts (``rng``: a :class:`random.Random`): each NoC thread, with probability 0.7,
    SENDs up to ``sends`` streams of 1 to ``longest`` words from a bank of its own (T4
    bank 1, T5 bank 2, T6 bank 3, T7 bank 0's upper half: T7's program loads last, so it
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
        for t in NOC_THREADS:
            if rng.random() >= 0.7:
                continue
            lines = []
            for _ in range(rng.randint(1, sends)):
                count = rng.randint(1, longest)
                low = {4: bank, 5: 2 * bank, 6: 3 * bank, 7: bank // 2}[t]
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
    assert len(NOC_PORTS) == len(NOC_THREADS)
    return [assemble(text, core) for text in texts], texts
