"""The core's program loader: copies the threads' programs from the unified memory into
their buffers, starts the threads and waits for them to end."""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.isa import ADDR_BITS, INSTR_BITS, THREADS, instr_layout
from .memory import mem_port_signature
from .thread import control_signature

__all__ = ["header_layout", "Loader"]


def header_layout():
    """A program image's header (the low ``8 * THREADS`` bits of its first word): byte
    ``t`` is thread ``t``'s program length in instructions."""
    return data.ArrayLayout(8, THREADS)


class Loader(wiring.Component):
    """Run a program image (docs/architecture.md, "Program image and start").

    ``start`` with ``entry`` (a word-aligned byte address), while not ``busy``, is taken
    (``launch`` is high in that cycle): the header word is read, then the instructions
    are streamed, in thread order, one a cycle: each cycle reads the next instruction from
    MEM and writes the one read the cycle before into its thread's buffer (a thread with
    no program costs nothing); each thread with a program is started in the cycle its last
    instruction is written, so it runs while the later threads' programs load. ``busy``
    is high from the cycle after ``launch`` until the first cycle, after the last thread's
    start, in which no thread is running, inclusive; ``run`` is high in the cycles after
    the last thread's start.

    Chaining: a thread that executes NEXT names the image to run after this one (the last
    NEXT executed wins; a launch forgets it). In the cycle in which this image would end,
    the loader launches that image instead, as ``start`` would (``image`` is high), and
    stays ``busy``: a chain of images is one run, whose cycles are the sum of the images'
    own cycles.

    Latency: thread ``t`` starts ``2 + sum(len_u, u <= t)`` cycles after ``launch``
    (``len_u`` thread ``u``'s program length), the last one ``2 + sum(len_t)``.
    Throughput: one instruction a cycle.

    Parameters
    ----------
    word_bytes : int
        Bytes of a MEM word: a multiple of an instruction's 8.
    program_len : int
        Instructions of a thread's program buffer.

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
    threads : Out(control_signature(program_len)).array(THREADS)
        Thread ``t``'s buffer, start and state at index ``t``.
    """

    def __init__(self, word_bytes, program_len):
        if 8 * word_bytes % INSTR_BITS:
            raise ValueError(f"word_bytes must be a multiple of {INSTR_BITS // 8}, "
                             f"not {word_bytes!r}")
        self._word, self._program_len = word_bytes, program_len
        super().__init__({
            "start":   In(1),
            "entry":   In(ADDR_BITS),
            "launch":  Out(1),
            "image":   Out(1),
            "busy":    Out(1),
            "run":     Out(1),
            "mem":     Out(mem_port_signature(word_bytes)),
            "threads": Out(control_signature(program_len)).array(THREADS),
        })

    @property
    def word_bytes(self):
        return self._word

    @property
    def program_len(self):
        return self._program_len

    def elaborate(self, platform):
        m = Module()
        word = self._word
        mem = self.mem
        lengths = Signal(header_layout())
        ptr     = Signal(ADDR_BITS)             # the next instruction's byte address
        t_cur   = Signal(range(THREADS + 1))    # the next instruction's thread (THREADS:
        n_cur   = Signal(8)                     # none left) and index in its program
        w_valid = Signal()                      # the instruction read the cycle before,
        w_t     = Signal(range(THREADS))        # to be written: its thread and index
        w_n     = Signal(8)
        # The instruction read the cycle before, in the word read: its slot in the word.
        slots = 8 * word // INSTR_BITS
        words = data.ArrayLayout(instr_layout(), slots)(mem.rdata)
        w_slot = Signal(max((slots - 1).bit_length(), 1))
        instr = Array(words[k] for k in range(slots))[w_slot]
        # (Arrays of the elements, not a view indexed by a value: that is a shift, which
        # Verilator's lint sees truncated.)
        cur_len = Array(lengths[t] for t in range(THREADS))[t_cur]
        # The image a NEXT named, run when this one ends.
        next_valid = Signal()
        next_entry = Signal(ADDR_BITS)
        for th in self.threads:   # the highest thread wins a tie
            with m.If(th.next):
                m.d.sync += [next_valid.eq(1), next_entry.eq(th.next_entry)]

        def launch(entry):
            m.d.comb += [self.image.eq(1), mem.en.eq(1), mem.addr.eq(entry)]
            m.d.sync += [ptr.eq(entry + word), t_cur.eq(0), n_cur.eq(0),
                         next_valid.eq(0)]
            m.next = "HEADER"

        def first_program(header, after):
            """The first thread after ``after`` (-1: from T0) with a program in ``header``,
            or THREADS: a priority encoder, no chain through the cycles."""
            value = C(THREADS, range(THREADS + 1))
            for t in reversed(range(THREADS)):
                if isinstance(after, int):
                    later = t > after
                elif t == 0:   # no thread number is below 0
                    continue
                else:
                    later = after < t
                value = Mux((header[t] != 0) & later, t, value)
            return value

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.comb += self.launch.eq(1)
                    launch(self.entry)
            with m.State("HEADER"):
                m.d.comb += self.busy.eq(1)
                header = data.View(header_layout(), mem.rdata[:len(lengths.as_value())])
                m.d.sync += [lengths.eq(header), t_cur.eq(first_program(header, -1)),
                             w_valid.eq(0)]
                m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += self.busy.eq(1)
                # Write the instruction read the cycle before; a thread's last starts it.
                for t, th in enumerate(self.threads):
                    with m.If(w_valid & (w_t == t)):
                        m.d.comb += [th.we.eq(1), th.addr.eq(w_n), th.data.eq(instr),
                                     th.start.eq(w_n + 1 == lengths[t])]
                # Read the next one, if any.
                with m.If(t_cur != THREADS):
                    m.d.comb += [mem.en.eq(1), mem.addr.eq(ptr)]
                    m.d.sync += [ptr.eq(ptr + 8), w_valid.eq(1), w_t.eq(t_cur),
                                 w_n.eq(n_cur)]
                    if slots > 1:
                        m.d.sync += w_slot.eq(ptr[3:3 + (slots - 1).bit_length()])
                    with m.If(n_cur + 1 == cur_len):
                        m.d.sync += [t_cur.eq(first_program(lengths, t_cur)), n_cur.eq(0)]
                    with m.Else():
                        m.d.sync += n_cur.eq(n_cur + 1)
                with m.Else():  # the last write (if any): every thread has started
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [self.busy.eq(1), self.run.eq(1)]
                with m.If(~Cat(th.running for th in self.threads).any()):
                    with m.If(next_valid):
                        launch(next_entry)
                    with m.Else():
                        m.next = "IDLE"
        return m
