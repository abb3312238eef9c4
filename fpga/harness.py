"""A board-independent harness that keeps a set of components alive in synthesis.

The components under build have wide stream ports and no pins to drive them. The harness
feeds every input from an on-chip pseudo-random source and folds every output bit into a
small register, so that each bit of logic reaches a pin and Yosys can remove none of it.
Whatever components it wraps (today the core's compute blocks, later the whole core), the
harness only reads their signatures.
"""

import itertools

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import Out

__all__ = ["Lfsr", "DatapathHarness"]


class Lfsr(wiring.Component):
    """Pseudo-random bits from a maximal-length 32-bit LFSR.

    The polynomial is x^32 + x^22 + x^2 + x + 1 (period 2^32 - 1), shifted one bit per
    cycle. A port wider than 32 bits continues the shift register: every output bit is a
    flip-flop of its own, holding the sequence delayed by its index.

    Parameters
    ----------
    width : int
        Output bits.
    seed : int
        Initial state of the 32-bit generator; its low 32 bits must not all be zero.

    Members
    -------
    value : Out(width)
    """

    TAPS = (31, 21, 1, 0)  # s(t) = s(t-32) ^ s(t-22) ^ s(t-2) ^ s(t-1)

    def __init__(self, width, seed=1):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        if not seed & 0xFFFF_FFFF:
            raise ValueError(f"seed must have a non-zero low 32 bits, not {seed!r}")
        self._width = width
        self._seed = seed & 0xFFFF_FFFF
        super().__init__({"value": Out(width)})

    def elaborate(self, platform):
        m = Module()
        state = Signal(max(self._width, 32), init=self._seed)
        feedback = state[self.TAPS[0]]
        for tap in self.TAPS[1:]:
            feedback = feedback ^ state[tap]
        m.d.sync += state.eq(Cat(feedback, state[:-1]))
        m.d.comb += self.value.eq(state[:self._width])
        return m


def _elements(value, depth):
    """The elements of a member of ``depth`` array dimensions, in order."""
    if depth == 0:
        yield value
    else:
        for item in value:
            yield from _elements(item, depth - 1)


def _ports(members, obj, *, in_stream=False):
    """Yield ``(path, flow, is_handshake, value)`` for every port of an interface.

    ``flow`` is seen from the component. ``is_handshake`` marks the ``valid`` and ``ready``
    of a :class:`amaranth.lib.stream.Signature` member, whatever its direction.
    """
    for name, member in members.items():
        indices = itertools.product(*(range(n) for n in member.dimensions))
        for index, value in zip(indices, _elements(getattr(obj, name), len(member.dimensions)),
                                strict=True):
            path = (name, *index)
            if member.is_port:
                yield path, member.flow, in_stream and name in ("valid", "ready"), value
            else:
                nested = _ports(member.signature.members, value,
                                in_stream=isinstance(member.signature, stream.Signature))
                for sub_path, flow, handshake, sub_value in nested:
                    yield path + sub_path, flow, handshake, sub_value


class DatapathHarness(wiring.Component):
    """Drive the ports of some components on chip and fold their outputs into a register.

    Every input port of every wrapped component is driven by an :class:`Lfsr` of its own
    width and seed, except the handshake of a stream: an input stream's ``valid`` and an
    output stream's ``ready`` are tied high, so data moves every cycle the component
    allows. Every output bit (payloads, ``valid``, ``ready``, plain ports) is XOR-reduced
    into ``out``: bit ``j`` of ``out`` registers the parity of the output bits whose
    position in the concatenation of all outputs is ``j`` modulo ``len(out)``.

    Parameters
    ----------
    blocks : dict of str to wiring.Component, or a single component
        The components to wrap; they become submodules under these names.
    out_width : int
        Width of the folded output register (for example the board's LEDs).

    Members
    -------
    out : Out(out_width)
    """

    def __init__(self, blocks, *, out_width=8):
        if isinstance(blocks, wiring.Component):
            blocks = {"dut": blocks}
        blocks = dict(blocks)
        if not blocks:
            raise ValueError("blocks must name at least one component")
        for name, block in blocks.items():
            if not isinstance(block, wiring.Component):
                raise TypeError(f"block {name!r} must be a wiring.Component, not {block!r}")
        if not isinstance(out_width, int) or out_width < 1:
            raise ValueError(f"out_width must be a positive integer, not {out_width!r}")
        self._blocks = blocks
        super().__init__({"out": Out(out_width)})

    @property
    def blocks(self):
        return dict(self._blocks)

    def port_map(self):
        """``{"block.path": (flow, handshake, width)}`` for every port of every block."""
        return {".".join(str(part) for part in (name, *path)):
                (flow, handshake, len(Value.cast(value)))
                for name, block in self._blocks.items()
                for path, flow, handshake, value in _ports(block.signature.members, block)}

    def elaborate(self, platform):
        m = Module()
        outputs = []
        seeds = itertools.count(1)
        for name, block in self._blocks.items():
            m.submodules[name] = block
            for path, flow, handshake, value in _ports(block.signature.members, block):
                value = Value.cast(value)
                if flow == wiring.Flow.Out:
                    outputs.append(value)
                elif handshake:
                    m.d.comb += value.eq(1)
                else:
                    # Distinct seeds (odd multiples of a large odd constant, never zero in
                    # the low 32 bits) keep the ports' sequences apart.
                    seed = (next(seeds) * 0x9E37_79B9) & 0xFFFF_FFFF | 1
                    lfsr = Lfsr(len(value), seed)
                    m.submodules["lfsr_" + "_".join([name, *map(str, path)])] = lfsr
                    m.d.comb += value.eq(lfsr.value)

        bits = Cat(*outputs)
        width = len(self.out)
        folded = [Cat(*(bits[i] for i in range(j, len(bits), width))).xor()
                  for j in range(width)]
        m.d.sync += self.out.eq(Cat(*folded))
        return m
