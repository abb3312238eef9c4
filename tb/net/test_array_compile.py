"""The network compiler for an array of cores (sw/compiler_stub/array.py) on the golden
array: every tensor of random networks bit-exact against the reference on arrays of
several shapes and precisions, the runtime's golden backend, the cycles independent of
the data, and the rejections. The RTL array runs the same compiled networks in
tb/array (``test_network``)."""

import numpy as np
import pytest

from rtl.spec.config import ArrayConfig, get_config
from sw.compiler_stub.array import EXCHANGE_COUNTERS, compile_array, load_array, \
    read_output, write_input
from sw.compiler_stub.conv import PSB_FREE, PSB_READY, CompileError
from sw.compiler_stub.net import compile_network
from sw.compiler_stub.network import Network, NetworkError, run_reference
from sw.runtime.runtime import Runtime

from .nets import conv_stack, digits_like, global_pool, wide_classifier

SIM = get_config("sim")
SHAPES = [(1, 2), (2, 1), (2, 2), (1, 4), (4, 4)]
PRECISIONS = [(8, 8, 8, 8), (8, 4, 2, 4), (4, 4, 4, 4), (2, 2, 2, 2)]


def array(rows, cols):
    return ArrayConfig(name=f"a{rows}x{cols}", rows=rows, cols=cols, core=SIM.core)


def run_golden(compiled, x):
    model = load_array(compiled)
    write_input(compiled, model, x)
    model.run(compiled.entries)
    return model


