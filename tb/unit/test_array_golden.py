"""The golden array (sw/golden/array.py) and the golden core's put endpoints on their own:
puts land, multicast reaches every core of its rectangle, the models reject what the
hardware cannot do. (The RTL array against it: tb/array.)"""

import random
from dataclasses import replace

import numpy as np
import pytest

from rtl.spec.config import get_config
from sw.compiler_stub.asm import assemble
from sw.golden.array import ArrayDeadlock, ArrayModel
from sw.golden.core import Core, CoreError
from sw.golden.thread import Unfinished

from ..array.programs import inoc_start, psum_chain, random_exchange, send_text

SIM = get_config("sim")
WORD = SIM.core.mem_port_bits // 8
BANK = SIM.core.sram_bank_bytes


def sender(x0, x1, y0, y1, count=4, signal=1, ctr=2):
    return assemble(".thread 6\n" + send_text(BANK, 2 * BANK, count, WORD, x=(x0, x1),
                                             y=(y0, y1), signal=signal, ctr=ctr) + "\nEND\n",
                    SIM.core).image()


def waiter(ctr=2, count=1):
    return assemble(f".remote ctr={ctr} count={count}\n.thread 3\n"
                    f"    LOOP count={count}\n    WAIT ctr={ctr}\n    ENDL\n    END\n",
                    SIM.core).image()


def test_multicast_reaches_the_rectangle():
    """Core (0, 0) multicasts 4 words to the whole 2 x 2 array over the MNoC, signalling
    counter 2 everywhere; every core (itself included) waits for it: each ends with the
    words at the destination, the senders' region unchanged elsewhere."""
    array = ArrayModel(SIM)
    words = bytes(range(4 * WORD))
    array.core(0, 0).write(BANK, words)
    # (0, 0) both sends and waits: T6 sends, T3 waits.
    both = assemble(".remote ctr=2 count=1\n.thread 3\nWAIT ctr=2\nEND\n.thread 6\n" +
                    send_text(BANK, 2 * BANK, 4, WORD, x=(0, 1), y=(0, 1), signal=1, ctr=2) +
                    "\nEND\n", SIM.core).image()
    array.core(0, 0).write(0, both)
    for x, y in ((1, 0), (0, 1), (1, 1)):
        array.core(x, y).write(0, waiter())
    results = array.run([0, 0, 0, 0])
    assert all(r is not None for r in results)
    for core in array.cores:
        assert core.read(2 * BANK, 4 * WORD) == words
    assert sum(map(len, array.core(0, 0).noc_out)) == 4   # one flit a word: multicast


def test_random_exchange_lands():
    """Random traffic (tb/array/programs.py) ends on the golden array with every put
    written: each destination word holds the data of a put addressed to it."""
    rng = random.Random(5)
    for _ in range(5):
        progs, _ = random_exchange(rng, SIM)
        array = ArrayModel(SIM)
        for k, core in enumerate(array.cores):
            core.write(BANK, rng.randbytes(SIM.core.sram_bytes - BANK))
            core.write(0, progs[k].image())
        results = array.run([0] * 4)
        assert all(results)
        assert not any(box for core in array.cores for box in core.inbox)


def test_send_outside_the_array():
    """A SEND to a rectangle outside the array is an error of the models (the RTL would
    keep the coordinates' low bits)."""
    array = ArrayModel(SIM)
    array.core(0, 0).write(0, sender(0, 2, 0, 0))
    with pytest.raises(CoreError, match=r"SEND to columns 0\.\.2, rows 0\.\.0: outside the "
                                        r"2 x 2 array"):
        array.run([0, None, None, None])


def test_send_to_the_framebuffer():
    """Column 0, row ``rows`` is the framebuffer's place: T4 may SEND there (the ANoC
    delivers the puts at the mesh's edge: ``fb_puts``, the words and their addresses in
    order), T6 may not (the MNoC's corner takes nothing), nor may any rectangle reaching
    past the array."""
    def t4(x0, x1, y0, y1):
        return assemble(".thread 4\n" + send_text(BANK, 0x40, 4, WORD, x=(x0, x1),
                                                  y=(y0, y1)) + "\nEND\n", SIM.core).image()
    array = ArrayModel(SIM)
    data = bytes(range(4 * WORD))
    array.core(1, 1).write(0, t4(0, 0, 2, 2))
    array.core(1, 1).write(BANK, data)
    array.run([None, None, None, 0])
    assert [(p.addr, bytes(p.data)) for _, p in array.fb_puts] == \
        [(0x40 + i * WORD, data[i * WORD:(i + 1) * WORD]) for i in range(4)]
    cycles = [c for c, _ in array.fb_puts]
    assert cycles == sorted(cycles) and len(set(cycles)) == 4
    for image, what in ((sender(0, 0, 2, 2, signal=0, ctr=0), r"0\.\.0, rows 2\.\.2"),
                        (t4(0, 1, 2, 2), r"0\.\.1, rows 2\.\.2"),
                        (t4(0, 0, 1, 2), r"0\.\.0, rows 1\.\.2")):
        array = ArrayModel(SIM)
        array.core(0, 0).write(0, image)
        with pytest.raises(CoreError, match=f"SEND to columns {what}: outside the 2 x 2 "
                                            f"array \\(and not the framebuffer's"):
            array.run([0, None, None, None])


