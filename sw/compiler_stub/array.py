"""Compile a whole network (:class:`~sw.compiler_stub.network.Network`) for an array of
cores (:class:`rtl.spec.config.ArrayConfig`; docs/architecture.md, 7.8).

Each layer is spread over the cores by **output rows**: its output's rows are split into
near-equal bands, one band a core (a layer with fewer rows than cores uses fewer cores),
and each core runs the single-core compiler's programs (:func:`compile_conv2d`,
:func:`compile_pool2d`) for its band, on *views* of the network's tensors: the band's
output rows, and the input rows they read (with the rows of the neighbouring bands as
their halo). Every tensor has one buffer at the same address on every core; each core
holds the rows it writes and the rows its later layers read.

After its band is in MEM, a core's T4 puts (SEND over the ANoC) the rows of it that
other cores read later (the halo of the next layer's bands, a residual's rows, a pooled
band's window) straight into their buffers, each SEND signalling its last put, and waits
for the row SENDs coming to it. Then its T7 puts a one-word *token* to core 0 over the
INoC, and its image ends. Core 0, once it has every token, starts the next layer on
every core with one put with ``start`` over the INoC (the layer's *trampoline*, an image
of a NEXT to the layer's image, whose header word, the put's data, is the same on every
core). So no remote SIGNAL of a layer can reach a core before that core has launched
the layer's image (a launch clears the counters, 7.4); the compiler checks the whole
schedule on the array's golden model, which is cycle-exact and whose cycles do not
depend on the data.

A core's image per layer: T0, T1, T2 as the single-core compiler made them for the band
(T2 first waits for T7 to be loaded, since the loader reads the image's bank until
then, and signals T4 when its last write is done); T4 the exchange; T7 the token (core
0: the tokens' wait and the next layer's start). A core without a band in a layer runs
T4 and T7 alone.
"""

import collections
from dataclasses import dataclass, replace

import numpy as np

from rtl.spec.config import ArrayConfig
from rtl.spec.isa import OFFSETS, Op

from .asm import AsmError, Program
from .conv import ActivationLayout, CompileError, Placement, ReductionPart, _instr, \
    compile_conv2d, compile_pool2d, conv_sizes, pool_sizes
from .net import _check_disjoint, _paddings, _place, _Region
from .network import ConvNode, Network, NetworkError

__all__ = ["compile_array", "CompiledArrayNetwork", "ArrayLayerReport", "CompileError",
           "EXCHANGE_COUNTERS"]

#: Counters of the exchange (the single-core compiler's programs use 0 and 1): T4 -> T2
#: "T4's program is in" (GO), T2 -> T4 "the band is in MEM" (DONE), and per layer parity
#: the row SENDs' and the tokens' remote SIGNALs (a layer's early puts never count in
#: the previous layer's counters).
GO, DONE, READY = 12, 13, 14
DATA = (8, 9)
TOKEN = (10, 11)
EXCHANGE_COUNTERS = (GO, DONE, READY) + DATA + TOKEN

#: A chain's estimated VMM cycles (:func:`_vmm_cycles`) count this much more, plus
#: :data:`CHAIN_FIXED`, in the choice of a layer's split (:func:`_split`): a chain runs
#: up to three SSTREAMs a block where a core with whole sums runs one, and every core of
#: it receives the layer's input rows. (The estimate is coarse: compile_array keeps a
#: chain only when the golden array's cycles say it is faster.)
CHAIN_COST = 1
CHAIN_FIXED = 32

#: WAITs a loop iteration holds: a loop of one WAIT takes about four cycles a count
#: (the ENDL, the WAIT's grant), one of eight a little over one.
WAIT_UNROLL = 8


@dataclass(frozen=True)
class ArrayLayerReport:
    """One layer on the array: per core its share (``bands``: output rows ``(y0, y1)``,
    ``chans``: output chunks ``(c0, c1)``, c1 excluded; None without one; ``parts``:
    ``(index, count)`` of its part of a reduction split over a chain of cores, the last
    part's core writing the share, or None), its image's cycles and VMM steps in the
    array's run (the array's golden model), and the layer's cycles (from core 0's start
    of it to its start of the next) and VMM utilization (steps of every core / (cores *
    cycles))."""
    name: str
    kind: str
    bands: tuple
    chans: tuple
    core_cycles: tuple
    core_steps: tuple
    cycles: int
    vmm_steps: int
    utilization: float
    parts: tuple = None


