"""Core assembler and disassembler: round trips, the program image, and every rejection."""

import itertools
import random
import re
from collections import Counter

import numpy as np
import pytest

from rtl.spec.config import CoreConfig, get_config
from sw.compiler_stub.asm import (DEADLOCK_CHECK_CYCLES, AsmError, Program, assemble,
                                  disassemble, disassemble_image)
from sw.compiler_stub.conv import compile_conv2d
from sw.golden import fp16
from rtl.spec.codes import AfuOp
from rtl.spec.isa import AG_DIMS, AGS, FORMATS, LOOP_DEPTH, THREAD_OF, Instr, Op, encode
from sw.golden.cycles import CycleModel, Deadlock, partners, predict
from sw.golden.layers import Conv2d

CORE = get_config("sim").core

# A 1x1 convolution of 16 pixels from 16 to 12 int8 channels on the sim core: 3 output
# blocks of 4 channels, each 2 weight tiles of 8 input channels.
LAYER = """
# weights: tile (block b, chunk k) at 32 * (2b + k), one row a word
.thread 0
    AGBASE g=0 base=0
    AGDIM g=0 d=0 count=4 stride=8      ; the tile's 4 rows
    LOOP count=3
        LOOP count=2
            WSTREAM s=0 prec=0 act_signed=1
            AGADD g=0 delta=32
        ENDL
    ENDL
    END

; steps: pixel p, chunk k at 0x2000 + 16p + 8k; block b accumulates in PSB[16b + p]
.thread 1
    AGBASE g=0 base=0x2000
    AGDIM g=0 d=0 count=16 stride=16
    agdim g=0 d=1 count=2 stride=8
    AGBASE g=1 base=0
    AGDIM g = 1  d = 0  count = 16  stride = 1
    AGDIM g=1 d=1 count=2 stride=0
    LOOP count=3
        SSTREAM s=0 d=1 zero=16 period=16
        SIGNAL ctr=1
        AGADD g=1 delta=16
    ENDL
    LOOP count=3
        WAIT ctr=2
    ENDL
    END

.thread 2
    AGBASE g=3 base=16384               # the per-channel scale, binary16
    VLOAD s=3 k=255 mode=0
    AGBASE g=0 base=0                   # PSB block
    AGDIM g=0 d=0 count=16 stride=1
    AGBASE g=1 base=0                   # VBUF block
    AGDIM g=1 d=0 count=16 stride=1
    AGBASE g=2 base=24576               # output: pixel p, block b at 24576 + 12p + 4b
    AGDIM g=2 d=0 count=16 stride=12
    LOOP count=3
        WAIT ctr=1
        VCVT s=0 d=1 shift=4
        SIGNAL ctr=2
        VOP s=1 d=1 op=2 kb=255         # MUL by the scale
        VACT s=1 d=1 op=1 p0=0 p1=0x4600  # CLAMP to [0, 6]
        VOP s=1 d=1 op=13 fmt=0          # CVT_INT to uint8
        VSTORE s=1 d=2 prec=0
        AGADD g=0 delta=16
        AGADD g=2 delta=4
    ENDL
    SIGNAL ctr=3
    END

.thread 4                               # put the 24 output words to core (1, 0)
    WAIT ctr=3
    AGBASE g=0 base=24576
    AGDIM g=0 d=0 count=24 stride=8
    AGBASE g=1 base=0x7000              # at its 0x7000.., the second 12 below the first
    AGDIM g=1 d=0 count=12 stride=8
    AGDIM g=1 d=1 count=2 stride=-96
    SEND s=0 d=1 x0=1 x1=1 y0=0 y1=0 signal=1 ctr=5
    END
"""


def message(thread, index, line, text, rest):
    """The regex of an error message naming an instruction."""
    where = f"thread {thread}, instruction {index}" + (f", line {line}" if line else "")
    return re.escape(f'{where} "{text}": ') + ".*" + rest


def program(*threads):
    """Text of programs given as (thread, lines) pairs."""
    return "".join(f".thread {t}\n" + "".join(f"{line}\n" for line in lines)
                   for t, lines in threads)


# Round trips and the image.

def test_layer_round_trip():
    prog = assemble(LAYER, CORE)
    lengths = [len(code) for code in prog.threads]
    assert lengths == [9, 15, 21, 0, 8, 0, 0, 0]
    image = prog.image()
    assert image[:8] == bytes(lengths)
    assert len(image) == 8 + 8 * sum(lengths)
    words = prog.words()
    assert image[8:16] == words[0][0].to_bytes(8, "little")
    assert image[-8:] == encode(Instr(Op.END)).to_bytes(8, "little")
    assert words[1][0] == (Op.AGBASE << 59) | (0x2000 << 2)
    text = disassemble_image(image, CORE)
    again = assemble(text, CORE)
    assert again == prog == Program.from_image(image, CORE)
    assert again.image() == image
    assert disassemble(again) == text
    # loop bodies indented
    assert "        WSTREAM s=0 d=0 prec=0 act_signed=1 pair=0 noc=0\n" in text
    assert "SEND s=0 d=1 x0=1 x1=1 y0=0 y1=0 signal=1 ctr=5" in text
    assert "AGDIM g=1 d=1 count=2 stride=-96" in text


def test_image_layout_and_padding():
    wide = CoreConfig(mem_port_bits=128)  # a 16-byte header word
    prog = assemble(".thread 3\nSIGNAL ctr=5\nEND\n.thread 0\nEND\n", wide)
    image = prog.image()
    assert image[:16] == bytes([1, 0, 0, 2] + [0] * 12)
    assert len(image) == 48                       # 16 + 3 * 8 bytes and 8 of padding
    assert image[16:24] == (Op.END << 59).to_bytes(8, "little")
    assert image[24:32] == ((Op.SIGNAL << 59) | 5).to_bytes(8, "little")
    assert image[40:] == bytes(8)
    assert Program.from_image(image, wide) == prog


def test_empty():
    prog = assemble("# nothing\n\n", CORE)
    assert prog.image() == bytes(8)
    assert disassemble(prog) == ""
    assert assemble(".thread 6\n", CORE) == prog


def test_text_syntax():
    prog = assemble(".THREAD 0x4\n  agbase G=3 base=0x7FF8  ; hex\nAgAdd g=3 delta=-0x10\n"
                    "SEND s=3 d=3 # comment\nend\n", CORE)
    assert prog.threads[4] == (Instr(Op.AGBASE, {"g": 3, "base": 0x7FF8}),
                               Instr(Op.AGADD, {"g": 3, "delta": -16}),
                               Instr(Op.SEND, {"s": 3, "d": 3, "x0": 0, "x1": 0, "y0": 0,
                                               "y1": 0, "signal": 0, "ctr": 0, "start": 0,
                                               "weight": 0}),
                               Instr(Op.END))


