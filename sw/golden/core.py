"""Functional golden model of a core (mirrors ``rtl/core``): executes the binary thread
programs of a program image, bit-exact with the hardware's results.

Threads run in turn, each until it waits (a counter at zero, a VMM step with no weight
tile loaded, a NoC port with no flit) or ends; a stream instruction runs as far as it
can. For a program whose threads synchronise their shared data through counters, as the
compiler's do, the results are those of the hardware's concurrent execution. Timing is
not modelled here.
"""

import numpy as np

from rtl.spec.codes import Precision, VloadMode
from rtl.spec.isa import (AG_DIMS, AGS, COUNTERS, FORMATS, LOOP_DEPTH, NOC_PORTS, NOC_THREADS,
                          THREADS, Op, decode)

from . import fp16
from .afu import ActivationUnit
from .packing import unpack
from .vcu import VectorUnit
from .vmm import VMM, Tile

__all__ = ["Core", "CoreError"]



class CoreError(RuntimeError):
    """A program did something the hardware cannot: an access outside a memory, a
    deadlock, a loop stack overflow."""


class _AddressGenerator:
    def __init__(self):
        self.base = 0
        self.dims = [(1, 0)] * AG_DIMS

    def points(self):
        addr = np.array([self.base], dtype=np.int64)
        for count, stride in self.dims:  # dimension 0 innermost
            addr = (np.arange(count, dtype=np.int64)[:, None] * stride + addr[None, :]).ravel()
        return addr


class _Thread:
    def __init__(self, index, program):
        self.index   = index
        self.program = program
        self.pc      = 0
        self.loops   = []
        self.ags     = [_AddressGenerator() for _ in range(AGS)]
        self.done    = not program
        self.stream  = None  # (points, position) of a stream instruction in progress


