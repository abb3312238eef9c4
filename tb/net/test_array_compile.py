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
from sw.compiler_stub.network import Network, NetworkError, run_reference
from sw.runtime.runtime import Runtime

from .nets import conv_stack, digits_like

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


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("bits", PRECISIONS, ids=lambda b: "-".join(map(str, b)))
def test_golden_array_runs_the_network(shape, bits, seed):
    rng = np.random.default_rng([seed, *shape, *bits])
    print(f"seed {seed}, array {shape}, bits {bits}")
    net = digits_like(rng, bits)
    compiled = compile_array(array(*shape), net)
    x = rng.integers(0, 1 << bits[0], (8, 8, 1))
    model = run_golden(compiled, x)
    ref = run_reference(net, x)
    for name in ("a", "b", "c", "d", "logits"):
        got = read_output(compiled, lambda k, a, n: model.cores[k].read(a, n), name)
        np.testing.assert_array_equal(got, ref[name], err_msg=name)
    # the cycles do not depend on the data: the compiler's run had a zero input
    assert model.runs == compiled.runs and model.starts == compiled.starts
    # every layer's VMM steps, summed over the cores, are the single core's
    n = shape[0] * shape[1]
    used = [sum(1 for b in compiled.bands[node.name] if b) for node in net.nodes]
    assert used == [min(n, 8)] * 3 + [min(n, 4), 1]
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
        Runtime(compiled, backend="fpga")


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
    # every core holds every tensor and every layer's weights: eight layers of 4.6 KB
    with pytest.raises(CompileError, match=r"the network needs \d+ bytes of MEM, the core "
                                           r"has 32768: \d+ bytes too many"):
        compile_array(SIM, conv_stack(np.random.default_rng(0), 8))
    with pytest.raises(CompileError, match=r"layer conv2, core 0's band \(output rows 0 to "
                                           r"1\): the weights \(36864 bytes\) exceed a MEM "
                                           r"bank \(8192 bytes\) by 28672 bytes"):
        compile_array(SIM, digits_like(np.random.default_rng(0), channels=64))
