"""Core benchmark (``make bench``): 3x3 convolutions that fill the ``sim`` core's memory
banks at int8, int4 and int2, and a fully connected layer, run on the RTL. Cycles and
VMM-busy cycles (accepted steps) come from the core's own counters; every output is
checked against the layer reference and every cycle count against the cycle model."""

import json
import os

import numpy as np
import cocotb

from sw.compiler_stub.conv import compile_conv2d
from sw.golden.afu import AfuOp
from sw.golden.cycles import predict
from sw.golden.layers import Conv2d, conv2d_reference

from .core_tests import run_compiled
from .env import CoreEnv
from .stimulus import random_tensors

#: name -> (layer, height, width)
LAYERS = {
    "conv3x3_int8": (Conv2d(32, 16, 3, padding=1, bits=8, shift=6,
                            activation=AfuOp.RELU), 12, 12),
    "conv3x3_int4": (Conv2d(32, 16, 3, padding=1, bits=4, out_bits=4, shift=2,
                            activation=AfuOp.RELU), 12, 12),
    "conv3x3_int2": (Conv2d(32, 16, 3, padding=1, bits=2, out_bits=2,
                            activation=AfuOp.RELU), 12, 12),
    "fc_int8":      (Conv2d(64, 32, 1, bits=8, shift=6), 1, 16),
}


@cocotb.test()
async def bench(dut):
    rng = np.random.default_rng(int(os.environ.get("COCOTB_RANDOM_SEED", "1")))
    env = CoreEnv(dut)
    await env.start()
    metrics, errors = {}, []
    for name, (layer, h, w) in LAYERS.items():
        x, wts, scale, bias = random_tensors(rng, layer, h, w)
        compiled = compile_conv2d(env.config, layer, h, w, wts, scale, bias)
        got, cycles, steps = await run_compiled(env, compiled, x)
        assert np.array_equal(got, conv2d_reference(layer, x, wts, scale, bias)[1]), name
        predicted, _ = predict(env.config, compiled.programs)
        errors.append(abs(predicted - cycles) / cycles)
        metrics[f"core.{name}.cycles"] = cycles
        metrics[f"core.{name}.vmm_cycles"] = steps
        metrics[f"core.{name}.vmm_utilization"] = steps / cycles
        dut._log.info("%s: %d cycles, %d VMM-busy (%.3f), model %d", name, cycles, steps,
                      steps / cycles, predicted)
    metrics["core.cycle_model_error"] = max(errors)
    with open(os.environ["BENCH_OUT"], "w") as f:
        json.dump(metrics, f)
