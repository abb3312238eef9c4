"""The ulx3s core's RTL through the C++ harness (a file of its own, so that the
regression's workers build it beside the sim core's library)."""

import numpy as np
import pytest

from rtl.spec.config import get_config
from sw.compiler_stub.conv import compile_conv2d
from sw.golden.cycles import CycleModel, predict
from sw.golden.layers import conv2d_reference
from sw.runtime.verilated import RtlConflict, VerilatedCore

from ..core.stimulus import fitting_layer
from .test_verilated import conflict_program, run_compiled


def test_ulx3s_core(seed):
    """The ulx3s core (``mem_latency`` 2: the host port's read data two cycles after its
    request) through the harness: the whole MEM written and read back, and random layers
    equal to the reference in the cycle model's cycles and VMM steps."""
    print(f"seed {seed}")
    config = get_config("ulx3s").core
    rng = np.random.default_rng([seed, 3])
    with VerilatedCore("ulx3s") as core:
        assert core.mem_bytes == config.sram_bytes
        data = rng.integers(0, 256, core.mem_bytes, np.uint8).tobytes()
        core.write(0, data)
        assert core.read(0, core.mem_bytes) == data
        w = core.word_bytes
        assert core.read(w, w) == data[w:2 * w]           # one word alone
        for _ in range(3):
            layer, h, wd, (x, wts, scale, bias, *res) = fitting_layer(config, rng, 6)
            res = res[0] if layer.residual else None
            compiled = compile_conv2d(config, layer, h, wd, wts, scale, bias)
            got, cycles = run_compiled(core, compiled, x, res)
            want = conv2d_reference(layer, x, wts, scale, bias, res)[1]
            assert np.array_equal(got, want), f"seed {seed}: {layer} {h}x{wd}: output differs"
            assert (cycles, core.vmm_steps) == predict(config, compiled.programs), \
                f"seed {seed}: {layer} {h}x{wd}: RTL {(cycles, core.vmm_steps)}"


@pytest.mark.parametrize("bank", [1, 2])
def test_ulx3s_conflict(bank):
    """The ulx3s core (its MEM's conflicts reported from the registered requests, a
    cycle after the meeting) on :func:`conflict_program`: in bank 1 the run ends in
    :class:`RtlConflict` in the cycle model's cycles, in bank 2 it does not."""
    config = get_config("ulx3s").core
    prog = conflict_program(config, bank)
    model = CycleModel(config)
    cycles = model.run(prog.threads)[0]
    with VerilatedCore("ulx3s") as core:
        core.write(0, prog.image())
        if bank == 1:
            assert model.conflict is not None and "MEM bank 1" in model.conflict
            with pytest.raises(RtlConflict, match="two accesses met in one MEM bank") as info:
                core.run(0)
            assert info.value.cycles == cycles
        else:
            assert model.conflict is None
            assert core.run(0) == cycles