def random_program(rng, core):
    """A structurally valid program set with small counts (the streams' addresses and the
    counters are random: it may be valid or not)."""
    bases = [0, 4, 8, 16, 64, 250, 4096, core.sram_bytes - 8]
    strides = [-8, -1, 0, 0, 1, 1, 2, 4, 8, 8, 16, 64]

    def data(t):
        op = rng.choice([op for op, owners in THREAD_OF.items() if t in owners])
        args = {name: rng.randrange(1 << width) for name, width, signed in FORMATS[op]
                if not signed}
        for name in ("s", "d"):
            if name in args:
                args[name] = rng.randrange(AGS)
        if op == Op.VOP:
            args["kb"], args["kc"] = rng.randrange(core.vbuf_entries), rng.randrange(4)
        elif op == Op.VOPV:
            args["off"] = rng.randrange(4)
        elif op == Op.VLOAD:
            args["k"] = rng.choice([0, 5, core.vbuf_entries - 2])
        elif op == Op.VSTORE:
            args["prec"] = rng.randrange(3)
        elif op == Op.VPOST:
            args["prec"] = rng.randrange(3)
            args["k"] = rng.choice([0, 7, core.vbuf_entries - 3])
            args["res_off"] = rng.choice([0, 8, -8, 4096, -4, 3])
        elif op == Op.SSTREAM:
            args["period"] = rng.randrange(1, 20)
        elif op == Op.SEND:   # weights: T6 only, without start or signal
            args["weight"] = int(rng.random() < 0.15)
        elif op == Op.WSTREAM:   # rows from the MNoC: never paired
            args["noc"] = int(rng.random() < 0.3)
        return Instr(op, args)

    def block(t, depth, code, budget):
        for _ in range(rng.randrange(1, 6)):
            if len(code) >= budget:
                return
            kind = rng.choice(["loop", "base", "dim", "dim", "add", "signal", "signal",
                               "wait", "nop", "data", "data"])
            g = rng.randrange(AGS)
            if kind == "loop" and depth < LOOP_DEPTH:
                code.append(Instr(Op.LOOP, {"count": rng.choice([1, 2, 3])}))
                block(t, depth + 1, code, budget)
                code.append(Instr(Op.ENDL))
            elif kind == "base":
                code.append(Instr(Op.AGBASE, {"g": g, "base": rng.choice(bases)}))
            elif kind == "dim":
                code.append(Instr(Op.AGDIM, {"g": g, "d": rng.randrange(AG_DIMS),
                                             "count": rng.choice([1, 2, 3]),
                                             "stride": rng.choice(strides)}))
            elif kind == "add":
                code.append(Instr(Op.AGADD, {"g": g, "delta": rng.choice(strides)}))
            elif kind in ("signal", "wait"):
                code.append(Instr(Op[kind.upper()], {"ctr": rng.randrange(3)}))
            elif kind == "data" and any(t in owners for owners in THREAD_OF.values()):
                code.append(data(t))
            else:
                code.append(Instr(Op.NOP))

    threads = []
    for t in range(8):
        code = []
        if rng.random() < 0.7:
            block(t, 0, code, core.program_len - 2 * LOOP_DEPTH - 1)
            code.append(Instr(Op.END))
        threads.append(code)
    return threads


# The memory each generator of a data instruction addresses, from the spec (7.3).
SPACES = {
    Op.WSTREAM: [("s", "word")], Op.SSTREAM: [("s", "word"), ("d", "PSB")],
    Op.VCVT: [("s", "PSB"), ("d", "VBUF")], Op.VOP: [("s", "VBUF"), ("d", "VBUF")],
    Op.VLOAD: [("s", "lanes")], Op.VACT: [("s", "VBUF"), ("d", "VBUF")],
    Op.VSTORE: [("s", "VBUF"), ("d", "lanes")], Op.SEND: [("s", "word"), ("d", "word")],
    Op.VOPV: [("s", "VBUF")],
    Op.VPOST: [("s", "PSB"), ("d", "lanes")],
}


def brute_force_valid(threads, core):
    """Whether unrolling every loop and visiting every point finds the streams and the
    counters valid (the oracle of the assembler's arithmetic loop handling)."""
    word = core.mem_port_bits // 8
    ctrs = Counter()
    for t, code in enumerate(threads):
        ags = [(0, [(1, 0)] * AG_DIMS) for _ in range(AGS)]
        loops, pc = [], 0
        while code and code[pc].op != Op.END:
            ins = code[pc]
            if ins.op == Op.LOOP:
                loops.append([pc, ins["count"]])
            elif ins.op == Op.ENDL:
                loops[-1][1] -= 1
                if loops[-1][1]:
                    pc = loops[-1][0]
                else:
                    loops.pop()
            elif ins.op == Op.AGBASE:
                ags[ins["g"]] = (ins["base"], [(1, 0)] * AG_DIMS)
            elif ins.op == Op.AGDIM:
                dims = list(ags[ins["g"]][1])
                dims[ins["d"]] = (ins["count"], ins["stride"])
                ags[ins["g"]] = (ags[ins["g"]][0], dims)
            elif ins.op == Op.AGADD:
                ags[ins["g"]] = (ags[ins["g"]][0] + ins["delta"], ags[ins["g"]][1])
            elif ins.op in (Op.SIGNAL, Op.WAIT):
                ctrs[ins.op, ins["ctr"]] += 1
            elif ins.op == Op.SEND and (ins["x0"] > ins["x1"] or ins["y0"] > ins["y1"]):
                return False   # an empty rectangle
            elif ins.op == Op.SEND and ins["start"] and t != 7:
                return False   # only the INoC's thread starts cores
            elif ins.op == Op.SEND and ins["weight"] and (
                    t != 6 or ins["start"] or ins["signal"]):
                return False   # weights: over the MNoC (T6), neither start nor signal
            elif ins.op == Op.WSTREAM and ins["noc"] and ins["pair"]:
                return False   # one row a point from the MNoC
            elif ins.op in SPACES:
                walked = []
                spaces = SPACES[ins.op]
                if ins.op == Op.WSTREAM and ins["pair"]:   # second rows at d
                    spaces = spaces + [("d", "word")]
                for name, space in spaces:
                    base, dims = ags[ins[name]]
                    points = [base + sum(i * s for i, (_, s) in zip(idx, dims, strict=True))
                              for idx in itertools.product(*(range(c) for c, _ in dims))]
                    walked.append(points)
                    if ins.op == Op.WSTREAM and ins["noc"]:
                        continue   # rows from the MNoC: s only counts the points
                    if space == "VBUF":
                        if any(not 0 <= p < core.vbuf_entries for p in points):
                            return False
                    if space in ("PSB", "VBUF"):
                        continue  # PSB indices wrap
                    if space == "word":
                        n = word
                    elif ins.op == Op.VLOAD:
                        n = core.vmm_rows * (16, 8, 4, 2)[ins["mode"]] // 8
                    else:
                        n = core.vmm_rows * (8, 4, 2)[ins["prec"]] // 8
                    if any(p < 0 or p + n > core.sram_bytes or p % n for p in points):
                        return False
                    if ins.op == Op.VPOST and ins["res"]:   # the residual at d + res_off
                        if any(p < 0 or p + n > core.sram_bytes or p % n
                               for p in (q + ins["res_off"] for q in points)):
                            return False
                if len(walked) == 2 and len(walked[0]) != len(walked[1]):
                    return False
                if ins.op == Op.WSTREAM and ins["pair"] and \
                        walked[0][0] // core.sram_bank_bytes == \
                        walked[1][0] // core.sram_bank_bytes:
                    return False   # the first pair's two reads meet in one bank
                if ins.op == Op.VLOAD and ins["k"] + len(walked[0]) > core.vbuf_entries:
                    return False
                if ins.op == Op.SSTREAM and ins["signal"]:   # signals when done
                    ctrs[Op.SIGNAL, ins["ctr"]] += 1
            pc += 1
    return all(ctrs[Op.WAIT, c] <= ctrs[Op.SIGNAL, c] for c in range(16))