def test_put_outside_mem():
    """A put whose address is not a word of the receiver's MEM is an error."""
    from sw.golden.cycles import Put
    from sw.golden.noc import Flit
    core = Core(SIM.core)
    core.write(0, waiter(count=1))
    bad = Flit(Put(SIM.core.sram_bytes, bytes(WORD), True, 2), 0, 0, 0, 0, 1)
    with pytest.raises(CoreError, match="writes MEM byte 0x8000: not a word of MEM"):
        core.run(0, arrivals=[[(0, bad)], [], [], []])


def test_waiting_forever():
    """A core waiting for a remote SIGNAL nobody sends: the array deadlocks (ArrayDeadlock
    in the first cycle nothing moves); with a guard shorter than that, Unfinished."""
    array = ArrayModel(SIM)
    array.core(1, 1).write(0, waiter())
    with pytest.raises(ArrayDeadlock, match=r"core \(1, 1\): deadlock at cycle \d+: T3 at "
                                            r"1: WAIT ctr=2 \(counter 2 is 0\)"):
        array.run([None, None, None, 0])
    array = ArrayModel(SIM)
    array.core(1, 1).write(0, waiter())
    with pytest.raises(Unfinished, match=r"\[3\] still running"):
        array.run([None, None, None, 0], max_cycles=5)


def test_array_rejects():
    with pytest.raises(TypeError, match="config must be an ArrayConfig"):
        ArrayModel(SIM.core)
    with pytest.raises(ValueError, match="one entry \\(or None\\) per core, 4, not 3"):
        ArrayModel(SIM).run([0, 0, 0])
    with pytest.raises(IndexError, match=r"core \(2, 0\) is outside the 2 x 2 array"):
        ArrayModel(SIM).core(2, 0)
    one = ArrayModel(replace(SIM, rows=1, cols=2))
    assert len(one.cores) == 2 and one.core(1, 0) is one.cores[1]


def test_inoc_start():
    """A program image put backwards over the INoC, its header last with ``start``, runs on
    the receiver (never started by the host) once it has landed: it puts a region back,
    whose SIGNAL the sender waits for."""
    local, remote = inoc_start(SIM)
    array = ArrayModel(SIM)
    region = random.Random(3).randbytes(20 * WORD)
    array.core(0, 0).write(2 * BANK, remote)
    array.core(0, 0).write(0, local)
    array.core(1, 1).write(BANK, region)
    results = array.run([0, None, None, None])
    assert results[1] is None and results[2] is None and results[3] is not None
    assert len(array.starts[3]) == 1 and array.starts[3][0] > 0
    assert array.core(1, 1).read(512, len(remote)) == remote
    assert array.core(0, 0).read(3 * BANK, 20 * WORD) == region


def test_start_put_elsewhere_is_a_put():
    """``start`` is honoured on the INoC only: on another port the put is written, and no
    run starts; on the INoC it waits while the core runs."""
    from sw.golden.cycles import Put
    from sw.golden.noc import Flit
    core = Core(SIM.core)
    flit = Flit(Put(BANK, bytes(range(WORD)), False, 0, True), 0, 0, 0, 0, 1)
    core.idle_cycle([flit, None, None, None])
    core.idle_cycle([None] * 4)
    assert core.start_entry is None and core.read(BANK, WORD) == bytes(range(WORD))
    core.idle_cycle([None, None, None, flit])
    core.idle_cycle([None] * 4)
    assert core.start_entry == BANK
    # While the core runs, a start put waits at the INoC's head (the puts behind it too).
    core = Core(SIM.core)
    core.write(0, assemble(".thread 0\n" + "    NOP\n" * 20 + "    END\n", SIM.core).image())
    other = Flit(Put(2 * BANK, bytes(WORD), False, 0), 0, 0, 0, 0, 1)
    core.run(0, arrivals=[[], [], [], [(0, flit), (0, other)]])
    assert list(core.inbox[3]) == [flit, other] and core.read(2 * BANK, WORD) == bytes(WORD)


