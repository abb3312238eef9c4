"""``make sim``: random matrix-vector products on the VMM under Verilator.

At each precision a random signed weight matrix of ``2 * rows`` outputs by ``2 * n``
inputs (n = elements per activation vector) is multiplied by a random activation vector.
The matrix is four tiles: two output blocks, each reducing two input chunks by feeding the
first chunk's results back as the second chunk's partial sums, as the partial-sum buffer
beside the VMM does. The product is compared with the golden model and with a plain
``numpy`` matrix product.
"""

import os

import numpy as np
import cocotb

from sw.golden.packing import pack, value_range
from sw.golden.vmm import Step, Tile

from .env import VmmEnv


@cocotb.test()
async def demo(dut):
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
    np_rng = np.random.default_rng(seed)
    env = VmmEnv(dut)
    await env.start()
    log = dut._log
    log.info("VMM %d rows x %d byte columns, seed %d", env.rows, env.cols, seed)
    all_ok = True
    for bits in (8, 4, 2):
        for act_signed in (True, False):
            n = env.cols * 8 // bits
            w_low, w_high = value_range(bits, True)
            a_low, a_high = value_range(bits, act_signed)
            matrix = np_rng.integers(w_low, w_high + 1, size=(2 * env.rows, 2 * n))
            vector = np_rng.integers(a_low, a_high + 1, size=2 * n)
            result = np.zeros(2 * env.rows, dtype=np.int64)
            golden = np.zeros(2 * env.rows, dtype=np.int64)
            cycles = env.cycle
            for block in range(2):
                rows = slice(block * env.rows, (block + 1) * env.rows)
                psum = np.zeros(env.rows, dtype=np.int64)
                for chunk in range(2):
                    cols = slice(chunk * n, (chunk + 1) * n)
                    tile = Tile.from_weights(matrix[rows, cols], bits, act_signed)
                    step = Step(pack(vector[cols], bits, act_signed), psum, last=True)
                    env.queue([tile], [step])
                    await env.drain(settle=0)
                    psum = env.decode_result(env.results.items[-1])[0]
                    golden[rows] = env.expected[-1][0]
                result[rows] = psum
            reference = matrix @ vector
            ok = np.array_equal(result, golden) and np.array_equal(result, reference)
            all_ok &= ok
            kind = "signed" if act_signed else "unsigned"
            log.info("int%d weights x %s int%d activations, %d x %d matrix, %d cycles:",
                     bits, kind, bits, 2 * env.rows, 2 * n, env.cycle - cycles)
            log.info("  RTL     %s", result.tolist())
            log.info("  golden  %s", golden.tolist())
            log.info("  numpy   %s", reference.tolist())
            log.info("  %s", "agree: bit-exact" if ok else "MISMATCH")
    assert all_ok, "the RTL disagrees with the golden model"
    log.info("All 6 products (3 precisions x 2 signedness) agree with the golden model.")
