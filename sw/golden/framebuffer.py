"""Golden model of the framebuffer and its engine (mirrors
``rtl/framebuffer/framebuffer.py``; docs/architecture.md, 11), running command lists on
the golden array (:class:`sw.golden.array.ArrayModel`): the same words moved, the same
error, the same cycle count as the RTL.

A START runs the array model to its end at once (the engine's cycles then follow from
the array's), so a START must be followed by a WAIT before any copy: a list that copies
while the cores run is refused here (the RTL would run it, with timing this model does
not follow).
"""

from rtl.spec.config import ArrayConfig
from rtl.spec.framebuffer import COMMAND_WORDS, FbError, FbOp, decode

from .array import ArrayModel, busy_until

__all__ = ["FramebufferModel", "FETCH_CYCLES"]

#: Cycles to fetch and decode a command (its two words read, then the decode).
FETCH_CYCLES = 3


class FramebufferModel:
    """The framebuffer's memory (``mem``, ``framebuffer_bytes`` of ``config``) and engine
    on an array model (``array``, given or new)."""

    def __init__(self, config, array=None):
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, not {config!r}")
        self.config = config
        self.word = config.core.mem_port_bits // 8
        self.mem = bytearray(config.framebuffer_bytes)
        self.array = array if array is not None else ArrayModel(config)
        self.error, self.cycles = 0, 0

    def write(self, addr, data):
        if addr < 0 or addr + len(data) > len(self.mem):
            raise ValueError(f"{len(data)} bytes at {addr:#x} run past the framebuffer")
        self.mem[addr:addr + len(data)] = data

    def read(self, addr, n):
        if addr < 0 or addr + n > len(self.mem):
            raise ValueError(f"{n} bytes at {addr:#x} run past the framebuffer")
        return bytes(self.mem[addr:addr + n])

    def _word(self, index):
        w = self.word
        return int.from_bytes(self.mem[index * w:index * w + 8], "little")

    def run(self, entry):
        """Run the command list at byte address ``entry``; return ``(cycles, error)`` as
        the RTL's ``cycles`` and ``error`` then hold them (also ``self.cycles``,
        ``self.error``)."""
        cfg, w = self.config, self.word
        words = len(self.mem) // w
        mem_words = cfg.core.sram_bytes // w
        latency = cfg.core.mem_latency
        pc, cycles = entry // w, 0
        misaligned = entry % w != 0
        started = False
        while True:
            cycles += FETCH_CYCLES
            if misaligned or pc + COMMAND_WORDS > words:
                return self._stop(cycles, FbError.BAD_FB)
            f = decode(self._word(pc), self._word(pc + 1))
            pc += COMMAND_WORDS
            op, core, count, fb, mem = f["op"], f["core"], f["count"], f["fb"], f["mem"]
            copy = op in (FbOp.COPY_IN, FbOp.COPY_OUT)
            if op == FbOp.END:
                return self._stop(cycles, FbError.NONE)
            if op > FbOp.WAIT:
                return self._stop(cycles, FbError.BAD_OP)
            if (copy or op == FbOp.WAIT) and core >= cfg.cores:
                return self._stop(cycles, FbError.BAD_CORE)
            if copy and fb + count > words:
                return self._stop(cycles, FbError.BAD_FB)
            if (copy or op == FbOp.START) and (mem % w or
                                              mem // w + (count if copy else 1) > mem_words):
                return self._stop(cycles, FbError.BAD_MEM)
            if op == FbOp.START:
                if started:
                    raise NotImplementedError("the model runs one START, WAIT pair at a time")
                self.array.run([mem] * cfg.cores)
                started = True
            elif op == FbOp.WAIT:
                if not started:
                    raise NotImplementedError("a WAIT without a START before it (the RTL "
                                              "would wait for ever if no core runs)")
                runs = len(self.array.runs[core])
                if runs < count:
                    raise RuntimeError(f"WAIT for {count} runs of core {core}: it ran {runs}; "
                                       f"the engine would wait for ever")
                # The START's decode is the array's cycle 0 and the WAIT's decode cycle 3;
                # the WAIT ends in the cycle after the last busy cycle of any core
                # (``last``): it waits from cycle 4 to ``last + 1``.
                last = busy_until(self.array.starts, self.array.runs)
                cycles += max(1, last - 2)
                started = False
            else:
                if started:
                    raise NotImplementedError("a copy while the cores run (before a WAIT)")
                target = self.array.cores[core]
                n = count * w
                if op == FbOp.COPY_IN:
                    target.write(mem, bytes(self.mem[fb * w:fb * w + n]))
                    cycles += count + 1
                else:
                    self.mem[fb * w:fb * w + n] = target.read(mem, n)
                    cycles += count + latency

    def _stop(self, cycles, error):
        self.cycles, self.error = cycles, int(error)
        return self.cycles, self.error