def load_chain(array, texts, data):
    """Write the chain's data and programs to the golden array; return the entries."""
    for k, core in enumerate(array.cores):
        if texts[k] is not None:
            core.write(BANK, data[k])
            core.write(0, assemble(texts[k], SIM.core).image())
    return [0 if t is not None else None for t in texts]


def run_chain(path, seed, steps=8):
    """Run :func:`tb.array.programs.psum_chain` on the golden array; return the last
    core's int8 results, the NumPy ones and the cores' ``(cycles, steps)``."""
    texts, data, expected = psum_chain(random.Random(seed), SIM, path, steps)
    array = ArrayModel(SIM)
    results = array.run(load_chain(array, texts, data))
    x, y = path[-1]
    got = np.frombuffer(array.core(x, y).read(3 * BANK + 256, expected.size),
                        dtype=np.int8).reshape(expected.shape)
    return got, expected, results


@pytest.mark.parametrize("path", [
    [(0, 0), (1, 0)], [(1, 0), (0, 0)], [(0, 1), (0, 0)], [(0, 0), (0, 1)],
    [(0, 0), (1, 0), (1, 1), (0, 1)], [(1, 1), (0, 1), (0, 0), (1, 0)]])
def test_psum_chain_reduces(path):
    """A dot product split over a path of 2 or 4 neighbouring cores (every direction of
    the PNoC): the partial sums are summed on the fly along the path, and the last core's
    results equal NumPy's."""
    got, expected, results = run_chain(path, seed=len(path) * 10 + path[0][0])
    np.testing.assert_array_equal(got, expected)
    assert sum(r is not None for r in results) == len(path)


def test_psum_off_the_array():
    """Partial sums sent off the array's edge are an error of the golden array (the RTL's
    output would never be taken)."""
    texts, data, _ = psum_chain(random.Random(1), SIM, [(1, 0), (0, 0)])
    assert "pout=1 dir=3" in texts[1]
    texts[1] = texts[1].replace("pout=1 dir=3", "pout=1 dir=1")
    texts[0] = None
    array = ArrayModel(SIM)
    with pytest.raises(CoreError, match=r"core \(1, 0\) sends partial sums east, off the "
                                        r"2 x 2 array"):
        array.run(load_chain(array, texts, data))


def test_psum_arbitration():
    """Two neighbours send 8 vectors each to core (0, 1), which takes 16 (two passes of its
    SSTREAM): its PNoC input takes from the north first when both offer, the east's
    otherwise; every vector is taken once and every core ends. (Which vectors each pass
    sums depends on the timing: the RTL array is compared with this model, tb/array.)"""
    texts, data, _ = psum_chain(random.Random(2), SIM, [(1, 1), (0, 1)], takes=2)
    north, north_data, _ = psum_chain(random.Random(3), SIM, [(0, 0), (0, 1)])
    texts[0], data[0] = north[0], north_data[0]
    array = ArrayModel(SIM)
    results = array.run(load_chain(array, texts, data))
    assert [r is not None for r in results] == [True, False, True, True]
    assert [len(array.cores[k].noc_out[1]) for k in range(4)] == [8, 0, 0, 8]
    assert not any(core.inbox[1] for core in array.cores)


def test_array_deadlock():
    """A core whose steps wait for partial sums no neighbour sends, beside one waiting for
    a remote SIGNAL that never comes: the golden array raises ArrayDeadlock in the first
    cycle nothing moves anywhere, naming both cores' waiting threads."""
    texts, data, _ = psum_chain(random.Random(4), SIM, [(0, 0), (1, 0)])
    texts[0] = None   # (1, 0) waits for (0, 0)'s partial sums
    array = ArrayModel(SIM)
    entries = load_chain(array, texts, data)
    array.core(1, 1).write(0, waiter())
    entries[3] = 0
    with pytest.raises(ArrayDeadlock, match=r"core \(1, 0\): deadlock at cycle \d+: .*no "
                       r"partial sums at its PNoC input.* \| core \(1, 1\): .*counter 2 is "
                       r"0") as info:
        array.run(entries)
    assert info.value.cycle < 100 and set(info.value.cores) == {(1, 0), (1, 1)}
