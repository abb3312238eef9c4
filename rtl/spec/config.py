"""Configuration of a core and of a core array.

Every configuration is a frozen dataclass, validated when it is built: an impossible
parameter set raises :class:`ValueError` naming the parameter and the allowed values, so it
never reaches the generators as a broken netlist.

Three named configurations are provided (see :data:`CONFIGS`):

``sim`` (default)
    2 x 2 array of small cores, for the regression and ``make sim``.
``ulx3s``
    2 x 2 array sized for the ECP5 LFE5U-85F on the ULX3S board.
``northpole``
    16 x 16 array with the reference chip's figures; it elaborates to Verilog and feeds the
    performance model, but is never simulated in CI.
"""

from dataclasses import dataclass, field, replace

from .codes import PRECISIONS
from rtl.spec.isa import ADDR_BITS, INDEX_BITS, INSTR_BITS, SPARE_THREADS, THREADS

__all__ = ["PRECISIONS", "CoreConfig", "ArrayConfig", "CONFIGS", "DEFAULT_CONFIG", "get_config",
           "parse_array"]


def _is_pow2(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0 \
        and value & (value - 1) == 0


def _check_pow2(name, value, *, low=1, high=None):
    if not _is_pow2(value) or value < low or (high is not None and value > high):
        bound = f"from {low}" + (f" to {high}" if high is not None else "")
        raise ValueError(f"{name} must be a power of two {bound}, not {value!r}")


def _check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class CoreConfig:
    """Parameters of one core.

    Parameters
    ----------
    vmm_rows : int
        Output rows of the vector-matrix multiply unit: int32 results per step. Power of two.
    vmm_cols : int
        Byte columns of the VMM: an activation vector is ``vmm_cols`` int8 elements, or
        ``2 * vmm_cols`` int4 or ``4 * vmm_cols`` int2 (the same bits). Power of two.
    precisions : tuple of int
        Weight/activation bit widths the VMM datapath is built for; a non-empty subset of
        ``(8, 4, 2)``.
    mem_port_bits : int
        Width of one unified-memory port in bits. A VMM vector (``8 * vmm_cols`` bits) must
        fit in one port, so that one vector is fetched per cycle, and so must an
        instruction (64 bits): the loader reads a word of instructions a cycle, and a
        program image's header word holds the eight threads' program lengths.
    sram_bank_bytes : int
        Size of one unified-memory bank in bytes. Power of two, and at least one port wide.
    sram_banks : int
        Number of unified-memory banks (any positive number: the reference core has 12).
    vcu_lanes : int
        FP16 lanes of the vector unit. Power of two, at least 4 (so that a vector converted
        to int2 fills whole bytes).
    afu_lanes : int
        FP16 lanes of the activation unit. Power of two, at most ``vcu_lanes``.
    psb_entries : int
        Entries of the partial-sum buffer beside the VMM, each ``vmm_rows`` int32 values.
        Power of two.
    vbuf_entries : int
        Entries of the vector buffer of the post-processing passes, each ``vmm_rows``
        binary16 values. Power of two, at most ``2**INDEX_BITS`` (``2**17``).
    program_len : int
        Instructions each thread's program buffer holds. Power of two.
    thread_program_len : tuple of int
        Per thread, the instructions its program buffer holds, overriding
        ``program_len``: empty (the default) for ``program_len`` everywhere, else one
        power of two per thread (:data:`~rtl.spec.isa.THREADS`), each at least 2 and at
        most ``program_len`` (the FPGA core's LUT RAM: T2's buffer long, the others
        short). :attr:`program_lens` gives each thread's.
    mem_latency : int
        Cycles from a unified-memory read request to its data: 1, or 2 with a register
        stage between the requesters and the banks (the FPGA core's 50 MHz; every read
        comes a cycle later, docs/architecture.md 7.5).
    unit_passes : int
        Cycles the vector and activation units take a vector in: each unit (the fused
        chain's own too) is built with ``1 / unit_passes`` of its lanes and takes a
        vector's lanes in ``unit_passes`` groups, one a cycle
        (:class:`rtl.core.serial.SerialUnit`); T2 then takes a point that uses the units
        at most every ``unit_passes`` cycles, and each unit's latency grows by
        ``unit_passes - 1`` (docs/architecture.md 7.5). A power of two, at most
        ``vmm_rows``; 1 (the default) builds every lane.
    afu_table_reg : bool
        Register the activation unit's table read before its use (the block RAM's output
        register): the unit's latency is 6 cycles instead of 5 (the FPGA core's 50 MHz;
        the chain's and a VACT's one more, docs/architecture.md 7.5).
    spare_threads : bool
        Build T3 and T5, the threads that own no engine (control instructions only). Without
        them (the FPGA core's LUTs) a program image gives them no instructions: the
        assembler, the golden core and the cycle model reject one that does, naming the
        thread (the core's loader would copy its instructions nowhere).

    The VMM's ``vmm_rows`` results of one step are one vector of the vector and activation
    units: ``vmm_rows`` must be at least 4 (an int2 vector fills whole bytes) and at most
    ``afu_lanes`` (so at most ``vcu_lanes``).
    """

    vmm_rows:        int = 4
    vmm_cols:        int = 8
    precisions:      tuple = PRECISIONS
    mem_port_bits:   int = 64
    sram_bank_bytes: int = 8192
    sram_banks:      int = 4
    vcu_lanes:       int = 8
    afu_lanes:       int = 4
    psb_entries:     int = 256
    vbuf_entries:    int = 256
    program_len:     int = 64
    mem_latency:     int = 1
    unit_passes:     int = 1
    afu_table_reg:   bool = False
    spare_threads:   bool = True
    thread_program_len: tuple = ()

    def __post_init__(self):
        _check_pow2("vmm_rows", self.vmm_rows, low=4, high=1024)
        _check_pow2("vmm_cols", self.vmm_cols, high=1024)
        if not isinstance(self.precisions, tuple) or not self.precisions \
                or len(set(self.precisions)) != len(self.precisions) \
                or not set(self.precisions) <= set(PRECISIONS):
            raise ValueError(f"precisions must be a non-empty tuple of distinct values from "
                             f"{PRECISIONS}, not {self.precisions!r}")
        _check_pow2("mem_port_bits", self.mem_port_bits, low=INSTR_BITS)
        if 8 * self.vmm_cols > self.mem_port_bits:
            raise ValueError(f"mem_port_bits must be at least 8 * vmm_cols = {8 * self.vmm_cols} "
                             f"(one VMM vector per memory access), not {self.mem_port_bits}")
        _check_pow2("sram_bank_bytes", self.sram_bank_bytes, low=self.mem_port_bits // 8)
        _check_positive_int("sram_banks", self.sram_banks)
        _check_pow2("vcu_lanes", self.vcu_lanes, low=4)  # int2 results fill whole bytes
        _check_pow2("afu_lanes", self.afu_lanes, high=self.vcu_lanes)
        if self.vmm_rows > self.afu_lanes:
            raise ValueError(f"afu_lanes must be at least vmm_rows = {self.vmm_rows} (one VMM "
                             f"result vector per cycle), not {self.afu_lanes}")
        _check_pow2("psb_entries", self.psb_entries, low=2)
        # (A VLOAD's VBUF offset is its point's index, which a thread counts in
        # INDEX_BITS.)
        _check_pow2("vbuf_entries", self.vbuf_entries, low=2, high=1 << INDEX_BITS)
        _check_pow2("program_len", self.program_len, low=2)
        if type(self.mem_latency) is not int or self.mem_latency not in (1, 2):
            raise ValueError(f"mem_latency must be 1 or 2, not {self.mem_latency!r}")
        # Every lane count is a power of two of at least vmm_rows: unit_passes divides all.
        _check_pow2("unit_passes", self.unit_passes, high=self.vmm_rows)
        if type(self.afu_table_reg) is not bool:
            raise ValueError(f"afu_table_reg must be True or False, not {self.afu_table_reg!r}")
        if type(self.spare_threads) is not bool:
            raise ValueError(f"spare_threads must be True or False, not {self.spare_threads!r}")
        lens = self.thread_program_len
        if not isinstance(lens, tuple) or (lens and (len(lens) != THREADS or not all(
                _is_pow2(n) and 2 <= n <= self.program_len for n in lens))):
            raise ValueError(f"thread_program_len must be () or {THREADS} powers of two from "
                             f"2 to program_len = {self.program_len}, not {lens!r}")

    @property
    def program_lens(self):
        """Each thread's program buffer size, in instructions (:attr:`program_len` for
        every thread unless :attr:`thread_program_len` says otherwise)."""
        return self.thread_program_len or (self.program_len,) * THREADS

    @property
    def threads(self):
        """The threads the core has: all :data:`~rtl.spec.isa.THREADS`, or without
        :data:`~rtl.spec.isa.SPARE_THREADS`."""
        return tuple(t for t in range(THREADS)
                     if self.spare_threads or t not in SPARE_THREADS)

    @property
    def ag_bits(self):
        """Bits of the address generators' addresses in the core: enough for every
        address a valid program's streams use (MEM bytes, VBUF entries; PSB entries are
        taken modulo ``psb_entries``), at most :data:`~rtl.spec.isa.ADDR_BITS`. The
        threads keep bases, strides and points modulo ``2**ag_bits``, which gives every
        such address exactly (docs/architecture.md 7.2)."""
        need = max(self.sram_bytes, self.vbuf_entries, self.psb_entries) - 1
        return min(ADDR_BITS, need.bit_length())

    @property
    def sram_bytes(self):
        """Unified memory per core, in bytes."""
        return self.sram_bank_bytes * self.sram_banks

    @property
    def word_instrs(self):
        """Instructions of a MEM word: the loader writes this many a cycle."""
        return self.mem_port_bits // INSTR_BITS

    @property
    def vmm_macs(self):
        """int8 multiply-accumulates per cycle of the VMM."""
        return self.vmm_rows * self.vmm_cols

    def vmm_peak_ops_per_cycle(self, bits):
        """Peak VMM operations per cycle at ``bits`` precision (one MAC is two operations)."""
        if bits not in self.precisions:
            raise ValueError(f"bits must be one of {self.precisions}, not {bits!r}")
        return 2 * self.vmm_macs * (8 // bits)


@dataclass(frozen=True)
class ArrayConfig:
    """Parameters of an array of identical cores.

    Parameters
    ----------
    name : str
        Name of the configuration; names build folders and generated modules.
    rows, cols : int
        Size of the core array. Powers of two from 1 to 64.
    core : CoreConfig
        The configuration of every core.
    framebuffer_bytes : int
        Size of the framebuffer for input and output tensors. Power of two.
    """

    name:              str = "sim"
    rows:              int = 2
    cols:              int = 2
    core:              CoreConfig = field(default_factory=CoreConfig)
    framebuffer_bytes: int = 65536

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"name must be an identifier, not {self.name!r}")
        _check_pow2("rows", self.rows, high=64)
        _check_pow2("cols", self.cols, high=64)
        if not isinstance(self.core, CoreConfig):
            raise ValueError(f"core must be a CoreConfig, not {self.core!r}")
        _check_pow2("framebuffer_bytes", self.framebuffer_bytes, low=8)

    @property
    def cores(self):
        """Number of cores in the array."""
        return self.rows * self.cols

    @property
    def ident(self):
        """What the machine's host link answers to INFO (docs/architecture.md 10): the
        rows (byte 0), the columns (byte 1) and the CRC-32 of this configuration's
        ``repr`` (bytes 2 to 5, every field of it and of its core), so that the runtime
        refuses a model compiled for another configuration or array than the machine's."""
        import zlib
        return self.rows | self.cols << 8 | zlib.crc32(repr(self).encode()) << 16

    def resized(self, rows, cols):
        """This configuration's cores, framebuffer and all, in a ``rows`` x ``cols``
        array named ``<name>_<rows>x<cols>`` (so that it builds apart); itself if that is
        its size. Raises :class:`ValueError` as the constructor does on a bad size."""
        if (rows, cols) == (self.rows, self.cols):
            return self
        return replace(self, name=f"{self.name}_{rows}x{cols}", rows=rows, cols=cols)


#: The named configurations.
CONFIGS = {
    "sim": ArrayConfig(
        name="sim", rows=2, cols=2,
        core=CoreConfig(vmm_rows=4, vmm_cols=8, mem_port_bits=64,
                        sram_bank_bytes=8192, sram_banks=4,
                        vcu_lanes=8, afu_lanes=4),
        framebuffer_bytes=64 * 1024),
    "ulx3s": ArrayConfig(
        name="ulx3s", rows=2, cols=2,
        # 16 int8 MACs per core: 64 of the 156 MULT18X18D for the 2 x 2 array.
        core=CoreConfig(vmm_rows=4, vmm_cols=4, mem_port_bits=64,
                        sram_bank_bytes=4096, sram_banks=4,
                        vcu_lanes=4, afu_lanes=4, psb_entries=128, vbuf_entries=128,
                        # The FPGA's 50 MHz (a MEM register stage, the activation
                        # table's read registered) and its LUTs (the vector and
                        # activation units and the fused chain one lane each).
                        mem_latency=2, unit_passes=4, afu_table_reg=True,
                        # T3 and T5 (no engine, unused by the compiler): their LUTs;
                        # and short program buffers but T2's.
                        spare_threads=False,
                        thread_program_len=(32, 32, 64, 32, 32, 32, 32, 32)),
        framebuffer_bytes=32 * 1024),
    "northpole": ArrayConfig(
        name="northpole", rows=16, cols=16,
        # 1024 int8 MACs (2048 ops/cycle), 768 KiB in 12 banks of 64 KiB, a 256-bit port.
        core=CoreConfig(vmm_rows=32, vmm_cols=32, mem_port_bits=256,
                        sram_bank_bytes=64 * 1024, sram_banks=12,
                        vcu_lanes=256, afu_lanes=32, psb_entries=1024, vbuf_entries=1024),
        framebuffer_bytes=32 * 1024 * 1024),
}

DEFAULT_CONFIG = "sim"


def get_config(name=DEFAULT_CONFIG):
    """Return the named configuration; raise :class:`ValueError` for an unknown name."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"config must be one of {sorted(CONFIGS)}, not {name!r}") from None


def parse_array(text):
    """``(rows, cols)`` of an array written ``RxC`` (``"1x2"``), as the command lines'
    ``--array`` takes it; :class:`ValueError` if it is not two decimal numbers around an
    ``x`` (:meth:`ArrayConfig.resized` checks the numbers)."""
    parts = text.lower().split("x") if isinstance(text, str) else []
    if len(parts) != 2 or not all(p.isdecimal() for p in parts):
        raise ValueError(f"--array must be RxC (e.g. 1x2), not {text!r}")
    return int(parts[0]), int(parts[1])
