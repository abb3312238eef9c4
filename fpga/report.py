"""Read the JSON report of nextpnr (``--report``) and Yosys's cell counts into the build
summary.

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

Yosys 0.70's ``stat -json`` (run after ``synth_ecp5``) writes ``{"modules": {"\\name":
{"num_cells_by_type": {cell_type: n}}}, "design": {...}}``: the cells of each module left
after flattening, an instance of a kept module counted as one cell of its type.
"""

import json
from pathlib import Path

__all__ = ["CELLS", "SYNTH_CELLS", "load_report", "summarize", "load_stats",
           "synthesis_cells", "block_table", "log_utilization", "log_error"]

#: Summary name -> nextpnr cell type, for the resources the summary reports.
CELLS = {
    "logic_cells": "TRELLIS_COMB",  # one LUT4 (with its carry and RAM modes)
    "flip_flops":  "TRELLIS_FF",
    "dsp":         "MULT18X18D",
    "ebr":         "DP16KD",
}


#: The Yosys cell types :func:`synthesis_cells` reports: LUT4s, carry pairs (two LUT4s
#: each), the wide-function multiplexers that combine LUT4s, LUT RAM (16 x 4 bits), and
#: as in :data:`CELLS`.
SYNTH_CELLS = ("LUT4", "CCU2C", "PFUMX", "L6MUX21", "TRELLIS_DPR16X4", "TRELLIS_FF",
               "MULT18X18D", "DP16KD")


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


def load_stats(path):
    """Parse the JSON of Yosys's ``stat -json``."""
    return json.loads(Path(path).read_text())


def synthesis_cells(stats, modules):
    """The :data:`SYNTH_CELLS` counts of some modules of a ``stat -json`` result:
    ``{label: {cell_type: n}}`` for ``modules``, ``{label: module_name}``; a module the
    design does not hold (flattened into its parent) is left out."""
    found = stats.get("modules", {})
    cells = {}
    for label, module in modules.items():
        entry = found.get("\\" + module, found.get(module))
        if entry is not None:
            by_type = entry.get("num_cells_by_type", {})
            cells[label] = {cell: int(by_type.get(cell, 0)) for cell in SYNTH_CELLS}
    return cells


def block_table(cells):
    """The per-block table of :func:`synthesis_cells` results: ``{label: {"lut4", "ff",
    "dp16kd", "mult18x18d", "dpr16x4"}}``, where ``lut4`` counts the LUT4s and the two
    LUT4s of each carry cell (``CCU2C``), ``dpr16x4`` the 16 x 4-bit LUT RAMs, and a
    last row ``"total"`` sums them. Each block's figures are its own logic: a kept
    submodule is counted in its own row, not its parent's."""
    table = {label: {"lut4": c["LUT4"] + 2 * c["CCU2C"], "ff": c["TRELLIS_FF"],
                     "dp16kd": c["DP16KD"], "mult18x18d": c["MULT18X18D"],
                     "dpr16x4": c["TRELLIS_DPR16X4"]}
             for label, c in cells.items()}
    if table:
        table["total"] = {key: sum(row[key] for row in table.values())
                          for key in ("lut4", "ff", "dp16kd", "mult18x18d", "dpr16x4")}
    return table


def log_utilization(path):
    """The utilization nextpnr printed to its log (``Info:  TRELLIS_COMB: 91175/ 83640
    109%``), in the shape of its report's: ``{cell_type: {"used", "available"}}``; for a
    build it could not place, which writes no report. Empty if there is no log."""
    import re
    path = Path(path)
    if not path.exists():
        return {}
    found = {}
    for cell, used, available in re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%",
                                            path.read_text(errors="replace"), re.M):
        found[cell] = {"used": int(used), "available": int(available)}
    return found


def log_error(path):
    """The first ``ERROR:`` line of a nextpnr log, without the prefix; None if none."""
    path = Path(path)
    if not path.exists():
        return None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("ERROR:"):
            return line[len("ERROR:"):].strip()
    return None
