"""The core's thread instruction set: formats, encoding and decoding, and which thread
owns which part of the datapath. The RTL (``rtl/core``), the golden model, the cycle
model, the assembler and the testbenches all take the instruction layout from here.

Every instruction is 64 bits: the opcode in bits 59..63 (:data:`OPCODE`), then the fields
of its format packed from bit 0 upwards in the order listed in :data:`FORMATS` (unused
high bits are zero). Signed fields are two's complement. See docs/architecture.md, "Core
ISA", for the semantics; the assembler and disassembler are in
:mod:`sw.compiler_stub.asm`.
"""

from dataclasses import dataclass, field

from amaranth import hdl
from amaranth.lib import data, enum

__all__ = ["Op", "OPCODE", "INSTR_BITS", "FORMATS", "STREAMS", "THREAD_OF", "SPARE_THREADS",
           "NOC_PORTS",
           "NOC_THREADS", "NOC_IN_DEPTH", "PUT_PORTS", "PUT_THREADS", "PNOC_DEPTH",
           "DIRECTIONS", "OFFSETS", "pnoc_sources", "Instr", "encode", "decode", "instr_layout",
           "AG_DIMS", "AGS",
           "COUNTERS", "COUNTER_BITS", "THREADS", "LOOP_DEPTH", "ADDR_BITS", "INDEX_BITS",
           "COORD_BITS", "uses_d"]

INSTR_BITS   = 64   # bits of an instruction
OPCODE       = slice(59, 64)   # the opcode's bits in an instruction
THREADS      = 8    # threads per core
COUNTERS     = 16   # synchronisation counters per core
COUNTER_BITS = 16   # a counter's width: a SIGNAL beyond 2**16 - 1 is an error
AG_DIMS      = 4    # dimensions of an address generator
AGS          = 4    # address generators per thread
LOOP_DEPTH   = 4    # nested loops per thread
ADDR_BITS    = 24   # an address generator's base and strides
INDEX_BITS   = 17   # a point's index within its stream, as a thread counts it (saturating)
COORD_BITS   = 6    # a core's column or row in a SEND (arrays up to 64 x 64)

#: The NoC ports of a core, in the order of the threads that own them (T4..T7).
NOC_PORTS   = ("anoc", "pnoc", "mnoc", "inoc")
NOC_THREADS = tuple(range(THREADS - len(NOC_PORTS), THREADS))
#: The ports that carry puts (one MEM word to another core's MEM), sent by SEND on their
#: threads (T4, T6, T7) through a mesh. The PNoC is the VMM's: point-to-point links to
#: the four neighbours, a partial-sum vector a flit, sent and taken by T1's SSTREAM (T5 has
#: no data instruction).
PUT_PORTS   = ("anoc", "mnoc", "inoc")
PUT_THREADS = tuple(NOC_THREADS[NOC_PORTS.index(name)] for name in PUT_PORTS)
#: Flits of each put port's input FIFO (its receive side).
NOC_IN_DEPTH = 4
#: Partial-sum vectors of the PNoC's input FIFO and of its output FIFO. The output's room
#: is reserved as a step is taken and freed when its result leaves, 7 cycles later at the
#: earliest: 8 entries keep a link at one vector a cycle.
PNOC_DEPTH = 8
#: An SSTREAM's ``dir``: the neighbour its results go to over the PNoC (north is row
#: ``y - 1``, east column ``x + 1``).
DIRECTIONS = ("north", "east", "south", "west")
#: The offset ``(dx, dy)`` of the neighbour in each of :data:`DIRECTIONS`.
OFFSETS = ((0, -1), (1, 0), (0, 1), (-1, 0))


def pnoc_sources(x, y, rows, cols):
    """The neighbours that can send partial sums to core ``(x, y)`` of a ``rows`` x
    ``cols`` array, in the order its PNoC input prefers them (north, east, south, west):
    ``(sx, sy, dir)``, ``dir`` the direction the neighbour sends in."""
    found = []
    for dx, dy in OFFSETS:
        sx, sy = x + dx, y + dy
        if 0 <= sx < cols and 0 <= sy < rows:
            found.append((sx, sy, OFFSETS.index((-dx, -dy))))
    return found


