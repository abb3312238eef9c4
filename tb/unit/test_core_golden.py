"""The golden core running compiled layers: bit-exact against the layers' direct numpy
reference, over random shapes, strides, paddings, precisions and activations, on memory
that starts as random bytes."""

from dataclasses import replace

import re

import numpy as np
import pytest

from rtl.spec.config import get_config
from sw.compiler_stub.conv import CompileError, compile_conv2d
from rtl.spec.codes import AfuOp
from sw.golden import fp16
from sw.golden.core import Core, CoreError, Deadlock
from sw.golden.cycles import load_cycles, predict
from rtl.spec.isa import Instr, Op, encode
from sw.golden.layers import Conv2d, Pool2d, conv2d_reference, pool2d_reference

from ..core.stimulus import (border_bytes, dirty_core, fits, fitting_layer, random_pool,
                             random_tensors, run_layer, run_pool)


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_border_runs(padding):
    """``ActivationLayout.border()`` covers every byte outside the interior once, with
    zeros, and nothing inside it."""
    layer = Conv2d(12, 20, 1, bits=4, out_bits=8)       # output: 3 chunks per position
    layout = compile_conv2d(get_config("sim").core, layer, 3, 5, np.zeros((20, 1, 1, 12), int),
                            np.zeros(20, np.uint16), np.zeros(20, np.uint16),
                            out_padding=padding).output
    covered = np.zeros(layout.size, dtype=np.uint8)
    for addr, zeros in layout.border():
        assert not any(zeros)
        covered[addr - layout.base:addr - layout.base + len(zeros)] += 1
    outside = border_bytes(layout, covered.tobytes())
    assert outside.size == ((3 + 2 * padding) * (5 + 2 * padding) - 15) * 3 * 8
    assert (outside == 1).all() and covered.sum() == outside.size


@pytest.mark.parametrize("config", ["sim", "ulx3s"])
def test_random_layers(config, seed):
    """Random layers on memory of random bytes, with an output border of 0 to 2."""
    core = get_config(config).core
    rng = np.random.default_rng(seed)
    mem = np.random.default_rng([seed, 1])   # the memory's bytes and the output borders
    for _ in range(15):
        layer, h, w, tensors = fitting_layer(core, rng, 12 if config == "sim" else 8)
        pad = int(mem.integers(0, 3))
        try:
            compiled, got = run_layer(core, layer, h, w, *tensors, out_padding=pad, dirty=mem)
        except CompileError as e:            # the border made the output too large
            assert "do not fit" in str(e) and pad
            compiled, got = run_layer(core, layer, h, w, *tensors, dirty=mem)
        _, expected = conv2d_reference(layer, *tensors)
        assert np.array_equal(got, expected), (layer, h, w, pad)


def chained_layer(core, rng, prev, h, w):
    """A random layer (with tensors) that reads ``prev``'s output of ``h x w`` positions
    (its channels and type) with a padding of 1 or 2, and fits the core."""
    for _ in range(100):
        k = int(rng.integers(2, 4))
        layer = Conv2d(prev.out_channels, int(rng.integers(1, 12)), k,
                       padding=int(rng.integers(1, k)), stride=int(rng.integers(1, 3)),
                       bits=prev.out_bits, in_signed=prev.out_signed,
                       out_bits=int(rng.choice([8, 4, 2])), out_signed=bool(rng.integers(2)),
                       shift=int(rng.integers(0, 6)), residual=bool(rng.random() < 0.25),
                       activation=[None, AfuOp.RELU, AfuOp.EXP][int(rng.integers(3))])
        if min(h, w) + 2 * layer.padding < k:
            continue
        tensors = random_tensors(rng, layer, h, w)
        if fits(core, layer, h, w, tensors):
            return layer, tensors
    raise AssertionError("no fitting chained layer in 100 draws")


