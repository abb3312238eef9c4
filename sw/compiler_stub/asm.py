"""Assembler and disassembler of the core's thread programs (docs/architecture.md, 7.2-7.4).

Text format: one instruction a line, ``MNEMONIC field=value ...`` with the fields of
:data:`~rtl.spec.isa.FORMATS` by name, in any order (omitted fields are 0); values are
decimal or ``0x`` hex, negative for signed fields; mnemonics and field names are
case-insensitive. ``#`` and ``;`` start comments. A line ``.thread N`` starts thread
``N``'s program (each thread has at most one); a line ``.remote ctr=C count=K`` declares
that counter ``C`` receives ``K`` SIGNALs from other cores in the run (puts with
``signal``; :class:`Program`'s ``remote``); blank lines are ignored::

    .thread 0
        AGBASE g=0 base=0
        AGDIM g=0 d=0 count=4 stride=8
        LOOP count=6
            WSTREAM s=0 prec=0 act_signed=1
            AGADD g=0 delta=32
        ENDL
        END

A :class:`Program` is validated when it is built, whatever it is built from: text
(:func:`assemble`), a program image (:meth:`Program.from_image`) or instructions. Besides
the per-instruction rules (owner thread, loop nesting, END last, non-zero counts) the
validation executes every thread statically (no instruction branches on data) and checks
the address range of every stream against its memory (MEM bytes, VBUF entries; PSB
indices wrap), its alignment, the point counts of generators walked in lockstep (a
WSTREAM walks ``d`` only with ``pair``: :func:`rtl.spec.isa.uses_d`), that a pair
WSTREAM's first two rows are in different MEM banks (the two reads of one cycle; a
WSTREAM with ``noc`` walks ``s`` only to count its rows and cannot pair them), that only
T6 SENDs weights (``weight``, without ``start`` or ``signal``), and that
no counter is waited on more often than it is signalled. Loops are not unrolled: a loop
body's second iteration stands for all the later ones, which differ from it only by a
constant shift of each generator's base (the body's AGADDs, or none when it sets the base
with AGBASE), so a loop adds one dimension ``(count - 1, shift)`` to the address patterns
of the streams in its body.

Programs are static, so the validation finally runs them on the cycle model
(:mod:`sw.golden.cycles`, which needs no data) and rejects a program that deadlocks or
overflows a counter, naming the waiting threads and the counters. The cycle model takes
every SEND and partial-sum vector (each output always ready), feeds partial sums to the
PNoC input and weight puts to the MNoC's whenever a step or a WSTREAM with ``noc`` wants
one (:func:`sw.golden.cycles.partners`), and counts the declared remote SIGNALs at the
start: a NoC
program is checked as if its partners kept up. The check is skipped
(the program accepted) when a thread's static lower bound on its cycles (its stream
points, SIGNALs and WAITs) exceeds :data:`DEADLOCK_CHECK_CYCLES`, or when the cycle model
has not finished within that many cycles; ``check_deadlock=False`` skips it too.
"""

import math
import re
from dataclasses import dataclass, field

from rtl.spec.codes import RESERVED_PRECISION, Precision, VloadMode
from rtl.spec.isa import (AG_DIMS, AGS, COUNTERS, FORMATS, LOOP_DEPTH, NOC_PORTS,
                           NOC_THREADS, THREAD_OF, THREADS, Instr, Op, decode, encode, uses_d)
from sw.golden.cycles import (CoreError, CounterOverflow, CycleModel, Deadlock, Unfinished,
                              partners)
from sw.golden.thread import signals_when_done

__all__ = ["AsmError", "Program", "assemble", "disassemble", "disassemble_image",
           "MAX_PROGRAM", "DEADLOCK_CHECK_CYCLES"]

#: The most instructions a thread's program can have: the image header gives its length
#: in one byte.
MAX_PROGRAM = 255

#: The most cycles the deadlock check runs the cycle model for (about 2 s); longer
#: programs are accepted without it.
DEADLOCK_CHECK_CYCLES = 200_000

_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+)")

