"""VMM stimulus shared by the VMM's cocotb tests and benchmark: random tiles and steps."""

import numpy as np

from sw.golden.packing import pack, value_range
from rtl.spec.codes import Precision
from sw.golden.vmm import INT32_MAX, INT32_MIN, Step, Tile

__all__ = ["lane_bound", "random_tile", "random_steps"]


def lane_bound(bits):
    """Largest magnitude one byte lane can contribute (int8: 128 * 255)."""
    return (8 // bits) * (1 << (bits - 1)) * ((1 << bits) - 1)


def random_tile(np_rng, rows, cols, bits, act_signed, *, extreme=False):
    """A tile of uniformly random weights (or only the two extreme values)."""
    low, high = value_range(bits, signed=True)
    shape = (rows, cols * 8 // bits)
    if extreme:
        weights = np_rng.choice(np.array([low, high]), size=shape)
    else:
        weights = np_rng.integers(low, high + 1, size=shape)
    return Tile.from_weights(weights, bits, act_signed)


def random_steps(np_rng, rows, cols, tile, count, *, extreme=False):
    """``count`` steps for ``tile`` with random activations and int32 partial sums that
    cannot overflow; the last one has ``last`` set."""
    bits = Precision(tile.precision).bits if tile.precision in tuple(Precision) else 8
    low, high = value_range(bits, signed=tile.act_signed)
    bound = cols * lane_bound(bits)
    steps = []
    for i in range(count):
        if extreme:
            acts = np_rng.choice(np.array([low, high]), size=cols * 8 // bits)
        else:
            acts = np_rng.integers(low, high + 1, size=cols * 8 // bits)
        kind = np_rng.integers(4)
        if kind == 0:    # near the int32 edges, as far as no overflow allows
            psum = np_rng.choice(np.array([INT32_MIN + bound, INT32_MAX - bound]), size=rows)
        elif kind == 1:  # small
            psum = np_rng.integers(-1000, 1001, size=rows)
        else:
            psum = np_rng.integers(INT32_MIN + bound, INT32_MAX - bound + 1, size=rows)
        steps.append(Step(pack(acts, bits, tile.act_signed), psum.astype(np.int64),
                          last=(i == count - 1)))
    return steps