def test_chained_layers_on_dirty_memory(seed):
    """Five layers in sequence on one golden core whose MEM starts as random bytes and is
    never cleared: each layer's output buffer, border included, is copied as the next
    layer's input buffer, so the next layer's padding reads the border the previous
    layer's preload zeroed. Every output equals the reference chain."""
    core = get_config("sim").core
    rng = np.random.default_rng(seed)
    golden = dirty_core(core, rng)
    layer, h, w, tensors = fitting_layer(core, rng, 10)
    x, data = tensors[0], None
    for n in range(5):
        oh, ow = layer.out_size(h, w)
        nxt, nxt_tensors = chained_layer(core, rng, layer, oh, ow)
        compiled = compile_conv2d(core, layer, h, w, *tensors[1:4], out_padding=nxt.padding)
        for addr, chunk in compiled.preload:
            golden.write(addr, chunk)
        golden.write(compiled.input.base, compiled.input.pack(x) if data is None else data)
        if layer.residual:
            golden.write(compiled.residual.base, compiled.residual.pack(tensors[4]))
        golden.run(compiled.entry)
        data = golden.read(compiled.output.base, compiled.output.size)
        x = conv2d_reference(layer, x, *tensors[1:])[1]
        assert np.array_equal(compiled.output.unpack(data), x), (n, layer, h, w)
        assert not border_bytes(compiled.output, data).any(), (n, layer, h, w)
        following = compile_conv2d(core, nxt, oh, ow, *nxt_tensors[1:4])
        assert replace(following.input, base=0) == replace(compiled.output, base=0)
        layer, h, w, tensors = nxt, oh, ow, nxt_tensors


def test_multiple_bands_and_blocks(seed):
    """A layer larger than half the PSB runs in bands; 16 output channels in 4 blocks."""
    core = get_config("sim").core
    rng = np.random.default_rng(seed)
    layer = Conv2d(16, 16, 3, padding=1, bits=8, activation=AfuOp.RELU)
    x, wts, scale, bias = random_tensors(rng, layer, 16, 16)
    compiled, got = run_layer(core, layer, 16, 16, x, wts, scale, bias)
    assert compiled.bands > 1 and compiled.blocks == 4
    assert np.array_equal(got, conv2d_reference(layer, x, wts, scale, bias)[1])


