"""Cycle model of a core (mirrors the timing of ``rtl/core``): predicts how many cycles
the RTL takes to run a set of thread programs, and how many VMM steps it issues.

Nothing here depends on data: the model steps the threads, their engines, the VMM's tile
buffers and pipeline, and the counters cycle by cycle, following the same rules as the
RTL (each rule is named after the RTL signal it mirrors). Addresses matter only where
the RTL's timing depends on them: the partial-sum interlock compares PSB entries.
"""

from collections import deque

import numpy as np

from rtl.spec.isa import AGS, COUNTERS, FORMATS, THREADS, Op

__all__ = ["CycleModel", "predict"]

_STREAMS = {Op.WSTREAM, Op.SSTREAM, Op.VCVT, Op.VOP, Op.VLOAD, Op.VACT, Op.VSTORE,
            Op.SEND, Op.RECV, Op.VOPV}
VCU_LATENCY = 4
AFU_LATENCY = 5
#: Cycles from a T2 point's acceptance to its instruction entering a unit: the engine's
#: stages 1 (read data registered), 2 (operand selection) and 3 (the registered unit
#: instruction). A VSTORE retires 1 cycle after its acceptance, a plain VLOAD 2.
UNIT_ISSUE = 3


class _AG:
    def __init__(self):
        self.base, self.dims = 0, [(1, 0)] * 4

    def points(self):
        addr = np.array([self.base], dtype=np.int64)
        for count, stride in self.dims:
            addr = (np.arange(count, dtype=np.int64)[:, None] * stride + addr[None, :]).ravel()
        return addr


class _Thread:
    def __init__(self, program):
        self.program = program
        self.state = "RUN" if program else "IDLE"
        self.pc = 0
        self.loops = []
        self.ags = [_AG() for _ in range(AGS)]
        self.points = None   # (src, dst) arrays of the stream in progress
        self.index = 0


