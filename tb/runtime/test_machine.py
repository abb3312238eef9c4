"""The whole sim machine (host link, framebuffer, 2 x 2 array) under Verilator, reached
only through the host-link protocol (sw/runtime/machine.py): networks compiled for the
array written, run and read back through the runtime's ``rtl`` backend, bit-exact
against the reference and the golden array, each run's cycles (STATUS) equal to the
framebuffer model's prediction; command lists of every error and random copies equal to
the framebuffer's golden model (memory, error code, cycles)."""

import numpy as np
import pytest

from rtl.spec.config import get_config
from rtl.spec.framebuffer import COMMAND_WORDS, FbError, FbOp, encode
from sw.compiler_stub.array import compile_array, load_array, machine_image
from sw.compiler_stub.asm import assemble
from sw.compiler_stub.network import run_reference
from sw.golden.framebuffer import FramebufferModel
from sw.golden.hostlink import State
from sw.runtime.hostlink import HostLinkClient
from sw.runtime.machine import VerilatedMachine
from sw.runtime.runtime import Runtime

from ..array.programs import send_text
from ..net.nets import digits_like

CONFIG = get_config("sim")
WORD = CONFIG.core.mem_port_bits // 8


@pytest.fixture(scope="module")
def machine():
    with VerilatedMachine("sim") as m:
        yield m


def run_list(link, entry, polls=20_000):
    """RUN the list at ``entry``; its STATUS once it is over (at most ``polls`` polls)."""
    link.run(entry)
    for _ in range(polls):
        if (status := link.status()).state != State.RUNNING:
            return status
    raise AssertionError(f"the run at {entry:#x} is still running after {polls} STATUS")


def commands(cmds):
    out = bytearray()
    for op, kw in cmds:
        a, b = encode(op, **kw)
        out += a.to_bytes(8, "little") + bytes(WORD - 8) + b.to_bytes(8, "little") + \
            bytes(WORD - 8)
    return bytes(out)


@pytest.mark.parametrize("bits", [(8, 8, 8, 8), (8, 4, 2, 4)], ids=lambda b: "-".join(map(str, b)))
def test_network_through_the_host_link(bits, seed):
    """A digits-shaped network on the machine: the model image written and loaded through
    the link, then three images written, run and read: the logits equal the reference's
    and the golden array's, and every run's STATUS cycles equal the prediction."""
    rng = np.random.default_rng([seed, *bits])
    print(f"seed {seed}, bits {bits}")
    net = digits_like(rng, bits)
    compiled = compile_array(CONFIG, net)
    image = machine_image(compiled)
    with Runtime(compiled, "rtl") as rt, Runtime(compiled, "golden") as gold:
        assert rt._array.load_cycles == image.load_cycles
        for _ in range(3):
            x = rng.integers(0, 1 << bits[0], (8, 8, 1))
            out = rt.infer(x)
            assert rt.cycles == image.infer_cycles, (rt.cycles, image.infer_cycles)
            np.testing.assert_array_equal(out, run_reference(net, x)["logits"])
            np.testing.assert_array_equal(out, gold.infer(x))
        with pytest.raises(ValueError, match="output only"):
            rt.read_tensor("a")


