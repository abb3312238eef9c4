"""The network compiler and the runtime's golden backend: a whole network, chained on
one core, gives the reference's every tensor bit-exact in the cycle model's cycles; what
does not fit or is not a network is rejected with a message saying why."""

import numpy as np
import pytest

from rtl.spec.config import get_config
from sw.compiler_stub.conv import CompileError
from sw.compiler_stub.net import compile_network, load_model
from sw.compiler_stub.network import Network, NetworkError, run_reference
from sw.runtime.runtime import Runtime

from .nets import conv_stack, digits_like

CORE = get_config("sim").core
PRECISIONS = [(8, 8, 8, 8), (8, 4, 2, 4), (4, 4, 4, 4), (2, 2, 2, 2)]


@pytest.mark.parametrize("bits", PRECISIONS, ids=lambda b: "-".join(map(str, b)))
def test_golden_core_runs_the_network(bits, seed):
    rng = np.random.default_rng([seed, *bits])
    print(f"seed {seed}, bits {bits}")
    net = digits_like(rng, bits)
    model = compile_network(CORE, net)
    assert [r.name for r in model.report] == ["conv1", "conv2", "conv3", "pool", "fc"]
    rt = Runtime(model, "golden")
    x = rng.integers(0, 1 << bits[0], (8, 8, 1))
    rt.write_tensor(x)
    cycles = rt.run()
    ref = run_reference(net, x)
    for name in ("a", "b", "c", "d", "logits"):
        np.testing.assert_array_equal(rt.read_tensor(name), ref[name], err_msg=name)
    # one run, every layer: the chain's cycles are the layers' (cycle model) cycles
    assert cycles == model.cycles
    assert rt._core.vmm_steps == model.vmm_steps
    # a convolution's steps: blocks x taps x input chunks x output positions
    chunks = [-(-c // (CORE.vmm_cols * 8 // b)) for c, b in ((1, bits[0]), (16, bits[1]),
                                                            (16, bits[2]), (16, bits[1]))]
    want = [4 * 9 * chunks[0] * 64, 4 * 9 * chunks[1] * 64, 4 * 9 * chunks[2] * 64, 0,
            3 * 16 * chunks[3]]
    assert [r.vmm_steps for r in model.report] == want


def test_placement_keeps_streams_apart(seed):
    """Each convolution's weights, input, output and residual are in four banks; its
    program image and constants in neither of the first two."""
    model = compile_network(CORE, digits_like(np.random.default_rng(seed)))
    for r in model.report:
        b = r.banks
        if r.kind == "conv":
            feeders = {b["weights"], b["input"]}
            assert len(feeders) == 2 and b["output"] not in feeders
            assert b["code"] not in feeders and b["constants"] not in feeders
    conv3 = model.network.nodes[2]
    assert model.layouts[conv3.residual].base // CORE.sram_bank_bytes not in (
        model.report[2].banks["weights"], model.report[2].banks["input"],
        model.report[2].banks["output"])


def test_save_and_load(tmp_path, seed):
    rng = np.random.default_rng(seed)
    net = digits_like(rng, (8, 4, 2, 4))
    model = compile_network(CORE, net)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = load_model(path)
    assert loaded.entry == model.entry and loaded.cycles == model.cycles
    assert loaded.report == model.report
    x = rng.integers(0, 256, (8, 8, 1))
    with Runtime(path, "golden") as rt:
        got = rt.infer(x)
    np.testing.assert_array_equal(got, run_reference(net, x)["logits"])


def test_rejects_what_does_not_fit():
    # in all: eight layers of 4.6 KB of weights
    with pytest.raises(CompileError, match=r"the network needs \d+ bytes of MEM, the core "
                                           r"has 32768: \d+ bytes too many \(tensor x "):
        compile_network(CORE, conv_stack(np.random.default_rng(0), 8))
    # one region larger than a bank
    with pytest.raises(CompileError, match=r"layer conv2: the weights \(36864 bytes\) exceed "
                                           r"a MEM bank \(8192 bytes\) by 28672 bytes"):
        compile_network(CORE, digits_like(np.random.default_rng(0), channels=64))
    with pytest.raises(CompileError, match=r"tensor x \(10816 bytes\) exceeds a MEM bank "
                                           r"\(8192 bytes\) by 2624 bytes"):
        compile_network(CORE, conv_stack(np.random.default_rng(0), 1, size=24))
    # room enough in all, but not in the banks the streams allow (52 channels: with 53
    # to 56 the programs, T2's blocks unrolled, leave the network 8 bytes too large)
    with pytest.raises(CompileError, match=r"finds no MEM bank: it must not share a bank "
                                           r"with .*conv1 weights"):
        compile_network(CORE, digits_like(np.random.default_rng(0), (2, 2, 2, 2), channels=52))