def test_unequal_bands(seed):
    """Bands of unequal heights: random layers on random memory, in random band heights
    (whose blocks, an odd number too, alternate the PSB halves from band to band), stay
    bit-exact; a 1x1 layer without borders is split into bands of positions that are
    not whole rows (the compiler's choice for the benchmark's northpole layer)."""
    core = get_config("sim").core
    rng = np.random.default_rng(seed)
    mem = np.random.default_rng([seed, 3])
    ran = tries = 0
    while ran < 8:
        tries += 1
        assert tries <= 40, f"only {ran} of 40 random layers' band programs fit program_len"
        layer, h, w, tensors = fitting_layer(core, rng, 10)
        oh, ow = layer.out_size(h, w)
        # Bands of a random height, the last two of random heights (at most three
        # heights; a layer whose programs still do not fit is drawn again).
        top = min(oh, core.psb_entries // 2 // ow)
        first = int(rng.integers(1, top + 1))
        heights = [first] * (oh // first)
        rest = oh - sum(heights[:-1])
        if rest > 1:
            a = int(rng.integers(max(1, rest - top), min(rest - 1, top) + 1))
            heights[-1:] = [a, rest - a]
        else:
            heights[-1] = rest
        try:
            compiled, got = run_layer(core, layer, h, w, *tensors, dirty=mem,
                                      band_heights=heights)
        except CompileError as error:   # three heights' code may not fit: draw again
            if "program_len" not in str(error):
                raise
            continue
        ran += 1
        assert compiled.band_positions == tuple(b * ow for b in heights)
        assert np.array_equal(got, conv2d_reference(layer, *tensors)[1]), (layer, heights)
    northpole = get_config("northpole").core
    layer = Conv2d(256, 64, 1, bits=2, out_bits=2, activation=AfuOp.RELU)
    tensors = random_tensors(rng, layer, 14, 14)
    compiled, got = run_layer(northpole, layer, 14, 14, *tensors, dirty=mem)
    assert sum(compiled.band_positions) == 196
    assert any(p % 14 for p in compiled.band_positions), compiled.band_positions
    assert np.array_equal(got, conv2d_reference(layer, *tensors)[1])


def test_fully_connected_is_1x1(seed):
    """A fully connected layer over a batch of 12 vectors."""
    core = get_config("sim").core
    rng = np.random.default_rng(seed)
    layer = Conv2d(40, 10, 1, bits=4, out_bits=8)
    x, wts, scale, bias = random_tensors(rng, layer, 1, 12)
    _, got = run_layer(core, layer, 1, 12, x, wts, scale, bias)
    assert np.array_equal(got, conv2d_reference(layer, x, wts, scale, bias)[1])


def test_weight_row_pairs(seed):
    """On a core with a fifth bank the compiler keeps the tiles' odd rows there and T0
    reads a row pair a cycle: random layers stay bit-exact on random memory, never take
    more cycles after the program load (T0's program is 3 instructions longer) than with
    one row a cycle, and a fully connected layer whose tiles serve fewer steps than they
    have rows gets faster."""

    def run_cycles(core, programs):
        return predict(core, programs)[0] - load_cycles(programs, core.word_instrs)

    four = get_config("sim").core
    five = replace(four, sram_banks=5)
    rng = np.random.default_rng(seed)
    mem = np.random.default_rng([seed, 2])
    for _ in range(10):
        layer, h, w, tensors = fitting_layer(five, rng, 10)
        compiled, got = run_layer(five, layer, h, w, *tensors, dirty=mem)
        assert np.array_equal(got, conv2d_reference(layer, *tensors)[1]), (layer, h, w)
        wstream = [ins for ins in compiled.programs[0] if ins.op == Op.WSTREAM]
        assert [ins["pair"] for ins in wstream] == [1]
        single = compile_conv2d(four, layer, h, w, *tensors[1:4])
        assert run_cycles(five, compiled.programs) <= run_cycles(four, single.programs)
    # The sim VMM's 4-row tiles load in 4 cycles either way faster than small batches
    # run; the northpole core's 32-row tiles serving a batch of 16 are load-bound.
    northpole = get_config("northpole").core
    layer = Conv2d(512, 128, 1, bits=8, shift=6)
    x, wts, scale, bias = random_tensors(rng, layer, 1, 16)
    compiled, got = run_layer(northpole, layer, 1, 16, x, wts, scale, bias)
    assert np.array_equal(got, conv2d_reference(layer, x, wts, scale, bias)[1])
    pairs = predict(northpole, compiled.programs)
    one_row = replace(northpole, sram_banks=4)
    rows = predict(one_row, compile_conv2d(one_row, layer, 1, 16, wts, scale, bias).programs)
    assert pairs[1] == rows[1] and pairs[0] < 0.6 * rows[0], (pairs, rows)


def test_rejects_unfit_layers():
    core = get_config("sim").core
    big = Conv2d(2048, 4, 7, bits=8, in_signed=False)  # 2048*49*128*255 > 2**31
    with pytest.raises(CompileError, match="could reach 3275489280"):
        compile_conv2d(core, big, 7, 7, np.full((4, 7, 7, 2048), -128),
                       np.zeros(4, np.uint16), np.zeros(4, np.uint16))
    with pytest.raises(CompileError, match="do not fit"):
        layer = Conv2d(64, 64, 7, bits=8)
        compile_conv2d(core, layer, 7, 7, np.zeros((64, 7, 7, 64), int),
                       np.zeros(64, np.uint16), np.zeros(64, np.uint16))
    with pytest.raises(ValueError, match="kernel must be at most 7"):
        Conv2d(4, 4, 9)


def test_deadlock_is_reported():
    core = get_config("sim").core
    golden = Core(core)
    header = bytes([2, 0, 0, 0, 0, 0, 0, 0])  # T0: WAIT ctr=3 (never signalled), END
    program = [encode(Instr(Op.WAIT, {"ctr": 3})), encode(Instr(Op.END))]
    golden.write(0, header + b"".join(w.to_bytes(8, "little") for w in program))
    # Load: 1 header cycle, 1 per instruction, 1 for the last write and the start; T0's
    # WAIT blocks in the first run cycle (5), with nothing else running.
    with pytest.raises(Deadlock, match=re.escape("deadlock at cycle 5: T0 at 0: WAIT ctr=3 "
                                                 "(counter 3 is 0); counters: all 0")) as exc:
        golden.run(0)
    assert exc.value.cycle == 5 and exc.value.counters == [0] * 16
    assert exc.value.threads == [(0, 0, "RUN", "WAIT ctr=3")]
    with pytest.raises(Deadlock, match="deadlock at cycle 5"):
        predict(core, golden.load_programs(0))


@pytest.mark.parametrize("thread", [3, 5])
def test_absent_thread_is_rejected(thread):
    """A core without spare threads (``ulx3s``) rejects an image with a program for T3 or
    T5, in the golden core and in the cycle model; the same image runs on the ``sim``
    core."""
    header = bytes(2 if t == thread else 0 for t in range(8))
    program = [encode(Instr(Op.NOP)), encode(Instr(Op.END))]
    image = header + b"".join(w.to_bytes(8, "little") for w in program)
    sim = Core(get_config("sim").core)
    sim.write(0, image)
    assert sim.run(0)[1] == 0   # runs (no VMM step)
    lean = get_config("ulx3s").core
    golden = Core(lean)
    golden.write(0, image)
    with pytest.raises(CoreError, match=rf"T{thread} has a program of 2 instructions, but "
                                        rf"this core has no T{thread} \(spare_threads is"):
        golden.run(0)
    with pytest.raises(CoreError, match=rf"this core has no T{thread}"):
        predict(lean, golden.load_programs(0))


def test_thread_program_len_is_checked():
    """An image whose T1 program is longer than T1's own buffer is rejected, though it
    fits ``program_len``."""
    core = replace(get_config("sim").core, thread_program_len=(64, 4, 64, 64, 64, 64, 64, 64))
    program = [encode(Instr(Op.NOP))] * 4 + [encode(Instr(Op.END))]
    image = bytes([0, 5, 0, 0, 0, 0, 0, 0]) + b"".join(w.to_bytes(8, "little")
                                                      for w in program)
    golden = Core(core)
    golden.write(0, image)
    with pytest.raises(CoreError, match=r"T1's program has 5 instructions, more than its "
                                        r"program_len = 4"):
        golden.run(0)
    with pytest.raises(CoreError, match=r"T1's program has 5 instructions, more than its "
                                        r"program_len = 4"):
        predict(core, [[], [Instr(Op.NOP)] * 4 + [Instr(Op.END)]])
    wide = Core(get_config("sim").core)
    wide.write(0, image)
    wide.run(0)


@pytest.mark.parametrize("kind", ["depthwise", "residual"])
def test_depthwise_and_residual(kind, seed):
    core = get_config("sim").core
    rng = np.random.default_rng(seed)
    for bits in (8, 4, 2):
        layer = Conv2d(24, 24, 3, padding=1, bits=bits, out_bits=bits, shift=2,
                       depthwise=kind == "depthwise", residual=kind == "residual",
                       res_shift=1, activation=AfuOp.RELU)
        tensors = random_tensors(rng, layer, 8, 8)
        _, got = run_layer(core, layer, 8, 8, *tensors)
        assert np.array_equal(got, conv2d_reference(layer, *tensors)[1]), bits


@pytest.mark.parametrize("config", ["sim", "ulx3s"])
def test_random_pools(config, seed):
    """Random pooling layers on a dirty memory equal the reference: on sim a word is one
    VMM vector; on ulx3s it holds two vectors' bytes, and the channel blocks loop inside
    a loop over the chunks."""
    core = get_config(config).core
    rng = np.random.default_rng(seed)
    mem = np.random.default_rng([seed, 1])   # the memory's bytes
    for _ in range(20 if config == "sim" else 30):
        pool, h, w, x = random_pool(rng, core)
        _, got = run_pool(core, pool, h, w, x, dirty=mem)
        assert np.array_equal(got, pool2d_reference(pool, x)), (config, pool, h, w)


def test_pool_known_values():
    core = get_config("sim").core
    x = np.arange(-8, 8).reshape(4, 4, 1) * np.ones((1, 1, 4), dtype=int)
    _, got = run_pool(core, Pool2d(4, 2, 2, "max"), 4, 4, x)
    assert got[..., 0].tolist() == [[-3, -1], [5, 7]]
    _, got = run_pool(core, Pool2d(4, 2, 2, "avg"), 4, 4, x)
    assert got[..., 0].tolist() == [[-6, -4], [2, 4]]   # -5.5 and 2.5 round to even


def test_packed_results_repeat_lanes():
    """On the sim core the vector unit has 8 lanes for 4-lane vectors: lanes 4..7 repeat
    lanes 0..3, and a CVT_INT to int2 packs all eight, so the result vector's second
    byte repeats its first (the RTL's VBUF holds it; a VSTORE of int8 shows it)."""
    from rtl.spec.codes import VcuOp
    from sw.compiler_stub.asm import assemble
    core = get_config("sim").core
    assert core.vcu_lanes == 2 * core.vmm_rows == 8
    golden = Core(core)
    golden.write(0x4000, fp16.from_float(np.array([1.0, -1.0, 0.0, 1.0])).astype("<u2")
                 .tobytes())
    prog = assemble(f"""
    .thread 2
        AGBASE g=0 base=0x4000
        VLOAD s=0 k=0 mode=0
        AGBASE g=0 base=0
        AGBASE g=1 base=1
        VOP s=0 d=1 op={int(VcuOp.CVT_INT)} fmt=2 out_signed=1
        AGBASE g=2 base=0x6000
        VSTORE s=1 d=2 prec=0
        END
    """, core)
    golden.write(0, prog.image())
    golden.run(0)
    packed = 1 | 3 << 2 | 0 << 4 | 1 << 6      # 1, -1, 0, 1 as int2, lane 0 lowest
    assert golden.read(0x6000, 4) == bytes([packed, packed, 0, 0])
