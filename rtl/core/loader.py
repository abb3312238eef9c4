"""The core's program loader: copies the threads' programs from the unified memory into
their buffers, starts the threads and waits for them to end."""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.isa import ADDR_BITS, INSTR_BITS, THREADS, instr_layout
from .memory import mem_port_signature
from .thread import control_signature, write_ports

__all__ = ["header_layout", "Loader"]


def header_layout():
    """A program image's header (the low ``8 * THREADS`` bits of its first word): byte
    ``t`` is thread ``t``'s program length in instructions."""
    return data.ArrayLayout(8, THREADS)


class Loader(wiring.Component):
    """Run a program image (docs/architecture.md, "Program image and start").

    ``start`` with ``entry`` (a word-aligned byte address), while not ``busy``, is taken
    (``launch`` is high in that cycle): the header word is read, then the instructions
    are streamed, in thread order, a MEM word a cycle: each cycle reads the next word and
    writes the instructions of the word read the cycle before (``word_bytes / 8`` of them,
    through as many write ports of the threads' buffers) into their threads' buffers (a
    thread with no program costs nothing); each thread with a program is started in the
    cycle its last instruction is written, so it runs while the later threads' programs
    load. ``busy`` is high from the cycle after ``launch`` until the first cycle, after the
    load, in which no thread is running, inclusive; ``run`` is high in the cycles after
    the load (the cycle that writes the last word).

    Chaining: a thread that executes NEXT names the image to run after this one (the last
    NEXT executed wins; a launch forgets it). In the cycle in which this image would end,
    the loader launches that image instead, as ``start`` would (``image`` is high), and
    stays ``busy``: a chain of images is one run, whose cycles are the sum of the images'
    own cycles.

    Latency: with ``s = word_bytes / 8`` instructions a word and ``d = 2 * (mem_latency
    - 1)`` (the header's read and the words' reads each wait a cycle longer for their
    data with ``mem_latency`` 2), instruction ``i`` of the image (from 0, all threads'
    programs in order) is written ``3 + d + i // s`` cycles after ``launch``, so thread
    ``t`` starts ``3 + d + (sum(len_u, u <= t) - 1) // s`` cycles after it (``len_u``
    thread ``u``'s program length) and the load ends (its last write) ``2 + d +
    ceil(sum(len_t) / s)`` cycles after it. Throughput: a word (``s`` instructions) a
    cycle.

    Parameters
    ----------
    word_bytes : int
        Bytes of a MEM word: a multiple of an instruction's 8.
    program_len : int
        Instructions of a thread's program buffer.
    mem_latency : int
        Cycles from a MEM read to its data (the unified memory's ``latency``).

    Members
    -------
    start : In(1)
    entry : In(ADDR_BITS)
    launch : Out(1)
        ``start`` is taken (combinational).
    image : Out(1)
        An image is launched: by ``start`` or by a chain (combinational).
    busy : Out(1)
    run : Out(1)
    mem : Out(mem_port_signature(word_bytes))
    threads : Out(control_signature(program_len, word_bytes // 8)).array(THREADS)
        Thread ``t``'s buffer, start and state at index ``t``.
    """

    def __init__(self, word_bytes, program_len, mem_latency=1):
        if 8 * word_bytes % INSTR_BITS:
            raise ValueError(f"word_bytes must be a multiple of {INSTR_BITS // 8}, "
                             f"not {word_bytes!r}")
        self._word, self._program_len = word_bytes, program_len
        self._latency = mem_latency
        self.slots = 8 * word_bytes // INSTR_BITS   # instructions of a MEM word
        super().__init__({
            "start":   In(1),
            "entry":   In(ADDR_BITS),
            "launch":  Out(1),
            "image":   Out(1),
            "busy":    Out(1),
            "run":     Out(1),
            "mem":     Out(mem_port_signature(word_bytes)),
            "threads": Out(control_signature(program_len, self.slots)).array(THREADS),
        })

    @property
    def word_bytes(self):
        return self._word

    @property
    def program_len(self):
        return self._program_len

    def elaborate(self, platform):
        m = Module()
        word, slots = self._word, self.slots
        mem = self.mem
        index = range(THREADS * 255 + slots + 1)   # an instruction's index in the image
        lengths = Signal(header_layout())
        first   = [Signal(index, name=f"first{t}") for t in range(THREADS)]
        total   = Signal(index)                 # instructions of the image
        ptr     = Signal(ADDR_BITS)             # the next word's byte address
        r_index = Signal(index)                 # the next word's first instruction
        # The words read and not yet written (stage k: read k + 1 cycles before): whether
        # valid, the word's first instruction. The last stage's is written.
        stages = [(Signal(name=f"w_valid{k}"), Signal(index, name=f"w_index{k}"))
                  for k in range(self._latency)]
        w_valid, w_index = stages[-1]
        instrs = data.ArrayLayout(instr_layout(), slots)(mem.rdata)
        # The image a NEXT named, run when this one ends.
        next_valid = Signal()
        next_entry = Signal(ADDR_BITS)
        for th in self.threads:   # the highest thread wins a tie
            with m.If(th.next):
                m.d.sync += [next_valid.eq(1), next_entry.eq(th.next_entry)]

        # Each program's first instruction in the image and the image's instructions:
        # prefix sums of the lengths (Sklansky's: three levels of adders, shared), from the
        # registered header and registered, so they are ready from the second LOAD cycle
        # (not a chain of seven adders from the bank's read data). The first LOAD cycle
        # reads the first word if any length is not 0; the words' data is written
        # (``first`` and ``lengths`` used) from the second LOAD cycle on.
        nonempty = Signal()   # the header names an instruction
        load0 = Signal()      # the first LOAD cycle
        sums = [lengths[t] for t in range(THREADS)]   # sums[t]: lengths 0 .. t
        span = 1
        while span < THREADS:
            sums = [sums[t] + sums[(t // span) * span - 1] if (t // span) % 2 else sums[t]
                    for t in range(THREADS)]
            span *= 2
        m.d.sync += [first[0].eq(0), total.eq(sums[-1])]
        m.d.sync += [first[t].eq(sums[t - 1]) for t in range(1, THREADS)]

        def launch(entry):
            m.d.comb += [self.image.eq(1), mem.en.eq(1), mem.addr.eq(entry)]
            m.d.sync += [ptr.eq(entry + word), r_index.eq(0), next_valid.eq(0)]
            m.d.sync += [valid.eq(0) for valid, _ in stages]
            m.next = "HEADER" if self._latency == 1 else "HEADER_WAIT"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.comb += self.launch.eq(1)
                    launch(self.entry)
            with m.State("HEADER_WAIT"):   # (mem_latency 2) the header's read data comes
                m.d.comb += self.busy.eq(1)
                m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += self.busy.eq(1)
                header = mem.rdata[:len(lengths.as_value())]
                m.d.sync += [lengths.eq(header), nonempty.eq(header.any()), load0.eq(1)]
                m.next = "LOAD"
            with m.State("LOAD"):
                m.d.sync += load0.eq(0)
                m.d.comb += self.busy.eq(1)
                # Write the word read the cycle before; a thread's last instruction
                # starts it.
                for t, th in enumerate(self.threads):
                    last = []
                    for k, port in enumerate(write_ports(th)):
                        i = (w_index + k)[:len(total)]
                        n = (i - first[t])[:len(total)]
                        hit = w_valid & (i >= first[t]) & (n < lengths[t])
                        m.d.comb += [port.en.eq(hit), port.addr.eq(n),
                                     port.data.eq(instrs[k])]
                        last.append(hit & (n + 1 == lengths[t]))
                    m.d.comb += th.start.eq(Cat(last).any())
                # Read the next word, if any.
                for (valid, idx), (prev_valid, prev_idx) in zip(stages[1:], stages, strict=False):
                    m.d.sync += [valid.eq(prev_valid), idx.eq(prev_idx)]
                with m.If(Mux(load0, nonempty, r_index < total)):
                    m.d.comb += [mem.en.eq(1), mem.addr.eq(ptr)]
                    m.d.sync += [ptr.eq(ptr + word), r_index.eq(r_index + slots),
                                 stages[0][0].eq(1), stages[0][1].eq(r_index)]
                with m.Else():
                    m.d.sync += stages[0][0].eq(0)
                    # The last write (if any): every thread has started.
                    with m.If(~Cat(valid for valid, _ in stages[:-1]).any()):
                        m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [self.busy.eq(1), self.run.eq(1)]
                with m.If(~Cat(th.running for th in self.threads).any()):
                    with m.If(next_valid):
                        launch(next_entry)
                    with m.Else():
                        m.next = "IDLE"
        return m
