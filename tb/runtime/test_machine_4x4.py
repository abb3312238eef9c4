"""A 4 x 4 machine of sim cores (its own file, so that the regression's workers build it
beside the 2 x 2 machine): digits-shaped networks written, run and read through the host
link, bit-exact against the reference and the golden array, each run's STATUS cycles
equal to the prediction."""

import numpy as np
import pytest

from rtl.spec.config import ArrayConfig, get_config
from sw.compiler_stub.array import compile_array, machine_image
from sw.compiler_stub.network import run_reference
from sw.runtime.runtime import Runtime

from ..net.nets import conv_stack, digits_like

CONFIG = ArrayConfig(name="sim4x4", rows=4, cols=4, core=get_config("sim").core)


@pytest.mark.parametrize("net", ["digits int8", "digits 8-4-2-4", "conv stack 16x16"])
def test_network_on_the_4x4_machine(net, seed):
    rng = np.random.default_rng([seed, len(net)])
    print(f"seed {seed}, {net}")
    network = {"digits int8": lambda: digits_like(rng),
               "digits 8-4-2-4": lambda: digits_like(rng, (8, 4, 2, 4)),
               "conv stack 16x16": lambda: conv_stack(rng, 2, size=16)}[net]()
    compiled = compile_array(CONFIG, network)
    image = machine_image(compiled)
    print(compiled.summary())
    with Runtime(compiled, "rtl") as rt, Runtime(compiled, "golden") as gold:
        for _ in range(2):
            t = network.input
            x = rng.integers(0, 1 << t.bits, t.shape)
            out = rt.infer(x)
            assert rt.cycles == image.infer_cycles, (rt.cycles, image.infer_cycles)
            np.testing.assert_array_equal(out, run_reference(network, x)[network.output.name])
            np.testing.assert_array_equal(out, gold.infer(x))
