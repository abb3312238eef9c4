"""Functional golden model of a core (mirrors ``rtl/core``): executes the binary thread
programs of a program image, bit-exact with the hardware's results.

The golden core is the cycle model (:class:`sw.golden.cycles.CycleModel`, with the
threads of :mod:`sw.golden.thread`) with the data attached: it runs the threads in the
RTL's cycle order, with its grant rule, its queues and the VMM's two tile buffers, and
moves each datum in the cycle the RTL moves it (a point's reads when its engine takes
it, its writes when it retires: a VMM result 3 cycles after the step, a vector unit
result 7 cycles after the point, ...). So it finishes, deadlocks or overflows a counter
exactly when the hardware does, and a program whose threads race on shared data gets the
hardware's results too.
"""

import numpy as np

from rtl.spec.codes import Precision, VloadMode
from rtl.spec.isa import NOC_PORTS, THREADS, Op, decode

from . import fp16
from .afu import ActivationUnit
from .cycles import CycleModel
from .packing import unpack
from .post import PostChain, PostParams
from .thread import CoreError, CounterOverflow, Deadlock
from .vcu import VectorUnit
from .vmm import VMM, Tile

__all__ = ["Core", "CoreError", "Deadlock", "CounterOverflow"]


class Core(CycleModel):
    """Golden core of a :class:`rtl.spec.config.CoreConfig`.

    Attributes
    ----------
    mem : numpy.ndarray of uint8
        The unified memory, byte-addressed.
    psb : numpy.ndarray of int64, shape (psb_entries, vmm_rows)
    vbuf : numpy.ndarray of uint16, shape (vbuf_entries, vmm_rows)
    noc_out : list of list
        Per port (0 ANoC, 1 PNoC, 2 MNoC, 3 INoC): the flits sent, in order
        (:class:`sw.golden.noc.Flit` of a :class:`sw.golden.cycles.Put`; on the PNoC a
        :class:`sw.golden.cycles.Psum`).
    inbox : list of deque
        Per port, the flits received and not yet written to MEM (the input FIFO); on the
        PNoC, the partial-sum vectors not yet taken by T1.
    """

    functional = True

    def __init__(self, core, *, rows=None, cols=None):
        super().__init__(core, rows=rows, cols=cols)
        self.config  = core
        self.cols    = core.vmm_cols
        self.word    = core.mem_port_bits // 8
        self.mem     = np.zeros(core.sram_bytes, dtype=np.uint8)
        self.psb     = np.zeros((core.psb_entries, self.rows), dtype=np.int64)
        self.vbuf    = np.zeros((core.vbuf_entries, self.rows), dtype=np.uint16)
        self.noc_out = [[] for _ in NOC_PORTS]
        self._vmm_unit = VMM(self.rows, self.cols)
        # The vector unit has vcu_lanes lanes: lanes past a vector repeat its lanes, and
        # a CVT_INT packs their integers too (above the vector's own bits), as the RTL.
        self._vcu    = VectorUnit(core.vcu_lanes)
        self._repeat = core.vcu_lanes // self.rows
        self._afu    = ActivationUnit(self.rows)
        self._consts = {}
        self._post_chain = PostChain(self.rows)

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
        for length in lengths:   # (each program's length is checked as it runs: image)
            words = np.frombuffer(self.read(addr, 8 * length), dtype="<u8")
            programs.append([decode(int(w)) for w in words])
            addr += 8 * length
        return programs

    def run(self, entry, *, arrivals=None, out_ready=None, max_cycles=50_000_000):
        """Run the program image at ``entry`` until every thread has ended, then each
        image a NEXT names in turn (a chain is one run). ``arrivals`` and ``out_ready``
        are the NoC ports' outside, as for :meth:`sw.golden.cycles.CycleModel.run`
        (cycles counted from the launch of the chain's first image).

        Returns
        -------
        (int, int)
            The cycles and VMM steps, as the RTL counts them (the cycle model's figures,
            summed over the chain's images).

        Raises
        ------
        Deadlock
            When no thread can ever progress, naming each waiting thread and the counters.
        CounterOverflow
            When a SIGNAL takes a counter past ``2**COUNTER_BITS - 1``.
        CoreError
            On anything else the hardware cannot do (an access outside a memory, ...).
        Unfinished
            When the run takes more than ``max_cycles`` cycles.
        """
        return self._drive(self.chain(entry, max_cycles=max_cycles), arrivals, out_ready)

    def chain(self, entry, *, deadlock=True, max_cycles=50_000_000):
        """A generator of the run of the image at ``entry`` and of the images its NEXTs
        name, cycle by cycle, with the protocol of
        :meth:`sw.golden.cycles.CycleModel.image` (each chained image is launched in
        its predecessor's last cycle). Returns ``(cycles, vmm_steps)``, summed; a
        :class:`Deadlock`'s or :class:`CounterOverflow`'s cycle is counted from the
        chain's start, as the RTL's ``cycles``."""
        cycles = steps = 0
        self.images = []   # the entries of the chain's images, in order
        self.image_figures = []   # each image's (cycles, vmm_steps), in order
        launch = True
        while entry is not None:
            self.images.append(entry)
            programs = self.load_programs(entry)
            c, s = yield from self.image(programs, launch=launch, deadlock=deadlock,
                                         offset=cycles, max_cycles=max_cycles - cycles)
            self.image_figures.append((c, s))
            cycles, steps, entry, launch = cycles + c, steps + s, self.next_entry, False
        return cycles, steps

    # The data hooks of the cycle model.

    def _w_take(self, th, put=None):
        ins = th.instr
        if ins["noc"]:   # the row is the low vmm_cols bytes of the MNoC's weight put
            row = np.frombuffer(bytes(put.data), dtype=np.uint8)[:self.cols].copy()
            return [(row, ins["prec"], bool(ins["act_signed"]))]
        beat = []
        for a in (th.src.addr, th.dst.addr) if ins["pair"] else (th.src.addr,):
            self._check_access(th, a, self.word, whole=True)
            beat.append((self.mem[a:a + self.cols].copy(), ins["prec"],
                         bool(ins["act_signed"])))
        return beat

    def _tile(self, rows):
        _, prec, act_signed = rows[-1]   # the mode of the tile's last row
        return Tile(np.stack([row for row, _, _ in rows]), prec, act_signed)

    def _s_take(self, th, entry, pin):
        a = th.src.addr
        self._check_access(th, a, self.word, whole=True)
        if th.n < th.instr["zero"]:
            psum = None
        elif pin is not None:   # from the PNoC input
            psum = np.asarray(pin)
            if psum.shape != (self.rows,) or psum.dtype.kind not in "iu" or \
                    psum.min() < -(1 << 31) or psum.max() >= 1 << 31:
                raise CoreError(f"T1 pc {th.pc}: partial sums from the PNoC must be "
                                f"{self.rows} int32 values, not {pin!r}")
            psum = psum.astype(np.int64)
        else:
            psum = self.psb[entry].copy()
        return self.mem[a:a + self.cols].copy(), psum

    def _vmm(self, tile, operands):
        act, psum = operands
        if psum is None:
            psum = np.zeros(self.rows, dtype=np.int64)
        return self._vmm_unit.dot(tile, act, psum, wrap=True)

    def _psb_write(self, entry, result):
        self.psb[entry] = result

    def _v_const(self, th, slot, index):
        self._consts[slot] = self.vbuf[self._vb(th, index)].copy()

    def _v_take(self, th):
        ins = th.instr
        op = ins.op
        src = th.src.addr
        if op == Op.VCVT:
            value = fp16.from_int32(self.psb[src % len(self.psb)], ins["shift"])
            return self.vbuf, self._vb(th, th.dst.addr), value
        if op == Op.VOP:
            a = self.vbuf[self._vb(th, src)]
            value = self._vector_unit(ins["op"], a, self._consts[0], self._consts[1],
                                      shift=ins["shift"], fmt=ins["fmt"],
                                      out_signed=bool(ins["out_signed"]))
            return self.vbuf, self._vb(th, th.dst.addr), value
        if op == Op.VOPV:
            j = self._vb(th, src)
            a, b = self.vbuf[self._vb(th, src + ins["off"])], self.vbuf[j]
            value = self._vector_unit(ins["op"], a, b, np.zeros_like(a))
            return self.vbuf, j, value
        if op == Op.VLOAD:
            j = self._vb(th, ins["k"] + th.n)
            mode = ins["mode"]
            bits = VloadMode(mode).bits
            n = self.rows * bits // 8
            self._check_access(th, src, n)
            raw = self.mem[src:src + n]
            if mode == 0:
                return self.vbuf, j, raw.view("<u2").copy()
            values = unpack(raw, bits, bool(ins["signed"]))
            return self.vbuf, j, fp16.from_int32(values, ins["shift"])
        if op == Op.VACT:
            value = self._afu.execute(ins["op"], self.vbuf[self._vb(th, src)], ins["p0"],
                                      ins["p1"])
            return self.vbuf, self._vb(th, th.dst.addr), value
        if op == Op.VSTORE:
            n = self.rows * Precision(ins["prec"]).bits // 8
            a = th.dst.addr
            self._check_access(th, a, n)
            data = self.vbuf[self._vb(th, src)].astype("<u2").view(np.uint8)[:n].copy()
            return self.mem, slice(a, a + n), data
        if op == Op.VPOST:
            return self._post(th, ins, src)
        raise CoreError(f"T{th.index} at {th.pc}: {op.name} is not a T2 instruction")

    def _post(self, th, ins, src):
        """A VPOST point: PSB[src] (and the residual at ``dst + res_off``) through the
        fused chain; the packed integers are stored at ``dst`` when it retires."""
        bits = Precision(ins["prec"]).bits
        n = self.rows * bits // 8
        a = th.dst.addr
        self._check_access(th, a, n)
        res = None
        if ins["res"]:
            r = a + ins["res_off"]
            self._check_access(th, r, n)
            res = unpack(self.mem[r:r + n], bits, bool(ins["out_signed"]))
        scale, bias, p = self._consts[0], self._consts[1], self._consts[2]
        params = PostParams(shift=ins["shift"], scale=scale, bias=bias,
                            residual=bool(ins["res"]), res_shift=ins["res_shift"],
                            act=ins["act"], p0=int(p[0]), p1=int(p[1]), prec=ins["prec"],
                            out_signed=bool(ins["out_signed"]))
        packed = self._post_chain.execute(params, self.psb[src % len(self.psb)], res)[0]
        data = np.frombuffer(packed.to_bytes(n, "little"), dtype=np.uint8).copy()
        return self.mem, slice(a, a + n), data

    def _vector_unit(self, op, a, b, c, **kwargs):
        """One vector-unit instruction on a vector: its lanes repeated over the unit's."""
        r = self._repeat
        value, _ = self._vcu.execute(op, np.tile(a, r), np.tile(b, r), np.tile(c, r), **kwargs)
        return value[:self.rows]

    def _v_retire(self, effect):
        target, index, value = effect
        target[index] = value

    def _n_send(self, th):
        a = th.src.addr
        self._check_access(th, a, self.word, whole=True)
        self._check_access(th, th.dst.addr, self.word, whole=True)   # the receiver's
        return self.mem[a:a + self.word].tobytes()

    def _n_write(self, port, put):
        a = put.addr
        if a % self.word or not 0 <= a <= len(self.mem) - self.word:
            raise CoreError(f"a put received on port {NOC_PORTS[port]} writes MEM byte "
                            f"{a:#x}: not a word of MEM")
        self.mem[a:a + self.word] = np.frombuffer(bytes(put.data), dtype=np.uint8)

    def _n_out(self, port, flit):
        self.noc_out[port].append(flit)

    # Checks.

    def _vb(self, th, index):
        if not 0 <= index < len(self.vbuf):
            raise CoreError(f"T{th.index} at {th.pc}: VBUF index {index} outside "
                            f"0..{len(self.vbuf) - 1}")
        return index

    def _check_access(self, th, a, n, whole=False):
        if whole and a % self.word:
            raise CoreError(f"T{th.index} at {th.pc}: address {a:#x} is not word-aligned")
        if a < 0 or a + n > len(self.mem):
            raise CoreError(f"T{th.index} at {th.pc}: access of {n} bytes at {a:#x} is "
                            f"outside MEM")
        if a % min(n, self.word):
            raise CoreError(f"T{th.index} at {th.pc}: access of {n} bytes at {a:#x} is not "
                            f"aligned to {min(n, self.word)} bytes")

