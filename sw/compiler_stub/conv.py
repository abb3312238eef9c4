"""Compile a convolution (or fully connected) layer for one core.

The layer is lowered onto the VMM by address generation, not by copying im2col tensors:
activations stay in MEM in the layout of :class:`ActivationLayout`, and the steps' address
generator walks the input positions under each kernel tap. Output channels go in blocks
of ``vmm_rows``; output positions in bands of at most half the partial-sum buffer, of
heights (not necessarily equal: a shorter last band shortens the post-processing after
the VMM's last step) of least estimated cycles (:func:`_band_plans`, :func:`_estimate`).
A 1x1 layer of stride 1 whose input and output have no border walks its positions as one
run, and its bands are of any number of positions.

Per band and output-channel block (an item) the threads do, overlapped:

- T0 streams the block's weight tiles (``vmm_rows`` rows per tap and input chunk) to the
  VMM (one WSTREAM covers every block of every band); on a core with a bank to spare the
  odd rows of every tile sit in that bank and the WSTREAM reads a row pair a cycle;
- T1 streams the band's activation vectors once per tap and chunk (one SSTREAM per
  block: the first tile starts from zero partial sums, each tile ends with ``last``),
  accumulating in one half of the PSB; the SSTREAM signals T2 when its last result is
  in, while T1 goes on to the next block;
- T2 takes the PSB half through the fused post-processing pass (VPOST: conversion,
  ``fma(x, scale, bias)``, the residual, the activation and the conversion to the output
  type, one vector a cycle) into the output tensor, with the block's constant vectors
  (scale, bias, activation parameters) from the VBUF, and releases the half to T1. Every
  block's constants are loaded into the VBUF once, at T2's start, when they and the
  unrolled program fit; else T2 loads a block's before its pass.

The blocks use the two PSB halves in turn (from band to band too, with an odd number of
blocks), so T1 waits for T2 only when a pass is slower than the next block's steps
(with an even number T1 runs two blocks an iteration, one half through each of two
generators). The threads start as their programs load (T0, T1, then T2): the halves
start free, so T1 does not wait for the first two blocks (a depthwise layer's T1 counts
them free itself), and T2's program ends right after its last VPOST.

A *reduction part* (:class:`ReductionPart`, for the array compiler's chains of cores)
holds a run of one kernel row's tiles of every block and steps them in the same bands
and blocks as the chain's other parts. Its partial sums start from zero (the chain's
first part) or from its PNoC input (the others); its last tile's results go on the PNoC
to the next part, or (the chain's last part) stay in its PSB for T2 as above. A part
whose sums leave on the PNoC has no T2 and uses one PSB part (its streams follow one
another in T1's order).
"""

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from rtl.spec.codes import Precision, VcuOp, VloadMode
from rtl.spec.isa import AG_DIMS, AGS, Instr, Op
from sw.golden import checks, fp16
from sw.golden.layers import Conv2d, Pool2d
from sw.golden.packing import pack, unpack
from sw.golden.post import IDENTITY

from .asm import AsmError, Program

__all__ = ["CompileError", "ActivationLayout", "Placement", "ReductionPart", "CompiledConv",
           "compile_conv2d", "CompiledPool", "compile_pool2d"]


# Counters: T2 -> T1 "a PSB half is free", T1 -> T2 "a PSB half is ready".
PSB_FREE, PSB_READY = 0, 1
#: The counter a reduction part's SSTREAMs signal so that T1 goes on without waiting for
#: their results (no thread waits on it).
STREAMED = 15


class CompileError(ValueError):
    """The layer cannot be mapped onto the core; the message says why."""


@dataclass(frozen=True)
class ActivationLayout:
    """An activation tensor in MEM: positions row-major with a zero border of ``padding``,
    each position ``chunks`` words of ``chunk_channels`` packed channels (channel ``c``
    in chunk ``c // chunk_channels``, little-endian inside the word's first
    ``vmm_cols`` bytes).

    ``pitch`` (words from one position to the next; 0: ``chunks``) larger than
    ``chunks`` makes the layout a *channel slice* of a buffer of ``pitch`` chunks a
    position (its base at the slice's first chunk): what a layer whose output channels
    are split over cores writes (docs/architecture.md, 7.8). Such a slice is addressed
    and written, never packed or unpacked.

    The buffer is ``size`` bytes from ``base``: :meth:`pack` gives all of them (border
    included), :meth:`unpack` reads all of them, and :meth:`border` gives the border's
    runs of zero bytes alone."""
    base: int
    height: int
    width: int
    channels: int
    bits: int
    signed: bool
    padding: int
    word: int           # bytes per MEM word
    chunk_channels: int
    pitch: int = 0      # words a position (0: chunks)

    @property
    def chunks(self):
        return math.ceil(self.channels / self.chunk_channels)

    @property
    def position_words(self):
        """Words from one position to the next: ``pitch``, or ``chunks``."""
        return self.pitch or self.chunks

    @property
    def row_bytes(self):
        """Bytes from one (padded) row to the next."""
        return self.padded_width * self.position_words * self.word

    @property
    def padded_width(self):
        return self.width + 2 * self.padding

    @property
    def size(self):
        return (self.height + 2 * self.padding) * self.row_bytes

    def address(self, y, x, chunk=0):
        """Byte address of chunk ``chunk`` of position ``(y, x)`` (unpadded coordinates)."""
        return self.base + (((y + self.padding) * self.padded_width + x + self.padding)
                            * self.position_words + chunk) * self.word

    def _whole(self, what):
        if self.pitch and self.pitch != self.chunks:
            raise ValueError(f"a channel slice (pitch {self.pitch}, {self.chunks} chunks) "
                             f"cannot be {what}")

    def border(self):
        """The zero border as ``(address, bytes)`` runs of zeros: every word of every
        position outside the ``height x width`` interior (none without padding)."""
        if not self.padding:
            return []
        end = self.base + self.size
        starts = [self.base] + [self.address(y, self.width) for y in range(self.height)]
        stops = [self.address(y, 0) for y in range(self.height)] + [end]
        return [(a, bytes(b - a)) for a, b in zip(starts, stops, strict=True)]

    def pack(self, x):
        """The whole buffer's bytes for a tensor ``x`` of shape (height, width, channels):
        integers (not floats or bools) in the range of ``bits`` and ``signed``."""
        self._whole("packed")
        x = checks.integers(x, "x", self.bits, self.signed,
                            shape=(self.height, self.width, self.channels))
        hp, wp = self.height + 2 * self.padding, self.padded_width
        full = np.zeros((hp, wp, self.chunks * self.chunk_channels), dtype=np.int64)
        full[self.padding:self.padding + self.height,
             self.padding:self.padding + self.width, :self.channels] = x
        packed = pack(full.reshape(hp, wp, self.chunks, self.chunk_channels), self.bits,
                      self.signed)
        words = np.zeros((hp, wp, self.chunks, self.word), dtype=np.uint8)
        words[..., :packed.shape[-1]] = packed
        return words.tobytes()

    def unpack(self, data):
        """The tensor held in the buffer's ``size`` bytes ``data`` (bytes, bytearray,
        memoryview or a uint8 array)."""
        self._whole("unpacked")
        if isinstance(data, np.ndarray):
            if data.dtype != np.uint8:
                raise TypeError(f"data must be bytes or a uint8 array, not a {data.dtype} "
                                f"array")
            data = data.tobytes()
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes or a uint8 array, not "
                            f"{type(data).__name__}")
        data = bytes(data)
        if len(data) != self.size:
            raise ValueError(f"data must be the buffer's {self.size} bytes, not {len(data)}")
        hp, wp = self.height + 2 * self.padding, self.padded_width
        words = np.frombuffer(data, dtype=np.uint8).reshape(hp, wp, self.chunks, self.word)
        nbytes = self.chunk_channels * self.bits // 8
        values = unpack(words[..., :nbytes], self.bits, self.signed)
        values = values.reshape(hp, wp, -1)[:, :, :self.channels]
        return values[self.padding:self.padding + self.height,
                      self.padding:self.padding + self.width]