def test_random_programs(seed):
    rng = random.Random(seed)
    valid = 0
    for _ in range(400):
        threads = random_program(rng, CORE)
        expected = brute_force_valid(threads, CORE)
        try:   # the static checks (the deadlock check is tested below)
            prog = Program(CORE, threads, check_deadlock=False)
        except AsmError as exc:
            assert not expected, f"rejected a valid program: {exc}\n{threads}"
            assert re.match(r'thread \d, instruction \d+ "[A-Z]+', str(exc))
            continue
        assert expected, f"accepted an invalid program:\n{disassemble(prog)}"
        valid += 1
        text = disassemble(prog)
        again = assemble(text, CORE, check_deadlock=False)
        assert again == prog
        assert again.image() == prog.image()
        assert disassemble_image(again.image(), CORE, check_deadlock=False) == text
        # With the deadlock check: accepted exactly when the cycle model finishes (with
        # partners that keep up: partial sums at the PNoC input, weight puts at the
        # MNoC's for T0's noc WSTREAMs).
        try:
            predict(CORE, prog.threads, arrivals=partners())
            finishes = True
        except Deadlock:
            finishes = False
        try:
            assert assemble(text, CORE) == prog
            assert finishes, f"accepted a program that deadlocks:\n{text}"
        except AsmError as exc:
            assert not finishes, f"rejected a program that finishes: {exc}\n{text}"
            assert "deadlock at cycle" in str(exc)
    assert valid >= 20


def test_large_loops_are_not_unrolled():
    # 65535**3 * 1000 iterations: the ranges and the counter totals are computed, not
    # enumerated. Each outer iteration walks 1000 words up and steps back down.
    big = get_config("northpole").core                        # 768 KiB, 32-byte words
    outer, inner = ["LOOP count=65535"] * 3, ["LOOP count=1000"]
    weights = ["AGDIM g=1 d=0 count=4 stride=32", *outer, *inner, "WSTREAM s=1",
               "SIGNAL ctr=9", "AGADD g=1 delta=32", "ENDL", "AGADD g=1 delta=-32000",
               "ENDL", "ENDL", "ENDL", "END"]
    waits = [*outer, *inner, "WAIT ctr=9", "ENDL", "ENDL", "ENDL", "ENDL"]
    assemble(program((0, weights), (3, [*waits, "END"])), big)
    with pytest.raises(AsmError, match=message(3, 4, 21, "WAIT ctr=9", r"waited on "
                                               f"{65535**3 * 1000 + 1} times but signalled "
                                               f"only {65535**3 * 1000} times")):
        assemble(program((0, weights), (3, [*waits, "WAIT ctr=9", "END"])), big)
    # Without the step back, the last iteration's words are past the end of MEM.
    del weights[9]
    with pytest.raises(AsmError, match=message(0, 5, 7, "WSTREAM s=1", r"the source AG1 "
                                               r"reaches MEM bytes 32000\.\.2097088127")):
        assemble(program((0, weights)), big)


def test_loop_shift_reaches_the_end_of_mem():
    # A stream stepping by 32 bytes: 1024 iterations fill MEM, the 1025th leaves it.
    body = ["AGDIM g=0 d=0 count=4 stride=8", "LOOP count=1024", "WSTREAM s=0",
            "AGADD g=0 delta=32", "ENDL", "END"]
    # T1 takes the 1024 tiles (one step each), or T0 could not finish.
    steps = ["AGDIM g=0 d=0 count=1024 stride=0", "AGDIM g=1 d=0 count=1024 stride=1",
             "SSTREAM s=0 d=1 period=1", "END"]
    assemble(program((0, body), (1, steps)), CORE)
    with pytest.raises(AsmError, match=message(0, 2, 4, "WSTREAM s=0", r"deadlock at cycle "
                                               r"\d+: T0 at 2: WSTREAM s=0 d=0 prec=0 "
                                               r"act_signed=0 pair=0 noc=0 "
                                               r"\(the VMM holds two weight tiles\)")):
        assemble(program((0, body), (1, steps[2:])), CORE)
    body[1] = "LOOP count=1025"
    with pytest.raises(AsmError, match=message(0, 2, 4, "WSTREAM s=0",
                                               r"the source AG0 reaches MEM bytes 32\.\.32799")):
        assemble(program((0, body)), CORE)