class Op(enum.IntEnum, shape=OPCODE.stop - OPCODE.start):
    """Opcodes (5 bits); codes not listed are invalid."""
    NOP     = 0
    END     = 1
    LOOP    = 2   # repeat the instructions up to the matching ENDL `count` times
    ENDL    = 3
    SIGNAL  = 4   # counter += 1
    WAIT    = 5   # wait until counter > 0, then counter -= 1
    AGBASE  = 6   # address generator g: base = value, every dimension count 1 stride 0
    AGDIM   = 7   # address generator g, dimension d: count and stride
    AGADD   = 8   # address generator g: base += delta
    WSTREAM = 9   # T0: weight rows MEM[s] (and MEM[d] with pair), or with noc the MNoC's
                  # weight flits, -> VMM
    SSTREAM = 10  # T1: VMM steps: activations MEM[s], partial sums PSB[d] or the PNoC
                  # (pin), results to PSB[d] or the PNoC (pout, to neighbour dir) (signal:
                  # the thread goes on at once, counter ctr += 1 when the last result is in)
    VCVT    = 11  # T2: VBUF[d] = fp16(PSB[s] * 2**-shift)
    VOP     = 12  # T2: VBUF[d] = vcu_op(VBUF[s], VBUF[kb], VBUF[kc])
    VLOAD   = 13  # T2: VBUF[k + i] = MEM[s] (binary16 lanes, or unpacked integers)
    VACT    = 14  # T2: VBUF[d] = afu_op(VBUF[s], p0, p1)
    VSTORE  = 15  # T2: MEM[d] bytes = VBUF[s] packed integers
    SEND    = 16  # T4, T6, T7: puts MEM[s] to MEM[d] of the cores x0..x1, y0..y1 (code 17 is
                  # free: a core receives without an instruction); with weight (T6 only)
                  # the puts go to the receivers' T0 (WSTREAM noc), not to MEM
    VOPV    = 18  # T2: VBUF[i] = vcu_op(VBUF[i + off], VBUF[i]) for each point i of s
    VPOST   = 19  # T2: MEM[d] bytes = the fused post-processing of PSB[s] (one pass)
    NEXT    = 20  # when every thread has ended, run the program image at `entry`


#: Fields of each opcode: (name, width, signed), packed from bit 0. Stream instructions
#: name the address generators they use: ``s`` (source) and ``d`` (destination).
FORMATS = {
    Op.NOP:     [],
    Op.END:     [],
    Op.LOOP:    [("count", 16, False)],
    Op.ENDL:    [],
    Op.SIGNAL:  [("ctr", 4, False)],
    Op.WAIT:    [("ctr", 4, False)],
    Op.AGBASE:  [("g", 2, False), ("base", 24, False)],
    Op.AGDIM:   [("g", 2, False), ("d", 2, False), ("count", 16, False),
                 ("stride", 24, True)],
    Op.AGADD:   [("g", 2, False), ("delta", 24, True)],
    Op.WSTREAM: [("s", 2, False), ("d", 2, False), ("prec", 2, False),
                 ("act_signed", 1, False), ("pair", 1, False), ("noc", 1, False)],
    Op.SSTREAM: [("s", 2, False), ("d", 2, False), ("zero", 16, False),
                 ("period", 16, False), ("signal", 1, False), ("ctr", 4, False),
                 ("pin", 1, False), ("pout", 1, False), ("dir", 2, False)],
    Op.VCVT:    [("s", 2, False), ("d", 2, False), ("shift", 6, False)],
    Op.VOP:     [("s", 2, False), ("d", 2, False), ("op", 5, False), ("kb", 12, False),
                 ("kc", 12, False), ("shift", 6, False), ("fmt", 2, False),
                 ("out_signed", 1, False)],
    Op.VLOAD:   [("s", 2, False), ("k", 12, False), ("mode", 2, False), ("signed", 1, False),
                 ("shift", 6, False)],
    Op.VACT:    [("s", 2, False), ("d", 2, False), ("op", 3, False), ("p0", 16, False),
                 ("p1", 16, False)],
    Op.VSTORE:  [("s", 2, False), ("d", 2, False), ("prec", 2, False)],
    Op.SEND:    [("s", 2, False), ("d", 2, False), ("x0", COORD_BITS, False),
                 ("x1", COORD_BITS, False), ("y0", COORD_BITS, False),
                 ("y1", COORD_BITS, False), ("signal", 1, False), ("ctr", 4, False),
                 ("start", 1, False), ("weight", 1, False)],
    Op.VOPV:    [("s", 2, False), ("op", 5, False), ("off", 12, False)],
    Op.VPOST:   [("s", 2, False), ("d", 2, False), ("k", 12, False), ("shift", 6, False),
                 ("act", 3, False), ("prec", 2, False), ("out_signed", 1, False),
                 ("res", 1, False), ("res_shift", 6, False), ("res_off", 24, True)],
    Op.NEXT:    [("entry", 24, False)],
}

