"""Core benchmark (``make bench``): 3x3 convolutions that fill the ``sim`` core's memory
banks at int8, int4 and int2, 1x1 convolutions at int8 and int2, and a fully connected
layer, run on the RTL. Cycles and VMM-busy cycles (accepted steps) come from the core's
own counters; every output is checked against the layer reference and every cycle count
against the cycle model.

:func:`predicted` gives the same figures from the cycle model alone for layers of the
``northpole`` core, which is never simulated."""

import json
import os

import numpy as np
import cocotb

from rtl.spec.codes import AfuOp
from rtl.spec.config import get_config
from sw.compiler_stub.conv import compile_conv2d
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
    "conv1x1_int8": (Conv2d(64, 64, 1, bits=8, shift=6, activation=AfuOp.RELU), 8, 8),
    "conv1x1_int2": (Conv2d(64, 64, 1, bits=2, out_bits=2, activation=AfuOp.RELU), 12, 12),
    "fc_int8":      (Conv2d(64, 32, 1, bits=8, shift=6), 1, 16),
}

#: Layers of the ``northpole`` core whose timing comes from the cycle model alone.
NORTHPOLE_LAYERS = {
    "conv1x1_int2": (Conv2d(256, 64, 1, bits=2, out_bits=2, activation=AfuOp.RELU), 14, 14),
    "fc_int8":      (Conv2d(512, 128, 1, bits=8, shift=6), 1, 16),
}


def predicted(config="northpole", layers=NORTHPOLE_LAYERS, seed=1):
    """``core.<config>.<layer>.predicted_{cycles,utilization}`` of each layer: the layer
    compiled for the core of ``config`` and run through the cycle model (timing does not
    depend on the data; random tensors give the compiler something to place)."""
    core = get_config(config).core
    rng = np.random.default_rng(seed)
    metrics = {}
    for name, (layer, h, w) in layers.items():
        x, wts, scale, bias = random_tensors(rng, layer, h, w)
        compiled = compile_conv2d(core, layer, h, w, wts, scale, bias)
        cycles, steps = predict(core, compiled.programs)
        metrics[f"core.{config}.{name}.predicted_cycles"] = cycles
        metrics[f"core.{config}.{name}.predicted_utilization"] = steps / cycles
    return metrics


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
