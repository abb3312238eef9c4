"""Flip-flops of one core that drive logic of another, in a synthesized board netlist.

The cores of an array are copies of one design, and the framebuffer drives some of their
inputs alike (the host port's address and data, ``start`` and ``entry``). Where two
cores' registers have the same inputs, the flattened synthesis merges them into one
whose fan-out then crosses the chip to the other core (docs/fpga.md, b12g and b12j).
This lists, from the Yosys JSON netlist a board build writes (``top.json``), every
``TRELLIS_FF`` named in one core (``core_R_C``) whose output reaches a cell named in
another, grouped by register name (the bit suffix dropped), with the count of such bits.
A register the framebuffer drives into every core appears too (it is one register by
design, named after one of its sinks).

``python -m fpga.crossings build/fpga/board/top.json``
"""

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

__all__ = ["crossings"]

_CORE = re.compile(r"core_(\d+)_(\d+)")
_BIT = re.compile(r"_TRELLIS_FF_Q(_\d+)?$")


def _core(name):
    match = _CORE.search(name)
    return match.group(0) if match else None


def crossings(netlist, top="top"):
    """``{(register, (other cores...)): bits}`` for the Yosys JSON netlist ``netlist``
    (a dict, as ``json.load`` gives it) of module ``top``: each flip-flop named in one
    core whose ``Q`` reaches a cell named in another core."""
    if not isinstance(netlist, dict) or top not in netlist.get("modules", {}):
        raise ValueError(f"netlist must be a Yosys JSON netlist with module {top!r}")
    cells = netlist["modules"][top]["cells"]
    sinks = defaultdict(list)
    for name, cell in cells.items():
        directions = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if directions.get(port) != "output":
                for bit in bits:
                    if not isinstance(bit, str):
                        sinks[bit].append(name)
    found = Counter()
    for name, cell in cells.items():
        own = _core(name)
        if cell["type"] != "TRELLIS_FF" or own is None:
            continue
        for bit in cell["connections"].get("Q", []):
            others = {_core(sink) for sink in sinks.get(bit, [])} - {own, None}
            if others:
                found[(_BIT.sub("", name), tuple(sorted(others)))] += 1
    return dict(found)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fpga.crossings",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("netlist", type=Path, help="a board build's top.json")
    args = parser.parse_args(argv)
    found = crossings(json.loads(args.netlist.read_text()))
    for (register, others), bits in sorted(found.items()):
        print(f"{bits:4} {register} -> {', '.join(others)}")
    print(f"{len(found)} registers, {sum(found.values())} bits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