@pytest.mark.parametrize("layer, size", [
    (Conv2d(16, 16, 3, padding=1, bits=8, activation=AfuOp.RELU), 16),  # bands, 4 blocks
    (Conv2d(40, 10, 1, bits=4, out_bits=2, out_signed=False), 4),
    (Conv2d(5, 7, 3, stride=2, bits=2, activation=AfuOp.GELU), 9),
])
def test_compiled_layers(layer, size, seed):
    """The layer compiler's program images pass validation and survive a round trip."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(-1, 1, size=(layer.out_channels, layer.kernel, layer.kernel,
                                        layer.in_channels))
    scale = bias = fp16.from_float(np.ones(layer.out_channels))
    compiled = compile_conv2d(CORE, layer, size, size, weights, scale, bias)
    image = dict(compiled.preload)[compiled.entry]
    prog = Program.from_image(image, CORE)
    assert prog.image() == image[:len(prog.image())]
    assert assemble(disassemble(prog), CORE) == prog

# Rejections: every error names the thread, the instruction, its line and its text.

def t0(*lines):
    """Thread 0 running ``lines`` then END."""
    return program((0, [*lines, "END"]))


def t2(*lines):
    return program((2, [*lines, "END"]))


@pytest.mark.parametrize("text, where, rest", [
    # syntax and field values
    (t0("NOP", "FROB x=1"), (0, 1, 3, "FROB x=1"), r"unknown mnemonic 'FROB'"),
    (t0("LOOP cnt=2"), (0, 0, 2, "LOOP cnt=2"), r"LOOP has no field 'cnt'"),
    (t0("LOOP count=70000"), (0, 0, 2, "LOOP count=70000"),
     r"LOOP: count=70000 is outside \[0, 65535\]"),
    (t0("AGADD g=0 delta=-0x800001"), (0, 0, 2, "AGADD g=0 delta=-0x800001"),
     r"delta=-8388609 is outside \[-8388608, 8388607\]"),
    (t0("SIGNAL ctr=-1"), (0, 0, 2, "SIGNAL ctr=-1"), r"ctr=-1 is outside \[0, 15\]"),
    (t0("LOOP count=two"), (0, 0, 2, "LOOP count=two"), r"expected field=value"),
    (t0("LOOP count"), (0, 0, 2, "LOOP count"), r"expected field=value"),
    (t0("AGBASE g=1 g=2"), (0, 0, 2, "AGBASE g=1 g=2"), r"field 'g' given twice"),
    # owners, loops, END
    (program((1, ["WSTREAM s=0", "END"])), (1, 0, 2, "WSTREAM s=0"),
     r"WSTREAM runs only on thread 0"),
    (program((3, ["SEND s=0", "END"])), (3, 0, 2, "SEND s=0"),
     r"SEND runs only on thread 4, 6, 7"),
    (program((5, ["SEND s=0", "END"])), (5, 0, 2, "SEND s=0"),
     r"SEND runs only on thread 4, 6, 7"),
    (program((1, ["SSTREAM s=0 d=1 period=1 dir=4", "END"])),
     (1, 0, 2, "SSTREAM s=0 d=1 period=1 dir=4"), r"dir=4 is outside \[0, 3\]"),
    (program((4, ["SEND s=0 d=1 x0=2 x1=1", "END"])), (4, 0, 2, "SEND s=0 d=1 x0=2 x1=1"),
     r"SEND's rectangle is empty: columns x0=2 to x1=1"),
    (program((4, ["SEND s=0 d=1 y0=1", "END"])), (4, 0, 2, "SEND s=0 d=1 y0=1"),
     r"SEND's rectangle is empty: .* rows y0=1 to y1=0"),
    (program((6, ["SEND s=0 d=1 start=1", "END"])), (6, 0, 2, "SEND s=0 d=1 start=1"),
     r"SEND start=1 goes over the INoC: only thread 7 starts a core"),
    # weights over the MNoC: T6 only, neither start nor signal; WSTREAM noc: no pair
    (program((4, ["SEND s=0 d=1 weight=1", "END"])), (4, 0, 2, "SEND s=0 d=1 weight=1"),
     r"SEND weight=1 goes over the MNoC: only thread 6 sends weights"),
    (program((7, ["SEND s=0 d=1 weight=1", "END"])), (7, 0, 2, "SEND s=0 d=1 weight=1"),
     r"SEND weight=1 goes over the MNoC: only thread 6 sends weights"),
    (program((6, ["SEND s=0 d=1 weight=1 signal=1 ctr=2", "END"])),
     (6, 0, 2, "SEND s=0 d=1 weight=1 signal=1 ctr=2"),
     r"SEND weight=1 puts go to the receivers' T0, not to MEM: they can carry neither "
     r"start nor signal"),
    (program((7, ["SEND s=0 d=1 weight=1 start=1", "END"])),
     (7, 0, 2, "SEND s=0 d=1 weight=1 start=1"),
     r"SEND weight=1 puts go to the receivers' T0, not to MEM: they can carry neither "
     r"start nor signal"),
    (t0("WSTREAM s=0 d=1 pair=1 noc=1"), (0, 0, 2, "WSTREAM s=0 d=1 pair=1 noc=1"),
     r"WSTREAM noc=1 takes one row a point from the MNoC: it cannot pair rows"),
    (program((4, ["SEND s=0 x1=64", "END"])), (4, 0, 2, "SEND s=0 x1=64"),
     r"x1=64 is outside \[0, 63\]"),
    (t0("LOOP count=0", "ENDL"), (0, 0, 2, "LOOP count=0"), r"LOOP count must be at least 1"),
    (t0("NOP", "ENDL"), (0, 1, 3, "ENDL"), r"ENDL without LOOP"),
    (program((0, ["LOOP count=2", "LOOP count=3", "NOP", "ENDL"])), (0, 0, 2, "LOOP count=2"),
     r"LOOP without ENDL"),
    (t0(*["LOOP count=2"] * 5, *["ENDL"] * 5), (0, 4, 6, "LOOP count=2"),
     r"loops nested deeper than 4"),
    (program((0, ["NOP", "SIGNAL ctr=1"])), (0, 1, 3, "SIGNAL ctr=1"),
     r"the program does not end with END"),
    (program((0, ["LOOP count=2", "END", "ENDL"])), (0, 1, 3, "END"),
     r"END inside the loop of instruction 0"),
    (program((0, ["END", "NOP", "END"])), (0, 1, 3, "NOP"), r"unreachable"),
    (t0(*["NOP"] * 64), (0, 64, 66, "END"),
     r"the program has 65 instructions, more than 64"),
    (t0("AGDIM g=0 d=0 count=0 stride=8"), (0, 0, 2, "AGDIM g=0 d=0 count=0 stride=8"),
     r"AGDIM count must be at least 1"),
    (program((1, ["SSTREAM s=0 d=1", "END"])), (1, 0, 2, "SSTREAM s=0 d=1"),
     r"SSTREAM period must be at least 1"),
    (t2("VSTORE s=0 d=1 prec=3"), (2, 0, 2, "VSTORE s=0 d=1 prec=3"),
     r"VSTORE prec 3 is reserved"),
    # counters
    (program((0, ["SIGNAL ctr=2", "END"]), (3, ["WAIT ctr=1", "END"])),
     (3, 0, 5, "WAIT ctr=1"), r"no thread SIGNALs counter 1"),
    (program((0, ["LOOP count=2", "SIGNAL ctr=7", "ENDL", "END"]),
             (3, ["LOOP count=3", "WAIT ctr=7", "ENDL", "END"])),
     (3, 1, 8, "WAIT ctr=7"), r"counter 7 is waited on 3 times but signalled only 2 times"),
    # MEM ranges and word alignment
    (t0("AGBASE g=2 base=32760", "AGDIM g=2 d=0 count=2 stride=8", "WSTREAM s=2"),
     (0, 2, 4, "WSTREAM s=2"), r"the source AG2 reaches MEM bytes 32760\.\.32775, outside "
                               r"0\.\.32767"),
    (t0("AGADD g=0 delta=-8", "WSTREAM s=0"), (0, 1, 3, "WSTREAM s=0"),
     r"reaches MEM bytes -8\.\.-1"),
    (t0("AGDIM g=0 d=3 count=2 stride=4", "WSTREAM s=0"), (0, 1, 3, "WSTREAM s=0"),
     r"visits MEM byte 4, not a multiple of 8 \(a whole word"),
    (program((1, ["AGBASE g=0 base=4", "SSTREAM s=0 d=1 period=1", "END"])),
     (1, 1, 3, "SSTREAM s=0 d=1 period=1"), r"the source AG0 visits MEM byte 4"),
    (program((6, ["AGBASE g=1 base=32768", "SEND s=1 d=0", "END"])),
     (6, 1, 3, "SEND s=1 d=0"), r"the source AG1 reaches MEM bytes 32768\.\.32775"),
    (program((7, ["LOOP count=3", "SEND s=1 d=0", "AGADD g=0 delta=12", "ENDL", "END"])),
     (7, 1, 3, "SEND s=1 d=0"), r"the destination AG0 visits MEM byte 12"),
    (program((6, ["AGBASE g=1 base=32768", "SEND s=0 d=1", "END"])),
     (6, 1, 3, "SEND s=0 d=1"), r"the destination AG1 reaches MEM bytes 32768\.\.32775"),
    # pair WSTREAMs: d walked in lockstep, in range, in another bank than s
    (t0("AGBASE g=1 base=8192", "AGDIM g=0 d=0 count=4 stride=8",
        "AGDIM g=1 d=0 count=2 stride=8", "WSTREAM s=0 d=1 pair=1"),
     (0, 3, 5, "WSTREAM s=0 d=1 pair=1"),
     r"the source AG0 walks 4 points and the destination AG1 2"),
    (t0("AGBASE g=1 base=32760", "AGDIM g=1 d=0 count=2 stride=8",
        "AGDIM g=0 d=0 count=2 stride=8", "WSTREAM s=0 d=1 pair=1"),
     (0, 3, 5, "WSTREAM s=0 d=1 pair=1"), r"the destination AG1 reaches MEM bytes 32760"),
    (t0("AGBASE g=1 base=4", "AGBASE g=0 base=8192", "WSTREAM s=0 d=1 pair=1"),
     (0, 2, 4, "WSTREAM s=0 d=1 pair=1"), r"the destination AG1 visits MEM byte 4"),
    (t0("AGBASE g=1 base=4096", "WSTREAM s=0 d=1 pair=1"), (0, 1, 3, "WSTREAM s=0 d=1 pair=1"),
     r"its first two rows, MEM bytes 0 and 4096, are in one bank"),
    # VBUF ranges
    (t2("AGBASE g=1 base=256", "VCVT s=0 d=1"), (2, 1, 3, "VCVT s=0 d=1"),
     r"the destination AG1 reaches VBUF entries 256\.\.256"),
    (t2("LOOP count=300", "VOP s=0 d=1", "AGADD g=0 delta=1", "AGADD g=1 delta=1", "ENDL"),
     (2, 1, 3, "VOP s=0 d=1"), r"the source AG0 reaches VBUF entries 1\.\.299"),
    (t2("VOP s=0 d=0 kb=1 kc=256"), (2, 0, 2, "VOP s=0 d=0 kb=1 kc=256"),
     r"kc=256 is outside VBUF 0\.\.255"),
    (t2("VOP kb=4095"), (2, 0, 2, "VOP kb=4095"), r"kb=4095 is outside VBUF"),
    (t2("AGDIM g=1 d=0 count=4 stride=-1", "AGDIM g=0 d=0 count=4 stride=1", "VACT s=0 d=1 op=0"),
     (2, 2, 4, "VACT s=0 d=1 op=0"),
     r"the destination AG1 reaches VBUF entries -3\.\.0"),
    (t2("AGDIM g=0 d=1 count=2 stride=300", "AGDIM g=1 d=0 count=2 stride=1",
        "VSTORE s=0 d=1"), (2, 2, 4, "VSTORE s=0 d=1"),
     r"the source AG0 reaches VBUF entries 0\.\.300"),
    (t2("AGDIM g=0 d=0 count=4 stride=8", "VLOAD s=0 k=253"), (2, 1, 3, "VLOAD s=0 k=253"),
     r"its 4 vectors reach VBUF entries 253\.\.256, outside 0\.\.255"),
    # VLOAD and VSTORE: in MEM, each access aligned to its size
    (t2("AGBASE g=0 base=4", "VLOAD s=0 mode=0"), (2, 1, 3, "VLOAD s=0 mode=0"),
     r"visits MEM byte 4, not a multiple of 8 \(a vector of 8 bytes\)"),
    (t2("AGDIM g=0 d=0 count=2 stride=2", "VLOAD s=0 mode=1"), (2, 1, 3, "VLOAD s=0 mode=1"),
     r"visits MEM byte 2, not a multiple of 4"),
    (t2("AGBASE g=1 base=32767", "VLOAD s=1 mode=2"), (2, 1, 3, "VLOAD s=1 mode=2"),
     r"reaches MEM bytes 32767\.\.32768"),
    (t2("AGBASE g=1 base=7", "VSTORE s=0 d=1 prec=1"), (2, 1, 3, "VSTORE s=0 d=1 prec=1"),
     r"the destination AG1 visits MEM byte 7, not a multiple of 2"),
    (t2("AGBASE g=1 base=32768", "VSTORE s=0 d=1 prec=2"), (2, 1, 3, "VSTORE s=0 d=1 prec=2"),
     r"reaches MEM bytes 32768\.\.32768"),
    # VPOST: precision, constants, the output and the residual in MEM, aligned
    (t2("VPOST s=0 d=1 prec=3"), (2, 0, 2, "VPOST s=0 d=1 prec=3"), r"VPOST prec 3 is reserved"),
    (t2("VPOST s=0 d=1 k=254"), (2, 0, 2, "VPOST s=0 d=1 k=254"),
     r"its constants VBUF\[k\.\.k\+2\] = 254\.\.256 are outside 0\.\.255"),
    (t2("AGBASE g=1 base=2", "VPOST s=0 d=1 prec=0"), (2, 1, 3, "VPOST s=0 d=1 prec=0"),
     r"the destination AG1 visits MEM byte 2, not a multiple of 4"),
    (t2("VPOST s=0 d=1 prec=0 res=1 res_off=-4"), (2, 0, 2,
     "VPOST s=0 d=1 prec=0 res=1 res_off=-4"),
     r"the residual \(destination AG1 \+ res_off\) reaches MEM bytes -4\.\.-1"),
    (t2("VPOST s=0 d=1 prec=1 res=1 res_off=32767"), (2, 0, 2,
     "VPOST s=0 d=1 prec=1 res=1 res_off=32767"),
     r"the residual \(destination AG1 \+ res_off\) reaches MEM bytes 32767\.\.32768"),
    (t2("VPOST s=0 d=1 prec=0 res=1 res_off=6"), (2, 0, 2,
     "VPOST s=0 d=1 prec=0 res=1 res_off=6"),
     r"the residual \(destination AG1 \+ res_off\) visits MEM byte 6, not a multiple of 4"),
    (t2("AGDIM g=0 d=0 count=2 stride=1", "VPOST s=0 d=1"), (2, 1, 3, "VPOST s=0 d=1"),
     r"the source AG0 walks 2 points and the destination AG1 1"),
    # lockstep point counts
    (program((1, ["AGDIM g=0 d=0 count=3 stride=8", "SSTREAM s=0 d=1 period=1", "END"])),
     (1, 1, 3, "SSTREAM s=0 d=1 period=1"),
     r"the source AG0 walks 3 points and the destination AG1 1"),
    (t2("AGDIM g=1 d=3 count=2 stride=1", "VCVT s=0 d=1"), (2, 1, 3, "VCVT s=0 d=1"),
     r"walks 1 points and the destination AG1 2"),
    (t2("AGDIM g=0 d=0 count=2 stride=1", "VOP s=0 d=1"), (2, 1, 3, "VOP s=0 d=1"),
     r"the source AG0 walks 2 points"),
    (t2("AGDIM g=0 d=0 count=2 stride=1", "VACT s=1 d=0"), (2, 1, 3, "VACT s=1 d=0"),
     r"the source AG1 walks 1 points and the destination AG0 2"),
    (t2("AGDIM g=3 d=0 count=2 stride=4", "VSTORE s=0 d=3"), (2, 1, 3, "VSTORE s=0 d=3"),
     r"the source AG0 walks 1 points and the destination AG3 2"),
    # NEXT: a word-aligned image in MEM, one NEXT an image
    (t0("NEXT entry=4"), (0, 0, 2, "NEXT entry=4"),
     r"NEXT entry=0x4 is not a word-aligned address in MEM \(0 to 0x7fff\)"),
    (t0("NEXT entry=32768"), (0, 0, 2, "NEXT entry=32768"),
     r"NEXT entry=0x8000 is not a word-aligned address in MEM"),
    (program((0, ["NEXT entry=64", "END"]), (3, ["NEXT entry=64", "END"])),
     (3, 0, 5, "NEXT entry=64"), r"a second NEXT in the image \(the first is T0's "
     r"instruction 0\)"),
])
def test_rejects(text, where, rest):
    with pytest.raises(AsmError, match=message(*where, rest)):
        assemble(text, CORE)


def test_accepts_edges():
    # Aligned accesses at the ends of each memory; a 1-byte int2 VLOAD anywhere; lockstep
    # generators with different shapes but equal point counts; PSB indices wrapping both
    # ways (the hardware takes their low bits). Ranges only: T1's steps have no weights,
    # so the deadlock check is off.
    assemble(program(
        (1, ["AGBASE g=1 base=250", "AGDIM g=1 d=2 count=7 stride=1", "AGADD g=2 delta=-3",
             "AGDIM g=0 d=0 count=7 stride=8", "SSTREAM s=0 d=1 period=2",
             "LOOP count=9", "SSTREAM s=3 d=2 period=1", "AGADD g=2 delta=128", "ENDL", "END"]),
        (2, ["AGBASE g=0 base=0x10000", "VCVT s=0 d=1", "END"])), CORE, check_deadlock=False)
    assemble(program(
        (1, ["AGBASE g=0 base=32760", "AGBASE g=1 base=255", "SSTREAM s=0 d=1 period=1",
             "AGDIM g=2 d=0 count=2 stride=1", "AGDIM g=2 d=1 count=3 stride=2",
             "AGDIM g=3 d=3 count=6 stride=8", "SSTREAM s=3 d=2 period=6", "END"]),
        (2, ["AGBASE g=0 base=32767", "VLOAD s=0 k=255 mode=3", "AGBASE g=0 base=32760",
             "VLOAD s=0 k=255 mode=0", "AGBASE g=1 base=32764", "VSTORE s=2 d=1 prec=0",
             "VOP s=3 d=3 kb=255 kc=255", "END"])), CORE, check_deadlock=False)


def test_rejects_deadlocks():
    # The example: the totals balance, but T3 waits before it signals.
    with pytest.raises(AsmError, match=message(3, 0, 2, "WAIT ctr=0", re.escape(
            "deadlock at cycle 6: T3 at 0: WAIT ctr=0 (counter 0 is 0); counters: all 0"))):
        assemble(program((3, ["WAIT ctr=0", "SIGNAL ctr=0", "END"])), CORE)
    assemble(program((3, ["SIGNAL ctr=0", "WAIT ctr=0", "END"])), CORE)
    # The grant rule: T2's first SIGNAL goes to T0, the lowest-numbered of T0 and T5
    # waiting on counter 1, so T5 never signals counter 2 and T2 waits for it forever.
    # With the roles of T0 and T5 exchanged, every thread ends.
    t2_ = (2, ["SIGNAL ctr=1", "WAIT ctr=2", "SIGNAL ctr=1", "END"])
    with pytest.raises(AsmError, match=message(2, 1, 6, "WAIT ctr=2", re.escape(
            "T2 at 1: WAIT ctr=2 (counter 2 is 0); T5 at 0: WAIT ctr=1 (counter 1 is 0); "
            "counters: all 0"))):
        assemble(program((0, ["WAIT ctr=1", "END"]), t2_,
                         (5, ["WAIT ctr=1", "SIGNAL ctr=2", "END"])), CORE)
    assemble(program((0, ["WAIT ctr=1", "SIGNAL ctr=2", "END"]), t2_,
                     (5, ["WAIT ctr=1", "END"])), CORE)
    # The VMM holds two tiles: a third waits in T0's queue until T1 takes a tile.
    wts = ["AGDIM g=0 d=0 count=12 stride=8", "WSTREAM s=0", "SIGNAL ctr=3", "END"]
    steps = ["AGDIM g=0 d=0 count=3 stride=0", "AGDIM g=1 d=0 count=3 stride=1",
             "SSTREAM s=0 d=1 period=1", "END"]
    assemble(program((0, wts), (1, steps)), CORE)
    with pytest.raises(AsmError, match=message(0, 1, 3, "WSTREAM s=0", re.escape(
            "T0 at 1: WSTREAM s=0 d=0 prec=0 act_signed=0 pair=0 noc=0 (the VMM holds two "
            "weight tiles); "
            "T1 at 0: WAIT ctr=3 (counter 3 is 0)"))):
        assemble(program((0, wts), (1, ["WAIT ctr=3", *steps])), CORE)
    assemble(program((0, wts), (1, ["WAIT ctr=3", *steps])), CORE, check_deadlock=False)


def test_deadlock_check_limit():
    # T0 deadlocks after its loop: found when the loop is short; past
    # DEADLOCK_CHECK_CYCLES of the cycle model the program is accepted unchecked (the
    # static lower bound counts streams, SIGNALs and WAITs, not NOPs, so the model runs).
    def t0_(count):
        return program((0, [f"LOOP count={count}", "NOP", "NOP", "NOP", "ENDL", "WAIT ctr=0",
                            "SIGNAL ctr=0", "END"]))
    with pytest.raises(AsmError, match=message(0, 5, 7, "WAIT ctr=0", "deadlock at cycle")):
        assemble(t0_(1000), CORE)
    assert 4 * 65535 > DEADLOCK_CHECK_CYCLES
    assemble(t0_(65535), CORE)


def test_rejects_counter_overflow():
    # Two threads signal counter 4 32768 times each: the last SIGNAL takes it to 2**16.
    # T1 starts 4 cycles after T0 (its 4 instructions load after T0's) and both signal
    # every other cycle, so T1's last SIGNAL comes alone, after T0's last.
    loop = ["LOOP count=32768", "SIGNAL ctr=4", "ENDL", "END"]
    # T1 runs from cycle 3 + 8 = 11: LOOP, then SIGNAL i at 12 + 2 * i.
    with pytest.raises(AsmError, match=message(1, 1, 8, "SIGNAL ctr=4", re.escape(
            f"counter overflow at cycle {12 + 2 * 32767}: SIGNAL ctr=4 by T1 at 1 takes "
            f"counter 4 to 65536, past its 16 bits"))):
        assemble(program((0, loop), (1, loop)), CORE)
    assemble(program((0, loop), (1, ["WAIT ctr=4", *loop])), CORE)


@pytest.mark.parametrize("text, rest", [
    ("NOP\n.thread 0\nEND\n", r'line 1 "NOP": an instruction before any \.thread'),
    (".thread 8\n", r'line 1 "\.thread 8": threads are 0\.\.7'),
    (".thread\n", r'line 1 "\.thread": expected "\.thread N"'),
    (".org 5\n", r'line 1 "\.org 5": expected "\.thread N"'),
    (".thread 1\nEND\n.thread 1\n", r'line 3 "\.thread 1": thread 1 already started on line 1'),
])
def test_rejects_directives(text, rest):
    with pytest.raises(AsmError, match=rest):
        assemble(text, CORE)


def test_rejects_by_config():
    long = CoreConfig(program_len=512)
    assemble(t0(*["NOP"] * 254), long)
    with pytest.raises(AsmError, match=message(0, 255, 257, "END", r"more than 255")):
        assemble(t0(*["NOP"] * 255), long)
    small = CoreConfig(vbuf_entries=128, psb_entries=64)
    with pytest.raises(AsmError, match=r"kb=128 is outside VBUF 0\.\.127"):
        assemble(t2("VOP kb=128"), small)
    short = CoreConfig(thread_program_len=(64, 4, 64, 64, 64, 64, 64, 64))
    assemble(program((1, ["NOP"] * 3 + ["END"])), short)
    with pytest.raises(AsmError, match=message(1, 4, 6, "END", r"more than 4 \(T1's "
                                                                r"program_len 4")):
        assemble(program((1, ["NOP"] * 4 + ["END"])), short)
    lean = CoreConfig(spare_threads=False)
    for t in (3, 5):
        text = program((t, ["SIGNAL ctr=1", "END"]), (0, ["WAIT ctr=1", "END"]))
        assemble(text, CORE)
        with pytest.raises(AsmError, match=message(t, 0, 2, "SIGNAL ctr=1",
                                                   rf"this core has no T{t} \(spare_"
                                                   r"threads is False")):
            assemble(text, lean)


def test_wstream_d_only_with_pair():
    """A WSTREAM without ``pair`` ignores its ``d`` (any size, any range); with ``pair``
    both generators are walked."""
    prog = assemble(t0("AGBASE g=1 base=32768", "AGDIM g=0 d=0 count=4 stride=8",
                       "WSTREAM s=0 d=1 prec=1"), CORE, check_deadlock=False)
    assert prog.threads[0][-2]["d"] == 1
    prog = assemble(program((0, ["AGBASE g=1 base=8192", "AGDIM g=0 d=0 count=2 stride=8",
                                 "AGDIM g=1 d=0 count=2 stride=8", "WSTREAM s=0 d=1 pair=1",
                                 "END"]),
                            (1, ["AGDIM g=0 d=0 count=4 stride=0", "AGDIM g=1 d=0 count=4 stride=1",
                                 "SSTREAM s=0 d=1 period=4", "END"])), CORE)
    assert encode(prog.threads[0][-2]) >> 7 & 1 == 1   # pair: bit 7, after s, d, prec, act_signed


def test_weights_over_the_mnoc():
    """A WSTREAM with ``noc`` walks ``s`` only to count its rows (any base, even outside
    MEM) and the deadlock check assumes a weight put whenever it wants one; SEND
    weight=1 on T6 is accepted, its ``d`` still checked as the receivers' MEM."""
    wts = ["AGBASE g=0 base=0xfffff8", "AGDIM g=0 d=0 count=8 stride=8",
           "WSTREAM s=0 noc=1", "END"]
    steps = ["AGDIM g=0 d=0 count=2 stride=0", "AGDIM g=1 d=0 count=2 stride=1",
             "SSTREAM s=0 d=1 period=1", "END"]
    prog = assemble(program((0, wts), (1, steps)), CORE)
    assert prog.threads[0][2]["noc"] == 1
    assert encode(prog.threads[0][2]) >> 8 & 1 == 1   # noc: bit 8, after pair
    # Without the MNoC's rows T0 never ends: the cycle model alone deadlocks.
    with pytest.raises(Deadlock):
        predict(CORE, prog.threads)
    # Two tiles and then a third that the VMM cannot hold, with T1 waiting for T0.
    wts3 = ["AGDIM g=0 d=0 count=12 stride=8", "WSTREAM s=0 noc=1", "SIGNAL ctr=3", "END"]
    with pytest.raises(AsmError, match=r"the VMM holds two weight tiles"):
        assemble(program((0, wts3), (1, ["WAIT ctr=3", *steps])), CORE)
    send = assemble(program((6, ["AGDIM g=0 d=0 count=4 stride=8",
                                 "AGDIM g=1 d=0 count=4 stride=8",
                                 "SEND s=0 d=1 x1=1 y1=1 weight=1", "END"])), CORE)
    assert encode(send.threads[6][2]) >> 34 & 1 == 1   # weight: bit 34, after start
    with pytest.raises(AsmError, match=r"the destination AG1 reaches MEM bytes"):
        assemble(program((6, ["AGBASE g=1 base=32760", "AGDIM g=1 d=0 count=2 stride=8",
                              "AGDIM g=0 d=0 count=2 stride=8", "SEND s=0 d=1 weight=1",
                              "END"])), CORE)


