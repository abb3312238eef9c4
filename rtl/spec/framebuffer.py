"""The framebuffer engine's command encoding (docs/architecture.md, 11), shared by the RTL
(:mod:`rtl.framebuffer.framebuffer`), its golden model (:mod:`sw.golden.framebuffer`) and
the compiler that writes command lists (:mod:`sw.compiler_stub.array`).

A command is two 64-bit fields, ``a`` and ``b``, each in the low 64 bits of one
framebuffer word (the word at the command's address, then the next):

- ``a``: ``op`` (bits 0-3), ``core`` (4-15, the core ``y * cols + x``), ``count`` (16-39),
  and for a PUT the rectangle of cores ``x0``, ``x1``, ``y0``, ``y1`` (40-45, 46-51,
  52-57, 58-63: columns ``x0..x1``, rows ``y0..y1``);
- ``b``: ``fb`` (0-31, a framebuffer word address), ``mem`` (32-55, a core MEM byte
  address, word-aligned), and for a PUT ``net`` (56-57: the mesh, an index of
  :data:`rtl.spec.isa.PUT_PORTS`: 0 ANoC, 1 MNoC, 2 INoC).
"""

from enum import IntEnum

__all__ = ["FbOp", "FbError", "COMMAND_WORDS", "FENCE_QUIET", "encode", "decode", "FIELDS"]

#: Framebuffer words per command.
COMMAND_WORDS = 2

#: ``name: (field, low bit, width)``.
FIELDS = {"op": ("a", 0, 4), "core": ("a", 4, 12), "count": ("a", 16, 24),
          "x0": ("a", 40, 6), "x1": ("a", 46, 6), "y0": ("a", 52, 6), "y1": ("a", 58, 6),
          "fb": ("b", 0, 32), "mem": ("b", 32, 24), "net": ("b", 56, 2)}

#: Cycles a FENCE waits once every mesh is idle: enough for the flits already in the
#: cores' input FIFOs to be written (``NOC_IN_DEPTH`` each on the three put ports, all
#: to one bank in the worst case, then the registered write of ``mem_latency`` 2), so
#: that after it every put has landed while no core runs (the golden model checks it).
FENCE_QUIET = 16


class FbOp(IntEnum):
    """What a command does."""
    END      = 0   # the run ends
    COPY_IN  = 1   # ``count`` words from framebuffer word ``fb`` to core ``core``'s MEM at ``mem``
    COPY_OUT = 2   # ``count`` words of core ``core``'s MEM at ``mem`` to framebuffer word ``fb``
    START    = 3   # every core starts at the program image at ``mem``; the puts the cores
                   # send to the framebuffer land from framebuffer word ``fb`` on
    WAIT     = 4   # until core ``core`` ended ``count`` runs since the START and no core is busy
    PUT      = 5   # ``count`` words from framebuffer word ``fb`` put over mesh ``net`` to MEM
                   # ``mem`` of every core of the rectangle x0..x1, y0..y1 (multicast)
    FENCE    = 6   # until every mesh has been idle for FENCE_QUIET cycles
    GATHER   = 7   # until ``count`` puts sent to the framebuffer have landed since the START


class FbError(IntEnum):
    """The run's error code (the host link's STATUS ``error``); the engine stops at the
    command that raised it."""
    NONE     = 0
    BAD_OP   = 1   # an op not in FbOp, or a PUT's ``net`` not a mesh
    BAD_CORE = 2   # ``core`` (or a PUT's rectangle) outside the array
    BAD_FB   = 3   # a copy beyond the framebuffer (or the command list running off its end)
    BAD_MEM  = 4   # a copy beyond a core's MEM, or ``mem`` not word-aligned
    CONFLICT = 5   # a core's MEM bank conflict flag rose during the run
    OVERFLOW = 6   # a core's counter overflowed during the run
    BAD_PUT  = 7   # a put sent to the framebuffer beyond its end (not written)


def encode(op, *, core=0, count=0, fb=0, mem=0, x0=0, x1=0, y0=0, y1=0, net=0):
    """``(a, b)`` of a command (every field checked against its width)."""
    values = {"op": int(op), "core": core, "count": count, "fb": fb, "mem": mem,
              "x0": x0, "x1": x1, "y0": y0, "y1": y1, "net": net}
    words = {"a": 0, "b": 0}
    for name, (field, low, width) in FIELDS.items():
        v = values[name]
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << width:
            raise ValueError(f"command field {name} must be an integer from 0 to "
                             f"{(1 << width) - 1}, not {v!r}")
        words[field] |= v << low
    return words["a"], words["b"]


def decode(a, b):
    """The fields of a command, by name."""
    words = {"a": a, "b": b}
    return {name: (words[field] >> low) & ((1 << width) - 1)
            for name, (field, low, width) in FIELDS.items()}