class CycleModel:
    """The timing of a core of a :class:`rtl.spec.config.CoreConfig`."""

    def __init__(self, core):
        self.core = core
        self.rows = core.vmm_rows

    def run(self, programs, max_cycles=50_000_000):
        """Return ``(cycles, vmm_steps)`` for ``programs`` (eight lists of
        :class:`~rtl.spec.isa.Instr`), counted as the RTL's ``cycles`` and
        ``vmm_steps`` registers count them."""
        load = 1 + sum(2 * len(p) + 1 for p in programs) + 1
        threads = [_Thread(p) for p in programs]
        counters = [0] * COUNTERS
        psb = self.core.psb_entries
        # Weight engine
        w_inflight, w_count = False, 0
        # VMM
        shadow_rows, shadow_full, active_full = 0, False, False
        pipe = deque([False, False, False])      # s1, s2, s3 valid
        # Step engine
        s_inflight, s_last_d = False, False
        s_queue = deque()                         # `last` flags of queued steps
        tags = deque()                            # PSB entries awaiting their result
        phase = 0
        # Vector engine
        const_state, consts_ready, pending = 0, False, 0
        done_at = []                              # cycles whose results retire a point
        steps = 0
        cycle = 0
        while cycle < max_cycles:
            cycle += 1
            # ----- combinational -----
            running = [t.state != "IDLE" for t in threads]
            if not any(running):
                return load + cycle, steps
            w_idle = not w_inflight and w_count == 0
            s_idle = not s_inflight and not s_queue and not tags
            v_idle = pending == 0 and const_state == 0
            idle = {0: w_idle, 1: s_idle, 2: v_idle}
            results_valid = pipe[2]
            vmm_w_ready = not shadow_full
            vmm_s_ready = active_full
            step_accept = bool(s_queue) and vmm_s_ready
            weight_accept = w_count > 0 and vmm_w_ready
            # Threads' offers and engines' readiness.
            offers = {}
            for k, th in enumerate(threads):
                if th.state == "STREAM":
                    src, dst = th.points
                    i = th.index
                    offers[k] = (th.program[th.pc], int(src[i]),
                                 int(dst[i]) if len(dst) else 0, i, i == len(src) - 1)
            ready = {}
            take_w = take_s = take_v = False
            if 0 in offers:
                ready[0] = w_count + w_inflight < 4
                take_w = ready[0]
            if 1 in offers:
                ins, _, dst, i, _ = offers[1]
                entry = dst % psb
                ready[1] = (len(s_queue) + s_inflight < 4) and len(tags) < 12 and \
                    entry not in tags
                take_s = ready[1]
            v_const_next = const_state
            if 2 in offers:
                ins, _, _, i, last = offers[2]
                is_vop = ins.op == Op.VOP
                ready[2] = (not is_vop) or consts_ready
                take_v = ready[2]
            for k in offers:
                if k >= 4:
                    raise NotImplementedError("the cycle model has no NoC engines yet")
                ready.setdefault(k, True)   # T3 has no engine: its points pass at once
            # Vector engine constant reads.
            need_consts = 2 in offers and offers[2][0].op == Op.VOP and offers[2][3] == 0 \
                and const_state != 3
            new_consts_ready = consts_ready
            if const_state == 0:
                if need_consts and not consts_ready:
                    v_const_next = 1
            elif const_state == 1:
                v_const_next = 2
            elif const_state == 2:
                v_const_next = 3
            else:
                v_const_next, new_consts_ready = 0, True
            if take_v and offers[2][4]:
                new_consts_ready = False
            # Counters.
            grants = [False] * THREADS
            incs = [0] * COUNTERS
            for c in range(COUNTERS):
                for k, th in enumerate(threads):
                    if th.state == "RUN" and th.program[th.pc].op == Op.WAIT and \
                            th.program[th.pc]["ctr"] == c and counters[c] != 0:
                        grants[k] = True
                        break
            for th in threads:
                if th.state == "RUN" and th.program[th.pc].op == Op.SIGNAL:
                    incs[th.program[th.pc]["ctr"]] += 1
            # ----- sequential -----
            if step_accept:
                steps += 1
            # VMM tile buffers: a weight beat needs the shadow empty, a switch needs it
            # full, so the two never happen in one cycle.
            tile_done = step_accept and s_queue[0]
            swap = (not active_full or tile_done) and shadow_full
            if weight_accept:
                shadow_rows += 1
                if shadow_rows == self.rows:
                    shadow_rows, shadow_full = 0, True
            if swap:
                active_full, shadow_full = True, False
            elif tile_done:
                active_full = False
            pipe.appendleft(step_accept)
            pipe.pop()
            # Weight engine.
            if weight_accept:
                w_count -= 1
            if w_inflight:
                w_count += 1
            w_inflight = take_w
            # Step engine.
            if step_accept:
                s_queue.popleft()
            if s_inflight:
                s_queue.append(s_last_d)
            if results_valid:
                tags.popleft()
            if take_s:
                ins, _, dst, i, _ = offers[1]
                tags.append(dst % psb)
                ph = 0 if i == 0 else phase
                s_last_d = ph == ins["period"] - 1
                phase = 0 if s_last_d else ph + 1
            s_inflight = take_s
            # Vector engine.
            done_now = sum(1 for c in done_at if c == cycle)
            done_at = [c for c in done_at if c > cycle]
            if take_v:
                ins = offers[2][0]
                if ins.op == Op.VACT:
                    done_at.append(cycle + UNIT_ISSUE + AFU_LATENCY)
                elif ins.op in (Op.VCVT, Op.VOP, Op.VOPV) or \
                        (ins.op == Op.VLOAD and ins["mode"]):
                    done_at.append(cycle + UNIT_ISSUE + VCU_LATENCY)
                elif ins.op == Op.VLOAD:
                    done_at.append(cycle + 2)
                else:
                    done_at.append(cycle + 1)
            pending += take_v - done_now
            const_state, consts_ready = v_const_next, new_consts_ready
            # Counters.
            for c in range(COUNTERS):
                counters[c] += incs[c] - sum(1 for k in range(THREADS) if grants[k] and
                                              threads[k].program[threads[k].pc]["ctr"] == c)
            # Threads.
            for k, th in enumerate(threads):
                if th.state == "RUN":
                    self._execute(th, grants[k])
                elif th.state == "STREAM":
                    if ready[k]:
                        if th.index == len(th.points[0]) - 1:
                            th.state = "DRAIN"
                        th.index += 1
                elif th.state == "DRAIN":
                    if idle.get(k, True):
                        th.pc += 1
                        th.state = "RUN"
        raise RuntimeError("the cycle model did not finish")

    def _execute(self, th, granted):
        ins = th.program[th.pc]
        op = ins.op
        if op == Op.END:
            th.state = "IDLE"
        elif op == Op.LOOP:
            th.loops.append([th.pc + 1, ins["count"]])
            th.pc += 1
        elif op == Op.ENDL:
            if th.loops[-1][1] > 1:
                th.loops[-1][1] -= 1
                th.pc = th.loops[-1][0]
            else:
                th.loops.pop()
                th.pc += 1
        elif op == Op.WAIT:
            if granted:
                th.pc += 1
        elif op == Op.AGBASE:
            th.ags[ins["g"]] = _AG()
            th.ags[ins["g"]].base = ins["base"]
            th.pc += 1
        elif op == Op.AGDIM:
            th.ags[ins["g"]].dims[ins["d"]] = (ins["count"], ins["stride"])
            th.pc += 1
        elif op == Op.AGADD:
            th.ags[ins["g"]].base += ins["delta"]
            th.pc += 1
        elif op in _STREAMS:
            has_d = any(name == "d" for name, _, _ in FORMATS[op])
            th.points = (th.ags[ins["s"]].points(),
                         th.ags[ins["d"]].points() if has_d else np.zeros(0, np.int64))
            th.index = 0
            th.state = "STREAM"
        else:   # NOP, SIGNAL
            th.pc += 1


def predict(core, programs):
    """``(cycles, vmm_steps)`` of ``programs`` on a core (see :class:`CycleModel`)."""
    return CycleModel(core).run(programs)
