"""Cycle model of a core (mirrors the timing of ``rtl/core``): runs the threads' programs
cycle by cycle as the RTL does, and counts the cycles and VMM steps.

The model steps the threads (:mod:`sw.golden.thread`; the functional golden core
:class:`sw.golden.core.Core` is this model with the data attached, so the two share one
thread and address-generator model and one schedule), their engines, the VMM's two tile
buffers and pipeline, the NoC engines and the counters cycle by cycle, following the
RTL's rules (docs/architecture.md, 7.5): of the threads
waiting on a positive counter the lowest-numbered is granted, one per counter per cycle;
SIGNALs and grants update the counters at the cycle's end; each engine accepts a point
only when its queue has room.

Nothing here depends on data: addresses matter only where the RTL's timing depends on
them (the partial-sum interlock compares PSB entries). The data hooks (``_w_take`` and
the like) do nothing here; the golden core overrides them to move the data at the
cycles the RTL moves it.

A run ends when every thread has ended, or raises :class:`~sw.golden.thread.Deadlock` in
the first cycle in which nothing moved (then nothing ever will), or
:class:`~sw.golden.thread.CounterOverflow` when a SIGNAL takes a counter past
``2**COUNTER_BITS - 1``.
"""

import functools
import itertools
from collections import deque, namedtuple

from rtl.spec.isa import (COUNTER_BITS, COUNTERS, DIRECTIONS, NOC_IN_DEPTH, NOC_PORTS,
                          NOC_THREADS, PNOC_DEPTH, THREADS, Op)

from .noc import Flit

from .thread import (DRAIN, IDLE, RUN, STREAM, CoreError, CounterOverflow, Deadlock,
                     Thread, Unfinished, signals_when_done)

__all__ = ["CycleModel", "Put", "Psum", "predict", "partners", "load_cycles",
           "start_cycles", "NOC_IN_DEPTH", "CoreError", "Deadlock", "CounterOverflow",
           "Unfinished"]

VCU_LATENCY = 4
#: The activation unit's latency; with ``afu_table_reg`` (its table read registered) a
#: cycle more, its own and the chain's.
AFU_LATENCY = 5
#: The fused post-processing chain (rtl/core/post.py): four vector-unit steps and the
#: activation unit.
POST_LATENCY = 4 * VCU_LATENCY + AFU_LATENCY
#: With ``unit_passes`` above 1 every unit takes a vector in that many cycles: each unit's
#: latency is ``unit_passes - 1`` more (the chain's five units': 5 times that), and T2 takes
#: a point for the units at most every ``unit_passes`` cycles.
_UNIT_STEPS_IN_POST = 5
#: Cycles from a T2 point's acceptance to its instruction entering a unit: the engine's
#: stages 1 (read data registered), 2 (operand selection) and 3 (the registered unit
#: instruction; for a VPOST, the chain's registered input), with a MEM latency of 1 (each
#: cycle more of it adds one). A VSTORE retires 1 cycle after its acceptance, a plain VLOAD
#: ``1 + mem_latency``, a VPOST (its store) ``UNIT_ISSUE + mem_latency - 1 +
#: POST_LATENCY``.
UNIT_ISSUE = 3
VMM_LATENCY = 3           # a step accepted at cycle c has its result at c + 3
QUEUE = 4                 # entries of the weight, step and flit queues (with the reads in flight)
_ONE_ROW, _TWO_ROWS = (None,), (None, None)   # a weight beat's rows when no data is moved
TAGS = 12                 # VMM results awaited by the step engine
COUNTER_MAX = (1 << COUNTER_BITS) - 1

#: A flit's payload at a core's NoC port: a put of one MEM word. ``addr``: the receiver's
#: MEM byte address (word-aligned); ``data``: the word (bytes; None in the cycle model);
#: ``signal``: the receiver's counter ``ctr`` counts one when the word is written;
#: ``start`` (honoured on the INoC): the receiver, once idle, writes the word and runs the
#: program image at ``addr`` from the next cycle; ``weight`` (honoured on the MNoC): the
#: word is not written to MEM but waits at the head of the port's input FIFO until T0's
#: WSTREAM with ``noc`` takes it as a weight row (``addr`` is carried, not used).
Put = namedtuple("Put", "addr data signal ctr start weight", defaults=(False, False))

#: A flit of the PNoC (a point-to-point link between neighbours): a VMM result vector
#: (``sums``: ``vmm_rows`` int32, None in the cycle model) sent by an SSTREAM with
#: ``pout`` to the neighbour in direction ``dir`` (an index of
#: :data:`rtl.spec.isa.DIRECTIONS`); a core's PNoC input takes the ``sums``.
Psum = namedtuple("Psum", "sums dir")

