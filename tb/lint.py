"""``make lint``: generate every design of every configuration it is generated for
(:data:`rtl.designs.DESIGNS`) and lint it with Verilator.

Waivers (see :func:`tb.hdl.lint`): PROCASSINIT and UNUSEDSIGNAL, which Amaranth's Verilog
always triggers; every other warning fails.
"""

import sys
import time

from rtl.designs import tops
from rtl.spec.config import CONFIGS

from .hdl import generate, lint


def main(configs=None):
    failed = 0
    for config in configs or sorted(CONFIGS):
        for name, factory in tops(config).items():
            start = time.monotonic()
            path = generate(factory, name)
            try:
                lint(path)
                status = "clean"
            except RuntimeError as e:
                status, failed = f"FAILED\n{e}", failed + 1
            print(f"lint {name}: {status} ({time.monotonic() - start:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