@dataclass
class CompiledArrayNetwork:
    """A network compiled for an array: per core its ``preload`` (``(address, bytes)``:
    program images, constants, weights, borders) and ``entries`` (the first layer's
    image, at one address on every core), every tensor's layout (one address on every
    core), the bands (per layer, per core), and the report.

    ``cycles`` is a run's cycles (every core started in one cycle, until the last core's
    last layer ends); ``runs`` and ``starts`` each core's runs (one a layer) and the
    array cycle each began, from the golden array's run."""
    network: Network
    config: ArrayConfig
    preload: list
    entries: list
    layouts: dict
    bands: dict
    report: list
    regions: dict
    sends: dict   # (layer, core) -> [((x0, x1, y0, y1), row0, row1, src, dst)]
    chans: dict   # layer -> per core its output chunks [c0, c1), or None
    parts: dict   # layer -> per core its ReductionPart (positions aside), or None
    windows: dict   # tensor -> per core the padded rows (lo, hi) it holds, or None
    core_layouts: dict   # tensor -> per core its layout (its window at the region)
    runs: list = None     # per core, per layer: (cycles, vmm_steps) of its run
    starts: list = None   # per core, per layer: the array cycle its run began
    fb_puts: list = None  # the output's puts to the framebuffer: (array cycle, put);
                          # empty when compiled without gather
    chains: str = ""      # what compile_array found with and without chains, if it tried

    @property
    def core(self):
        return self.config.core

    @property
    def input(self):
        return self.network.input

    @property
    def output(self):
        return self.network.output

    @property
    def cycles(self):
        """Cycles of a run on the array, every core started in cycle 0: until the last
        core's last layer ends."""
        from sw.golden.array import busy_until
        return busy_until(self.starts, self.runs)

    @property
    def cycles_per_image(self):
        return self.cycles

    @property
    def vmm_steps(self):
        return sum(s for r in self.runs for _, s in r)

    @property
    def utilization(self):
        """VMM steps of every core / (cores * cycles of the run)."""
        return self.vmm_steps / (self.config.cores * self.cycles)

    #: Images per run (the runtime's API): one.
    batch = 1

    def layout(self, name, index=0):
        """Tensor ``name``'s whole layout (at its region's address: what the host packs
        and unpacks; each core holds a window of it, ``core_layouts``)."""
        return self.layouts[name]

    def producers(self, name):
        """Where tensor ``name`` is written: ``[(core, y0, y1, c0, c1)]``, the core's
        rows ``y0 .. y1`` of chunks ``c0 .. c1 - 1``; the network's input is written by
        the host to every core that reads it (``readers``, ``window``)."""
        for node in self.network.nodes:
            if node.output.name == name:
                return [(k, *b, *self.chans[node.name][k])
                        for k, b in enumerate(self.bands[node.name])
                        if b and _writes(self.parts[node.name][k])]
        raise KeyError(name)

    def _chunks(self, layer):
        node = next(nd for nd in self.network.nodes if nd.name == layer)
        return self.layouts[node.output.name].chunks

    def window(self, name, core):
        """Core ``core``'s window of tensor ``name``: ``(address, offset, length)``, its
        ``length`` bytes at MEM ``address`` are bytes ``offset ..`` of the whole packed
        buffer (:meth:`ActivationLayout.pack`); None if the core holds none of it."""
        w = self.windows[name][core]
        if w is None:
            return None
        row = self.layouts[name].row_bytes
        return self.layouts[name].base, w[0] * row, (w[1] - w[0] + 1) * row

    def readers(self, name):
        """The cores whose layers read tensor ``name`` (as input or residual)."""
        cores = set()
        for node in self.network.nodes:
            for k, b in enumerate(self.bands[node.name]):
                # (a reduction part whose sums leave on the PNoC reads no residual)
                if b and (name == node.input or name == getattr(node, "residual", None)
                          and _writes(self.parts[node.name][k])):
                    cores.add(k)
        return sorted(cores)

    def summary(self):
        """The per-layer report as text: per layer the array's cycles and utilization,
        and each core's band and cycles."""
        n = self.config.cores
        lines = [f"{'layer':<8} {'kind':<5} {'cycles':>7} {'util':>6}  per core: rows"
                 f"[/chunks][#part of chain] cycles util"]
        for r in self.report:
            whole = (0, self._chunks(r.name))

            def share(b, ch, part, c, s, whole=whole):
                if not b:
                    return f"- {c}"
                chunks = "" if ch == whole else f"/{ch[0]}-{ch[1] - 1}"
                split = "" if part is None else f"#{part[0]}of{part[1]}"
                return f"{b[0]}-{b[1]}{chunks}{split} {c} {s / c:.2f}"

            cores = "  ".join(share(*x) for x in zip(r.bands, r.chans, r.parts,
                                                     r.core_cycles, r.core_steps,
                                                     strict=True))
            lines.append(f"{r.name:<8} {r.kind:<5} {r.cycles:>7} {r.utilization:>6.3f}  "
                         f"{cores}")
        lines.append(f"{'an image':<14} {self.cycles:>7} {self.utilization:>6.3f}  "
                     f"({n} cores, VMM steps {self.vmm_steps})")
        if self.chains:
            lines.append(f"chains: {self.chains}")
        return "\n".join(lines)


def _bands(rows, cores):
    """``rows`` output rows in near-equal bands over the first ``min(rows, cores)``
    cores (the first bands one row larger): per core ``(y0, y1)`` or None."""
    n = min(rows, cores)
    out, y = [], 0
    for k in range(cores):
        if k < n:
            h = rows // n + (k < rows % n)
            out.append((y, y + h - 1))
            y += h
        else:
            out.append(None)
    return out


def _view(layout, r0, height):
    """The rows ``r0 ..`` of ``layout`` as a layout of ``height`` rows (the same border;
    its border rows are the neighbouring rows of the buffer)."""
    return replace(layout, base=layout.base + r0 * layout.padded_width * layout.chunks
                   * layout.word, height=height)


def _geometry(node):
    """``(kernel, stride, padding)`` of a node along the rows."""
    if isinstance(node, ConvNode):
        return node.layer.kernel, node.layer.stride, node.layer.padding
    return node.pool.kernel, node.pool.stride, 0


def _input_rows(node, band, height):
    """The input rows (clipped to the input's ``height``) that output rows ``band`` of
    ``node`` read."""
    k, s, p = _geometry(node)
    y0, y1 = band
    return max(0, y0 * s - p), min(height - 1, y1 * s - p + k - 1)


def _runs(rows):
    """A set of rows as runs ``(y0, y1)`` of consecutive rows."""
    out = []
    for y in sorted(rows):
        if out and out[-1][1] == y - 1:
            out[-1] = (out[-1][0], y)
        else:
            out.append((y, y))
    return out


def _fb_rect(config):
    """The framebuffer's place on the ANoC as a SEND's rectangle: column 0, row ``rows``
    (below the array's south-west corner; docs/architecture.md, 11)."""
    return (0, 0, config.rows, config.rows)


def _t4(sends, layout, chans, incoming, parity, band, unroll=WAIT_UNROLL, fb=None):
    """T4's program: (with a band) wait for it, put its rows (its chunks of them) to the
    cores that read them (or, for the network's output, to the framebuffer, rectangle
    ``fb``, without a signal), one SEND a rectangle of receivers and run of rows; wait
    for the incoming SENDs; tell T7 (READY)."""
    prog = [_instr(Op.WAIT, ctr=DONE)] if band else []
    whole = chans == (0, layout.chunks)
    for (x0, x1, y0, y1), r0, r1, src, dst in sends:
        for g, base in ((0, src), (1, dst)):
            prog.append(_instr(Op.AGBASE, g=g, base=base))
            if whole:
                dims = [(layout.width * layout.chunks, layout.word)]
            else:
                dims = [(chans[1] - chans[0], layout.word),
                        (layout.width, layout.chunks * layout.word)]
            if r1 > r0:
                dims.append((r1 - r0 + 1, layout.row_bytes))
            for d, (count, stride) in enumerate(dims):
                if count >= 1 << 16:
                    raise CompileError(f"a SEND of {count} words a row exceeds an address "
                                       f"generator's count")
                if count > 1 or d == 0:
                    prog.append(_instr(Op.AGDIM, g=g, d=d, count=count, stride=stride))
        signal = (x0, x1, y0, y1) != fb
        prog.append(_instr(Op.SEND, s=0, d=1, x0=x0, x1=x1, y0=y0, y1=y1, signal=int(signal),
                           ctr=DATA[parity] if signal else 0))
    return prog + _waits(DATA[parity], incoming, unroll) + [_instr(Op.SIGNAL, ctr=READY),
                                                            _instr(Op.END)]


