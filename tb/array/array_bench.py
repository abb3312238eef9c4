"""``make bench``'s array keys, from the cycle-exact golden array (the RTL array equals it
cycle for cycle: tb/array)."""

import random

from rtl.spec.config import get_config
from sw.compiler_stub.asm import assemble
from sw.golden.array import ArrayModel

from .programs import psum_chain

__all__ = ["pnoc_link_rate", "run_bench"]


def pnoc_link_rate(config="sim", steps=256):
    """Partial-sum vectors per cycle over a PNoC link: two reductions at once, core (0, 0)
    passing ``steps`` partial sums east to (1, 0) and core (1, 1) as many west to (0, 1)
    (:func:`tb.array.programs.psum_chain`: each step's result goes out as the VMM makes
    it, and the receiver's steps take them as they come). The rate of a link is the
    vectors it carried over the cycles from its first to its last, inclusive. Returns the
    lower of the two."""
    cfg = get_config(config)
    core = cfg.core
    bank, word = core.sram_bank_bytes, core.mem_port_bits // 8
    if not 1 <= steps <= bank // word:
        raise ValueError(f"steps must be from 1 to {bank // word} (a bank of activations), "
                         f"not {steps!r}")
    rng = random.Random(0)
    texts, data, _ = psum_chain(rng, cfg, [(0, 0), (1, 0)], steps)
    west, west_data, _ = psum_chain(rng, cfg, [(1, 1), (0, 1)], steps)
    for k in (2, 3):
        texts[k], data[k] = west[k], west_data[k]
    array = ArrayModel(cfg)
    for k, core_model in enumerate(array.cores):
        core_model.write(bank, data[k])
        core_model.write(0, assemble(texts[k], core).image())
    carried = {1: [], 2: []}   # receiver -> the cycles its PNoC input took a vector
    links = array._links

    def record(offers, taken, given):
        links(offers, taken, given)
        for k in carried:
            if given[k][1] is not None:
                carried[k].append(array.cycle)

    array._links = record
    array.run([0] * 4)
    assert all(len(c) == steps for c in carried.values()), carried
    return min(len(c) / (c[-1] - c[0] + 1) for c in carried.values())


def run_bench():
    return {"noc.pnoc.flits_per_link_cycle": pnoc_link_rate()}