def run_checked(compiled, x):
    """Run ``compiled`` on the golden array with input ``x``; every tensor the network
    computes, gathered from the cores that wrote it, must equal NumPy's reference.
    Returns the model."""
    model = run_golden(compiled, x)
    ref = run_reference(compiled.network, x)
    for node in compiled.network.nodes:
        name = node.output.name
        got = read_output(compiled, lambda k, a, n: model.cores[k].read(a, n), name)
        np.testing.assert_array_equal(got, ref[name], err_msg=name)
    return model


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("bits", PRECISIONS, ids=lambda b: "-".join(map(str, b)))
def test_golden_array_runs_the_network(shape, bits, seed):
    rng = np.random.default_rng([seed, *shape, *bits])
    print(f"seed {seed}, array {shape}, bits {bits}")
    net = digits_like(rng, bits)
    compiled = compile_array(array(*shape), net)
    x = rng.integers(0, 1 << bits[0], (8, 8, 1))
    model = run_checked(compiled, x)
    # the cycles do not depend on the data: the compiler's run had a zero input
    assert model.runs == compiled.runs and model.starts == compiled.starts
    # every layer's shares tile its output (each row of each chunk written by one core),
    # and its VMM work (rows x chunks x weight tiles) is spread as evenly as the cores
    # allow: a convolution's rows and chunks (8 x 2, 4 x 1 for the classifier at int8),
    # the classifier's 4 x 4 kernel's rows over a chain of 4 or 8 cores on arrays of 4
    # or 16 (its partial sums summed on the PNoC), a pooling's rows alone
    n = shape[0] * shape[1]
    for node in net.nodes:
        lay = compiled.layouts[node.output.name]
        owner = np.zeros((lay.height, lay.chunks), dtype=int)
        for _, y0, y1, c0, c1 in compiled.producers(node.output.name):
            owner[y0:y1 + 1, c0:c1] += 1
        assert (owner == 1).all(), f"{node.name}: rows x chunks written {owner.tolist()}"
        conv = node.name != "pool"
        tiles = node.layer.kernel ** 2 * compiled.layouts[node.input].chunks if conv else 1
        parts = compiled.parts[node.name]
        work = [(b[1] - b[0] + 1) * (ch[1] - ch[0]) * (tiles if p is None else p.hi - p.lo)
                for b, ch, p in zip(compiled.bands[node.name], compiled.chans[node.name],
                                    parts, strict=True) if b]
        even = -(-lay.height * lay.chunks * tiles // n)
        assert even <= max(work) <= -(-lay.height * lay.chunks // n) * tiles, (node.name, work)
        if n == 4:   # the 2 x 2 and 1 x 4: at int8 the classifier alone over a chain of
            # 4 (its 16 taps' rows a core), evenly
            chained = node.name == "fc" and bits[1] == 8
            assert {p.count for p in parts if p} == ({4} if chained else set())
            assert max(work) == even or not chained
    chunks = [-(-c // (SIM.core.vmm_cols * 8 // b)) for c, b in ((1, bits[0]), (16, bits[1]),
                                                                (16, bits[2]), (16, bits[1]))]
    want = [4 * 9 * chunks[0] * 64, 4 * 9 * chunks[1] * 64, 4 * 9 * chunks[2] * 64, 0,
            3 * 16 * chunks[3]]
    assert [r.vmm_steps for r in compiled.report] == want
    assert sum(r.cycles for r in compiled.report) == compiled.cycles


def test_runtime_golden_backend(seed):
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    net = conv_stack(rng, 3, size=12)
    compiled = compile_array(SIM, net)
    x = rng.integers(0, 256, (12, 12, 16))
    with Runtime(compiled) as rt:
        out = rt.infer(x)
        assert rt.cycles == compiled.cycles
        ref = run_reference(net, x)
        np.testing.assert_array_equal(out, ref[net.output.name])
        np.testing.assert_array_equal(rt.read_tensor(net.nodes[0].output.name),
                                      ref[net.nodes[0].output.name])
        with pytest.raises(ValueError, match="tensor x must have shape"):
            rt.write_tensor(np.zeros((12, 12, 15), dtype=np.int64))
        with pytest.raises(KeyError, match="no tensor 'zz'"):
            rt.read_tensor("zz")
    with pytest.raises(ValueError, match="backend must be one of"):
        Runtime(compiled, backend="tpu")


def test_spread_over_the_array_is_faster(seed):
    """The same 3 x 3 convolutions on 1, 2 and 4 cores: each doubling of the cores takes
    the cycles down by at least 1.8."""
    rng = np.random.default_rng(seed)
    net = conv_stack(rng, 2, size=16)
    cycles = [compile_array(array(1, c), net).cycles for c in (1, 2, 4)]
    print(f"seed {seed}, cycles on 1, 2, 4 cores: {cycles}")
    assert cycles[0] > 1.8 * cycles[1] > 1.8 * 1.8 * cycles[2]


def test_exchange_counters_are_free():
    assert not {PSB_FREE, PSB_READY} & set(EXCHANGE_COUNTERS)
    assert len(set(EXCHANGE_COUNTERS)) == len(EXCHANGE_COUNTERS)


def test_rejects():
    net = digits_like(np.random.default_rng(0))
    with pytest.raises(TypeError, match="config must be an ArrayConfig, not CoreConfig"):
        compile_array(SIM.core, net)
    with pytest.raises(TypeError, match="network must be a Network, not list"):
        compile_array(SIM, [])
    with pytest.raises(NetworkError, match="has no layers"):
        compile_array(SIM, Network("empty", net.input, []))
    with pytest.raises(TypeError, match="gather must be a bool, not int"):
        compile_array(SIM, net, gather=1)
    with pytest.raises(TypeError, match="chains must be a bool, not NoneType"):
        compile_array(SIM, net, chains=None)
    # every core holds a share of every layer's weights (here half of 4.6 KB) and a
    # window of every tensor: twelve layers do not fit
    with pytest.raises(CompileError, match=r"the network needs \d+ bytes of MEM, the "
                                           r"core has 32768: \d+ bytes too many \(tensor "
                                           r"x 640, .* conv0 weights 2304, "):
        compile_array(SIM, conv_stack(np.random.default_rng(0), 12))
    # no split of its 64 output channels keeps a share's weights within a bank; spanning
    # banks, they exceed the MEM
    with pytest.raises(CompileError, match=r"layer conv2, core 0's share \(output rows 0 to "
                                           r"1, chunks 0 to 7\): its weights and constants "
                                           r"\(37248 bytes\) exceed a core's MEM \(32768 "
                                           r"bytes\) by 4480 bytes"):
        compile_array(SIM, digits_like(np.random.default_rng(0), channels=64))


def test_output_channels_split_over_cores(seed):
    """A layer whose weights do not fit one core's bank runs with its output channels
    split over the cores: the 32-channel digits network does not compile for one core,
    and on the 2 x 2 array its 3 x 3 layers run as two bands of rows times two groups of
    chunks (each core half the weights), every tensor bit-exact."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    net = digits_like(rng, channels=32)
    with pytest.raises(CompileError, match="the weights .* exceed"):
        compile_network(SIM.core, net)
    compiled = compile_array(SIM, net)
    print(compiled.summary())
    for layer in ("conv2", "conv3"):
        assert sorted(compiled.producers({"conv2": "b", "conv3": "c"}[layer])) \
            == [(0, 0, 3, 0, 2), (1, 0, 3, 2, 4), (2, 4, 7, 0, 2), (3, 4, 7, 2, 4)]
        assert compiled.regions[f"{layer} weights"][2] == 32 * 9 * 32 // 2   # int8 bytes
    x = rng.integers(0, 256, (8, 8, 1))
    run_checked(compiled, x)


def test_windows_hold_what_a_core_touches(seed):
    """Each core holds a window of each tensor (the rows it writes and reads, border
    included): a 32 x 32 network whose tensors (18 KB each) do not fit one core's MEM
    together compiles on a 4 x 4 array, every window at most the rows of a band and its
    halo, and runs bit-exact."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    net = conv_stack(rng, 2, size=32)
    with pytest.raises(CompileError, match="the network needs 59816 bytes of MEM, the core "
                                           "has 32768"):
        compile_network(SIM.core, net)
    compiled = compile_array(array(4, 4), net)
    for name, lay in compiled.layouts.items():
        for k in range(16):
            lo, hi = compiled.windows[name][k]
            assert hi - lo + 1 <= 2 + 2, (name, k, lo, hi)   # a two-row band, a row each side
        # a row each side where a 3 x 3 layer reads it (x, t0); the output its bands alone
        assert compiled.regions[f"tensor {name}"][2] == (2 if name == "t1" else 4) * \
            lay.row_bytes
    x = rng.integers(0, 256, (32, 32, 16))
    run_checked(compiled, x)


def test_rectangles():
    from sw.compiler_stub.array import _rectangles
    assert _rectangles([5], 4) == [(1, 1, 1, 1)]
    assert _rectangles([0, 1, 2, 3], 4) == [(0, 3, 0, 0)]
    assert _rectangles([1, 2, 5, 6, 9, 10], 4) == [(1, 2, 0, 2)]
    assert _rectangles([0, 2, 3, 4], 4) == [(0, 0, 0, 1), (2, 3, 0, 0)]
    assert _rectangles([3, 4], 4) == [(3, 3, 0, 0), (0, 0, 1, 1)]


def test_channel_slice_layout():
    """A channel slice (``pitch`` > ``chunks``) is addressed at the tensor's pitch, and
    is neither packed nor unpacked, nor taken as a convolution's input (a pooling's
    input may be one: it reads its own channels)."""
    from dataclasses import replace

    from sw.compiler_stub.conv import ActivationLayout, Placement, compile_conv2d
    from sw.golden.layers import Conv2d
    whole = ActivationLayout(0, 4, 4, 32, 8, False, 1, 8, 8)
    part = replace(whole, base=16, channels=16, pitch=4)
    assert part.chunks == 2 and part.row_bytes == whole.row_bytes
    assert part.address(1, 2, 1) == whole.address(1, 2, 3)
    with pytest.raises(ValueError, match="a channel slice .* cannot be packed"):
        part.pack(np.zeros((4, 4, 16), dtype=np.int64))
    with pytest.raises(ValueError, match="cannot be unpacked"):
        part.unpack(bytes(part.size))
    layer = Conv2d(16, 8, 3, 1, 1, 8, False, 8, False)
    placement = Placement(code=0, constants=8192, input=part, weights=16384,
                          output=ActivationLayout(24576, 4, 4, 8, 8, False, 0, 8, 8))
    with pytest.raises(ValueError, match=r"placement's input has a pitch of 4 words for its "
                                         r"2 chunks \(only an output or a pooling's input "
                                         r"may be a slice\)"):
        compile_conv2d(SIM.core, layer, 4, 4, np.zeros(layer.weight_shape, dtype=np.int64),
                       np.zeros(8, dtype=np.uint16), np.zeros(8, dtype=np.uint16),
                       placement=placement)


def test_weights_span_banks(seed):
    """A layer whose share's weights exceed a bank gets consecutive banks of its own:
    the classifier's 9,216 bytes of weights on the ``sim`` 2 x 2 (8 KiB banks) without
    chains (with them its 3 x 3 kernel's rows go to three cores: test_reduction_chain)
    from a bank's start over two banks, bit-exact on the golden array; the single-core
    compiler still refuses it."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    net = wide_classifier(rng)
    with pytest.raises(CompileError, match="exceed"):
        compile_network(SIM.core, net)
    compiled = compile_array(SIM, net, chains=False)
    assert compiled.parts["fc"] == [None] * 4
    bank, addr, size = compiled.regions["fc weights"]
    assert size == 9216 and addr == bank * SIM.core.sram_bank_bytes
    others = [r for name, r in compiled.regions.items() if name != "fc weights"]
    assert all(not addr <= a < addr + size for _, a, _ in others)
    x = rng.integers(0, 256, (3, 3, 4))
    run_checked(compiled, x)


def test_pooling_split_by_channels(seed):
    """A pooling with one output row runs with its channels split over the cores, each
    reading its own channels of the input (a channel slice): the 4 x 4 average pooling
    of 32 channels on the 2 x 2, a chunk a core, bit-exact."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    compiled = compile_array(SIM, global_pool(rng))
    assert sorted(compiled.producers("y")) == [(k, 0, 0, k, k + 1) for k in range(4)]
    run_checked(compiled, rng.integers(0, 256, (4, 4, 4)))


def test_gather(seed):
    """With ``gather`` the output layer's producers SEND the output to the framebuffer's
    place (column 0, row ``rows``): on the golden array the puts carry exactly the packed
    output, each word once; without it nothing reaches the framebuffer, the other layers
    run as before, and no model image can be made."""
    from sw.compiler_stub.array import machine_image
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    net = digits_like(rng)
    x = rng.integers(0, 256, net.input.shape)
    on, off = compile_array(SIM, net), compile_array(SIM, net, gather=False)
    assert off.fb_puts == [] and on.fb_puts
    assert [r[:-1] for r in on.runs] == [r[:-1] for r in off.runs]
    lay = on.layouts[net.output.name]
    model = run_checked(on, x)
    word = SIM.core.mem_port_bits // 8
    addrs = [p.addr for _, p in model.fb_puts]
    assert len(addrs) == len(set(addrs)) == lay.size // word
    buf = bytearray(lay.size)
    for _, p in model.fb_puts:
        buf[p.addr:p.addr + word] = bytes(p.data)
    np.testing.assert_array_equal(lay.unpack(bytes(buf)), run_reference(net, x)["logits"])
    with pytest.raises(CompileError, match="compiled without gather"):
        machine_image(off)


def test_reduction_chain(seed):
    """A layer's reduction split over a chain of neighbouring cores, their partial sums
    summed on the PNoC: the wide classifier's 3 x 3 kernel (16 input chunks a kernel
    row) on the 2 x 2, one kernel row a core along the path 0 -> 1 -> 3 (east, then
    south), each core a third of the weights; bit-exact, and faster than the same layer
    on one core with every weight (its VMM steps the same)."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    net = wide_classifier(rng)
    chained, whole = compile_array(SIM, net), compile_array(SIM, net, chains=False)
    print(chained.summary())
    parts = chained.parts["fc"]
    assert [(p.index, p.count, p.ky, p.lo, p.hi, p.send) if p else None for p in parts] \
        == [(0, 3, 0, 0, 48, 1), (1, 3, 1, 0, 48, 2), None, (2, 3, 2, 0, 48, None)]
    assert chained.producers("y") == [(3, 0, 0, 0, 1)]
    assert chained.regions["fc weights"][2] == 9216 // 3
    assert chained.report[1].parts == ((0, 3), (1, 3), None, (2, 3))
    assert "0-0#0of3" in chained.summary()
    assert chained.report[1].vmm_steps == whole.report[1].vmm_steps == 144 * 2
    fc = [c.report[1].cycles for c in (chained, whole)]
    print(f"fc cycles: chain of 3 {fc[0]}, one core {fc[1]}")
    assert fc[0] < fc[1]
    run_checked(chained, rng.integers(0, 256, (3, 3, 4)))


@pytest.mark.parametrize("shape", [(1, 4), (2, 2), (4, 1), (4, 4)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_pointwise_reduction_chain(shape, seed):
    """A 1 x 1 convolution of 128 input channels (16 chunks at int8) to one output chunk
    on 2 x 2 positions: its input chunks over one chain of every core, in runs of 4 on
    four cores (on the 2 x 2 the chain runs east, south, west; on the 4 x 1 south) and
    of 1 on the 4 x 4 (one SSTREAM a block a core; east, south, west, south, ...); then a
    3 x 3 layer on whole sums. Every tensor bit-exact, the cycles independent of the data
    and fewer than without chains."""
    from sw.compiler_stub.network import Tensor
    from sw.golden.layers import Conv2d

    from .nets import _conv_node
    rng = np.random.default_rng([seed, *shape])
    print(f"seed {seed}, array {shape}")
    x = Tensor("x", (2, 2, 128), 8, False, 1.0)
    a = Tensor("a", (2, 2, 8), 8, False, 1.0)
    y = Tensor("y", (2, 2, 8), 8, True, 1.0)
    net = Network("pointwise", x, [
        _conv_node(rng, "pw", x, a, Conv2d(128, 8, 1, 1, 0, 8, False, 8, False, name="pw")),
        _conv_node(rng, "c3", a, y, Conv2d(8, 8, 3, 1, 1, 8, False, 8, True, name="c3"))])
    compiled = compile_array(array(*shape), net)
    print(compiled.summary())
    n = shape[0] * shape[1]
    parts = compiled.parts["pw"]
    assert sorted((p.index, p.lo, p.hi) for p in parts) == \
        [(q, q * 16 // n, (q + 1) * 16 // n) for q in range(n)]
    last = next(k for k, p in enumerate(parts) if p.last)
    assert compiled.producers("a") == [(last, 0, 1, 0, 1)]
    want = {(1, 4): [1, 1, 1], (2, 2): [1, 2, 3], (4, 1): [2, 2, 2],
            (4, 4): [1, 1, 1, 2, 2, 3, 3, 3, 1, 1, 1, 2, 3, 3, 3]}[shape]
    assert [p.send for p in parts if not p.last] == want
    assert compiled.parts["c3"] == [None] * n
    whole = compile_array(array(*shape), net, chains=False)
    print(f"cycles: {compiled.cycles} with chains, {whole.cycles} without")
    assert compiled.cycles < whole.cycles
    xin = rng.integers(0, 256, x.shape)
    model = run_checked(compiled, xin)
    assert model.runs == compiled.runs


def test_chain_with_bands_of_two_heights(seed, monkeypatch):
    """A chain whose bands are not all of one height (a 1 x 1 layer of 16 input chunks
    over one row of 72 positions a chain, in bands of 60 and 12 positions): every part
    steps each band's tiles in that band's positions (a tile's ``last``, the first
    part's zero partial sums), bit-exact, and the two chains of two beat two cores with
    whole sums (1,861 against 2,559 cycles)."""
    from sw.compiler_stub import array as array_compiler
    from sw.compiler_stub.network import Tensor
    from sw.golden.layers import Conv2d

    from .nets import _conv_node
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    x = Tensor("x", (2, 72, 128), 8, False, 1.0)
    a = Tensor("a", (2, 72, 8), 8, False, 1.0)
    net = Network("rows", x, [_conv_node(rng, "pw", x, a, Conv2d(128, 8, 1, 1, 0, 8, False,
                                                                 8, False, name="pw"))])
    plans = []
    compile_conv2d = array_compiler.compile_conv2d

    def spy(*args, part=None, **kwargs):
        if part is not None and not part.last:
            plans.append(part.positions)
        return compile_conv2d(*args, part=part, **kwargs)

    monkeypatch.setattr(array_compiler, "compile_conv2d", spy)
    compiled = compile_array(SIM, net)
    assert {p.count for p in compiled.parts["pw"]} == {2}
    assert set(plans) == {(60, 12)}
    whole = compile_array(SIM, net, chains=False)
    print(f"cycles: {compiled.cycles} with chains, {whole.cycles} without")
    assert compiled.cycles < whole.cycles
    run_checked(compiled, rng.integers(0, 256, x.shape))


def test_chains_kept_only_when_faster(monkeypatch):
    """With chains the compiler also compiles the network with whole sums and keeps the
    faster (the golden array's cycles): the int8 digits network on the 2 x 2 keeps its
    classifier's chain of 4. With an estimate that favours chains (every chain's cycles
    halved) the 4-bit digits network on the 2 x 2 gets chains that are slower (its
    pooling sends its rows to four times the cores) and keeps whole sums. A network that
    does not compile with chains falls back to whole sums, saying why; without chains
    nothing is tried."""
    from sw.compiler_stub import array as array_compiler
    net8 = digits_like(np.random.default_rng(1))
    net4 = digits_like(np.random.default_rng(1), (8, 4, 4, 4))
    kept = compile_array(SIM, net8)
    assert [p.count if p else None for p in kept.parts["fc"]] == [4] * 4
    assert kept.chains == "4582 cycles with chains, 4625 with whole sums: chains kept"
    assert "chains: 4582 cycles with chains" in kept.summary()
    assert compile_array(SIM, net8, chains=False).chains == ""
    assert compile_array(SIM, net4).chains == ""   # no chain is worth trying
    monkeypatch.setattr(array_compiler, "CHAIN_COST", 0.5)
    monkeypatch.setattr(array_compiler, "CHAIN_FIXED", 0)
    dropped = compile_array(SIM, net4)
    assert all(p is None for parts in dropped.parts.values() for p in parts)
    assert dropped.chains == "3193 cycles with chains, 3178 with whole sums: whole sums kept"
    monkeypatch.undo()
    compile_ = array_compiler._compile_array

    def failing(config, network, gather, chains):
        if chains:
            raise CompileError("T4's program needs 99 instructions")
        return compile_(config, network, gather, chains)

    monkeypatch.setattr(array_compiler, "_compile_array", failing)
    fallback = compile_array(SIM, net8)
    assert fallback.cycles == 4625
    assert fallback.chains == ("with chains the network does not compile (T4's program "
                               "needs 99 instructions); whole sums kept")
