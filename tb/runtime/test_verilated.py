"""The core's RTL through the C++ harness (:mod:`sw.runtime.verilated`): compiled layers
at every precision give the layer reference's output bit for bit in exactly the cycle
model's cycles and VMM steps; a timeout and a deadlock raise and leave the core usable
after a reset; every bad argument is rejected, naming it.

The harness library is built once per session (``sim`` core; reused from
``build/runtime/sim`` when nothing changed). Random data comes from the session seed
(tb/conftest.py), printed by each test that uses it.
"""

import numpy as np
import pytest

from rtl.spec.codes import AfuOp
from rtl.spec.config import get_config
from sw.compiler_stub.asm import assemble
from sw.compiler_stub.conv import compile_conv2d
from sw.golden.cycles import CycleModel, Deadlock, predict
from sw.golden.layers import Conv2d, conv2d_reference
from sw.runtime.verilated import RtlConflict, RtlDeadlock, RtlError, RtlTimeout, \
    VerilatedCore

from ..core.stimulus import fitting_layer, random_tensors

CONFIG = get_config("sim").core

#: One 3x3 convolution per precision (input, weights and output of that precision).
LAYERS = {
    8: (Conv2d(16, 8, 3, padding=1, bits=8, shift=6, activation=AfuOp.RELU), 6, 6),
    4: (Conv2d(16, 8, 3, padding=1, bits=4, out_bits=4, shift=2, activation=AfuOp.RELU),
        6, 6),
    2: (Conv2d(16, 8, 3, padding=1, bits=2, out_bits=2, activation=AfuOp.RELU), 6, 6),
}


@pytest.fixture(scope="session")
def core():
    with VerilatedCore("sim") as c:
        yield c


@pytest.fixture
def idle_core(core):
    """The session's core, reset after the test (a test may leave it busy)."""
    yield core
    core.reset()


def run_compiled(core, compiled, x, res=None, max_cycles=2_000_000):
    for addr, data in compiled.preload:
        core.write(addr, data)
    core.write(compiled.input.base, compiled.input.pack(x))
    if compiled.residual is not None:
        core.write(compiled.residual.base, compiled.residual.pack(res))
    cycles = core.run(compiled.entry, max_cycles)
    out = core.read(compiled.output.base, compiled.output.size)
    return compiled.output.unpack(out), cycles


def check_layer(core, seed, layer, h, w, tensors):
    x, wts, scale, bias = tensors[:4]
    res = tensors[4] if layer.residual else None
    compiled = compile_conv2d(CONFIG, layer, h, w, wts, scale, bias)
    got, cycles = run_compiled(core, compiled, x, res)
    want = conv2d_reference(layer, x, wts, scale, bias, res)[1]
    assert np.array_equal(got, want), f"seed {seed}: {layer} {h}x{w}: output differs"
    predicted, steps = predict(CONFIG, compiled.programs)
    assert (cycles, core.vmm_steps) == (predicted, steps), \
        f"seed {seed}: {layer} {h}x{w}: (cycles, VMM steps) RTL {(cycles, core.vmm_steps)}, " \
        f"cycle model {(predicted, steps)}"
    return compiled, cycles


@pytest.mark.parametrize("bits", sorted(LAYERS))
def test_layer(core, seed, bits):
    print(f"seed {seed}")
    rng = np.random.default_rng([seed, bits])
    layer, h, w = LAYERS[bits]
    tensors = random_tensors(rng, layer, h, w)
    compiled, cycles = check_layer(core, seed, layer, h, w, tensors)
    # The same program with other data: the same cycles.
    x = random_tensors(rng, layer, h, w)[0]
    assert run_compiled(core, compiled, x)[1] == cycles


def test_random_layers(core, seed):
    """Random layers (any precisions, depthwise, residual, strides) that fit the core."""
    print(f"seed {seed}")
    rng = np.random.default_rng([seed, 1])
    for _ in range(4):
        layer, h, w, tensors = fitting_layer(CONFIG, rng, 8)
        check_layer(core, seed, layer, h, w, tensors)


def test_mem_round_trip(core, seed):
    """The whole MEM written and read back through the host port."""
    print(f"seed {seed}")
    data = np.random.default_rng([seed, 2]).integers(0, 256, core.mem_bytes, np.uint8)
    core.write(0, data.tobytes())
    assert core.read(0, core.mem_bytes) == data.tobytes()
    w = core.word_bytes
    core.write(core.mem_bytes - w, bytes(range(w)))
    assert core.read(core.mem_bytes - 2 * w, 2 * w) == data[-2 * w:-w].tobytes() + bytes(range(w))
    assert core.read(0, 0) == b""


def test_timeout(idle_core):
    core = idle_core
    layer, h, w = LAYERS[8]
    tensors = random_tensors(np.random.default_rng(0), layer, h, w)
    compiled = compile_conv2d(CONFIG, layer, h, w, *tensors[1:4])
    with pytest.raises(RtlTimeout, match="more than 10 cycles") as info:
        run_compiled(core, compiled, tensors[0], max_cycles=10)
    assert 0 < info.value.cycles <= 12
    with pytest.raises(RtlError, match="busy"):       # still running: MEM is the core's
        core.read(0, 8)
    with pytest.raises(RtlError, match="busy"):
        core.run(compiled.entry)
    core.reset()
    check_layer(core, 0, layer, h, w, tensors)