def _t7(config, kc, token, parity, band, start_next, unroll=WAIT_UNROLL):
    """T7's program: (with a band) let T2 start; core 0 waits for every other core's
    token and for its T4 to be READY (its rows sent, its incoming rows landed), then
    starts every core at the next layer's trampoline (``start_next``, a put with
    ``start`` over the INoC); any other core, once READY, puts its token to core 0."""
    prog = [_instr(Op.SIGNAL, ctr=GO)] if band else []
    if kc == 0:
        # the tokens first: they arrive while this core computes and exchanges (a WAIT
        # loop takes two cycles a token)
        prog += _waits(TOKEN[parity], config.cores - 1, unroll) + [
            _instr(Op.WAIT, ctr=READY)]
        if start_next is not None:
            prog += [_instr(Op.AGBASE, g=0, base=start_next),
                     _instr(Op.AGBASE, g=1, base=start_next),
                     _instr(Op.SEND, s=0, d=1, x0=0, x1=config.cols - 1, y0=0,
                            y1=config.rows - 1, start=1)]
    else:
        prog += [_instr(Op.WAIT, ctr=READY),
                 _instr(Op.AGBASE, g=0, base=token), _instr(Op.AGBASE, g=1, base=token),
                 _instr(Op.SEND, s=0, d=1, x0=0, x1=0, y0=0, y1=0, signal=1,
                        ctr=TOKEN[parity])]
    return prog + [_instr(Op.END)]


def _waits(ctr, count, unroll=WAIT_UNROLL):
    """``count`` WAITs on ``ctr``: up to ``unroll`` of them in a loop's body."""
    loops, rest = divmod(count, unroll)
    body = [_instr(Op.WAIT, ctr=ctr)] * unroll
    out = [_instr(Op.LOOP, count=loops)] + body + [_instr(Op.ENDL)] if loops > 1 else \
        body * loops
    return out + [_instr(Op.WAIT, ctr=ctr)] * rest


def _writes(part):
    """Whether a core with reduction part ``part`` (None: the whole reduction) writes
    its share of the layer's output: the chain's last part does."""
    return part is None or part.last


def _snake(q, cols):
    """The core (index ``y * cols + x``) at place ``q`` of the path along the mesh's rows,
    eastward on even rows and westward on odd ones: consecutive places are neighbours."""
    y, x = divmod(q, cols)
    return y * cols + (x if y % 2 == 0 else cols - 1 - x)


def _part_tiles(kernel, row, parts):
    """A reduction of ``kernel`` kernel rows of ``row`` weight tiles each over ``parts``
    cores (a multiple of ``kernel``): ``[(ky, lo, hi)]``, each kernel row in
    ``parts // kernel`` runs of near-equal tiles ``lo .. hi - 1``."""
    m = parts // kernel
    return [(ky, lo, hi + 1) for ky in range(kernel) for lo, hi in _bands(row, m)[:m]]