# The generators each data instruction walks: (field naming the generator, memory), where
# "word" is whole MEM words and "lanes" a vector's packed lanes in MEM. VLOAD writes
# VBUF[k + n] for its n-th point. Two generators are walked in lockstep. A WSTREAM walks
# its d only with pair set (_access).
_ACCESS = {
    Op.WSTREAM: (("s", "word"), ("d", "word")),
    Op.SSTREAM: (("s", "word"), ("d", "PSB")),
    Op.VCVT:    (("s", "PSB"), ("d", "VBUF")),
    Op.VOP:     (("s", "VBUF"), ("d", "VBUF")),
    Op.VOPV:    (("s", "VBUF"),),
    Op.VLOAD:   (("s", "lanes"),),
    Op.VACT:    (("s", "VBUF"), ("d", "VBUF")),
    Op.VSTORE:  (("s", "VBUF"), ("d", "lanes")),
    Op.VPOST:   (("s", "PSB"), ("d", "lanes")),
    Op.SEND:    (("s", "word"), ("d", "word")),   # d: the receivers' MEM, same size
}
_ROLE = {"s": "source", "d": "destination"}
#: The thread that owns the MNoC: the only one whose SENDs may carry weights.
_MNOC_THREAD = NOC_THREADS[NOC_PORTS.index("mnoc")]


def _access(ins):
    """The generators ``ins`` walks (the entries of ``_ACCESS`` that :func:`uses_d`
    keeps). A WSTREAM with ``noc`` walks ``s`` only to count its points ("points": its
    rows come from the MNoC, not MEM)."""
    if ins.op == Op.WSTREAM and ins["noc"]:
        return (("s", "points"),)
    return tuple(entry for entry in _ACCESS[ins.op] if entry[0] == "s" or uses_d(ins))


class AsmError(ValueError):
    """An invalid program. The message names the thread, the instruction's index in the
    thread's program, its source line (when assembled from text) and its text."""


def _where(thread, index, line, text):
    where = f"thread {thread}, instruction {index}"
    if line is not None:
        where += f", line {line}"
    return f'{where} "{text}": '


@dataclass(frozen=True)
class _Event:
    """Executions of one instruction found by the static execution: ``times`` of them,
    walking ``patterns``, one ``(generator, base, ((count, stride), ...))`` per generator
    used: its own dimensions, then one per enclosing loop whose later iterations the event
    stands for."""
    index: int
    times: int = 1
    patterns: tuple = ()

    def repeat(self, count, shifts):
        """The event ``count`` more times, generator ``g``'s base shifted by ``shifts[g]``
        each time."""
        patterns = tuple((g, base, dims + ((count, shifts[g]),))
                         for g, base, dims in self.patterns)
        return _Event(self.index, self.times * count, patterns)