#: The port whose puts can start a core, and the partial-sum port.
_INOC = NOC_PORTS.index("inoc")
_PNOC = NOC_PORTS.index("pnoc")
#: The port whose weight puts feed T0 (WSTREAM noc).
_MNOC = NOC_PORTS.index("mnoc")

_UNIT_OPS = frozenset({Op.VCVT, Op.VOP, Op.VOPV})
#: T2 instructions that read constant vectors from the VBUF before their first point, and
#: the VBUF indices they read (the RTL's ``consts`` state machine reads them in order).
_CONSTS = {
    Op.VOP:   lambda ins: (ins["kb"], ins["kc"]),
    Op.VPOST: lambda ins: (ins["k"], ins["k"] + 1, ins["k"] + 2),
}


def load_cycles(programs, slots=1, latency=1):
    """Cycles of a run's program load (``rtl/core/loader.py``): the header word, then one
    cycle per MEM word of ``slots`` instructions (each reads one and writes the one
    read ``latency`` cycles before), then the cycle of the last write, which starts the
    last thread; with a MEM ``latency`` of 2 the header and the last word each take a
    cycle more."""
    return 2 * latency + -(-sum(len(p) for p in programs) // slots)


def start_cycles(programs, slots=1, latency=1):
    """Per thread, the first cycle it runs (counted as the RTL's ``cycles``: the header
    is cycle 1), or ``None`` without a program: instruction ``i`` of the image is written
    in cycle ``1 + 2 * latency + i // slots`` (``slots`` instructions a MEM word, a MEM
    read's data ``latency`` cycles after it), and each thread starts in the cycle its last
    instruction is written and runs from the next."""
    starts, total = [], 0
    for p in programs:
        total += len(p)
        starts.append(2 + 2 * latency + (total - 1) // slots if p else None)
    return starts


class CycleModel:
    """The timing of a core of a :class:`rtl.spec.config.CoreConfig`.

    The NoC ports' receive side (an input FIFO of :data:`NOC_IN_DEPTH` flits per port,
    whose head is written to MEM when its bank is free, or, a weight put on the MNoC, waits
    for T0's WSTREAM with ``noc``) and the counters outlive a run:
    :meth:`idle_cycle` steps them while the core is not running (an array model steps
    every core every cycle, running or not).
    """

    #: Whether the data hooks are called (the golden core sets it).
    functional = False

    def __init__(self, core, *, rows=None, cols=None):
        self.core = core
        #: The first time two of the core's own accesses (T0's weights, T1's activations,
        #: T2's loads, stores and residual reads, a SEND's reads) met in one MEM bank in
        #: one cycle, as text, or None: the RTL's sticky ``conflict`` flag (7.5; a put
        #: waits for its bank instead). Kept over every run of the model.
        self.conflict = None
        #: The array's size, or None: a SEND to a rectangle outside it is an error (the
        #: RTL would keep only the coordinates' low bits).
        self.mesh = (rows, cols) if rows is not None or cols is not None else None
        self.rows = core.vmm_rows
        self.bank_bytes = core.sram_bank_bytes
        #: Per NoC port, the flits in its input FIFO (:class:`sw.golden.noc.Flit` of a
        #: :class:`Put`), oldest first.
        self.inbox = [deque() for _ in NOC_PORTS]
        self.counters = [0] * COUNTERS
        self.next_entry = None
        #: The entry of a start put written by :meth:`idle_cycle` in its last cycle (the
        #: core launches that image the next cycle), else None.
        self.start_entry = None
        #: With the MEM register stage (``mem_latency`` 2) a put's write is done, and its
        #: SIGNAL counted, a cycle after the receive side takes it: the SIGNALs of the
        #: puts taken last cycle.
        self._put_signals = []

    # ----- the NoC ports' receive side -----

    def in_ready(self):
        """Per port, whether its input FIFO takes a flit this cycle (not full)."""
        return [len(box) < (PNOC_DEPTH if p == _PNOC else NOC_IN_DEPTH)
                for p, box in enumerate(self.inbox)]

    def _receive(self, inp, used, loading, idle=False):
        """The receive side's cycle: each FIFO's head is written to MEM unless the loader
        is loading or a requester before it uses its bank (``used``, the banks taken this
        cycle: extended); each offered flit in ``inp`` is taken when its FIFO was not
        full at the cycle's start. Return ``(moved, signals)``: whether a flit was taken
        or written, and the counters of the puts written with ``signal``, with their
        ports' threads. A start put on the INoC waits unless ``idle``; written, it sets
        ``start_entry``. A weight put at the MNoC's head is never written: it waits there
        (the port's later flits behind it) until T0 takes it (:meth:`image`)."""
        moved, signals = False, []
        ready = self.in_ready()
        for p, box in enumerate(self.inbox):
            room = ready[p]
            # partial sums wait for T1, a weight put for T0
            if box and not loading and p != _PNOC and not self._weight_head(p):
                put = box[0].payload
                bank = put.addr // self.bank_bytes
                if bank not in used and (idle or p != _INOC or not put.start):
                    used.add(bank)
                    box.popleft()
                    moved = True
                    if self.functional:
                        self._n_write(p, put)
                    if put.signal:
                        signals.append((put.ctr, (NOC_THREADS[p], None)))
                    if p == _INOC and put.start:
                        self.start_entry = put.addr
            if inp is not None and inp[p] is not None and room:
                box.append(inp[p])
                moved = True
        return moved, signals

    def _counted(self, signals):
        """The puts' SIGNALs counted this cycle, given those of the puts written this
        cycle (:meth:`_receive`): these, or with ``mem_latency`` 2 the last cycle's (the
        write is done, and counts, at the end of the next cycle)."""
        if self.core.mem_latency == 1:
            return signals
        counted, self._put_signals = self._put_signals, signals
        return counted

    def _weight_head(self, p):
        """Whether port ``p``'s input FIFO has a weight put at its head (only the MNoC
        honours ``weight``; the other ports write such a put as any other)."""
        box = self.inbox[p]
        return p == _MNOC and bool(box) and bool(box[0].payload.weight)

    def _count(self, cycle, incs, grants=()):
        """Add the cycle's SIGNALs (``incs``: counter -> list of signallers, a thread or
        ``(thread, pc)``) and take its grants, at the cycle's end."""
        counters = self.counters
        for c, who in incs.items():
            value = counters[c] + len(who) - (c in grants)
            if value > COUNTER_MAX:
                raise CounterOverflow(cycle, c, [w if isinstance(w, tuple) else
                                                 (w.index, w.pc) for w in who], value)
            counters[c] = value
        for c in grants:
            if c not in incs:
                counters[c] -= 1

    def idle_cycle(self, inp, *, launch=False):
        """One cycle of a core that is not running: its ports' receive side (``inp``: per
        port, the flit offered or ``None``; the offers must respect :meth:`in_ready`),
        which waits in a ``launch`` cycle (the loader reads the image header). A start put
        on the INoC is written when the core is idle (not in a launch cycle) and sets
        ``start_entry``: the caller launches that image the next cycle. Return whether
        anything moved."""
        self.start_entry = None
        moved, signals = self._receive(inp, set(), launch, idle=not launch)
        signals = self._counted(signals)
        moved = moved or bool(signals)
        incs = {}
        for c, who in signals:
            incs.setdefault(c, []).append(who)
        if launch:
            self.counters = [0] * COUNTERS
        else:
            self._count(None, incs)
        return moved

    # ----- a run -----

    def run(self, programs, *, arrivals=None, out_ready=None, credits=None,
            max_cycles=50_000_000):
        """Run ``programs`` (eight lists of :class:`~rtl.spec.isa.Instr`) on a core alone.

        Parameters
        ----------
        arrivals : sequence of iterable of (int, flit), or None
            Per NoC port (:data:`rtl.spec.isa.NOC_PORTS`), the flits that arrive:
            ``(cycle, flit)``, in order, a flit offered from its cycle (the launch cycle,
            in which ``start`` is taken, is cycle 0; the header is cycle 1) until its port
            takes it; an iterable may be endless. A put port's flits are
            :class:`sw.golden.noc.Flit` of a :class:`Put`, the PNoC's :class:`Psum`.
            None: none.
        out_ready : callable or None
            ``out_ready(cycle, port)``: whether output ``port`` takes a flit in
            ``cycle``; None: always.
        credits : dict or None
            Counter values at the start (after the launch clears them): remote SIGNALs
            assumed there at once (the assembler's deadlock check).
        max_cycles : int
            Raise :class:`~sw.golden.thread.Unfinished` after this many cycles (a guard;
            a run ends or deadlocks on its own).

        Returns
        -------
        (int, int)
            ``(cycles, vmm_steps)`` as the RTL's ``cycles`` and ``vmm_steps`` count them.
            Afterwards ``next_entry`` is the program image the last NEXT executed named
            (None without one); this model runs one image (the golden core follows
            chains), ``sent`` holds per port the flits sent with their cycles, and the
            flits not yet taken stay in ``inbox`` (the receive side).

        Raises
        ------
        Deadlock, CounterOverflow, Unfinished, CoreError
        """
        return self._drive(self.image(programs, credits=credits, max_cycles=max_cycles),
                           arrivals, out_ready)

    def _drive(self, steps, arrivals, out_ready):
        """Run the generator ``steps`` (:meth:`image`'s protocol) with the flits of
        ``arrivals`` and the outputs' ``out_ready`` (see :meth:`run`); return its value."""
        # Per port, the arrivals not yet offered (an iterator, maybe endless) and the one
        # offered now or next.
        arrivals = arrivals if arrivals is not None else [()] * len(NOC_PORTS)
        # A partner's feed offers a flit only while the input holds fewer than ``keep``:
        # it never fills the input (each take would count as a move).
        keep = [a.keep if isinstance(a, _Partner) else None for a in arrivals]
        queues = [iter(a) for a in arrivals]
        heads = [next(q, None) for q in queues]
        self.sent = [[] for _ in NOC_PORTS]
        cycle = 0
        try:
            out, _ = next(steps)
            while True:
                taken = self.in_ready()
                inp = [h[1] if h is not None and h[0] <= cycle and
                       (keep[p] is None or len(self.inbox[p]) < keep[p])
                       else None for p, h in enumerate(heads)]
                ready = [out_ready is None or bool(out_ready(cycle, p))
                         for p in range(len(NOC_PORTS))]
                for p, q in enumerate(queues):
                    if inp[p] is not None and taken[p]:
                        heads[p] = next(q, None)
                    if out[p] is not None and ready[p]:
                        self.sent[p].append((cycle, out[p]))
                out, _ = steps.send((ready, inp))
                cycle += 1
        except StopIteration as stop:
            return stop.value

    def image(self, programs, *, launch=True, deadlock=True, credits=None, offset=0,
              max_cycles=50_000_000):
        """A generator of one image's run, cycle by cycle, from the launch cycle (cycle 0;
        with ``launch`` false the caller's previous image's last cycle was it, and the
        generator starts at cycle 1) to the run's last cycle.

        Each cycle it yields ``(out, in_ready)``: per NoC port the flit offered at the
        output (a :class:`sw.golden.noc.Flit` or None) and whether its input takes a
        flit, both from the state at the cycle's start; and is sent ``(out_ready, inp)``:
        per port, whether the output takes its flit and the flit offered at the input
        (None: none). With ``deadlock`` (a core alone) a cycle in which nothing moves
        raises :class:`Deadlock`, as the RTL's ``deadlock`` rises; without it (an array,
        where a put may come later) the caller decides. A deadlock's or an overflow's
        cycle is reported plus ``offset`` (the cycles of a chain's earlier images).
        Returns ``(cycles, vmm_steps)``.
        """
        for t, program in enumerate(programs):
            if program and t not in self.core.threads:
                raise CoreError(f"T{t} has a program of {len(program)} instructions, but "
                                f"this core has no T{t} (spare_threads is False)")
            if len(program) > self.core.program_lens[t]:
                raise CoreError(f"T{t}'s program has {len(program)} instructions, more "
                                f"than its program_len = {self.core.program_lens[t]}")
        slots = self.core.word_instrs
        lat = self.core.mem_latency
        load = load_cycles(programs, slots, lat)
        self.next_entry = None   # the image the last NEXT named
        first_run = start_cycles(programs, slots, lat) + [None] * (THREADS - len(programs))
        # Deadlocks are detected once every thread has started (the loader's ``run``,
        # from the cycle after the load's last write).
        all_started = load + 1
        threads = [Thread(t, list(p)) for t, p in enumerate(programs)]
        threads += [Thread(t, []) for t in range(len(threads), THREADS)]
        # Threads not started yet, by start cycle.
        waiting = sorted((th for th in threads if th.state != IDLE),
                         key=lambda th: first_run[th.index])
        started = []
        self.threads = threads
        functional = self.functional
        psb = self.core.psb_entries
        bank_bytes = self.bank_bytes
        rows = self.rows
        nports = len(NOC_PORTS)
        # Weight engine: the reads in flight (one a cycle of the MEM latency, oldest first:
        # whether a point was taken, its beat), the queue of beats (each one or two rows).
        w_fl, w_queue = deque([(False, None)] * lat), deque()
        # VMM: the shadow tile's rows (with a pair beat's second row held past a full
        # tile, the next tile's row 0), the two buffers, the pipeline (results or None).
        shadow_rows, shadow_full, active_full = [], False, False
        shadow_tile = active_tile = None
        pipe = deque([None] * VMM_LATENCY)
        # Step engine: the reads in flight (as T0's: taken, last, operands), the queue of
        # (last, operands), awaited entries
        # and beside them what each result signals (an SSTREAM's last with ``signal``:
        # its counter and pc, else None).
        # A PSB entry awaited is None for a result that goes out on the PNoC (``pout``); beside
        # it, the result's direction then. ``p_reserved``: the PNoC output FIFO's entries
        # taken or promised to the ``pout`` steps in flight.
        s_fl, s_queue, tags, phase = deque([(False, False, None)] * lat), deque(), deque(), 0
        tag_sig, tag_dir, p_reserved = deque(), deque(), 0
        # Vector engine: constant reads, points in flight (retire cycle, effect, the MEM
        # bank a VSTORE or VPOST writes then or None).
        const_state, consts_ready, done_at = 0, False, deque()
        # NoC engines: the reads in flight (as T0's: taken, flit), the queue of flits to send.
        n_fl = [deque([(False, None)] * lat) for _ in NOC_PORTS]
        n_queue = [deque() for _ in NOC_PORTS]   # the PNoC's: T1's partial-sum output
        took_last = deque([False] * lat)   # whether a point was taken, the last cycles
        unit_issue = UNIT_ISSUE + lat - 1
        passes = self.core.unit_passes
        table_reg = int(self.core.afu_table_reg)
        vcu_latency = VCU_LATENCY + passes - 1
        afu_latency = AFU_LATENCY + table_reg + passes - 1
        post_latency = POST_LATENCY + table_reg + _UNIT_STEPS_IN_POST * (passes - 1)
        v_gap = 0   # cycles until T2 may take a point again (after one for the units)
        steps = 0
        cycle = 0 if launch else 1

        def engine_idle(k):
            """Whether thread k's engine has nothing in flight."""
            if k == 0:
                return not any(v for v, _ in w_fl) and not w_queue
            if k == 1:
                return not any(v for v, _, _ in s_fl) and not s_queue and not tags \
                    and not n_queue[_PNOC]
            if k == 2:
                return not done_at and const_state == 0
            if k in NOC_THREADS and k != NOC_THREADS[_PNOC]:
                p = NOC_THREADS.index(k)
                return not any(v for v, _ in n_fl[p]) and not n_queue[p]
            return True

        self.stuck = None
        if launch:   # cycle 0: the loader reads the header; the counters are cleared
            out_ready, inp = yield [None] * nports, self.in_ready()
            self.idle_cycle(inp, launch=True)
            cycle = 1
        else:
            self.counters = [0] * COUNTERS
        counters = self.counters
        for c, value in (credits or {}).items():
            counters[c] = value

        while cycle < max_cycles:
            # ----- combinational -----
            while waiting and first_run[waiting[0].index] == cycle:
                started.append(waiting.pop(0))
                started.sort(key=lambda th: th.index)
            live = [th for th in started if th.state != IDLE]
            final = not live and not waiting and cycle >= all_started
            out_ready, inp = yield ([n_queue[p][0] if n_queue[p] else None
                                     for p in range(nports)], self.in_ready())
            if final:
                # The run's last cycle (counted): the ports' receive side goes on; a
                # chained image's launch (this cycle) holds it.
                _, signals = self._receive(inp, set(), self.next_entry is not None)
                signals = self._counted(signals)
                incs = {}
                for c, who in signals:
                    incs.setdefault(c, []).append(who)
                self._count(offset + cycle, incs)
                return cycle, steps
            v_idle = engine_idle(2)
            results = pipe[VMM_LATENCY - 1]
            step_accept = bool(s_queue) and active_full
            weight_accept = bool(w_queue) and not shadow_full
            moved = any(took_last) or step_accept or weight_accept or not v_idle or \
                (shadow_full and not active_full) or any(x is not None for x in pipe)
            grants = {}       # counter -> the granted thread
            incs = None       # counter -> the signalling threads
            take_w = take_s = take_v = None     # the thread whose point is taken
            need_consts = False
            noc_take = []
            drained = []
            held = ()         # threads at END whose engine is not idle
            for th in live:
                k, state = th.index, th.state
                if state == RUN:
                    ins = th.instr
                    op = ins.op
                    if op == Op.WAIT:
                        c = ins["ctr"]
                        if counters[c] and c not in grants:
                            grants[c] = th
                            moved = True
                    elif op == Op.END and not engine_idle(k):
                        held += (th,)
                    else:
                        if op == Op.SIGNAL:
                            if incs is None:
                                incs = {}
                            incs.setdefault(ins["ctr"], []).append(th)
                        moved = True
                elif state == STREAM:
                    if k == 0:
                        # With noc, a point also needs a weight put at the MNoC's head.
                        if len(w_queue) + sum(v for v, _ in w_fl) < QUEUE and (
                                not th.instr["noc"] or
                                                            self._weight_head(_MNOC)):
                            take_w = th
                    elif k == 1:
                        ins = th.instr
                        if len(s_queue) + sum(v for v, _, _ in s_fl) < QUEUE and \
                                len(tags) < TAGS and \
                                th.dst.addr % psb not in tags and \
                                (not ins["pout"] or p_reserved < PNOC_DEPTH) and \
                                (not ins["pin"] or th.n < ins["zero"] or self.inbox[_PNOC]):
                            take_s = th
                    elif k == 2:    # the vector engine always goes on: never stuck
                        moved = True
                        ready = th.instr.op not in _CONSTS or consts_ready
                        if ready and v_gap == 0:
                            take_v = th
                        elif not ready and th.n == 0:
                            need_consts = True
                    else:
                        p = NOC_THREADS.index(k)
                        if len(n_queue[p]) + sum(v for v, _ in n_fl[p]) < QUEUE:
                            noc_take.append(th)
                elif state == DRAIN:
                    if engine_idle(k):
                        drained.append(th)
            took = take_w is not None or take_s is not None or take_v is not None or \
                bool(noc_take)
            # The MEM banks the requesters before the NoC ports' receive side use this
            # cycle (the loader's reads hold it whole).
            loading = cycle <= load
            uses = []    # (bank, what) of the core's own accesses this cycle
            if not loading:
                if take_w is not None and not take_w.instr["noc"]:
                    uses.append((take_w.src.addr // bank_bytes, "T0's weights"))
                    if take_w.instr["pair"]:
                        uses.append((take_w.dst.addr // bank_bytes, "T0's paired weights"))
                if take_s is not None:
                    uses.append((take_s.src.addr // bank_bytes, "T1's activations"))
                if take_v is not None:
                    ins = take_v.instr
                    if ins.op == Op.VLOAD:
                        uses.append((take_v.src.addr // bank_bytes, "T2's VLOAD"))
                    elif ins.op == Op.VPOST and ins["res"]:
                        uses.append(((take_v.dst.addr + ins["res_off"]) // bank_bytes,
                                     "T2's residual"))
                for at, _, bank in done_at:
                    if at != cycle:
                        break
                    if bank is not None:
                        uses.append((bank, "T2's store"))
                for th in noc_take:
                    uses.append((th.src.addr // bank_bytes, f"T{th.index}'s SEND"))
            used = {b for b, _ in uses}
            if len(used) < len(uses) and self.conflict is None:   # the RTL's flag (7.5)
                b = next(b for b in used if sum(u == b for u, _ in uses) > 1)
                self.conflict = (f"cycle {cycle} of a run: MEM bank {b} read or written by "
                                 f"{' and '.join(w for u, w in uses if u == b)} at once")
            received, signals = self._receive(inp, used, loading)
            signals = self._counted(signals)
            received = received or bool(signals)   # (a SIGNAL counted: something moved)
            # Nothing moved inside the core and no flit came in (a flit offered at an
            # output may still leave): for an array model's deadlock, ``stuck`` makes the
            # core's Deadlock (built only if the array needs it).
            self.stuck = None
            if not (moved or took or drained or received) and cycle >= all_started:
                self.stuck = functools.partial(self._deadlock, offset + cycle, list(live),
                                               shadow_full, active_full, consts_ready,
                                               p_reserved)
            # A flit offered at an output is not stuck inside the core (the outside may
            # take it later); a flit offered at an input counts only once taken (in
            # ``received``): a full PNoC input whose vectors T1 never takes is stuck.
            if any(n_queue):
                moved = True
            if deadlock and not (moved or took or drained or received) and \
                    cycle >= all_started:
                raise self._deadlock(offset + cycle, live, shadow_full, active_full,
                                     consts_ready, p_reserved)
            took_last.popleft()
            took_last.append(took)
            # ----- sequential: the reads of this cycle first, then its writes -----
            # Vector engine: a VOP's or VPOST's constant reads (states 1 READ_KB, 2
            # READ_KC, then 3 CAPTURE_KC for a VOP, or 4 READ_KP and 5 CAPTURE_KP for a
            # VPOST), then the taken point's reads.
            v_const_next, new_consts_ready = const_state, consts_ready
            if const_state == 0:
                if need_consts and not consts_ready:
                    v_const_next = 1
            elif const_state in (1, 2, 4):
                th = threads[2]
                slot = {1: 0, 2: 1, 4: 2}[const_state]
                if functional:
                    self._v_const(th, slot, _CONSTS[th.instr.op](th.instr)[slot])
                v_const_next = {1: 2, 2: 3 if th.instr.op == Op.VOP else 4, 4: 5}[const_state]
            else:
                v_const_next, new_consts_ready = 0, True
            v_gap = max(0, v_gap - 1)
            if take_v is not None:
                th = take_v
                ins = th.instr
                op = ins.op
                if th.n == th.count - 1:
                    new_consts_ready = False
                bank = None
                units = True
                if op == Op.VACT:
                    at = cycle + unit_issue + afu_latency
                elif op == Op.VPOST:
                    at = cycle + unit_issue + post_latency
                    bank = th.dst.addr // bank_bytes
                elif op in _UNIT_OPS or (op == Op.VLOAD and ins["mode"]):
                    at = cycle + unit_issue + vcu_latency
                else:
                    units = False
                    if op == Op.VLOAD:
                        at = cycle + 1 + lat
                    else:
                        at = cycle + 1
                        if op == Op.VSTORE:
                            bank = th.dst.addr // bank_bytes
                if units:
                    v_gap = passes - 1
                done_at.append((at, self._v_take(th) if functional else None, bank))
            const_state, consts_ready = v_const_next, new_consts_ready
            # Step engine: MEM and the PSB are read as a point is taken.
            if take_s is not None:
                th = take_s
                entry = th.dst.addr % psb
                pin = self.inbox[_PNOC].popleft().sums \
                    if th.instr["pin"] and th.n >= th.instr["zero"] else None
                operands = self._s_take(th, entry, pin) if functional else None
                ph = 0 if th.n == 0 else phase
                last = ph == th.instr["period"] - 1
                phase = 0 if last else ph + 1
                sig = (th.instr["ctr"], th.pc) \
                    if th.n == th.count - 1 and signals_when_done(th.instr) else None
            # Weight engine: MEM is read as a point is taken (two words for a pair beat),
            # or, with noc, the MNoC's head (a weight put) is popped (after the receive
            # side's cycle above, which left it at the head).
            w_read = None
            if take_w is not None:
                noc = take_w.instr["noc"]
                put = self.inbox[_MNOC].popleft().payload if noc else None
                w_read = self._w_take(take_w, put) if functional else \
                    _ONE_ROW if noc else _TWO_ROWS if take_w.instr["pair"] else _ONE_ROW
            # NoC engines: a SEND point reads MEM; its flit is queued the next cycle.
            sent = [None] * nports
            for th in noc_take:
                ins = th.instr
                if self.mesh is not None and th.n == 0 and (
                        ins["x1"] >= self.mesh[1] or ins["y1"] >= self.mesh[0]) and not (
                        th.index == NOC_THREADS[0] and
                        (ins["x0"], ins["x1"], ins["y0"], ins["y1"]) ==
                        (0, 0, self.mesh[0], self.mesh[0])):
                    raise th.error(f"SEND to columns {ins['x0']}..{ins['x1']}, rows "
                                   f"{ins['y0']}..{ins['y1']}: outside the "
                                   f"{self.mesh[0]} x {self.mesh[1]} array (and not the "
                                   f"framebuffer's column 0, row {self.mesh[0]}, from T4)")
                end = th.n == th.count - 1   # (not ``last``: the step engine's, above)
                put = Put(th.dst.addr, self._n_send(th) if functional else None,
                          bool(ins["signal"]) and end, ins["ctr"], bool(ins["start"]) and end,
                          bool(ins["weight"]))
                sent[NOC_THREADS.index(th.index)] = Flit(put, ins["x0"], ins["x1"], ins["y0"],
                                                  ins["y1"], 1)
            # VMM: a step uses the active tile; a weight beat needs the shadow not full; a
            # switch needs a full shadow, or the beat that completes it (its rows go
            # straight to the active tile).
            tile_done = False
            if step_accept:
                steps += 1
                tile_done, operands_q = s_queue.popleft()
                pipe.appendleft(self._vmm(active_tile, operands_q) if functional else True)
            else:
                pipe.appendleft(None)
            pipe.pop()
            if weight_accept:
                shadow_rows.extend(w_queue.popleft())
                if len(shadow_rows) >= rows:
                    shadow_full = True
                    shadow_tile = self._tile(shadow_rows[:rows]) if functional else None
                    shadow_rows = shadow_rows[rows:]
            if (not active_full or tile_done) and shadow_full:
                active_full, shadow_full, active_tile = True, False, shadow_tile
            elif tile_done:
                active_full = False
            # Weight engine queue: the beat whose data arrives.
            arrived, beat = w_fl.popleft()
            if arrived:
                w_queue.append(beat)
            w_fl.append((take_w is not None, w_read))
            # Step engine queue, and the VMM's results to the PSB.
            arrived, s_last_d, s_data = s_fl.popleft()
            if arrived:
                s_queue.append((s_last_d, s_data))
            engine_sig = psum_out = None
            if results is not None:
                done_entry = tags.popleft()
                engine_sig = tag_sig.popleft()
                direction = tag_dir.popleft()
                if done_entry is None:   # to the PNoC output FIFO (room was reserved)
                    psum_out = Psum(results if functional else None, direction)
                elif functional:
                    self._psb_write(done_entry, results)
            if take_s is not None:
                pout = bool(take_s.instr["pout"])
                tags.append(None if pout else entry)
                tag_sig.append(sig)
                tag_dir.append(take_s.instr["dir"] if pout else None)
                p_reserved += pout
                s_fl.append((True, last, operands))
            else:
                s_fl.append((False, False, None))
            # Vector engine: the writes of the points retiring now.
            while done_at and done_at[0][0] == cycle:
                effect = done_at.popleft()[1]
                if functional:
                    self._v_retire(effect)
            # NoC queues: an output takes the oldest flit when ready.
            for p in range(nports):
                q = n_queue[p]
                if q and out_ready[p]:
                    flit = q.popleft()
                    if p == _PNOC:
                        p_reserved -= 1
                    if functional:
                        self._n_out(p, flit)
                arrived, flit = n_fl[p].popleft()
                if arrived:
                    q.append(flit)
                n_fl[p].append((sent[p] is not None, sent[p]))
            if psum_out is not None:   # readable at the PNoC output from the next cycle
                n_queue[_PNOC].append(psum_out)
            # Counters: the SIGNALs (a thread's, T1's engine's at the end of a signalling
            # SSTREAM, a received put's) and grants of the cycle at its end.
            if engine_sig is not None or signals:
                if incs is None:
                    incs = {}
                if engine_sig is not None:
                    incs.setdefault(engine_sig[0], []).append((1, engine_sig[1]))
                for c, who in signals:
                    incs.setdefault(c, []).append(who)
            self._count(offset + cycle, incs or {}, grants)
            # Threads.
            for th in live:
                state = th.state
                if state == RUN:
                    ins = th.instr
                    if ins.op == Op.WAIT:
                        if grants.get(ins["ctr"]) is th:
                            th.execute(True)
                    elif th not in held:
                        if ins.op == Op.NEXT:   # threads in order: the highest wins a tie
                            self.next_entry = ins["entry"]
                        th.execute(False)
                elif state == STREAM:
                    if th is take_w or th is take_s or th is take_v or th in noc_take:
                        th.accepted()
            for th in drained:
                th.drained()
            cycle += 1
        raise Unfinished(f"the program did not finish in {max_cycles} cycles")

    def _deadlock(self, cycle, live, shadow_full, active_full, consts_ready, p_reserved):
        reasons = []
        for th in live:
            ins = th.instr
            if th.state == RUN and ins.op == Op.WAIT:
                reasons.append(f"counter {ins['ctr']} is 0")
            elif th.index == 1 and th.state == STREAM and ins["pin"] and \
                    th.n >= ins["zero"] and not self.inbox[_PNOC]:
                reasons.append("no partial sums at its PNoC input")
            elif th.index == 1 and th.state == STREAM and ins["pout"] and \
                    p_reserved >= PNOC_DEPTH:
                reasons.append(f"its PNoC output ({DIRECTIONS[ins['dir']]}) is full")
            elif th.index == 0 and shadow_full and active_full:
                reasons.append("the VMM holds two weight tiles")
            elif th.index == 1 and not active_full:
                reasons.append("the VMM has no weight tile")
            elif th.state == DRAIN or ins.op == Op.END:
                reasons.append("its engine never finishes the stream")
            else:
                reasons.append("its engine does not take the point")
        return Deadlock(cycle, [th.describe() for th in live], self.counters, reasons)

    # Data hooks: the golden core (sw/golden/core.py) moves the data here.

    def _w_take(self, th, put=None):
        """T0's point taken: return the beat read from MEM, a sequence of its one or two
        weight rows; with ``noc``, ``put`` is the weight put taken from the MNoC, whose
        data is the row."""

    def _tile(self, rows):
        """A tile's rows are complete: return the tile."""

    def _s_take(self, th, entry, pin):
        """T1's point taken: return its operands (activations, partial sums); ``pin``: the
        partial sums taken from the PNoC input for this point, else None."""

    def _vmm(self, tile, operands):
        """The VMM accepts a step: return its result (written to the PSB 3 cycles on)."""
        return True

    def _psb_write(self, entry, result):
        """A VMM result is written to ``PSB[entry]``."""

    def _v_const(self, th, slot, index):
        """Constant vector ``slot`` (0, 1, 2) of a VOP or VPOST is read from
        ``VBUF[index]``."""

    def _v_take(self, th):
        """T2's point taken: read its operands; return the write done when it retires."""

    def _v_retire(self, effect):
        """A T2 point retires: its write."""

    def _n_send(self, th):
        """A SEND point taken: return the MEM word read."""

    def _n_write(self, port, put):
        """A received :class:`Put` is written to MEM."""

    def _n_out(self, port, flit):
        """A flit leaves through a port."""


class _Partner:
    """An endless feed of ``flit``, offered only while its input holds fewer than
    ``keep`` (:func:`partners`): two keep a stream a cycle fed."""

    keep = 2

    def __init__(self, flit):
        self.flit = flit

    def __iter__(self):
        return itertools.repeat((0, self.flit))


def partners():
    """``arrivals`` for :meth:`CycleModel.run` from partners that keep up: partial sums at
    the PNoC input and weight puts at the MNoC's, each offered while its input holds
    fewer than two (endless, but never filling an input, so the deadlock cycle of a
    program that takes none is the same as without them); no other puts."""
    feed = [()] * len(NOC_PORTS)
    feed[_PNOC] = _Partner(Psum(None, 0))
    feed[_MNOC] = _Partner(Flit(Put(0, None, False, 0, False, True), 0, 0, 0, 0, 1))
    return feed


def predict(core, programs, **kwargs):
    """``(cycles, vmm_steps)`` of ``programs`` on a core alone (see
    :meth:`CycleModel.run`)."""
    return CycleModel(core).run(programs, **kwargs)
