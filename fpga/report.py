"""Read the JSON report of nextpnr (``--report``) into the build summary.

nextpnr 0.11 writes one object with three keys:

``utilization``
    ``{cell_type: {"used": n, "available": n}}`` for every bel type of the device.
``fmax``
    ``{clock_net: {"achieved": MHz, "constraint": MHz}}`` after routing.
``critical_paths``
    One entry per clock pair (``"from"``, ``"to"``: ``"posedge <net>"`` or ``"<async>"``),
    each with a ``"path"`` of segments: ``{"type": "clk-to-q" | "source" | "logic" |
    "routing" | "setup", "delay": ns, "from": {"cell", "port", "loc"}, "to": {...}}``;
    routing segments also name the ``"net"`` and its ``"sources"`` (HDL lines).
"""

import json
from pathlib import Path

__all__ = ["CELLS", "load_report", "summarize"]

#: Summary name -> nextpnr cell type, for the resources the summary reports.
CELLS = {
    "logic_cells": "TRELLIS_COMB",  # one LUT4 (with its carry and RAM modes)
    "flip_flops":  "TRELLIS_FF",
    "dsp":         "MULT18X18D",
    "ebr":         "DP16KD",
}


def load_report(path):
    """Parse a nextpnr JSON report file."""
    return json.loads(Path(path).read_text())


def _endpoint(point):
    return f"{point['cell']}.{point['port']}"


def _path(entry, root):
    segments = entry.get("path", [])
    # As in nextpnr's log: routing is the wires, logic all the rest (clock-to-out, cells,
    # setup).
    routing = sum(s.get("delay", 0.0) for s in segments if s.get("type") == "routing")
    total = sum(s.get("delay", 0.0) for s in segments)
    sources = []
    for segment in segments:
        for source in segment.get("sources", []):
            if root is not None and source.startswith(root):
                source = source[len(root):].lstrip("/")
            if source not in sources:
                sources.append(source)
    return {
        "clocks":       f"{entry.get('from', '?')} -> {entry.get('to', '?')}",
        "from":         _endpoint(segments[0]["from"]) if segments else None,
        "to":           _endpoint(segments[-1]["to"]) if segments else None,
        "delay_ns":     total,
        "logic_ns":     total - routing,
        "routing_ns":   routing,
        "logic_levels": sum(1 for s in segments if s.get("type") == "logic"),
        "sources":      sources,
    }


def summarize(report, *, build_s=None, constraint_mhz=None, paths=5, root=None):
    """Condense a nextpnr report into the build summary.

    Returns a dict with ``utilization`` (``used``/``available`` of :data:`CELLS`), the
    worst clock's ``fmax_mhz`` and ``constraint_mhz`` (``constraint_mhz`` given here is used
    when the report has none), ``timing_met``, every clock under ``clocks``, the ``paths``
    longest register-to-register ``critical_paths`` (then the paths from or to I/O, which
    are not constrained), and ``build_s``. HDL source locations under ``root`` are made
    relative to it.
    """
    utilization = report.get("utilization", {})
    summary = {"utilization": {}}
    for name, cell in CELLS.items():
        entry = utilization.get(cell, {})
        summary["utilization"][name] = {"cell": cell, "used": int(entry.get("used", 0)),
                                        "available": int(entry.get("available", 0))}

    clocks = {net: {"achieved_mhz": float(value["achieved"]),
                    "constraint_mhz": float(value.get("constraint", constraint_mhz or 0.0))}
              for net, value in report.get("fmax", {}).items()}
    if clocks:
        worst = min(clocks, key=lambda net: clocks[net]["achieved_mhz"])
        summary["clock"] = worst
        summary["fmax_mhz"] = clocks[worst]["achieved_mhz"]
        summary["constraint_mhz"] = clocks[worst]["constraint_mhz"]
        summary["timing_met"] = all(c["achieved_mhz"] >= c["constraint_mhz"]
                                    for c in clocks.values())
    else:  # no clocked logic at all
        summary.update(clock=None, fmax_mhz=None, constraint_mhz=constraint_mhz,
                       timing_met=None)
    summary["clocks"] = clocks

    root = None if root is None else str(root)
    found = [_path(entry, root) for entry in report.get("critical_paths", [])]
    internal = [p for p in found if "<async>" not in p["clocks"]]
    external = [p for p in found if "<async>" in p["clocks"]]
    ordered = sorted(internal, key=lambda p: -p["delay_ns"]) + \
        sorted(external, key=lambda p: -p["delay_ns"])
    summary["critical_paths"] = ordered[:paths]
    summary["build_s"] = build_s
    return summary