def _split(core, node, chunks, chunk_channels, n, in_chunks, chains=True):
    """How ``node`` is spread over ``n`` cores: ``(R, G, S)``, its output rows in ``R``
    bands, (a pooling, or a convolution that is not depthwise) its ``chunks`` output
    chunks in ``G`` groups, and (a convolution that is not depthwise, of ``in_chunks``
    input chunks) its reduction in ``S`` parts, a chain of neighbouring cores summing
    their partial sums on the PNoC (``S`` a multiple of the kernel's rows, each part
    a run of one kernel row's tiles: :func:`_part_tiles`). Without a split reduction the
    pair ``(band, group)`` is on core ``band * n // R + group`` (so that a core holds rows
    at about the same place in every layer); with one, part ``q`` of ``(band, group)``
    is at place ``(band * G + group) * S + q`` of the path :func:`_snake`.

    Whole sums (``S`` 1): the choice keeps a group's weights within a MEM bank if it
    can, then a core's share (rows of the band times chunks of the group) smallest, then
    ``G`` smallest (every group's band rows go to every core that reads them). A chain
    (with ``chains``) replaces that choice when its core's VMM cycles (:func:`_vmm_cycles`)
    times :data:`CHAIN_COST` plus :data:`CHAIN_FIXED` are fewer than the whole share's,
    its weights within a bank if the whole share's are (the chain of least such cycles,
    then ``S``, then ``G`` smallest)."""
    oh, ow = node.output.shape[:2]
    k, s, p = _geometry(node)
    conv = isinstance(node, ConvNode)
    groups = 1 if conv and node.layer.depthwise else chunks
    splits = [1]
    if chains and conv and not node.layer.depthwise:
        splits += [k * m for m in range(1, k * in_chunks + 1) if 1 < k * m <= n]
    whole = chain = None
    for sp in splits:
        tiles = None if sp == 1 else -(-k * in_chunks // (sp // k))
        for g in range(1, min(groups, n // sp) + 1):
            r = min(oh, n // (g * sp))
            # A band's input view must have a row of its own (kernel - 2 * padding > 0
            # for a one-row band); else the layer's rows stay on one band.
            if any(b and (b[1] - b[0]) * s + k - 2 * p < 1 for b in _bands(oh, r)):
                r = 1
            big, cycles = False, 0
            if conv:
                share = replace(node.layer, out_channels=min(-(-chunks // g) * chunk_channels,
                                                             node.layer.out_channels))
                big = conv_sizes(core, share, tiles)["weights"] > core.sram_bank_bytes
                cycles = _vmm_cycles(core, share, -(-oh // r) * ow, in_chunks, sp, tiles)
            if sp == 1:
                key = (big, -(-oh // r) * -(-chunks // g), g)
                if whole is None or key < whole[0]:
                    whole = (key, (r, g, 1), cycles)
            else:
                key = (big, cycles * CHAIN_COST + CHAIN_FIXED, sp, g)
                if chain is None or key < chain[0]:
                    chain = (key, (r, g, sp))
    if chain is not None and chain[0][:2] < (whole[0][0], whole[2]):
        return chain[1]
    return whole[1]


def _vmm_cycles(core, layer, positions, in_chunks, parts=1, tiles=None):
    """About the VMM cycles of a core's share of ``layer`` (its output channels) over
    ``positions`` output positions: per item (a block of a band of at most half the PSB)
    and weight tile (``tiles`` a block, None: the whole kernel's), the band's steps or
    the tile's weight rows, whichever take longer. In a chain of ``parts`` cores a part
    takes an item's partial sums only once the one before has stepped all its tiles of
    the item: the chain's items are pipelined, ``parts - 1`` items deep."""
    rows = core.vmm_rows // 2 if core.sram_banks > 4 else core.vmm_rows
    blocks = -(-layer.out_channels // core.vmm_rows)
    bands = -(-positions // (core.psb_entries // 2))
    tiles = tiles if tiles is not None else layer.kernel ** 2 * in_chunks
    return (blocks * bands + parts - 1) * tiles * max(-(-positions // bands), rows)


def _chunk_channels(layout, c0, c1):
    """The channels ``(lo, hi)``, hi excluded, of chunks ``c0 .. c1 - 1`` of ``layout``."""
    return c0 * layout.chunk_channels, min(c1 * layout.chunk_channels, layout.channels)


def _rectangles(cores, cols):
    """The cores (indices ``y * cols + x``) as rectangles ``(x0, x1, y0, y1)`` of the
    mesh: runs along each mesh row, runs of one span over consecutive rows merged."""
    rows = collections.defaultdict(list)
    for j in sorted(cores):
        rows[j // cols].append(j % cols)
    spans = []
    for y in sorted(rows):
        for x0, x1 in _runs(rows[y]):
            spans.append((x0, x1, y))
    out = []
    for x0, x1, y in spans:
        for i, (a0, a1, b0, b1) in enumerate(out):
            if (a0, a1) == (x0, x1) and b1 == y - 1:
                out[i] = (a0, a1, b0, y)
                break
        else:
            out.append((x0, x1, y, y))
    return out


def compile_array(config, network, *, gather=True, chains=True):
    """Compile ``network`` for the array ``config`` (an :class:`ArrayConfig`).

    Returns a :class:`CompiledArrayNetwork`: start every core with an entry at it, all in
    one cycle, and the network's output is in the last layer's cores (its ``producers``)
    and, with ``gather``, sent by them to the framebuffer over the ANoC (at its offset in
    the output's packed buffer, from the START's base: docs/architecture.md, 11). Without
    ``gather`` the output stays in the cores (a part of a larger network whose next part
    reads it there; :func:`machine_image` needs ``gather``). With ``chains`` a layer's
    reduction may be split over a chain of neighbouring cores that sum their partial
    sums on the PNoC, where the estimate of :func:`_split` says that spreads its VMM
    work over more cores to advantage; the network is then also compiled with whole sums
    everywhere, and the faster of the two (the golden array's cycles) is returned, or
    the one that compiles (``CompiledArrayNetwork.chains`` says which and why). Without
    ``chains``, every core of a layer computes whole sums.

    The compiled network is run once on the array's golden model (zero input): that run
    gives the report's cycles (a run's cycles do not depend on the data) and rejects a
    schedule that deadlocks.

    Raises
    ------
    TypeError
        If ``config`` is not an :class:`ArrayConfig` or ``network`` not a
        :class:`Network`.
    NetworkError
        If the network is not well formed.
    CompileError
        If a layer's share cannot be mapped onto a core, or what a core holds does not
        fit its MEM (the message says what does not fit, by how much).
    """
    if not isinstance(config, ArrayConfig):
        raise TypeError(f"config must be an ArrayConfig, not {type(config).__name__}")
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, not {type(network).__name__}")
    if not isinstance(gather, bool):
        raise TypeError(f"gather must be a bool, not {type(gather).__name__}")
    if not isinstance(chains, bool):
        raise TypeError(f"chains must be a bool, not {type(chains).__name__}")
    network.validate()
    if not network.nodes:
        raise NetworkError(f"network {network.name} has no layers")
    if not chains:
        return _compile_array(config, network, gather, False)
    try:
        chained = _compile_array(config, network, gather, True)
    except CompileError as e:
        whole = _compile_array(config, network, gather, False)
        whole.chains = f"with chains the network does not compile ({e}); whole sums kept"
        return whole
    if not any(p for parts in chained.parts.values() for p in parts):
        return chained
    whole = _compile_array(config, network, gather, False)
    best = chained if chained.cycles < whole.cycles else whole
    best.chains = (f"{chained.cycles} cycles with chains, {whole.cycles} with whole sums: "
                   f"{'chains' if best is chained else 'whole sums'} kept")
    return best


def _compile_array(config, network, gather, chains):
    """:func:`compile_array` of a validated network, with or without chains."""
    core, n = config.core, config.cores
    word = core.mem_port_bits // 8
    tensors = network.tensors()
    nodes = network.nodes
    pad = _paddings(network)
    layouts = {name: ActivationLayout(0, t.shape[0], t.shape[1], t.shape[2], t.bits,
                                      t.signed, pad[name], word,
                                      core.vmm_cols * 8 // t.bits)
               for name, t in tensors.items()}
    pair = core.sram_banks > 4

    # Each layer's share of each core: its band of output rows and group of chunks,
    # and its part of the reduction when that is split over a chain of cores.
    bands, chans, parts, last_of = {}, {}, {}, {}
    for node in nodes:
        oh, chunks = node.output.shape[0], layouts[node.output.name].chunks
        r, g, sp = _split(core, node, chunks, layouts[node.output.name].chunk_channels, n,
                          layouts[node.input].chunks, chains)
        rb, cg = _bands(oh, r)[:r], _bands(chunks, g)[:g]
        bands[node.name], chans[node.name], parts[node.name] = [None] * n, [None] * n, \
            [None] * n
        if sp > 1:
            k = node.layer.kernel
            ranges = _part_tiles(k, k * layouts[node.input].chunks, sp)
        for i, band in enumerate(rb):     # band i's groups from core i * n // r on
            for j, (c0, c1) in enumerate(cg):
                chain = [i * n // r + j] if sp == 1 else \
                    [_snake((i * g + j) * sp + q, config.cols) for q in range(sp)]
                for q, kc in enumerate(chain):
                    bands[node.name][kc] = band
                    chans[node.name][kc] = (c0, c1 + 1)
                    last_of[node.name, kc] = chain[-1]
                    if sp == 1:
                        continue
                    send = None
                    if q + 1 < sp:
                        nx = chain[q + 1]
                        send = OFFSETS.index((nx % config.cols - kc % config.cols,
                                              nx // config.cols - kc // config.cols))
                    parts[node.name][kc] = ReductionPart(q, sp, *ranges[q], send=send)

    def part_tiles(node, kc):
        """Core ``kc``'s weight tiles a block of ``node``: its part's, or None (all)."""
        part = parts[node.name][kc] if isinstance(node, ConvNode) else None
        return None if part is None else part.hi - part.lo

    def sliced(node, kc):
        """``node``'s layer, weights, scale and bias for core ``kc``'s output channels."""
        lo, hi = _chunk_channels(layouts[node.output.name], *chans[node.name][kc])
        if (lo, hi) == (0, node.layer.out_channels):
            return node.layer, node.weights, node.scale, node.bias
        return (replace(node.layer, out_channels=hi - lo), node.weights[lo:hi],
                node.scale[lo:hi], node.bias[lo:hi])

    for node in nodes:   # (a layer's weights may span banks: 7.8)
        if not isinstance(node, ConvNode):
            continue
        for kc, b in enumerate(bands[node.name]):
            if b is None:
                continue
            need = sum(conv_sizes(core, sliced(node, kc)[0], part_tiles(node, kc)).values())
            if need > core.sram_bytes:
                c0, c1 = chans[node.name][kc]
                raise CompileError(f"layer {node.name}, core {kc}'s share (output rows "
                                   f"{b[0]} to {b[1]}, chunks {c0} to {c1 - 1}): its weights "
                                   f"and constants ({need} bytes) exceed a core's MEM "
                                   f"({core.sram_bytes} bytes) by {need - core.sram_bytes} "
                                   f"bytes")

    # The rows of each tensor each core reads (interior rows) and holds (padded rows:
    # what it writes and what its views read, border included).
    needs = collections.defaultdict(lambda: collections.defaultdict(set))  # tensor, core
    held = collections.defaultdict(lambda: collections.defaultdict(list))  # tensor, core
    for node in nodes:
        t_in, h = node.input, tensors[node.input].shape[0]
        k, s, p = _geometry(node)
        P = pad[t_in]
        for j, b in enumerate(bands[node.name]):
            if not b:
                continue
            r0, r1 = _input_rows(node, b, h)
            needs[t_in][j] |= set(range(r0, r1 + 1))
            held[t_in][j].append((b[0] * s - p + P, b[1] * s - p + k - 1 + P))
            if not _writes(parts[node.name][j]):
                continue
            q = pad[node.output.name]
            held[node.output.name][j].append((b[0] + q, b[1] + q))
            if isinstance(node, ConvNode) and node.residual is not None:
                needs[node.residual][j] |= set(range(b[0], b[1] + 1))
                q = pad[node.residual]
                held[node.residual][j].append((b[0] + q, b[1] + q))
    # windows[t][j]: the padded rows (lo, hi) of tensor t core j holds, or None.
    windows = {t: [(min(a for a, _ in held[t][j]), max(b for _, b in held[t][j]))
                   if held[t][j] else None for j in range(n)] for t in tensors}
    window_bytes = {t: max([(w[1] - w[0] + 1) * layouts[t].row_bytes
                            for w in windows[t] if w] or [layouts[t].row_bytes])
                    for t in tensors}

    def core_layout(addr, t, j):
        """Core ``j``'s layout of tensor ``t``: its window at the tensor's region."""
        w = windows[t][j]
        return replace(layouts[t], base=addr[f"tensor {t}"] -
                       (w[0] if w else 0) * layouts[t].row_bytes)

    # The exchange: the rows of its share each core puts to the cores that read them.
    def sends_of(addr, node, kc):
        """Core ``kc``'s SENDs of ``node``'s output: ``(rectangle, y0, y1, src, dst)``."""
        t = node.output.name
        b, ch = bands[node.name][kc], chans[node.name][kc]
        if not b or not _writes(parts[node.name][kc]):
            return []
        own = set(range(b[0], b[1] + 1))
        groups = collections.defaultdict(set)
        for j in range(n):
            if j == kc:
                continue
            for y0, y1 in _runs(own & needs[t][j]):
                groups[y0, y1, core_layout(addr, t, j).address(y0, 0, ch[0])].add(j)
        src = core_layout(addr, t, kc)
        out = [(rect, y0, y1, src.address(y0, 0, ch[0]), dst)
               for (y0, y1, dst), js in sorted(groups.items())
               for rect in _rectangles(js, config.cols)]
        if gather and t == network.output.name:
            # the network's output to the framebuffer, at its offset in the output's
            # buffer (the framebuffer adds the START's base)
            full = layouts[t]
            out.append((_fb_rect(config), b[0], b[1], src.address(b[0], 0, ch[0]),
                        full.address(b[0], 0, ch[0]) - full.base))
        return out

    def exchange(addr, node):
        """Every core's SENDs of ``node``'s output, and the SENDs reaching each core."""
        out = [sends_of(addr, node, kc) for kc in range(n)]
        inc = [0] * n
        for sends_k in out:
            for (x0, x1, y0, y1), *_ in sends_k:
                if (x0, x1, y0, y1) == _fb_rect(config):
                    continue
                for y in range(y0, y1 + 1):
                    for x in range(x0, x1 + 1):
                        inc[y * config.cols + x] += 1
        return out, inc

    def views(node, kc, addr):
        """Core ``kc``'s input, output (and residual) views of ``node``."""
        b, (c0, c1) = bands[node.name][kc], chans[node.name][kc]
        k, s, p = _geometry(node)
        full_in = core_layout(addr, node.input, kc)
        full_out = core_layout(addr, node.output.name, kc)
        h_in = (b[1] - b[0]) * s + k - 2 * p

        def share(lay, r0=b[0], rows=b[1] - b[0] + 1):
            v = _view(lay, r0, rows)
            if (c0, c1) == (0, lay.chunks):
                return v
            lo, hi = _chunk_channels(lay, c0, c1)
            return replace(v, base=v.base + c0 * word, channels=hi - lo, pitch=lay.chunks)

        res = None
        if isinstance(node, ConvNode) and node.residual is not None:
            res = share(core_layout(addr, node.residual, kc))
        # a pooling reads its own channels, a convolution every input channel
        v_in = share(full_in, b[0] * s, h_in) if not isinstance(node, ConvNode) else \
            _view(full_in, b[0] * s, h_in)
        return v_in, share(full_out), res

    shares = {}

    def compile_share(node, kc, addr):
        """Core ``kc``'s part of ``node``: its programs and its preload (code excluded),
        compiled once for each set of addresses; and its bands' positions (a chain's last
        part is compiled first, for its bands)."""
        key = (node.name, kc, id(addr))
        if key not in shares:
            shares[key] = compile_share_once(node, kc, addr)
        programs, pre, positions = shares[key]
        return [list(p) for p in programs], list(pre), positions

    def compile_share_once(node, kc, addr):
        b = bands[node.name][kc]
        if not b:
            return [[] for _ in range(8)], [], None
        part = parts[node.name][kc]
        if part is not None and not part.last:
            # the chain's bands: those the last part chose
            part = replace(part, positions=compile_share(node, last_of[node.name, kc],
                                                         addr)[2])
        v_in, v_out, v_res = views(node, kc, addr)
        placement = Placement(
            code=addr[f"{node.name} code"], constants=addr[f"{node.name} constants"],
            input=v_in, output=v_out,
            weights=addr[f"{node.name} weights"] if isinstance(node, ConvNode) else None,
            weights_pair=addr[f"{node.name} weights_pair"]
            if isinstance(node, ConvNode) and pair else None,
            residual=v_res, next_entry=None, spanning=True)
        c0, c1 = chans[node.name][kc]
        try:
            if isinstance(node, ConvNode):
                layer, w, sc, bi = sliced(node, kc)
                c = compile_conv2d(core, layer, v_in.height, v_in.width, w, sc, bi,
                                   out_padding=v_out.padding, placement=placement,
                                   part=part)
            else:
                c = compile_pool2d(core, replace(node.pool, channels=v_out.channels),
                                   v_in.height, v_in.width,
                                   placement=placement)
        except CompileError as e:
            of = "" if part is None else f", reduction part {part.index} of {part.count}"
            raise CompileError(f"layer {node.name}, core {kc}'s share (output rows {b[0]} "
                               f"to {b[1]}, chunks {c0} to {c1 - 1}{of}): {e}") from e
        # The view's border lies in the buffer's rows: the buffer's own border is
        # preloaded instead (once, for every tensor).
        border = {a for a, _ in v_out.border()}
        pre = [(a, d) for a, d in c.preload[1:] if a not in border]
        programs = [list(p) for p in c.programs]
        if _writes(part):
            t2 = programs[2]
            programs[2] = [_instr(Op.WAIT, ctr=GO)] + t2[:-1] + [
                _instr(Op.SIGNAL, ctr=DONE), t2[-1]]
        else:
            # T1, once its last step is taken (its last MEM read done), tells T4, so that
            # the token's SEND never reads MEM while T0 or T1 still do
            t1 = programs[1]
            programs[1] = t1[:-1] + [_instr(Op.SIGNAL, ctr=DONE), t1[-1]]
        return programs, pre, c.band_positions if isinstance(node, ConvNode) else None

    def image(node, i, kc, addr, next_entry, ex):
        programs, pre, _ = compile_share(node, kc, addr)
        b = bands[node.name][kc]
        # (a core whose partial sums leave on the PNoC writes no share: it has no T2 to
        # let start, and its T1 says when its steps are done)
        go = b if _writes(parts[node.name][kc]) else None
        parity = i % 2
        inc = ex[1][kc]
        t4 = [ex[0][kc], layouts[node.output.name], chans[node.name][kc], inc, parity, b]
        programs[4] = _t4(*t4, fb=_fb_rect(config))
        programs[7] = _t7(config, kc, addr["token"], parity, go, next_entry)
        # (the WAITs in loops of one where those of eight make a program too long)
        if len(programs[4]) > core.program_lens[4]:
            programs[4] = _t4(*t4, unroll=1, fb=_fb_rect(config))
        if len(programs[7]) > core.program_lens[7]:
            programs[7] = _t7(config, kc, addr["token"], parity, go, next_entry, unroll=1)
        for t, p in enumerate(programs):
            if len(p) > core.program_lens[t]:
                raise CompileError(f"layer {node.name}, core {kc}: T{t}'s program needs "
                                   f"{len(p)} instructions, more than its program_len = "
                                   f"{core.program_lens[t]}")
        remote = {TOKEN[parity]: n - 1} if kc == 0 and n > 1 else {}
        if inc:
            remote[DATA[parity]] = inc
        try:
            prog = Program(core, programs, remote=remote)
        except AsmError as e:
            raise CompileError(f"layer {node.name}, core {kc}: the programs are invalid: "
                               f"{e}") from e
        return prog, pre

    for t, size in window_bytes.items():
        if size > core.sram_bytes:
            raise CompileError(f"tensor {t}: a core's window of it ({size} bytes) exceeds a "
                               f"core's MEM ({core.sram_bytes} bytes) by "
                               f"{size - core.sram_bytes} bytes")
    # Sizes: every region at 0, a row pair's odd rows in the next bank (a program image's
    # size does not depend on addresses).
    somewhere = collections.defaultdict(int)
    somewhere.update({f"{node.name} weights_pair": core.sram_bank_bytes for node in nodes})
    sizes = {}
    for i, node in enumerate(nodes):
        code = 0
        ex = exchange(somewhere, node)
        for kc in range(n):
            prog, _ = image(node, i, kc, somewhere, 0 if i + 1 < len(nodes) else None, ex)
            code = max(code, len(prog.image()))
        sizes[f"{node.name} code"] = code
        if i:
            sizes[f"{node.name} trampoline"] = len(_trampoline(core, 0))
        if isinstance(node, ConvNode):
            for kc in range(n):
                if bands[node.name][kc]:
                    for key, v in conv_sizes(core, sliced(node, kc)[0],
                                             part_tiles(node, kc)).items():
                        sizes[f"{node.name} {key}"] = max(v, sizes.get(f"{node.name} {key}", 0))
        else:
            sizes[f"{node.name} constants"] = pool_sizes(core)["constants"]

    # Regions (one placement for every core) and the banks they must not share.
    regions = [_Region(f"tensor {name}", window_bytes[name]) for name in tensors]
    regions += [_Region(k, v) for k, v in sizes.items()] + [_Region("token", word)]
    apart = set()
    for node in nodes:
        if not isinstance(node, ConvNode):
            continue
        nm = node.name
        feeders = [f"{nm} weights"] + ([f"{nm} weights_pair"] if pair else []) + \
            [f"tensor {node.input}"]
        for i, a in enumerate(feeders):
            apart |= {(a, f) for f in feeders[i + 1:]}
        stores = [f"tensor {node.output.name}"] + (
            [f"tensor {node.residual}"] if node.residual is not None else [])
        apart |= {(a, f) for a in stores for f in feeders}
        if node.residual is not None:
            apart.add((f"tensor {node.output.name}", f"tensor {node.residual}"))
        apart |= {(a, f) for a in (f"{nm} code", f"{nm} constants") for f in feeders}
    placed = _place(core, regions, sorted(apart),
                    spanning={f"{node.name} {w}" for node in nodes
                              for w in ("weights", "weights_pair")} |
                    {f"tensor {name}" for name in tensors})
    addr = {name: r.addr for name, r in placed.items()}

    preload = [[] for _ in range(n)]
    entries = [addr[f"{nodes[0].name} code"]] * n
    sends = {}
    for i, node in enumerate(nodes):
        nxt = addr[f"{nodes[i + 1].name} trampoline"] if i + 1 < len(nodes) else None
        ex = exchange(addr, node)
        for kc in range(n):
            prog, pre = image(node, i, kc, addr, nxt, ex)
            sends[node.name, kc] = ex[0][kc]
            img = prog.image()
            assert len(img) <= sizes[f"{node.name} code"], "a layer's image grew"
            preload[kc] += [(addr[f"{node.name} code"], img)] + pre
            if i:
                preload[kc].append((addr[f"{node.name} trampoline"],
                                    _trampoline(core, addr[f"{node.name} code"])))
    core_layouts = {t: [core_layout(addr, t, j) for j in range(n)] for t in tensors}
    for kc in range(n):
        for name in tensors:
            w = windows[name][kc]
            if w:
                lay = core_layouts[name][kc]
                lo, hi = lay.base + w[0] * lay.row_bytes, lay.base + (w[1] + 1) * lay.row_bytes
                for a, d in lay.border():
                    a0, a1 = max(a, lo), min(a + len(d), hi)
                    if a0 < a1:
                        preload[kc].append((a0, bytes(a1 - a0)))
        preload[kc].append((addr["token"], bytes(word)))
        preload[kc] = list(dict.fromkeys((a, bytes(d)) for a, d in preload[kc]))
        _check_disjoint(preload[kc])
    layouts = {name: replace(lay, base=addr[f"tensor {name}"]) for name, lay in layouts.items()}
    compiled = CompiledArrayNetwork(network, config, preload, entries, layouts, bands, [],
                                    {name: (r.bank, r.addr, r.size)
                                         for name, r in placed.items()}, sends, chans,
                                    parts, windows, core_layouts)
    model = run_model(compiled)
    compiled.runs, compiled.starts = model.runs, model.starts
    compiled.fb_puts = model.fb_puts
    compiled.report = _report(compiled)
    return compiled


def _trampoline(core, entry):
    """The image a layer's start put launches: T0's NEXT to the layer's image (``entry``)
    and END. Its header word, the start put's data, is the same on every core."""
    return Program(core, [[_instr(Op.NEXT, entry=entry), _instr(Op.END)]]).image()


def run_model(compiled, x=None):
    """Run ``compiled`` once on the array's golden model (input ``x``, default zeros) and
    return the model (its ``runs`` and ``starts`` per core: one run per layer).

    Raises
    ------
    CompileError
        If the array deadlocks (the schedule lost a remote SIGNAL) or a layer does not run
        on every core.
    """
    from sw.golden.array import ArrayDeadlock
    model = load_array(compiled)
    write_input(compiled, model, x if x is not None else
                np.zeros(compiled.input.shape, dtype=np.int64))
    try:
        model.run(compiled.entries)
    except ArrayDeadlock as e:
        raise CompileError(f"the array's schedule deadlocks on its golden model: {e}") from e
    for k, c in enumerate(model.cores):
        if c.conflict is not None:
            raise CompileError(f"two of core {k}'s streams meet in a MEM bank on the array's "
                               f"golden model: {c.conflict}")
    layers = len(compiled.network.nodes)
    if any(len(r) != layers for r in model.runs):
        raise CompileError(f"a core ran {[len(r) for r in model.runs]} layers, not "
                           f"{layers} each")
    return model


def load_array(compiled, model=None):
    """An :class:`sw.golden.array.ArrayModel` (or ``model``) holding ``compiled``'s
    preload."""
    from sw.golden.array import ArrayModel
    model = model if model is not None else ArrayModel(compiled.config)
    for kc, pre in enumerate(compiled.preload):
        for a, d in pre:
            if len(d):
                model.cores[kc].write(a, d)
    return model


def write_input(compiled, model, x, name=None):
    """Write tensor ``name`` (default the input) ``x`` to every core that reads it (each
    its window)."""
    t = compiled.network.tensors()[name or compiled.input.name]
    lay = compiled.layouts[t.name]
    data = lay.pack(t.check(x, f"tensor {t.name}"))
    for kc in compiled.readers(t.name):
        a, off, length = compiled.window(t.name, kc)
        model.cores[kc].write(a, data[off:off + length])


def output_reads(compiled, name=None):
    """The reads that gather tensor ``name`` (default the output): ``(core, address,
    offset, length, c0, c1)``, each the core's bytes from MEM ``address`` that hold
    chunks ``c0 .. c1 - 1`` of the packed buffer's bytes ``offset ..`` (whole rows of
    the core's window)."""
    name = name or compiled.output.name
    out = []
    for kc, y0, y1, c0, c1 in compiled.producers(name):
        lay = compiled.core_layouts[name][kc]
        a = lay.address(y0, 0)
        out.append((kc, a, compiled.layouts[name].address(y0, 0) - compiled.layouts[name].base,
                    (y1 - y0 + 1) * lay.row_bytes - 2 * lay.padding * lay.position_words
                    * lay.word, c0, c1))
    return out


def read_output(compiled, read, name=None):
    """Tensor ``name`` (default the output) gathered from the cores that wrote it;
    ``read(core, address, length)`` reads a core's MEM."""
    name = name or compiled.output.name
    lay = compiled.layouts[name]
    full = np.frombuffer(lay.pack(np.zeros((lay.height, lay.width, lay.channels),
                                           dtype=np.int64)), dtype=np.uint8).copy()
    full = full.reshape(-1, lay.chunks, lay.word)
    pos = lay.chunks * lay.word
    for kc, a, off, length, c0, c1 in output_reads(compiled, name):
        got = np.frombuffer(bytes(read(kc, a, length)), dtype=np.uint8)
        full[off // pos:(off + length) // pos, c0:c1] = \
            got.reshape(-1, lay.chunks, lay.word)[:, c0:c1]
    return np.asarray(lay.unpack(full.tobytes()), dtype=np.int64)


def _report(compiled):
    """Per layer: its span on the array (from core 0's start of the layer to its start
    of the next, the last to the last core's end), each core's run."""
    out = []
    n = compiled.config.cores
    end = compiled.cycles
    for i, node in enumerate(compiled.network.nodes):
        cyc = tuple(compiled.runs[k][i][0] for k in range(n))
        st = tuple(compiled.runs[k][i][1] for k in range(n))
        t0 = compiled.starts[0][i]
        t1 = compiled.starts[0][i + 1] if i + 1 < len(compiled.network.nodes) else end
        out.append(ArrayLayerReport(node.name, "conv" if isinstance(node, ConvNode) else
                                    "pool", tuple(compiled.bands[node.name]),
                                    tuple(compiled.chans[node.name]), cyc, st,
                                    t1 - t0, sum(st), sum(st) / (n * (t1 - t0)),
                                    tuple(None if p is None else (p.index, p.count)
                                          for p in compiled.parts[node.name])))
    return out


# The model image in the framebuffer (docs/architecture.md, 11).

@dataclass(frozen=True)
class MachineImage:
    """What the host writes into the framebuffer for an array-compiled network: ``data``
    from byte 0 (the command lists, the input and output buffers, every distinct block
    of the cores' preloads once). RUN ``load`` once (the preloads put over the meshes to
    the cores: programs on the INoC, weights on the MNoC, the rest on the ANoC, each block
    multicast to the rectangles of cores that hold it at one address; then a FENCE),
    then per image WRITE the input's buffer (its layout's bytes) at ``input_addr``, RUN
    ``infer`` (each reading core's window of the input put over the ANoC, a FENCE,
    START with the output's buffer as the base of the puts the cores send the
    framebuffer, WAIT, then GATHER until the producers' SENDs of the output over the ANoC
    have all landed there) and READ the output's buffer at ``output_addr``.
    ``infer_cycles`` is the engine's cycle count of an ``infer`` run (the host link's
    STATUS), ``load_cycles`` a ``load`` run's."""
    data: bytes
    load: int
    infer: int
    input_addr: int
    output_addr: int
    load_cycles: int
    infer_cycles: int


def machine_image(compiled):
    """The framebuffer image of ``compiled`` (a :class:`CompiledArrayNetwork`).

    Raises
    ------
    CompileError
        If it does not fit the configuration's framebuffer (the message says by how much).
    """
    from rtl.spec.framebuffer import COMMAND_WORDS, FbOp, encode
    from rtl.spec.isa import PUT_PORTS
    from sw.golden.framebuffer import FramebufferModel
    if not compiled.fb_puts:
        raise CompileError("the network was compiled without gather: its output does not "
                           "reach the framebuffer")
    cfg = compiled.config
    core = cfg.core
    w = core.mem_port_bits // 8
    nets = {name: PUT_PORTS.index(name) for name in PUT_PORTS}
    spans = sorted((a, a + size, name) for name, (_, a, size) in compiled.regions.items())

    def net_of(addr):
        """The mesh a preload block travels on: programs on the INoC, weights on the
        MNoC, the rest (constants, borders, the token) on the ANoC."""
        for a0, a1, name in spans:
            if a0 <= addr < a1:
                if name.endswith((" code", " trampoline")):
                    return nets["inoc"]
                if name.endswith((" weights", " weights_pair")):
                    return nets["mnoc"]
                break
        return nets["anoc"]

    blobs, zero = {}, 0   # distinct non-zero blocks -> offset (in the blob area)
    blob_area = bytearray()
    loads = collections.defaultdict(list)   # (mem, block, bytes) -> cores
    for kc, pre in enumerate(compiled.preload):
        for a, d in pre:
            d = bytes(d) + bytes(-len(d) % w)
            if not d:
                continue
            if not any(d):
                zero = max(zero, len(d))
                loads[a, None, len(d)].append(kc)
                continue
            if d not in blobs:
                blobs[d] = len(blob_area)
                blob_area += d
            loads[a, blobs[d], len(d)].append(kc)
    lay_in = compiled.layouts[compiled.input.name]
    lay_out = compiled.layouts[compiled.output.name]
    copies_in = collections.defaultdict(list)   # (mem, offset, bytes) -> cores
    for kc in compiled.readers(compiled.input.name):
        copies_in[compiled.window(compiled.input.name, kc)].append(kc)
    puts_load = [(a, off, n, r) for (a, off, n), cores in loads.items()
                 for r in _rectangles(cores, cfg.cols)]
    puts_in = [(a, off, n, r) for (a, off, n), cores in copies_in.items()
               for r in _rectangles(cores, cfg.cols)]
    n_load = len(puts_load) + 2
    n_infer = len(puts_in) + 5
    cmd_bytes = COMMAND_WORDS * w
    infer_at = 0
    load_at = infer_at + n_infer * cmd_bytes
    input_at = load_at + n_load * cmd_bytes
    output_at = input_at + lay_in.size + (-lay_in.size % w)
    zero_at = output_at + lay_out.size + (-lay_out.size % w)
    blob_at = zero_at + zero
    total = blob_at + len(blob_area)
    if total > cfg.framebuffer_bytes:
        raise CompileError(f"the model image needs {total} bytes of framebuffer, the "
                           f"{cfg.name} array has {cfg.framebuffer_bytes}: "
                           f"{total - cfg.framebuffer_bytes} bytes too many")
    data = bytearray(total)

    def put(at, cmds):
        for i, (op, kw) in enumerate(cmds):
            a, b = encode(op, **kw)
            base = at + i * cmd_bytes
            data[base:base + 8] = a.to_bytes(8, "little")
            data[base + w:base + w + 8] = b.to_bytes(8, "little")

    def rect(r):
        return dict(zip(("x0", "x1", "y0", "y1"), r, strict=True))

    load = [(FbOp.PUT, dict(net=net_of(a), count=n // w, mem=a, **rect(r),
                            fb=(zero_at if off is None else blob_at + off) // w))
            for a, off, n, r in puts_load] + [(FbOp.FENCE, {}), (FbOp.END, {})]
    infer = [(FbOp.PUT, dict(net=nets["anoc"], count=n // w, fb=(input_at + off) // w,
                             mem=a, **rect(r)))
             for a, off, n, r in puts_in]
    infer += [(FbOp.FENCE, {}),
              (FbOp.START, dict(mem=compiled.entries[0], fb=output_at // w)),
              (FbOp.WAIT, dict(core=0, count=len(compiled.network.nodes))),
              (FbOp.GATHER, dict(count=len(compiled.fb_puts))), (FbOp.END, {})]
    put(infer_at, infer)
    put(load_at, load)
    data[output_at:output_at + lay_out.size] = lay_out.pack(
        np.zeros((lay_out.height, lay_out.width, lay_out.channels), dtype=np.int64))
    data[blob_at:] = blob_area
    # The engine's cycles: the framebuffer's model steps the puts through the meshes
    # (their timing does not depend on the data) and takes the array's run from the
    # compiled network's cycles.
    fb = FramebufferModel(cfg)
    fb.write(0, data)
    load_cycles, error = fb.run(load_at)
    assert error == 0, f"the load list fails on the framebuffer's model: error {error}"
    infer_cycles, error = fb.run(infer_at, run_cycles=compiled.cycles,
                                 fb_puts=compiled.fb_puts)
    assert error == 0, f"the infer list fails on the framebuffer's model: error {error}"
    return MachineImage(bytes(data), load_at, infer_at, input_at, output_at, load_cycles,
                        infer_cycles)