def test_deadlock(idle_core):
    """T0 and T3 each wait for the other's SIGNAL: the core deadlocks in the cycle the
    cycle model names."""
    core = idle_core
    prog = assemble(".thread 0\nWAIT ctr=1\nSIGNAL ctr=0\nEND\n"
                    ".thread 3\nWAIT ctr=0\nSIGNAL ctr=1\nEND\n", CONFIG, check_deadlock=False)
    with pytest.raises(Deadlock) as model:
        CycleModel(CONFIG).run(prog.threads)
    core.write(0, prog.image())
    with pytest.raises(RtlDeadlock, match="deadlocked") as info:
        core.run(0, max_cycles=1000)
    assert info.value.cycles == model.value.cycle
    core.reset()
    prog = assemble(".thread 3\nSIGNAL ctr=0\nWAIT ctr=0\nEND\n", CONFIG)
    core.write(0, prog.image())
    assert core.run(0) == CycleModel(CONFIG).run(prog.threads)[0]


def conflict_program(config, bank):
    """T0 streams four weight tiles from bank 1 while T1 steps them, two steps a tile,
    over activations in bank ``bank`` of a core of ``config``: in bank 1 the two streams
    meet, in bank 2 they do not."""
    b = config.sram_bank_bytes
    return assemble(f"""
    .thread 0
        AGBASE g=0 base={b}
        AGDIM g=0 d=0 count={4 * config.vmm_rows} stride=8
        WSTREAM s=0 prec=0 act_signed=0
        END
    .thread 1
        AGBASE g=0 base={bank * b + 1024}
        AGDIM g=0 d=0 count=2 stride=8
        AGDIM g=0 d=1 count=4 stride=0
        AGDIM g=1 d=0 count=2 stride=1
        AGDIM g=1 d=1 count=4 stride=0
        SSTREAM s=0 d=1 zero=2 period=2
        END
    """, config)


@pytest.mark.parametrize("bank", [1, 2])
def test_conflict(idle_core, bank):
    """T0 streams four weight tiles from bank 1 while T1 steps them, two steps a tile,
    over activations in bank ``bank``: in bank 1 the two streams meet (the RTL raises its
    ``conflict`` flag and the cycle model records the meeting, in cycle 20); in bank 2
    neither does, and the cycles agree."""
    core = idle_core
    prog = conflict_program(CONFIG, bank)
    model = CycleModel(CONFIG)
    cycles = model.run(prog.threads)[0]
    core.write(0, prog.image())
    if bank == 1:
        assert model.conflict == ("cycle 20 of a run: MEM bank 1 read or written by T0's "
                                  "weights and T1's activations at once")
        with pytest.raises(RtlConflict, match="two accesses met in one MEM bank") as info:
            core.run(0)
        assert info.value.cycles == cycles
    else:
        assert model.conflict is None
        assert core.run(0) == cycles


def test_free_run(core):
    before = core.read(0, 64)
    core.free_run(1000)
    core.free_run(0)
    assert core.read(0, 64) == before


M = CONFIG.sram_banks * CONFIG.sram_bank_bytes
W = CONFIG.mem_port_bits // 8

#: (method, args, exception, message) of every rejected argument.
REJECTED = [
    ("write", (1, bytes(W)), ValueError, "addr must be a multiple"),
    ("write", (-W, bytes(W)), ValueError, "addr must be in"),
    ("write", (M, bytes(W)), ValueError, "addr must be in"),
    ("write", (0.0, bytes(W)), TypeError, "addr must be an integer"),
    ("write", (True, bytes(W)), TypeError, "addr must be an integer"),
    ("write", (0, bytes(W + 1)), ValueError, "data must be whole MEM words"),
    ("write", (M - W, bytes(2 * W)), ValueError, "data .* runs past the end of MEM"),
    ("write", (0, "text"), TypeError, "data must be bytes"),
    ("write", (0, [0] * W), TypeError, "data must be bytes"),
    ("read", (W // 2, W), ValueError, "addr must be a multiple"),
    ("read", (0, W - 1), ValueError, "n must be whole MEM words"),
    ("read", (0, -W), ValueError, "n must be in"),
    ("read", (0, M + W), ValueError, "n must be in"),
    ("read", (0, float(W)), TypeError, "n must be an integer"),
    ("read", (M - W, 2 * W), ValueError, "n .* runs past the end of MEM"),
    ("run", (4,), ValueError, "entry must be a multiple"),
    ("run", (M,), ValueError, "entry must be in"),
    ("run", (-W,), ValueError, "entry must be in"),
    ("run", ("0",), TypeError, "entry must be an integer"),
    ("run", (0, 0), ValueError, "max_cycles must be in"),
    ("run", (0, 1 << 64), ValueError, "max_cycles must be in"),
    ("run", (0, 1.5), TypeError, "max_cycles must be an integer"),
    ("free_run", (-1,), ValueError, "n must be in"),
    ("free_run", (1.0,), TypeError, "n must be an integer"),
]


@pytest.mark.parametrize("method, args, error, message", REJECTED,
                         ids=[f"{m}-{i}" for i, (m, *_) in enumerate(REJECTED)])
def test_rejects(core, method, args, error, message):
    with pytest.raises(error, match=message):
        getattr(core, method)(*args)


@pytest.mark.parametrize("config, error, message", [
    ("northpole", ValueError, "config must be one of"),
    ("nosuch", ValueError, "config must be one of"),
    (None, TypeError, "config must be a configuration name"),
])
def test_rejects_config(config, error, message):
    with pytest.raises(error, match=message):
        VerilatedCore(config)


def test_closed(core):
    other = VerilatedCore("sim")       # the session's library: no build
    assert other.library == core.library
    other.close()
    other.close()
    with pytest.raises(ValueError, match="closed"):
        other.read(0, 8)