def test_framebuffer_model_runs_the_image(seed):
    """The framebuffer's golden model runs the same image: the output, the cycles."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    net = digits_like(rng)
    compiled = compile_array(CONFIG, net)
    image = machine_image(compiled)
    fb = FramebufferModel(CONFIG, load_array(compiled))
    fb.write(0, image.data)
    assert fb.run(image.load) == (image.load_cycles, 0)
    x = rng.integers(0, 256, (8, 8, 1))
    fb.write(image.input_addr, compiled.layouts["x"].pack(x))
    assert fb.run(image.infer) == (image.infer_cycles, 0)
    lay = compiled.layouts["logits"]
    np.testing.assert_array_equal(lay.unpack(fb.read(image.output_addr, lay.size)),
                                  run_reference(net, x)["logits"])


def test_engine_against_its_model(machine, seed):
    """Random copy lists (every core, both directions, 1 to 40 words, back to back),
    random put lists (every mesh, random rectangles, 1 to 40 words, back to back, then a
    FENCE and the cores' MEMs copied out) and a list for each error: the framebuffer read
    back, STATUS's state, error and cycles equal the golden model's."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    machine.reset()
    link = HostLinkClient(*machine.transport())
    model = FramebufferModel(CONFIG)
    fb_bytes, mem = CONFIG.framebuffer_bytes, CONFIG.core.sram_bytes
    data = rng.integers(0, 256, 8192, np.uint8).tobytes()
    base = 16384   # the lists live below, the data above
    link.write(base, data)
    model.write(base, data)

    def check(cmds, at=0, error=FbError.NONE):
        text = commands(cmds)
        link.write(at, text)
        model.write(at, text)
        status = run_list(link, at)
        cycles, err = model.run(at)
        assert (status.error, status.cycles) == (err, cycles), (cmds, status, cycles, err)
        assert err == error, (cmds, err)
        assert status.state == (State.DONE if err == 0 else State.ERROR)

    for _ in range(6):
        cmds = []
        for _ in range(rng.integers(1, 8)):
            n = int(rng.integers(1, 41))
            cmds.append((FbOp.COPY_IN if rng.random() < 0.5 else FbOp.COPY_OUT,
                         dict(core=int(rng.integers(0, CONFIG.cores)), count=n,
                              fb=base // WORD + int(rng.integers(0, 8192 // WORD - n)),
                              mem=WORD * int(rng.integers(0, mem // WORD - n)))))
        check(cmds + [(FbOp.END, {})])
        assert link.read(base, 8192) == model.read(base, 8192)
    for _ in range(4):
        # puts over every mesh, back to back (flits still in flight across commands),
        # a FENCE, then every core's target region read back through its host port
        cmds, region = [], 64
        for _ in range(rng.integers(1, 7)):
            n = int(rng.integers(1, 41))
            x0, x1 = sorted(int(v) for v in rng.integers(0, CONFIG.cols, 2))
            y0, y1 = sorted(int(v) for v in rng.integers(0, CONFIG.rows, 2))
            cmds.append((FbOp.PUT, dict(
                net=int(rng.integers(0, 3)), count=n, x0=x0, x1=x1, y0=y0, y1=y1,
                fb=base // WORD + int(rng.integers(0, 8192 // WORD - n)),
                mem=WORD * (0x200 // WORD + int(rng.integers(0, region - n + 1))))))
        cmds.append((FbOp.FENCE, {}))
        cmds += [(FbOp.COPY_OUT, dict(core=k, count=region, fb=(base - 4096) // WORD
                                      + k * region, mem=0x200)) for k in range(CONFIG.cores)]
        check(cmds + [(FbOp.END, {})])
        assert link.read(base - 4096, CONFIG.cores * region * WORD) == \
            model.read(base - 4096, CONFIG.cores * region * WORD)
    bad = [([(8, {})], FbError.BAD_OP),
           ([(FbOp.PUT, dict(net=3, count=1))], FbError.BAD_OP),
           ([(FbOp.PUT, dict(count=1, x1=CONFIG.cols))], FbError.BAD_CORE),
           ([(FbOp.PUT, dict(count=1, y0=1, y1=0))], FbError.BAD_CORE),
           ([(FbOp.PUT, dict(count=2, fb=fb_bytes // WORD - 1))], FbError.BAD_FB),
           ([(FbOp.PUT, dict(count=2, mem=mem - WORD))], FbError.BAD_MEM),
           ([(FbOp.COPY_IN, dict(core=CONFIG.cores, count=1))], FbError.BAD_CORE),
           ([(FbOp.COPY_OUT, dict(count=2, fb=fb_bytes // WORD - 1))], FbError.BAD_FB),
           ([(FbOp.COPY_IN, dict(count=2, mem=mem - WORD))], FbError.BAD_MEM),
           ([(FbOp.COPY_IN, dict(count=1, mem=WORD + 1))], FbError.BAD_MEM),
           ([(FbOp.START, dict(mem=mem))], FbError.BAD_MEM)]
    for cmds, error in bad:
        check([(FbOp.COPY_IN, dict(count=3, fb=base // WORD))] + cmds, error=error)
    # a list running off the framebuffer's end
    last = fb_bytes - COMMAND_WORDS * WORD
    check([(FbOp.COPY_IN, dict(count=1, fb=base // WORD))], at=last, error=FbError.BAD_FB)
    link.run(WORD // 2)   # an entry that is not a word's address
    assert tuple(link.status())[:2] == (State.ERROR, FbError.BAD_FB)


def test_gather_over_the_anoc(machine, seed):
    """Every core's T4 SENDs a random number of words of its MEM to the framebuffer's
    place on the ANoC (column 0, row ``rows``); a START with the output's base, a WAIT
    and a GATHER of them all: the words land at the base plus their addresses, and the
    framebuffer read back, STATUS's error and cycles equal the golden model's; with a
    base that puts the last words past the framebuffer's end, the run stops with
    BAD_PUT, as the model's."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    machine.reset()
    link = HostLinkClient(*machine.transport())
    model = FramebufferModel(CONFIG)
    core, fb_bytes = CONFIG.core, CONFIG.framebuffer_bytes
    bank, words = core.sram_bank_bytes, fb_bytes // WORD
    counts = [int(rng.integers(1, 40)) for _ in range(CONFIG.cores)]
    at = 4096                                   # images and data; the list at 0
    cmds, total = [], 0
    for k, n in enumerate(counts):
        image = assemble(".thread 4\n" + send_text(bank, 64 * WORD * k, n, WORD,
                                                    y=(CONFIG.rows, CONFIG.rows)) +
                         "\nEND\n", core).image()
        data = rng.integers(0, 256, n * WORD, np.uint8).tobytes()
        for blob, mem in ((image, 0), (data, bank)):
            link.write(at, blob)
            model.write(at, blob)
            cmds.append((FbOp.COPY_IN, dict(core=k, count=-(-len(blob) // WORD),
                                            fb=at // WORD, mem=mem)))
            at += -(-len(blob) // WORD) * WORD
        total += n
    wait, gather = (FbOp.WAIT, dict(count=1)), (FbOp.GATHER, dict(count=total))
    for base, error, order in ((16384 // WORD, FbError.NONE, (wait, gather)),
                               (words - 64 * (CONFIG.cores - 1) - counts[-1] + 1,
                                FbError.BAD_PUT, (wait, (FbOp.GATHER, dict(count=1))))):
        if error == 0:   # the output's area cleared in both
            span = 64 * WORD * CONFIG.cores
            link.write(base * WORD, bytes(span))
            model.write(base * WORD, bytes(span))
        run = cmds + [(FbOp.START, dict(mem=0, fb=base)), *order, (FbOp.END, {})]
        text = commands(run)
        link.write(0, text)
        model.write(0, text)
        cycles, err = model.run(0)
        print(f"{[op.name for op, _ in order]}, base {base}: the model's {cycles} cycles, "
              f"error {err}")
        status = run_list(link, 0)
        assert (status.error, status.cycles) == (err, cycles) and err == error, \
            (status, cycles, err)
        if error == 0:
            assert link.read(base * WORD, span) == model.read(base * WORD, span)
            for k, n in enumerate(counts):   # each core's words, from its bank 1
                got = model.read((base + 64 * k) * WORD, n * WORD)
                assert got == model.array.cores[k].read(bank, n * WORD), k