@dataclass
class CompiledConv:
    """A compiled layer: the threads' programs and the MEM image, with the layouts to
    write its input and read its output.

    ``preload`` holds every byte the layer needs besides its input (and residual): the
    program image, the constants, the weights and the output's zero border, so the layer
    runs on memory holding anything. The program writes the output's interior positions;
    in them, the lanes of channels past ``out_channels`` are unspecified (the next layer's
    weights for them are zero)."""
    layer: Conv2d
    programs: list
    preload: list        # (address, bytes) to write before starting
    entry: int           # program image address
    input: ActivationLayout
    output: ActivationLayout
    blocks: int          # output-channel blocks
    bands: int           # output-position bands
    positions: int       # positions of the first (largest) band (VMM steps per tile)
    tiles: int           # weight tiles per block
    residual: ActivationLayout = None  # where the residual tensor goes, if any
    sizes: dict = None   # bytes of each region: code, constants, weights(, weights_pair)
    band_positions: tuple = None   # output positions of each band, in order


@dataclass(frozen=True)
class Placement:
    """Where a layer's regions go, chosen by the caller (the network compiler) instead
    of one bank each: byte addresses of the program image (``code``), the constant
    vectors, the weights (and their odd rows when the core reads row pairs), and the
    layouts of the input, output and residual tensors (a tensor's border may be wider
    than the layer's padding; the residual has the output's layout). ``next_entry``:
    the image to run after this one (a NEXT), or None. The caller keeps the streams
    that run together in different banks (docs/architecture.md, 7.6). ``spanning``:
    the weights may be larger than a bank, placed from a bank's start over banks of
    their own (and their odd rows likewise: a row pair's two rows a whole number of
    banks apart)."""
    code: int
    constants: int
    input: ActivationLayout
    output: ActivationLayout
    weights: int = None      # (a pooling layer has none)
    weights_pair: int = None
    residual: ActivationLayout = None
    next_entry: int = None
    spanning: bool = False


@dataclass(frozen=True)
class ReductionPart:
    """One core's part of a convolution whose reduction is split over a chain of
    ``count`` neighbouring cores, their partial sums summed on the PNoC
    (docs/architecture.md, 7.8, 9.8). Part ``index`` takes the weight tiles ``lo ..
    hi - 1`` of kernel row ``ky`` (a kernel row's tiles in memory order: kernel column,
    then input chunk), for every block and band in the same order as the other parts:

    - the first part (``index`` 0) steps its tiles from zero partial sums and sends its
      last tile's results on the PNoC toward ``send`` (a :data:`rtl.spec.isa.DIRECTIONS`
      index);
    - a middle part takes its first tile's partial sums from its PNoC input and sends its
      last tile's results toward ``send``;
    - the last part (``send`` None) takes its first tile's partial sums from its PNoC
      input, keeps the sums in its PSB and post-processes them into the output as a
      layer on one core does.

    ``positions``: the output positions of each band, the chain's common plan (the last
    part's ``CompiledConv.band_positions``); None lets the compiler choose (the last
    part's choice, for the others to follow)."""
    index: int
    count: int
    ky: int
    lo: int
    hi: int
    send: int = None
    positions: tuple = None

    @property
    def last(self):
        return self.index == self.count - 1


def _check_part(part, layer, chunks):
    """``part`` checked against the layer (``chunks`` input chunks), its positions
    aside; returns its tiles a block."""
    if not isinstance(part, ReductionPart):
        raise TypeError(f"part must be a ReductionPart or None, not {type(part).__name__}")
    if layer.depthwise:
        raise ValueError("a depthwise layer's reduction cannot be split (part)")
    count = checks.integer(part.count, "part.count", low=2)
    checks.integer(part.index, "part.index", low=0, high=count - 1)
    checks.integer(part.ky, "part.ky", low=0, high=layer.kernel - 1)
    row = layer.kernel * chunks
    lo = checks.integer(part.lo, "part.lo", low=0, high=row - 1)
    checks.integer(part.hi, "part.hi", low=lo + 1, high=row)
    if part.last != (part.send is None):
        raise ValueError("part.send must be None exactly for the chain's last part")
    if part.send is not None:
        checks.integer(part.send, "part.send", low=0, high=3)
    return part.hi - lo


