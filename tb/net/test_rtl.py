"""Whole networks on the core's RTL (the runtime's ``rtl`` backend, the C++ harness):
every output bit-exact against the reference, every run in the cycle model's cycles, at
several precision mixes, in batches, and for a model quantized by onnxruntime."""

import numpy as np
import pytest

from rtl.spec.config import get_config
from sw.compiler_stub.net import compile_network
from sw.compiler_stub.network import run_reference
from sw.runtime.runtime import Runtime

from .nets import digits_like

CORE = get_config("sim").core


@pytest.mark.parametrize("bits", [(8, 8, 8, 8), (8, 4, 2, 4), (2, 2, 2, 2)],
                         ids=lambda b: "-".join(map(str, b)))
def test_network_on_rtl(bits, seed):
    rng = np.random.default_rng([seed, *bits])
    print(f"seed {seed}, bits {bits}")
    net = digits_like(rng, bits)
    model = compile_network(CORE, net, batch=2)
    with Runtime(model, "rtl") as rt:
        for _ in range(3):
            xs = [rng.integers(0, 1 << bits[0], (8, 8, 1)) for _ in range(2)]
            outs = rt.infer(xs)
            assert rt.cycles == model.cycles
            for x, out in zip(xs, outs, strict=True):
                np.testing.assert_array_equal(out, run_reference(net, x)["logits"])
        # the inner tensors hold the batch's last image's
        ref = run_reference(net, xs[-1])
        for name in ("a", "b", "c", "d"):
            np.testing.assert_array_equal(rt.read_tensor(name), ref[name], err_msg=name)


def test_quantize_static_model_on_rtl(tmp_path, seed):
    from sw.compiler_stub.onnx_import import import_onnx

    from .test_onnx_import import TOOL_SEED, float_model, quantize
    print(f"model: seed {TOOL_SEED}; inputs: seed {seed}")
    rng = np.random.default_rng(TOOL_SEED)
    net = import_onnx(quantize(float_model(rng), tmp_path, rng, (3, 8, 8)))
    model = compile_network(CORE, net)
    model.save(tmp_path / "model.npz")
    rng = np.random.default_rng(seed)
    with Runtime(tmp_path / "model.npz", "rtl") as rt:
        for _ in range(5):
            x = rng.integers(-128, 128, (8, 8, 3))
            got = rt.infer(x)
            assert rt.cycles == model.cycles
            np.testing.assert_array_equal(got, run_reference(net, x)[net.output.name])