@dataclass(frozen=True)
class Program:
    """The validated programs of a core's threads.

    Parameters
    ----------
    core : rtl.spec.config.CoreConfig
        The core the programs run on (memory sizes, program buffer length, word size).
    threads : sequence of sequence of Instr
        Each thread's program, thread 0 first; missing threads have empty programs.
    source : sequence of sequence of (int, str), optional
        Per instruction, the source line number and text it was assembled from, for error
        messages. Not compared.
    check_deadlock : bool
        Run the programs on the cycle model and reject a deadlock or a counter overflow
        (the default; see the module description). Not compared.
    remote : dict, optional
        ``{counter: count}``: the SIGNALs the core receives from other cores in the run
        (puts with ``signal`` set, docs/architecture.md 7.5), counted with the local
        ones by the counter check and assumed there from the start by the deadlock
        check. Not compared, not in the image.

    Raises
    ------
    AsmError
        If any program is invalid (see the module description).
    """

    core: object
    threads: tuple
    source: tuple = field(default=None, compare=False, repr=False)
    check_deadlock: bool = field(default=True, compare=False, repr=False, kw_only=True)
    remote: dict = field(default=None, compare=False, repr=False, kw_only=True)

    def __post_init__(self):
        threads = [tuple(Instr(ins.op, {name: ins[name] for name, _, _ in FORMATS[ins.op]})
                         for ins in code) for code in self.threads]
        if len(threads) > THREADS:
            raise AsmError(f"{len(threads)} thread programs; a core has {THREADS} threads")
        threads += [()] * (THREADS - len(threads))
        object.__setattr__(self, "threads", tuple(threads))
        remote = dict(self.remote or {})
        for ctr, count in remote.items():
            if not isinstance(ctr, int) or isinstance(ctr, bool) or not 0 <= ctr < COUNTERS:
                raise AsmError(f"remote: counter {ctr!r} is not one of 0..{COUNTERS - 1}")
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise AsmError(f"remote: counter {ctr}'s count must be a positive "
                               f"integer, not {count!r}")
        object.__setattr__(self, "remote", remote)
        if self.source is not None:
            source = [tuple(lines) for lines in self.source]
            object.__setattr__(self, "source", tuple(source + [()] * (THREADS - len(source))))
        matches = [self._check_structure(t) for t in range(THREADS)]
        nexts = [(t, i) for t in range(THREADS) for i, ins in enumerate(self.threads[t])
                 if ins.op == Op.NEXT]
        if len(nexts) > 1:
            (t0, i0), (t, i) = nexts[:2]
            raise self._error(t, i, f"a second NEXT in the image (the first is T{t0}'s "
                              f"instruction {i0}): which one runs last would depend on "
                              f"timing")
        events = [self._execute(t, matches[t]) for t in range(THREADS)]
        for t in range(THREADS):
            for event in events[t]:
                if event.patterns:
                    self._check_stream(t, event)
        self._check_counters(events)
        if self.check_deadlock:
            self._check_deadlock(events)

    # Building and encoding.

    @classmethod
    def from_image(cls, data, core, *, check_deadlock=True, remote=None):
        """Decode and validate a program image (docs/architecture.md, 7.4).

        Parameters
        ----------
        data : bytes-like
            The image: a header word whose byte ``t`` is thread ``t``'s length, then the
            instructions of threads 0 to 7, 8 bytes each, little-endian. Bytes after the
            last instruction are ignored.
        core : rtl.spec.config.CoreConfig
        check_deadlock, remote
            As for :class:`Program`.

        Returns
        -------
        Program

        Raises
        ------
        AsmError
            If the image is too short, a header byte past the lengths is not zero, a word
            does not decode (invalid opcode, unused bits set) or the program is invalid.
        """
        data, word = bytes(data), core.mem_port_bits // 8
        if len(data) < word:
            raise AsmError(f"an image of {len(data)} bytes has no {word}-byte header word")
        lengths = list(data[:min(word, THREADS)]) + [0] * (THREADS - min(word, THREADS))
        if any(data[THREADS:word]):
            raise AsmError(f"header bytes {THREADS}..{word - 1} must be zero, not "
                           f"{data[THREADS:word].hex()}")
        if len(data) < word + 8 * sum(lengths):
            raise AsmError(f"the header gives {sum(lengths)} instructions of lengths {lengths} "
                           f"but the image of {len(data)} bytes holds "
                           f"{(len(data) - word) // 8}")
        threads, pos = [], word
        for t, length in enumerate(lengths):
            code = []
            for i in range(length):
                value = int.from_bytes(data[pos:pos + 8], "little")
                pos += 8
                try:
                    code.append(decode(value))
                except ValueError as exc:
                    raise AsmError(_where(t, i, None, f"{value:#018x}") + str(exc)) from None
            threads.append(code)
        return cls(core, threads, check_deadlock=check_deadlock, remote=remote)

    def words(self):
        """Return each thread's program as a list of 64-bit instruction words."""
        return [[encode(ins) for ins in code] for code in self.threads]

    def image(self):
        """Return the program image (docs/architecture.md, 7.4).

        Returns
        -------
        bytes
            A header word (``mem_port_bits // 8`` bytes) whose byte ``t`` is thread
            ``t``'s length, the instructions of threads 0 to 7 (8 bytes each,
            little-endian), zeros up to a whole number of words.
        """
        word = self.core.mem_port_bits // 8
        header = bytearray(word)
        for t, code in enumerate(self.threads[:word]):
            header[t] = len(code)
        data = bytes(header) + b"".join(value.to_bytes(8, "little")
                                        for code in self.words() for value in code)
        return data + bytes(-len(data) % word)

    # Validation.

    def _error(self, t, i, message):
        line, text = self.source[t][i] if self.source else (None, str(self.threads[t][i]))
        return AsmError(_where(t, i, line, text) + message)

    def _check_structure(self, t):
        """Check thread ``t``'s instructions one by one and its loop nesting; return the
        index of the ENDL matching each LOOP."""
        code, core = self.threads[t], self.core
        if code and t not in core.threads:
            raise self._error(t, 0, f"this core has no T{t} (spare_threads is False: "
                              f"T{t} owns no engine, and the core is built without it)")
        limit = min(core.program_lens[t], MAX_PROGRAM)
        if len(code) > limit:
            raise self._error(t, limit, f"the program has {len(code)} instructions, more "
                              f"than {limit} (T{t}'s program_len {core.program_lens[t]}, "
                              f"and one header byte)")
        loops, match, ended = [], {}, False
        for i, ins in enumerate(code):
            op = ins.op
            if ended:
                raise self._error(t, i, "unreachable: it follows the program's END")
            if op in THREAD_OF and t not in THREAD_OF[op]:
                owners = ", ".join(str(owner) for owner in THREAD_OF[op])
                raise self._error(t, i, f"{op.name} runs only on thread {owners}")
            if op == Op.LOOP:
                if ins["count"] == 0:
                    raise self._error(t, i, "LOOP count must be at least 1")
                if len(loops) == LOOP_DEPTH:
                    raise self._error(t, i, f"loops nested deeper than {LOOP_DEPTH}")
                loops.append(i)
            elif op == Op.ENDL:
                if not loops:
                    raise self._error(t, i, "ENDL without LOOP")
                match[loops.pop()] = i
            elif op == Op.END:
                if loops:
                    raise self._error(t, i, f"END inside the loop of instruction {loops[-1]}")
                ended = True
            elif op == Op.AGDIM and ins["count"] == 0:
                raise self._error(t, i, "AGDIM count must be at least 1")
            elif op == Op.SEND and ins["weight"] and (ins["start"] or ins["signal"]):
                raise self._error(t, i, "SEND weight=1 puts go to the receivers' T0, not "
                                  "to MEM: they can carry neither start nor signal")
            elif op == Op.SEND and ins["weight"] and t != _MNOC_THREAD:
                raise self._error(t, i, "SEND weight=1 goes over the MNoC: only thread "
                                  f"{_MNOC_THREAD} sends weights")
            elif op == Op.WSTREAM and ins["noc"] and ins["pair"]:
                raise self._error(t, i, "WSTREAM noc=1 takes one row a point from the "
                                  "MNoC: it cannot pair rows")
            elif op == Op.SEND and ins["start"] and t != NOC_THREADS[NOC_PORTS.index("inoc")]:
                raise self._error(t, i, "SEND start=1 goes over the INoC: only thread "
                                  f"{NOC_THREADS[NOC_PORTS.index('inoc')]} starts a core")
            elif op == Op.SEND and (ins["x0"] > ins["x1"] or ins["y0"] > ins["y1"]):
                raise self._error(t, i, f"SEND's rectangle is empty: columns x0={ins['x0']} "
                                  f"to x1={ins['x1']}, rows y0={ins['y0']} to "
                                  f"y1={ins['y1']} (x0 <= x1 and y0 <= y1)")
            elif op == Op.SSTREAM and ins["period"] == 0:
                raise self._error(t, i, "SSTREAM period must be at least 1")
            elif op in (Op.VSTORE, Op.VPOST) and ins["prec"] == RESERVED_PRECISION:
                raise self._error(t, i, f"{op.name} prec 3 is reserved")
            elif op == Op.NEXT and (ins["entry"] % (core.mem_port_bits // 8)
                                    or ins["entry"] >= core.sram_banks * core.sram_bank_bytes):
                raise self._error(t, i, f"NEXT entry={ins['entry']:#x} is not a word-aligned "
                                  f"address in MEM (0 to "
                                  f"{core.sram_banks * core.sram_bank_bytes - 1:#x})")
            elif op == Op.VPOST and ins["k"] + 2 >= core.vbuf_entries:
                raise self._error(t, i, f"its constants VBUF[k..k+2] = {ins['k']}.."
                                  f"{ins['k'] + 2} are outside 0..{core.vbuf_entries - 1}")
            elif op in (Op.VOP, Op.VOPV):
                for name in ("kb", "kc") if op == Op.VOP else ("off",):
                    if ins[name] >= core.vbuf_entries:
                        raise self._error(t, i, f"{name}={ins[name]} is outside VBUF "
                                          f"0..{core.vbuf_entries - 1}")
        if loops:
            raise self._error(t, loops[-1], "LOOP without ENDL")
        if code and not ended:
            raise self._error(t, len(code) - 1, "the program does not end with END")
        return match

    def _execute(self, t, match):
        """Statically execute thread ``t``; return the events of its stream, SIGNAL and
        WAIT instructions."""
        ags = [[0, [(1, 0)] * AG_DIMS] for _ in range(AGS)]
        events = []
        self._run(self.threads[t], match, 0, len(self.threads[t]), ags, events)
        return events

    def _run(self, code, match, start, stop, ags, events):
        """Execute ``code[start:stop]`` from generator state ``ags`` (``[base, dims]`` per
        generator, updated), appending events to ``events``."""
        i = start
        while i < stop:
            ins = code[i]
            if ins.op == Op.LOOP:
                end, count = match[i], ins["count"]
                self._run(code, match, i + 1, end, ags, events)
                if count > 1:
                    before, later = [base for base, _ in ags], []
                    self._run(code, match, i + 1, end, ags, later)
                    shifts = [ag[0] - base for ag, base in zip(ags, before, strict=True)]
                    events.extend(event.repeat(count - 1, shifts) for event in later)
                    for ag, shift in zip(ags, shifts, strict=True):
                        ag[0] += (count - 2) * shift
                i = end
            elif ins.op == Op.AGBASE:
                ags[ins["g"]] = [ins["base"], [(1, 0)] * AG_DIMS]
            elif ins.op == Op.AGDIM:
                ags[ins["g"]][1][ins["d"]] = (ins["count"], ins["stride"])
            elif ins.op == Op.AGADD:
                ags[ins["g"]][0] += ins["delta"]
            elif ins.op in (Op.SIGNAL, Op.WAIT):
                events.append(_Event(i))
            elif ins.op in _ACCESS:
                patterns = tuple((ins[name], ags[ins[name]][0], tuple(ags[ins[name]][1]))
                                 for name, _ in _access(ins))
                events.append(_Event(i, patterns=patterns))
            i += 1

    def _check_stream(self, t, event):
        """Check the address patterns of one stream event against their memories."""
        core, i = self.core, event.index
        ins = self.threads[t][i]
        points = [math.prod(count for count, _ in dims[:AG_DIMS])
                  for _, _, dims in event.patterns]
        if len(points) == 2 and points[0] != points[1]:
            raise self._error(t, i, f"the source AG{ins['s']} walks {points[0]} points and "
                              f"the destination AG{ins['d']} {points[1]}; in lockstep they "
                              f"must be equal")
        if ins.op == Op.VLOAD and ins["k"] + points[0] > core.vbuf_entries:
            raise self._error(t, i, f"its {points[0]} vectors reach VBUF entries "
                              f"{ins['k']}..{ins['k'] + points[0] - 1}, outside "
                              f"0..{core.vbuf_entries - 1}")
        for (name, memory), (g, base, dims) in zip(_access(ins), event.patterns,
                                                    strict=True):
            ag = f"the {_ROLE[name]} AG{g}"
            low = base + sum(min(0, (count - 1) * stride) for count, stride in dims)
            high = base + sum(max(0, (count - 1) * stride) for count, stride in dims)
            if memory in ("PSB", "points"):
                continue  # PSB indices are taken modulo psb_entries; "points": no memory
            if memory == "VBUF":
                if low < 0 or high >= core.vbuf_entries:
                    raise self._error(t, i, f"{ag} reaches VBUF entries {low}..{high}, "
                                      f"outside 0..{core.vbuf_entries - 1}")
                if ins.op == Op.VOPV and high + ins["off"] >= core.vbuf_entries:
                    raise self._error(t, i, f"its operands at {ag} + off reach VBUF entry "
                                      f"{high + ins['off']}, outside "
                                      f"0..{core.vbuf_entries - 1}")
                continue
            size = core.mem_port_bits // 8 if memory == "word" else self._lane_bytes(ins)
            if ins.op == Op.VPOST and ins["res"]:   # the residual, read at d + res_off
                self._check_mem(t, i, f"the residual (destination AG{g} + res_off)",
                                low + ins["res_off"], high + ins["res_off"],
                                base + ins["res_off"], dims, size, memory)
            self._check_mem(t, i, ag, low, high, base, dims, size, memory)
        if ins.op == Op.WSTREAM and ins["pair"]:
            (_, s_base, _), (_, d_base, _) = event.patterns
            if s_base // core.sram_bank_bytes == d_base // core.sram_bank_bytes:
                raise self._error(t, i, f"its first two rows, MEM bytes {s_base} and "
                                  f"{d_base}, are in one bank: the pair's two reads would "
                                  f"conflict")

    def _check_mem(self, t, i, ag, low, high, base, dims, size, memory):
        """Check that the accesses of ``size`` bytes from ``low`` to ``high`` (a pattern
        from ``base`` over ``dims``) are inside MEM and aligned."""
        core = self.core
        if low < 0 or high + size > core.sram_bytes:
            raise self._error(t, i, f"{ag} reaches MEM bytes {low}..{high + size - 1}, "
                              f"outside 0..{core.sram_bytes - 1}")
        # Every point is aligned if and only if the base and every stride that is
        # walked (count > 1) are: test the base, then base + stride.
        for address in [base] + [base + stride for count, stride in dims if count > 1]:
            if address % size:
                what = "a whole word" if memory == "word" else "a vector"
                raise self._error(t, i, f"{ag} visits MEM byte {address}, not a multiple "
                                  f"of {size} ({what} of {size} bytes)")

    def _lane_bytes(self, ins):
        """Bytes of one VLOAD, VSTORE or VPOST access: ``vmm_rows`` lanes of 16, 8, 4 or 2
        bits."""
        bits = VloadMode(ins["mode"]).bits if ins.op == Op.VLOAD else Precision(ins["prec"]).bits
        return self.core.vmm_rows * bits // 8

    def _check_counters(self, events):
        """Reject a WAIT on a counter that is never signalled, or signalled fewer times
        over the whole execution than it is waited on."""
        signals, waits, first = [0] * COUNTERS, [0] * COUNTERS, {}
        for ctr, count in self.remote.items():
            signals[ctr] += count
        for t, thread_events in enumerate(events):
            for event in thread_events:
                ins = self.threads[t][event.index]
                if ins.op == Op.SIGNAL or signals_when_done(ins):
                    signals[ins["ctr"]] += event.times
                elif ins.op == Op.WAIT:
                    waits[ins["ctr"]] += event.times
                    first.setdefault(ins["ctr"], (t, event.index))
        for ctr, (t, i) in sorted(first.items()):
            if not signals[ctr]:
                raise self._error(t, i, f"no thread SIGNALs counter {ctr} (and no remote "
                                  f"SIGNALs are declared for it)")
            if waits[ctr] > signals[ctr]:
                raise self._error(t, i, f"counter {ctr} is waited on {waits[ctr]} times but "
                                  f"signalled only {signals[ctr]} times: the threads cannot "
                                  f"finish")

    def _check_deadlock(self, events):
        """Run the programs on the cycle model; reject a deadlock or a counter overflow.
        T0's WSTREAMs with ``noc`` find a weight put at the MNoC whenever they want one (as
        if the senders kept up)."""
        for thread_events in events:
            bound = sum(event.times * math.prod(count for _, _, dims in event.patterns[:1]
                                                for count, _ in dims[:AG_DIMS])
                        for event in thread_events)
            if bound > DEADLOCK_CHECK_CYCLES:
                return
        try:
            CycleModel(self.core).run(self.threads, arrivals=partners(), credits=self.remote,
                                      max_cycles=DEADLOCK_CHECK_CYCLES)
        except Unfinished:
            return
        except Deadlock as exc:
            t, pc, _, _ = exc.threads[0]
            raise self._error(t, pc, str(exc)) from None
        except CounterOverflow as exc:
            t, pc = exc.threads[0]
            raise self._error(t, pc, str(exc)) from None
        except CoreError as exc:   # the static checks above rule this out
            raise AsmError(f"the cycle model stopped: {exc}") from None


def _number(text):
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    return sign * (int(digits[2:], 16) if digits[:2].lower() == "0x" else int(digits, 10))


def _parse(line):
    """Parse one instruction line (comment removed); raise ValueError if it is invalid."""
    mnemonic, *items = re.sub(r"\s*=\s*", "=", line).split()
    try:
        op = Op[mnemonic.upper()]
    except KeyError:
        raise ValueError(f"unknown mnemonic {mnemonic!r}") from None
    names = [name for name, _, _ in FORMATS[op]]
    args, given = dict.fromkeys(names, 0), set()
    for item in items:
        name, equals, value = item.partition("=")
        name = name.lower()
        if not equals or not _NUMBER.fullmatch(value):
            raise ValueError(f"expected field=value (decimal or 0x hex), not {item!r}")
        if name not in names:
            raise ValueError(f"{op.name} has no field {name!r}; its fields are {names}")
        if name in given:
            raise ValueError(f"field {name!r} given twice")
        given.add(name)
        args[name] = _number(value)
    return Instr(op, args)


def assemble(text, core, *, check_deadlock=True):
    """Assemble the text of a core's thread programs.

    Parameters
    ----------
    text : str
        The programs in the text format of the module description.
    core : rtl.spec.config.CoreConfig
        The core they run on.
    check_deadlock : bool
        Reject programs that deadlock or overflow a counter on the cycle model (see the
        module description).

    Returns
    -------
    Program

    Raises
    ------
    AsmError
        On a syntax error (unknown mnemonic or field, a value out of its field's range, an
        instruction before any ``.thread``, a bad or repeated ``.thread``) or an invalid
        program.
    """
    threads = [[] for _ in range(THREADS)]
    source = [[] for _ in range(THREADS)]
    current, seen, remote = None, {}, {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.split(r"[#;]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        if line.lower().startswith(".remote"):
            fields = dict(item.partition("=")[::2] for item in
                          re.sub(r"\s*=\s*", "=", line).split()[1:])
            if sorted(fields) != ["count", "ctr"] or not all(
                    _NUMBER.fullmatch(v) for v in fields.values()):
                raise AsmError(f'line {number} "{line}": expected ".remote ctr=C count=K"')
            ctr, count = _number(fields["ctr"]), _number(fields["count"])
            if ctr in remote:
                raise AsmError(f'line {number} "{line}": counter {ctr} already declared')
            remote[ctr] = count
            continue
        if line.startswith("."):
            parts = line.split()
            if parts[0].lower() != ".thread" or len(parts) != 2 \
                    or not _NUMBER.fullmatch(parts[1]):
                raise AsmError(f'line {number} "{line}": expected ".thread N"')
            current = _number(parts[1])
            if not 0 <= current < THREADS:
                raise AsmError(f'line {number} "{line}": threads are 0..{THREADS - 1}')
            if current in seen:
                raise AsmError(f'line {number} "{line}": thread {current} already started '
                               f"on line {seen[current]}")
            seen[current] = number
            continue
        if current is None:
            raise AsmError(f'line {number} "{line}": an instruction before any .thread')
        index = len(threads[current])
        try:
            threads[current].append(_parse(line))
        except ValueError as exc:
            raise AsmError(_where(current, index, number, line) + str(exc)) from None
        source[current].append((number, line))
    return Program(core, threads, source, check_deadlock=check_deadlock, remote=remote)


def disassemble(program):
    """Return the text of a :class:`Program`.

    Parameters
    ----------
    program : Program

    Returns
    -------
    str
        The ``.remote`` declarations, then one ``.thread N`` section per non-empty
        program, every field written in decimal, loop bodies indented; :func:`assemble`
        turns it back into ``program``.
    """
    lines = [f".remote ctr={ctr} count={count}" for ctr, count in sorted(program.remote.items())]
    for t, code in enumerate(program.threads):
        if not code:
            continue
        lines += [""] if lines else []
        lines.append(f".thread {t}")
        depth = 1
        for ins in code:
            depth -= ins.op == Op.ENDL
            lines.append("    " * depth + str(ins))
            depth += ins.op == Op.LOOP
    return "".join(line + "\n" for line in lines)


def disassemble_image(data, core, *, check_deadlock=True):
    """Return the text of a program image.

    Parameters
    ----------
    data : bytes-like
        The image (see :meth:`Program.from_image`).
    core : rtl.spec.config.CoreConfig
    check_deadlock : bool
        As for :class:`Program`.

    Returns
    -------
    str
        As :func:`disassemble`; assembling it gives the image back (its padding zero,
        without any bytes after it).

    Raises
    ------
    AsmError
        If the image is malformed or its programs invalid.
    """
    return disassemble(Program.from_image(data, core, check_deadlock=check_deadlock))
