"""cocotb tests of one router against the golden router (run from test_noc_cocotb.py).

Every random choice derives from the cocotb seed. Packet counts: ``NOC_ROUTER_PACKETS``
per input (default 300; ``make soak`` sets 10,000).
"""

import os

import cocotb

from .noc_tests import rng_for
from .router_env import RouterEnv

PACKETS = int(os.environ.get("NOC_ROUTER_PACKETS", "300"))


@cocotb.test()
@cocotb.parametrize(stall=[0.0, 0.25, 0.5])
async def test_router(dut, stall):
    """The router alone: random packets on all five inputs, stalls on every port, every
    accept and flit out in the golden router's cycle."""
    rng = rng_for(dut, "router", stall)
    env = RouterEnv(dut)
    await env.start()
    cycles = await env.run(env.random_packets(rng, PACKETS), rng, p_inject=stall,
                           p_eject=stall)
    dut._log.info("router, stalls %.2f: %d packets per input in %d cycles", stall, PACKETS,
                  cycles)