class Core:
    """Golden core of a :class:`rtl.spec.config.CoreConfig`.

    Attributes
    ----------
    mem : numpy.ndarray of uint8
        The unified memory, byte-addressed.
    psb : numpy.ndarray of int64, shape (psb_entries, vmm_rows)
    vbuf : numpy.ndarray of uint16, shape (vbuf_entries, vmm_rows)
    noc_in, noc_out : list of list
        Per port (0 ANoC, 1 PNoC, 2 MNoC, 3 INoC): flits ``(data bytes, tag)`` to deliver
        and flits sent.
    """

    def __init__(self, core):
        self.config  = core
        self.rows    = core.vmm_rows
        self.cols    = core.vmm_cols
        self.word    = core.mem_port_bits // 8
        self.mem     = np.zeros(core.sram_bytes, dtype=np.uint8)
        self.psb     = np.zeros((core.psb_entries, self.rows), dtype=np.int64)
        self.vbuf    = np.zeros((core.vbuf_entries, self.rows), dtype=np.uint16)
        self.noc_in  = [[] for _ in NOC_PORTS]
        self.noc_out = [[] for _ in NOC_PORTS]
        self._vmm    = VMM(self.rows, self.cols)
        self._vcu    = VectorUnit(self.rows)
        self._afu    = ActivationUnit(self.rows)

    # Memory access.

    def write(self, addr, data):
        """Write bytes to MEM (the host's and the testbench's preload)."""
        data = np.frombuffer(bytes(data), dtype=np.uint8)
        self._check_mem(addr, len(data), "write")
        self.mem[addr:addr + len(data)] = data

    def read(self, addr, length):
        self._check_mem(addr, length, "read")
        return self.mem[addr:addr + length].tobytes()

    def _check_mem(self, addr, length, what):
        if addr < 0 or addr + length > len(self.mem):
            raise CoreError(f"{what} of {length} bytes at {addr:#x} is outside MEM "
                            f"(0 to {len(self.mem):#x})")

    # Programs.

    def load_programs(self, entry):
        """Decode the program image at ``entry`` into the threads' buffers."""
        if entry % self.word:
            raise CoreError(f"program image at {entry:#x} is not word-aligned")
        lengths = self.read(entry, THREADS)
        programs, addr = [], entry + self.word
        for t, length in enumerate(lengths):
            if length > self.config.program_len:
                raise CoreError(f"T{t}'s program has {length} instructions, more than "
                                f"program_len = {self.config.program_len}")
            words = np.frombuffer(self.read(addr, 8 * length), dtype="<u8")
            programs.append([decode(int(w)) for w in words])
            addr += 8 * length
        return programs

    def run(self, entry, *, max_rounds=10_000_000):
        """Run the program image at ``entry`` until every thread has ended.

        Raises
        ------
        CoreError
            On a deadlock (no thread can proceed), naming each waiting thread.
        """
        threads = [_Thread(t, p) for t, p in enumerate(self.load_programs(entry))]
        self._counters = [0] * COUNTERS
        self._tiles, self._rows_in = [], []
        for _ in range(max_rounds):
            if all(t.done for t in threads):
                return
            progress = False
            for thread in threads:
                while not thread.done and self._step(thread):
                    progress = True
            if not progress:
                waiting = [f"T{t.index} at {t.pc}: {t.program[t.pc]}"
                           for t in threads if not t.done]
                raise CoreError("deadlock: " + "; ".join(waiting))
        raise CoreError("the program did not finish")

    # One instruction (or as much of a stream as can run). Returns whether it advanced.

    def _step(self, th):
        if th.pc >= len(th.program):
            raise CoreError(f"T{th.index} ran past the end of its program")
        ins = th.program[th.pc]
        op = ins.op
        if op == Op.NOP:
            pass
        elif op == Op.END:
            th.done = True
            return True
        elif op == Op.LOOP:
            if ins["count"] == 0:
                raise CoreError(f"T{th.index} at {th.pc}: LOOP count 0")
            if len(th.loops) == LOOP_DEPTH:
                raise CoreError(f"T{th.index} at {th.pc}: loops nested deeper than "
                                f"{LOOP_DEPTH}")
            th.loops.append([th.pc + 1, ins["count"]])
        elif op == Op.ENDL:
            if not th.loops:
                raise CoreError(f"T{th.index} at {th.pc}: ENDL without LOOP")
            th.loops[-1][1] -= 1
            if th.loops[-1][1]:
                th.pc = th.loops[-1][0]
                return True
            th.loops.pop()
        elif op == Op.SIGNAL:
            self._counters[ins["ctr"]] += 1
        elif op == Op.WAIT:
            if self._counters[ins["ctr"]] == 0:
                return False
            self._counters[ins["ctr"]] -= 1
        elif op == Op.AGBASE:
            th.ags[ins["g"]] = _AddressGenerator()
            th.ags[ins["g"]].base = ins["base"]
        elif op == Op.AGDIM:
            if ins["count"] == 0:
                raise CoreError(f"T{th.index} at {th.pc}: AGDIM count 0")
            th.ags[ins["g"]].dims[ins["d"]] = (ins["count"], ins["stride"])
        elif op == Op.AGADD:
            th.ags[ins["g"]].base += ins["delta"]
        else:
            if not self._stream(th, ins):
                return False
            th.stream = None
        th.pc += 1
        return True

    def _stream(self, th, ins):
        """Run a data instruction; return False if it must wait (it resumes later)."""
        op = ins.op
        if th.stream is None:
            has_d = any(name == "d" for name, _, _ in FORMATS[op])
            th.stream = [th.ags[ins["s"]].points(),
                         th.ags[ins["d"]].points() if has_d else np.zeros(0, np.int64), 0]
        a0, a1, pos = th.stream
        if op in (Op.SSTREAM, Op.VCVT, Op.VOP, Op.VACT, Op.VSTORE) and len(a0) != len(a1):
            raise CoreError(f"T{th.index} at {th.pc}: {op.name} with {len(a0)} source points "
                            f"and {len(a1)} destination points")
        if op == Op.WSTREAM:
            for a in a0:
                self._weight_row(th, int(a), ins)
        elif op == Op.SSTREAM:
            if ins["period"] == 0:
                raise CoreError(f"T{th.index} at {th.pc}: SSTREAM period 0")
            while pos < len(a0):
                if not self._tiles:
                    th.stream[2] = pos
                    return False
                self._vmm_step(th, int(a0[pos]), int(a1[pos]), pos, ins)
                pos += 1
        elif op == Op.VCVT:
            src = self.psb[a0 % len(self.psb)]
            self.vbuf[self._index(th, a1, len(self.vbuf), "VBUF")] = \
                fp16.from_int32(src, ins["shift"])
        elif op == Op.VOP:
            i = self._index(th, a0, len(self.vbuf), "VBUF")
            j = self._index(th, a1, len(self.vbuf), "VBUF")
            k = self._index(th, np.array([ins["kb"], ins["kc"]]), len(self.vbuf), "VBUF")
            a = self.vbuf[i]
            b = np.broadcast_to(self.vbuf[k[0]], a.shape)
            c = np.broadcast_to(self.vbuf[k[1]], a.shape)
            result, _ = self._vcu.execute(ins["op"], a, b, c, shift=ins["shift"],
                                          fmt=ins["fmt"], out_signed=bool(ins["out_signed"]))
            self.vbuf[j] = result
        elif op == Op.VOPV:
            j = self._index(th, a0, len(self.vbuf), "VBUF")
            i = self._index(th, a0 + ins["off"], len(self.vbuf), "VBUF")
            a, b = self.vbuf[i], self.vbuf[j]
            result, _ = self._vcu.execute(ins["op"], a, b, np.zeros_like(a))
            self.vbuf[j] = result
        elif op == Op.VLOAD:
            j = self._index(th, ins["k"] + np.arange(len(a0)), len(self.vbuf), "VBUF")
            mode = ins["mode"]
            bits = VloadMode(mode).bits
            raw = self._gather(th, a0, self.rows * bits // 8)
            if mode == 0:
                self.vbuf[j] = raw.view("<u2")
            else:
                values = unpack(raw, bits, bool(ins["signed"]))
                self.vbuf[j] = fp16.from_int32(values, ins["shift"])
        elif op == Op.VACT:
            i = self._index(th, a0, len(self.vbuf), "VBUF")
            j = self._index(th, a1, len(self.vbuf), "VBUF")
            self.vbuf[j] = self._afu.execute(ins["op"], self.vbuf[i], ins["p0"], ins["p1"])
        elif op == Op.VSTORE:
            if ins["prec"] not in tuple(Precision):
                raise CoreError(f"T{th.index} at {th.pc}: VSTORE prec {ins['prec']}")
            n = self.rows * Precision(ins["prec"]).bits // 8
            i = self._index(th, a0, len(self.vbuf), "VBUF")
            data = self.vbuf[i].astype("<u2").view(np.uint8).reshape(len(i), -1)[:, :n]
            for a, row in zip(a1, data, strict=True):
                self._check_access(th, int(a), n)
                self.mem[int(a):int(a) + n] = row
        elif op == Op.SEND:
            port = self._port(th)
            for a in a0:
                self._check_access(th, int(a), self.word, whole=True)
                self.noc_out[port].append((self.read(int(a), self.word), ins["tag"]))
        elif op == Op.RECV:
            port = self._port(th)
            while pos < len(a0):
                if not self.noc_in[port]:
                    th.stream[2] = pos
                    return False
                data, _ = self.noc_in[port].pop(0)
                a = int(a0[pos])
                self._check_access(th, a, self.word, whole=True)
                self.mem[a:a + self.word] = np.frombuffer(bytes(data), dtype=np.uint8)
                pos += 1
        else:
            raise CoreError(f"T{th.index} at {th.pc}: {op.name} is not a data instruction")
        return True

    # Helpers.

    def _weight_row(self, th, a, ins):
        self._check_access(th, a, self.word, whole=True)
        self._rows_in.append(self.mem[a:a + self.cols].copy())
        if len(self._rows_in) == self.rows:
            self._tiles.append(Tile(np.stack(self._rows_in), ins["prec"],
                                    bool(ins["act_signed"])))
            self._rows_in = []

    def _vmm_step(self, th, a, p, i, ins):
        self._check_access(th, a, self.word, whole=True)
        p %= len(self.psb)  # PSB indices wrap: the hardware uses their low bits
        psum = np.zeros(self.rows, dtype=np.int64) if i < ins["zero"] else self.psb[p]
        tile = self._tiles[0]
        self.psb[p] = self._vmm.dot(tile, self.mem[a:a + self.cols], psum, wrap=True)
        if (i + 1) % ins["period"] == 0:
            self._tiles.pop(0)

    def _index(self, th, points, size, what):
        if len(points) and (points.min() < 0 or points.max() >= size):
            raise CoreError(f"T{th.index} at {th.pc}: {what} index outside 0..{size - 1}")
        return points

    def _gather(self, th, points, n):
        out = np.empty((len(points), n), dtype=np.uint8)
        for k, a in enumerate(points):
            self._check_access(th, int(a), n)
            out[k] = self.mem[int(a):int(a) + n]
        return out

    def _check_access(self, th, a, n, whole=False):
        if whole and a % self.word:
            raise CoreError(f"T{th.index} at {th.pc}: address {a:#x} is not word-aligned")
        if a < 0 or a + n > len(self.mem):
            raise CoreError(f"T{th.index} at {th.pc}: access of {n} bytes at {a:#x} is "
                            f"outside MEM")
        if a % min(n, self.word):
            raise CoreError(f"T{th.index} at {th.pc}: access of {n} bytes at {a:#x} is not "
                            f"aligned to {min(n, self.word)} bytes")

    def _port(self, th):
        if th.index not in NOC_THREADS:
            raise CoreError(f"T{th.index} at {th.pc}: NoC instruction on a non-NoC thread")
        return NOC_THREADS.index(th.index)

