"""``make waves``: the VMM of a configuration under Verilator running its demo (with
``--waves``, an FST waveform).

Usage: ``python -m tb.waves [--config NAME] [--waves] [--seed N]``. With ``--waves`` the
build traces to FST and the path of the waveform is printed at the end.
"""

import argparse
import random
import sys

from rtl.spec.config import CONFIGS, DEFAULT_CONFIG

from .hdl import design


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, choices=sorted(CONFIGS))
    parser.add_argument("--waves", action="store_true", help="write an FST waveform")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.config == "northpole":
        parser.error("the northpole config is elaborated, never simulated; use sim or ulx3s")
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    vmm = design("vmm", args.config, waves=args.waves)
    seconds = vmm.build()
    print(f"built {vmm.name} under Verilator in {seconds:.1f} s; seed {seed}")
    vmm.run("tb.vmm.vmm_demo", seed=seed)
    if args.waves:
        print(f"waveform: {vmm.build_dir / 'run' / 'dump.fst'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
