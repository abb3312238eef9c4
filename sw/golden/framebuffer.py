"""Golden model of the framebuffer and its engine (mirrors
``rtl/framebuffer/framebuffer.py``; docs/architecture.md, 11), running command lists on
the golden array (:class:`sw.golden.array.ArrayModel`): the same words moved, the same
error, the same cycle count as the RTL.

A START runs the array model to its end at once (the engine's cycles then follow from
the array's), so a START must be followed by a WAIT before any copy: a list that copies
while the cores run is refused here (the RTL would run it, with timing this model does
not follow). A PUT's flits are stepped through the array's meshes cycle by cycle
(:meth:`sw.golden.array.ArrayModel.idle_step`) in every engine cycle from then on,
until they have all landed; a copy or a START while puts are still in flight is
refused here too (a FENCE before it makes sure they have landed).
"""

from rtl.spec.config import ArrayConfig
from rtl.spec.framebuffer import COMMAND_WORDS, FENCE_QUIET, FbError, FbOp, decode
from rtl.spec.isa import PUT_PORTS

from .array import ArrayModel, busy_until
from .cycles import Put
from .noc import Flit

__all__ = ["FramebufferModel", "FETCH_CYCLES"]

#: Cycles to fetch and decode a command (its two words read, the second registered, then
#: the decode).
FETCH_CYCLES = 4


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

    def run(self, entry, *, run_cycles=None, fb_puts=None):
        """Run the command list at byte address ``entry``; return ``(cycles, error)`` as
        the RTL's ``cycles`` and ``error`` then hold them (also ``self.cycles``,
        ``self.error``).

        With ``run_cycles`` (a prediction of the engine's cycles, the compiler's), a
        START runs no core: the next WAIT takes the cores' last busy cycle to be
        ``run_cycles`` (a compiled network's array cycles, which do not depend on the
        data), and a copy out reads whatever the cores' MEMs hold; ``fb_puts`` then gives
        the puts the run sends the framebuffer, as ``(array cycle, put)``
        (:attr:`sw.golden.array.ArrayModel.fb_puts`).

        The puts the cores send the framebuffer (over the ANoC) are written at word
        ``fb`` of the START plus their address, each taken into a register in the engine
        cycle in which the array delivers it, written in the next and counted for GATHER
        from the one after; one beyond the memory is not written and stops the run at
        the next decode after it (BAD_PUT)."""
        cfg, w = self.config, self.word
        words = len(self.mem) // w
        mem_words = cfg.core.sram_bytes // w
        latency = cfg.core.mem_latency
        pc = entry // w
        self._cycles = 0
        tick = self._tick
        misaligned = entry % w != 0
        started = False
        start_at = None   # the engine cycle after this run's START's decode
        received = []     # the engine cycles from which each written put counts
        bad_at = None     # the engine cycle from which a put beyond the memory is seen
        while True:
            tick(FETCH_CYCLES)
            if misaligned or pc + COMMAND_WORDS > words:
                return self._stop(FbError.BAD_FB)
            if bad_at is not None and bad_at <= self._cycles - 1:
                return self._stop(FbError.BAD_PUT)
            f = decode(self._word(pc), self._word(pc + 1))
            pc += COMMAND_WORDS
            op, core, count, fb, mem = f["op"], f["core"], f["count"], f["fb"], f["mem"]
            copy = op in (FbOp.COPY_IN, FbOp.COPY_OUT)
            put = op == FbOp.PUT
            if op == FbOp.END:
                return self._stop(FbError.NONE)
            if op > FbOp.GATHER or (put and f["net"] >= len(PUT_PORTS)):
                return self._stop(FbError.BAD_OP)
            if (copy or op == FbOp.WAIT) and core >= cfg.cores:
                return self._stop(FbError.BAD_CORE)
            if put and not (f["x0"] <= f["x1"] < cfg.cols and f["y0"] <= f["y1"] < cfg.rows):
                return self._stop(FbError.BAD_CORE)
            if (copy or put) and fb + count > words:
                return self._stop(FbError.BAD_FB)
            if (copy or put or op == FbOp.START) and \
                    (mem % w or mem // w + (count if copy or put else 1) > mem_words):
                return self._stop(FbError.BAD_MEM)
            if op in (FbOp.COPY_IN, FbOp.COPY_OUT, FbOp.START) and not self.array.quiet():
                raise NotImplementedError(f"a {FbOp(op).name} while puts are in flight (the "
                                          f"model needs a FENCE before it)")
            if put:
                if started:
                    raise NotImplementedError("a PUT while the cores run (before a WAIT)")
                self._put(f)
            elif op == FbOp.FENCE:
                if started:
                    raise NotImplementedError("a FENCE while the cores run (before a WAIT)")
                self._fence()
            elif op == FbOp.START:
                if started:
                    raise NotImplementedError("the model runs one START, WAIT pair at a time")
                if run_cycles is None:
                    self.array.run([mem] * cfg.cores)
                    fb_puts = self.array.fb_puts
                start_at = self._cycles   # the cores start the cycle after the decode
                received = []
                for t, p in fb_puts or ():
                    target = fb + p.addr // w
                    if target < words:
                        if p.data is not None:
                            self.mem[target * w:(target + 1) * w] = bytes(p.data)
                        received.append(start_at + t + 2)
                    elif bad_at is None:
                        bad_at = start_at + t + 2
                started = True
            elif op == FbOp.GATHER:
                if start_at is None:
                    raise NotImplementedError("a GATHER without a START before it in the "
                                              "list")
                if started:   # (the RTL's WAIT counts the runs that end while it waits)
                    raise NotImplementedError("a GATHER while the cores run (before a WAIT)")
                if len(received) < count:
                    raise RuntimeError(f"GATHER of {count} puts: the run sends the "
                                       f"framebuffer {len(received)}; the engine would wait "
                                       f"for ever")
                first = self._cycles
                self._cycles = max(first, received[count - 1] if count else first) + 1
            elif op == FbOp.WAIT:
                if not started:
                    raise NotImplementedError("a WAIT without a START before it (the RTL "
                                              "would wait for ever if no core runs)")
                if run_cycles is None:
                    runs = len(self.array.runs[core])
                    if runs < count:
                        raise RuntimeError(f"WAIT for {count} runs of core {core}: it ran "
                                           f"{runs}; the engine would wait for ever")
                # The cycle after the START's decode is the array's cycle 0; the WAIT ends
                # in the cycle after the last busy cycle of any core (``last``), or in its
                # first.
                last = run_cycles if run_cycles is not None else \
                    busy_until(self.array.starts, self.array.runs)
                self._cycles = max(self._cycles, start_at + last + 1) + 1
                started = False
            else:
                if started:
                    raise NotImplementedError("a copy while the cores run (before a WAIT)")
                target = self.array.cores[core]
                n = count * w
                if op == FbOp.COPY_IN:
                    target.write(mem, bytes(self.mem[fb * w:fb * w + n]))
                    tick(count + 1)
                else:
                    self.mem[fb * w:fb * w + n] = target.read(mem, n)
                    tick(count + latency)

    def _tick(self, n):
        """``n`` engine cycles; the array stepped through them while puts are in flight."""
        self._cycles += n
        for _ in range(n):
            if self.array.quiet():
                break
            self.array.idle_step()

    def _put(self, f):
        """A PUT (its fields ``f``): the first word read in one cycle, then a word offered
        at the mesh's edge each cycle until the mesh takes it."""
        w, name = self.word, PUT_PORTS[f["net"]]
        self._tick(1)
        for i in range(f["count"]):
            data = self.mem[(f["fb"] + i) * w:(f["fb"] + i + 1) * w]
            flit = Flit(Put(f["mem"] + i * w, bytes(data), False, 0), f["x0"], f["x1"],
                        f["y0"], f["y1"], True)
            while True:
                self._cycles += 1
                if name in self.array.idle_step({name: flit}):
                    break

    def _fence(self):
        """A FENCE: one cycle at a time until every mesh was idle at the start of each of
        the last ``FENCE_QUIET`` cycles (the RTL's ``noc_idle``)."""
        quiet = 0
        while quiet < FENCE_QUIET:
            idle = all(m.idle() for m in self.array.meshes.values())
            quiet = quiet + 1 if idle else 0
            self._tick(1)
        if not self.array.quiet():
            raise RuntimeError("a FENCE ended with puts not yet written: FENCE_QUIET is "
                               "too short")

    def _stop(self, error):
        self.cycles, self.error = self._cycles, int(error)
        return self.cycles, self.error
