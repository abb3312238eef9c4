"""``make bench``'s array keys, from the cycle-exact golden array (the RTL array equals it
cycle for cycle: tb/array)."""

from rtl.spec.config import get_config
from sw.compiler_stub.asm import assemble
from sw.golden.array import ArrayModel

from .programs import send_text

__all__ = ["pnoc_link_rate", "run_bench"]


def pnoc_link_rate(config="sim", words=512):
    """Flits per cycle over one PNoC link: core (0, 0) puts ``words`` words to its east
    neighbour over the PNoC while the neighbour puts as many back (both directions of the
    link at once); the rate is the words that land at each receiver over the cycles from
    its first put written to its last, inclusive. Returns the lower of the two."""
    cfg = get_config(config)
    core = cfg.core
    word, bank = core.mem_port_bits // 8, core.sram_bank_bytes
    if words > bank // word:
        raise ValueError(f"words must be at most {bank // word} (a bank), not {words!r}")
    array = ArrayModel(cfg)
    written = {0: [], 1: []}
    for k in (0, 1):
        c = array.cores[k]
        write = c._n_write

        def record(port, put, k=k, write=write):
            written[k].append(array.cycle)
            write(port, put)

        c._n_write = record
        c.write(0, assemble(".remote ctr=1 count=1\n.thread 3\nWAIT ctr=1\nEND\n.thread 5\n" +
                            send_text(bank, 2 * bank, words, word, x=(1 - k, 1 - k), signal=1,
                                      ctr=1) + "\nEND\n", core).image())
    array.run([0, 0] + [None] * (cfg.cores - 2))
    rates = [len(w) / (w[-1] - w[0] + 1) for w in written.values()]
    assert all(len(w) == words for w in written.values())
    return min(rates)


def run_bench():
    return {"noc.pnoc.flits_per_link_cycle": pnoc_link_rate()}