def _part_heights(part, bh, bw, half):
    """``part.positions`` checked (bands of whole rows of ``bw`` positions, ``bh`` rows,
    at most ``half`` positions each) as band heights in rows, or None."""
    if part.positions is None:
        return None
    if not isinstance(part.positions, (list, tuple)):
        raise TypeError(f"part.positions must be a tuple of integers or None, not "
                        f"{type(part.positions).__name__}")
    pos = [checks.integer(p, f"part.positions[{i}]", low=1)
           for i, p in enumerate(part.positions)]
    if any(p % bw or p > half for p in pos) or sum(pos) != bh * bw:
        raise ValueError(f"part.positions {tuple(pos)} are not bands of whole rows of {bw} "
                         f"positions, each at most {half}, summing to {bh * bw}")
    return [p // bw for p in pos]


def _check_layout(what, got, want, slice_ok=False):
    """``got`` (a caller's layout) holds the tensor of layout ``want`` (base ignored),
    with a border at least ``want``'s; a channel slice (``pitch``) only if
    ``slice_ok``."""
    if not isinstance(got, ActivationLayout):
        raise TypeError(f"placement's {what} must be an ActivationLayout, not "
                        f"{type(got).__name__}")
    for attr in ("height", "width", "channels", "bits", "signed", "word", "chunk_channels"):
        if getattr(got, attr) != getattr(want, attr):
            raise ValueError(f"placement's {what} has {attr} {getattr(got, attr)!r}, the "
                             f"layer needs {getattr(want, attr)!r}")
    if got.padding < want.padding:
        raise ValueError(f"placement's {what} has a border of {got.padding}, the layer "
                         f"needs at least {want.padding}")
    if got.base % got.word:
        raise ValueError(f"placement's {what} is at {got.base:#x}, not word-aligned")
    if got.position_words < got.chunks or (not slice_ok and got.position_words != got.chunks):
        why = "" if slice_ok else " (only an output or a pooling's input may be a slice)"
        raise ValueError(f"placement's {what} has a pitch of {got.pitch} words for its "
                         f"{got.chunks} chunks{why}")


def _with_next(program, entry):
    """``program`` with a NEXT to ``entry`` before its END (unchanged when None)."""
    if entry is None:
        return program
    return program[:-1] + [_instr(Op.NEXT, entry=entry), program[-1]]


def _instr(opcode, **args):
    return Instr(opcode, {name: int(value) for name, value in args.items()})


def _simplify(program):
    """``program`` without the instructions that do nothing (each costs a load cycle and
    a run cycle): ``LOOP count=1`` with its ENDL (the body stays), ``AGADD delta=0``, an
    ``AGDIM count=1`` of a dimension that is count 1 already (set by an ``AGBASE``
    earlier in the same straight run of instructions, or by the run's start, which sets
    every dimension of every generator to count 1, dimension untouched since), and the
    generator instructions just before the program's END (no stream follows them). (None
    of these depends on the regions' addresses: a layer's program image has one size
    wherever its regions are placed.)"""
    fresh = {g: set(range(AG_DIMS)) for g in range(AGS)}   # generator -> dimensions untouched
    out, stack = [], []
    for ins in program:
        op = ins.op
        if op == Op.LOOP:
            stack.append(ins["count"] == 1)
            fresh = {}
            if ins["count"] == 1:
                continue
        elif op == Op.ENDL:
            fresh = {}
            if stack.pop():
                continue
        elif op == Op.AGADD and ins["delta"] == 0:
            continue
        elif op == Op.AGBASE:
            fresh[ins["g"]] = set(range(AG_DIMS))
        elif op == Op.AGDIM:
            dims = fresh.get(ins["g"], set())
            if ins["count"] == 1 and ins["d"] in dims:
                continue   # count 1: its stride is never used
            dims.discard(ins["d"])
        elif op == Op.END and not stack:
            while out and out[-1].op in (Op.AGBASE, Op.AGDIM, Op.AGADD):
                out.pop()
        out.append(ins)
    return out


def _estimate(heights, ow, blocks, tiles, rows, pass_gap=36):
    """Estimated cycles of bands of ``heights`` rows of ``ow`` positions (after T1's first
    step), item by item (an item: a block of a band, ``P`` positions). T1 steps an item
    in ``tiles * P`` cycles (at least ``tiles * rows``: T0's weights, ``rows`` a cycle),
    2 cycles apart, 3 more at a band's end and 9 more where the height changes (the
    generators' counts; 9 again for the longer program), and waits for its PSB half (the
    blocks alternate halves), which T2 frees about ``P + 30`` cycles after its pass
    starts. T2's pass starts 13 cycles after the item's last step, when T2 is free
    (``P + pass_gap`` cycles after its previous pass started: 36 with every block's
    constants in the VBUF, 45 loading them per block), and the run ends 26 cycles after
    the last pass's last vector. (Fitted to the cycle model on benchmark layers of the
    ``sim`` and ``northpole`` cores.)"""
    free = [0, 0]                  # when each PSB half is free for T1
    t = t2 = end = changes = 0     # T1's next step, T2 free, the run's end
    for b, h in enumerate(heights):
        p = h * ow
        if b:
            change = h != heights[b - 1]
            changes += change
            t += 3 + 9 * change
        for i in range(blocks):
            half = (b * blocks + i) % 2
            start = max(t, free[half] + 3)
            done = start + tiles * max(p, rows)
            post = max(done + 13, t2)
            free[half], t2, end = post + p + 30, post + p + pass_gap, post + p + 26
            t = done + 2
    return end + 9 * changes


def _band_plans(oh, ow, half, blocks, tiles, rows, pass_gap=36):
    """Band heights to try, the least estimated cycles (:func:`_estimate`) first (ties:
    fewer bands): for each height ``H`` that fits half the PSB (the divisors of ``oh``
    and the 32 largest, none under a 16th of the largest), as many bands of ``H`` as fit
    and the rest in one band; for the three best ``H``, also one or two bands of ``H``
    fewer, the rest split into one to three bands of near-equal heights (a shorter last
    band shortens the last pass after the VMM's last step)."""
    top = min(oh, half // ow)
    # (bands under a 16th of the largest only add fixed costs, and estimating their many
    # items would cost time)
    heights = sorted({h for h in range(-(-top // 16), top + 1) if oh % h == 0} |
                     set(range(max(1, top - 31), top + 1)), reverse=True)

    def cost(plan):
        return _estimate(plan, ow, blocks, tiles, rows, pass_gap), len(plan)

    plans = {}
    for h in heights:
        n, r = divmod(oh, h)
        plan = (h,) * n + ((r,) if r else ())
        plans[plan] = cost(plan)
    best = sorted(heights, key=lambda h: plans[(h,) * (oh // h) + ((oh % h,) if oh % h
                                                                      else ())])[:3]
    for h in best:
        for m in range(max(0, oh // h - 2), oh // h):
            rest = oh - m * h
            for k in range(1, 4):
                if k > rest or -(-rest // k) > h:
                    continue
                q, e = divmod(rest, k)
                plan = (h,) * m + (q + 1,) * e + (q,) * (k - e)
                plans.setdefault(plan, cost(plan))
    return [list(p) for p in sorted(plans, key=plans.get)]


def _check_band_heights(heights, oh, ow, half):
    """``heights`` (a caller's band heights) as a list of ints, checked: positive, summing
    to the output height ``oh``, each band of at most ``half`` positions."""
    if not isinstance(heights, (list, tuple)):
        raise TypeError(f"band_heights must be a list or tuple of integers or None, not "
                        f"{type(heights).__name__}")
    heights = [checks.integer(h, f"band_heights[{i}]", low=1) for i, h in enumerate(heights)]
    if sum(heights) != oh:
        raise ValueError(f"band_heights must sum to the output height {oh}, not "
                         f"{sum(heights)}")
    for i, h in enumerate(heights):
        if h * ow > half:
            raise ValueError(f"band_heights[{i}] = {h}: a band of {h} x {ow} positions "
                             f"exceeds half the PSB ({half})")
    return heights


def _repeat(count, body):
    """``body`` run ``count`` times: nothing, the body alone, or a loop."""
    if count == 0:
        return []
    if count == 1:
        return list(body)
    return [_instr(Op.LOOP, count=count)] + list(body) + [_instr(Op.ENDL)]


def _with_fields(ins, **fields):
    """``ins`` with some fields changed."""
    return Instr(ins.op, {**ins.args, **fields})


def _vec_bytes(core):
    """Bytes of a constant vector (``vmm_rows`` binary16 values, whole words)."""
    word = core.mem_port_bits // 8
    return math.ceil(core.vmm_rows * 2 / word) * word


def conv_sizes(core, layer, tiles=None):
    """The bytes of a convolution's regions besides its code on ``core``: ``constants``
    and ``weights`` (and ``weights_pair`` when the core reads row pairs), whatever its
    activations' sizes; ``tiles``: the weight tiles a block (a reduction part's), None
    for the whole layer's."""
    rows, word = core.vmm_rows, core.mem_port_bits // 8
    cpc = core.vmm_cols * 8 // layer.bits
    blocks = math.ceil(layer.out_channels / rows)
    if tiles is None:
        tiles = layer.kernel ** 2 * (1 if layer.depthwise else
                                     math.ceil(layer.in_channels / cpc))
    pair = core.sram_banks > 4
    w_bytes = blocks * tiles * (rows // 2 if pair else rows) * word
    out = {"constants": blocks * 3 * _vec_bytes(core), "weights": w_bytes}
    if pair:
        out["weights_pair"] = w_bytes
    return out


def pool_sizes(core):
    """The bytes of a pooling layer's constants on ``core`` (its only region besides its
    code)."""
    return {"constants": 2 * _vec_bytes(core)}


def _bank_regions(core, sizes):
    """Place regions in consecutive banks (each in its own bank, so the streams that run
    together never meet in one bank); return their base addresses."""
    bank = core.sram_bank_bytes
    if len(sizes) > core.sram_banks:
        raise CompileError(f"the layer needs {len(sizes)} memory banks, the core has "
                           f"{core.sram_banks}")
    bases = []
    for i, (name, size) in enumerate(sizes):
        if size > bank:
            raise CompileError(f"the {name} ({size} bytes) do not fit a {bank}-byte bank")
        bases.append(i * bank)
    return bases


def compile_conv2d(core, layer, height, width, weights, scale, bias, *, out_padding=0,
                   placement=None, band_heights=None, part=None):
    """Compile ``layer`` for an input of ``height x width`` on a core.

    Parameters
    ----------
    core : rtl.spec.config.CoreConfig
    layer : Conv2d
    height, width : int
        Positive.
    weights : array of int, shape ``layer.weight_shape``
        Signed ``layer.bits``-bit integers (a float or bool array is rejected).
    scale, bias : binary16, shape (out_channels,)
        ``float16`` values or integer bit patterns from 0 to 0xFFFF (other floats are
        rejected, never taken as bit patterns: see :func:`sw.golden.checks.binary16`).
    out_padding : int
        Zero border of the output tensor (the next layer's padding), at least 0. The
        preload writes the border's zeros.
    placement : Placement or None
        Where the regions go (the network compiler's choice). None: one bank each, the
        program image and constants in bank 0, the weights in bank 1, the input in 2,
        the output in 3 (with a spare bank, the weights' odd rows and the residual in the
        next ones). With a placement, ``out_padding`` is the placed output's border.
    band_heights : sequence of int or None
        The output rows of each band, in order: positive, summing to the output height,
        each band at most half the PSB (``psb_entries // 2`` positions). None: the
        compiler's choice (:func:`_band_plans`), which may split a layer whose input and
        output have no border, 1x1 of stride 1, into bands of any number of positions.
    part : ReductionPart or None
        This core's part of a reduction split over a chain of cores (its bands are
        ``part.positions``; not with ``band_heights``). Its weights are the whole
        layer's (the part takes its tiles); only the last part writes the output.

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type, shape or range; the message names it.
    CompileError
        If the layer does not fit the core or its sums could overflow int32.
    """
    if not isinstance(layer, Conv2d):
        raise TypeError(f"layer must be a Conv2d, not {type(layer).__name__}")
    rows, cols, word = core.vmm_rows, core.vmm_cols, core.mem_port_bits // 8
    k, s, bits, obits = layer.kernel, layer.stride, layer.bits, layer.out_bits
    oh, ow = layer.out_size(height, width)
    weights = checks.integers(weights, "weights", bits, True, shape=layer.weight_shape)
    scale = checks.binary16(scale, "scale", shape=(layer.out_channels,))
    bias = checks.binary16(bias, "bias", shape=(layer.out_channels,))
    out_padding = checks.integer(out_padding, "out_padding", low=0)
    if band_heights is not None:
        band_heights = _check_band_heights(band_heights, oh, ow, core.psb_entries // 2)
    a_max = (1 << bits) - 1 if not layer.in_signed else 1 << (bits - 1)
    worst = int(np.abs(weights.astype(np.int64)).sum(axis=(1, 2, 3)).max()) * a_max
    if worst >= 1 << 31:
        raise CompileError(f"the layer's sums could reach {worst}, beyond int32: split its "
                           f"input channels")

    # Layouts, blocks and bands.
    cpc  = cols * 8 // bits           # input channels per VMM vector
    ocpc = cols * 8 // obits          # output channels per word chunk
    if ocpc % rows:
        raise CompileError(f"vmm_rows = {rows} must divide the {ocpc} output channels of a "
                           f"chunk at {obits} bits")
    chunks  = math.ceil(layer.in_channels / cpc)
    blocks  = math.ceil(layer.out_channels / rows)
    # A depthwise tile is diagonal: one input chunk per block, the block's own channels.
    tiles   = k * k if layer.depthwise else k * k * chunks
    if part is not None:
        if band_heights is not None:
            raise ValueError("band_heights must be None with a part (its bands are "
                             "part.positions)")
        tiles = _check_part(part, layer, chunks)      # this part's tiles a block
    if layer.depthwise and cpc % rows:
        raise CompileError(f"a depthwise layer needs vmm_rows = {rows} to divide the {cpc} "
                           f"channels of an input chunk")
    half    = core.psb_entries // 2
    if core.vbuf_entries < 3:
        raise CompileError(f"a layer needs 3 VBUF entries for its constants, the core has "
                           f"vbuf_entries = {core.vbuf_entries}")
    if ow > half:
        raise CompileError(f"an output row of {ow} positions exceeds half the PSB ({half})")
    # With a bank beyond the four regions, the tiles' odd rows go there (at the even
    # rows' offsets) and T0 reads a row pair a cycle: no other stream uses that bank.
    pair = core.sram_banks > 4
    w_rows = rows // 2 if pair else rows              # rows of a tile in each weight bank

    in_l = ActivationLayout(0, height, width, layer.in_channels, bits, layer.in_signed,
                            layer.padding, word, cpc)
    out_l = ActivationLayout(0, oh, ow, layer.out_channels, obits, layer.out_signed,
                             out_padding, word, ocpc)
    vec     = _vec_bytes(core)                        # bytes of a constant vector
    region  = conv_sizes(core, layer, tiles)
    w_bytes, c_bytes = region["weights"], region["constants"]
    if placement is not None:
        if not isinstance(placement, Placement):
            raise TypeError(f"placement must be a Placement or None, not "
                            f"{type(placement).__name__}")
        _check_layout("input", placement.input, in_l)
        _check_layout("output", placement.output, replace(out_l, padding=0), slice_ok=True)
        in_l, out_l = placement.input, placement.output
        if layer.residual != (placement.residual is not None):
            raise ValueError("placement's residual must be given exactly when the layer "
                             "has one")
        if layer.residual and replace(placement.residual, base=0) != replace(out_l, base=0):
            raise ValueError("placement's residual must have the output's layout")
        if pair != (placement.weights_pair is not None):
            raise ValueError(f"placement's weights_pair must be given exactly when the "
                             f"core reads row pairs (sram_banks > 4: {pair})")
        if placement.weights is None:
            raise ValueError("placement's weights must be given for a convolution")
        # Weights may span banks from a bank's start (each row pair's two rows then
        # stay a whole number of banks apart); the constants may not.
        bank = core.sram_bank_bytes
        spans = placement.spanning and placement.weights % bank == 0 and (
            not pair or placement.weights_pair % bank == 0)
        for what, size in (("weights", w_bytes), ("constants", c_bytes)):
            if size > bank and not (what == "weights" and spans):
                raise CompileError(f"the {what} ({size} bytes) exceed a MEM bank "
                                   f"({bank} bytes) by {size - bank} bytes")
        code_base, const_base, w_base = placement.code, placement.constants, placement.weights
        w_pair_base, res_l = placement.weights_pair, placement.residual
        code_end = None   # the caller sized the image's region
    else:
        regions = [("constants", c_bytes), ("weights", w_bytes),
                   ("input activations", in_l.size), ("output activations", out_l.size)]
        if pair:
            regions.append(("weights' odd rows", w_bytes))
        # The residual tensor has the output's layout. VPOST reads it while it stores the
        # output, so it needs a bank of its own: a spare one, or else bank 0 (the program
        # image and the constants, read only before the layer's vectors).
        own_res = layer.residual and core.sram_banks > len(regions)
        if own_res:
            regions.append(("residual activations", out_l.size))
        bases = _bank_regions(core, regions)
        code_base, w_base, in_base, out_base = bases[:4]
        w_pair_base = bases[4] if pair else None
        in_l, out_l = replace(in_l, base=in_base), replace(out_l, base=out_base)
        # Bank 0: the program image from its start, the constants at its end (and the
        # residual before them when it has no bank of its own).
        const_base = code_base + core.sram_bank_bytes - c_bytes
        code_end = const_base
        res_l = None
        if own_res:
            res_l = replace(out_l, base=bases[-1])
        elif layer.residual:
            code_end = (const_base - out_l.size) // word * word
            res_l = replace(out_l, base=code_end)

    # Weight tiles: block, tap (ky, kx), input chunk; row r is output channel block*rows+r.
    if layer.depthwise:  # channel c's weight in its own lane of the block's chunk
        wpad = np.zeros((blocks * rows, k, k, 1, cpc), dtype=np.int64)
        for c in range(layer.out_channels):
            wpad[c, :, :, 0, c % cpc] = weights[c, :, :, 0]
        wtile = wpad.reshape(blocks, rows, k, k, 1, cpc)
    else:
        wpad = np.zeros((blocks * rows, k, k, chunks * cpc), dtype=np.int64)
        wpad[:layer.out_channels, :, :, :layer.in_channels] = weights
        wtile = wpad.reshape(blocks, rows, k, k, chunks, cpc)
    packed = pack(wtile, bits, signed=True)
    packed = packed.transpose(0, 2, 3, 4, 1, 5)        # block, ky, kx, chunk, row, bytes
    wmem = np.zeros(packed.shape[:-1] + (word,), dtype=np.uint8)
    wmem[..., :packed.shape[-1]] = packed
    if part is not None:   # the part's tiles of its kernel row: block, tile, row, bytes
        wmem = wmem.reshape(blocks, k, k * chunks, rows, word)[:, part.ky, part.lo:part.hi]

    # Constant vectors, three per block: scale, bias (padded channels: 0) and the
    # activation's parameters p0, p1 in lanes 0 and 1.
    if layer.activation is None:
        act, p0, p1 = IDENTITY
    else:
        act, p0, p1 = int(layer.activation), layer.act_p0, layer.act_p1
    cmem = np.zeros((blocks, 3, vec // 2), dtype="<u2")
    for values, idx in ((scale, 0), (bias, 1)):
        full = np.zeros(blocks * rows, dtype=np.uint16)
        full[:layer.out_channels] = values
        cmem[:, idx, :rows] = full.reshape(blocks, rows)
    cmem[:, 2, 0], cmem[:, 2, 1] = p0, p1

    act_step = s * chunks * word                       # next output column
    row_step = s * in_l.padded_width * chunks * word   # next output row
    ostep_x  = out_l.position_words * word
    ostep_y  = out_l.padded_width * ostep_x
    oblock   = rows * obits // 8                       # bytes of one block in a chunk
    bpc      = ocpc // rows                            # blocks per output chunk
    groups, tail = divmod(blocks, bpc)
    toggle   = half                                    # PSB half flip per block (mod size)

    # A 1x1 convolution of stride 1 whose input and output have no border walks its
    # positions as one run of words: its bands are of any number of positions (a band
    # "row" of one position), not of whole rows.
    flat = k == 1 and s == 1 and in_l.padding == 0 and out_l.padding == 0
    bh, bw = (oh * ow, 1) if flat else (oh, ow)      # band rows, positions a band row
    if flat:
        row_step, ostep_y = act_step, ostep_x
    part_plan = _part_heights(part, bh, bw, half) if part is not None else None

    def t1_part(runs, band_h):
        """T1 of a reduction part: per band and block, its tiles' steps as one to three
        SSTREAMs (9.8): the first tile's partial sums from zero (the first part) or from
        the PNoC input (``pin``), the middle tiles' from the PSB, and the last tile's
        results to the PSB (the last part, whose T2 then takes the PSB half) or sent on
        the PNoC (``pout``). AG0 walks the first tile's activations (and, moved by an
        AGADD, the last one's on a middle part), AG2 the others'; AG1 and AG3 the PSB."""
        L, P = tiles, band_h * bw
        first, last = part.index == 0, part.last
        base = in_l.address(-layer.padding, -layer.padding) + \
            part.ky * in_l.padded_width * chunks * word + part.lo * word

        def act(g, off, count, h):
            dims = [_instr(Op.AGDIM, g=g, d=0, count=bw, stride=act_step),
                    _instr(Op.AGDIM, g=g, d=1, count=h, stride=row_step)]
            if count > 1:
                dims.append(_instr(Op.AGDIM, g=g, d=2, count=count, stride=word))
            return [_instr(Op.AGBASE, g=g, base=base + off * word)] + dims

        def psb(g, count):
            out = [_instr(Op.AGDIM, g=g, d=0, count=P, stride=1)]
            if count > 1:
                out.append(_instr(Op.AGDIM, g=g, d=1, count=count, stride=0))
            return out

        def stream(s, d, p, zero=0, **kw):
            fields = dict(s=s, d=d, zero=zero, period=p, signal=1, ctr=STREAMED)
            fields.update(kw)
            return _instr(Op.SSTREAM, **fields)

        out = dict(pout=1, dir=part.send) if not last else {}
        ready = dict(ctr=PSB_READY)
        if first:   # A: tiles 0 .. L-2 from zero (AG0, AG1); B: tile L-1 sent (AG2, AG3)
            setup = (act(0, 0, L - 1, band_h) + psb(1, L - 1) if L > 1 else []) + \
                act(2, L - 1, 1, band_h) + psb(3, 1)

            def block(p):   # (p: the band's positions, a tile's steps)
                return ([stream(0, 1, p, zero=p)] if L > 1 else []) + \
                    [stream(2, 3, p, zero=0 if L > 1 else p, **out)]
            moving = [0, 2] if L > 1 else [2]
        elif not last:   # F: tile 0 from the PNoC; M: tiles 1 .. L-2; B: tile L-1 sent
            setup = act(0, 0, 1, band_h) + psb(1, 1) + \
                (act(2, 1, L - 2, band_h) + psb(3, L - 2) if L > 2 else [])

            def block(p):
                if L == 1:
                    return [stream(0, 1, p, pin=1, **out)]
                return [stream(0, 1, p, pin=1)] + ([stream(2, 3, p)] if L > 2 else []) + [
                    _instr(Op.AGADD, g=0, delta=(L - 1) * word), stream(0, 1, p, **out),
                    _instr(Op.AGADD, g=0, delta=-(L - 1) * word)]
            moving = [0, 2] if L > 2 else [0]
        else:   # F: tile 0 from the PNoC; M: tiles 1 .. L-1; T2 takes the PSB half
            setup = act(0, 0, 1, band_h) + psb(1, 1) + \
                (act(2, 1, L - 1, band_h) + psb(3, L - 1) if L > 1 else [])

            def block(p):
                steps = [stream(0, 1, p, pin=1, **ready)] if L == 1 else \
                    [stream(0, 1, p, pin=1), stream(2, 3, p, **ready)]
                return [_instr(Op.WAIT, ctr=PSB_FREE)] + steps + [
                    _instr(Op.AGADD, g=g, delta=toggle) for g in ([1, 3] if L > 1 else [1])]
            moving = [0, 2] if L > 1 else [0]
        streamed = sum(i.op == Op.SSTREAM and i.args["ctr"] == STREAMED for i in block(P))
        if streamed * blocks * sum(n for _, n in runs) >= 1 << 16:
            raise CompileError(f"a reduction part's "
                               f"{streamed * blocks * sum(n for _, n in runs)} SSTREAMs "
                               f"would overflow counter {STREAMED}")
        psbs = [g for g in (1, 3) if any(i.op == Op.AGDIM and i.args["g"] == g
                                         for i in setup)]
        prog = ([_instr(Op.SIGNAL, ctr=PSB_FREE)] * 2 if last else []) + setup
        for i, (h, n) in enumerate(runs):
            if i:
                prog += [_instr(Op.AGDIM, g=g, d=1, count=h, stride=row_step)
                         for g in moving]
                prog += [_instr(Op.AGDIM, g=g, d=0, count=h * bw, stride=1) for g in psbs]
            band = _repeat(blocks, block(h * bw)) + [
                _instr(Op.AGADD, g=g, delta=h * row_step) for g in moving]
            prog += _repeat(n, band)
        return prog + [_instr(Op.END)]

    def build(heights):
        """The eight threads' programs for bands of ``heights`` rows."""
        runs = [(h, len(list(g))) for h, g in itertools.groupby(heights)]
        bands, band_h = len(heights), heights[0]
        P = band_h * bw
        # T0: every block's weights, once per band (row pairs: the even rows at AG0, the odd
        # ones at AG1), in one WSTREAM: the blocks' tiles are contiguous, and a dimension of
        # stride 0 repeats them for each band.
        t0 = []
        span = blocks * tiles * w_rows
        for g, base in enumerate([w_base] + ([w_pair_base] if pair else [])):
            t0.append(_instr(Op.AGBASE, g=g, base=base))
            if span < 1 << 16:
                t0 += [_instr(Op.AGDIM, g=g, d=0, count=span, stride=word),
                       _instr(Op.AGDIM, g=g, d=1, count=bands, stride=0)]
            else:
                t0 += [_instr(Op.AGDIM, g=g, d=0, count=tiles * w_rows, stride=word),
                       _instr(Op.AGDIM, g=g, d=1, count=blocks, stride=tiles * w_rows * word),
                       _instr(Op.AGDIM, g=g, d=2, count=bands, stride=0)]
        t0 += [_instr(Op.WSTREAM, s=0, d=1, prec=Precision.from_bits(bits),
                      act_signed=int(layer.in_signed), pair=int(pair)),
               _instr(Op.END)]

        if part is not None:
            t1 = t1_part(runs, band_h)
        else:
            # T1: per block, every tile's steps over the band's positions.
            # (the SSTREAM signals PSB_READY when its last result is in the PSB, and T1 goes on
            # at once: the next block's steps follow the VMM's last ones without a gap)
            # Bands of one height run in a loop; between runs of different heights the
            # generators' counts change.
            def t1_block(p):
                return [_instr(Op.WAIT, ctr=PSB_FREE),
                        _instr(Op.SSTREAM, s=0, d=1, zero=p, period=p, signal=1, ctr=PSB_READY),
                        _instr(Op.AGADD, g=1, delta=toggle)]

            free = 2                     # PSB halves T1 counts free at its start
            pre = []                     # T1's set-up before its band loop
            two_halves = blocks % 2 == 0 and not layer.depthwise
            if layer.depthwise:  # taps only; the block's chunk steps every cpc / rows blocks
                taps = [_instr(Op.AGDIM, g=0, d=2, count=k, stride=chunks * word)]
                ibpc = cpc // rows
                igroups, itail = divmod(blocks, ibpc)
                band_back = -(igroups * word)

                def body(p, first):
                    out = []
                    if igroups:
                        out += [_instr(Op.LOOP, count=igroups), _instr(Op.LOOP, count=ibpc)] + \
                            t1_block(p) + [_instr(Op.ENDL), _instr(Op.AGADD, g=0, delta=word),
                                           _instr(Op.ENDL)]
                    if itail:
                        out += [_instr(Op.LOOP, count=itail)] + t1_block(p) + [_instr(Op.ENDL)]
                    return out
            elif two_halves:   # two blocks an iteration, one PSB half each (AG1 and AG2): no AGADD
                taps = [_instr(Op.AGDIM, g=0, d=2, count=k * chunks, stride=word)]
                pre = [_instr(Op.AGBASE, g=2, base=half),
                       _instr(Op.AGDIM, g=2, d=0, count=P, stride=1),
                       _instr(Op.AGDIM, g=2, d=1, count=tiles, stride=0)]
                band_back = 0
                free = 0    # the halves start free: the first band's first two blocks need not wait

                def body(p, first):
                    blk = t1_block(p)
                    two = blk[:2] + [blk[0], _with_fields(blk[1], d=2)]
                    if first:
                        return [two[1], two[3]] + _repeat(blocks // 2 - 1, two)
                    return _repeat(blocks // 2, two)
            else:   # one PSB part after another (AG1 moves on a part a block)
                taps = [_instr(Op.AGDIM, g=0, d=2, count=k * chunks, stride=word)]
                band_back = 0
                unwaited = min(2, blocks)   # the first band's first blocks need not wait
                free = 2 - unwaited

                def body(p, first):
                    blk = t1_block(p)
                    if first:
                        return _repeat(unwaited, blk[1:]) + _repeat(blocks - unwaited, blk)
                    return _repeat(blocks, blk)

            def t1_band(h, first=False):
                return body(h * bw, first) + [_instr(Op.AGADD, g=0, delta=h * row_step + band_back)]

            # The PSB halves start free: T1 counts them itself (T2 starts last, after every
            # program has loaded; T1 need not wait for it).
            t1 = [_instr(Op.SIGNAL, ctr=PSB_FREE)] * free + pre + [
                  _instr(Op.AGBASE, g=0, base=in_l.address(-layer.padding, -layer.padding)),
                  _instr(Op.AGDIM, g=0, d=0, count=bw, stride=act_step),
                  _instr(Op.AGDIM, g=0, d=1, count=band_h, stride=row_step)] + taps + [
                  _instr(Op.AGDIM, g=0, d=3, count=k, stride=in_l.padded_width * chunks * word),
                  # (AG1, the first PSB half, starts at 0: a run starts every generator there)
                  _instr(Op.AGDIM, g=1, d=0, count=P, stride=1),
                  _instr(Op.AGDIM, g=1, d=1, count=tiles, stride=0)]
            for i, (h, n) in enumerate(runs):
                if i:
                    t1 += [_instr(Op.AGDIM, g=0, d=1, count=h, stride=row_step),
                           _instr(Op.AGDIM, g=1, d=0, count=h * bw, stride=1)]
                    if two_halves:
                        t1.append(_instr(Op.AGDIM, g=2, d=0, count=h * bw, stride=1))
                if i == 0 and not layer.depthwise:   # the first band apart: no WAITs first
                    t1 += t1_band(h, first=True)
                    n -= 1
                t1 += _repeat(n, t1_band(h))
            t1.append(_instr(Op.END))

        # T2: per block, the block's constants into VBUF[0..2] (while T1 fills the PSB
        # half), then one fused pass over the half.
        if part is not None and not part.last:
            t2 = []     # the partial sums leave on the PNoC: nothing to post-process
        else:
            block = [_instr(Op.VLOAD, s=2, k=0, mode=VloadMode.FP16),
                     _instr(Op.AGADD, g=2, delta=3 * vec),
                     _instr(Op.WAIT, ctr=PSB_READY),
                     _instr(Op.VPOST, s=0, d=3, k=0, shift=layer.shift, act=act,
                            prec=Precision.from_bits(obits), out_signed=int(layer.out_signed),
                            res=int(layer.residual),
                            res_shift=layer.res_shift if layer.residual else 0,
                            res_off=res_l.base - out_l.base if layer.residual else 0),
                     _instr(Op.SIGNAL, ctr=PSB_FREE),
                     _instr(Op.AGADD, g=0, delta=toggle),
                     _instr(Op.AGADD, g=3, delta=oblock)]
            # (AG0, the PSB, starts at 0 as every generator does in a run)
            psb_ag = [_instr(Op.AGDIM, g=0, d=0, count=P, stride=1)]
            out_ag = [_instr(Op.AGBASE, g=3, base=out_l.address(0, 0)),
                      _instr(Op.AGDIM, g=3, d=0, count=bw, stride=ostep_x),
                      _instr(Op.AGDIM, g=3, d=1, count=band_h, stride=ostep_y)]
            t2 = psb_ag + [_instr(Op.AGBASE, g=2, base=const_base),
                           _instr(Op.AGDIM, g=2, d=0, count=3, stride=vec)] + out_ag
            group = _repeat(bpc, block) + [_instr(Op.AGADD, g=3, delta=word - bpc * oblock)]
            blocks_code = _repeat(groups, group) + _repeat(tail, block)
            advance = groups * word + tail * oblock
            # The last band's last block ends the program: nothing after its VPOST (END drains it).
            last = block[:block.index(next(i for i in block if i.op == Op.VPOST)) + 1]
            if tail:
                last_band = _repeat(groups, group) + _repeat(tail - 1, block) + last
            else:
                last_band = _repeat(groups - 1, group) + _repeat(bpc - 1, block) + last
            for i, (h, n) in enumerate(runs):
                if i:
                    t2 += [_instr(Op.AGDIM, g=0, d=0, count=h * bw, stride=1),
                           _instr(Op.AGDIM, g=3, d=1, count=h, stride=ostep_y)]
                band = blocks_code + [_instr(Op.AGADD, g=3, delta=h * ostep_y - advance),
                                      _instr(Op.AGADD, g=2, delta=-3 * vec * blocks)]
                if i == len(runs) - 1:
                    t2 += _repeat(n - 1, band) + last_band
                else:
                    t2 += _repeat(n, band)
            t2.append(_instr(Op.END))
            if 3 * blocks <= core.vbuf_entries:
                # Every block's constants loaded once, at the start (VBUF[3 b .. 3 b + 2] for
                # block b): a block's pass is then its WAIT, VPOST, SIGNAL and two AGADDs,
                # the blocks of a band unrolled (the VPOST's k is the block's).
                vpost = block[3]
                offs = [(b // bpc) * word + (b % bpc) * oblock for b in range(blocks)]

                def band_once(h, final):
                    out = []
                    for b in range(blocks):
                        out += [block[2], _with_fields(vpost, k=3 * b)]
                        if final and b == blocks - 1:
                            break
                        step = offs[b + 1] - offs[b] if b < blocks - 1 else h * ostep_y - offs[-1]
                        out += [block[4], block[5], _instr(Op.AGADD, g=3, delta=step)]
                    return out

                once = psb_ag + [_instr(Op.AGBASE, g=2, base=const_base),
                                 _instr(Op.AGDIM, g=2, d=0, count=3 * blocks, stride=vec),
                                 _instr(Op.VLOAD, s=2, k=0, mode=VloadMode.FP16)] + out_ag
                for i, (h, n) in enumerate(runs):
                    if i:
                        once += [_instr(Op.AGDIM, g=0, d=0, count=h * bw, stride=1),
                                 _instr(Op.AGDIM, g=3, d=1, count=h, stride=ostep_y)]
                    if i == len(runs) - 1:
                        once += _repeat(n - 1, band_once(h, False)) + band_once(h, True)
                    else:
                        once += _repeat(n, band_once(h, False))
                once.append(_instr(Op.END))
                if len(_simplify(once)) <= core.program_lens[2]:
                    t2 = once

        t0 = _with_next(t0, placement.next_entry if placement else None)
        programs = [_simplify(t) for t in (t0, t1, t2)] + [[] for _ in range(5)]
        return programs

    if part_plan is not None:
        plans = [part_plan]
    elif band_heights is not None:
        plans = [[h * ow for h in band_heights] if flat else band_heights]
    else:
        plans = _band_plans(bh, bw, half, blocks, tiles, w_rows,
                            36 if 3 * blocks <= core.vbuf_entries else 45)
    for heights in plans:   # the fastest estimate whose programs fit
        programs = build(heights)
        long = [(t, len(p)) for t, p in enumerate(programs)
                if len(p) > core.program_lens[t]]
        if not long:
            break
    else:
        t, n = long[0]
        raise CompileError(f"T{t}'s program needs {n} instructions, more than its "
                           f"program_len = {core.program_lens[t]}")
    bands, P = len(heights), heights[0] * bw
    try:  # the assembler's checks: ranges, alignment, loops, counters, no deadlock
        image = Program(core, programs).image()
    except AsmError as e:
        raise CompileError(f"the compiled programs are invalid: {e}") from e
    if code_end is not None and len(image) > code_end - code_base:
        what = " and the residual" if layer.residual and not own_res else ""
        raise CompileError(f"the program image ({len(image)} bytes), the constants "
                           f"({c_bytes} bytes){what} do not fit a bank of "
                           f"{core.sram_bank_bytes} bytes, by "
                           f"{len(image) - (code_end - code_base)} bytes")
    if pair:
        weight_preload = [(w_base, wmem[..., 0::2, :].tobytes()),
                          (w_pair_base, wmem[..., 1::2, :].tobytes())]
    else:
        weight_preload = [(w_base, wmem.tobytes())]
    preload = [(code_base, image), (const_base, cmem.tobytes())] + weight_preload + \
        out_l.border()
    sizes = {"code": len(image), "constants": c_bytes, "weights": w_bytes}
    if pair:
        sizes["weights_pair"] = w_bytes
    return CompiledConv(layer, programs, preload, code_base, in_l, out_l, blocks, bands, P,
                        tiles, res_l, sizes, tuple(h * bw for h in heights))


@dataclass
class CompiledPool:
    """A compiled pooling layer (T2 alone: no VMM). Without a placement its tensors have
    no border; as in :class:`CompiledConv`, ``preload`` is all the layer needs besides
    its input."""
    pool: object
    programs: list
    preload: list
    entry: int
    input: ActivationLayout
    output: ActivationLayout
    residual: ActivationLayout = None
    sizes: dict = None   # bytes of each region: code, constants


def compile_pool2d(core, pool, height, width, *, placement=None):
    """Compile a :class:`~sw.golden.layers.Pool2d` for an input of ``height x width``.

    Each output-channel block's window maximum (or sum) builds up in the VBUF: the
    identity (-inf or +0) first, then for each tap a VLOAD of the tap's integers and a
    VOPV MAX (or ADD); an average is then multiplied by ``fp16(1 / kernel**2)``; the
    result is converted to the type and stored.

    ``placement`` (a :class:`Placement` without weights, or None: the constants and the
    program image in bank 0, the input in bank 2, the output in bank 3) places its
    regions; T2 alone runs, one stream at a time, so any banks do.

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or value; the message names it.
    CompileError
        If the layer does not fit.

    A chunk of channels fills the first ``vmm_cols`` bytes of its word. When a word is
    wider (``mem_port_bits > 8 * vmm_cols``), the channel blocks do not step uniformly
    from one chunk to the next: the blocks then loop inside a loop over the chunks (a
    last, partial chunk's blocks in a loop of their own), and the taps of a window row
    are written out instead of looped, to stay within the four nested loops.
    """
    if not isinstance(pool, Pool2d):
        raise TypeError(f"pool must be a Pool2d, not {type(pool).__name__}")
    rows, cols, word = core.vmm_rows, core.vmm_cols, core.mem_port_bits // 8
    k, s, bits = pool.kernel, pool.stride, pool.bits
    oh, ow = pool.out_size(height, width)
    cpc = cols * 8 // bits
    if cpc % rows:
        raise CompileError(f"vmm_rows = {rows} must divide the {cpc} channels of a chunk")
    blocks = math.ceil(pool.channels / rows)
    limit = (core.vbuf_entries - 2) // 2
    if ow > limit:
        raise CompileError(f"an output row of {ow} positions exceeds the vector buffer "
                           f"({limit})")
    band_h = max(h for h in range(1, oh + 1) if oh % h == 0 and h * ow <= limit)
    bands, P = oh // band_h, band_h * ow
    in_l = ActivationLayout(0, height, width, pool.channels, bits, pool.signed, 0, word, cpc)
    out_l = ActivationLayout(0, oh, ow, pool.channels, bits, pool.signed, 0, word, cpc)
    vec = _vec_bytes(core)
    if placement is not None:
        if not isinstance(placement, Placement):
            raise TypeError(f"placement must be a Placement or None, not "
                            f"{type(placement).__name__}")
        _check_layout("input", placement.input, in_l, slice_ok=True)
        _check_layout("output", placement.output, out_l, slice_ok=True)
        if placement.weights is not None or placement.residual is not None:
            raise ValueError("a pooling layer's placement has no weights and no residual")
        in_l, out_l = placement.input, placement.output
        code_base, const_base = placement.code, placement.constants
    else:
        code_base, _, in_base, out_base = _bank_regions(core, [
            ("constants", 2 * vec), ("nothing", 0), ("input activations", in_l.size),
            ("output activations", out_l.size)])
        in_l, out_l = replace(in_l, base=in_base), replace(out_l, base=out_base)
        const_base = code_base + core.sram_bank_bytes - 2 * vec
    identity = fp16.NEG_INF if pool.kind == "max" else 0
    consts = np.zeros((2, vec // 2), dtype="<u2")
    consts[0, :rows], consts[1, :rows] = identity, pool.inverse
    # (a channel slice's positions are its buffer's pitch apart: 7.8)
    inv_k, chunk = core.vbuf_entries - 1, in_l.position_words * word
    bb = rows * bits // 8                                  # bytes of a channel block
    band_in = band_h * s * in_l.row_bytes
    band_out = band_h * out_l.row_bytes
    op = VcuOp.MAX if pool.kind == "max" else VcuOp.ADD
    t2 = [_instr(Op.AGBASE, g=2, base=const_base + vec),
          _instr(Op.VLOAD, s=2, k=inv_k, mode=0),
          _instr(Op.AGBASE, g=2, base=const_base),
          _instr(Op.AGDIM, g=2, d=0, count=P, stride=0),
          _instr(Op.AGBASE, g=0, base=in_l.address(0, 0)),
          _instr(Op.AGDIM, g=0, d=0, count=ow, stride=s * chunk),
          _instr(Op.AGDIM, g=0, d=1, count=band_h, stride=s * in_l.padded_width * chunk),
          _instr(Op.AGBASE, g=1, base=0),
          _instr(Op.AGDIM, g=1, d=0, count=P, stride=1),
          _instr(Op.AGBASE, g=3, base=out_l.address(0, 0)),
          _instr(Op.AGDIM, g=3, d=0, count=ow, stride=out_l.position_words * word),
          _instr(Op.AGDIM, g=3, d=1, count=band_h, stride=out_l.row_bytes),
          _instr(Op.LOOP, count=bands)]

    def tap():
        return [_instr(Op.VLOAD, s=0, k=P, mode=VloadMode.of(Precision.from_bits(bits)),
                       signed=int(pool.signed)),
                _instr(Op.VOPV, s=1, op=op, off=P)]

    def window():
        """The window's taps: its rows and columns looped when a word is one chunk, else
        a row's taps written out (the loops are then the bands, chunks, blocks, rows)."""
        if word == cols:
            return [_instr(Op.LOOP, count=k),
                    _instr(Op.LOOP, count=k),
                    *tap(),
                    _instr(Op.AGADD, g=0, delta=chunk),
                    _instr(Op.ENDL),
                    _instr(Op.AGADD, g=0, delta=(in_l.padded_width - k) * chunk),
                    _instr(Op.ENDL)]
        out = [_instr(Op.LOOP, count=k)]
        for x in range(k):
            out += tap() + [_instr(Op.AGADD, g=0, delta=chunk if x < k - 1 else
                                   (in_l.padded_width - k + 1) * chunk)]
        return out + [_instr(Op.ENDL)]

    def block():
        """One channel block: the window's maximum or sum, converted and stored."""
        out = [_instr(Op.VLOAD, s=2, k=0, mode=0),
               *window(),
               _instr(Op.AGADD, g=0, delta=-k * in_l.padded_width * chunk)]
        if pool.kind == "avg":
            out.append(_instr(Op.VOP, s=1, d=1, op=VcuOp.MUL, kb=inv_k, kc=inv_k))
        return out + [_instr(Op.VOP, s=1, d=1, op=VcuOp.CVT_INT,
                             fmt=Precision.from_bits(bits), out_signed=int(pool.signed)),
                      _instr(Op.VSTORE, s=1, d=3, prec=Precision.from_bits(bits)),
                      _instr(Op.AGADD, g=0, delta=bb),
                      _instr(Op.AGADD, g=3, delta=bb)]

    if word == cols:
        t2 += [_instr(Op.LOOP, count=blocks), *block(), _instr(Op.ENDL)]
        moved = blocks * bb                       # bytes the blocks moved g0 and g3 on
    else:
        per_chunk = cols // bb                    # blocks of a chunk (rows divides cpc)
        whole, tail = divmod(blocks, per_chunk)
        if whole:
            t2 += [_instr(Op.LOOP, count=whole),
                   _instr(Op.LOOP, count=per_chunk), *block(), _instr(Op.ENDL),
                   _instr(Op.AGADD, g=0, delta=word - cols),
                   _instr(Op.AGADD, g=3, delta=word - cols),
                   _instr(Op.ENDL)]
        if tail:
            t2 += [_instr(Op.LOOP, count=tail), *block(), _instr(Op.ENDL)]
        moved = whole * word + tail * bb
    t2 += [_instr(Op.AGADD, g=0, delta=band_in - moved),
           _instr(Op.AGADD, g=3, delta=band_out - moved),
           _instr(Op.ENDL),
           _instr(Op.END)]
    t2 = _simplify(_with_next(t2, placement.next_entry if placement else None))
    programs = [[], [], t2] + [[] for _ in range(5)]
    if len(t2) > core.program_lens[2]:
        raise CompileError(f"T2's program needs {len(t2)} instructions, more than its "
                           f"program_len = {core.program_lens[2]}")
    try:
        image = Program(core, programs).image()
    except AsmError as e:
        raise CompileError(f"the compiled programs are invalid: {e}") from e
    preload = [(code_base, image), (const_base, consts.tobytes())] + out_l.border()
    return CompiledPool(pool, programs, preload, code_base, in_l, out_l,
                        sizes={"code": len(image), **pool_sizes(core)})