def test_rejects_bad_networks():
    with pytest.raises(TypeError, match="network must be a Network, not list"):
        compile_network(CORE, [])
    net = digits_like(np.random.default_rng(0))
    with pytest.raises(NetworkError, match="has no layers"):
        compile_network(CORE, Network("empty", net.input, []))
    with pytest.raises(NetworkError, match="node conv2: its input 'zz' is not an earlier"):
        nodes = list(net.nodes)
        from dataclasses import replace
        nodes[1] = replace(nodes[1], input="zz")
        Network("bad", net.input, nodes)


def test_runtime_rejects_bad_input(seed):
    model = compile_network(CORE, digits_like(np.random.default_rng(seed)))
    rt = Runtime(model, "golden")
    with pytest.raises(ValueError, match=r"tensor x"):
        rt.write_tensor(np.full((8, 8, 1), 256))          # beyond uint8
    with pytest.raises(TypeError):
        rt.write_tensor(np.zeros((8, 8, 1)))              # floats
    with pytest.raises(ValueError):
        rt.write_tensor(np.zeros((8, 8, 2), dtype=int))   # shape
    with pytest.raises(KeyError, match="no tensor 'nope'"):
        rt.read_tensor("nope")
    with pytest.raises(ValueError, match="backend must be one of"):
        Runtime(model, "tpu")
    with pytest.raises(TypeError, match="model must be"):
        Runtime(42)


def test_quantize_static_model_runs_on_the_core(tmp_path, seed):
    """A model quantized by another tool (onnxruntime's quantize_static) imports, compiles
    and runs on the golden core bit-exact against the reference."""
    from sw.compiler_stub.onnx_import import import_onnx

    from .test_onnx_import import TOOL_SEED, float_model, quantize
    print(f"model: seed {TOOL_SEED}; inputs: seed {seed}")
    rng = np.random.default_rng(TOOL_SEED)
    net = import_onnx(quantize(float_model(rng), tmp_path, rng, (3, 8, 8)))
    model = compile_network(CORE, net)
    rt = Runtime(model, "golden")
    rng = np.random.default_rng(seed)
    for _ in range(2):
        x = rng.integers(-128, 128, (8, 8, 3))
        rt.write_tensor(x)
        assert rt.run() == model.cycles
        ref = run_reference(net, x)
        for name in ref:
            np.testing.assert_array_equal(rt.read_tensor(name), ref[name], err_msg=name)


def test_batch_runs_in_one_start(tmp_path, seed):
    """A batch of three images in one start: each image's input and output in buffers
    of their own, the layer images chained across the images."""
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    net = digits_like(rng, (8, 4, 2, 4))
    single = compile_network(CORE, net)
    model = compile_network(CORE, net, batch=3)
    # images 0 and 1 end with a NEXT to the next image: one more instruction to load
    assert model.cycles == 3 * single.cycles + 2
    assert len({model.layout("x", b).base for b in range(3)}) == 3
    model.save(tmp_path / "batch.npz")
    xs = [rng.integers(0, 256, (8, 8, 1)) for _ in range(3)]
    with Runtime(tmp_path / "batch.npz", "golden") as rt:
        outs = rt.infer(xs)
        assert rt.cycles == model.cycles
        with pytest.raises(ValueError, match="index must be an image of the batch, 0 to 2"):
            rt.read_tensor(index=3)
        with pytest.raises(ValueError, match="xs must hold 3 input tensors, not 2"):
            rt.infer(xs[:2])
    for x, out in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(out, run_reference(net, x)["logits"])
    with pytest.raises(ValueError, match="batch must be positive, not 0"):
        compile_network(CORE, net, batch=0)
    with pytest.raises(CompileError, match="bytes too many"):
        compile_network(CORE, net, batch=64)