#: The thread a data-moving opcode belongs to (control opcodes run on any thread).
THREAD_OF = {
    Op.WSTREAM: (0,), Op.SSTREAM: (1,),
    Op.VCVT: (2,), Op.VOP: (2,), Op.VLOAD: (2,), Op.VACT: (2,), Op.VSTORE: (2,),
    Op.VOPV: (2,), Op.VPOST: (2,),
    Op.SEND: PUT_THREADS,
}

#: The threads that own no engine (control instructions only): a core built without
#: spare threads (:attr:`rtl.spec.config.CoreConfig.spare_threads` false) has none.
SPARE_THREADS = tuple(t for t in range(THREADS)
                      if not any(t in owners for owners in THREAD_OF.values()))
assert SPARE_THREADS == (3, 5)

#: The stream (data) instructions: every opcode that belongs to a thread's engine. Each
#: format begins with its source address generator ``s`` (2 bits), then its destination
#: ``d`` where it has one.
STREAMS = frozenset(THREAD_OF)
assert all([name for name, _, _ in FORMATS[op]][:1] == ["s"] for op in STREAMS)
assert all(("d", 2, False) not in FORMATS[op] or FORMATS[op][1] == ("d", 2, False)
           for op in STREAMS)


def uses_d(instr):
    """Whether the stream instruction ``instr`` (an :class:`Instr`) walks its destination
    generator ``d`` in lockstep with ``s``: every stream format with a ``d``, except a
    WSTREAM without ``pair`` (whose ``d`` is ignored: neither walked nor size-checked)."""
    if instr.op == Op.WSTREAM:
        return bool(instr["pair"])
    return any(name == "d" for name, _, _ in FORMATS[instr.op])


def instr_layout():
    """An instruction as an Amaranth layout: ``op`` (an :class:`Op`) in bits 59..63, and
    ``f``, a union with one view per opcode that has fields, named after the opcode in
    lower case, e.g. ``instr.f.vop.kb`` or ``instr.f.agdim.stride`` (signed fields are
    signed), and ``f.stream``: the address generators ``s`` and ``d`` that every stream
    format begins with."""
    formats = {op.name.lower(): data.StructLayout({
                   name: hdl.signed(width) if sign else hdl.unsigned(width)
                   for name, width, sign in FORMATS[op]})
               for op in Op if FORMATS[op]}
    formats["stream"] = data.StructLayout({"s": 2, "d": 2})
    return data.FlexibleLayout(INSTR_BITS, {
        "f":  data.Field(data.UnionLayout(formats), 0),
        "op": data.Field(Op, OPCODE.start),
    })


@dataclass(frozen=True)
class Instr:
    """One instruction: an opcode and its field values."""
    op: Op
    args: dict = field(default_factory=dict)

    def __post_init__(self):
        names = [name for name, _, _ in FORMATS[self.op]]
        unknown = set(self.args) - set(names)
        if unknown:
            raise ValueError(f"{self.op.name}: unknown field(s) {sorted(unknown)}; "
                             f"fields are {names}")
        for name, width, signed in FORMATS[self.op]:
            value = self.args.get(name, 0)
            low, high = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed \
                else (0, (1 << width) - 1)
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{self.op.name}: {name}={value!r} is outside "
                                 f"[{low}, {high}]")

    def __getitem__(self, name):
        return self.args.get(name, 0)

    def __str__(self):
        fields = " ".join(f"{name}={self[name]}" for name, _, _ in FORMATS[self.op])
        return f"{self.op.name} {fields}".strip()


def encode(instr):
    """Encode an :class:`Instr` as a 64-bit integer."""
    word, pos = 0, 0
    for name, width, _ in FORMATS[instr.op]:
        word |= (instr[name] & ((1 << width) - 1)) << pos
        pos += width
    return word | (int(instr.op) << OPCODE.start)


def decode(word):
    """Decode a 64-bit integer; raise :class:`ValueError` on an invalid opcode or
    non-zero unused bits."""
    if not 0 <= word < 1 << INSTR_BITS:
        raise ValueError(f"instruction {word!r} is not a 64-bit word")
    code = word >> OPCODE.start
    try:
        op = Op(code)
    except ValueError:
        raise ValueError(f"invalid opcode {code} in instruction {word:#018x}") from None
    args, pos = {}, 0
    for name, width, signed in FORMATS[op]:
        value = (word >> pos) & ((1 << width) - 1)
        if signed and value >> (width - 1):
            value -= 1 << width
        args[name] = value
        pos += width
    if (word & ((1 << OPCODE.start) - 1)) >> pos:
        raise ValueError(f"{op.name}: unused bits set in instruction {word:#018x}")
    return Instr(op, args)