def test_rejects_program_objects():
    # Without source text the message names the instruction as the disassembler writes it.
    with pytest.raises(AsmError, match=message(2, 1, None,
                                               "WSTREAM s=0 d=0 prec=0 act_signed=0 pair=0 noc=0",
                                               r"WSTREAM runs only on thread 0")):
        Program(CORE, [[], [], [Instr(Op.NOP), Instr(Op.WSTREAM), Instr(Op.END)]])


def word_bytes(*words):
    return b"".join(w.to_bytes(8, "little") for w in words)


END = Op.END << 59


@pytest.mark.parametrize("data, rest", [
    (bytes([1]) + bytes(7) + word_bytes(31 << 59),
     message(0, 0, None, "0xf800000000000000", r"invalid opcode 31")),
    (bytes([0, 2]) + bytes(6) + word_bytes(END, (Op.NOP << 59) | 1),
     message(1, 1, None, "0x0000000000000001", r"NOP: unused bits set")),
    (bytes([0, 0, 1]) + bytes(5) + word_bytes((Op.SIGNAL << 59) | 1 << 4),
     message(2, 0, None, "0x2000000000000010", r"SIGNAL: unused bits set")),
    (bytes([1]) + bytes(7) + word_bytes((Op.WSTREAM << 59) | 0x8000),
     message(0, 0, None, "0x4800000000008000", r"WSTREAM: unused bits set")),
    (bytes([0, 1]) + bytes(6) + word_bytes(Op.WSTREAM << 59),
     message(1, 0, None, "WSTREAM s=0 d=0 prec=0 act_signed=0 pair=0 noc=0",
             r"runs only on thread 0")),
    (bytes([0, 0, 0, 1]) + bytes(4) + word_bytes(Op.NOP << 59),
     message(3, 0, None, "NOP", r"the program does not end with END")),
    (bytes([2]) + bytes(7) + word_bytes(END), r"the header gives 2 instructions"),
    (bytes(4), r"an image of 4 bytes has no 8-byte header word"),
])
def test_rejects_images(data, rest):
    with pytest.raises(AsmError, match=rest):
        disassemble_image(data, CORE)


