"""Handshake control of a fixed-depth pipeline behind a stream."""

from amaranth import *

__all__ = ["Pipeline"]


class Pipeline:
    """Valid bits and load enables of an ``depth``-stage register pipeline.

    Stage ``k`` holds a register set that loads from stage ``k - 1`` (stage 0 from the
    input) when ``load[k]`` is high. A stage accepts when it is empty or the stage after
    it accepts, so bubbles close up under backpressure; the input is ready when stage 0
    accepts. The last stage's valid bit is the output's ``valid``.

    Parameters
    ----------
    m : Module
    depth : int
    i_valid : Value
        The input stream's ``valid``.
    o_valid : Signal
        The output stream's ``valid``; driven here (it is the last stage's valid bit).
    o_ready : Value
        The output stream's ``ready``.
    """

    def __init__(self, m, depth, *, i_valid, o_valid, o_ready):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth!r}")
        self.valid = [Signal(name=f"s{k}_valid") for k in range(depth - 1)] + [o_valid]
        ready = [None] * depth
        ready[-1] = ~o_valid | o_ready
        for k in reversed(range(depth - 1)):
            ready[k] = ~self.valid[k] | ready[k + 1]
        self.i_ready = ready[0]
        self.load = []
        for k in range(depth):
            source = i_valid if k == 0 else self.valid[k - 1]
            with m.If(ready[k]):
                m.d.sync += self.valid[k].eq(source)
            self.load.append(ready[k] & source)