def test_rejects_image_header():
    wide = CoreConfig(mem_port_bits=128)
    with pytest.raises(AsmError, match=r"header bytes 8\.\.15 must be zero"):
        Program.from_image(bytes(8) + bytes([1]) + bytes(7), wide)


# Remote SIGNALs (puts with signal set, from other cores).

REMOTE = """
.remote ctr=3 count=2
.thread 4
    WAIT ctr=3
    WAIT ctr=3
    END
"""


def test_remote_signals():
    """``.remote`` declares the SIGNALs other cores send: the counter check counts them,
    the deadlock check assumes them there from the start; the text round-trips."""
    prog = assemble(REMOTE, CORE)
    assert prog.remote == {3: 2}
    assert assemble(disassemble(prog), CORE).remote == {3: 2}
    assert disassemble(prog).startswith(".remote ctr=3 count=2\n")
    # Without the declaration, or with too few: rejected by the counter check.
    with pytest.raises(AsmError, match="no thread SIGNALs counter 3"):
        assemble(REMOTE.replace(".remote ctr=3 count=2", ""), CORE)
    with pytest.raises(AsmError, match="waited on 2 times but signalled only 1"):
        assemble(REMOTE.replace("count=2", "count=1"), CORE)
    assert Program(CORE, prog.threads, remote={3: 2}).remote == {3: 2}


@pytest.mark.parametrize("line, match", [
    (".remote ctr=3", r'expected "\.remote ctr=C count=K"'),
    (".remote ctr=3 count=2 extra=1", r'expected "\.remote ctr=C count=K"'),
    (".remote ctr=x count=2", r'expected "\.remote ctr=C count=K"'),
    (".remote ctr=16 count=2", r"remote: counter 16 is not one of 0\.\.15"),
    (".remote ctr=3 count=0", r"remote: counter 3's count must be a positive integer"),
])
def test_remote_rejects(line, match):
    with pytest.raises(AsmError, match=match):
        assemble(line + "\n.thread 4\n    END\n", CORE)


def test_remote_rejects_repeat():
    with pytest.raises(AsmError, match="counter 3 already declared"):
        assemble(".remote ctr=3 count=1\n.remote ctr=3 count=1\n", CORE)


@pytest.mark.parametrize("remote", [{16: 1}, {"3": 1}, {3: 0}, {3: 1.0}, {3: True}])
def test_remote_rejects_values(remote):
    with pytest.raises(AsmError, match="remote: counter"):
        Program(CORE, [], remote=remote)


PSUM = """
.thread 0
    AGDIM g=0 d=0 count=4 stride=8
    WSTREAM s=0
    END
.thread 1
    AGDIM g=0 d=0 count=6 stride=8
    AGDIM g=1 d=0 count=6 stride=1
    SSTREAM s=0 d=1 zero=2 period=6 pin=1 pout=1 dir=2
    END
"""


def test_pnoc_sstream():
    """An SSTREAM that takes partial sums from the PNoC and sends its results on: the
    fields round-trip, and the deadlock check feeds the PNoC input (a partner that keeps
    up) and takes every output, so the program is accepted; the cycle model alone,
    without partial sums arriving, deadlocks in T1 naming the PNoC."""
    prog = assemble(PSUM, CORE)
    ins = prog.threads[1][-2]
    assert (ins.op, ins["pin"], ins["pout"], ins["dir"], ins["zero"]) == \
        (Op.SSTREAM, 1, 1, 2, 2)
    assert assemble(disassemble(prog), CORE).threads == prog.threads
    with pytest.raises(Deadlock, match="no partial sums at its PNoC input"):
        CycleModel(CORE).run(prog.threads)
